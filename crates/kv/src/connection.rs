//! The shared Redis connection, made on first use so a process starts while Redis is down.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long a connection attempt or a command may take. Every command here is a small key
/// operation answered in well under a millisecond, so this only ever fires when Redis is gone.
const TIMEOUT: Duration = Duration::from_millis(750);

/// How a lost connection is made again. Every command issued meanwhile waits for the whole
/// attempt, retries and delays included, and a request makes several commands (its session, its
/// rate limit): with the client's default backoff (delays from 100 ms, doubling, with jitter) a
/// request during a Redis restart took over a second to answer 503. One quick retry rides out a
/// blip; after that the command fails, and the next one tries again.
const RECONNECT_RETRIES: usize = 1;
const RECONNECT_DELAY: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub struct Kv {
    /// Shared: every clone of the API's state clones its `Kv`s, and a client's connection info
    /// holds strings (a copy per request showed in profiles).
    client: std::sync::Arc<redis::Client>,
    /// One multiplexed, self-reconnecting connection for the whole process.
    manager: std::sync::Arc<OnceCell<ConnectionManager>>,
    /// Prepended to every key, so several deployments or tests can share one Redis.
    prefix: std::sync::Arc<str>,
}

impl Kv {
    pub fn new(client: redis::Client, prefix: &str) -> Self {
        Self {
            client: std::sync::Arc::new(client),
            manager: std::sync::Arc::new(OnceCell::new()),
            prefix: prefix.into(),
        }
    }

    /// For connections of their own (pub/sub), which the shared one cannot carry.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn key(&self, parts: std::fmt::Arguments<'_>) -> String {
        format!("{}{}", self.prefix, parts)
    }

    /// A handle on the shared connection. A command fails after [`TIMEOUT`] when Redis does not
    /// answer, so a request answers 503 within a second while Redis is down or frozen.
    pub async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        self.manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(RECONNECT_RETRIES)
                    .set_min_delay(RECONNECT_DELAY)
                    .set_max_delay(RECONNECT_DELAY);
                self.client.get_connection_manager_with_config(config).await
            })
            .await
            .cloned()
    }

    /// Deletes every key of this prefix matching `pattern` (a Redis glob, without the prefix), in
    /// `SCAN` pages so Redis is never blocked by one large command. Returns how many.
    pub async fn delete_matching(&self, pattern: &str) -> redis::RedisResult<u64> {
        let mut conn = self.conn().await?;
        let pattern = format!("{}{}", glob_escape(&self.prefix), pattern);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let removed: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await?;
                deleted += removed;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

/// `raw` matched literally by a Redis glob.
fn glob_escape(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
