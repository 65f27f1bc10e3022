//! Conversations and their messages: start, list, send, page through history, read, edit, delete.
//!
//! Commands go through `app::Conversations` (the event store decides); reads come from the history
//! read model. After a command, the handler waits (briefly) for the read model to pass the command's
//! position, so whoever acted sees the effect in the next read.

use crate::auth::Authenticated;
use crate::dto::{
    ConversationDto, ConversationEnvelope, ConversationList, EditRequest, HistoryPage,
    HistoryParams, Message, MessageEnvelope, ReadRequest, RenameRequest, SendRequest,
    SendToRequest, StartRequest, UserRef,
};
use crate::error::{ApiError, ErrorBody};
use crate::ids::{conversation_id, message_id};
use crate::json::{required, ApiJson};
use crate::limits::within;
use crate::params::{ApiPath, ApiQuery};
use crate::state::ApiState;
use app::SentMessage;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::{ClientId, ConversationId, GroupTitle, MessageBody, Username};
use kv::Limit;
use projections::history::{queries, receipts};
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// How long a command waits for the read model before answering anyway.
const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(2);
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 100;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(start_conversation, list_conversations))
        .routes(routes!(get_conversation, rename_conversation))
        .routes(routes!(send_message, history))
        .routes(routes!(send_message_to_user))
        .routes(routes!(mark_read))
        .routes(routes!(mute_conversation, unmute_conversation))
        .routes(routes!(edit_message, delete_message))
}

/// Read-your-writes, moved from the writes to the reads: a read of the history read model first
/// waits until the model has applied everything committed before the read began, so whatever
/// this client (or anyone) had acknowledged is in it, whichever API process took the write.
pub(crate) async fn caught_up(state: &ApiState) -> Result<(), ApiError> {
    let caught_up = state
        .history
        .catch_up(READ_YOUR_WRITES_WAIT)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    if !caught_up {
        tracing::warn!("history read model is lagging; answering anyway");
    }
    Ok(())
}

pub(super) async fn wait_for_history(state: &ApiState, position: Option<i64>) {
    if let Some(position) = position {
        if !state
            .history
            .wait_for(position, READ_YOUR_WRITES_WAIT)
            .await
        {
            tracing::warn!(position, "history read model is lagging; answering anyway");
        }
    }
}

pub(super) async fn me(state: &ApiState, auth: &Authenticated) -> Result<UserRef, ApiError> {
    Ok(user_ref(
        state.accounts.profile(auth.session.user_id).await?,
    ))
}

fn user_ref(profile: app::UserProfile) -> UserRef {
    UserRef {
        id: profile.id.as_uuid(),
        username: profile.username.to_string(),
        display_name: profile.display_name.to_string(),
    }
}

async fn summary(
    state: &ApiState,
    auth: &Authenticated,
    id: ConversationId,
) -> Result<ConversationDto, ApiError> {
    let me = me(state, auth).await?;
    let summary = queries::conversation_for(&state.pool, me.id, id.as_uuid())
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    Ok(ConversationDto::new(&me, summary))
}

