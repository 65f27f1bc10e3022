//! The JSON API: accounts and sessions, its error shape, and its OpenAPI description.
//!
//! HTTP concerns stop here: handlers turn requests into calls on the `app` crate's command handlers
//! and map their errors once, through [`error::ApiError`].

pub mod auth;
pub mod client;
pub mod dto;
pub mod error;
pub mod ids;
pub mod json;
pub mod login;
pub mod openapi;
pub mod ratelimit;
mod routes;
pub mod session;
pub mod state;

pub use kv::Kv;
pub use state::{ApiSettings, ApiState};

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;
use tower_cookies::CookieManagerLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// The largest request body the API reads; nginx's `client_max_body_size` matches it.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

pub fn router(state: ApiState) -> Router {
    let (api, document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::accounts::router())
        .merge(routes::users::router())
        .merge(routes::sessions::router())
        .merge(routes::conversations::router())
        .merge(routes::telegram::router())
        .split_for_parts();
    let document = document.to_pretty_json().unwrap_or_default();
    let web_dir = state.settings.web_dir.clone();

    let api = api
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let document = document.clone();
                async move { openapi::json_document(&document) }
            }),
        )
        .route("/api/docs", get(openapi::docs_page))
        .route(
            "/api/docs/init.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript")],
                    openapi::DOCS_INIT,
                )
            }),
        )
        .nest_service("/api/docs/swagger-ui", openapi::swagger_ui_assets(&web_dir))
        .method_not_allowed_fallback(openapi::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), auth::reject_cross_site))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(CookieManagerLayer::new());
    api.with_state(state)
}
