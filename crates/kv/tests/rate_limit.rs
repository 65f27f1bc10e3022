//! GCRA limits against the real Redis, each test under a key prefix of its own.

use kv::{Kv, Limit, Rate, RateLimiter, RateLimits};
use std::time::Duration;

fn kv() -> anyhow::Result<Kv> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    Ok(Kv::new(redis::Client::open(url)?, &prefix))
}

fn limits(send: Rate) -> RateLimits {
    RateLimits {
        send,
        ..RateLimits::default()
    }
}

#[tokio::test]
async fn a_burst_passes_then_the_rate_holds_per_subject() -> anyhow::Result<()> {
    let limiter = RateLimiter::new(kv()?, Some(limits(Rate::new(5, Duration::from_secs(1)))));
    for n in 1..=5 {
        assert_eq!(limiter.check(Limit::Send, "ann").await, None, "request {n}");
    }
    let wait = limiter.check(Limit::Send, "ann").await;
    let wait = wait.ok_or_else(|| anyhow::anyhow!("the sixth at once passed"))?;
    assert!(
        wait <= Duration::from_millis(200),
        "one interval at most: {wait:?}"
    );
    // Another subject, and another limit of the same subject, have budgets of their own.
    assert_eq!(limiter.check(Limit::Send, "ben").await, None);
    assert_eq!(limiter.check(Limit::Lookup, "ann").await, None);
    // After the interval, one more.
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    assert_eq!(limiter.check(Limit::Send, "ann").await, None);
    assert!(limiter.check(Limit::Send, "ann").await.is_some());
    Ok(())
}

#[tokio::test]
async fn limits_switched_off_let_everything_through() -> anyhow::Result<()> {
    let limiter = RateLimiter::new(kv()?, None);
    for _ in 0..100 {
        assert_eq!(limiter.check(Limit::Register, "10.0.0.1").await, None);
    }
    Ok(())
}
