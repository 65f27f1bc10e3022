//! The one error type of the command handlers: what a caller can act on, and the rest.
//!
//! Both faces show an error the same way: [`AppError::code`], [`AppError::public_message`] and
//! [`AppError::field`] are what a client sees (the HTTP edge adds a status, the gateway an error
//! frame), and [`AppError::log`] writes an unexpected error's whole cause chain, once, at the edge.

use domain::ValidationError;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// A cause kept for the log; shared so that every waiter of a command group gets the same one.
pub type Cause = Arc<dyn StdError + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A value the user gave is not acceptable; names the field.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("this username is taken")]
    UsernameTaken,
    /// Unknown user and wrong password are deliberately the same error.
    #[error("wrong username or password")]
    InvalidCredentials,
    /// Also what a non-member gets for a conversation: no hint that it exists.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may see the thing but not do this to it.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The thing's current state does not allow this.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The database is unreachable; nothing was written and a retry may succeed.
    #[error("the event store is unreachable")]
    Unavailable(#[source] Arc<eventstore::Error>),
    /// The command had no outcome within the caller's deadline (the database slow or coming
    /// back). It may still be stored: a retry is safe where the command is idempotent (a send
    /// resent with its client id), and otherwise finds the change made or not.
    #[error("no outcome within {} ms", .0.as_millis())]
    TimedOut(std::time::Duration),
    /// A bug, corrupted data or a failing dependency that is not an outage; logged with its
    /// cause chain, shown as a generic failure.
    #[error("{context}")]
    Internal {
        context: String,
        #[source]
        source: Option<Cause>,
    },
}

impl From<eventstore::Error> for AppError {
    fn from(error: eventstore::Error) -> Self {
        if error.is_unavailable() {
            Self::Unavailable(Arc::new(error))
        } else {
            Self::internal("the event store failed", error)
        }
    }
}

impl AppError {
    /// An unexpected failure with what we were doing and why it failed.
    pub fn internal(
        context: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self::Internal {
            context: context.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// A broken invariant with no underlying error.
    pub fn bug(context: impl Into<String>) -> Self {
        Self::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// Stable and machine-readable, the same over HTTP and WebSocket.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::UsernameTaken => "username_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::NotFound(_) => "not_found",
            Self::Forbidden { code, .. } | Self::Conflict { code, .. } => code,
            Self::Unavailable(_) => "unavailable",
            Self::TimedOut(_) => "timed_out",
            Self::Internal { .. } => "internal_error",
        }
    }

    /// For people; never shows an internal cause.
    pub fn public_message(&self) -> String {
        match self {
            Self::Validation(e) => e.message.clone(),
            Self::Unavailable(_) => "the service is temporarily unavailable; please retry".into(),
            Self::TimedOut(waited) => format!(
                "the change was not confirmed within {} ms and may still be made; \
                 please retry (a message resent with the same client_id is stored once)",
                waited.as_millis()
            ),
            Self::Internal { .. } => "something went wrong on our side".into(),
            other => other.to_string(),
        }
    }

    /// The request field at fault, when one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Validation(e) => Some(e.field),
            Self::UsernameTaken => Some("username"),
            _ => None,
        }
    }

    /// True for errors that are ours, not the caller's: they are logged.
    pub fn is_unexpected(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::TimedOut(_) | Self::Internal { .. }
        )
    }

    /// Logs an unexpected error with its whole cause chain; expected ones are not logged.
    pub fn log(&self, during: &str) {
        match self {
            Self::Unavailable(_) => {
                tracing::error!(error = %Chain(self), "{during}: dependency unavailable")
            }
            Self::TimedOut(_) => tracing::warn!(error = %self, "{during}: command timed out"),
            Self::Internal { .. } => {
                tracing::error!(error = %Chain(self), "{during}: internal error")
            }
            _ => {}
        }
    }

    /// The same error for another waiter of a shared operation (a command group, a batch).
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Validation(e) => Self::Validation(e.clone()),
            Self::UsernameTaken => Self::UsernameTaken,
            Self::InvalidCredentials => Self::InvalidCredentials,
            Self::NotFound(what) => Self::NotFound(what),
            Self::Forbidden { code, message } => Self::Forbidden {
                code,
                message: message.clone(),
            },
            Self::Conflict { code, message } => Self::Conflict {
                code,
                message: message.clone(),
            },
            Self::Unavailable(cause) => Self::Unavailable(cause.clone()),
            Self::TimedOut(waited) => Self::TimedOut(*waited),
            Self::Internal { context, source } => Self::Internal {
                context: context.clone(),
                source: source.clone(),
            },
        }
    }
}

/// An error and its sources, outermost first: `a: b: c`.
pub struct Chain<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connection reset")]
    struct Reset;

    #[derive(Debug, thiserror::Error)]
    #[error("query failed")]
    struct Query(#[source] Reset);

    #[test]
    fn an_internal_error_keeps_its_whole_cause_chain_but_shows_none_of_it() {
        let error = AppError::internal("loading the conversation", Query(Reset));
        assert_eq!(
            Chain(&error).to_string(),
            "loading the conversation: query failed: connection reset"
        );
        assert_eq!(error.code(), "internal_error");
        assert!(!error.public_message().contains("query"));
        assert!(
            error.duplicate().source().is_some(),
            "a shared copy keeps the cause"
        );
    }

    #[test]
    fn expected_errors_show_their_own_code_message_and_field() {
        let cases = [
            (AppError::UsernameTaken, "username_taken", Some("username")),
            (AppError::NotFound("conversation"), "not_found", None),
            (
                AppError::Validation(ValidationError::new("body", "is required")),
                "validation_failed",
                Some("body"),
            ),
        ];
        for (error, code, field) in cases {
            assert_eq!((error.code(), error.field()), (code, field), "{error}");
            assert!(!error.is_unexpected(), "{error}");
        }
        assert_eq!(
            AppError::NotFound("conversation").public_message(),
            "conversation not found"
        );
        assert_eq!(
            AppError::Validation(ValidationError::new("body", "is required")).public_message(),
            "is required"
        );
    }
}
