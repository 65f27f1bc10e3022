//! A client's backlog on resume: every durable event for it after its cursor, from Postgres.
//!
//! The socket registers with the hub (live frames start queueing) before the backlog's upper bound,
//! the store's head, is read. Events up to the head come from here; later ones are in the queue,
//! which the writer drains skipping cursors it already sent. No event falls between the two.
//!
//! The streams replayed are the user's conversations as of the head, and the groups they left
//! after the cursor: a socket that was offline during its removal still gets the `MemberRemoved`
//! entry (and nothing after it), so the client learns it left.

use crate::Gateway;
use domain::{ConversationId, UserId};
use std::time::Duration;

/// Events read per round trip while replaying.
const PAGE: i64 = 500;

/// A backlog being replayed, a page at a time.
pub(crate) struct Replay {
    user: UserId,
    /// Names each event's recipients as the publisher did: a group's event only goes to the
    /// user if they were a member at its position.
    renderer: bus::Renderer,
    streams: Vec<String>,
    from: i64,
    /// The store's head when the replay started: its upper bound.
    pub head: i64,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

impl Replay {
    /// Fixes the upper bound (the head) and the user's conversations as of that head.
    pub(crate) async fn start(
        gateway: &Gateway,
        user: UserId,
        after: i64,
    ) -> Result<Self, Failure> {
        let deps = gateway.deps();
        let head = deps.store.head_position().await?;
        // The conversation list must include every conversation started up to the head.
        if !deps.history.wait_for(head, Duration::from_secs(5)).await {
            tracing::warn!(
                head,
                "history lags; a resume may miss conversations started just now"
            );
        }
        let pool = deps.store.pool();
        let mut conversations = projections::history::queries::conversations_of(pool, user).await?;
        // Groups left since the cursor: their events up to the removal are still the user's
        // (the renderer names them until their `MemberRemoved`, and not after).
        conversations
            .extend(projections::history::queries::departed_since(pool, user, after).await?);
        Ok(Self {
            user,
            renderer: bus::Renderer::new(deps.store.clone()),
            streams: conversations
                .iter()
                .map(ConversationId::stream_id)
                .collect(),
            from: after,
            head,
        })
    }

    /// The next page of frames for the user, oldest first; `None` when the head is reached.
    pub(crate) async fn next_page(
        &mut self,
        gateway: &Gateway,
    ) -> Result<Option<Vec<String>>, Failure> {
        let events = gateway
            .deps()
            .store
            .read_streams_between(&self.streams, self.from, self.head, PAGE)
            .await?;
        let Some(last) = events.last() else {
            return Ok(None);
        };
        self.from = last.position;
        let mut frames = Vec::new();
        for event in &events {
            // A page is hundreds of events to decode and encode: let timers and other tasks run.
            tokio::task::consume_budget().await;
            if let Some(frame) = self.renderer.render(event).await? {
                if frame.to.contains(&self.user) {
                    frames.push(frame.json);
                }
            }
        }
        Ok(Some(frames))
    }
}
