//! The user directory projection: every registered user with their current display name, searched
//! by the start of a username or display name ("start a conversation" suggestions).

use crate::runner::Projection;
use crate::ProjectionError;
use chrono::{DateTime, Utc};
use domain::UserEvent;
use eventstore::LoggedEvent;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, Default)]
pub struct Directory;

impl Projection for Directory {
    const NAME: &'static str = "directory";
    const VERSION: i32 = 1;
    const SCHEMA_SQL: &'static str = include_str!("schema.sql");

    fn wants<E: LoggedEvent>(&self, event: &E) -> bool {
        event.stream_id().starts_with("user-")
            && matches!(event.event_type(), "UserRegistered" | "DisplayNameChanged")
    }

    /// The registrations and renames, with when they were recorded.
    type Prepared = Vec<(UserEvent, DateTime<Utc>)>;

    fn prepare<E: LoggedEvent>(&self, events: &[E]) -> Result<Self::Prepared, ProjectionError> {
        events
            .iter()
            .filter(|e| self.wants(*e))
            .map(|e| Ok((e.decode::<UserEvent>()?, e.recorded_at())))
            .collect()
    }

    /// Registrations and renames are rare next to messages: applied one at a time.
    async fn write(
        &self,
        conn: &mut PgConnection,
        prepared: Self::Prepared,
    ) -> Result<(), ProjectionError> {
        for (event, recorded_at) in prepared {
            match event {
                UserEvent::UserRegistered {
                    user_id,
                    username,
                    display_name,
                    ..
                } => {
                    sqlx::query(
                        "INSERT INTO users (user_id, username, display_name, registered_at)
                         VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING",
                    )
                    .bind(user_id.as_uuid())
                    .bind(username.as_str())
                    .bind(display_name.as_str())
                    .bind(recorded_at)
                    .execute(&mut *conn)
                    .await?;
                }
                UserEvent::DisplayNameChanged {
                    user_id,
                    display_name,
                } => {
                    sqlx::query("UPDATE users SET display_name = $2 WHERE user_id = $1")
                        .bind(user_id.as_uuid())
                        .bind(display_name.as_str())
                        .execute(&mut *conn)
                        .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A user as the directory lists them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserEntry {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
}

/// Users whose username or display name starts with `prefix` (case-insensitively), at most `limit`,
/// never `except` (the one asking): the exact username first, then by username.
pub async fn search(
    pool: &PgPool,
    prefix: &str,
    except: Uuid,
    limit: i64,
) -> Result<Vec<UserEntry>, ProjectionError> {
    let prefix = prefix.to_lowercase();
    let pattern = format!("{}%", escape_like(&prefix));
    Ok(sqlx::query_as(
        "SELECT user_id, username, display_name FROM directory.users
          WHERE (username LIKE $1 OR lower(display_name) LIKE $1) AND user_id <> $2
          ORDER BY username = $3 DESC, username
          LIMIT $4",
    )
    .bind(&pattern)
    .bind(except)
    .bind(&prefix)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// `LIKE` reads `%`, `_` and `\` as patterns: a prefix means them literally.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_patterns_in_a_prefix_are_taken_literally() {
        assert_eq!(escape_like("an_n"), r"an\_n");
        assert_eq!(escape_like("50%"), r"50\%");
        assert_eq!(escape_like(r"a\b"), r"a\\b");
        assert_eq!(escape_like("Zoë"), "Zoë");
    }
}
