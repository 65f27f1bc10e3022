//! Knowing how far a projection has got, to give read-your-writes without polling.
//!
//! One task per process listens to the projectors' progress notifications and publishes the latest
//! checkpoint in a `watch` channel; a request that has just appended at position P waits until the
//! projection passes P before it answers.

use crate::runner::PROGRESS_CHANNEL;
use eventstore::{load_checkpoint, EventStore};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct ProjectionWatch {
    position: watch::Receiver<i64>,
    /// For the log's head, which [`ProjectionWatch::catch_up`] waits for.
    store: EventStore,
}

impl ProjectionWatch {
    /// Starts following projection `name`; the task ends with `shutdown`.
    pub fn start(
        pool: PgPool,
        name: &'static str,
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
            },
            task,
        )
    }

    pub fn position(&self) -> i64 {
        *self.position.borrow()
    }

    /// Read-your-writes for a read of this projection: waits until it has applied everything
    /// committed before this call (the log's head now), whichever process appended it; false if
    /// `timeout` passed first. The head is read from the store, not taken from notifications,
    /// which may not have arrived yet for a write another process has just acknowledged.
    pub async fn catch_up(&self, timeout: Duration) -> Result<bool, eventstore::Error> {
        let head = self.store.head_position().await?;
        Ok(self.position() >= head || self.wait_for(head, timeout).await)
    }

    /// Waits until the projection has applied `position`; false if `timeout` passed first.
    pub async fn wait_for(&self, position: i64, timeout: Duration) -> bool {
        let mut receiver = self.position.clone();
        tokio::time::timeout(timeout, receiver.wait_for(|p| *p >= position))
            .await
            .is_ok_and(|r| r.is_ok())
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
