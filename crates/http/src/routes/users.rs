//! The caller's own account and other people's public profiles.

use crate::auth::Authenticated;
use crate::dto::{rfc3339, UserDto};
use crate::error::{ApiError, ErrorBody};
use crate::limits::within;
use crate::params::ApiPath;
use crate::routes::sessions::SessionDto;
use crate::state::ApiState;
use axum::extract::State;
use axum::Json;
use domain::Username;
use kv::Limit;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(user_profile))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserDto,
    /// The session this request was made with.
    pub session: SessionDto,
    pub telegram: TelegramStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramStatus {
    /// Whether a Telegram chat gets this user's offline notifications.
    pub linked: bool,
    /// Whether this server can link Telegram at all.
    pub available: bool,
}

#[utoipa::path(
    get, path = "/api/v1/me", tag = "accounts",
    responses(
        (status = 200, description = "The logged-in user", body = MeResponse),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn me(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Json<MeResponse>, ApiError> {
    let profile = state.accounts.profile(auth.session.user_id).await?;
    let linked = state
        .accounts
        .telegram_chat(auth.session.user_id)
        .await?
        .is_some();
    Ok(Json(MeResponse {
        user: profile.into(),
        session: SessionDto::new(&auth.session, &auth.session.id),
        telegram: TelegramStatus {
            linked,
            available: state.settings.telegram_bot.username().is_some(),
        },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileDto {
    #[serde(flatten)]
    pub user: UserDto,
    /// Whether at least one of their devices is connected right now.
    pub online: bool,
    /// When they were last connected; `null` if never.
    pub last_seen: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileEnvelope {
    pub user: ProfileDto,
}

#[utoipa::path(
    get, path = "/api/v1/users/{username}", tag = "accounts",
    params(("username" = String, Path, description = "Case-insensitive")),
    responses(
        (status = 200, description = "The public profile, with presence", body = ProfileEnvelope),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 429, description = "Too many look-ups; see Retry-After", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn user_profile(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<ProfileEnvelope>, ApiError> {
    within(&state.rate, Limit::Lookup, auth.session.user_id).await?;
    // A name that cannot exist is simply not found.
    let username = Username::parse(&username).map_err(|_| ApiError::not_found("user"))?;
    let profile = state.accounts.profile_by_username(&username).await?;
    let presence = state
        .presence
        .status(profile.id)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    Ok(Json(ProfileEnvelope {
        user: ProfileDto {
            user: profile.into(),
            online: presence.online,
            last_seen: presence.last_seen.map(rfc3339),
        },
    }))
}
