//! While Redis is down, a request's commands fail fast: each waits for the reconnect attempt in
//! progress, so a slow reconnect is paid by every command of the request.

use kv::Kv;
use std::time::{Duration, Instant};

#[tokio::test]
async fn while_redis_is_down_a_requests_commands_fail_within_a_few_hundred_milliseconds(
) -> anyhow::Result<()> {
    // Nothing listens on port 1: every connection attempt is refused, as while Redis restarts.
    let kv = Kv::new(redis::Client::open("redis://127.0.0.1:1/")?, "unreachable:");
    let started = Instant::now();
    // A request looks up its session, then counts against its rate limit: two commands, each
    // making the connection again.
    for _ in 0..2 {
        let outcome: redis::RedisResult<Option<String>> = async {
            let mut conn = kv.conn().await?;
            redis::cmd("GET").arg("k").query_async(&mut conn).await
        }
        .await;
        anyhow::ensure!(outcome.is_err(), "a command succeeded without Redis");
    }
    let took = started.elapsed();
    anyhow::ensure!(
        took < Duration::from_millis(500),
        "two commands took {took:?} to fail while Redis was down"
    );
    Ok(())
}
