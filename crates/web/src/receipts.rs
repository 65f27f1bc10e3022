//! Who has read a message, for the "Seen by" line under one's own latest message in a group:
//! the names behind the count the page keeps, from the read model's read marks.

use crate::render::{self, Visitor};
use crate::views::ReadersFragment;
use axum::extract::{Path, State};
use axum::response::Response;
use http_api::error::ApiError;
use http_api::ids::{conversation_id, message_id as parse_message_id};
use http_api::visible::message_for_member;
use http_api::ApiState;
use projections::history::receipts;

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
        let (_, row) = message_for_member(&state, id, me, message_id).await?;
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
