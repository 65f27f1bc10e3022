//! The one error type of the event store.

use crate::ExpectedVersion;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another writer appended first; reload the stream, decide again and retry.
    #[error("stream {stream_id} is at version {actual}, expected {expected}")]
    WrongExpectedVersion {
        stream_id: String,
        expected: ExpectedVersion,
        actual: i64,
    },
    /// Some of the batch's event ids are stored already, but not as this exact batch on this stream:
    /// a retry must resend the same events, so this is a caller bug, not a lost reply.
    #[error("event {event_id} was already stored as part of a different append")]
    IdempotencyConflict { event_id: Uuid },
    #[error("a batch holds event id {event_id} twice")]
    DuplicateEventInBatch { event_id: Uuid },
    #[error("stored event {position} could not be decoded: {source}")]
    Decode {
        position: i64,
        source: serde_json::Error,
    },
    #[error("event metadata could not be encoded: {0}")]
    Encode(serde_json::Error),
    /// What the store refuses before asking the database (a name out of bounds, a NUL in data).
    #[error("invalid append: {0}")]
    Invalid(String),
    /// The group-commit appender is gone (shutting down); whether the append was written is
    /// unknown, and a retry with the same event ids is safe.
    #[error("the appender has stopped")]
    Stopped,
    /// Refused without asking the database, which another operation found unreachable moments
    /// ago (what it said): see `reachability.rs`.
    #[error("the database was unreachable moments ago: {0}")]
    Unreachable(Arc<str>),
    /// The batch this append shared a transaction with failed as a whole.
    #[error("append batch failed: {0}")]
    Batch(Arc<Error>),
    /// An import file that cannot be stored as it is (events out of order).
    #[error("invalid import: {0}")]
    InvalidImport(String),
    /// An import into a store that already holds events, which was not allowed.
    #[error("the event store is not empty (its head is at position {head})")]
    NotEmpty { head: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Error {
    /// Whether reloading and deciding again may succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::WrongExpectedVersion { .. })
    }

    /// The database could not be reached or did not answer: nothing was written, and nothing is
    /// wrong with the request itself.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database(e) => is_connection_failure(e),
            Self::Batch(inner) => inner.is_unavailable(),
            Self::Stopped | Self::Unreachable(_) => true,
            _ => false,
        }
    }

    /// The database refused a statement (as opposed to being unreachable).
    pub(crate) fn is_statement_failure(&self) -> bool {
        matches!(self, Self::Database(e @ sqlx::Error::Database(_)) if !is_connection_failure(e))
    }
}

/// Whether Postgres could not be reached, or is going away or full (as opposed to refusing a
/// statement, or a bug): a retry may succeed. Only these are "unavailable" (503) to clients; the
/// rest are internal errors (500), logged with their cause.
pub fn is_connection_failure(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        // Class 08: connection exception; 57P: operator intervention (shutdown, crash recovery);
        // class 53: insufficient resources (disk full, out of memory, too many connections). A
        // fault run that filled the disk answered 500 to every write until then; it is an outage
        // that nothing about the request causes, and a retry may succeed once space is back.
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// A database error with only a SQLSTATE, as Postgres reports them.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    #[test]
    fn only_an_unreachable_database_is_unavailable() {
        let cases = [
            (
                "refused connection",
                sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into()),
                true,
            ),
            ("pool exhausted", sqlx::Error::PoolTimedOut, true),
            ("pool closed", sqlx::Error::PoolClosed, true),
            ("no row", sqlx::Error::RowNotFound, false),
            ("bad column", sqlx::Error::ColumnNotFound("x".into()), false),
            ("undecodable", sqlx::Error::Decode("nope".into()), false),
        ];
        for (code, unavailable) in [
            ("53100", true),  // disk full
            ("53200", true),  // out of memory
            ("57P01", true),  // admin shutdown
            ("23505", false), // unique violation
            ("22P02", false), // invalid text representation
        ] {
            let error = sqlx::Error::Database(Box::new(Coded(code)));
            assert_eq!(
                Error::Database(error).is_unavailable(),
                unavailable,
                "{code}"
            );
        }
        for (name, error, unavailable) in cases {
            assert_eq!(
                Error::Database(error).is_unavailable(),
                unavailable,
                "{name}"
            );
        }
    }
}
