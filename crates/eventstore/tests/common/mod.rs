//! What the event store's integration tests share.

use eventstore::{Metadata, NewEvent};
use serde_json::json;
use uuid::Uuid;

/// A fresh event of type `kind` carrying `n`, to tell events apart when read back.
pub fn event(kind: &str, n: i64) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: kind.to_owned(),
        schema_version: 1,
        data: json!({ "n": n }),
        metadata: Metadata::default(),
    }
}
