//! `GET /api/v1/ws`: authenticates the upgrade (cookie with an Origin check, or bearer) and hands
//! the socket to the gateway.

use crate::state::AppState;
use axum::extract::{FromRef, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use domain::Member;
use gateway::Gateway;
use http_api::auth::{is_cross_site, Authenticated};
use http_api::error::ApiError;
use http_api::params::ApiQuery;
use http_api::ApiState;
use serde::Deserialize;

/// Client frames are small JSON commands; a bigger one is refused (close 1009).
const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// Per-socket buffers, sized for many idle sockets: axum's defaults are 128 KiB each way. The
/// read buffer is allocated whole when the socket opens and kept for its life, while client
/// frames are small commands (a typical send is a few hundred bytes): a bigger frame grows the
/// buffer to its size and is read in chunks of this much.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 8 * 1024;
/// Past this much unsent data the socket counts as stuck and fails.
const MAX_WRITE_BUFFER: usize = 512 * 1024;

#[derive(Clone)]
pub struct WsState {
    pub app: AppState,
    pub gateway: Gateway,
}

impl FromRef<WsState> for ApiState {
    fn from_ref(state: &WsState) -> Self {
        state.app.api.clone()
    }
}

#[derive(Debug, Deserialize)]
pub struct WsParams {
    /// Resume after this cursor.
    after: Option<String>,
}

pub fn router(state: WsState) -> Router {
    Router::new()
        .route("/api/v1/ws", get(upgrade))
        .layer(tower_cookies::CookieManagerLayer::new())
        .with_state(state)
}

async fn upgrade(
    State(state): State<WsState>,
    auth: Result<Authenticated, ApiError>,
    headers: HeaderMap,
    params: Result<ApiQuery<WsParams>, ApiError>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let auth = auth?;
    let ApiQuery(params) = params?;
    if auth.via_cookie && is_cross_site(&headers, &state.app.api.settings.allowed_origins) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "cross_site_request",
            "WebSocket connections from other sites are not allowed",
        ));
    }
    let after = params
        .after
        .as_deref()
        .map(|raw| {
            raw.parse::<i64>()
                .ok()
                .filter(|a| *a >= 0)
                .ok_or_else(|| ApiError::validation("after", "must be a cursor (0 or more)"))
        })
        .transpose()?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "websocket_upgrade_required",
            "connect with a WebSocket client",
        )
    })?;
    let profile = state.app.api.accounts.profile(auth.session.user_id).await?;
    let me = Member {
        id: profile.id,
        username: profile.username,
        display_name: profile.display_name,
    };
    let gateway = state.gateway.clone();
    let session_id = auth.session.id.clone();
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| gateway::serve(gateway, socket, me, after, session_id))
        .into_response())
}
