//! The event bus: NATS JetStream carries every committed event to the gateways and the notifier.
//!
//! Subjects are per user (`<prefix>.user.<user id>.<kind>`): an event that concerns two people is
//! published once for each, so a consumer filters by user with a subject wildcard. Ephemeral frames
//! (typing, presence) use core NATS on `<prefix>.ephemeral.<user id>` and are never stored.

pub mod frames;
pub mod publisher;

pub use frames::{render, Frame};
pub use publisher::run_publisher;

use async_nats::jetstream::{self, stream};
use domain::UserId;
use std::time::Duration;

/// The header carrying an event's global position: the resume cursor.
pub const POSITION_HEADER: &str = "Chat-Position";

#[derive(Debug, Clone)]
pub struct BusConfig {
    /// The JetStream stream's name (tests use one each).
    pub stream: String,
    /// The first token of every subject (tests use one each).
    pub prefix: String,
    /// How long JetStream keeps events; resume further back goes to Postgres.
    pub max_age: Duration,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            stream: "CHAT".into(),
            prefix: "chat".into(),
            max_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error(transparent)]
    Store(#[from] eventstore::Error),
    #[error("frame could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub config: BusConfig,
}

impl Bus {
    pub fn new(client: async_nats::Client, config: BusConfig) -> Self {
        let jetstream = jetstream::new(client.clone());
        Self {
            client,
            jetstream,
            config,
        }
    }

    /// Creates the stream if missing. File storage; the broker drops a re-published event whose
    /// `Nats-Msg-Id` it saw within the duplicate window (a publisher restart re-sends at most its
    /// last unacknowledged batch, well within it).
    pub async fn ensure_stream(&self) -> Result<stream::Stream, BusError> {
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: self.config.stream.clone(),
                subjects: vec![format!("{}.user.>", self.config.prefix)],
                storage: stream::StorageType::File,
                max_age: self.config.max_age,
                duplicate_window: Duration::from_secs(10 * 60),
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::JetStream(e.to_string()))
    }

    pub fn user_subject(&self, user: UserId, kind: &str) -> String {
        format!("{}.user.{}.{}", self.config.prefix, user, kind)
    }

    /// Everything durable for every user: what a gateway follows.
    pub fn all_users_subject(&self) -> String {
        format!("{}.user.>", self.config.prefix)
    }

    pub fn ephemeral_subject(&self, user: UserId) -> String {
        format!("{}.ephemeral.{}", self.config.prefix, user)
    }

    pub fn all_ephemeral_subject(&self) -> String {
        format!("{}.ephemeral.>", self.config.prefix)
    }

    /// The user a subject of this bus is addressed to.
    pub fn user_of(&self, subject: &str) -> Option<UserId> {
        let mut parts = subject.split('.');
        let (_prefix, _kind, user) = (parts.next()?, parts.next()?, parts.next()?);
        uuid::Uuid::parse_str(user).ok().map(UserId::from_uuid)
    }
}
