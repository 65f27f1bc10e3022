//! Connecting, creating the database on a fresh machine, and applying migrations.

use crate::Error;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};
use std::time::Duration;

/// The versioned migrations of `migrations/`, embedded so the binary needs no files at run time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Creates the database named in `url` if it does not exist (a fresh machine has only `postgres`).
pub async fn create_database_if_missing(url: &str) -> Result<(), Error> {
    if !Postgres::database_exists(url).await? {
        match Postgres::create_database(url).await {
            Ok(()) => {}
            // Another process created it between the check and the create.
            Err(e) if Postgres::database_exists(url).await.unwrap_or(false) => {
                tracing::debug!(error = %e, "database appeared concurrently");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Applies pending migrations; concurrent callers are serialized by sqlx's migration lock.
pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// A pool with bounded size and a short acquire timeout: while the database is down, a request
/// waits at most `acquire_timeout` for a connection (the pool keeps trying to open one) and then
/// fails as unavailable, instead of piling up behind the outage.
pub async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<PgPool, Error> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .connect(url)
        .await?;
    Ok(pool)
}
