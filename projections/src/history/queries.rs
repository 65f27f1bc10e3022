//! Reading the history read model (the live `history` schema).

use crate::ProjectionError;
use chrono::{DateTime, Utc};
use domain::{ConversationId, UserId};
use sqlx::{AssertSqlSafe, PgPool};
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
    /// `message`, or a group's system entry (see `schema.sql`).
    pub entry: String,
    pub subject_id: Option<Uuid>,
    pub subject_username: Option<String>,
    pub subject_display_name: Option<String>,
    pub detail: Option<String>,
}

impl MessageRow {
    /// A group's system entry, if this row is one.
    fn system(&self) -> Option<wire::SystemEntry> {
        let kind = wire::SystemKind::parse(&self.entry)?;
        let member = match (
            &self.subject_id,
            &self.subject_username,
            &self.subject_display_name,
        ) {
            (Some(id), Some(username), Some(display_name)) => Some(wire::UserRef {
                id: *id,
                username: username.clone(),
                display_name: display_name.clone(),
            }),
            _ => None,
        };
        Some(wire::SystemEntry {
            kind,
            member,
            title: self
                .detail
                .clone()
                .filter(|_| kind == wire::SystemKind::Renamed),
            role: self
                .detail
                .clone()
                .filter(|_| kind == wire::SystemKind::RoleChanged),
        })
    }
}

impl From<MessageRow> for wire::Message {
    fn from(row: MessageRow) -> Self {
        let system = row.system();
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
            system,
            seen_by: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConversationRow {
    pub conversation_id: Uuid,
    /// `direct` or `group`.
    pub kind: String,
    /// A group's.
    pub title: Option<String>,
    pub member_count: i64,
    /// The user's role in a group: `owner`, `admin` or `member`.
    pub role: Option<String>,
    /// The last seq before the user joined (0 in a pair): they see the entries after it.
    pub joined_after: i64,
    /// A pair's other member; `None` in a group.
    pub peer_id: Option<Uuid>,
    pub peer_username: Option<String>,
    pub peer_display_name: Option<String>,
    /// In a pair, the peer's undeleted messages after what the user read; in a group, every
    /// entry after it (derived: sending counts as reading, deletions still count).
    pub unread: i64,
    /// How far the user has read.
    pub read_up_to: i64,
    /// How far the peer has read (the read receipt); 0 in a group.
    pub peer_read_up_to: i64,
    pub last_seq: i64,
    pub last_activity_at: DateTime<Utc>,
    /// The user turned this conversation's notifications off.
    pub muted: bool,
}

/// The columns of [`ConversationRow`], for a member `m` of conversation `c` with peer `p`.
const CONVERSATION_COLUMNS: &str = "m.conversation_id, c.kind, c.title, c.member_count, m.role,
        m.joined_after, m.peer_id, m.peer_username, m.peer_display_name,
        CASE WHEN c.kind = 'group' THEN GREATEST(c.last_seq - m.read_up_to, 0)
             ELSE m.unread END AS unread,
        m.read_up_to, COALESCE(p.read_up_to, 0) AS peer_read_up_to, c.last_seq,
        c.last_activity_at, m.muted
   FROM history.members m
   JOIN history.conversations c ON c.conversation_id = m.conversation_id
   LEFT JOIN history.members p ON p.conversation_id = m.conversation_id AND p.user_id = m.peer_id";

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
    let rows: Vec<ConversationRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CONVERSATION_COLUMNS}
          WHERE m.user_id = $1
          ORDER BY c.last_activity_at DESC, m.conversation_id
          LIMIT $2"
    )))
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
    let conversation: Option<ConversationRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CONVERSATION_COLUMNS}
          WHERE m.user_id = $1 AND m.conversation_id = $2"
    )))
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

/// Up to `limit` entries with `seq < before` (or the newest) and `seq > after`, oldest first.
/// `after` is the reader's join point (`joined_after`): a group member sees nothing from before
/// they joined.
pub async fn history_page(
    pool: &PgPool,
    conversation_id: Uuid,
    before: Option<i64>,
    after: i64,
    limit: i64,
) -> Result<HistoryPage, ProjectionError> {
    let mut messages: Vec<MessageRow> = sqlx::query_as(
        "SELECT * FROM history.messages
          WHERE conversation_id = $1 AND seq < $2 AND seq > $3
          ORDER BY seq DESC
          LIMIT $4",
    )
    .bind(conversation_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    messages.reverse();
    let next_before = messages
        .first()
        .map(|m| m.seq)
        .filter(|seq| *seq > after + 1);
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

/// The groups `user` left or was removed from after position `after` (and is not in again):
/// a socket resuming from `after` still replays them up to the removal.
pub async fn departed_since(
    pool: &PgPool,
    user: UserId,
    after: i64,
) -> Result<Vec<ConversationId>, ProjectionError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT d.conversation_id FROM history.departures d
          WHERE d.user_id = $1 AND d.position > $2
            AND NOT EXISTS (SELECT 1 FROM history.members m
                             WHERE m.user_id = d.user_id AND m.conversation_id = d.conversation_id)",
    )
    .bind(user.as_uuid())
    .bind(after)
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().map(ConversationId::from_uuid).collect())
}

/// Everyone who hears about `user`'s presence: each pair's peer, and the other members of every
/// group of at most `max_group_members` members (in a bigger group presence is not announced: a
/// member's coming and going would cost a frame to each of the others). Each person once.
pub async fn peers_of(
    pool: &PgPool,
    user: UserId,
    max_group_members: i64,
) -> Result<Vec<UserId>, ProjectionError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT peer_id FROM history.members WHERE user_id = $1 AND peer_id IS NOT NULL
         UNION
         SELECT o.user_id FROM history.members m
           JOIN history.conversations c
             ON c.conversation_id = m.conversation_id AND c.kind = 'group'
            AND c.member_count <= $2
           JOIN history.members o ON o.conversation_id = m.conversation_id AND o.user_id <> $1
          WHERE m.user_id = $1",
    )
    .bind(user.as_uuid())
    .bind(max_group_members)
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().map(UserId::from_uuid).collect())
}
