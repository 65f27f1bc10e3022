//! Limits on what a request may cost before any handler runs: a body announced larger than the
//! API reads is refused at once (413) without reading it. (The server also cuts off a body that
//! trickles in too slowly: `HTTP_BODY_TIMEOUT_MS`.)

use crate::error::ApiError;
use crate::BODY_LIMIT_BYTES;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kv::{Limit, RateLimiter};
use std::fmt::Display;

/// Answers 413 before reading a body whose `Content-Length` is over the limit. (A chunked body
/// without a length is still stopped at the limit as it is read.)
pub async fn refuse_oversized(request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > BODY_LIMIT_BYTES as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {BODY_LIMIT_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

/// 429 with `Retry-After` when `subject` is over `limit`'s rate.
pub async fn within(
    rate: &RateLimiter,
    limit: Limit,
    subject: impl Display,
) -> Result<(), ApiError> {
    match rate.check(limit, subject).await {
        None => Ok(()),
        Some(wait) => Err(ApiError::rate_limited(wait)),
    }
}
