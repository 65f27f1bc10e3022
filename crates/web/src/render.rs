//! Turning templates and errors into responses.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http_api::auth::Authenticated;
use http_api::error::ApiError;
use http_api::ApiState;

pub fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<h1>Something went wrong</h1>".to_owned()),
            )
                .into_response()
        }
    }
}

pub fn ok(template: &impl Template) -> Response {
    page(StatusCode::OK, template)
}

/// A failure while serving a page: a plain error page (the JSON shape is for the API).
pub fn error(error: ApiError) -> Response {
    let status = error.status();
    let message = match status {
        StatusCode::NOT_FOUND => "Not found.",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts; wait a little and try again.",
        StatusCode::SERVICE_UNAVAILABLE => "The service is temporarily unavailable; please retry.",
        StatusCode::FORBIDDEN => "Not allowed.",
        _ => "Something went wrong.",
    };
    notice(status, message)
}

/// A plain page that says `message` (text of our own, not escaped) and links back home.
pub fn notice(status: StatusCode, message: &'static str) -> Response {
    (status, Html(format!("<!doctype html><meta charset=utf-8><title>chat</title><p>{message} <a href=\"/\">Back</a></p>"))).into_response()
}

/// A logged-in visitor; anyone else is sent to the login page: a page load by a redirect, an htmx
/// request (a send, a fragment) by a 401 whose `HX-Redirect` takes the whole page there, instead of
/// the login page being pasted into the conversation.
pub struct Visitor(pub Authenticated);

impl FromRequestParts<ApiState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        match Authenticated::from_request_parts(parts, state).await {
            Ok(auth) => Ok(Self(auth)),
            Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
                if parts.headers.contains_key("hx-request") {
                    Err((
                        StatusCode::UNAUTHORIZED,
                        [(
                            axum::http::HeaderName::from_static("hx-redirect"),
                            axum::http::HeaderValue::from_static("/login"),
                        )],
                    )
                        .into_response())
                } else {
                    Err(Redirect::to("/login").into_response())
                }
            }
            Err(e) => Err(error(e)),
        }
    }
}
