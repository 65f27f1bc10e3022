//! The one error type of the projections.

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] eventstore::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("no projection named {0:?}")]
    Unknown(String),
    /// Another rebuild of this projection holds its lock.
    #[error("a rebuild of {0} is already running")]
    Busy(String),
    /// The live tables were built by another version of the projection than this binary's.
    #[error("the live {name} tables {}: rebuild first", stale(.stored, .code))]
    Stale {
        name: String,
        stored: Option<i32>,
        code: i32,
    },
}

impl ProjectionError {
    /// The database is unreachable (as opposed to refusing a statement, or a bug): worth a retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_unavailable(),
            Self::Database(e) => eventstore::is_connection_failure(e),
            Self::Unknown(_) | Self::Busy(_) | Self::Stale { .. } => false,
        }
    }
}

/// How stale tables are, in words: an operator reads this.
fn stale(stored: &Option<i32>, code: &i32) -> String {
    match stored {
        Some(version) => format!("are of version {version}, this build's is {code}"),
        None => format!("are not built yet (this build's version is {code})"),
    }
}
