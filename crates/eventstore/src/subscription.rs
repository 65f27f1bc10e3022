//! A catch-up subscription: every event after a checkpoint, in position order, then live ones.
//!
//! It never skips an event: reads are plain "position > last seen" queries, which is safe because
//! appends are serialized (see `append.rs`). LISTEN/NOTIFY only wakes the reader; it is a hint, not
//! the delivery channel, because notifications are coalesced and lost while the listener reconnects.
//! The reader therefore always re-reads from its position, and also polls after `idle_poll` of
//! silence as a backstop.

use crate::{Error, EventStore, RecordedEvent, NOTIFY_CHANNEL};
use sqlx::postgres::PgListener;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SubscriptionOptions {
    /// Largest batch handed out at once; bounds memory while catching up from position 0.
    pub batch_size: i64,
    /// How long to wait without a notification before reading again anyway.
    pub idle_poll: Duration,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            idle_poll: Duration::from_secs(1),
        }
    }
}

pub struct Subscription {
    store: EventStore,
    listener: PgListener,
    /// The last position handed out; the next batch starts after it.
    after: i64,
    /// The last read came back short: everything committed before it was handed out, so the next
    /// call waits for a notification before reading (an append committed since has notified the
    /// listener, which was listening before that read) instead of reading an empty page first.
    caught_up: bool,
    options: SubscriptionOptions,
}

impl EventStore {
    /// Follows the global log from just after `after` (a checkpoint, or 0 for the beginning).
    pub async fn subscribe(
        &self,
        after: i64,
        options: SubscriptionOptions,
    ) -> Result<Subscription, Error> {
        // Listen before the first read, so an append committed in between still wakes us.
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        Ok(Subscription {
            store: self.clone(),
            listener,
            after,
            caught_up: false,
            options,
        })
    }
}

impl Subscription {
    /// The position of the last event handed out.
    pub fn position(&self) -> i64 {
        self.after
    }

    /// Whether the last batch reached the log's head as it was when read (it came back short).
    pub fn is_caught_up(&self) -> bool {
        self.caught_up
    }

    /// The next non-empty batch, waiting for new appends when caught up.
    ///
    /// Cancel-safe: dropping the future loses no event, the next call reads from the same position.
    pub async fn next_batch(&mut self) -> Result<Vec<RecordedEvent>, Error> {
        loop {
            if self.caught_up {
                self.wait_for_append().await;
                // Cleared before reading: if this future is dropped during the read, the next
                // call reads at once rather than waiting for yet another notification.
                self.caught_up = false;
            }
            let batch = self
                .store
                .read_all(self.after, self.options.batch_size)
                .await?;
            self.caught_up = (batch.len() as i64) < self.options.batch_size;
            if let Some(last) = batch.last() {
                self.after = last.position;
                return Ok(batch);
            }
        }
    }

    async fn wait_for_append(&mut self) {
        tokio::select! {
            received = self.listener.recv() => {
                if let Err(error) = received {
                    // The listener reconnects on the next call; meanwhile fall back to polling.
                    tracing::warn!(%error, "event notification listener failed");
                    tokio::time::sleep(self.options.idle_poll).await;
                }
                // Many appends may have notified; one read covers them all.
                while self.listener.next_buffered().is_some() {}
            }
            () = tokio::time::sleep(self.options.idle_poll) => {}
        }
    }
}
