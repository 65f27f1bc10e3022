//! Read models built from the event log. Each projection owns a Postgres schema of its own (named
//! after it), has a version, and can be rebuilt from position 0 into a shadow schema and swapped in
//! while the service keeps serving. Nothing here is a source of truth.

pub mod error;
pub mod history;
pub mod runner;
pub mod telegram;
pub mod watch;

pub use error::ProjectionError;
pub use runner::{ensure_schema, rebuild, run, Projection, RebuildReport};
pub use watch::{ProjectionWatch, Stalled, DEFAULT_MAX_LAG};
