//! Frames a client sends: send a message, say it is typing, or ask to resume.

use crate::{announce, Gateway};
use app::{AppError, SentMessage};
use domain::{ClientId, ConversationId, Member, MessageBody, Username};
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ClientFrame {
    Send {
        conversation_id: Option<String>,
        to: Option<String>,
        body: Option<String>,
        client_id: Option<String>,
    },
    Typing {
        conversation_id: Option<String>,
    },
    Resume {
        after: Option<i64>,
    },
    /// The page went to the background (`hidden: true`) or came back.
    Visibility {
        hidden: Option<bool>,
    },
}

/// What the reader asks the writer (or the connection) to do.
pub(crate) enum Reply {
    Frame(Value),
    Resume(i64),
    Visible(bool),
    /// A send already queued for its conversation; its ack frame once it is stored. The reader
    /// keeps several in flight and reads on, so one socket's sends share group commits.
    Pending(Pin<Box<dyn Future<Output = Value> + Send>>),
}

pub(crate) fn error_frame(
    code: &str,
    message: &str,
    field: Option<&str>,
    client_id: Option<&str>,
) -> Value {
    let mut frame = json!({ "type": "error", "code": code, "message": message });
    if let Some(field) = field {
        frame["field"] = json!(field);
    }
    if let Some(client_id) = client_id {
        frame["client_id"] = json!(client_id);
    }
    frame
}

fn app_error_frame(error: &AppError, client_id: Option<&str>) -> Value {
    match error {
        AppError::Validation(v) => {
            error_frame("validation_failed", &v.message, Some(v.field), client_id)
        }
        AppError::NotFound(what) => {
            error_frame("not_found", &format!("{what} not found"), None, client_id)
        }
        AppError::Forbidden { code, message } | AppError::Conflict { code, message } => {
            error_frame(code, message, None, client_id)
        }
        AppError::Unavailable(cause) => {
            tracing::error!(%cause, "dependency unavailable during a socket command");
            error_frame(
                "unavailable",
                "the service is temporarily unavailable; please retry",
                None,
                client_id,
            )
        }
        other => {
            tracing::error!(error = %other, "socket command failed");
            error_frame(
                "internal_error",
                "something went wrong on our side",
                None,
                client_id,
            )
        }
    }
}

/// Handles one text frame; `None` when nothing is to be answered.
pub(crate) async fn handle(gateway: &Gateway, me: &Member, text: &str) -> Option<Reply> {
    let frame: ClientFrame = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(error) => {
            let code = if serde_json::from_str::<Value>(text).is_ok() {
                "unknown_type"
            } else {
                "invalid_frame"
            };
            return Some(Reply::Frame(error_frame(
                code,
                &error.to_string(),
                None,
                None,
            )));
        }
    };
    match frame {
        ClientFrame::Send {
            conversation_id,
            to,
            body,
            client_id,
        } => Some(
            match send(gateway, me, conversation_id, to, body, client_id).await {
                Ok(ack) => Reply::Pending(Box::pin(ack)),
                Err(frame) => Reply::Frame(frame),
            },
        ),
        ClientFrame::Typing { conversation_id } => {
            typing(gateway, me, conversation_id).await.map(Reply::Frame)
        }
        ClientFrame::Visibility { hidden } => Some(Reply::Visible(!hidden.unwrap_or(false))),
        ClientFrame::Resume { after } => match after {
            Some(after) if after >= 0 => Some(Reply::Resume(after)),
            _ => Some(Reply::Frame(error_frame(
                "validation_failed",
                "after must be a cursor (0 or more)",
                Some("after"),
                None,
            ))),
        },
    }
}

