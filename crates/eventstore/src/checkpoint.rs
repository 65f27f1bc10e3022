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
    sqlx::query(
        "INSERT INTO checkpoints (subscriber, position, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (subscriber) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
    )
    .bind(subscriber)
    .bind(position)
    .execute(conn)
    .await?;
    Ok(())
}
