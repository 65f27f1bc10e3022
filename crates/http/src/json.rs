//! `ApiJson<T>`: the JSON body extractor whose every rejection has the API's error shape.
//!
//! axum's own `Json` answers rejections in plain text; this one answers 415 for a wrong content
//! type, 413 over the body limit, 400 for malformed JSON and 422 naming the field whose type is wrong.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is too large",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "the request body could not be read",
                )
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if inner.is_data() && path == "." {
            let named = |prefix: &str| {
                message
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.split('`').next())
                    .map(str::to_owned)
            };
            if let Some(field) = named("missing field `") {
                ApiError::validation(field, "is required")
            } else if let Some(field) = named("duplicate field `") {
                // One value per field: a second one is refused, never silently preferred.
                ApiError::validation(field, "is given more than once")
            } else {
                // serde's message would name our Rust type ("expected struct RegisterRequest").
                ApiError::validation("body", "the body must be a JSON object")
            }
        } else if inner.is_data() {
            ApiError::validation(path, message)
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {inner}"),
            )
        }
    })?;
    deserializer.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

/// A required string field, or a 422 naming it.
pub fn required<'a>(value: &'a Option<String>, field: &'static str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .ok_or_else(|| ApiError::validation(field, "is required"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct RegisterRequest {
        username: String,
        age: Option<u32>,
    }

    #[test]
    fn refusals_name_the_field_and_never_our_types() {
        let cases: [(&str, u16, Option<&str>); 6] = [
            ("5", 422, Some("body")),
            ("[]", 422, Some("body")),
            ("{}", 422, Some("username")),
            (r#"{"username": "a", "age": "old"}"#, 422, Some("age")),
            ("{", 400, None),
            (
                r#"{"username": "a", "username": "b"}"#,
                422,
                Some("username"),
            ),
        ];
        for (body, status, field) in cases {
            let error = parse::<RegisterRequest>(body.as_bytes()).unwrap_err();
            assert_eq!(
                (error.status().as_u16(), error.field()),
                (status, field),
                "{body}"
            );
            assert!(
                !format!("{error:?}").contains("RegisterRequest"),
                "{body}: {error:?}"
            );
        }
    }
}
