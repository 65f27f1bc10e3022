//! The history projection: conversation lists with unread counts, and every message, paged.

mod group;
pub mod overview;
mod project;
pub mod queries;
pub mod receipts;

pub use project::Prepared;

use crate::runner::Projection;
use crate::ProjectionError;
use eventstore::LoggedEvent;
use sqlx::PgConnection;
use std::future::Future;

#[derive(Debug, Clone, Copy, Default)]
pub struct History;

impl Projection for History {
    const NAME: &'static str = "history";
    const VERSION: i32 = 3;
    const SCHEMA_SQL: &'static str = include_str!("schema.sql");

    type Prepared = Prepared;

    fn prepare<E: LoggedEvent>(&self, events: &[E]) -> Result<Prepared, ProjectionError> {
        project::prepare(events)
    }

    fn write<'c>(
        &'c self,
        conn: &'c mut PgConnection,
        prepared: Prepared,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'c {
        project::write(conn, prepared)
    }
}
