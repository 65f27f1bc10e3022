//! An operator's reset of the presence model, against the real Redis under a prefix of its own.

use domain::UserId;
use kv::{Kv, Presence};
use std::time::Duration;

fn kv(prefix: &str) -> anyhow::Result<Kv> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    Ok(Kv::new(redis::Client::open(url)?, prefix))
}

#[tokio::test]
async fn reset_takes_everyone_offline_and_leaves_other_prefixes_alone() -> anyhow::Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let presence = Presence::new(kv(&format!("test:{run}:a:"))?, Duration::from_secs(60));
    let neighbour = Presence::new(kv(&format!("test:{run}:b:"))?, Duration::from_secs(60));
    let (ann, ben) = (UserId::new(), UserId::new());
    presence.connect(ann, "socket-1").await?;
    presence.connect(ben, "socket-2").await?;
    neighbour.connect(ann, "socket-3").await?;

    let deleted = presence.reset().await?;

    assert!(
        deleted >= 3,
        "two users' sockets and the online set: {deleted}"
    );
    assert!(!presence.status(ann).await?.online);
    assert!(!presence.status(ben).await?.online);
    assert!(
        presence.status(ann).await?.last_seen.is_some(),
        "last seen is kept"
    );
    assert!(
        neighbour.status(ann).await?.online,
        "another prefix is untouched"
    );
    // A heartbeat brings a still-open socket back.
    presence
        .heartbeat(&[(ann, "socket-1".into(), true)])
        .await?;
    assert!(presence.status(ann).await?.online);
    neighbour.reset().await?;
    presence.reset().await?;
    Ok(())
}
