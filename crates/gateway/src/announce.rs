//! Ephemeral frames to a user's peers: presence changes and typing.
//!
//! Each announcement is one core NATS publish for up to `bus::EPHEMERAL_RECIPIENTS_PER_PUBLISH`
//! recipients (their ids in a header), whatever the group's size; every gateway reads the header
//! and hands the frame to the sockets it holds of those people.

use crate::Gateway;
use domain::UserId;
use wire::ServerFrame;

/// The people who hear about `user`'s presence: pairs' peers and the other members of groups of
/// at most `presence_max_group_members`.
pub(crate) async fn peers(gateway: &Gateway, user: UserId) -> Vec<UserId> {
    let max = gateway.deps().settings.presence_max_group_members as i64;
    match projections::history::queries::peers_of(gateway.deps().store.pool(), user, max).await {
        Ok(peers) => peers,
        Err(error) => {
            tracing::warn!(%error, "cannot look up peers for presence");
            vec![]
        }
    }
}

pub(crate) async fn publish(gateway: &Gateway, to: &[UserId], frame: &ServerFrame) {
    if to.is_empty() {
        return;
    }
    if let Err(error) = gateway
        .deps()
        .bus
        .publish_ephemeral(to, frame.to_json())
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
    publish(gateway, &peers(gateway, user).await, &frame).await;
}
