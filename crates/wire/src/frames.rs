//! Every WebSocket frame, both ways.
//!
//! Durable frames (`conversation.started`, `conversation.muted`, `message.*`, `read`) carry `cursor`, the event's global
//! position, which a client passes back to resume. The others are answers to one socket (`hello`,
//! `ack`, `error`) or ephemeral news from peers (`typing`, `presence`), never stored.

use crate::{Message, UserRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What the server sends on a socket (and what the bus carries to gateways and the notifier).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type")]
pub enum ServerFrame {
    /// The first frame on every socket: who is connected and the log's head when it opened.
    #[serde(rename = "hello")]
    Hello { user: UserRef, cursor: i64 },
    /// A pair started, or a group created (with its `title`; `members` are its first members).
    #[serde(rename = "conversation.started")]
    ConversationStarted {
        cursor: i64,
        conversation_id: Uuid,
        members: Vec<UserRef>,
        /// A group's title; absent for a pair.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    #[serde(rename = "message.new")]
    MessageNew {
        cursor: i64,
        conversation_id: Uuid,
        message: Message,
    },
    #[serde(rename = "message.edited")]
    MessageEdited {
        cursor: i64,
        conversation_id: Uuid,
        message_id: Uuid,
        seq: i64,
        body: String,
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
    /// A read receipt: `reader_id` has read the conversation up to `up_to` (a seq).
    #[serde(rename = "read")]
    Read {
        cursor: i64,
        conversation_id: Uuid,
        reader_id: Uuid,
        up_to: i64,
    },
    /// The user turned notifications of a conversation off (`muted: true`) or on; only their
    /// own devices get it.
    #[serde(rename = "conversation.muted")]
    ConversationMuted {
        cursor: i64,
        conversation_id: Uuid,
        muted: bool,
    },
    /// A `send` of this socket is stored (`created: false` for a resend of a known `client_id`).
    #[serde(rename = "ack")]
    Ack {
        client_id: String,
        created: bool,
        message: Message,
    },
    #[serde(rename = "error")]
    Error(ErrorFrame),
    #[serde(rename = "typing")]
    Typing {
        conversation_id: Uuid,
        user: UserRef,
        /// The indicator disappears by itself unless renewed.
        expires_in_ms: u64,
    },
    #[serde(rename = "presence")]
    Presence {
        user_id: Uuid,
        online: bool,
        last_seen: Option<DateTime<Utc>>,
        /// When the status was read (Unix milliseconds): announcements from a closing and an
        /// opening socket can cross, and a client keeps the newest.
        at: u64,
    },
}

/// A refused client frame: the same `code`/`message`/`field` as the REST API's errors, and the
/// `client_id` of the refused send when there was one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorFrame {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Over a rate limit (`too_many_requests`): when the client may try again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ServerFrame {
    /// The frame's `type`, also the last part of its bus subject (e.g. `message.new`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::ConversationStarted { .. } => "conversation.started",
            Self::MessageNew { .. } => "message.new",
            Self::MessageEdited { .. } => "message.edited",
            Self::MessageDeleted { .. } => "message.deleted",
            Self::Read { .. } => "read",
            Self::ConversationMuted { .. } => "conversation.muted",
            Self::Ack { .. } => "ack",
            Self::Error(_) => "error",
            Self::Typing { .. } => "typing",
            Self::Presence { .. } => "presence",
        }
    }

    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        // Plain structs with string keys: serializing cannot fail, but if it ever did the client
        // gets an error frame rather than nothing.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal_error","message":"a frame could not be encoded"}"#
                .to_owned()
        })
    }

    pub fn error(code: &str, message: &str) -> Self {
        Self::Error(ErrorFrame {
            code: code.to_owned(),
            message: message.to_owned(),
            field: None,
            client_id: None,
            retry_after_ms: None,
        })
    }

    /// Over a rate limit: the client may try again after `retry_after_ms`.
    pub fn rate_limited(retry_after_ms: u64) -> Self {
        Self::Error(ErrorFrame {
            code: "too_many_requests".to_owned(),
            message: format!("too many requests; try again in {retry_after_ms} ms"),
            field: None,
            client_id: None,
            retry_after_ms: Some(retry_after_ms),
        })
    }

    /// A refused value, naming the field like the REST API's 422.
    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Error(ErrorFrame {
            code: "validation_failed".to_owned(),
            message: message.to_owned(),
            field: Some(field.to_owned()),
            client_id: None,
            retry_after_ms: None,
        })
    }

    /// Ties an error to the send it refuses; other frames are unchanged.
    pub fn for_send(mut self, client_id: Option<&str>) -> Self {
        if let Self::Error(error) = &mut self {
            error.client_id = client_id.map(str::to_owned);
        }
        self
    }
}

