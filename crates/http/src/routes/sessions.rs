//! Listing and revoking one's sessions ("log out elsewhere").

use crate::auth::Authenticated;
use crate::dto::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::params::ApiPath;
use crate::session::Session;
use crate::state::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions, revoke_other_sessions))
        .routes(routes!(revoke_session))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    /// Not the token: a hash of it, safe to show.
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

impl SessionDto {
    pub fn new(session: &Session, current_id: &str) -> Self {
        Self {
            id: session.id.clone(),
            created_at: rfc3339(session.created_at),
            last_seen_at: rfc3339(session.last_seen_at),
            user_agent: session.user_agent.clone(),
            ip: session.ip.clone(),
            current: session.id == current_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// How many sessions ended.
    pub revoked: usize,
}

#[utoipa::path(
    get, path = "/api/v1/sessions", tag = "sessions",
    responses(
        (status = 200, description = "The caller's live sessions, newest first", body = SessionList),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn list_sessions(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Json<SessionList>, ApiError> {
    let sessions = state
        .sessions
        .list(auth.session.user_id)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    Ok(Json(SessionList {
        sessions: sessions
            .iter()
            .map(|s| SessionDto::new(s, &auth.session.id))
            .collect(),
    }))
}

#[utoipa::path(
    delete, path = "/api/v1/sessions", tag = "sessions",
    responses(
        (status = 200, description = "Every other session ended", body = Revoked),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn revoke_other_sessions(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Json<Revoked>, ApiError> {
    let revoked = state
        .sessions
        .revoke_others(auth.session.user_id, &auth.session.id)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    Ok(Json(Revoked { revoked }))
}

#[utoipa::path(
    delete, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "A session id from the list")),
    responses(
        (status = 204, description = "The session ended"),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 404, description = "The caller has no such session", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn revoke_session(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let owned = state
        .sessions
        .list(auth.session.user_id)
        .await
        .map_err(|e| ApiError::unavailable(&e))?
        .iter()
        .any(|s| s.id == id);
    if !owned {
        return Err(ApiError::not_found("session"));
    }
    state
        .sessions
        .revoke(auth.session.user_id, &id)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    Ok(StatusCode::NO_CONTENT)
}