/// Validates a send and queues it (in frame order: a conversation named by username is looked up
/// first, here); the returned future is its ack (or error) frame once it is stored.
async fn send(
    gateway: &Gateway,
    me: &Member,
    conversation_id: Option<String>,
    to: Option<String>,
    body: Option<String>,
    client_id: Option<String>,
) -> Result<impl Future<Output = Value> + Send + 'static, Value> {
    let client = client_id.as_deref();
    let invalid =
        |message: &str, field: &str| error_frame("validation_failed", message, Some(field), client);
    let client_id = match client_id.as_deref().map(ClientId::parse) {
        Some(Ok(id)) => id,
        Some(Err(e)) => return Err(invalid(&e.message, e.field)),
        None => return Err(invalid("is required", "client_id")),
    };
    let body = match body.as_deref().map(MessageBody::parse) {
        Some(Ok(body)) => body,
        Some(Err(e)) => return Err(invalid(&e.message, e.field)),
        None => return Err(invalid("is required", "body")),
    };
    let conversations = &gateway.deps().conversations;
    let id = match (conversation_id, to) {
        (Some(id), _) => match uuid::Uuid::parse_str(&id) {
            Ok(id) => ConversationId::from_uuid(id),
            Err(_) => return Err(app_error_frame(&AppError::NotFound("conversation"), client)),
        },
        (None, Some(to)) => match Username::parse(&to) {
            Ok(to) => match conversations.with_user(me.id, &to).await {
                Ok(id) => id,
                Err(error) => return Err(app_error_frame(&error, client)),
            },
            Err(_) => return Err(invalid(&format!("there is no user named {to}"), "to")),
        },
        (None, None) => return Err(invalid("give conversation_id or to", "conversation_id")),
    };
    let client = client.map(str::to_owned);
    let sent = conversations.submit_send(id, me.id, client_id, body);
    Ok(async move {
        match sent.await {
            Ok(sent) => ack_frame(&sent),
            Err(error) => app_error_frame(&error, client.as_deref()),
        }
    })
}

fn ack_frame(sent: &SentMessage) -> Value {
    json!({
        "type": "ack",
        "client_id": sent.client_id,
        "created": sent.created,
        "message": {
            "id": sent.message_id,
            "conversation_id": sent.conversation_id,
            "seq": sent.seq,
            "sender": {
                "id": sent.sender.id,
                "username": sent.sender.username,
                "display_name": sent.sender.display_name,
            },
            "body": sent.body,
            "sent_at": sent.sent_at,
            "client_id": sent.client_id,
            "edited": false,
            "edited_at": null,
            "deleted": false,
            "cursor": sent.position,
        }
    })
}

/// Tells the peer that `me` is typing; at most once per interval per user and conversation
/// (counted in Redis, so several tabs do not multiply it). Ephemeral: never stored.
async fn typing(gateway: &Gateway, me: &Member, conversation_id: Option<String>) -> Option<Value> {
    let Some(id) = conversation_id
        .as_deref()
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
    else {
        return Some(error_frame(
            "not_found",
            "conversation not found",
            None,
            None,
        ));
    };
    let id = ConversationId::from_uuid(id);
    let deps = gateway.deps();
    let interval = deps.settings.typing_interval;
    let key = deps.kv.key(format_args!("typing:{}:{}", me.id, id));
    let first: Result<bool, redis::RedisError> = async {
        let mut conn = deps.kv.conn().await?;
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(interval.as_millis() as u64)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }
    .await;
    match first {
        Ok(true) => {}
        Ok(false) => return None,
        Err(error) => {
            tracing::warn!(%error, "typing rate limit unavailable");
            return None;
        }
    }
    let conversation = match deps.conversations.for_member(id, me.id).await {
        Ok(conversation) => conversation,
        Err(error) => return Some(app_error_frame(&error, None)),
    };
    let frame = json!({
        "type": "typing",
        "conversation_id": id,
        "user": { "id": me.id, "username": me.username, "display_name": me.display_name },
        // The indicator disappears by itself unless renewed.
        "expires_in_ms": (interval * 3).as_millis() as u64,
    });
    for peer in conversation.members().iter().filter(|m| m.id != me.id) {
        announce::publish(gateway, peer.id, &frame).await;
    }
    None
}
