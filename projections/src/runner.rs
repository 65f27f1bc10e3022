//! Running a projection: follow the log, apply each event exactly once (rebuilds: `rebuild.rs`).
//!
//! Every batch is applied in one transaction that also moves the projection's checkpoint, under a
//! transaction-scoped advisory lock named after the projection. Several projector processes can
//! therefore run side by side (each re-reads the checkpoint under the lock and skips what another
//! already applied), and a rebuild can swap its shadow schema in between two batches.
//!
//! Projection SQL is written without schema names; the runner sets `search_path` to the live schema
//! (or to the shadow schema during a rebuild), so one piece of code fills both.

use crate::rebuild::rebuild;
use crate::ProjectionError;
use eventstore::{
    advance_checkpoint, load_checkpoint, EventStore, LoggedEvent, RecordedEvent,
    SubscriptionOptions,
};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The channel on which projectors announce progress; the payload is `<name>:<position>`.
pub const PROGRESS_CHANNEL: &str = "projection_progress";

/// How long a caught-up projector waits before reading again. At a few hundred appends a second a
/// batch per append costs each projector a transaction per append; a short pause turns them into
/// one batch per pause, at the price of that pause in read-your-writes waits.
const LINGER: Duration = Duration::from_millis(10);

/// How long a projector may skip writing batches it has no use for before it records its
/// checkpoint anyway (what a restart would otherwise read again).
const IDLE_CHECKPOINT: Duration = Duration::from_secs(10);

/// `Clone`: a replay prepares pages on a task of their own, with a copy of the projection.
pub trait Projection: Clone + Send + Sync + 'static {
    /// Also the name of its live schema and of its checkpoint.
    const NAME: &'static str;
    /// Raise it whenever the schema or the meaning of `apply` changes: the next start rebuilds.
    const VERSION: i32;
    /// Idempotent DDL (`CREATE TABLE IF NOT EXISTS ...`) with unqualified names.
    const SCHEMA_SQL: &'static str;

    /// Whether the projection uses this event at all. A batch holding none of them is not
    /// written (no transaction); the checkpoint moves past it with the next written batch, or
    /// within `IDLE_CHECKPOINT`. Keep the default (every event) for a projection that readers wait
    /// on by position (read-your-writes), so that its position keeps up with the log's head.
    fn wants<E: LoggedEvent>(&self, _event: &E) -> bool {
        true
    }

    /// A batch decoded and made ready to write: CPU work only, so that a replay prepares the next
    /// page on one core while this one is written from another.
    type Prepared: Send + 'static;

    /// Decodes a batch of events into what it writes; events it does not use are ignored.
    fn prepare<E: LoggedEvent>(&self, events: &[E]) -> Result<Self::Prepared, ProjectionError>;

    /// Writes a prepared batch, in order, inside the batch's transaction, with as few statements
    /// as it can (multi-row, `COPY`).
    ///
    /// During a rebuild's replay the tables have their primary keys but no other index or unique
    /// constraint (they are built after it, see `shadow.rs`): the result must not depend on them
    /// (no `ON CONFLICT` against a unique constraint other than the primary key).
    fn write<'c>(
        &'c self,
        conn: &'c mut PgConnection,
        prepared: Self::Prepared,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'c;

    /// Prepares and writes a batch. The live projector passes [`RecordedEvent`]s, replays
    /// [`eventstore::RawEvent`]s.
    fn apply_all<'c, E: LoggedEvent>(
        &'c self,
        conn: &'c mut PgConnection,
        events: &'c [E],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'c {
        async move {
            let prepared = self.prepare(events)?;
            self.write(conn, prepared).await
        }
    }
}

