//! How each conversation event changes the history tables.

use crate::ProjectionError;
use domain::ConversationEvent;
use eventstore::RecordedEvent;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    if !event.stream_id.starts_with("conversation-") {
        return Ok(());
    }
    match event.decode::<ConversationEvent>()? {
        ConversationEvent::ConversationStarted {
            conversation_id,
            members,
        } => {
            let id = conversation_id.as_uuid();
            sqlx::query(
                "INSERT INTO conversations (conversation_id, started_at, last_activity_at)
                 VALUES ($1, $2, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(event.recorded_at)
            .execute(&mut *conn)
            .await?;
            for (me, peer) in [(&members[0], &members[1]), (&members[1], &members[0])] {
                sqlx::query(
                    "INSERT INTO members (user_id, conversation_id, peer_id, peer_username, peer_display_name)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(me.id.as_uuid())
                .bind(id)
                .bind(peer.id.as_uuid())
                .bind(peer.username.as_str())
                .bind(peer.display_name.as_str())
                .execute(&mut *conn)
                .await?;
            }
        }
        ConversationEvent::MessageSent {
            conversation_id,
            message_id,
            seq,
            sender,
            recipient,
            body,
            client_id,
            sent_at,
        } => {
            let id = conversation_id.as_uuid();
            sqlx::query(
                "INSERT INTO messages (conversation_id, seq, message_id, sender_id, sender_username,
                                       sender_display_name, body, client_id, sent_at, position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(id)
            .bind(seq)
            .bind(message_id)
            .bind(sender.id.as_uuid())
            .bind(sender.username.as_str())
            .bind(sender.display_name.as_str())
            .bind(body.as_str())
            .bind(client_id.as_str())
            .bind(sent_at)
            .bind(event.position)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE conversations SET last_seq = $2, last_activity_at = $3
                  WHERE conversation_id = $1",
            )
            .bind(id)
            .bind(seq)
            .bind(sent_at)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE members SET unread = unread + 1 WHERE conversation_id = $1 AND user_id = $2",
            )
            .bind(id)
            .bind(recipient.id.as_uuid())
            .execute(&mut *conn)
            .await?;
            // The sender's own side keeps the peer's name fresh.
            sqlx::query(
                "UPDATE members SET peer_username = $3, peer_display_name = $4
                  WHERE conversation_id = $1 AND user_id = $2",
            )
            .bind(id)
            .bind(recipient.id.as_uuid())
            .bind(sender.username.as_str())
            .bind(sender.display_name.as_str())
            .execute(&mut *conn)
            .await?;
        }
        ConversationEvent::MessageEdited {
            conversation_id,
            seq,
            body,
            edited_at,
            ..
        } => {
            sqlx::query(
                "UPDATE messages SET body = $3, edited_at = $4
                  WHERE conversation_id = $1 AND seq = $2 AND deleted_at IS NULL",
            )
            .bind(conversation_id.as_uuid())
            .bind(seq)
            .bind(body.as_str())
            .bind(edited_at)
            .execute(&mut *conn)
            .await?;
        }
        ConversationEvent::MessageDeleted {
            conversation_id,
            seq,
            recipient_id,
            deleted_at,
            ..
        } => {
            sqlx::query(
                "UPDATE messages SET body = NULL, deleted_at = $3
                  WHERE conversation_id = $1 AND seq = $2",
            )
            .bind(conversation_id.as_uuid())
            .bind(seq)
            .bind(deleted_at)
            .execute(&mut *conn)
            .await?;
            recount_unread(conn, conversation_id.as_uuid(), recipient_id.as_uuid()).await?;
        }
        ConversationEvent::MessagesRead {
            conversation_id,
            reader_id,
            up_to,
            ..
        } => {
            sqlx::query(
                "UPDATE members SET read_up_to = GREATEST(read_up_to, $3)
                  WHERE conversation_id = $1 AND user_id = $2",
            )
            .bind(conversation_id.as_uuid())
            .bind(reader_id.as_uuid())
            .bind(up_to)
            .execute(&mut *conn)
            .await?;
            recount_unread(conn, conversation_id.as_uuid(), reader_id.as_uuid()).await?;
        }
    }
    Ok(())
}

/// Unread: the peer's messages after what `user` has read, not counting deleted ones.
async fn recount_unread(
    conn: &mut PgConnection,
    conversation_id: Uuid,
    user: Uuid,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE members m SET unread = (
             SELECT count(*) FROM messages x
              WHERE x.conversation_id = m.conversation_id AND x.seq > m.read_up_to
                AND x.sender_id <> m.user_id AND x.deleted_at IS NULL)
          WHERE m.conversation_id = $1 AND m.user_id = $2",
    )
    .bind(conversation_id)
    .bind(user)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
