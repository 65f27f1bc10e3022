//! Appending a batch of events to one stream, atomically, idempotently, with optimistic concurrency.
//!
//! # Why appends are serialized
//! Positions come from an identity sequence, but concurrent transactions commit in another order
//! than they drew their numbers: a reader that has seen position 11 may later find that 10 has just
//! committed, and a tailer following "everything after my checkpoint" would skip it for good.
//!
//! Every append therefore takes one transaction-scoped advisory lock before it draws positions and
//! holds it until commit. Postgres makes a commit visible before it releases the transaction's locks,
//! so a later append can only draw its positions once every earlier one is visible: positions become
//! visible in increasing order, and "read after P" never skips a late commit. The global position is
//! thus a plain resumable cursor for projectors, the publisher and clients alike. The price is that
//! appends commit one at a time; the lock is held only for the few statements below plus the commit
//! (callers must not do slow work after [`append_in_tx`] and before committing).

use crate::{Error, EventStore, NewEvent, NOTIFY_CHANNEL};
use sqlx::{PgConnection, Row};
use std::fmt;
use uuid::Uuid;

/// The lock key of the global append lock (any fixed number; this one spells "EVENTLOG").
const APPEND_LOCK_KEY: i64 = 0x4556_454e_544c_4f47;

/// What the writer believes the stream's version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet (e.g. a username reservation).
    NoStream,
    /// The stream must be exactly at this version (1-based count of its events).
    Exact(i64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream's version after the append: the version of its last event in this batch.
    pub stream_version: i64,
    /// The global positions of the batch's events, in batch order (empty for an empty batch).
    pub positions: Vec<i64>,
    /// False when every event of the batch was stored by an earlier call (an idempotent retry).
    pub appended: bool,
}

impl AppendResult {
    /// The position after which a reader sees the whole batch (for read-your-writes waits).
    pub fn last_position(&self) -> Option<i64> {
        self.positions.last().copied()
    }
}

impl EventStore {
    /// Appends `events` to `stream_id` in a transaction of its own.
    pub async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, Error> {
        let mut tx = self.pool.begin().await?;
        let result = append_in_tx(&mut tx, stream_id, expected, events).await?;
        tx.commit().await?;
        Ok(result)
    }
}

/// Appends inside the caller's transaction, so several streams (a user and its username reservation)
/// commit or fail together. Commit promptly afterwards: the append lock is held until then.
pub async fn append_in_tx(
    conn: &mut PgConnection,
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<AppendResult, Error> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    if let Some(event_id) = first_duplicate(&ids) {
        return Err(Error::DuplicateEventInBatch { event_id });
    }

    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK_KEY)
        .execute(&mut *conn)
        .await?;

    if let Some(earlier) = stored_batch(conn, stream_id, &ids).await? {
        return Ok(earlier);
    }

    let actual: i64 = sqlx::query_scalar("SELECT version FROM streams WHERE stream_id = $1")
        .bind(stream_id)
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(0);
    let matches = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual == 0,
        ExpectedVersion::Exact(v) => actual == v,
    };
    if !matches {
        return Err(Error::WrongExpectedVersion {
            stream_id: stream_id.to_owned(),
            expected,
            actual,
        });
    }
    if events.is_empty() {
        return Ok(AppendResult {
            stream_version: actual,
            positions: vec![],
            appended: false,
        });
    }

    let versions: Vec<i64> = (1..=events.len() as i64).map(|i| actual + i).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let schema_versions: Vec<i32> = events.iter().map(|e| e.schema_version).collect();
    let data: Vec<&serde_json::Value> = events.iter().map(|e| &e.data).collect();
    let metadata = events
        .iter()
        .map(|e| serde_json::to_value(&e.metadata))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::Encode)?;

    let positions: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata)
         SELECT e.event_id, $2, e.stream_version, e.event_type, e.schema_version, e.data, e.metadata
           FROM unnest($1::uuid[], $3::bigint[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[])
                WITH ORDINALITY AS e(event_id, stream_version, event_type, schema_version, data, metadata, n)
          ORDER BY e.n
         RETURNING position",
    )
    .bind(&ids)
    .bind(stream_id)
    .bind(&versions)
    .bind(&types)
    .bind(&schema_versions)
    .bind(&data)
    .bind(&metadata)
    .fetch_all(&mut *conn)
    .await?;

    let stream_version = actual + events.len() as i64;
    let mut positions = positions;
    positions.sort_unstable();
    let last = positions.last().copied().unwrap_or_default();

    sqlx::query(
        "INSERT INTO streams (stream_id, version) VALUES ($1, $2)
         ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version",
    )
    .bind(stream_id)
    .bind(stream_version)
    .execute(&mut *conn)
    .await?;

    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(NOTIFY_CHANNEL)
        .bind(last.to_string())
        .execute(&mut *conn)
        .await?;

    metrics::counter!("events_appended_total").increment(events.len() as u64);
    Ok(AppendResult {
        stream_version,
        positions,
        appended: true,
    })
}

/// If the batch was stored before, the original result; an error if only part of it was.
async fn stored_batch(
    conn: &mut PgConnection,
    stream_id: &str,
    ids: &[Uuid],
) -> Result<Option<AppendResult>, Error> {
    if ids.is_empty() {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT event_id, stream_id, stream_version, position FROM events
          WHERE event_id = ANY($1) ORDER BY position",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let same_stream = rows
        .iter()
        .all(|r| r.get::<String, _>("stream_id") == stream_id);
    if rows.len() != ids.len() || !same_stream {
        let stored: Vec<Uuid> = rows.iter().map(|r| r.get("event_id")).collect();
        let event_id = ids
            .iter()
            .copied()
            .find(|id| stored.contains(id))
            .unwrap_or_else(|| first.get("event_id"));
        return Err(Error::IdempotencyConflict { event_id });
    }
    let stream_version = rows
        .iter()
        .map(|r| r.get::<i64, _>("stream_version"))
        .max()
        .unwrap_or_default();
    Ok(Some(AppendResult {
        stream_version,
        positions: rows.iter().map(|r| r.get("position")).collect(),
        appended: false,
    }))
}

fn first_duplicate(ids: &[Uuid]) -> Option<Uuid> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter().copied().find(|id| !seen.insert(*id))
}
