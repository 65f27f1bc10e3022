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
    /// Set on a group's system entry ("ann added ben"), whose `sender` is who did it and whose
    /// `body` is `null`; absent on a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemEntry>,
    /// How many members other than the sender have read it: set on a group's messages in
    /// history pages (`GET /conversations/{id}/messages`), absent elsewhere (a pair has
    /// `peer_read_up_to`; a live frame is news before anyone could read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub seen_by: Option<i64>,
}

/// What a group's timeline entry records, besides who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SystemEntry {
    pub kind: SystemKind,
    /// Who it is about: who was added, removed or left, the new owner, whose role changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<UserRef>,
    /// A rename's new title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A role change's new role: `admin` or `member`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SystemKind {
    MemberAdded,
    MemberLeft,
    MemberRemoved,
    Renamed,
    OwnershipTransferred,
    RoleChanged,
}

impl SystemKind {
    /// As the history read model stores it.
    pub fn parse(stored: &str) -> Option<Self> {
        Some(match stored {
            "member_added" => Self::MemberAdded,
            "member_left" => Self::MemberLeft,
            "member_removed" => Self::MemberRemoved,
            "renamed" => Self::Renamed,
            "ownership_transferred" => Self::OwnershipTransferred,
            "role_changed" => Self::RoleChanged,
            _ => return None,
        })
    }
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
            system: None,
            seen_by: None,
        }
    }
}

impl Message {
    pub fn sender_id(&self) -> UserId {
        self.sender.user_id()
    }
}
