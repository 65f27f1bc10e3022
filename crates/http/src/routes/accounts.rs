//! Registration, login and logout.

use crate::auth::Authenticated;
use crate::dto::{UserDto, UserEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::json::{required, ApiJson};
use crate::limits::within;
use crate::login::{log_in, log_out};
use crate::state::ApiState;
use app::Password;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use domain::{DisplayName, Username};
use kv::Limit;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3-32 characters of a-z, 0-9 and _; case-insensitive.
    #[schema(required = true, nullable = false, example = "alice")]
    pub username: Option<String>,
    /// 8-128 characters, any Unicode.
    #[schema(required = true, nullable = false, example = "correct horse battery")]
    pub password: Option<String>,
    /// Shown to others; defaults to the username.
    #[schema(example = "Alice")]
    pub display_name: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/auth/register", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = UserEnvelope),
        (status = 409, description = "Username taken (code username_taken)", body = ErrorBody),
        (status = 422, description = "A field is invalid; `field` names it", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address; see Retry-After", body = ErrorBody),
    )
)]
async fn register(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserEnvelope>), ApiError> {
    let username = Username::parse(required(&body.username, "username")?)?;
    let password = Password::parse(required(&body.password, "password")?)?;
    let display_name = body
        .display_name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()?;
    // Each registration costs an argon2 hash: limited per client address.
    let address = crate::client::client_ip(peer.ip(), &headers, &state.settings.trusted_proxies);
    within(&state.rate, Limit::Register, address).await?;
    let profile = state
        .accounts
        .register(username, password, display_name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserEnvelope {
            user: profile.into(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(required = true, nullable = false, example = "alice")]
    pub username: Option<String>,
    #[schema(required = true, nullable = false, example = "correct horse battery")]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// For `Authorization: Bearer`; the same session is also set as an HttpOnly cookie.
    pub token: String,
    pub user: UserDto,
    /// When the session ends at the latest (it also ends after a period of inactivity).
    pub expires_at: String,
}

#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; sets the `session` cookie", body = LoginResponse),
        (status = 401, description = "Wrong username or password (code invalid_credentials)", body = ErrorBody),
        (status = 429, description = "Too many failures; see Retry-After", body = ErrorBody),
    )
)]
async fn login(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    cookies: Cookies,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let username = required(&body.username, "username")?;
    let password = required(&body.password, "password")?;
    let login = log_in(&state, peer, &headers, &cookies, username, password).await?;
    Ok(Json(LoginResponse {
        token: login.token,
        user: login.profile.into(),
        expires_at: login.expires_at,
    }))
}

#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "accounts",
    responses(
        (status = 204, description = "The session (cookie or token) no longer works"),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn logout(
    State(state): State<ApiState>,
    auth: Authenticated,
    cookies: Cookies,
) -> Result<StatusCode, ApiError> {
    log_out(&state, &auth, &cookies).await?;
    Ok(StatusCode::NO_CONTENT)
}
