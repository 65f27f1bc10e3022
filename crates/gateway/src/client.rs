//! Frames a client sends: send a message, say it is typing, or ask to resume.

use crate::{announce, Gateway};
use app::AppError;
use domain::{ClientId, ConversationId, Member, MessageBody, Username};
use kv::Limit;
use std::future::Future;
use std::pin::Pin;
use wire::{ClientFrame, ServerFrame, UserRef};

/// What the reader asks the writer (or the connection) to do.
pub(crate) enum Reply {
    /// Boxed: a reply waits in a per-socket channel, whose slots are sized for the largest variant.
    Frame(Box<ServerFrame>),
    Resume(i64),
    Visible(bool),
    /// Close the socket with this code and reason (the reader stops after asking).
    Close(u16, &'static str),
    /// A send already queued for its conversation; its ack frame once it is stored. The reader
    /// keeps several in flight and reads on, so one socket's sends share group commits.
    Pending(Pin<Box<dyn Future<Output = ServerFrame> + Send>>),
}

/// The one mapping of a command's error to an error frame (the HTTP edge has its own, with
/// statuses); unexpected errors are logged here with their cause chain.
fn app_error_frame(error: &AppError, client_id: Option<&str>) -> ServerFrame {
    error.log("socket command");
    ServerFrame::Error(wire::ErrorFrame {
        code: error.code().to_owned(),
        message: error.public_message(),
        field: error.field().map(str::to_owned),
        client_id: client_id.map(str::to_owned),
        retry_after_ms: None,
    })
}

/// Handles one text frame; `None` when nothing is to be answered.
pub(crate) async fn handle(gateway: &Gateway, me: &Member, text: &str) -> Option<Reply> {
    let frame: ClientFrame = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(error) => {
            let code = if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                "unknown_type"
            } else {
                "invalid_frame"
            };
            return Some(Reply::Frame(Box::new(ServerFrame::error(
                code,
                &error.to_string(),
            ))));
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
                Err(frame) => Reply::Frame(Box::new(frame)),
            },
        ),
        ClientFrame::Typing { conversation_id } => typing(gateway, me, conversation_id)
            .await
            .map(|frame| Reply::Frame(Box::new(frame))),
        ClientFrame::Visibility { hidden } => Some(Reply::Visible(!hidden.unwrap_or(false))),
        ClientFrame::Resume { after } => match after {
            Some(after) if after >= 0 => Some(Reply::Resume(after)),
            _ => Some(Reply::Frame(Box::new(ServerFrame::invalid(
                "after",
                "after must be a cursor (0 or more)",
            )))),
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
) -> Result<impl Future<Output = ServerFrame> + Send + 'static, ServerFrame> {
    let client = client_id.as_deref();
    let invalid =
        |message: &str, field: &str| ServerFrame::invalid(field, message).for_send(client);
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
    if let Some(wait) = gateway.deps().rate.check(Limit::Send, me.id).await {
        return Err(ServerFrame::rate_limited(wait.as_millis() as u64).for_send(client));
    }
    let conversations = &gateway.deps().conversations;
    // One bound for what this send's sender waits for: the look-up and the ack.
    let deadline = conversations.deadline().clone();
    let until = deadline.from_now();
    let id = match (conversation_id, to) {
        (Some(id), _) => match uuid::Uuid::parse_str(&id) {
            Ok(id) => ConversationId::from_uuid(id),
            Err(_) => return Err(app_error_frame(&AppError::NotFound("conversation"), client)),
        },
        (None, Some(to)) => match Username::parse(&to) {
            Ok(to) => match deadline
                .run_until(until, conversations.with_user(me.id, &to))
                .await
                .flatten()
            {
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
        match deadline.run_until(until, sent).await.flatten() {
            Ok(sent) => ServerFrame::Ack {
                client_id: sent.client_id.clone(),
                created: sent.created,
                message: sent.message(),
            },
            Err(error) => app_error_frame(&error, client.as_deref()),
        }
    })
}

/// Tells the other members (a pair's peer, a group's others) that `me` is typing, in one publish
/// per 1,000 of them; at most once per interval per user and conversation (counted in Redis, so
/// several tabs do not multiply it). Ephemeral: never stored.
async fn typing(
    gateway: &Gateway,
    me: &Member,
    conversation_id: Option<String>,
) -> Option<ServerFrame> {
    let Some(id) = conversation_id
        .as_deref()
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
    else {
        return Some(app_error_frame(&AppError::NotFound("conversation"), None));
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
    let frame = ServerFrame::Typing {
        conversation_id: id.as_uuid(),
        user: UserRef::from(me),
        expires_in_ms: (interval * 3).as_millis() as u64,
    };
    let others: Vec<_> = conversation
        .members()
        .iter()
        .map(|m| m.id)
        .filter(|id| *id != me.id)
        .collect();
    announce::publish(gateway, &others, &frame).await;
    None
}
