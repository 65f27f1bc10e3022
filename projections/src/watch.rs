//! Knowing how far a projection has got, to give read-your-writes without polling.
//!
//! One task per process listens to the projectors' progress notifications and publishes the latest
//! checkpoint in a `watch` channel; a request that has just appended at position P waits until the
//! projection passes P before it answers.
//!
//! A projection that stops moving (its projector died or hangs) must not make every read wait out
//! its timeout: once it has been behind the same position for longer than the lag bound, reads
//! answer at once from what it holds, and readiness reports it until it catches up.

use crate::runner::PROGRESS_CHANNEL;
use eventstore::{load_checkpoint, EventStore};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct ProjectionWatch {
    position: watch::Receiver<i64>,
    /// For the log's head, which [`ProjectionWatch::catch_up`] waits for.
    store: EventStore,
    /// The oldest position seen ahead of the projection that it has not reached yet, and since
    /// when: how long it has been behind.
    behind: Arc<Mutex<Option<(i64, Instant)>>>,
    max_lag: Duration,
}

/// A projection behind the log for longer than its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stalled {
    pub position: i64,
    pub waiting_for: i64,
    pub since: Duration,
}

impl ProjectionWatch {
    /// Starts following projection `name`; the task ends with `shutdown`.
    pub fn start(
        pool: PgPool,
        name: &'static str,
        max_lag: Duration,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = watch::channel(0);
        let store = EventStore::new(pool.clone());
        let task = tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = follow(pool, name, sender) => {}
            }
        });
        (
            Self {
                position: receiver,
                store,
                behind: Arc::default(),
                max_lag,
            },
            task,
        )
    }

    /// For a process that serves no reads (publisher, projector, notifier): listens to nothing
    /// and holds no connection. It never moves, so a wait on it gives up at once.
    pub fn detached(pool: PgPool, max_lag: Duration) -> Self {
        let (_, receiver) = watch::channel(0);
        Self {
            position: receiver,
            store: EventStore::new(pool),
            behind: Arc::default(),
            max_lag,
        }
    }

    pub fn position(&self) -> i64 {
        *self.position.borrow()
    }

    /// Read-your-writes for a read of this projection: waits until it has applied everything
    /// committed before this call (the log's head now), whichever process appended it; false if
    /// `timeout` passed first or the projection is stalled. The head is read from the store, not
    /// taken from notifications, which may not have arrived yet for a write another process has
    /// just acknowledged.
    pub async fn catch_up(&self, timeout: Duration) -> Result<bool, eventstore::Error> {
        let head = self.store.head_position().await?;
        Ok(self.position() >= head || self.wait_for(head, timeout).await)
    }

    /// Waits until the projection has applied `position`; false if `timeout` passed first, or at
    /// once if the projection is stalled.
    pub async fn wait_for(&self, position: i64, timeout: Duration) -> bool {
        if self.position() >= position {
            return true;
        }
        if self.observe(position).is_some() {
            return false;
        }
        let mut receiver = self.position.clone();
        tokio::time::timeout(timeout, receiver.wait_for(|p| *p >= position))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Whether the projection is stalled now, judged against the log's head (for readiness).
    pub async fn stalled(&self) -> Result<Option<Stalled>, eventstore::Error> {
        let head = self.store.head_position().await?;
        Ok(self.observe(head))
    }

    /// Notes that the log has reached `head`; the stall, if the projection has been behind for
    /// longer than the bound.
    fn observe(&self, head: i64) -> Option<Stalled> {
        let position = self.position();
        let Ok(mut behind) = self.behind.lock() else {
            return None;
        };
        if position >= head {
            *behind = None;
            return None;
        }
        match *behind {
            Some((waiting_for, since)) if position < waiting_for => {
                let since = since.elapsed();
                (since > self.max_lag).then_some(Stalled {
                    position,
                    waiting_for,
                    since,
                })
            }
            // Not behind before, or it reached what it was behind: a new wait starts now.
            _ => {
                *behind = Some((head, Instant::now()));
                None
            }
        }
    }
}

async fn follow(pool: PgPool, name: &str, sender: watch::Sender<i64>) {
    let prefix = format!("{name}:");
    loop {
        if let Err(error) = listen(&pool, &prefix, name, &sender).await {
            tracing::warn!(%error, projection = name, "projection progress listener failed; retrying");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen(
    pool: &PgPool,
    prefix: &str,
    name: &str,
    sender: &watch::Sender<i64>,
) -> Result<(), crate::ProjectionError> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(PROGRESS_CHANNEL).await?;
    // Read after listening, so no progress falls between the two.
    let current = load_checkpoint(pool, name).await?;
    sender.send_if_modified(|p| raise(p, current));
    loop {
        // A periodic re-read covers notifications lost while reconnecting, and rebuild swaps.
        match tokio::time::timeout(Duration::from_secs(5), listener.recv()).await {
            Ok(notification) => {
                let notification = notification?;
                if let Some(position) = notification
                    .payload()
                    .strip_prefix(prefix)
                    .and_then(|p| p.parse::<i64>().ok())
                {
                    sender.send_if_modified(|p| raise(p, position));
                }
            }
            Err(_) => {
                let current = load_checkpoint(pool, name).await?;
                sender.send_if_modified(|p| raise(p, current));
            }
        }
    }
}

fn raise(current: &mut i64, seen: i64) -> bool {
    if seen > *current {
        *current = seen;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(max_lag: Duration) -> (ProjectionWatch, watch::Sender<i64>) {
        let (sender, receiver) = watch::channel(5);
        let Ok(pool) = PgPool::connect_lazy("postgres://127.0.0.1:1/unused") else {
            panic!("a lazy pool connects to nothing");
        };
        let watch = ProjectionWatch {
            position: receiver,
            store: EventStore::new(pool),
            behind: Arc::default(),
            max_lag,
        };
        (watch, sender)
    }

    #[tokio::test]
    async fn a_model_idle_for_long_is_not_stalled_by_the_next_write() {
        let lag = Duration::from_millis(20);
        let (watch, projector) = watched(lag);
        assert_eq!(watch.observe(5), None, "caught up");
        tokio::time::sleep(lag * 3).await;
        // The first sight of a lag starts the clock, however long the model sat idle before.
        assert_eq!(watch.observe(6), None);
        projector.send_replace(6);
        assert_eq!(
            watch.observe(7),
            None,
            "it reached what it was behind: a new wait"
        );
    }

    #[tokio::test]
    async fn a_model_behind_the_same_position_past_the_bound_is_stalled_until_it_moves() {
        let lag = Duration::from_millis(20);
        let (watch, projector) = watched(lag);
        assert_eq!(watch.observe(8), None);
        tokio::time::sleep(lag * 3).await;
        let stalled = watch.observe(9);
        assert!(
            matches!(stalled, Some(Stalled { position: 5, waiting_for: 8, since }) if since > lag),
            "{stalled:?}"
        );
        // Reads give up at once instead of waiting out their timeout.
        assert!(!watch.wait_for(9, Duration::from_secs(30)).await);
        projector.send_replace(9);
        assert_eq!(watch.observe(9), None);
        assert!(watch.wait_for(9, Duration::from_secs(30)).await);
    }
}
