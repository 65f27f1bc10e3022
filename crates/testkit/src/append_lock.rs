//! Holding the event store's append lock, so that every writer of a test database waits at a
//! moment the test chooses (a batch queued behind it, a send held up during an outage).

use sqlx::{PgPool, Postgres, Transaction};

/// A transaction holding the append lock until it commits or is dropped.
pub async fn hold(pool: &PgPool) -> anyhow::Result<Transaction<'static, Postgres>> {
    let mut blocker = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(eventstore::APPEND_LOCK_KEY)
        .execute(&mut *blocker)
        .await?;
    Ok(blocker)
}

/// Waits until a transaction of this database (tests run side by side) waits for the lock.
pub async fn until_awaited(pool: &PgPool) -> anyhow::Result<()> {
    while sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM pg_locks
          WHERE locktype = 'advisory' AND NOT granted
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(pool)
    .await?
        == 0
    {
        tokio::task::yield_now().await;
    }
    Ok(())
}
