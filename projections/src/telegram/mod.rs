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