#[utoipa::path(
    post, path = "/api/v1/conversations", tag = "conversations",
    request_body = StartRequest,
    responses(
        (status = 201, description = "Started", body = ConversationEnvelope),
        (status = 200, description = "Already existed: the same pair always gets the same conversation", body = ConversationEnvelope),
        (status = 422, description = "Unknown user or yourself (field `with`)", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn start_conversation(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<StartRequest>,
) -> Result<(StatusCode, Json<ConversationEnvelope>), ApiError> {
    let raw = required(&body.with, "with")?;
    let with = Username::parse(raw)
        .map_err(|_| ApiError::validation("with", format!("there is no user named {raw}")))?;
    within(&state.rate, Limit::Start, auth.session.user_id).await?;
    let (id, appended) = state
        .conversations
        .start(auth.session.user_id, &with)
        .await?;
    wait_for_history(&state, appended).await;
    let status = if appended.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let me = me(&state, &auth).await?;
    let conversation = match queries::conversation_for(&state.pool, me.id, id.as_uuid()).await? {
        Some(summary) => ConversationDto::new(&me, summary),
        // The model lags (its projector is slow or down): the start stands, and its answer
        // must not say otherwise.
        None => {
            let peer = user_ref(state.accounts.profile_by_username(&with).await?);
            ConversationDto::not_yet_projected(&me, id.as_uuid(), peer)
        }
    };
    Ok((status, Json(ConversationEnvelope { conversation })))
}

#[utoipa::path(
    get, path = "/api/v1/conversations", tag = "conversations",
    responses((status = 200, description = "Most recent activity first", body = ConversationList)),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn list_conversations(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Json<ConversationList>, ApiError> {
    let me = me(&state, &auth).await?;
    caught_up(&state).await?;
    let rows = queries::list_conversations(&state.pool, me.id, 500).await?;
    Ok(Json(ConversationList {
        conversations: rows
            .into_iter()
            .map(|s| ConversationDto::new(&me, s))
            .collect(),
    }))
}

#[utoipa::path(
    get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The conversation", body = ConversationEnvelope),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn get_conversation(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConversationEnvelope>, ApiError> {
    let id = conversation_id(&id)?;
    caught_up(&state).await?;
    let conversation = summary(&state, &auth, id).await?;
    Ok(Json(ConversationEnvelope { conversation }))
}

#[utoipa::path(
    patch, path = "/api/v1/conversations/{id}", tag = "groups",
    params(("id" = Uuid, Path)),
    request_body = RenameRequest,
    responses(
        (status = 200, description = "Renamed (a timeline entry says so)", body = ConversationEnvelope),
        (status = 403, description = "Only the owner and admins rename (code not_admin)", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 409, description = "A pair has no title (code not_a_group)", body = ErrorBody),
        (status = 422, description = "Invalid title (field `title`)", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn rename_conversation(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RenameRequest>,
) -> Result<Json<ConversationEnvelope>, ApiError> {
    let id = conversation_id(&id)?;
    let title = GroupTitle::parse(required(&body.title, "title")?)?;
    let appended = state
        .conversations
        .rename(id, auth.session.user_id, title)
        .await?;
    wait_for_history(&state, appended).await;
    let conversation = summary(&state, &auth, id).await?;
    Ok(Json(ConversationEnvelope { conversation }))
}

#[utoipa::path(
    put, path = "/api/v1/conversations/{id}/mute", tag = "conversations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Muted (or already muted): the caller gets no Telegram notification of this conversation, and a pending one is withdrawn; `muted` is true. The caller's setting alone; the others are not told", body = ConversationEnvelope),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn mute_conversation(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConversationEnvelope>, ApiError> {
    set_muted(state, auth, &id, true).await
}

#[utoipa::path(
    delete, path = "/api/v1/conversations/{id}/mute", tag = "conversations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Notifications on again (or never off); `muted` is false", body = ConversationEnvelope),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn unmute_conversation(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConversationEnvelope>, ApiError> {
    set_muted(state, auth, &id, false).await
}

/// The mute switch as a resource of its own (`PUT` turns it on, `DELETE` off), so both are
/// idempotent and take no body; the answer is the conversation as the read model then shows it.
async fn set_muted(
    state: ApiState,
    auth: Authenticated,
    id: &str,
    muted: bool,
) -> Result<Json<ConversationEnvelope>, ApiError> {
    let id = conversation_id(id)?;
    let appended = state
        .conversations
        .set_muted(id, auth.session.user_id, muted)
        .await?;
    wait_for_history(&state, appended).await;
    // Nothing appended (already so): the read model may still lag behind the earlier change.
    if appended.is_none() {
        caught_up(&state).await?;
    }
    let conversation = summary(&state, &auth, id).await?;
    Ok(Json(ConversationEnvelope { conversation }))
}

fn parse_send(
    body: &Option<String>,
    client_id: &Option<String>,
) -> Result<(MessageBody, ClientId), ApiError> {
    let text = MessageBody::parse(required(body, "body")?)?;
    let client_id = ClientId::parse(required(client_id, "client_id")?)?;
    Ok((text, client_id))
}

/// Answers from the appended event: a send never waits for a read model.
fn answer_send(sent: SentMessage) -> (StatusCode, Json<MessageEnvelope>) {
    let status = if sent.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(MessageEnvelope {
            message: sent.message(),
        }),
    )
}

#[utoipa::path(
    post, path = "/api/v1/conversations/{id}/messages", tag = "messages",
    params(("id" = Uuid, Path)),
    request_body = SendRequest,
    responses(
        (status = 201, description = "Sent (committed)", body = MessageEnvelope),
        (status = 200, description = "A resend with a known client_id: the original message, nothing stored", body = MessageEnvelope),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 422, description = "Invalid body or client_id", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn send_message(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SendRequest>,
) -> Result<(StatusCode, Json<MessageEnvelope>), ApiError> {
    let id = conversation_id(&id)?;
    let (text, client_id) = parse_send(&body.body, &body.client_id)?;
    within(&state.rate, Limit::Send, auth.session.user_id).await?;
    let sent = state
        .conversations
        .send(id, auth.session.user_id, client_id, text)
        .await?;
    Ok(answer_send(sent))
}

#[utoipa::path(
    post, path = "/api/v1/messages", tag = "messages",
    request_body = SendToRequest,
    responses(
        (status = 201, description = "Sent (committed)", body = MessageEnvelope),
        (status = 200, description = "A resend: the original message", body = MessageEnvelope),
        (status = 422, description = "Unknown recipient (field `to`), invalid body or client_id", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn send_message_to_user(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<SendToRequest>,
) -> Result<(StatusCode, Json<MessageEnvelope>), ApiError> {
    let raw = required(&body.to, "to")?;
    let to = Username::parse(raw)
        .map_err(|_| ApiError::validation("to", format!("there is no user named {raw}")))?;
    let (text, client_id) = parse_send(&body.body, &body.client_id)?;
    within(&state.rate, Limit::Send, auth.session.user_id).await?;
    let sent = state
        .conversations
        .send_to(auth.session.user_id, &to, client_id, text)
        .await?;
    Ok(answer_send(sent))
}

#[utoipa::path(
    get, path = "/api/v1/conversations/{id}/messages", tag = "messages",
    params(("id" = Uuid, Path), HistoryParams),
    responses(
        (status = 200, description = "A page of history", body = HistoryPage),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 422, description = "Invalid before or limit", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn history(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<HistoryPage>, ApiError> {
    let id = conversation_id(&id)?;
    let before = params
        .before
        .as_deref()
        .map(|raw| {
            raw.parse::<i64>()
                .ok()
                .filter(|b| *b >= 1)
                .ok_or_else(|| ApiError::validation("before", "must be a message seq (1 or more)"))
        })
        .transpose()?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| ApiError::validation("limit", "must be a number from 1 to 100"))?,
    };
    let conversation = state
        .conversations
        .for_member(id, auth.session.user_id)
        .await?;
    let roster = conversation.roster();
    let peer_read_up_to = match roster.kind() {
        domain::ConversationKind::Direct => roster
            .members()
            .iter()
            .find(|m| m.id != auth.session.user_id)
            .map_or(0, |peer| roster.read_up_to(peer.id)),
        domain::ConversationKind::Group => 0,
    };
    // A group member sees the timeline from their join on.
    let after = roster.joined_after(auth.session.user_id).unwrap_or(0);
    caught_up(&state).await?;
    let page = queries::history_page(&state.pool, id.as_uuid(), before, after, limit).await?;
    // A group's messages say how many have read them; a pair has `peer_read_up_to`.
    let marks = match roster.kind() {
        domain::ConversationKind::Group => {
            Some(receipts::read_marks(&state.pool, id.as_uuid()).await?)
        }
        domain::ConversationKind::Direct => None,
    };
    Ok(Json(HistoryPage {
        messages: page
            .messages
            .into_iter()
            .map(|row| {
                let seen_by = marks
                    .as_deref()
                    .filter(|_| row.entry == "message")
                    .map(|marks| receipts::seen_by(marks, row.seq, row.sender_id));
                Message {
                    seen_by,
                    ..Message::from(row)
                }
            })
            .collect(),
        next_before: page.next_before,
        peer_read_up_to,
    }))
}

#[utoipa::path(
    post, path = "/api/v1/conversations/{id}/read", tag = "messages",
    params(("id" = Uuid, Path)),
    request_body = ReadRequest,
    responses(
        (status = 204, description = "Recorded; unread drops and the peer sees the receipt"),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 422, description = "Invalid up_to", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn mark_read(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReadRequest>,
) -> Result<StatusCode, ApiError> {
    let id = conversation_id(&id)?;
    let up_to = body
        .up_to
        .ok_or_else(|| ApiError::validation("up_to", "is required"))?;
    if up_to < 0 {
        return Err(ApiError::validation("up_to", "must be a seq (0 or more)"));
    }
    state
        .conversations
        .mark_read(id, auth.session.user_id, up_to)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn message_in(
    state: &ApiState,
    id: ConversationId,
    message_id: Uuid,
) -> Result<Message, ApiError> {
    queries::message(&state.pool, message_id)
        .await?
        .filter(|m| m.conversation_id == id.as_uuid())
        .map(Message::from)
        .ok_or_else(|| ApiError::not_found("message"))
}

#[utoipa::path(
    patch, path = "/api/v1/conversations/{id}/messages/{message_id}", tag = "messages",
    params(("id" = Uuid, Path), ("message_id" = Uuid, Path)),
    request_body = EditRequest,
    responses(
        (status = 200, description = "Edited; history shows the new body, marked edited", body = MessageEnvelope),
        (status = 403, description = "Only the sender may edit (code not_sender)", body = ErrorBody),
        (status = 404, description = "No such conversation or message", body = ErrorBody),
        (status = 409, description = "The message was deleted (code message_deleted)", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn edit_message(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath((id, message)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<EditRequest>,
) -> Result<Json<MessageEnvelope>, ApiError> {
    let id = conversation_id(&id)?;
    let message = message_id(&message)?;
    let text = MessageBody::parse(required(&body.body, "body")?)?;
    let appended = state
        .conversations
        .edit(id, auth.session.user_id, message, text)
        .await?;
    wait_for_history(&state, appended).await;
    Ok(Json(MessageEnvelope {
        message: message_in(&state, id, message).await?,
    }))
}

#[utoipa::path(
    delete, path = "/api/v1/conversations/{id}/messages/{message_id}", tag = "messages",
    params(("id" = Uuid, Path), ("message_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted; history shows a deleted marker, never the old text"),
        (status = 403, description = "Only the sender may delete; in a group also an admin or the owner (code not_sender)", body = ErrorBody),
        (status = 404, description = "No such conversation or message", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn delete_message(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath((id, message)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = conversation_id(&id)?;
    let message = message_id(&message)?;
    state
        .conversations
        .delete(id, auth.session.user_id, message)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
