//! Writing many rows with `COPY ... FROM STDIN (FORMAT binary)`: what a rebuild spends most of its
//! writes on (a million messages). Postgres takes binary `COPY` rows straight into the table, in
//! batches, without parsing a statement's arrays or text per value as `INSERT ... unnest` does.
//!
//! The format (<https://www.postgresql.org/docs/current/sql-copy.html>): a fixed header, then per
//! row its field count and each field as a length and the type's binary form, then `-1`.

use crate::ProjectionError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Microseconds from the Unix epoch to Postgres's (2000-01-01 UTC), where binary timestamps count from.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Rows in `COPY`'s binary format, built in memory and sent in one go.
pub(crate) struct BinaryRows {
    buf: Vec<u8>,
}

impl BinaryRows {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes + 19);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        // Flags (no OIDs), then the length of the header extension (none).
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
        Self { buf }
    }

    /// Starts a row of `fields` values; exactly that many must follow, in the statement's order.
    pub(crate) fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        // A field longer than i32::MAX bytes cannot be in an event Postgres gave us (1 GB limit).
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    pub(crate) fn uuid(&mut self, value: Uuid) -> &mut Self {
        self.field(value.as_bytes())
    }

    pub(crate) fn int8(&mut self, value: i64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    /// A `text` value: its UTF-8 bytes (the database's encoding).
    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        self.field(value.as_bytes())
    }

    pub(crate) fn timestamptz(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.int8(value.timestamp_micros() - POSTGRES_EPOCH_MICROS)
    }

    /// Sends the rows with `statement` (a `COPY <table> (<columns>) FROM STDIN (FORMAT binary)`),
    /// on `conn` and in its transaction.
    pub(crate) async fn copy_in(
        mut self,
        conn: &mut PgConnection,
        statement: &str,
    ) -> Result<u64, ProjectionError> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        let mut copy = conn.copy_in_raw(statement).await?;
        if let Err(error) = copy.send(self.buf).await {
            // Leaves the connection usable (and the transaction failed) if it still is.
            let _ = copy.abort("sending the rows failed").await;
            return Err(error.into());
        }
        Ok(copy.finish().await?)
    }
}
