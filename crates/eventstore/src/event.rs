//! Events as written (`NewEvent`) and as read back: whole (`RecordedEvent`), or only what a
//! replay of the log needs, with the payload left as JSON text (`RawEvent`).

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

/// Who and what caused an event; stored beside it, never interpreted by the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Shared by every event that one user request caused, across streams and processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The event (or command) that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The user or process that issued the command, e.g. `user:<uuid>` or `system:projector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Chosen by the writer, and the same on a retry: it is what makes appends idempotent.
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub data: serde_json::Value,
    pub metadata: Metadata,
}

impl NewEvent {
    /// Serializes a domain event; `event_type` is the stored name consumers dispatch on.
    pub fn from_data<T: Serialize>(
        event_id: Uuid,
        event_type: impl Into<String>,
        data: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event_id,
            event_type: event_type.into(),
            schema_version: 1,
            data: serde_json::to_value(data)?,
            metadata: Metadata::default(),
        })
    }

    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// An event as stored, with its place in its stream and in the global log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// The global position: increasing in commit order, with gaps where an append rolled back.
    pub position: i64,
    pub event_id: Uuid,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub data: serde_json::Value,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// Deserializes the payload into a domain event type.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        // From a reference: no copy of the payload per event (a rebuild decodes millions).
        T::deserialize(&self.data).map_err(|source| crate::Error::Decode {
            position: self.position,
            source,
        })
    }
}

/// An event as a replay of the whole log reads it: the payload stays JSON text until the consumer
/// decodes it straight into its own type, and the columns a projector does not use are not read.
///
/// A rebuild decodes millions of events: through a `serde_json::Value` that cost most of the
/// reader's CPU (a tree of allocations per event, built, copied into the event type and dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub position: i64,
    pub event_id: Uuid,
    pub stream_id: String,
    pub event_type: String,
    pub recorded_at: DateTime<Utc>,
    /// The payload's JSON text, as Postgres renders the stored `jsonb`.
    pub data: String,
}

impl RawEvent {
    /// Deserializes the payload into a domain event type, straight from its text.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        serde_json::from_str(&self.data).map_err(|source| crate::Error::Decode {
            position: self.position,
            source,
        })
    }
}

/// What a consumer of the log needs of an event, however it was read: projections are written once
/// against this and fed [`RecordedEvent`]s by the live projector, [`RawEvent`]s by replays.
pub trait LoggedEvent: Send + Sync {
    fn position(&self) -> i64;
    fn event_id(&self) -> Uuid;
    fn stream_id(&self) -> &str;
    fn event_type(&self) -> &str;
    fn recorded_at(&self) -> DateTime<Utc>;
    /// Deserializes the payload into a domain event type.
    fn decode<T: DeserializeOwned>(&self) -> Result<T, crate::Error>;
}

/// Shared events (a subscription's batches) are read in place.
impl<E: LoggedEvent + ?Sized> LoggedEvent for std::sync::Arc<E> {
    fn position(&self) -> i64 {
        (**self).position()
    }
    fn event_id(&self) -> Uuid {
        (**self).event_id()
    }
    fn stream_id(&self) -> &str {
        (**self).stream_id()
    }
    fn event_type(&self) -> &str {
        (**self).event_type()
    }
    fn recorded_at(&self) -> DateTime<Utc> {
        (**self).recorded_at()
    }
    fn decode<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        (**self).decode()
    }
}

impl LoggedEvent for RecordedEvent {
    fn position(&self) -> i64 {
        self.position
    }
    fn event_id(&self) -> Uuid {
        self.event_id
    }
    fn stream_id(&self) -> &str {
        &self.stream_id
    }
    fn event_type(&self) -> &str {
        &self.event_type
    }
    fn recorded_at(&self) -> DateTime<Utc> {
        self.recorded_at
    }
    fn decode<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        RecordedEvent::decode(self)
    }
}

impl LoggedEvent for RawEvent {
    fn position(&self) -> i64 {
        self.position
    }
    fn event_id(&self) -> Uuid {
        self.event_id
    }
    fn stream_id(&self) -> &str {
        &self.stream_id
    }
    fn event_type(&self) -> &str {
        &self.event_type
    }
    fn recorded_at(&self) -> DateTime<Utc> {
        self.recorded_at
    }
    fn decode<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        RawEvent::decode(self)
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub position: i64,
    pub event_id: Uuid,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

impl TryFrom<EventRow> for RecordedEvent {
    type Error = crate::Error;

    fn try_from(row: EventRow) -> Result<Self, Self::Error> {
        let metadata =
            serde_json::from_value(row.metadata).map_err(|source| crate::Error::Decode {
                position: row.position,
                source,
            })?;
        Ok(Self {
            position: row.position,
            event_id: row.event_id,
            stream_id: row.stream_id,
            stream_version: row.stream_version,
            event_type: row.event_type,
            schema_version: row.schema_version,
            data: row.data,
            metadata,
            recorded_at: row.recorded_at,
        })
    }
}
