//! Read models built from the event log. Each projection owns a Postgres schema of its own (named
//! after it), has a version, and can be rebuilt from position 0 into a shadow schema and swapped in
//! while the service keeps serving. Nothing here is a source of truth.

mod copy;
pub mod directory;
pub mod error;
pub mod history;
pub mod rebuild;
pub mod runner;
mod shadow;
pub mod status;
pub mod telegram;
pub mod verify;
pub mod watch;

pub use error::ProjectionError;
pub use rebuild::{rebuild, rebuild_with, Progress, RebuildOptions, RebuildReport};
pub use runner::{ensure_schema, run, Projection};
pub use status::{status, ProjectionStatus, State};
pub use verify::{replay, verify, ReplayReport, TableDiff, VerifyReport};

/// Every projection this build knows: its name and code version.
pub const ALL: &[(&str, i32)] = &[
    (
        <history::History as Projection>::NAME,
        <history::History as Projection>::VERSION,
    ),
    (
        <telegram::TelegramLinks as Projection>::NAME,
        <telegram::TelegramLinks as Projection>::VERSION,
    ),
    (
        <directory::Directory as Projection>::NAME,
        <directory::Directory as Projection>::VERSION,
    ),
];
pub use watch::{ProjectionWatch, Stalled};
