//! The JSON API: accounts and sessions, its error shape, and its OpenAPI description.
//!
//! HTTP concerns stop here: handlers turn requests into calls on the `app` crate's command handlers
//! and map their errors once, through [`error::ApiError`].

pub mod auth;
pub mod client;
pub mod dto;
pub mod error;
pub mod headers;
pub mod ids;
pub mod json;
pub mod limits;
pub mod login;
pub mod openapi;
pub mod outage;
pub mod params;
pub mod ratelimit;
mod routes;
pub mod session;
pub mod state;
pub mod visible;

pub use kv::Kv;
pub use state::{ApiParts, ApiSettings, ApiState, TelegramBot};

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tower_cookies::CookieManagerLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// The largest request body the API reads; nginx's `client_max_body_size` matches it.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// The documented routes and their document, built from the same annotations.
fn documented() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::accounts::router())
        .merge(routes::users::router())
        .merge(routes::sessions::router())
        .merge(routes::conversations::router())
        .merge(routes::groups::router())
        .merge(routes::receipts::router())
        .merge(routes::telegram::router())
        .split_for_parts();
    openapi::document_common_errors(&mut document);
    openapi::document_links(&mut document);
    openapi::document_text_rules(&mut document);
    (router, document)
}

pub fn router(state: ApiState) -> Router {
    let (api, document) = documented();
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
        .merge(openapi::docs_router(&web_dir))
        .method_not_allowed_fallback(openapi::method_not_allowed)
        .layer(from_fn_with_state(
            outage::Outage::new(
                state.conversations.deadline().clone(),
                IntoResponse::into_response,
            ),
            outage::answer_in_time,
        ))
        .layer(from_fn_with_state(state.clone(), auth::reject_cross_site))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(CookieManagerLayer::new())
        .layer(map_response(headers::api));
    api.with_state(state)
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::ParameterIn;

    #[test]
    fn every_documented_parameter_is_where_the_route_reads_it() {
        let (_, document) = super::documented();
        let mut checked = 0;
        for (path, item) in &document.paths.paths {
            let operations = [&item.get, &item.post, &item.put, &item.patch, &item.delete];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter().flatten() {
                    let utoipa::openapi::RefOr::T(parameter) = parameter else {
                        continue;
                    };
                    let in_template = path.contains(&format!("{{{}}}", parameter.name));
                    let in_path = matches!(parameter.parameter_in, ParameterIn::Path);
                    assert_eq!(
                        in_path,
                        in_template,
                        "{path}: parameter {} is declared in the {}",
                        parameter.name,
                        if in_path { "path" } else { "query or a header" }
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 8, "only {checked} parameters documented");
    }
}
