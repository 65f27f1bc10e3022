//! Registration, login and logout.

use crate::auth::{Authenticated, SESSION_COOKIE};
use crate::dto::{rfc3339, UserDto, UserEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::json::{required, ApiJson};
use crate::state::ApiState;
use app::{AppError, Password, UserProfile};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use domain::{DisplayName, Username};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use tower_cookies::cookie::{time, SameSite};
use tower_cookies::{Cookie, Cookies};
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
    #[schema(required = true, example = "alice")]
    pub username: Option<String>,
    /// 8-128 characters, any Unicode.
    #[schema(required = true, example = "correct horse battery")]
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
    )
)]
async fn register(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserEnvelope>), ApiError> {
    let username = Username::parse(required(&body.username, "username")?)?;
    let password = Password::parse(required(&body.password, "password")?)?;
    let display_name = body
        .display_name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()?;
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
    #[schema(required = true, example = "alice")]
    pub username: Option<String>,
    #[schema(required = true, example = "correct horse battery")]
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

/// A successful login: the session's token (also set as the cookie) and who logged in.
pub struct LoggedIn {
    pub token: String,
    pub profile: UserProfile,
    pub expires_at: String,
}

/// Checks the login limits and the password, starts a session and sets its cookie. Shared by the
/// JSON API and the web page's form, so both doors enforce the same rules.
pub async fn log_in(
    state: &ApiState,
    peer: SocketAddr,
    headers: &HeaderMap,
    cookies: &Cookies,
    username: &str,
    password: &str,
) -> Result<LoggedIn, ApiError> {
    let address =
        crate::client::client_ip(peer.ip(), headers, &state.settings.trusted_proxies).to_string();
    let limiter = &state.limiter;
    if let Some(wait) = limiter
        .begin_attempt(username, &address)
        .await
        .map_err(|e| ApiError::unavailable(&e))?
    {
        return Err(ApiError::too_many_requests(wait));
    }
    let profile = match state
        .accounts
        .authenticate(username, Password::unchecked(password))
        .await
    {
        Ok(profile) => profile,
        // The attempt was counted before checking: a failure needs nothing more.
        Err(AppError::InvalidCredentials) => return Err(AppError::InvalidCredentials.into()),
        Err(other) => return Err(other.into()),
    };
    limiter
        .record_success(username, &address)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;

    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let (token, session) = state
        .sessions
        .create(profile.id, user_agent, Some(&address))
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    let lifetime = state.sessions.policy().absolute_lifetime;
    let mut cookie = Cookie::new(SESSION_COOKIE, token.as_str().to_owned());
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(state.settings.cookie_secure);
    cookie.set_max_age(time::Duration::seconds(lifetime.as_secs() as i64));
    cookies.add(cookie);
    tracing::info!(user_id = %profile.id, "logged in");
    Ok(LoggedIn {
        token: token.as_str().to_owned(),
        profile,
        expires_at: rfc3339(session.created_at + lifetime.as_secs() as i64),
    })
}

/// Ends the session and removes the cookie.
pub async fn log_out(
    state: &ApiState,
    auth: &Authenticated,
    cookies: &Cookies,
) -> Result<(), ApiError> {
    state
        .sessions
        .revoke(auth.session.user_id, &auth.session.id)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    let mut expired = Cookie::new(SESSION_COOKIE, "");
    expired.set_path("/");
    cookies.remove(expired);
    Ok(())
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
