//! Linking a Telegram chat to the account: a one-time token in a t.me link, spent by the bot.

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::limits::within;
use crate::state::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use domain::UnlinkReason;
use kv::Limit;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(create_link, unlink))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramLink {
    /// Open it in Telegram and press Start: the bot links that chat to this account.
    pub url: String,
    /// The link works once, until then.
    pub expires_at: String,
}

#[utoipa::path(
    post, path = "/api/v1/telegram/link", tag = "telegram",
    responses(
        (status = 200, description = "A one-time link to the bot, valid for 10 minutes", body = TelegramLink),
        (status = 404, description = "Telegram is not set up on this server (code telegram_not_configured)", body = ErrorBody),
        (status = 503, description = "Telegram is set up but its Bot API has not answered yet (code telegram_unavailable)", body = ErrorBody),
        (status = 429, description = "Too many link requests; see Retry-After", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn create_link(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Json<TelegramLink>, ApiError> {
    within(&state.rate, Limit::Link, auth.session.user_id).await?;
    let Some(bot) = state.settings.telegram_bot.username() else {
        // Not set up is how this server is, not an outage: nothing to retry.
        return Err(if state.settings.telegram_bot.configured() {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "telegram_unavailable",
                "Telegram cannot be reached right now; try again in a minute",
            )
        } else {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "telegram_not_configured",
                "Telegram notifications are not set up on this server",
            )
        });
    };
    let ttl = state.settings.telegram_link_ttl;
    let token = kv::link_tokens::create(state.presence.kv(), auth.session.user_id, ttl)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
    Ok(Json(TelegramLink {
        url: format!("https://t.me/{bot}?start={token}"),
        expires_at: expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }))
}

#[utoipa::path(
    delete, path = "/api/v1/telegram/link", tag = "telegram",
    responses((status = 204, description = "No Telegram chat is linked any more")),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn unlink(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .unlink_telegram(auth.session.user_id, UnlinkReason::User)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
