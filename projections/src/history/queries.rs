//! Reading the history read model (the live `history` schema).

use crate::ProjectionError;
use chrono::{DateTime, Utc};
use domain::{ConversationId, UserId};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MessageRow {
    pub conversation_id: Uuid,
    pub seq: i64,
    pub message_id: Uuid,
    pub sender_id: Uuid,
    pub sender_username: String,
    pub sender_display_name: String,
    /// `None` once deleted.
    pub body: Option<String>,
    pub client_id: String,
    pub sent_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub position: i64,
}

impl From<MessageRow> for wire::Message {
    fn from(row: MessageRow) -> Self {
        Self {
            id: row.message_id,
            conversation_id: row.conversation_id,
            seq: row.seq,
            sender: wire::UserRef {
                id: row.sender_id,
                username: row.sender_username,
                display_name: row.sender_display_name,
            },
            body: row.body,
            sent_at: row.sent_at,
            client_id: row.client_id,
            edited: row.edited_at.is_some(),
            edited_at: row.edited_at,
            deleted: row.deleted_at.is_some(),
            cursor: row.position,
        }
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConversationRow {
    pub conversation_id: Uuid,
    pub peer_id: Uuid,
    pub peer_username: String,
    pub peer_display_name: String,
    pub unread: i64,
    /// How far the user has read.
    pub read_up_to: i64,
    /// How far the peer has read (the read receipt).
    pub peer_read_up_to: i64,
    pub last_seq: i64,
    pub last_activity_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    pub conversation: ConversationRow,
    pub last_message: Option<MessageRow>,
}

pub struct HistoryPage {
    /// Oldest first.
    pub messages: Vec<MessageRow>,
    /// Pass as `before` to get the page before this one; `None` at the beginning.
    pub next_before: Option<i64>,
}

/// Conversations of `user`, most recent activity first (at most `limit`).
pub async fn list_conversations(
    pool: &PgPool,
    user: Uuid,
    limit: i64,
) -> Result<Vec<ConversationSummary>, ProjectionError> {
    let rows: Vec<ConversationRow> = sqlx::query_as(
        "SELECT m.conversation_id, m.peer_id, m.peer_username, m.peer_display_name, m.unread,
                m.read_up_to, p.read_up_to AS peer_read_up_to, c.last_seq, c.last_activity_at
           FROM history.members m
           JOIN history.conversations c ON c.conversation_id = m.conversation_id
           JOIN history.members p ON p.conversation_id = m.conversation_id AND p.user_id = m.peer_id
          WHERE m.user_id = $1
          ORDER BY c.last_activity_at DESC, m.conversation_id
          LIMIT $2",
    )
    .bind(user)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let last: Vec<MessageRow> = sqlx::query_as(
        "SELECT x.* FROM history.messages x
           JOIN history.conversations c ON c.conversation_id = x.conversation_id AND c.last_seq = x.seq
          WHERE x.conversation_id = ANY($1)",
    )
    .bind(rows.iter().map(|r| r.conversation_id).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|conversation| {
            let last_message = last
                .iter()
                .find(|m| m.conversation_id == conversation.conversation_id)
                .cloned();
            ConversationSummary {
                conversation,
                last_message,
            }
        })
        .collect())
}

/// One conversation as `user` sees it, if they are in it and it has been projected.
pub async fn conversation_for(
    pool: &PgPool,
    user: Uuid,
    conversation_id: Uuid,
) -> Result<Option<ConversationSummary>, ProjectionError> {
    let conversation: Option<ConversationRow> = sqlx::query_as(
        "SELECT m.conversation_id, m.peer_id, m.peer_username, m.peer_display_name, m.unread,
                m.read_up_to, p.read_up_to AS peer_read_up_to, c.last_seq, c.last_activity_at
           FROM history.members m
           JOIN history.conversations c ON c.conversation_id = m.conversation_id
           JOIN history.members p ON p.conversation_id = m.conversation_id AND p.user_id = m.peer_id
          WHERE m.user_id = $1 AND m.conversation_id = $2",
    )
    .bind(user)
    .bind(conversation_id)
    .fetch_optional(pool)
    .await?;
    let Some(conversation) = conversation else {
        return Ok(None);
    };
    let last_message: Option<MessageRow> =
        sqlx::query_as("SELECT * FROM history.messages WHERE conversation_id = $1 AND seq = $2")
            .bind(conversation_id)
            .bind(conversation.last_seq)
            .fetch_optional(pool)
            .await?;
    Ok(Some(ConversationSummary {
        conversation,
        last_message,
    }))
}

/// Up to `limit` messages with `seq < before` (or the newest), oldest first.
pub async fn history_page(
    pool: &PgPool,
    conversation_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<HistoryPage, ProjectionError> {
    let mut messages: Vec<MessageRow> = sqlx::query_as(
        "SELECT * FROM history.messages
          WHERE conversation_id = $1 AND seq < $2
          ORDER BY seq DESC
          LIMIT $3",
    )
    .bind(conversation_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    messages.reverse();
    let next_before = messages.first().map(|m| m.seq).filter(|seq| *seq > 1);
    Ok(HistoryPage {
        messages,
        next_before,
    })
}

/// The seq of the first message of `conversation_id` after `read_up_to` that `reader` did not
/// write and that is not deleted: where the "Unread messages" line goes. `None`: nothing unread.
pub async fn first_unread(
    pool: &PgPool,
    conversation_id: Uuid,
    reader: Uuid,
    read_up_to: i64,
) -> Result<Option<i64>, ProjectionError> {
    Ok(sqlx::query_scalar(
        "SELECT min(seq) FROM history.messages
          WHERE conversation_id = $1 AND seq > $2 AND sender_id <> $3 AND deleted_at IS NULL",
    )
    .bind(conversation_id)
    .bind(read_up_to)
    .bind(reader)
    .fetch_one(pool)
    .await?)
}

pub async fn message(
    pool: &PgPool,
    message_id: Uuid,
) -> Result<Option<MessageRow>, ProjectionError> {
    Ok(
        sqlx::query_as("SELECT * FROM history.messages WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// The conversations `user` is in: the streams a resuming socket replays.
pub async fn conversations_of(
    pool: &PgPool,
    user: UserId,
) -> Result<Vec<ConversationId>, ProjectionError> {
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT conversation_id FROM history.members WHERE user_id = $1")
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await?;
    Ok(ids.into_iter().map(ConversationId::from_uuid).collect())
}

/// Everyone who shares a conversation with `user`: who hears about their presence.
pub async fn peers_of(pool: &PgPool, user: UserId) -> Result<Vec<UserId>, ProjectionError> {
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT peer_id FROM history.members WHERE user_id = $1")
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await?;
    Ok(ids.into_iter().map(UserId::from_uuid).collect())
}
