//! What an operator sees of each projection: its version, how far it has got, how far behind the
//! log it is, and whether a rebuild is running or waiting to be continued.

use crate::rebuild::{interrupted_at, is_running};
use crate::ProjectionError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionStatus {
    pub name: &'static str,
    /// The version of the code in this binary.
    pub code_version: i32,
    /// The version that built the live tables; `None` before the projection first ran.
    pub stored_version: Option<i32>,
    pub checkpoint: i64,
    /// Events in the log after the checkpoint.
    pub lag_events: i64,
    /// How long ago the oldest event not yet applied was recorded (0 when caught up).
    pub lag_seconds: f64,
    pub rebuilt_at: Option<DateTime<Utc>>,
    pub state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Never run: no tables yet.
    New,
    /// Following the log with tables of its code's version.
    Live,
    /// Built by another version: the next projector start rebuilds it.
    Stale,
    /// A rebuild runs now; its shadow has reached this position.
    Rebuilding(i64),
    /// A rebuild stopped at this position; `projections rebuild` continues it.
    Interrupted(i64),
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::New => f.write_str("new"),
            Self::Live => f.write_str("live"),
            Self::Stale => f.write_str("stale version"),
            Self::Rebuilding(at) => write!(f, "rebuilding (at {at})"),
            Self::Interrupted(at) => write!(f, "rebuild interrupted (at {at})"),
        }
    }
}

/// The status of projection `name` whose code has `code_version`.
pub async fn status(
    pool: &PgPool,
    name: &'static str,
    code_version: i32,
) -> Result<ProjectionStatus, ProjectionError> {
    let mut conn = pool.acquire().await?;
    let (stored_version, rebuilt_at): (Option<i32>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT max(version), max(rebuilt_at) FROM projections WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
    let (checkpoint, lag_events, lag_seconds): (i64, i64, f64) = sqlx::query_as(
        "WITH c AS (SELECT COALESCE(max(position), 0) AS position FROM checkpoints
                     WHERE subscriber = $1)
         SELECT c.position,
                (SELECT count(*) FROM events e WHERE e.position > c.position),
                COALESCE((SELECT extract(epoch FROM now() - e.recorded_at)::float8 FROM events e
                           WHERE e.position > c.position ORDER BY e.position LIMIT 1), 0)
           FROM c",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    let state = if let Some(at) = interrupted_at(&mut conn, name).await? {
        if is_running(&mut conn, name).await? {
            State::Rebuilding(at)
        } else {
            State::Interrupted(at)
        }
    } else {
        match stored_version {
            None => State::New,
            Some(v) if v == code_version => State::Live,
            Some(_) => State::Stale,
        }
    };
    Ok(ProjectionStatus {
        name,
        code_version,
        stored_version,
        checkpoint,
        lag_events,
        lag_seconds: lag_seconds.max(0.0),
        rebuilt_at,
        state,
    })
}
