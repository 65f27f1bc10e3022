//! Group commit: many concurrent append requests share one transaction and one WAL flush.
//!
//! A commit's flush costs about as much for one event as for hundreds, and appends commit one at a
//! time (see `append.rs`). So each process runs one appender task that takes every request queued
//! while the previous transaction was committing, writes them with [`write_batch`] (each request
//! checked in queue order, so a stale one fails alone), commits once, then answers every waiter.
//! Under no load a request is written at once, alone; under load, batches grow by themselves.
//!
//! An answer is sent only after the commit: an acknowledged append is durable, and an append whose
//! process dies before the commit is not written at all (the transaction is all or nothing).

use crate::append::{write_batch_read_ahead, RequestOutcome};
use crate::{AppendResult, Error, EventStore, ExpectedVersion, NewEvent, StreamAppend};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct AppenderOptions {
    /// Requests waiting for the appender; when full, callers wait for room (back-pressure).
    pub queue: usize,
    /// Events written per transaction at most, which bounds the statement and the lock hold.
    pub max_batch_events: usize,
}

impl Default for AppenderOptions {
    fn default() -> Self {
        Self {
            queue: 8_192,
            max_batch_events: 2_000,
        }
    }
}

struct Request {
    parts: Vec<StreamAppend>,
    reply: oneshot::Sender<RequestOutcome>,
}

impl Request {
    fn events(&self) -> usize {
        self.parts
            .iter()
            .map(|p| p.events.len())
            .sum::<usize>()
            .max(1)
    }
}

/// A cheap-to-clone handle on the process's appender task. When stopped, the task refuses new
/// requests ([`Error::Stopped`]) and ends once it has written every request it had accepted.
#[derive(Clone, Debug)]
pub struct Appender {
    queue: mpsc::Sender<Request>,
}

impl Appender {
    pub fn start(
        store: EventStore,
        options: AppenderOptions,
        stop: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(options.queue.max(1));
        let task = tokio::spawn(run(store, receiver, options.max_batch_events.max(1), stop));
        (Self { queue: sender }, task)
    }

    /// Appends `events` to one stream; the same contract as [`EventStore::append`].
    pub async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, Error> {
        self.append_streams(vec![StreamAppend::new(stream_id, expected, events)])
            .await?
            .pop()
            .ok_or_else(|| Error::Invalid("an append produced no result".into()))
    }

    /// Appends to several streams atomically: every part is written, or none. One result per part.
    pub async fn append_streams(
        &self,
        parts: Vec<StreamAppend>,
    ) -> Result<Vec<AppendResult>, Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request { parts, reply })
            .await
            .map_err(|_| Error::Stopped)?;
        // A dropped reply means the task died mid-batch: the outcome is unknown, like a lost
        // connection, and a retry with the same event ids is safe.
        answer.await.map_err(|_| Error::Stopped)?
    }
}

async fn run(
    store: EventStore,
    mut queue: mpsc::Receiver<Request>,
    max_events: usize,
    stop: CancellationToken,
) {
    let mut batch = Vec::new();
    let mut stopping = false;
    loop {
        let first = tokio::select! {
            biased;
            () = stop.cancelled(), if !stopping => {
                // Refuse new requests; the ones already queued are still received and written.
                queue.close();
                stopping = true;
                continue;
            }
            first = queue.recv() => first,
        };
        let Some(first) = first else { break };
        let mut events = first.events();
        batch.push(first);
        while events < max_events {
            match queue.try_recv() {
                Ok(request) => {
                    events += request.events();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        metrics::histogram!("append_batch_requests").record(batch.len() as f64);
        // Each attempt waits out the pool's acquire timeout while the database is down, and
        // requests queue behind the attempt in progress: after one found it unreachable, the
        // batches are refused at once for a moment (see `reachability.rs`), so a request fails
        // within about one timeout instead of two or more.
        if let Err(refused) = store.reachability.check() {
            metrics::counter!("append_requests_refused_unreachable_total")
                .increment(batch.len() as u64);
            let shared = Arc::new(refused);
            for request in batch.drain(..) {
                let _ = request.reply.send(Err(Error::Batch(Arc::clone(&shared))));
            }
            continue;
        }
        if let Some(unreachable) = commit(&store, &mut batch).await {
            store.reachability.note(&unreachable);
        }
    }
}

/// Writes and answers one batch. If the database refuses the batch as a whole for a reason other
/// than being unreachable, each request is retried alone, so that one bad request fails alone.
/// Returns the error when the database could not be reached.
async fn commit(store: &EventStore, batch: &mut Vec<Request>) -> Option<Arc<Error>> {
    let outcome = {
        let parts: Vec<&[StreamAppend]> = batch.iter().map(|r| r.parts.as_slice()).collect();
        write_in_transaction(store, &parts).await
    };
    match outcome {
        Ok(outcomes) => {
            for (request, outcome) in batch.drain(..).zip(outcomes) {
                let _ = request.reply.send(outcome);
            }
        }
        Err(error) if batch.len() > 1 && error.is_statement_failure() => {
            tracing::warn!(%error, requests = batch.len(), "append batch refused; writing its requests one by one");
            for request in batch.drain(..) {
                let outcome = write_in_transaction(store, &[request.parts.as_slice()])
                    .await
                    .and_then(|mut outcomes| {
                        outcomes
                            .pop()
                            .unwrap_or_else(|| Err(Error::Invalid("no outcome".into())))
                    });
                let _ = request.reply.send(outcome);
            }
        }
        Err(error) => {
            tracing::warn!(%error, requests = batch.len(), "append batch failed");
            let shared = Arc::new(error);
            for request in batch.drain(..) {
                let _ = request.reply.send(Err(Error::Batch(shared.clone())));
            }
            return shared.is_unavailable().then_some(shared);
        }
    }
    None
}

async fn write_in_transaction(
    store: &EventStore,
    requests: &[&[StreamAppend]],
) -> Result<Vec<RequestOutcome>, Error> {
    let mut conn = store.pool().acquire().await?;
    write_batch_read_ahead(&mut conn, requests).await
}
