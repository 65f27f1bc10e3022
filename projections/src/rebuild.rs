//! Rebuilding a projection from position 0 into a shadow schema, then swapping it in.
//!
//! The live tables keep serving reads (and the live projector keeps applying) during the replay.
//! The swap happens under the projection's lock after a last catch-up, so no event is lost or
//! applied twice, and readers see either the old tables or the new ones.
//!
//! Fast: the log is read in large pages, the next page while the current one is applied, and each
//! page is written by the projection's own multi-row statements in one transaction, into unlogged
//! tables with only their primary keys; the shadow is made logged and indexed once, after the
//! replay (`shadow.rs`).
//!
//! Resumable: each page commits with the shadow's checkpoint (`<name>@rebuild-v<VERSION>`), so a
//! rebuild interrupted at any point (Ctrl-C, kill -9) continues from its last page when started
//! again; a shadow left by another version of the projection, or emptied by crash recovery, is
//! dropped and started over. The live tables are only ever touched by the one swap transaction.
//! One rebuild per projection runs at a time (a session lock, released by Postgres if the process
//! dies).

use crate::runner::{create_schema, enter, lock_key, Projection, PROGRESS_CHANNEL};
use crate::shadow::{self, Phase};
use crate::ProjectionError;
use eventstore::{advance_checkpoint, save_checkpoint, EventStore};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Events read and applied per transaction while replaying.
pub const DEFAULT_BATCH: i64 = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub projection: &'static str,
    /// The position the rebuilt tables were swapped in at.
    pub position: i64,
    /// Events applied by this run (not counting those an interrupted run applied before).
    pub events_applied: u64,
    /// Where this run started: 0, or the checkpoint of an interrupted rebuild it continued.
    pub resumed_from: i64,
}

/// How far a replay has got, reported after every page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The last position applied.
    pub position: i64,
    /// The log's head when the replay started (it may grow meanwhile).
    pub head: i64,
    /// Events applied so far by this run.
    pub applied: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildOptions {
    /// Drop an interrupted rebuild's shadow and start from 0 instead of continuing it.
    pub restart: bool,
    pub batch_size: i64,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self {
            restart: false,
            batch_size: DEFAULT_BATCH,
        }
    }
}

/// The checkpoint name of a projection's shadow; the version is part of it, so a shadow built by
/// other code is never continued.
pub fn shadow_checkpoint<P: Projection>() -> String {
    format!("{}@rebuild-v{}", P::NAME, P::VERSION)
}

/// The schema a rebuild fills before the swap.
pub fn shadow_schema(name: &str) -> String {
    format!("{name}_rebuild")
}

/// The session lock a rebuild of `name` holds while it runs.
pub(crate) fn rebuild_lock_key(name: &str) -> i64 {
    lock_key(&format!("{name}@rebuild"))
}

/// Rebuilds with the default options and no progress reports.
pub async fn rebuild<P: Projection>(
    store: &EventStore,
    projection: &P,
) -> Result<RebuildReport, ProjectionError> {
    rebuild_with(store, projection, RebuildOptions::default(), |_| {}).await
}

/// Rebuilds `projection`, calling `progress` after every page.
pub async fn rebuild_with<P: Projection>(
    store: &EventStore,
    projection: &P,
    options: RebuildOptions,
    mut progress: impl FnMut(Progress),
) -> Result<RebuildReport, ProjectionError> {
    let pool = store.pool();
    // Held on a connection of its own for the whole rebuild; if this process dies, Postgres ends
    // the session and the lock with it.
    let mut guard = pool.acquire().await?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(rebuild_lock_key(P::NAME))
        .fetch_one(&mut guard)
        .await?;
    if !locked {
        return Err(ProjectionError::Busy(P::NAME.to_owned()));
    }
    let outcome = rebuild_locked(store, projection, options, &mut progress).await;
    // Closing the session releases the lock, also when the rebuild failed.
    let _ = guard.close().await;
    outcome
}

