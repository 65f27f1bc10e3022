//! Where generated events go: one import transaction, in pages, at the positions after the log's
//! head, recorded a millisecond apart and ending about now, with progress on stderr.

use crate::progress::Reporter;
use crate::CtlError;
use chrono::{DateTime, Duration, Utc};
use eventstore::{EventStore, ExportedEvent, Importer};
use serde::Serialize;
use serde_json::value::RawValue;
use std::time::Duration as Elapsed;

/// Events per insert.
const PAGE: usize = 10_000;

pub(super) struct Writer {
    importer: Importer,
    page: Vec<ExportedEvent>,
    /// The last position written.
    position: i64,
    /// Where the log will end, for the progress bar.
    head: i64,
    /// The first event's recorded time.
    start: DateTime<Utc>,
    written: u64,
    reporter: Reporter,
    /// Every generated event says so, whichever aggregate it belongs to.
    metadata: Box<RawValue>,
}

/// What a finished run wrote.
pub(super) struct Written {
    pub events: u64,
    pub head: i64,
    pub elapsed: Elapsed,
}

impl Writer {
    /// Ready to write `events` events.
    pub(super) async fn open(store: &EventStore, events: u64) -> Result<Self, CtlError> {
        let importer = store.import(true).await?;
        let position = store.head_position().await?;
        Ok(Self {
            importer,
            page: Vec::with_capacity(PAGE),
            position,
            head: position + events as i64,
            start: Utc::now() - Duration::milliseconds(events as i64),
            written: 0,
            reporter: Reporter::new("generate"),
            metadata: RawValue::from_string("{\"actor\": \"system:generate\"}".to_owned())
                .map_err(|e| CtlError::Failed(e.into()))?,
        })
    }

    /// Events written so far.
    pub(super) fn written(&self) -> u64 {
        self.written
    }

    /// The recorded time of the next event, which its own time (sent, read, added) matches.
    pub(super) fn next_at(&self) -> DateTime<Utc> {
        self.start + Duration::milliseconds(self.written as i64)
    }

    /// Appends `event` to `stream_id`, whose version it makes `stream_version`.
    pub(super) async fn push<E: Serialize>(
        &mut self,
        stream_id: String,
        stream_version: i64,
        event_id: uuid::Uuid,
        event_type: &str,
        event: &E,
    ) -> Result<(), CtlError> {
        let data = serde_json::to_string(event)
            .and_then(RawValue::from_string)
            .map_err(|e| CtlError::Failed(e.into()))?;
        let recorded_at = self.next_at();
        self.position += 1;
        self.written += 1;
        self.page.push(ExportedEvent {
            position: self.position,
            event_id,
            stream_id,
            stream_version,
            event_type: event_type.to_owned(),
            schema_version: 1,
            data,
            metadata: self.metadata.clone(),
            recorded_at,
        });
        if self.page.len() >= PAGE {
            self.importer.write(&self.page).await?;
            self.page.clear();
            self.reporter.update(projections::Progress {
                position: self.position,
                head: self.head,
                applied: self.written,
            });
        }
        Ok(())
    }

    /// Commits everything written.
    pub(super) async fn finish(mut self) -> Result<Written, CtlError> {
        self.importer.write(&self.page).await?;
        let events = self.importer.finish().await?;
        Ok(Written {
            events,
            head: self.position,
            elapsed: self.reporter.finish(),
        })
    }
}
