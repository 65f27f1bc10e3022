//! A message and a person as clients see them, in REST bodies and WebSocket frames alike.

use chrono::{DateTime, Utc};
use domain::{ConversationId, Member, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A person as shown next to a message or conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserRef {
    pub id: Uuid,
    /// Lower-case login name, unique.
    pub username: String,
    pub display_name: String,
}

impl From<&Member> for UserRef {
    fn from(member: &Member) -> Self {
        Self {
            id: member.id.as_uuid(),
            username: member.username.to_string(),
            display_name: member.display_name.to_string(),
        }
    }
}

impl UserRef {
    pub fn user_id(&self) -> UserId {
        UserId::from_uuid(self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// Dense and increasing within the conversation, from 1.
    pub seq: i64,
    pub sender: UserRef,
    /// `null` once deleted.
    pub body: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub client_id: String,
    pub edited: bool,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// The event-log position of the send: a real-time resume cursor.
    pub cursor: i64,
}

/// The parts of a message as it was sent; the rest of [`Message`] starts out empty.
pub struct Sent<'a> {
    pub conversation_id: ConversationId,
    pub id: Uuid,
    pub seq: i64,
    pub sender: &'a Member,
    pub body: &'a str,
    pub client_id: &'a str,
    pub sent_at: DateTime<Utc>,
    pub cursor: i64,
}

impl From<Sent<'_>> for Message {
    fn from(sent: Sent<'_>) -> Self {
        Self {
            id: sent.id,
            conversation_id: sent.conversation_id.as_uuid(),
            seq: sent.seq,
            sender: UserRef::from(sent.sender),
            body: Some(sent.body.to_owned()),
            sent_at: sent.sent_at,
            client_id: sent.client_id.to_owned(),
            edited: false,
            edited_at: None,
            deleted: false,
            cursor: sent.cursor,
        }
    }
}

impl Message {
    pub fn sender_id(&self) -> UserId {
        self.sender.user_id()
    }
}
