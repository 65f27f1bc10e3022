//! "Seen by": who has read a message. Computed from the history read model's per-member read
//! marks (`projections::history::receipts`), so it costs no write per message per member; the
//! count is on each group message of a history page (`seen_by`), the names are here.

use crate::auth::Authenticated;
use crate::dto::{Reader, ReaderList, UserDto};
use crate::error::{ApiError, ErrorBody};
use crate::ids::{conversation_id, message_id};
use crate::params::ApiPath;
use crate::state::ApiState;
use axum::extract::State;
use axum::Json;
use projections::history::receipts;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(readers))
}

#[utoipa::path(
    get, path = "/api/v1/conversations/{id}/messages/{message_id}/readers", tag = "messages",
    params(("id" = Uuid, Path), ("message_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The current members other than its sender who have read it, by name (a member removed since is not among them; in a pair, the peer once they read it)", body = ReaderList),
        (status = 404, description = "No such conversation, not a member, or no such message (also one from before the caller joined)", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn readers(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath((id, message)): ApiPath<(String, String)>,
) -> Result<Json<ReaderList>, ApiError> {
    let id = conversation_id(&id)?;
    let message = message_id(&message)?;
    let (_, row) =
        crate::visible::message_for_member(&state, id, auth.session.user_id, message).await?;
    let marks = receipts::read_marks(&state.pool, id.as_uuid()).await?;
    Ok(Json(ReaderList {
        readers: receipts::readers(&marks, row.seq, row.sender_id)
            .into_iter()
            .map(|m| Reader {
                user: UserDto {
                    id: m.user_id,
                    username: m.username,
                    display_name: m.display_name,
                },
            })
            .collect(),
    }))
}
