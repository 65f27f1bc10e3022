//! Conversation pages and the fragments the page asks for as events arrive.

use crate::render::{self, Visitor};
use crate::views::{
    ConversationItem, ConversationList, ConversationPage, ConversationsPage, MeView,
    MessageFragment, MessageView, NewGroupForm, OlderMessages,
};
use app::AppError;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use domain::{UserId, Username};
use eventstore::EventStore;
use http_api::auth::Authenticated;
use http_api::error::ApiError;
use http_api::ids::{conversation_id, message_id as parse_message_id};
use http_api::limits::within;
use http_api::visible::message_for_member;
use http_api::ApiState;
use kv::Limit;
use projections::history::queries;
use serde::Deserialize;
use std::time::Duration;
use uuid::Uuid;

const PAGE: i64 = 50;
/// A conversation opened with unread messages shows them all, from a few read ones before the
/// first, up to this many messages; with more unread than that, the page loads older pages until
/// it reaches the first unread one.
const MOST_ON_OPEN: i64 = 2 * PAGE;
/// How many read messages are shown above the first unread one, for context.
const CONTEXT: i64 = 10;
pub(crate) const WAIT: Duration = Duration::from_secs(2);

pub(crate) async fn me(state: &ApiState, auth: &Authenticated) -> Result<(Uuid, MeView), ApiError> {
    let profile = state.accounts.profile(auth.session.user_id).await?;
    Ok((
        profile.id.as_uuid(),
        MeView {
            username: profile.username.to_string(),
            display_name: profile.display_name.to_string(),
        },
    ))
}

async fn head(state: &ApiState) -> Result<i64, ApiError> {
    EventStore::new(state.pool.clone())
        .head_position()
        .await
        .map_err(|e| ApiError::unavailable(&e))
}

