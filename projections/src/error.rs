//! The one error type of the projections.

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] eventstore::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("no projection named {0:?}")]
    Unknown(String),
}

impl ProjectionError {
    /// The database is unreachable (as opposed to refusing a statement, or a bug): worth a retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_unavailable(),
            Self::Database(e) => eventstore::is_connection_failure(e),
            Self::Unknown(_) => false,
        }
    }
}
