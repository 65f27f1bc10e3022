//! The one error type of the command handlers: what a caller can act on, and the rest.

use domain::ValidationError;
use std::sync::Arc;

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
    /// The database is unreachable or failing; nothing was written.
    #[error("the event store is unavailable: {0}")]
    Unavailable(Arc<eventstore::Error>),
    /// A bug or corrupted data; logged with its cause, shown as a generic failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<eventstore::Error> for AppError {
    fn from(error: eventstore::Error) -> Self {
        if error.is_unavailable() {
            Self::Unavailable(Arc::new(error))
        } else {
            Self::Internal(error.to_string())
        }
    }
}

impl AppError {
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
            Self::Internal(cause) => Self::Internal(cause.clone()),
        }
    }
}
