//! The Telegram links projection: chat id to user, from the user streams' link events.

use crate::runner::Projection;
use crate::ProjectionError;
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

    /// Link events are rare: applied one at a time.
    async fn apply_all<E: LoggedEvent>(
        &self,
        conn: &mut PgConnection,
        events: &[E],
    ) -> Result<(), ProjectionError> {
        for event in events {
            if !event.stream_id().starts_with("user-") {
                continue;
            }
            match event.decode::<UserEvent>()? {
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
                    .bind(event.recorded_at())
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
