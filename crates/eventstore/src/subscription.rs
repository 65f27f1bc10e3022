//! A catch-up subscription: every event after a checkpoint, in position order, then live ones.
//!
//! It never skips an event: reads are plain "position > last seen" queries, which is safe because
//! appends are serialized (see `append.rs`). Live events come from the process's feed (`feed.rs`),
//! one reader of the log shared by every subscription of the store handle; a subscription behind
//! what the feed holds reads the log itself. LISTEN/NOTIFY only wakes the feed; it is a hint, not
//! the delivery channel, because notifications are coalesced and lost while the listener
//! reconnects. After `idle_poll` without news from the feed a subscription reads the log itself,
//! as a backstop.

use crate::feed::{Feed, Take};
use crate::{Error, EventStore, RecordedEvent};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct SubscriptionOptions {
    /// Largest batch handed out at once; bounds memory while catching up from position 0.
    pub batch_size: i64,
    /// How long to wait without news from the feed before reading the log anyway.
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
    /// Moves when the feed has read further.
    feed_head: watch::Receiver<i64>,
    /// The last position handed out; the next batch starts after it.
    after: i64,
    /// The last batch reached the head (of the feed, or of the log as read): the next call waits
    /// for the feed to move before looking again.
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
        let feed_head = self.feed().await?.watch_head();
        Ok(Subscription {
            store: self.clone(),
            feed_head,
            after,
            caught_up: false,
            options,
        })
    }

    /// The handle's feed, started by its first subscription.
    async fn feed(&self) -> Result<&Feed, Error> {
        self.feed.get_or_try_init(|| Feed::start(self)).await
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
    /// The events are shared with the process's other subscriptions: read them, do not copy them.
    pub async fn next_batch(&mut self) -> Result<Vec<Arc<RecordedEvent>>, Error> {
        let limit = usize::try_from(self.options.batch_size).unwrap_or(usize::MAX);
        loop {
            let mut polled = false;
            if self.caught_up {
                polled = tokio::time::timeout(self.options.idle_poll, self.feed_head.changed())
                    .await
                    .is_err();
            }
            // Seen before looking: a move of the feed after this wakes the next wait.
            self.feed_head.borrow_and_update();
            let take = if polled {
                // No news from the feed for a while: look at the log itself.
                Take::Behind
            } else {
                self.store.feed().await?.take(self.after, limit)
            };
            let batch = match take {
                Take::Events(batch) => batch,
                Take::Behind => {
                    let read = self
                        .store
                        .read_all(self.after, self.options.batch_size)
                        .await?;
                    read.into_iter().map(Arc::new).collect()
                }
            };
            self.caught_up = batch.len() < limit;
            if let Some(last) = batch.last() {
                self.after = last.position;
                return Ok(batch);
            }
        }
    }
}
