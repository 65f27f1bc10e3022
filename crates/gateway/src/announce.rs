//! Ephemeral frames to a user's peers: presence changes and typing.

use crate::Gateway;
use domain::UserId;
use wire::ServerFrame;

/// The people who share a conversation with `user`.
pub(crate) async fn peers(gateway: &Gateway, user: UserId) -> Vec<UserId> {
    match projections::history::queries::peers_of(gateway.deps().store.pool(), user).await {
        Ok(peers) => peers,
        Err(error) => {
            tracing::warn!(%error, "cannot look up peers for presence");
            vec![]
        }
    }
}

pub(crate) async fn publish(gateway: &Gateway, to: UserId, frame: &ServerFrame) {
    let bus = &gateway.deps().bus;
    let payload = frame.to_json();
    if let Err(error) = bus
        .client
        .publish(bus.ephemeral_subject(to), payload.into())
        .await
    {
        tracing::warn!(%error, "cannot publish an ephemeral frame");
    }
}

/// Tells `user`'s peers whether `user` is online now (read back from the presence model).
pub(crate) async fn presence(gateway: &Gateway, user: UserId) {
    let status = match gateway.deps().presence.status(user).await {
        Ok(status) => status,
        Err(error) => {
            tracing::warn!(%error, "cannot read presence");
            return;
        }
    };
    let frame = ServerFrame::Presence {
        user_id: user.as_uuid(),
        online: status.online,
        last_seen: status
            .last_seen
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0)),
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    };
    for peer in peers(gateway, user).await {
        publish(gateway, peer, &frame).await;
    }
}
