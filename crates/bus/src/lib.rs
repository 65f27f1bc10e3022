//! The event bus: NATS JetStream carries every committed event to the gateways and the notifier.
//!
//! Each event is published once, on its conversation's subject (`<prefix>.conv.<conversation
//! id>.<kind>`), with the users who see it in the [`TO_HEADER`] header. Gateways route it to the
//! sockets of those users that are connected to them and the notifier handles each recipient, so a
//! message costs one durable broker write however many people receive it. The publisher names the
//! recipients because it reads the log in order and so knows who was a member at each event's
//! position; a gateway never has to look membership up. Ephemeral frames (typing, presence) use
//! core NATS and are never stored: on `<prefix>.ephemeral.<user id>` for one person, or once on
//! `<prefix>.ephemeral.many` with the recipients in [`TO_HEADER`] (a group's members), so telling
//! a group costs one publish per [`EPHEMERAL_RECIPIENTS_PER_PUBLISH`] members, not one per member.

pub mod frames;
pub mod publisher;
pub mod renderer;

pub use frames::Frame;
pub use publisher::run_publisher;
pub use renderer::Renderer;

use async_nats::jetstream::{self, stream};
use async_nats::HeaderMap;
use domain::{ConversationId, UserId};
use std::time::Duration;

/// The header carrying an event's global position: the resume cursor.
pub const POSITION_HEADER: &str = "Chat-Position";

/// The header naming the users who receive an event: their ids, comma-separated.
pub const TO_HEADER: &str = "Chat-To";

/// Recipients named by one ephemeral publish at most: 37 KB of header, well under NATS's default
/// 1 MB payload limit (headers count toward it).
pub const EPHEMERAL_RECIPIENTS_PER_PUBLISH: usize = 1_000;

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
    /// A core NATS publish (ephemeral frames) failed.
    #[error("NATS: {0}")]
    Nats(String),
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

    /// Creates the stream if missing, or points an existing one at this version's subjects. File
    /// storage; the broker drops a re-published event whose `Nats-Msg-Id` it saw within the
    /// duplicate window (a publisher restart re-sends at most its last unacknowledged batch, well
    /// within it).
    pub async fn ensure_stream(&self) -> Result<stream::Stream, BusError> {
        let config = stream::Config {
            name: self.config.stream.clone(),
            subjects: vec![self.all_conversations_subject()],
            storage: stream::StorageType::File,
            max_age: self.config.max_age,
            duplicate_window: Duration::from_secs(10 * 60),
            ..Default::default()
        };
        let failed = |e: &dyn std::fmt::Display| BusError::JetStream(e.to_string());
        let existing = match self.jetstream.get_stream(&config.name).await {
            Ok(existing) => existing,
            Err(error)
                if matches!(
                    error.kind(),
                    jetstream::context::GetStreamErrorKind::JetStream(_)
                ) =>
            {
                return self
                    .jetstream
                    .get_or_create_stream(config)
                    .await
                    .map_err(|e| failed(&e));
            }
            Err(error) => return Err(failed(&error)),
        };
        if existing.cached_info().config.subjects == config.subjects {
            return Ok(existing);
        }
        // A stream made by an earlier version (per-user subjects): its stored events stay, new
        // ones use the conversation subjects.
        tracing::info!(stream = %config.name, "moving the JetStream stream to conversation subjects");
        self.jetstream
            .update_stream(config.clone())
            .await
            .map_err(|e| failed(&e))?;
        self.jetstream
            .get_stream(&config.name)
            .await
            .map_err(|e| failed(&e))
    }

    pub fn conversation_subject(&self, conversation: ConversationId, kind: &str) -> String {
        format!("{}.conv.{}.{}", self.config.prefix, conversation, kind)
    }

    /// Every durable event: what a gateway and the notifier follow.
    pub fn all_conversations_subject(&self) -> String {
        format!("{}.conv.>", self.config.prefix)
    }

    pub fn ephemeral_subject(&self, user: UserId) -> String {
        format!("{}.ephemeral.{}", self.config.prefix, user)
    }

    pub fn all_ephemeral_subject(&self) -> String {
        format!("{}.ephemeral.>", self.config.prefix)
    }

    /// An ephemeral frame for several people, named in its [`TO_HEADER`].
    pub fn ephemeral_many_subject(&self) -> String {
        ephemeral_many_subject(&self.config)
    }

    /// Who an ephemeral message is for: the user its subject names, or those its header names.
    pub fn ephemeral_recipients(&self, subject: &str, headers: Option<&HeaderMap>) -> Vec<UserId> {
        ephemeral_recipients(&self.config, subject, headers)
    }

    /// Publishes an ephemeral frame to `to`: on the person's own subject for one, else once per
    /// [`EPHEMERAL_RECIPIENTS_PER_PUBLISH`] recipients on the shared subject.
    pub async fn publish_ephemeral(&self, to: &[UserId], payload: String) -> Result<(), BusError> {
        let failed = |e: &dyn std::fmt::Display| BusError::Nats(e.to_string());
        if let [one] = to {
            return self
                .client
                .publish(self.ephemeral_subject(*one), payload.into())
                .await
                .map_err(|e| failed(&e));
        }
        let payload = bytes::Bytes::from(payload);
        for chunk in to.chunks(EPHEMERAL_RECIPIENTS_PER_PUBLISH) {
            let mut headers = HeaderMap::new();
            headers.insert(TO_HEADER, to_header(chunk).as_str());
            self.client
                .publish_with_headers(self.ephemeral_many_subject(), headers, payload.clone())
                .await
                .map_err(|e| failed(&e))?;
        }
        Ok(())
    }

    /// The user an ephemeral subject of this bus is addressed to.
    pub fn user_of(&self, subject: &str) -> Option<UserId> {
        user_of(subject)
    }
}

