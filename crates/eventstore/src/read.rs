//! Reading one stream, or the global log, forward.
//!
//! The hot reads are sent unprepared (`persistent(false)`), so Postgres plans each with the tables'
//! current size. A prepared statement's generic plan is fixed once, often while a new store is
//! nearly empty: a sequential scan that stays long after the log has grown to millions of rows
//! (measured: a benchmark from an empty store spent most of Postgres's time in such scans).

use crate::event::EventRow;
use crate::{Error, EventStore, RawEvent, RecordedEvent};
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl EventStore {
    /// Events of one stream with `stream_version >= from_version`, oldest first, at most `limit`.
    pub async fn read_stream(
        &self,
        stream_id: &str,
        from_version: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, Error> {
        self.guarded(stream_from(&self.pool, stream_id, from_version, limit))
            .await
    }

    /// Every event of a stream, for loading an aggregate.
    pub async fn read_whole_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, Error> {
        self.read_stream(stream_id, 1, i64::MAX).await
    }

    /// Events of all streams with `position > after`, in position order, at most `limit`.
    ///
    /// Safe to follow with a checkpoint: appends are serialized (see `append.rs`), so no event with a
    /// lower position can become visible after this call has returned a higher one.
    pub async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, Error> {
        log_after(&self.pool, after, limit).await
    }

    /// Like [`read_all`](Self::read_all), for replaying the whole log: only the columns a projector
    /// uses, with the payload as JSON text (see [`RawEvent`]). The same order and guarantee.
    pub async fn read_all_raw(&self, after: i64, limit: i64) -> Result<Vec<RawEvent>, Error> {
        let rows: Vec<(i64, Uuid, String, String, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT position, event_id, stream_id, event_type, recorded_at, data::text
               FROM events
              WHERE position > $1
              ORDER BY position
              LIMIT $2",
        )
        .persistent(false)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(position, event_id, stream_id, event_type, recorded_at, data)| RawEvent {
                    position,
                    event_id,
                    stream_id,
                    event_type,
                    recorded_at,
                    data,
                },
            )
            .collect())
    }

    /// One event by its id (for answering an idempotent retry with what was stored).
    pub async fn read_event(&self, event_id: uuid::Uuid) -> Result<Option<RecordedEvent>, Error> {
        let row: Option<EventRow> = sqlx::query_as(select_events!("WHERE event_id = $1"))
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(RecordedEvent::try_from).transpose()
    }

    /// Events of the given streams with `after < position <= up_to`, in position order, at most
    /// `limit` (a client's backlog on resume).
    pub async fn read_streams_between(
        &self,
        stream_ids: &[String],
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, Error> {
        if stream_ids.is_empty() {
            return Ok(vec![]);
        }
        let rows: Vec<EventRow> = sqlx::query_as(select_events!(
            "WHERE stream_id = ANY($1) AND position > $2 AND position <= $3
              ORDER BY position
              LIMIT $4"
        ))
        .bind(stream_ids)
        .bind(after)
        .bind(up_to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(RecordedEvent::try_from).collect()
    }

    /// The position of the newest visible event (0 for an empty store).
    pub async fn head_position(&self) -> Result<i64, Error> {
        let head: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(head.unwrap_or(0))
    }

    /// The current version of a stream (0 when it does not exist).
    pub async fn stream_version(&self, stream_id: &str) -> Result<i64, Error> {
        self.guarded(async {
            let version: Option<i64> =
                sqlx::query_scalar("SELECT version FROM streams WHERE stream_id = $1")
                    .bind(stream_id)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(version.unwrap_or(0))
        })
        .await
    }
}

/// Events of one stream with `stream_version >= from_version`, oldest first, at most `limit`,
/// from the pool or inside the caller's transaction (an append deciding under the append lock).
pub(crate) async fn stream_from(
    executor: impl sqlx::PgExecutor<'_>,
    stream_id: &str,
    from_version: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, Error> {
    let rows: Vec<EventRow> = sqlx::query_as(select_events!(
        "WHERE stream_id = $1 AND stream_version >= $2
          ORDER BY stream_version
          LIMIT $3"
    ))
    .persistent(false)
    .bind(stream_id)
    .bind(from_version)
    .bind(limit)
    .fetch_all(executor)
    .await?;
    rows.into_iter().map(RecordedEvent::try_from).collect()
}

/// [`EventStore::read_all`] from a pool, for the process's feed (which must not hold the store).
pub(crate) async fn log_after(
    pool: &sqlx::PgPool,
    after: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, Error> {
    let rows: Vec<EventRow> = sqlx::query_as(select_events!(
        "WHERE position > $1
          ORDER BY position
          LIMIT $2"
    ))
    .persistent(false)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(RecordedEvent::try_from).collect()
}