/// What a client sends. Fields are optional here so that a missing one is answered with an
/// error frame naming it, not a generic parse failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// A message to a conversation (`conversation_id`) or to a person (`to`, a username).
    Send {
        conversation_id: Option<String>,
        to: Option<String>,
        body: Option<String>,
        client_id: Option<String>,
    },
    Typing {
        conversation_id: Option<String>,
    },
    /// Replays every durable frame after the cursor, then continues live.
    Resume {
        after: Option<i64>,
    },
    /// The page went to the background (`hidden: true`) or came back.
    Visibility {
        hidden: Option<bool>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ann() -> UserRef {
        UserRef {
            id: Uuid::nil(),
            username: "ann".into(),
            display_name: "Ann".into(),
        }
    }

    #[test]
    fn frames_keep_the_documented_json_shape() {
        let at: DateTime<Utc> = "2026-01-02T03:04:05Z".parse().unwrap();
        let message = Message {
            id: Uuid::nil(),
            conversation_id: Uuid::nil(),
            seq: 3,
            sender: ann(),
            body: Some("hi".into()),
            sent_at: at,
            client_id: "c1".into(),
            edited: false,
            edited_at: None,
            deleted: false,
            cursor: 42,
            system: None,
            seen_by: None,
        };
        let cases = [
            (
                ServerFrame::MessageNew {
                    cursor: 42,
                    conversation_id: Uuid::nil(),
                    message: message.clone(),
                },
                json!({
                    "type": "message.new", "cursor": 42, "conversation_id": Uuid::nil(),
                    "message": {
                        "id": Uuid::nil(), "conversation_id": Uuid::nil(), "seq": 3,
                        "sender": {"id": Uuid::nil(), "username": "ann", "display_name": "Ann"},
                        "body": "hi", "sent_at": "2026-01-02T03:04:05Z", "client_id": "c1",
                        "edited": false, "edited_at": null, "deleted": false, "cursor": 42
                    }
                }),
            ),
            (
                ServerFrame::invalid("body", "is required").for_send(Some("c1")),
                json!({"type": "error", "code": "validation_failed", "message": "is required",
                       "field": "body", "client_id": "c1"}),
            ),
            (
                ServerFrame::error("not_found", "conversation not found"),
                json!({"type": "error", "code": "not_found", "message": "conversation not found"}),
            ),
            (
                ServerFrame::Read {
                    cursor: 7,
                    conversation_id: Uuid::nil(),
                    reader_id: Uuid::nil(),
                    up_to: 3,
                },
                json!({"type": "read", "cursor": 7, "conversation_id": Uuid::nil(),
                       "reader_id": Uuid::nil(), "up_to": 3}),
            ),
            (
                ServerFrame::Presence {
                    user_id: Uuid::nil(),
                    online: false,
                    last_seen: Some(at),
                    at: 5,
                },
                json!({"type": "presence", "user_id": Uuid::nil(), "online": false,
                       "last_seen": "2026-01-02T03:04:05Z", "at": 5}),
            ),
        ];
        for (frame, expected) in cases {
            let kind = frame.kind();
            let text = serde_json::to_string(&frame).unwrap();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value, expected, "{kind}");
            assert_eq!(value["type"], kind, "{kind}: kind() names the type");
            let back: ServerFrame = serde_json::from_str(&text).unwrap();
            assert_eq!(back, frame, "{kind}: reads back");
        }
    }

    #[test]
    fn a_client_frame_with_missing_fields_still_parses_so_the_answer_can_name_them() {
        let frame: ClientFrame = serde_json::from_str(r#"{"type":"send","to":"ben"}"#).unwrap();
        assert_eq!(
            frame,
            ClientFrame::Send {
                conversation_id: None,
                to: Some("ben".into()),
                body: None,
                client_id: None
            }
        );
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
    }
}
