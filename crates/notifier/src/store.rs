//! The notifier's tables: what was handled, and the live notification per conversation.

use sqlx::{PgPool, Row};
use std::collections::HashSet;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub(crate) struct Notification {
    pub chat_id: i64,
    /// `None` while a send is in flight, or after a crash during one (then it is replaced).
    pub telegram_message_id: Option<i32>,
    pub last_seq: i64,
    /// A group's (it has a title): there, writing counts as reading.
    pub in_group: bool,
}

/// Which of `users` the message was already handled for: one query for every recipient.
pub(crate) async fn handled_among(
    pool: &PgPool,
    message: Uuid,
    users: &[Uuid],
) -> sqlx::Result<HashSet<Uuid>> {
    let found: Vec<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM notifier_handled WHERE message_id = $1 AND user_id = ANY($2)",
    )
    .bind(message)
    .bind(users)
    .fetch_all(pool)
    .await?;
    Ok(found.into_iter().collect())
}

pub(crate) async fn mark_handled(
    pool: &PgPool,
    message: Uuid,
    user: Uuid,
    outcome: &'static str,
) -> sqlx::Result<()> {
    metrics::counter!("notifications_total", "outcome" => outcome).increment(1);
    record_handled(pool, message, user, outcome).await
}

/// The one place that writes a handled-record, on a pool or inside the transaction that also
/// changes the notification.
async fn record_handled<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    message: Uuid,
    user: Uuid,
    outcome: &'static str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO notifier_handled (message_id, user_id, outcome) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(message)
    .bind(user)
    .bind(outcome)
    .execute(executor)
    .await?;
    Ok(())
}

pub(crate) async fn unmark_handled(pool: &PgPool, message: Uuid, user: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM notifier_handled WHERE message_id = $1 AND user_id = $2")
        .bind(message)
        .bind(user)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn notification(
    pool: &PgPool,
    user: Uuid,
    conversation: Uuid,
) -> sqlx::Result<Option<Notification>> {
    let row = sqlx::query(
        "SELECT chat_id, telegram_message_id, last_seq, title IS NOT NULL AS in_group
           FROM notifier_notifications WHERE user_id = $1 AND conversation_id = $2",
    )
    .bind(user)
    .bind(conversation)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Notification {
        chat_id: r.get("chat_id"),
        telegram_message_id: r.get("telegram_message_id"),
        last_seq: r.get("last_seq"),
        in_group: r.get("in_group"),
    }))
}

/// How many of the latest distinct senders a notification keeps (three are named).
pub(crate) const SENDERS_KEPT: i32 = 4;

/// A message to notify its recipient about.
#[derive(Clone, Copy)]
pub(crate) struct Incoming<'a> {
    pub message: Uuid,
    pub user: Uuid,
    pub conversation: Uuid,
    pub seq: i64,
    pub sender_name: &'a str,
    pub preview: &'a str,
    /// The group's title as of now; `None` for a pair.
    pub title: Option<&'a str>,
}

/// Records the intent to send a new notification and the message as handled, in one transaction:
/// from here on a redelivery sends nothing (at most once, even across a crash).
pub(crate) async fn begin_notification(
    pool: &PgPool,
    incoming: &Incoming<'_>,
    chat_id: i64,
) -> sqlx::Result<()> {
    let Incoming {
        message,
        user,
        conversation,
        seq,
        sender_name,
        preview,
        title,
    } = *incoming;
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM notifier_notifications WHERE user_id = $1 AND conversation_id = $2")
        .bind(user)
        .bind(conversation)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO notifier_notifications
            (user_id, conversation_id, chat_id, unread, last_seq, sender_name, preview, title,
             senders)
         VALUES ($1, $2, $3, 1, $4, $5, $6, $7, ARRAY[$5])",
    )
    .bind(user)
    .bind(conversation)
    .bind(chat_id)
    .bind(seq)
    .bind(sender_name)
    .bind(preview)
    .bind(title)
    .execute(&mut *tx)
    .await?;
    record_handled(&mut *tx, message, user, "sent").await?;
    tx.commit().await
}

