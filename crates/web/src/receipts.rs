//! Who has read a message, for the "Seen by" line under one's own latest message in a group:
//! the names behind the count the page keeps, from the read model's read marks.

use crate::chat::WAIT;
use crate::render::{self, Visitor};
use crate::views::ReadersFragment;
use axum::extract::{Path, State};
use axum::response::Response;
use http_api::error::ApiError;
use http_api::ids::{conversation_id, message_id as parse_message_id};
use http_api::ApiState;
use projections::history::{queries, receipts};

/// Who has read a message, for the "Seen by" line of one's own messages.
pub async fn readers(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Path((id, message_id)): Path<(String, String)>,
) -> Response {
    let outcome = async {
        let id = conversation_id(&id)?;
        let message_id = parse_message_id(&message_id)?;
        let me = auth.session.user_id;
        let membership = state.conversations.for_member(id, me).await?;
        let after = membership.roster().joined_after(me).unwrap_or(0);
        state
            .history
            .catch_up(WAIT)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        let row = queries::message(&state.pool, message_id)
            .await?
            .filter(|m| m.conversation_id == id.as_uuid() && m.seq > after)
            .ok_or_else(|| ApiError::not_found("message"))?;
        let marks = receipts::read_marks(&state.pool, id.as_uuid()).await?;
        Ok::<_, ApiError>(ReadersFragment {
            names: receipts::readers(&marks, row.seq, row.sender_id)
                .into_iter()
                .map(|m| m.display_name)
                .collect(),
        })
    }
    .await;
    match outcome {
        Ok(fragment) => render::ok(&fragment),
        Err(error) => render::error(error),
    }
}
