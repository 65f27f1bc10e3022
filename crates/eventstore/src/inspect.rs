//! Looking into the log for operators: the streams there are, and events picked by stream,
//! position, time, type or message.

use crate::event::EventRow;
use crate::{Error, EventStore, RecordedEvent};
use chrono::{DateTime, Utc};

/// One stream as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub stream_id: String,
    /// Its number of events (the version of its last one).
    pub version: i64,
    /// When its last event was recorded; `None` only for a stream row without events.
    pub last_recorded_at: Option<DateTime<Utc>>,
}

/// Which events to read; every condition that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this stream.
    pub stream_id: Option<String>,
    /// Only events at or after this position.
    pub from_position: Option<i64>,
    /// Only events at or before this position.
    pub to_position: Option<i64>,
    /// Only events recorded at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events of this type (`MessageSent`, ...).
    pub event_type: Option<String>,
    /// Only events about one message: those whose data carries this `seq` (its send, edits and
    /// deletion).
    pub seq: Option<i64>,
}

impl EventStore {
    /// Streams whose id starts with `prefix` (all when empty), in id order, at most `limit`.
    pub async fn list_streams(&self, prefix: &str, limit: i64) -> Result<Vec<StreamInfo>, Error> {
        let rows: Vec<(String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT s.stream_id, s.version, last.recorded_at
               FROM streams s
               LEFT JOIN LATERAL (
                    SELECT recorded_at FROM events e
                     WHERE e.stream_id = s.stream_id
                     ORDER BY e.position DESC LIMIT 1) last ON true
              WHERE starts_with(s.stream_id, $1)
              ORDER BY s.stream_id
              LIMIT $2",
        )
        .bind(prefix)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(stream_id, version, last_recorded_at)| StreamInfo {
                stream_id,
                version,
                last_recorded_at,
            })
            .collect())
    }

    /// The events matching `filter` with `position > after`, in position order, at most `limit`:
    /// call again with the last position to page through.
    pub async fn read_filtered(
        &self,
        filter: &EventFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, Error> {
        // Unprepared, so each call is planned for the conditions actually set.
        let rows: Vec<EventRow> = sqlx::query_as(select_events!(
            "WHERE position > GREATEST($1, $2 - 1)
                AND ($3::bigint IS NULL OR position <= $3)
                AND ($4::text IS NULL OR stream_id = $4)
                AND ($5::timestamptz IS NULL OR recorded_at >= $5)
                AND ($6::text IS NULL OR event_type = $6)
                AND ($7::bigint IS NULL OR data -> 'seq' = to_jsonb($7::bigint))
              ORDER BY position
              LIMIT $8"
        ))
        .persistent(false)
        .bind(after)
        .bind(filter.from_position.unwrap_or(0))
        .bind(filter.to_position)
        .bind(filter.stream_id.as_deref())
        .bind(filter.since)
        .bind(filter.event_type.as_deref())
        .bind(filter.seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(RecordedEvent::try_from).collect()
    }

    /// The last `count` events of the log, oldest first.
    pub async fn read_last(&self, count: i64) -> Result<Vec<RecordedEvent>, Error> {
        let mut rows: Vec<EventRow> = sqlx::query_as(select_events!(
            "ORDER BY position DESC
              LIMIT $1"
        ))
        .bind(count)
        .fetch_all(&self.pool)
        .await?;
        rows.reverse();
        rows.into_iter().map(RecordedEvent::try_from).collect()
    }
}
