//! The history projection: conversation lists with unread counts, and every message, paged.

mod project;
pub mod queries;

use crate::runner::Projection;
use crate::ProjectionError;
use eventstore::LoggedEvent;
use sqlx::PgConnection;
use std::future::Future;

#[derive(Debug, Clone, Copy, Default)]
pub struct History;

impl Projection for History {
    const NAME: &'static str = "history";
    const VERSION: i32 = 1;
    const SCHEMA_SQL: &'static str = include_str!("schema.sql");

    fn apply_all<'c, E: LoggedEvent>(
        &'c self,
        conn: &'c mut PgConnection,
        events: &'c [E],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'c {
        project::apply_all(conn, events)
    }
}
