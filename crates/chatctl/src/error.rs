//! The one error type of chatctl, and the exit code each failure gives.

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// A command line or configuration that cannot be acted on.
    #[error("{0}")]
    Usage(String),
    /// Done as asked, but the answer is "no" (verify found differences).
    #[error("{0}")]
    Differs(String),
    /// Refused to protect something (a non-empty store, a running rebuild, a stale model).
    #[error("{0}")]
    Refused(String),
    /// Postgres or Redis could not be reached.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

impl CtlError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Differs(_) => 1,
            Self::Usage(_) => 2,
            Self::Refused(_) => 3,
            Self::Unavailable(_) => 4,
            Self::Failed(_) => 5,
        })
    }
}

impl From<eventstore::Error> for CtlError {
    fn from(error: eventstore::Error) -> Self {
        match error {
            eventstore::Error::NotEmpty { .. } => Self::Refused(format!(
                "{error}; import into an empty database, or pass --allow-non-empty"
            )),
            eventstore::Error::InvalidImport(_) => Self::Usage(error.to_string()),
            e if e.is_unavailable() => Self::Unavailable(format!("Postgres: {e}")),
            e => Self::Failed(e.into()),
        }
    }
}

impl From<projections::ProjectionError> for CtlError {
    fn from(error: projections::ProjectionError) -> Self {
        use projections::ProjectionError as E;
        match error {
            E::Busy(_) | E::Stale { .. } => Self::Refused(error.to_string()),
            E::Unknown(_) => Self::Usage(error.to_string()),
            E::Store(e) => e.into(),
            e if e.is_unavailable() => Self::Unavailable(format!("Postgres: {e}")),
            e => Self::Failed(e.into()),
        }
    }
}

impl From<sqlx::Error> for CtlError {
    fn from(error: sqlx::Error) -> Self {
        eventstore::Error::from(error).into()
    }
}

impl From<redis::RedisError> for CtlError {
    fn from(error: redis::RedisError) -> Self {
        if error.is_connection_dropped() || error.is_connection_refusal() || error.is_timeout() {
            Self::Unavailable(format!("Redis: {error}"))
        } else {
            Self::Failed(error.into())
        }
    }
}

impl From<std::io::Error> for CtlError {
    fn from(error: std::io::Error) -> Self {
        Self::Failed(error.into())
    }
}
