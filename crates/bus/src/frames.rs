//! What clients receive for each durable event, and who receives it.
//!
//! Rendered once, by the publisher (live) or by a gateway replaying a backlog (resume), so both
//! paths send byte-for-byte the same frames. Each carries `cursor`, the event's global position.

use chrono::{DateTime, Utc};
use domain::{ConversationEvent, Member, UserId};
use eventstore::RecordedEvent;
use serde::Serialize;
use uuid::Uuid;

/// A rendered frame addressed to one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub to: UserId,
    /// The event kind in subjects, e.g. `message.new`.
    pub kind: &'static str,
    pub cursor: i64,
    /// The JSON text sent to the client.
    pub json: String,
}

#[derive(Serialize)]
struct UserRef<'a> {
    id: UserId,
    username: &'a str,
    display_name: &'a str,
}

impl<'a> From<&'a Member> for UserRef<'a> {
    fn from(m: &'a Member) -> Self {
        Self {
            id: m.id,
            username: m.username.as_str(),
            display_name: m.display_name.as_str(),
        }
    }
}

/// The same shape as the REST API's message.
#[derive(Serialize)]
struct MessageView<'a> {
    id: Uuid,
    conversation_id: Uuid,
    seq: i64,
    sender: UserRef<'a>,
    body: &'a str,
    sent_at: DateTime<Utc>,
    client_id: &'a str,
    edited: bool,
    edited_at: Option<DateTime<Utc>>,
    deleted: bool,
    cursor: i64,
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Durable<'a> {
    #[serde(rename = "conversation.started")]
    ConversationStarted {
        cursor: i64,
        conversation_id: Uuid,
        members: Vec<UserRef<'a>>,
    },
    #[serde(rename = "message.new")]
    MessageNew {
        cursor: i64,
        conversation_id: Uuid,
        message: MessageView<'a>,
    },
    #[serde(rename = "message.edited")]
    MessageEdited {
        cursor: i64,
        conversation_id: Uuid,
        message_id: Uuid,
        seq: i64,
        body: &'a str,
        edited_at: DateTime<Utc>,
    },
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        cursor: i64,
        conversation_id: Uuid,
        message_id: Uuid,
        seq: i64,
        deleted_at: DateTime<Utc>,
    },
    #[serde(rename = "read")]
    Read {
        cursor: i64,
        conversation_id: Uuid,
        reader_id: UserId,
        up_to: i64,
    },
}

/// The frames of one stored event (none for events clients do not see).
pub fn render(event: &RecordedEvent) -> Result<Vec<Frame>, crate::BusError> {
    if !event.stream_id.starts_with("conversation-") {
        return Ok(vec![]);
    }
    let cursor = event.position;
    let decoded: ConversationEvent = event.decode()?;
    let (kind, recipients, frame) = match &decoded {
        ConversationEvent::ConversationStarted {
            conversation_id,
            members,
        } => (
            "conversation.started",
            vec![members[0].id, members[1].id],
            Durable::ConversationStarted {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                members: members.iter().map(UserRef::from).collect(),
            },
        ),
        ConversationEvent::MessageSent {
            conversation_id,
            message_id,
            seq,
            sender,
            recipient,
            body,
            client_id,
            sent_at,
        } => (
            "message.new",
            // The sender's other devices see their own messages too.
            vec![recipient.id, sender.id],
            Durable::MessageNew {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                message: MessageView {
                    id: *message_id,
                    conversation_id: conversation_id.as_uuid(),
                    seq: *seq,
                    sender: UserRef::from(sender),
                    body: body.as_str(),
                    sent_at: *sent_at,
                    client_id: client_id.as_str(),
                    edited: false,
                    edited_at: None,
                    deleted: false,
                    cursor,
                },
            },
        ),
        ConversationEvent::MessageEdited {
            conversation_id,
            message_id,
            seq,
            editor_id,
            recipient_id,
            body,
            edited_at,
        } => (
            "message.edited",
            vec![*recipient_id, *editor_id],
            Durable::MessageEdited {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                message_id: *message_id,
                seq: *seq,
                body: body.as_str(),
                edited_at: *edited_at,
            },
        ),
        ConversationEvent::MessageDeleted {
            conversation_id,
            message_id,
            seq,
            deleted_by,
            recipient_id,
            deleted_at,
        } => (
            "message.deleted",
            vec![*recipient_id, *deleted_by],
            Durable::MessageDeleted {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                message_id: *message_id,
                seq: *seq,
                deleted_at: *deleted_at,
            },
        ),
        ConversationEvent::MessagesRead {
            conversation_id,
            reader_id,
            peer_id,
            up_to,
            ..
        } => (
            "read",
            vec![*peer_id, *reader_id],
            Durable::Read {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                reader_id: *reader_id,
                up_to: *up_to,
            },
        ),
    };
    let json = serde_json::to_string(&frame)?;
    Ok(recipients
        .into_iter()
        .map(|to| Frame {
            to,
            kind,
            cursor,
            json: json.clone(),
        })
        .collect())
}
