//! The caller's own account, other people's public profiles, and finding people by the start of
//! their name (from the user directory read model).

use crate::auth::Authenticated;
use crate::dto::{rfc3339, UserDto, UserSearchParams, UserSearchResult};
use crate::error::{ApiError, ErrorBody};
use crate::limits::within;
use crate::params::{ApiPath, ApiQuery};
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
        .routes(routes!(search_users))
}

/// Longer than any username or display name: nothing could match.
const MAX_PREFIX_CHARS: usize = 64;
const DEFAULT_RESULTS: i64 = 10;
const MAX_RESULTS: i64 = 20;

/// The search's prefix and limit, or a 422 naming the one at fault.
fn search_terms(params: &UserSearchParams) -> Result<(String, i64), ApiError> {
    let prefix = params.prefix.as_deref().map(str::trim).unwrap_or_default();
    if prefix.is_empty() {
        return Err(ApiError::validation(
            "prefix",
            "must be the start of a username or display name (at least 1 character)",
        ));
    }
    if prefix.chars().count() > MAX_PREFIX_CHARS {
        return Err(ApiError::validation(
            "prefix",
            format!("must be at most {MAX_PREFIX_CHARS} characters long"),
        ));
    }
    let limit = match params.limit.as_deref() {
        None => DEFAULT_RESULTS,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_RESULTS).contains(l))
            .ok_or_else(|| {
                ApiError::validation("limit", format!("must be a number from 1 to {MAX_RESULTS}"))
            })?,
    };
    Ok((prefix.to_owned(), limit))
}

#[utoipa::path(
    get, path = "/api/v1/users", tag = "accounts",
    params(UserSearchParams),
    responses(
        (status = 200, description = "People whose username or display name starts with the \
            prefix (case-insensitive), the exact username first, then by username; never the caller",
            body = UserSearchResult),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 422, description = "Missing or invalid prefix or limit", body = ErrorBody),
        (status = 429, description = "Too many searches; see Retry-After", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn search_users(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiQuery(params): ApiQuery<UserSearchParams>,
) -> Result<Json<UserSearchResult>, ApiError> {
    let (prefix, limit) = search_terms(&params)?;
    within(&state.rate, Limit::Search, auth.session.user_id).await?;
    // No name holds a control character (and Postgres text cannot hold NUL): nobody matches.
    if prefix.chars().any(char::is_control) {
        return Ok(Json(UserSearchResult { users: vec![] }));
    }
    let found =
        projections::directory::search(&state.pool, &prefix, auth.session.user_id.as_uuid(), limit)
            .await?;
    Ok(Json(UserSearchResult {
        users: found
            .into_iter()
            .map(|u| UserDto {
                id: u.user_id,
                username: u.username,
                display_name: u.display_name,
            })
            .collect(),
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(prefix: Option<&str>, limit: Option<&str>) -> Result<(String, i64), ApiError> {
        search_terms(&UserSearchParams {
            prefix: prefix.map(str::to_owned),
            limit: limit.map(str::to_owned),
        })
    }

    #[test]
    fn a_bad_prefix_or_limit_is_refused_naming_it() {
        let cases = [
            (None, None, "prefix"),
            (Some(""), None, "prefix"),
            (Some("   "), None, "prefix"),
            (Some(&*"a".repeat(65)), None, "prefix"),
            (Some("an"), Some("0"), "limit"),
            (Some("an"), Some("21"), "limit"),
            (Some("an"), Some("ten"), "limit"),
            (Some("an"), Some(""), "limit"),
        ];
        for (prefix, limit, field) in cases {
            let error = terms(prefix, limit).unwrap_err();
            assert_eq!(error.status().as_u16(), 422, "{prefix:?} {limit:?}");
            assert_eq!(error.field(), Some(field), "{prefix:?} {limit:?}");
        }
    }

    #[test]
    fn a_good_search_is_trimmed_and_bounded() {
        assert_eq!(terms(Some(" An "), None).unwrap(), ("An".to_owned(), 10));
        assert_eq!(terms(Some("a"), Some("20")).unwrap(), ("a".to_owned(), 20));
        assert_eq!(terms(Some("é"), Some("1")).unwrap(), ("é".to_owned(), 1));
    }
}