pub(crate) fn lock_key(name: &str) -> i64 {
    // FNV-1a: stable across processes and versions, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// Takes projection `name`'s lock and works in `schema` for the rest of the transaction, in one
/// round trip (once per batch).
pub(crate) async fn enter(
    conn: &mut PgConnection,
    name: &str,
    schema: &str,
) -> Result<(), ProjectionError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1), set_config('search_path', $2, true)")
        .bind(lock_key(name))
        .bind(format!("\"{schema}\", public"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(crate) async fn create_schema<P: Projection>(
    conn: &mut PgConnection,
    schema: &str,
) -> Result<(), ProjectionError> {
    let sql = format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; SET LOCAL search_path TO \"{schema}\", public"
    );
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql(P::SCHEMA_SQL).execute(&mut *conn).await?;
    Ok(())
}

/// Creates the live schema if missing. Returns true when the tables were built by another version
/// of the projection and must be rebuilt.
pub async fn ensure_schema<P: Projection>(pool: &PgPool) -> Result<bool, ProjectionError> {
    let mut tx = pool.begin().await?;
    enter(&mut tx, P::NAME, P::NAME).await?;
    create_schema::<P>(&mut tx, P::NAME).await?;
    let stored: Option<i32> = sqlx::query_scalar("SELECT version FROM projections WHERE name = $1")
        .bind(P::NAME)
        .fetch_optional(&mut *tx)
        .await?;
    let stale = match stored {
        Some(version) => version != P::VERSION,
        None => {
            // New tables: built by this version from whatever the checkpoint says (0 if new).
            sqlx::query("INSERT INTO projections (name, version) VALUES ($1, $2)")
                .bind(P::NAME)
                .bind(P::VERSION)
                .execute(&mut *tx)
                .await?;
            false
        }
    };
    tx.commit().await?;
    Ok(stale)
}

/// Applies the events of `batch` that `checkpoint_name` has not seen into `schema`, atomically
/// with the checkpoint. Returns the checkpoint afterwards.
async fn apply_batch<P: Projection>(
    pool: &PgPool,
    projection: &P,
    schema: &str,
    checkpoint_name: &str,
    batch: &[Arc<RecordedEvent>],
) -> Result<i64, ProjectionError> {
    let mut tx = pool.begin().await?;
    enter(&mut tx, P::NAME, schema).await?;
    let done: i64 = sqlx::query_scalar("SELECT position FROM checkpoints WHERE subscriber = $1")
        .bind(checkpoint_name)
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(0);
    let fresh = batch.partition_point(|e| e.position <= done);
    let fresh = &batch[fresh..];
    projection.apply_all(&mut tx, fresh).await?;
    let last = fresh.last().map_or(done, |e| e.position);
    if last > done {
        // The batch commits without waiting for its flush: lost in a crash, it is lost with its
        // checkpoint and applied again from the log.
        advance_checkpoint(&mut tx, checkpoint_name, last).await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(PROGRESS_CHANNEL)
            .bind(format!("{checkpoint_name}:{last}"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(last)
}

/// Follows the log until `shutdown`, rebuilding first if the tables are of another version.
/// Failures are logged and retried from the checkpoint; nothing is skipped.
pub async fn run<P: Projection>(store: EventStore, projection: P, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            outcome = follow(&store, &projection, &shutdown) => outcome,
        };
        match outcome {
            Ok(()) => return,
            Err(error) => {
                tracing::error!(projection = P::NAME, %error, "projector failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn follow<P: Projection>(
    store: &EventStore,
    projection: &P,
    shutdown: &CancellationToken,
) -> Result<(), ProjectionError> {
    let pool = store.pool();
    if ensure_schema::<P>(pool).await? {
        tracing::info!(
            projection = P::NAME,
            version = P::VERSION,
            "schema version changed; rebuilding"
        );
        rebuild(store, projection).await?;
    }
    let checkpoint = load_checkpoint(pool, P::NAME).await?;
    let mut subscription = store
        .subscribe(checkpoint, SubscriptionOptions::default())
        .await?;
    tracing::info!(
        projection = P::NAME,
        checkpoint,
        "projector following the log"
    );
    let mut written_at = Instant::now();
    let mut gauged_at: Option<Instant> = None;
    loop {
        let batch = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            batch = subscription.next_batch() => batch?,
        };
        let wanted = batch.iter().any(|e| projection.wants(e));
        let position = if wanted || written_at.elapsed() >= IDLE_CHECKPOINT {
            written_at = Instant::now();
            apply_batch(pool, projection, P::NAME, P::NAME, &batch).await?
        } else {
            subscription.position()
        };
        if subscription.is_caught_up() {
            // Let the next events gather: one transaction for what arrives in the meantime
            // instead of one per append (readers waiting for this projection wait this much
            // longer at most).
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(LINGER) => {}
            }
        }
        // The lag needs the log's head: a query, so at most once a second, not once a batch.
        if gauged_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            gauged_at = Some(Instant::now());
            let head = store.head_position().await?;
            metrics::gauge!("projection_position", "projection" => P::NAME).set(position as f64);
            metrics::gauge!("projection_lag_events", "projection" => P::NAME)
                .set((head - position).max(0) as f64);
        }
    }
}
