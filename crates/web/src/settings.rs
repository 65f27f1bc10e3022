//! Settings: Telegram linking and sessions.

use crate::device;
use crate::render::{self, Visitor};
use crate::views::{MeView, SessionView, SettingsPage, TelegramLinkFragment};
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use domain::UnlinkReason;
use http_api::dto::rfc3339;
use http_api::error::ApiError;
use http_api::limits::within;
use http_api::ApiState;
use kv::Limit;

pub async fn page(State(state): State<ApiState>, Visitor(auth): Visitor) -> Response {
    let outcome = async {
        let user = auth.session.user_id;
        let profile = state.accounts.profile(user).await?;
        let linked = state.accounts.telegram_chat(user).await?.is_some();
        let now = chrono::Utc::now().timestamp();
        let sessions = state
            .sessions
            .list(user)
            .await
            .map_err(|e| ApiError::unavailable(&e))?
            .into_iter()
            .map(|s| SessionView {
                current: s.id == auth.session.id,
                device: device::describe(s.user_agent.as_deref()),
                last_active: device::ago(now - s.last_seen_at),
                last_active_at: rfc3339(s.last_seen_at),
            })
            .collect();
        Ok::<_, ApiError>(SettingsPage {
            me: Some(MeView {
                username: profile.username.to_string(),
                display_name: profile.display_name.to_string(),
            }),
            telegram_available: state.settings.telegram_bot.username().is_some(),
            telegram_linked: linked,
            sessions,
        })
    }
    .await;
    match outcome {
        Ok(page) => render::ok(&page),
        Err(error) => render::error(error),
    }
}

pub async fn link_telegram(State(state): State<ApiState>, Visitor(auth): Visitor) -> Response {
    let Some(bot) = state.settings.telegram_bot.username().map(str::to_owned) else {
        return render::error(ApiError::not_found("telegram"));
    };
    if let Err(error) = within(&state.rate, Limit::Link, auth.session.user_id).await {
        return render::error(error);
    }
    match kv::link_tokens::create(
        state.presence.kv(),
        auth.session.user_id,
        state.settings.telegram_link_ttl,
    )
    .await
    {
        Ok(token) => render::ok(&TelegramLinkFragment {
            url: format!("https://t.me/{bot}?start={token}"),
        }),
        Err(error) => render::error(ApiError::unavailable(&error)),
    }
}

pub async fn unlink_telegram(State(state): State<ApiState>, Visitor(auth): Visitor) -> Response {
    match state
        .accounts
        .unlink_telegram(auth.session.user_id, UnlinkReason::User)
        .await
    {
        Ok(_) => Redirect::to("/settings").into_response(),
        Err(error) => render::error(error.into()),
    }
}

pub async fn revoke_others(State(state): State<ApiState>, Visitor(auth): Visitor) -> Response {
    match state
        .sessions
        .revoke_others(auth.session.user_id, &auth.session.id)
        .await
    {
        Ok(_) => Redirect::to("/settings").into_response(),
        Err(error) => render::error(ApiError::unavailable(&error)),
    }
}
