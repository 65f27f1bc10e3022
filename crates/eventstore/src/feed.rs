//! One reader of the log per process, shared by the process's subscriptions.
//!
//! Every consumer of a process (the publisher, each projector) follows the same log. Each reading
//! it on its own cost Postgres one listener woken per append and one read per consumer per batch:
//! four of each for one message in a process running every role, on machines where a wake-up
//! across processes is what a message costs most. The feed listens and reads once, keeps the
//! newest events in memory, and hands each subscription what follows its position. A
//! subscription behind what the feed holds (catching up after a restart, or from 0) reads the log
//! itself until it reaches the feed.
//!
//! Events are held and handed out shared (`Arc`): each of a process's consumers used to get its
//! own deep copy of every event's JSON, which showed in a profile at saturation.
//!
//! The feed reads as a subscription would ("position > the last one read", safe because appends
//! are serialized, see `append.rs`), so it holds every event in (floor, head]: a subscription at
//! or past the floor gets from it the same events, in the same order, that it would have read.

use crate::{Error, EventStore, RecordedEvent, NOTIFY_CHANNEL};
use sqlx::postgres::PgListener;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// Events kept in memory: enough for consumers that fall a few batches behind one another (a
/// projector writing a batch while the publisher reads on); one further behind reads the log.
const KEPT_EVENTS: usize = 4096;
/// The most events one read of the feed asks for.
const READ_BATCH: i64 = 500;
/// How long the feed waits without a notification before reading anyway (notifications are a
/// hint: they are lost while the listener reconnects).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// The feed of one store handle and its clones; dropping the last one stops its reader.
pub(crate) struct Feed {
    shared: Arc<Shared>,
    reader: tokio::task::JoinHandle<()>,
}

struct Shared {
    window: Mutex<Window>,
    /// The position the feed has read to; subscriptions wait for it to move.
    head: watch::Sender<i64>,
}

/// What follows a subscription's position.
#[derive(Debug, PartialEq)]
pub(crate) enum Take {
    /// The events after it, oldest first (none when it is at the feed's head).
    Events(Vec<Arc<RecordedEvent>>),
    /// It is behind what the feed holds: read the log.
    Behind,
}

/// The newest events read, with every event in (floor, last] present.
#[derive(Debug)]
struct Window {
    floor: i64,
    events: VecDeque<Arc<RecordedEvent>>,
    kept: usize,
}

impl Window {
    fn new(head: i64, kept: usize) -> Self {
        Self {
            floor: head,
            events: VecDeque::new(),
            kept,
        }
    }

    fn head(&self) -> i64 {
        self.events.back().map_or(self.floor, |e| e.position)
    }

    fn push(&mut self, batch: Vec<RecordedEvent>) {
        self.events.extend(batch.into_iter().map(Arc::new));
        while self.events.len() > self.kept {
            if let Some(dropped) = self.events.pop_front() {
                self.floor = dropped.position;
            }
        }
    }

    fn take(&self, after: i64, limit: usize) -> Take {
        if after < self.floor {
            return Take::Behind;
        }
        let start = self.events.partition_point(|e| e.position <= after);
        Take::Events(self.events.range(start..).take(limit).cloned().collect())
    }
}

impl Feed {
    /// Listens, then starts from the log's head: an append committed in between is read on its
    /// notification, one committed before is below the head.
    pub(crate) async fn start(store: &EventStore) -> Result<Self, Error> {
        let mut listener = PgListener::connect_with(store.pool()).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        let head = store.head_position().await?;
        let (sender, _) = watch::channel(head);
        let shared = Arc::new(Shared {
            window: Mutex::new(Window::new(head, KEPT_EVENTS)),
            head: sender,
        });
        // The reader holds the pool, not the store: the store's handles own the feed, and
        // dropping the last one must stop it.
        let reader = tokio::spawn(read(store.pool().clone(), listener, Arc::clone(&shared)));
        Ok(Self { shared, reader })
    }

    /// Up to `limit` events after `after`, or `Behind` when the feed no longer holds them.
    pub(crate) fn take(&self, after: i64, limit: usize) -> Take {
        self.shared.window().take(after, limit)
    }

    /// Changes when the feed has read further.
    pub(crate) fn watch_head(&self) -> watch::Receiver<i64> {
        self.shared.head.subscribe()
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("head", &*self.shared.head.borrow())
            .finish_non_exhaustive()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Shared {
    fn window(&self) -> MutexGuard<'_, Window> {
        // Nothing is left half-changed under this lock, so a poisoned one is still consistent.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn read(pool: sqlx::PgPool, mut listener: PgListener, shared: Arc<Shared>) {
    let mut head = shared.window().head();
    loop {
        match crate::read::log_after(&pool, head, READ_BATCH).await {
            Ok(batch) => {
                let short = (batch.len() as i64) < READ_BATCH;
                if let Some(last) = batch.last() {
                    head = last.position;
                    shared.window().push(batch);
                    shared.head.send_replace(head);
                }
                if !short {
                    continue;
                }
            }
            // The process is stopping (it closes the pool last): nothing more to read.
            Err(_) if pool.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "reading the log for the process's subscriptions failed");
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
        }
        tokio::select! {
            received = listener.recv() => {
                if let Err(error) = received {
                    if pool.is_closed() {
                        return;
                    }
                    // The listener reconnects on the next call; meanwhile fall back to polling.
                    tracing::warn!(%error, "event notification listener failed");
                    tokio::time::sleep(IDLE_POLL).await;
                }
                // Many appends may have notified; one read covers them all.
                while listener.next_buffered().is_some() {}
            }
            () = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metadata;
    use chrono::Utc;

    fn event(position: i64) -> RecordedEvent {
        RecordedEvent {
            position,
            event_id: uuid::Uuid::new_v4(),
            stream_id: "s".into(),
            stream_version: position,
            event_type: "E".into(),
            schema_version: 1,
            data: serde_json::json!({}),
            metadata: Metadata::default(),
            recorded_at: Utc::now(),
        }
    }

    fn positions(take: Take) -> Option<Vec<i64>> {
        match take {
            Take::Events(events) => Some(events.iter().map(|e| e.position).collect()),
            Take::Behind => None,
        }
    }

    #[test]
    fn a_subscription_gets_what_follows_its_position_across_gaps() {
        let mut window = Window::new(10, 100);
        window.push([11, 12, 15, 16].map(event).to_vec());
        assert_eq!(positions(window.take(10, 10)), Some(vec![11, 12, 15, 16]));
        assert_eq!(positions(window.take(12, 10)), Some(vec![15, 16]));
        assert_eq!(positions(window.take(13, 1)), Some(vec![15]));
        assert_eq!(positions(window.take(16, 10)), Some(vec![]));
        assert_eq!(positions(window.take(9, 10)), None, "before the feed began");
    }

    #[test]
    fn past_what_it_keeps_the_window_drops_the_oldest_and_sends_earlier_positions_to_the_log() {
        let mut window = Window::new(0, 3);
        window.push((1..=5).map(event).collect());
        assert_eq!(window.head(), 5);
        assert_eq!(positions(window.take(2, 10)), Some(vec![3, 4, 5]));
        assert_eq!(
            positions(window.take(1, 10)),
            None,
            "event 2 is no longer held"
        );
    }
}
