//! Identifiers of aggregates, as newtypes so a user id cannot be passed where another id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// A user's permanent identity; the username can be looked up from it but is a separate value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(Uuid);

impl UserId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// The event stream that holds this user's history.
    pub fn stream_id(&self) -> String {
        format!("user-{}", self.0)
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
