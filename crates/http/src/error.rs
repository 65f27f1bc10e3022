//! The API's one error shape and the single place where errors become HTTP responses.
//!
//! Every failure answers `{"error": {"code", "message", "field"?}}`. Internal causes are logged here
//! with their context and never shown to the client.

use app::{AppError, Chain};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::error::Error as StdError;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    retry_after: Option<u64>,
    /// An outage's cause as logged, kept for the response (see [`Failure`]).
    cause: Option<String>,
}

/// What a 503 carries for the server's own edge (not the client): its code and cause, so that a
/// slow one can be logged with both once its time is known (other errors carry nothing: no
/// allocation for an extension on every 4xx).
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: &'static str,
    pub cause: Option<String>,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `username_taken`, `validation_failed`.
    code: &'static str,
    /// For people; may change.
    message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            cause: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
        .with_field(field)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "log in first: send the session cookie or an Authorization: Bearer token",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::throttled("too many failed attempts", retry_after_secs)
    }

    /// Over a rate limit: try again after `wait`.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        Self::throttled("too many requests", wait.as_secs_f64().ceil() as u64)
    }

    /// 429 with `Retry-After` (at least a second, the header's unit).
    fn throttled(what: &str, retry_after_secs: u64) -> Self {
        let secs = retry_after_secs.max(1);
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("{what}; try again in {secs} s"),
        );
        error.retry_after = Some(secs);
        error
    }

    /// A dependency (Postgres, Redis) is down: the client may retry; nothing was changed.
    pub fn unavailable(cause: &(dyn StdError + 'static)) -> Self {
        let cause = Chain(cause).to_string();
        tracing::error!(error = %cause, "dependency unavailable");
        let mut api = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is temporarily unavailable; please retry",
        );
        api.cause = Some(cause);
        api
    }

    /// Ours, not the caller's: logged with its whole cause chain, shown as a generic failure.
    pub fn internal(cause: &(dyn StdError + 'static)) -> Self {
        tracing::error!(error = %Chain(cause), "internal error");
        Self::generic_failure()
    }

    /// A broken invariant with no error value to log.
    pub fn bug(what: &str) -> Self {
        tracing::error!(what, "internal error");
        Self::generic_failure()
    }

    fn generic_failure() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.extensions_mut().insert(Failure {
                code: self.code,
                cause: self.cause,
            });
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The one mapping of a command's error to HTTP: the status here, the code, message and field
/// as every face shows them (`AppError`).
impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        error.log("request");
        let status = match &error {
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::UsernameTaken | AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::Unavailable(_) | AppError::TimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut api = Self::new(status, error.code(), error.public_message());
        api.field = error.field().map(str::to_owned);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            api.cause = Some(Chain(&error).to_string());
        }
        api
    }
}

/// Only an unreachable database is a 503; a refused statement or a bug is a 500.
impl From<projections::ProjectionError> for ApiError {
    fn from(error: projections::ProjectionError) -> Self {
        if error.is_unavailable() {
            Self::unavailable(&error)
        } else {
            Self::internal(&error)
        }
    }
}

impl From<domain::ValidationError> for ApiError {
    fn from(error: domain::ValidationError) -> Self {
        Self::validation(error.field, error.message)
    }
}