async fn items(state: &ApiState, me: Uuid) -> Result<Vec<ConversationItem>, ApiError> {
    let rows = queries::list_conversations(&state.pool, me, 500).await?;
    let peers: Vec<UserId> = rows
        .iter()
        .filter_map(|r| r.conversation.peer_id.map(UserId::from_uuid))
        .collect();
    // Presence is decoration: without Redis the list still shows, everyone offline.
    let mut online = state
        .presence
        .online(&peers)
        .await
        .unwrap_or_else(|_| vec![false; peers.len()])
        .into_iter();
    let mut items = Vec::with_capacity(rows.len());
    for summary in rows {
        let c = summary.conversation;
        let group = c.kind == "group";
        // A group has no peer, so no presence of its own.
        let online = c.peer_id.is_some() && online.next().unwrap_or(false);
        let last_line = match summary.last_message {
            Some(m) if m.deleted_at.is_some() => "message deleted".to_owned(),
            Some(m) if m.entry != "message" => {
                let message = wire::Message::from(m);
                match &message.system {
                    Some(entry) => crate::timeline::sentence(entry, &message.sender, me),
                    None => String::new(),
                }
            }
            Some(m) => {
                let prefix = if m.sender_id == me {
                    "You: ".to_owned()
                } else if group {
                    format!("{}: ", m.sender_display_name)
                } else {
                    String::new()
                };
                let body: String = m.body.unwrap_or_default().chars().take(80).collect();
                format!("{prefix}{body}")
            }
            None => String::new(),
        };
        items.push(ConversationItem {
            id: c.conversation_id,
            title: c.title.filter(|_| group),
            member_count: c.member_count,
            peer_name: c.peer_display_name.unwrap_or_default(),
            peer_username: c.peer_username.unwrap_or_default(),
            unread: c.unread,
            online,
            last_line,
            last_activity_at: c
                .last_activity_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
    }
    Ok(items)
}

pub(crate) async fn list(
    state: &ApiState,
    auth: &Authenticated,
    with: String,
    with_error: Option<String>,
    group: NewGroupForm,
) -> Result<ConversationsPage, ApiError> {
    let (me_id, me) = me(state, auth).await?;
    Ok(ConversationsPage {
        me: Some(me),
        me_id,
        cursor: head(state).await?,
        with,
        with_error,
        group,
        conversations: items(state, me_id).await?,
    })
}

pub async fn list_page(State(state): State<ApiState>, Visitor(auth): Visitor) -> Response {
    match list(&state, &auth, String::new(), None, NewGroupForm::default()).await {
        Ok(page) => render::ok(&page),
        Err(error) => render::error(error),
    }
}

pub async fn list_fragment(State(state): State<ApiState>, Visitor(auth): Visitor) -> Response {
    // Best effort: with the store unreachable, the list below fails with its own error.
    let _ = state.history.catch_up(WAIT).await;
    match items(&state, auth.session.user_id.as_uuid()).await {
        Ok(conversations) => render::ok(&ConversationList { conversations }),
        Err(error) => render::error(error),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StartForm {
    with: String,
}

pub async fn start(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Form(form): Form<StartForm>,
) -> Response {
    let wanted = form.with.trim().to_owned();
    if let Err(error) = within(&state.rate, Limit::Start, auth.session.user_id).await {
        return render::error(error);
    }
    let outcome = match Username::parse(&wanted) {
        Ok(username) => {
            state
                .conversations
                .start(auth.session.user_id, &username)
                .await
        }
        Err(_) => Err(AppError::Validation(domain::ValidationError::new(
            "with", "",
        ))),
    };
    match outcome {
        Ok((id, appended)) => {
            if let Some(position) = appended {
                state.history.wait_for(position, WAIT).await;
            }
            Redirect::to(&format!("/conversations/{id}")).into_response()
        }
        Err(AppError::Validation(v)) if v.field == "with" => {
            let message = if wanted.is_empty() {
                "Type the username of the person to write to.".to_owned()
            } else if v.message.contains("yourself") {
                "That's you: pick someone else.".to_owned()
            } else {
                format!("There is no user named \"{wanted}\".")
            };
            match list(
                &state,
                &auth,
                wanted,
                Some(message),
                NewGroupForm::default(),
            )
            .await
            {
                Ok(page) => render::page(StatusCode::UNPROCESSABLE_ENTITY, &page),
                Err(error) => render::error(error),
            }
        }
        Err(other) => render::error(other.into()),
    }
}

async fn conversation(
    state: &ApiState,
    auth: &Authenticated,
    raw: &str,
) -> Result<ConversationPage, ApiError> {
    let id = conversation_id(raw)?;
    let me_user = auth.session.user_id;
    let conversation = state.conversations.for_member(id, me_user).await?;
    let roster = conversation.roster();
    let is_group = roster.kind() == domain::ConversationKind::Group;
    let (me_id, me) = me(state, auth).await?;
    let peer = if is_group {
        None
    } else {
        Some(
            conversation
                .members()
                .iter()
                .find(|m| m.id != me_user)
                .cloned()
                .ok_or_else(|| ApiError::not_found("conversation"))?,
        )
    };
    let cursor = head(state).await?;
    state.history.wait_for(cursor, WAIT).await;
    let read_up_to = conversation.read_up_to(me_user);
    // A group member sees the timeline from their join on.
    let after = roster.joined_after(me_user).unwrap_or(0);
    // The viewer's own messages after their read mark are not unread: only others' count.
    let limit = match queries::conversation_for(&state.pool, me_id, id.as_uuid()).await? {
        Some(c) if c.conversation.unread > 0 => {
            (c.conversation.last_seq - read_up_to + CONTEXT).clamp(PAGE, MOST_ON_OPEN)
        }
        _ => PAGE,
    };
    let page = queries::history_page(&state.pool, id.as_uuid(), None, after, limit).await?;
    let peer_read_up_to = peer.as_ref().map_or(0, |p| conversation.read_up_to(p.id));
    let messages: Vec<MessageView> = page
        .messages
        .into_iter()
        .map(|m| MessageView::new(m, me_id).in_group(is_group))
        .collect();
    let unread_from = queries::first_unread(&state.pool, id.as_uuid(), me_id, read_up_to).await?;
    let first_unread = unread_from
        .filter(|seq| messages.iter().any(|m| m.seq == *seq))
        .unwrap_or(0);
    // More unread than the page holds: it loads older pages until it reaches the first.
    let unread_above = unread_from.is_some() && first_unread == 0;
    let last_own = messages
        .iter()
        .filter(|m| m.own && m.system.is_none())
        .map(|m| m.seq)
        .max();
    let online = match &peer {
        Some(peer) => state
            .presence
            .status(peer.id)
            .await
            .map(|s| s.online)
            .unwrap_or(false),
        None => false,
    };
    let group = if is_group {
        Some(crate::groups::group_view(state, id, me_user, &conversation).await?)
    } else {
        None
    };
    Ok(ConversationPage {
        me: Some(me),
        me_id,
        id: id.as_uuid(),
        cursor,
        group,
        peer_id: peer.as_ref().map(|p| p.id.as_uuid()).unwrap_or_default(),
        peer_name: peer
            .as_ref()
            .map(|p| p.display_name.to_string())
            .unwrap_or_default(),
        peer_username: peer
            .as_ref()
            .map(|p| p.username.to_string())
            .unwrap_or_default(),
        online,
        peer_read_up_to,
        read_up_to,
        first_unread,
        unread_above,
        seen: peer.is_some() && last_own.is_some_and(|seq| peer_read_up_to >= seq),
        next_before: page.next_before,
        messages,
    })
}

pub async fn conversation_page(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Path(id): Path<String>,
) -> Response {
    match conversation(&state, &auth, &id).await {
        Ok(page) => render::ok(&page),
        Err(error) => render::error(error),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OlderQuery {
    before: Option<i64>,
}

pub async fn older(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Path(id): Path<String>,
    Query(query): Query<OlderQuery>,
) -> Response {
    let outcome = async {
        let id = conversation_id(&id)?;
        let conversation = state
            .conversations
            .for_member(id, auth.session.user_id)
            .await?;
        let roster = conversation.roster();
        let after = roster.joined_after(auth.session.user_id).unwrap_or(0);
        let is_group = roster.kind() == domain::ConversationKind::Group;
        let page =
            queries::history_page(&state.pool, id.as_uuid(), query.before, after, PAGE).await?;
        let me = auth.session.user_id.as_uuid();
        let messages: Vec<MessageView> = page
            .messages
            .into_iter()
            .map(|m| MessageView::new(m, me).in_group(is_group))
            .collect();
        let read_up_to = conversation.read_up_to(auth.session.user_id);
        let first_unread = queries::first_unread(&state.pool, id.as_uuid(), me, read_up_to)
            .await?
            .filter(|seq| messages.iter().any(|m| m.seq == *seq))
            .unwrap_or(0);
        Ok::<_, ApiError>(OlderMessages {
            id: id.as_uuid(),
            first_unread,
            next_before: page.next_before,
            messages,
        })
    }
    .await;
    match outcome {
        Ok(fragment) => render::ok(&fragment),
        Err(error) => render::error(error),
    }
}

/// One message, as the page shows it. Reads its writes: it first waits (briefly) for the history
/// read model to apply everything committed before the request, since a live frame, or the
/// answer to an edit, can arrive before the projection has the event.
pub async fn message_fragment(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Path((id, message_id)): Path<(String, String)>,
) -> Response {
    let outcome = async {
        let id = conversation_id(&id)?;
        let message_id = parse_message_id(&message_id)?;
        let (membership, row) =
            message_for_member(&state, id, auth.session.user_id, message_id).await?;
        let roster = membership.roster();
        Ok::<_, ApiError>(MessageFragment {
            m: MessageView::new(row, auth.session.user_id.as_uuid())
                .in_group(roster.kind() == domain::ConversationKind::Group),
        })
    }
    .await;
    match outcome {
        Ok(fragment) => render::ok(&fragment),
        Err(error) => render::error(error),
    }
}
