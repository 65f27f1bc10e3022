//! Turning templates and errors into responses.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http_api::auth::Authenticated;
use http_api::error::ApiError;
use http_api::ApiState;

use crate::views::ErrorPage;

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

/// A failure while serving a page: an error page (the JSON shape is for the API).
pub fn error(error: ApiError) -> Response {
    let status = error.status();
    let message = match status {
        StatusCode::NOT_FOUND => "There is nothing here, or it is not yours to see.",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts; wait a little and try again.",
        StatusCode::SERVICE_UNAVAILABLE => "The service is temporarily unavailable; please retry.",
        StatusCode::FORBIDDEN => "This is not allowed.",
        _ => "Something went wrong on our side; please try again.",
    };
    notice(status, message)
}

/// An error page that says `message` under a heading named for `status`, in the site's frame,
/// with a way back.
pub fn notice(status: StatusCode, message: &'static str) -> Response {
    let heading = match status {
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
        _ => "Something went wrong",
    };
    page(
        status,
        &ErrorPage {
            me: None,
            heading,
            message,
        },
    )
}

/// What a browser gets for an address that is no page (the API's unknown paths answer JSON).
pub async fn not_found() -> Response {
    notice(StatusCode::NOT_FOUND, "There is no page at this address.")
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