async fn rebuild_locked<P: Projection>(
    store: &EventStore,
    projection: &P,
    options: RebuildOptions,
    progress: &mut impl FnMut(Progress),
) -> Result<RebuildReport, ProjectionError> {
    let pool = store.pool();
    let shadow = shadow_schema(P::NAME);
    let checkpoint = shadow_checkpoint::<P>();
    let resumable = if options.restart {
        None
    } else {
        interrupted(pool, &shadow, &checkpoint).await?
    };
    let (start, sealed) = match resumable {
        Some((position, phase)) => {
            tracing::info!(
                projection = P::NAME,
                position,
                "continuing an interrupted rebuild"
            );
            (position, phase == Phase::Sealed)
        }
        None => {
            let mut tx = pool.begin().await?;
            drop_schema(&mut tx, &shadow).await?;
            sqlx::query("DELETE FROM checkpoints WHERE subscriber LIKE $1 || '@rebuild%'")
                .bind(P::NAME)
                .execute(&mut *tx)
                .await?;
            create_schema::<P>(&mut tx, &shadow).await?;
            shadow::prepare(&mut tx, &shadow).await?;
            save_checkpoint(&mut tx, &checkpoint, 0).await?;
            tx.commit().await?;
            (0, false)
        }
    };

    let head = store.head_position().await?;
    let mut position = start;
    let mut applied = 0;
    if !sealed {
        (position, applied) = replay_range(
            store,
            projection,
            &shadow,
            Some(Mark {
                checkpoint: &checkpoint,
                unlogged: true,
            }),
            // Up to a head known in advance: a writer that keeps appending would otherwise
            // keep every page non-empty, and "read until nothing is left" need never end.
            Range {
                after: start,
                up_to: Some(head),
                batch: options.batch_size,
            },
            head,
            progress,
        )
        .await?;
        tracing::info!(
            projection = P::NAME,
            position,
            "replayed; sealing the shadow"
        );
        let mut tx = pool.begin().await?;
        shadow::seal(&mut tx, &shadow).await?;
        tx.commit().await?;
    }
    // What was appended while replaying and sealing, outside the projector's lock.
    let sealed_at = store.head_position().await?;
    let (position, caught_up) = replay_range(
        store,
        projection,
        &shadow,
        Some(Mark {
            checkpoint: &checkpoint,
            unlogged: false,
        }),
        Range {
            after: position,
            up_to: Some(sealed_at),
            batch: options.batch_size,
        },
        head,
        progress,
    )
    .await?;
    let mut applied = applied + caught_up;

    // Final catch-up and swap, under the lock the live projector takes for every batch.
    let mut tx = pool.begin().await?;
    enter(&mut tx, P::NAME, &shadow).await?;
    // The live projector waits for this lock: what is appended after this head it applies to
    // the swapped-in tables itself, from the checkpoint saved with the swap.
    let locked_at = store.head_position().await?;
    let mut position = position;
    while position < locked_at {
        let mut batch = store.read_all_raw(position, options.batch_size).await?;
        batch.retain(|e| e.position <= locked_at);
        let Some(last) = batch.last().map(|e| e.position) else {
            break;
        };
        projection.apply_all(&mut tx, &batch).await?;
        position = last;
        applied += batch.len() as u64;
    }
    let retired = format!("{}_retired", P::NAME);
    let swap = format!(
        "DROP SCHEMA IF EXISTS \"{retired}\" CASCADE;
         ALTER SCHEMA \"{live}\" RENAME TO \"{retired}\";
         ALTER SCHEMA \"{shadow}\" RENAME TO \"{live}\";
         DROP SCHEMA \"{retired}\" CASCADE;",
        live = P::NAME
    );
    sqlx::raw_sql(AssertSqlSafe(swap)).execute(&mut *tx).await?;
    save_checkpoint(&mut tx, P::NAME, position).await?;
    sqlx::query("DELETE FROM checkpoints WHERE subscriber = $1")
        .bind(&checkpoint)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO projections (name, version, rebuilt_at) VALUES ($1, $2, now())
         ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, rebuilt_at = now()",
    )
    .bind(P::NAME)
    .bind(P::VERSION)
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PROGRESS_CHANNEL)
        .bind(format!("{}:{position}", P::NAME))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        projection = P::NAME,
        position,
        applied,
        "projection rebuilt and swapped in"
    );
    Ok(RebuildReport {
        projection: P::NAME,
        position,
        events_applied: applied,
        resumed_from: start,
    })
}

/// The position and phase of an interrupted rebuild that can be continued: `None` when there is
/// none, or when its unlogged shadow was emptied by crash recovery (then it starts over).
async fn interrupted(
    pool: &sqlx::PgPool,
    shadow: &str,
    checkpoint: &str,
) -> Result<Option<(i64, Phase)>, ProjectionError> {
    let position: Option<i64> = sqlx::query_scalar(
        "SELECT c.position FROM checkpoints c
          WHERE c.subscriber = $1
            AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $2)",
    )
    .bind(checkpoint)
    .bind(shadow)
    .fetch_optional(pool)
    .await?;
    let Some(position) = position else {
        return Ok(None);
    };
    let mut conn = pool.acquire().await?;
    Ok(match shadow::phase(&mut conn, shadow).await? {
        // Both commit with every page, so they agree; the shadow's own goes with its rows.
        Phase::Replaying(at) => Some((at, Phase::Replaying(at))),
        Phase::Sealed => Some((position, Phase::Sealed)),
        Phase::Lost => {
            tracing::warn!(
                shadow,
                position,
                "the rebuild's unlogged tables were emptied by crash recovery; starting over"
            );
            None
        }
    })
}

