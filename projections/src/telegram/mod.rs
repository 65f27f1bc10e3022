//! The Telegram links projection: chat id to user, from the user streams' link events.

use crate::runner::Projection;
use crate::ProjectionError;
use chrono::{DateTime, Utc};
use domain::UserEvent;
use eventstore::LoggedEvent;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, Default)]
pub struct TelegramLinks;

impl Projection for TelegramLinks {
    const NAME: &'static str = "telegram";
    const VERSION: i32 = 1;
    const SCHEMA_SQL: &'static str = include_str!("schema.sql");

    fn wants<E: LoggedEvent>(&self, event: &E) -> bool {
        event.stream_id().starts_with("user-")
    }

    /// The user streams' events, with when they were recorded.
    type Prepared = Vec<(UserEvent, DateTime<Utc>)>;

    fn prepare<E: LoggedEvent>(&self, events: &[E]) -> Result<Self::Prepared, ProjectionError> {
        events
            .iter()
            .filter(|e| self.wants(*e))
            .map(|e| Ok((e.decode::<UserEvent>()?, e.recorded_at())))
            .collect()
    }

    /// Link events are rare: applied one at a time.
    async fn write(
        &self,
        conn: &mut PgConnection,
        prepared: Self::Prepared,
    ) -> Result<(), ProjectionError> {
        for (event, recorded_at) in prepared {
            match event {
                UserEvent::TelegramLinked { user_id, chat_id } => {
                    sqlx::query("DELETE FROM links WHERE chat_id = $1 OR user_id = $2")
                        .bind(chat_id)
                        .bind(user_id.as_uuid())
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(
                        "INSERT INTO links (chat_id, user_id, linked_at) VALUES ($1, $2, $3)",
                    )
                    .bind(chat_id)
                    .bind(user_id.as_uuid())
                    .bind(recorded_at)
                    .execute(&mut *conn)
                    .await?;
                }
                UserEvent::TelegramUnlinked {
                    user_id, chat_id, ..
                } => {
                    sqlx::query("DELETE FROM links WHERE chat_id = $1 AND user_id = $2")
                        .bind(chat_id)
                        .bind(user_id.as_uuid())
                        .execute(&mut *conn)
                        .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The user a chat is linked to, if any.
pub async fn user_of_chat(pool: &PgPool, chat_id: i64) -> Result<Option<Uuid>, ProjectionError> {
    Ok(
        sqlx::query_scalar("SELECT user_id FROM telegram.links WHERE chat_id = $1")
            .bind(chat_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// The linked chat of each of `users` who has one, in one query: the notifier's first sieve for
/// a group's members (most have none). A read model, so a link made in the last moments may be
/// missing; whoever is found is confirmed against their own stream before anything is sent.
pub async fn chats_of(
    pool: &PgPool,
    users: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, i64>, ProjectionError> {
    let rows: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT user_id, chat_id FROM telegram.links WHERE user_id = ANY($1)")
            .bind(users)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}
