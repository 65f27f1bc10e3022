//! Ended sessions, announced where sessions live: the API publishes on Redis when it revokes a
//! session (logout, "end this session", "log out everywhere else"), and every gateway sharing that
//! Redis closes the session's sockets at once instead of at its next ping.
//!
//! Pub/sub delivers only to who listens at that moment: a listener that (re)subscribes is told so
//! ([`Heard::Subscribed`]) and must check its sockets' sessions itself, since any could have ended
//! meanwhile (an emptied or restarted Redis ends them all). Redis can also be emptied under a live
//! connection (FLUSHALL): [`watch_emptied`] notices that within a second.

use crate::Kv;
use domain::UserId;
use futures_util::StreamExt;
use redis::AsyncCommands;
use std::time::Duration;

fn channel(kv: &Kv) -> String {
    kv.key(format_args!("session-ended"))
}

/// Tells every gateway that `session_id` of `user` ended.
pub async fn announce(kv: &Kv, user: UserId, session_id: &str) -> redis::RedisResult<()> {
    let mut conn = kv.conn().await?;
    let _: i64 = conn
        .publish(channel(kv), format!("{user} {session_id}"))
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Listening (again): sessions may have ended unannounced before this.
    Subscribed,
    Ended {
        user: UserId,
        session_id: String,
    },
}

/// Listens for ended sessions until the future is dropped, resubscribing after a lost connection.
pub async fn listen(kv: &Kv, mut on: impl FnMut(Heard)) {
    loop {
        if let Err(error) = subscribe(kv, &mut on).await {
            tracing::warn!(%error, "cannot listen for ended sessions; retrying");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn subscribe(kv: &Kv, on: &mut impl FnMut(Heard)) -> redis::RedisResult<()> {
    let mut pubsub = kv.client().get_async_pubsub().await?;
    pubsub.subscribe(channel(kv)).await?;
    on(Heard::Subscribed);
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let Ok(payload) = message.get_payload::<String>() else {
            continue;
        };
        if let Some(heard) = parse(&payload) {
            on(heard);
        }
    }
    Ok(())
}

/// How often a gateway looks whether Redis lost its data while the connection stayed up.
pub const EMPTIED_CHECK_EVERY: Duration = Duration::from_secs(1);

fn marker(kv: &Kv) -> String {
    kv.key(format_args!("data-marker"))
}

/// Calls `on` whenever Redis has lost its data (FLUSHALL, or a restart without persistence that
/// the connection manager reconnected through without a pub/sub resubscribe being noticed):
/// every session then ended unannounced. A marker key that nothing else writes tells: gone, or
/// replaced by another gateway that saw it gone first.
pub async fn watch_emptied(kv: &Kv, every: Duration, mut on: impl FnMut()) {
    let mut seen: Option<String> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match current_marker(kv).await {
            Ok(now) => {
                if seen.as_ref().is_some_and(|before| *before != now) {
                    on();
                }
                seen = Some(now);
            }
            Err(error) => tracing::debug!(%error, "cannot read the data marker"),
        }
    }
}

/// The marker's value, set first if it is missing.
async fn current_marker(kv: &Kv) -> redis::RedisResult<String> {
    let mut conn = kv.conn().await?;
    let key = marker(kv);
    if let Some(value) = conn.get::<_, Option<String>>(&key).await? {
        return Ok(value);
    }
    let mut fresh = [0u8; 16];
    getrandom::fill(&mut fresh)
        .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
    // NX: when several gateways see it missing at once, one value wins and all read it.
    let _: Option<String> = redis::cmd("SET")
        .arg(&key)
        .arg(hex::encode(fresh))
        .arg("NX")
        .query_async(&mut conn)
        .await?;
    conn.get(&key).await
}

fn parse(payload: &str) -> Option<Heard> {
    let (user, session_id) = payload.split_once(' ')?;
    let user = uuid::Uuid::parse_str(user).ok()?;
    Some(Heard::Ended {
        user: UserId::from_uuid(user),
        session_id: session_id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_names_the_user_and_the_session() {
        let user = UserId::new();
        assert_eq!(
            parse(&format!("{user} abc123")),
            Some(Heard::Ended {
                user,
                session_id: "abc123".into()
            })
        );
        assert_eq!(parse("not-a-user abc"), None);
        assert_eq!(parse("garbage"), None);
    }
}
