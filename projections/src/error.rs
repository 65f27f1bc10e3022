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
