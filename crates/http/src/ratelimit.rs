//! Login throttling: failures are counted per username and per client address in Redis, over a
//! fixed window that starts at the first failure.
//!
//! Counting only failures means a user who types the right password is never slowed down by an
//! attacker guessing from elsewhere, until the attacker exhausts that username's budget.

use kv::Kv;
use redis::AsyncCommands;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub per_username: u32,
    pub per_address: u32,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_username: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Clone)]
pub struct LoginLimiter {
    kv: Kv,
    limits: LoginLimits,
}

impl LoginLimiter {
    pub fn new(kv: Kv, limits: LoginLimits) -> Self {
        Self { kv, limits }
    }

    /// `Some(seconds to wait)` when this username or address has failed too often.
    pub async fn blocked_for(
        &self,
        username: &str,
        address: &str,
    ) -> Result<Option<u64>, redis::RedisError> {
        let mut conn = self.kv.conn().await?;
        let (user_key, addr_key) = self.keys(username, address);
        let (user, addr): (Option<u32>, Option<u32>) = redis::pipe()
            .get(&user_key)
            .get(&addr_key)
            .query_async(&mut conn)
            .await?;
        let mut wait = None;
        for (key, count, limit) in [
            (&user_key, user, self.limits.per_username),
            (&addr_key, addr, self.limits.per_address),
        ] {
            if count.unwrap_or(0) >= limit {
                let ttl: i64 = conn.ttl(key).await?;
                let secs = ttl.max(1) as u64;
                wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
            }
        }
        Ok(wait)
    }

    pub async fn record_failure(
        &self,
        username: &str,
        address: &str,
    ) -> Result<(), redis::RedisError> {
        let mut conn = self.kv.conn().await?;
        let (user_key, addr_key) = self.keys(username, address);
        let window = self.limits.window.as_secs().max(1);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in [&user_key, &addr_key] {
            // Starts the window at the first failure; later failures do not extend it.
            pipe.cmd("SET")
                .arg(key)
                .arg(0)
                .arg("EX")
                .arg(window)
                .arg("NX")
                .ignore()
                .incr(key, 1)
                .ignore();
        }
        pipe.exec_async(&mut conn).await
    }

    /// A successful login clears the username's failures (not the address's).
    pub async fn record_success(&self, username: &str) -> Result<(), redis::RedisError> {
        let mut conn = self.kv.conn().await?;
        let (user_key, _) = self.keys(username, "");
        conn.del(user_key).await
    }

    fn keys(&self, username: &str, address: &str) -> (String, String) {
        // Bounded, so arbitrary input cannot make arbitrarily long keys.
        let username: String = username.trim().to_lowercase().chars().take(64).collect();
        (
            self.kv.key(format_args!("login-failures:user:{username}")),
            self.kv.key(format_args!("login-failures:addr:{address}")),
        )
    }
}
