//! Export and import of the log, for backups and moves: every field of every event kept exactly
//! (ids, positions, order, metadata, data, times).
//!
//! An export reads inside one `REPEATABLE READ` transaction ([`Snapshot`]): a store that keeps
//! taking appends exports as it was when the snapshot began, never half of a later append.
//! Each event is one JSON line rendered by Postgres itself (`row_to_json`: `data` and `metadata`
//! as their stored `jsonb` text, times in UTC with microseconds), so export, import and export
//! again give the same bytes.
//!
//! An import ([`Importer`]) writes in one transaction under the append lock: it is all or nothing,
//! and no append can interleave positions with it.

use crate::append::APPEND_LOCK_KEY;
use crate::{Error, EventStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

/// One event of an export file: a line of JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedEvent {
    pub position: i64,
    pub event_id: Uuid,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_type: String,
    pub schema_version: i32,
    /// Kept as the exact text read, so nothing is reformatted on the way through.
    pub data: Box<RawValue>,
    pub metadata: Box<RawValue>,
    pub recorded_at: DateTime<Utc>,
}

/// A consistent view of the log for reading it in pages.
pub struct Snapshot {
    tx: Transaction<'static, Postgres>,
}

impl EventStore {
    /// Starts a read-only snapshot of the log as it is now.
    pub async fn snapshot(&self) -> Result<Snapshot, Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::raw_sql(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;
             SET LOCAL TIME ZONE 'UTC'",
        )
        .execute(&mut *tx)
        .await?;
        Ok(Snapshot { tx })
    }
}

impl Snapshot {
    /// The newest position in the snapshot (0 for an empty store).
    pub async fn head_position(&mut self) -> Result<i64, Error> {
        let head: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(head.unwrap_or(0))
    }

    /// Export lines of the events with `after < position <= up_to`, in position order, at most
    /// `limit`, each with its position (for paging).
    pub async fn export_page(
        &mut self,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, Error> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT position, row_to_json(e)::text
               FROM (SELECT position, event_id, stream_id, stream_version, event_type,
                            schema_version, data, metadata, recorded_at
                       FROM events
                      WHERE position > $1 AND position <= $2
                      ORDER BY position
                      LIMIT $3) e
              ORDER BY position",
        )
        .bind(after)
        .bind(up_to)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows)
    }
}

/// An import in progress; nothing is visible until [`Importer::finish`].
pub struct Importer {
    tx: Transaction<'static, Postgres>,
    /// The last position written, so the file's order is checked across batches.
    last_position: i64,
    imported: u64,
}

impl EventStore {
    /// Starts an import. Refused with [`Error::NotEmpty`] when the store holds events, unless
    /// `allow_non_empty` (then the imported events must not collide with stored ones).
    pub async fn import(&self, allow_non_empty: bool) -> Result<Importer, Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        let head: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        let head = head.unwrap_or(0);
        if head > 0 && !allow_non_empty {
            return Err(Error::NotEmpty { head });
        }
        Ok(Importer {
            tx,
            last_position: head,
            imported: 0,
        })
    }
}

impl Importer {
    /// Writes a batch of events, which must follow the previous ones in position order.
    pub async fn write(&mut self, batch: &[ExportedEvent]) -> Result<(), Error> {
        for event in batch {
            if event.position <= self.last_position {
                return Err(Error::InvalidImport(format!(
                    "event {} has position {}, not after {}: positions must increase",
                    event.event_id, event.position, self.last_position
                )));
            }
            self.last_position = event.position;
        }
        insert(&mut self.tx, batch).await?;
        self.imported += batch.len() as u64;
        Ok(())
    }

    /// Commits the import, and moves the position sequence past it; returns how many events.
    pub async fn finish(mut self) -> Result<u64, Error> {
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('events', 'position'),
                           GREATEST(max(position), 1), max(position) IS NOT NULL)
               FROM events",
        )
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(self.imported)
    }
}

async fn insert(conn: &mut PgConnection, batch: &[ExportedEvent]) -> Result<(), Error> {
    if batch.is_empty() {
        return Ok(());
    }
    let texts = |f: fn(&ExportedEvent) -> &str| batch.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "WITH new AS (
             INSERT INTO events (position, event_id, stream_id, stream_version, event_type,
                                 schema_version, data, metadata, recorded_at)
             OVERRIDING SYSTEM VALUE
             SELECT p, id, s, v, t, sv, d::jsonb, m::jsonb, at
               FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[],
                           $6::int[], $7::text[], $8::text[], $9::timestamptz[])
                    AS x(p, id, s, v, t, sv, d, m, at)
             RETURNING stream_id, stream_version)
         INSERT INTO streams (stream_id, version)
         SELECT stream_id, max(stream_version) FROM new GROUP BY stream_id
         ON CONFLICT (stream_id) DO UPDATE SET version = GREATEST(streams.version, EXCLUDED.version)",
    )
    .persistent(false)
    .bind(batch.iter().map(|e| e.position).collect::<Vec<_>>())
    .bind(batch.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(texts(|e| &e.stream_id))
    .bind(batch.iter().map(|e| e.stream_version).collect::<Vec<_>>())
    .bind(texts(|e| &e.event_type))
    .bind(batch.iter().map(|e| e.schema_version).collect::<Vec<_>>())
    .bind(texts(|e| e.data.get()))
    .bind(texts(|e| e.metadata.get()))
    .bind(batch.iter().map(|e| e.recorded_at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
