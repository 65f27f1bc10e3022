//! One stored message as a member may see it: the API's and the page's routes about a single
//! message (its readers, its fragment) answer "not found" alike for an outsider and for a message
//! from before the member joined.

use crate::error::ApiError;
use crate::routes::conversations::caught_up;
use crate::state::ApiState;
use app::Membership;
use domain::{ConversationId, UserId};
use projections::history::queries::{self, MessageRow};
use uuid::Uuid;

/// The message `message_id` of conversation `id`, with `me`'s membership, once the history read
/// model holds what was committed (bounded wait); 404 when `me` is not a member or the message
/// is not theirs to see.
pub async fn message_for_member(
    state: &ApiState,
    id: ConversationId,
    me: UserId,
    message_id: Uuid,
) -> Result<(Membership, MessageRow), ApiError> {
    let membership = state.conversations.for_member(id, me).await?;
    let after = membership.roster().joined_after(me).unwrap_or(0);
    caught_up(state).await?;
    let row = queries::message(&state.pool, message_id)
        .await?
        .filter(|m| m.conversation_id == id.as_uuid() && m.seq > after)
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok((membership, row))
}
