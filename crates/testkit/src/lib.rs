//! Test support shared by the integration tests of every crate.
//!
//! Tests talk to the real Postgres (never a mock), each in a database of its own, so they can run in
//! parallel and leave nothing behind. With the `ws` feature, [`ws`] is the WebSocket client the
//! tests, the bench and the load generator share; with `telegram`, [`telegram`] is the fake Bot API
//! the Telegram tests and the fault suite point the real bot at.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;
use std::sync::Once;

pub mod append_lock;
#[cfg(feature = "telegram")]
pub mod telegram;
#[cfg(feature = "ws")]
pub mod ws;

/// The server the tests use; `scripts/test` makes sure it runs.
pub fn base_database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/chat".to_owned())
}

/// Every test database's name starts with this, so `scripts/test` can sweep leftovers of killed runs.
pub const TEST_DATABASE_PREFIX: &str = "chat_test_";

/// A freshly created and migrated database, dropped when this value is dropped.
pub struct TestDb {
    pub pool: PgPool,
    pub url: String,
    name: String,
    admin: PgConnectOptions,
}

impl TestDb {
    pub async fn create() -> anyhow::Result<Self> {
        init_tracing();
        let base = base_database_url();
        let name = format!("{TEST_DATABASE_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let admin = PgConnectOptions::from_str(&base)?.database("postgres");
        let mut conn = admin.connect().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await?;
        let url = with_database(&base, &name);
        let pool = eventstore::connect(&url, 20, std::time::Duration::from_secs(5)).await?;
        eventstore::migrate(&pool).await?;
        Ok(Self {
            pool,
            url,
            name,
            admin,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        cleanup(async move {
            if let Ok(mut conn) = admin.connect().await {
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// Runs async cleanup from a `Drop`, which runs outside async context: a small runtime of its own,
/// on a thread of its own, waited for.
pub fn cleanup(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let thread = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(work);
        }
    });
    let _ = thread.join();
}

/// A loopback port nothing listens on right now, for a server a test or tool starts itself.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The NATS server the tests use; `scripts/test` makes sure it runs.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Deletes a test's JetStream stream (from a `Drop`), so test runs leave no streams behind.
pub fn delete_stream(name: &str) {
    let name = name.to_owned();
    cleanup(async move {
        if let Ok(client) = async_nats::connect(nats_url()).await {
            let _ = async_nats::jetstream::new(client)
                .delete_stream(&name)
                .await;
        }
    });
}

/// `base` with its database name replaced by `name`.
pub fn with_database(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (base, None),
    };
    let authority_start = without_query.find("://").map_or(0, |i| i + 3);
    let root = match without_query[authority_start..].find('/') {
        Some(slash) => &without_query[..authority_start + slash],
        None => without_query,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

/// Test logs go to the test harness's captured output; `RUST_LOG` selects what.
pub fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/chat", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@db/chat?sslmode=disable", "t1"),
            "postgres://u:p@db/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db", "t1"), "postgres://db/t1");
    }
}
