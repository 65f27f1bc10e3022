//! Subscriber checkpoints: how far each consumer of the global log has got.
//!
//! [`save_checkpoint`] takes any connection, so a projector passes the transaction that also holds
//! its read-model writes: both commit together, and a crash replays from the last committed point.

use crate::Error;
use sqlx::{PgConnection, PgPool};

/// The last position `subscriber` has processed (0 if it never ran).
pub async fn load_checkpoint(pool: &PgPool, subscriber: &str) -> Result<i64, Error> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM checkpoints WHERE subscriber = $1")
            .bind(subscriber)
            .fetch_optional(pool)
            .await?;
    Ok(position.unwrap_or(0))
}

/// Records that `subscriber` has processed everything up to and including `position`.
pub async fn save_checkpoint(
    conn: &mut PgConnection,
    subscriber: &str,
    position: i64,
) -> Result<(), Error> {
    upsert(conn, UPSERT, subscriber, position).await
}

/// Moves a consumer's checkpoint forward as part of its batch, like [`save_checkpoint`], and lets
/// the transaction it is part of commit without waiting for its WAL flush (`synchronous_commit =
/// off` for that transaction only). A crash can then lose the last fraction of a second of such
/// commits, each whole: the consumer replays those events from the log. So only for state that is
/// derived from the log (a checkpoint, and read-model writes committed with it); never for
/// appends, which are the source of truth and are acknowledged only once durable.
///
/// Consumers commit once per batch; not waiting for those flushes keeps them off the disk queue
/// the appender's commits wait in.
pub async fn advance_checkpoint(
    conn: &mut PgConnection,
    subscriber: &str,
    position: i64,
) -> Result<(), Error> {
    upsert(conn, REPLAYABLE_UPSERT, subscriber, position).await
}

const UPSERT: &str =
    "INSERT INTO checkpoints (subscriber, position, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (subscriber) DO UPDATE SET position = EXCLUDED.position, updated_at = now()";

/// [`UPSERT`], turning off the flush wait of its transaction in the same statement.
const REPLAYABLE_UPSERT: &str =
    "WITH replayable AS (SELECT set_config('synchronous_commit', 'off', true))
     INSERT INTO checkpoints (subscriber, position, updated_at)
     SELECT $1, $2, now() FROM replayable
     ON CONFLICT (subscriber) DO UPDATE SET position = EXCLUDED.position, updated_at = now()";

async fn upsert(
    conn: &mut PgConnection,
    sql: &'static str,
    subscriber: &str,
    position: i64,
) -> Result<(), Error> {
    sqlx::query(sql)
        .bind(subscriber)
        .bind(position)
        .execute(conn)
        .await?;
    Ok(())
}
