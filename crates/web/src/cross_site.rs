//! The page's answer to a form sent from another site: the API's check
//! ([`http_api::auth::is_cross_site_request`]), answered with a page instead of the API's JSON.

use crate::render;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use http_api::ApiState;

pub async fn reject(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if http_api::auth::is_cross_site_request(&request, &state.settings.allowed_origins) {
        return render::notice(
            StatusCode::FORBIDDEN,
            "This form was sent from another site, so it was refused. If it was you, go back to \
             this site's page, reload it and send the form again.",
        );
    }
    next.run(request).await
}
