//! The PostgreSQL event store: append with optimistic concurrency, read a stream or the global log,
//! follow the log with a catch-up subscription, and keep subscriber checkpoints.
//!
//! Every write of the system is an append here; read models are built from [`Subscription`]s and can
//! be thrown away and rebuilt from position 0.

/// `SELECT <every column of an event> FROM events <rest>`: the one column list that
/// `EventRow` decodes, for the reads that return whole events.
macro_rules! select_events {
    ($rest:literal) => {
        concat!(
            "SELECT position, event_id, stream_id, stream_version, event_type, schema_version,
                    data, metadata, recorded_at
               FROM events ",
            $rest
        )
    };
}

mod append;
mod appender;
mod backup;
mod checkpoint;
mod database;
mod error;
mod event;
mod feed;
mod inspect;
mod reachability;
mod read;
mod subscription;

pub use append::{append_in_tx, AppendResult, ExpectedVersion, StreamAppend, APPEND_LOCK_KEY};
pub use appender::{Appender, AppenderOptions};
pub use backup::{ExportedEvent, Importer, Snapshot};
pub use checkpoint::{advance_checkpoint, load_checkpoint, save_checkpoint};
pub use database::{connect, create_database_if_missing, migrate, MIGRATOR};
pub use error::{is_connection_failure, Error};
pub use event::{LoggedEvent, Metadata, NewEvent, RawEvent, RecordedEvent};
pub use inspect::{EventFilter, StreamInfo};
pub use subscription::{Subscription, SubscriptionOptions};

use reachability::{Reachability, UNREACHABLE_HOLD};
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;

/// The channel on which every append notifies subscribers; the payload is the last new position.
pub const NOTIFY_CHANNEL: &str = "events_appended";

/// A cheap-to-clone handle on the store; all state lives in Postgres.
#[derive(Clone, Debug)]
pub struct EventStore {
    /// Shared with the rest of the process: appends, reads and checkpoint writes all borrow from it.
    pool: PgPool,
    /// Shared by the clones of this handle: a request's store operations fail at once, after one
    /// of them (or another request's) found the database unreachable.
    reachability: Arc<Reachability>,
    /// The one reader of the log that this handle's subscriptions share, started by the first.
    feed: Arc<tokio::sync::OnceCell<feed::Feed>>,
}

impl EventStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            reachability: Arc::new(Reachability::new(UNREACHABLE_HOLD)),
            feed: Arc::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether an operation of this store found the database unreachable within `window`: a
    /// slow answer then is an outage's, not a busy database's.
    pub fn unreachable_within(&self, window: std::time::Duration) -> bool {
        self.reachability.unreachable_within(window)
    }

    /// Runs an operation of a request's path, unless the database was found unreachable moments
    /// ago; notes it when this operation finds it so.
    pub(crate) async fn guarded<T>(
        &self,
        operation: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        self.reachability.check()?;
        let outcome = operation.await;
        if let Err(error) = &outcome {
            self.reachability.note(error);
        }
        outcome
    }
}
