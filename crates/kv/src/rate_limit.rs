//! Rate limits shared by every replica: GCRA (the generic cell rate algorithm) in Redis.
//!
//! GCRA keeps one timestamp per subject, the "theoretical arrival time": a request is allowed when
//! it does not push that time further than the burst ahead of now. It is a token bucket without a
//! refill loop (the form used by redis-cell and go-redis's redis_rate, whose script this follows),
//! exact across replicas because the check and the update are one Lua script in Redis, timed by
//! Redis's own clock.

use crate::Kv;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// `count` requests per `period`, with bursts of up to `count` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub const fn new(count: u32, period: Duration) -> Self {
        Self { count, period }
    }

    /// `N/s`, `N/min` or `N/hour`, e.g. `30/min`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (count, unit) = raw.trim().split_once('/')?;
        let count: u32 = count.trim().parse().ok().filter(|c| *c > 0)?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3_600),
            "day" => Duration::from_secs(86_400),
            _ => return None,
        };
        Some(Self { count, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.count, self.period.as_secs_f64())
    }
}

/// What is limited, each with its own rate and key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Registrations per client address (each costs an argon2 hash).
    Register,
    /// Messages per user (REST, web page and WebSocket alike).
    Send,
    /// Conversations started per user.
    Start,
    /// Profile look-ups per user.
    Lookup,
    /// User directory searches per user (suggestions as one types a name).
    Search,
    /// Telegram link requests per user.
    Link,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Send => "send",
            Self::Start => "start",
            Self::Lookup => "lookup",
            Self::Search => "search",
            Self::Link => "link",
        }
    }
}

/// The rate of every limit; generous for people, tight for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub register: Rate,
    pub send: Rate,
    pub start: Rate,
    pub lookup: Rate,
    pub search: Rate,
    pub link: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            // A school or an office behind one address still registers its people.
            register: Rate::new(20, Duration::from_secs(3_600)),
            send: Rate::new(20, Duration::from_secs(1)),
            start: Rate::new(30, Duration::from_secs(60)),
            lookup: Rate::new(60, Duration::from_secs(60)),
            // Asked as one types (debounced): a few a second in bursts, not thousands a minute.
            search: Rate::new(120, Duration::from_secs(60)),
            link: Rate::new(10, Duration::from_secs(60)),
        }
    }
}

impl RateLimits {
    fn rate(&self, limit: Limit) -> Rate {
        match limit {
            Limit::Register => self.register,
            Limit::Send => self.send,
            Limit::Start => self.start,
            Limit::Lookup => self.lookup,
            Limit::Search => self.search,
            Limit::Link => self.link,
        }
    }
}

/// Returns `{allowed (0/1), retry_after_ms}`. KEYS[1]: the subject's key; ARGV: the emission
/// interval and the burst tolerance, in microseconds.
const GCRA: &str = r"
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, math.ceil((allow_at - now) / 1000)}
end
redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
";

#[derive(Clone)]
pub struct RateLimiter {
    kv: Kv,
    /// `None` when limits are off (`RATE_LIMITS=off`, for load tests).
    limits: Option<RateLimits>,
    script: Arc<redis::Script>,
}

impl RateLimiter {
    pub fn new(kv: Kv, limits: Option<RateLimits>) -> Self {
        Self {
            kv,
            limits,
            script: Arc::new(redis::Script::new(GCRA)),
        }
    }

    /// `None` when `subject` may go on; otherwise how long until it may. A Redis failure lets the
    /// request through (logged): a limit must not turn into an outage.
    pub async fn check(&self, limit: Limit, subject: impl fmt::Display) -> Option<Duration> {
        let limits = self.limits?;
        let rate = limits.rate(limit);
        let interval = rate.period.as_micros() as u64 / u64::from(rate.count.max(1));
        let tolerance = interval * u64::from(rate.count);
        let key = self.kv.key(format_args!("rate:{}:{subject}", limit.name()));
        let verdict: redis::RedisResult<(u8, u64)> = async {
            let mut conn = self.kv.conn().await?;
            self.script
                .key(key)
                .arg(interval)
                .arg(tolerance)
                .invoke_async(&mut conn)
                .await
        }
        .await;
        match verdict {
            Ok((1, _)) => None,
            Ok((_, retry_after_ms)) => Some(Duration::from_millis(retry_after_ms.max(1))),
            Err(error) => {
                tracing::warn!(%error, limit = limit.name(), "rate limit unavailable; allowing");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_written_as_count_per_unit() {
        let cases = [
            ("30/min", Some(Rate::new(30, Duration::from_secs(60)))),
            ("20/s", Some(Rate::new(20, Duration::from_secs(1)))),
            (" 5 / hour ", Some(Rate::new(5, Duration::from_secs(3_600)))),
            ("0/s", None),
            ("ten/s", None),
            ("10/fortnight", None),
            ("10", None),
        ];
        for (raw, rate) in cases {
            assert_eq!(Rate::parse(raw), rate, "{raw}");
        }
    }
}
