//! Ended sessions, announced where sessions live: the API publishes on Redis when it revokes a
//! session (logout, "end this session", "log out everywhere else"), and every gateway sharing that
//! Redis closes the session's sockets at once instead of at its next ping.
//!
//! Pub/sub delivers only to who listens at that moment: a listener that (re)subscribes is told so
//! ([`Heard::Subscribed`]) and must check its sockets' sessions itself, since any could have ended
//! meanwhile (an emptied or restarted Redis ends them all).

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