pub(crate) async fn drop_schema(
    conn: &mut PgConnection,
    schema: &str,
) -> Result<(), ProjectionError> {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Where a replay records its progress, in each page's transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark<'a> {
    pub checkpoint: &'a str,
    /// Also in the shadow's unlogged state table (while its tables are unlogged).
    pub unlogged: bool,
}

/// Which events a replay applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range {
    /// Start after this position.
    pub after: i64,
    /// Stop after this position; `None`: at the head (a read that comes back empty).
    pub up_to: Option<i64>,
    pub batch: i64,
}

/// Applies the events of `range` to `schema` page by page, each page in a transaction of its own
/// (with its `mark` when given). The next page is read and prepared (decoded into what it writes)
/// on a task of its own while the current one is written, so that the CPU work of this process and
/// the writes of Postgres overlap. Returns the last position applied and how many events.
pub(crate) async fn replay_range<P: Projection>(
    store: &EventStore,
    projection: &P,
    schema: &str,
    mark: Option<Mark<'_>>,
    range: Range,
    head: i64,
    progress: &mut impl FnMut(Progress),
) -> Result<(i64, u64), ProjectionError> {
    let mut position = range.after;
    let mut applied = 0u64;
    let mut page = read_page(store.clone(), projection.clone(), range, position).await?;
    while let Some(Page {
        last,
        len,
        prepared,
    }) = page
    {
        let next = tokio::spawn(read_page(store.clone(), projection.clone(), range, last));
        if let Err(error) = apply_page(store, projection, schema, mark, last, prepared).await {
            next.abort();
            return Err(error);
        }
        position = last;
        applied += len;
        progress(Progress {
            position,
            head,
            applied,
        });
        page = match next.await {
            Ok(read) => read?,
            Err(failed) => std::panic::resume_unwind(failed.into_panic()),
        };
    }
    Ok((position, applied))
}

/// A page of the log, prepared for writing.
struct Page<T> {
    /// The position of its last event.
    last: i64,
    /// How many events it holds.
    len: u64,
    prepared: T,
}

/// The events of `range` after `after`, prepared by `projection`: a page, or none past its end.
async fn read_page<P: Projection>(
    store: EventStore,
    projection: P,
    range: Range,
    after: i64,
) -> Result<Option<Page<P::Prepared>>, ProjectionError> {
    if range.up_to.is_some_and(|up_to| after >= up_to) {
        return Ok(None);
    }
    let mut events = store.read_all_raw(after, range.batch).await?;
    if let Some(up_to) = range.up_to {
        events.retain(|e| e.position <= up_to);
    }
    let Some(last) = events.last().map(|e| e.position) else {
        return Ok(None);
    };
    let len = events.len() as u64;
    // Decoding a page is tens of milliseconds of CPU: not on the runtime's threads.
    let prepared = tokio::task::spawn_blocking(move || projection.prepare(&events));
    let prepared = match prepared.await {
        Ok(prepared) => prepared?,
        Err(failed) => std::panic::resume_unwind(failed.into_panic()),
    };
    Ok(Some(Page {
        last,
        len,
        prepared,
    }))
}

async fn apply_page<P: Projection>(
    store: &EventStore,
    projection: &P,
    schema: &str,
    mark: Option<Mark<'_>>,
    last: i64,
    prepared: P::Prepared,
) -> Result<(), ProjectionError> {
    let mut tx = store.pool().begin().await?;
    in_schema(&mut tx, schema).await?;
    projection.write(&mut tx, prepared).await?;
    if let Some(mark) = mark {
        // Derived state: a page lost in a crash is applied again from the checkpoint before it.
        advance_checkpoint(&mut tx, mark.checkpoint, last).await?;
        if mark.unlogged {
            shadow::record(&mut tx, schema, last).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Unqualified names of the rest of the transaction resolve in `schema` (a scratch or shadow
/// schema nobody else writes: no projection lock needed).
pub(crate) async fn in_schema(
    conn: &mut PgConnection,
    schema: &str,
) -> Result<(), ProjectionError> {
    sqlx::query("SELECT set_config('search_path', $1, true)")
        .bind(format!("\"{schema}\", public"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The checkpoint of an interrupted rebuild of `name`, if one is waiting to be continued.
pub(crate) async fn interrupted_at(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<i64>, ProjectionError> {
    let position = sqlx::query_scalar(
        "SELECT position FROM checkpoints WHERE subscriber LIKE $1 || '@rebuild-v%'",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(position)
}

/// Whether a rebuild of `name` runs now (its session lock is taken).
pub(crate) async fn is_running(
    conn: &mut PgConnection,
    name: &str,
) -> Result<bool, ProjectionError> {
    let mut tx = conn.begin().await?;
    let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(rebuild_lock_key(name))
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
    Ok(!free)
}