pub(crate) async fn sent(
    pool: &PgPool,
    user: Uuid,
    conversation: Uuid,
    telegram_message: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE notifier_notifications SET telegram_message_id = $3, last_edit_at = now()
          WHERE user_id = $1 AND conversation_id = $2",
    )
    .bind(user)
    .bind(conversation)
    .bind(telegram_message)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn forget(pool: &PgPool, user: Uuid, conversation: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM notifier_notifications WHERE user_id = $1 AND conversation_id = $2")
        .bind(user)
        .bind(conversation)
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets the notification only if it is still the Telegram message `telegram_message` (a newer
/// one, created meanwhile after a read, stays).
pub(crate) async fn forget_message(
    pool: &PgPool,
    user: Uuid,
    conversation: Uuid,
    telegram_message: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM notifier_notifications
          WHERE user_id = $1 AND conversation_id = $2 AND telegram_message_id = $3",
    )
    .bind(user)
    .bind(conversation)
    .bind(telegram_message)
    .execute(pool)
    .await?;
    Ok(())
}

/// Adds a message to an existing notification (marked dirty for the flusher) and records the
/// message as handled, atomically.
pub(crate) async fn coalesce(pool: &PgPool, incoming: &Incoming<'_>) -> sqlx::Result<()> {
    let Incoming {
        message,
        user,
        conversation,
        seq,
        sender_name,
        preview,
        title,
    } = *incoming;
    let mut tx = pool.begin().await?;
    // A message redelivered late (older than the latest) counts, but names neither the latest
    // sender nor the preview.
    sqlx::query(
        "UPDATE notifier_notifications
            SET unread = unread + 1, last_seq = GREATEST(last_seq, $3),
                sender_name = CASE WHEN $3 >= last_seq THEN $4 ELSE sender_name END,
                preview = CASE WHEN $3 >= last_seq THEN $5 ELSE preview END,
                senders = CASE WHEN $3 >= last_seq
                               THEN (ARRAY[$4] || array_remove(senders, $4))[1:$7]
                               WHEN $4 = ANY(senders) THEN senders
                               ELSE (senders || ARRAY[$4])[1:$7] END,
                title = COALESCE($6, title), dirty = true
          WHERE user_id = $1 AND conversation_id = $2",
    )
    .bind(user)
    .bind(conversation)
    .bind(seq)
    .bind(sender_name)
    .bind(preview)
    .bind(title)
    .bind(SENDERS_KEPT)
    .execute(&mut *tx)
    .await?;
    record_handled(&mut *tx, message, user, "coalesced").await?;
    metrics::counter!("notifications_total", "outcome" => "coalesced").increment(1);
    tx.commit().await
}

pub(crate) struct DueEdit {
    pub user: Uuid,
    pub conversation: Uuid,
    pub chat_id: i64,
    pub telegram_message_id: i32,
    pub unread: i32,
    pub sender_name: String,
    pub preview: String,
    pub title: Option<String>,
    pub senders: Vec<String>,
}

/// Claims dirty notifications whose chat may be edited again (the last edit is `interval_secs`
/// old): they are marked clean and their edit time set now; the caller edits them.
pub(crate) async fn claim_due_edits(
    pool: &PgPool,
    interval_secs: f64,
) -> sqlx::Result<Vec<DueEdit>> {
    let rows = sqlx::query(
        "UPDATE notifier_notifications SET dirty = false, last_edit_at = now()
          WHERE dirty AND telegram_message_id IS NOT NULL
            AND last_edit_at <= now() - make_interval(secs => $1)
          RETURNING user_id, conversation_id, chat_id, telegram_message_id, unread, sender_name,
                    preview, title, senders",
    )
    .bind(interval_secs)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DueEdit {
            user: r.get("user_id"),
            conversation: r.get("conversation_id"),
            chat_id: r.get("chat_id"),
            telegram_message_id: r.get("telegram_message_id"),
            unread: r.get("unread"),
            sender_name: r.get("sender_name"),
            preview: r.get("preview"),
            title: r.get("title"),
            senders: r.get("senders"),
        })
        .collect())
}

/// Puts a claimed edit back (it failed and should be retried), not before `delay_secs`.
pub(crate) async fn retry_edit(
    pool: &PgPool,
    user: Uuid,
    conversation: Uuid,
    delay_secs: f64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE notifier_notifications SET dirty = true,
                last_edit_at = now() + make_interval(secs => $3)
          WHERE user_id = $1 AND conversation_id = $2",
    )
    .bind(user)
    .bind(conversation)
    .bind(delay_secs)
    .execute(pool)
    .await?;
    Ok(())
}
