//! The history read model as an operator sees it: every conversation, not one person's list, and
//! every member of one with their role, join point, read position and mute switch. The service
//! reads per user (see [`super::queries`]); the admin CLI reads here.

use super::History;
use crate::runner::Projection;
use crate::ProjectionError;
use chrono::{DateTime, Utc};
use domain::{ConversationId, ConversationKind, Username};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConversationOverview {
    pub conversation_id: Uuid,
    /// `direct` or `group`.
    pub kind: String,
    /// A group's.
    pub title: Option<String>,
    pub member_count: i64,
    pub last_seq: i64,
    pub last_activity_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MemberOverview {
    pub user_id: Uuid,
    /// As of joining: the read model keeps the names an event carried.
    pub username: String,
    pub display_name: String,
    /// A group member's: `owner`, `admin` or `member`; `None` in a pair.
    pub role: Option<String>,
    /// The last seq before they joined: they see the entries after it.
    pub joined_after: i64,
    pub read_up_to: i64,
    pub muted: bool,
}

/// Which conversations [`conversations`] lists.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub kind: Option<ConversationKind>,
    /// Only those this person is in now.
    pub member: Option<Username>,
    pub limit: i64,
}

/// Conversations, most recent activity first.
pub async fn conversations(
    pool: &PgPool,
    filter: &ConversationFilter,
) -> Result<Vec<ConversationOverview>, ProjectionError> {
    ensure_current(pool).await?;
    Ok(sqlx::query_as(
        "SELECT c.conversation_id, c.kind, c.title, c.member_count, c.last_seq, c.last_activity_at
           FROM history.conversations c
          WHERE ($1::text IS NULL OR c.kind = $1)
            AND ($2::text IS NULL OR c.conversation_id IN
                  (SELECT m.conversation_id FROM history.members m WHERE m.username = $2))
          ORDER BY c.last_activity_at DESC, c.conversation_id
          LIMIT $3",
    )
    .bind(filter.kind.map(|k| k.as_str()))
    .bind(filter.member.as_ref().map(Username::as_str))
    .bind(filter.limit.max(0))
    .fetch_all(pool)
    .await?)
}

/// The conversation and its current members (a group's owner first, then admins, then members,
/// each in the order they joined); `None` when the read model has no such conversation.
pub async fn members(
    pool: &PgPool,
    id: ConversationId,
) -> Result<Option<(ConversationOverview, Vec<MemberOverview>)>, ProjectionError> {
    ensure_current(pool).await?;
    // One snapshot: a member added between two statements would not match the count.
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let conversation: Option<ConversationOverview> = sqlx::query_as(
        "SELECT conversation_id, kind, title, member_count, last_seq, last_activity_at
           FROM history.conversations WHERE conversation_id = $1",
    )
    .bind(id.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(conversation) = conversation else {
        return Ok(None);
    };
    let members = sqlx::query_as(
        "SELECT user_id, COALESCE(username, '') AS username,
                COALESCE(display_name, '') AS display_name, role, joined_after, read_up_to, muted
           FROM history.members
          WHERE conversation_id = $1
          ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END,
                   joined_after, username",
    )
    .bind(id.as_uuid())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((conversation, members)))
}

/// Tables of another version (or none yet) would answer wrongly or not at all: say so instead.
async fn ensure_current(pool: &PgPool) -> Result<(), ProjectionError> {
    let stored: Option<i32> = sqlx::query_scalar("SELECT version FROM projections WHERE name = $1")
        .bind(History::NAME)
        .fetch_optional(pool)
        .await?;
    match stored {
        Some(version) if version == History::VERSION => Ok(()),
        stored => Err(ProjectionError::Stale {
            name: History::NAME.to_owned(),
            stored,
            code: History::VERSION,
        }),
    }
}