fn user_of(subject: &str) -> Option<UserId> {
    let mut parts = subject.split('.');
    let (_prefix, _kind, user) = (parts.next()?, parts.next()?, parts.next()?);
    uuid::Uuid::parse_str(user).ok().map(UserId::from_uuid)
}

fn ephemeral_many_subject(config: &BusConfig) -> String {
    format!("{}.ephemeral.many", config.prefix)
}

fn ephemeral_recipients(
    config: &BusConfig,
    subject: &str,
    headers: Option<&HeaderMap>,
) -> Vec<UserId> {
    match user_of(subject) {
        Some(user) => vec![user],
        None if subject == ephemeral_many_subject(config) => recipients(headers),
        None => Vec::new(),
    }
}

/// The recipients named by a published event's headers; none when the header is missing or bad.
pub fn recipients(headers: Option<&HeaderMap>) -> Vec<UserId> {
    let Some(to) = headers.and_then(|h| h.get(TO_HEADER)) else {
        return Vec::new();
    };
    to.as_str()
        .split(',')
        .filter_map(|id| uuid::Uuid::parse_str(id).ok().map(UserId::from_uuid))
        .collect()
}

/// The global position a published event carries, its resume cursor.
pub fn position(headers: Option<&HeaderMap>) -> Option<i64> {
    headers?.get(POSITION_HEADER)?.as_str().parse().ok()
}

/// The [`TO_HEADER`] value for `users`.
pub fn to_header(users: &[UserId]) -> String {
    let mut value = String::with_capacity(users.len() * 37);
    for (n, user) in users.iter().enumerate() {
        if n > 0 {
            value.push(',');
        }
        value.push_str(&user.to_string());
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_survive_the_header_both_ways() {
        let users = vec![UserId::new(), UserId::new(), UserId::new()];
        let mut headers = HeaderMap::new();
        headers.insert(TO_HEADER, to_header(&users).as_str());
        headers.insert(POSITION_HEADER, "42");
        assert_eq!(recipients(Some(&headers)), users);
        assert_eq!(position(Some(&headers)), Some(42));
        assert!(recipients(None).is_empty());
        assert_eq!(position(Some(&HeaderMap::new())), None);
    }

    #[test]
    fn an_ephemeral_frame_is_for_the_user_its_subject_names_or_those_its_header_names() {
        let bus_config = BusConfig {
            prefix: "t1".into(),
            ..BusConfig::default()
        };
        let (one, many) = (UserId::new(), vec![UserId::new(), UserId::new()]);
        let mut headers = HeaderMap::new();
        headers.insert(TO_HEADER, to_header(&many).as_str());
        let subject = |s: &str| format!("t1.ephemeral.{s}");
        let recipients_of =
            |s: &str, h: Option<&HeaderMap>| ephemeral_recipients(&bus_config, s, h);
        assert_eq!(recipients_of(&subject(&one.to_string()), None), [one]);
        assert_eq!(recipients_of(&subject("many"), Some(&headers)), many);
        assert!(recipients_of(&subject("many"), None).is_empty());
        assert!(recipients_of("t2.ephemeral.many", Some(&headers)).is_empty());
    }
}
