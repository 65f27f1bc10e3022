//! Login throttling: attempts are counted per username and per client address in Redis, over a
//! fixed window that starts at the first attempt; a successful login takes its attempt back, so in
//! effect failures are what counts.
//!
//! A user who types the right password is never slowed down by an attacker guessing from
//! elsewhere, until the attacker exhausts that username's budget.

use kv::Kv;
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
    /// Counts an attempt *before* the password is checked, atomically, so a thousand parallel
    /// guesses cannot all pass a check made before any of them failed. `Some(seconds to wait)` when
    /// this username or address is over its limit.
    pub async fn begin_attempt(
        &self,
        username: &str,
        address: &str,
    ) -> Result<Option<u64>, redis::RedisError> {
        let mut conn = self.kv.conn().await?;
        let (user_key, addr_key) = self.keys(username, address);
        let window = self.limits.window.as_secs().max(1);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in [&user_key, &addr_key] {
            // Starts the window at the first attempt; later ones do not extend it.
            pipe.cmd("SET")
                .arg(key)
                .arg(0)
                .arg("EX")
                .arg(window)
                .arg("NX")
                .ignore()
                .incr(key, 1)
                .ttl(key);
        }
        let (user, user_ttl, addr, addr_ttl): (u32, i64, u32, i64) =
            pipe.query_async(&mut conn).await?;
        let mut wait = None;
        for (count, limit, ttl) in [
            (user, self.limits.per_username, user_ttl),
            (addr, self.limits.per_address, addr_ttl),
        ] {
            if count > limit {
                let secs = ttl.max(1) as u64;
                wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
            }
        }
        Ok(wait)
    }

    /// A successful login was not a failure: the username's count is cleared and the address's
    /// attempt taken back.
    pub async fn record_success(
        &self,
        username: &str,
        address: &str,
    ) -> Result<(), redis::RedisError> {
        let mut conn = self.kv.conn().await?;
        let (user_key, addr_key) = self.keys(username, address);
        redis::pipe()
            .del(user_key)
            .decr(addr_key, 1)
            .exec_async(&mut conn)
            .await
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
