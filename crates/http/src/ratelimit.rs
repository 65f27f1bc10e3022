//! Login throttling, as the OWASP Authentication Cheat Sheet advises: slow guessing down without
//! handing strangers a way to lock someone out.
//!
//! Failures are counted in Redis over a fixed window that starts at the first one, three ways:
//! - per (username, client address): over the limit, that address gets 429 for that username;
//! - per client address: over the limit, that address gets 429 for every username;
//! - per username, from anywhere: never refused, but each attempt past the threshold waits a
//!   little longer (doubling, capped), so a botnet's guesses slow to a crawl while the owner, who
//!   types the right password once, waits a few seconds at worst and gets in.
//!
//! Attempts are counted before the password is checked, atomically, so a thousand parallel guesses
//! cannot all pass a check made before any of them failed; a success takes its attempt back.

use kv::Kv;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub per_username_and_address: u32,
    pub per_address: u32,
    /// Failures of a username (from anywhere) after which its logins are slowed.
    pub username_slowdown_after: u32,
    /// The longest an attempt is slowed.
    pub max_delay: Duration,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_username_and_address: 5,
            per_address: 20,
            username_slowdown_after: 5,
            max_delay: Duration::from_secs(8),
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// What a login attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Check the password, after waiting this long.
    Proceed { delay: Duration },
    /// Refused: try again in this many seconds.
    Refused { retry_after_secs: u64 },
}

impl LoginLimits {
    /// The slowdown of a username with `failures` so far: 250 ms at the threshold, doubling.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures <= self.username_slowdown_after {
            return Duration::ZERO;
        }
        let doublings = (failures - self.username_slowdown_after - 1).min(16);
        (Duration::from_millis(250) * 2u32.pow(doublings)).min(self.max_delay)
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

    /// Counts this attempt and says whether it may go on.
    pub async fn begin_attempt(
        &self,
        username: &str,
        address: &str,
    ) -> Result<Attempt, redis::RedisError> {
        let mut conn = self.kv.conn().await?;
        let keys = self.keys(username, address);
        let window = self.limits.window.as_secs().max(1);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in &keys {
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
        let (pair, pair_ttl, addr, addr_ttl, user, _): (u32, i64, u32, i64, u32, i64) =
            pipe.query_async(&mut conn).await?;
        let mut wait = None;
        for (count, limit, ttl) in [
            (pair, self.limits.per_username_and_address, pair_ttl),
            (addr, self.limits.per_address, addr_ttl),
        ] {
            if count > limit {
                let secs = ttl.max(1) as u64;
                wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
            }
        }
        Ok(match wait {
            Some(retry_after_secs) => {
                // A refused attempt checks no password: it is not counted. Otherwise retries
                // against the limit would keep it exceeded after the attempts in flight (counted
                // until their outcome is known) succeed and are taken back: many people behind
                // one address logging in at once (after Redis lost the sessions, say) would lock
                // that address out for the whole window.
                take_back(&mut conn, &keys).await?;
                Attempt::Refused { retry_after_secs }
            }
            // This attempt is counted in `user`; the delay is for the failures before it.
            None => Attempt::Proceed {
                delay: self.limits.delay(user.saturating_sub(1)),
            },
        })
    }

    /// A successful login was not a failure: the username's counts are cleared and the address's
    /// attempt taken back.
    pub async fn record_success(
        &self,
        username: &str,
        address: &str,
    ) -> Result<(), redis::RedisError> {
        let mut conn = self.kv.conn().await?;
        let [pair_key, addr_key, user_key] = self.keys(username, address);
        redis::pipe()
            .del(pair_key)
            .del(user_key)
            .exec_async(&mut conn)
            .await?;
        take_back(&mut conn, &[addr_key]).await
    }

    /// An attempt that could not be decided (the database or the session store did not answer)
    /// was no failure: its counts are taken back, so an outage does not lock an address out.
    pub async fn take_back(&self, username: &str, address: &str) -> Result<(), redis::RedisError> {
        let mut conn = self.kv.conn().await?;
        take_back(&mut conn, &self.keys(username, address)).await
    }

    fn keys(&self, username: &str, address: &str) -> [String; 3] {
        // Bounded, so arbitrary input cannot make arbitrarily long keys.
        let username: String = username.trim().to_lowercase().chars().take(64).collect();
        [
            self.kv
                .key(format_args!("login-failures:pair:{username}:{address}")),
            self.kv.key(format_args!("login-failures:addr:{address}")),
            self.kv.key(format_args!("login-failures:user:{username}")),
        ]
    }
}

/// Takes one back from each counter that still exists: one whose window ended meanwhile must not
/// come back without an expiry, as a plain `DECR` would make it (at -1, forever).
const TAKE_BACK: &str = "for _, key in ipairs(KEYS) do
    if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
return 0";

async fn take_back(
    conn: &mut redis::aio::ConnectionManager,
    keys: &[String],
) -> Result<(), redis::RedisError> {
    let script = redis::Script::new(TAKE_BACK);
    let mut invocation = script.prepare_invoke();
    for key in keys {
        invocation.key(key);
    }
    let _: i64 = invocation.invoke_async(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_under_attack_is_slowed_never_refused() {
        let limits = LoginLimits::default();
        let cases = [
            (0, 0),
            (5, 0),
            (6, 250),
            (7, 500),
            (8, 1_000),
            (10, 4_000),
            (11, 8_000),
            (1_000_000, 8_000),
        ];
        for (failures, millis) in cases {
            assert_eq!(
                limits.delay(failures),
                Duration::from_millis(millis),
                "after {failures} failures"
            );
        }
    }
}
