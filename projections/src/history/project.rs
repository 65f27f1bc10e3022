//! How each conversation event changes the history tables.

use crate::copy::BinaryRows;
use crate::ProjectionError;
use chrono::{DateTime, Utc};
use domain::ConversationEvent;
use eventstore::LoggedEvent;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// Applies a batch of events, with the effect of applying them one by one. Sends (the bulk of any
/// batch) are written together: one binary `COPY` of the messages and one update per table for
/// a run of them, instead of four statements per message. Read receipts do not end a run: a
/// member's unread count is always exactly "the peer's undeleted messages after what they have
/// read", so the members who read are recounted once, after the batch's sends and receipts are all
/// written. Conversation starts do not end a run either (a conversation's sends come after its
/// start). Only edits and deletions, which must find the messages sent before them, write the run
/// first. A rebuild's batches thus take a handful of statements however many receipts they hold.
pub(super) async fn apply_all<E: LoggedEvent>(
    conn: &mut PgConnection,
    events: &[E],
) -> Result<(), ProjectionError> {
    let mut run = SentRun::default();
    let mut reads = Reads::default();
    for event in events {
        if !event.stream_id().starts_with("conversation-") {
            continue;
        }
        match event.decode::<ConversationEvent>()? {
            ConversationEvent::MessageSent {
                conversation_id,
                message_id,
                seq,
                sender,
                recipient,
                body,
                client_id,
                sent_at,
            } => run.push(Sent {
                conversation_id: conversation_id.as_uuid(),
                seq,
                message_id,
                sender_id: sender.id.as_uuid(),
                sender_username: sender.username.into(),
                sender_display_name: sender.display_name.into(),
                recipient_id: recipient.id.as_uuid(),
                body: body.into(),
                client_id: client_id.into(),
                sent_at,
                position: event.position(),
            }),
            ConversationEvent::MessagesRead {
                conversation_id,
                reader_id,
                up_to,
                ..
            } => reads.push(conversation_id.as_uuid(), reader_id.as_uuid(), up_to),
            other @ ConversationEvent::ConversationStarted { .. } => {
                apply_other(conn, event, other).await?;
            }
            other => {
                run.flush(conn).await?;
                apply_other(conn, event, other).await?;
            }
        }
    }
    run.flush(conn).await?;
    reads.flush(conn).await
}

/// The receipts of a batch: how far each member has read, applied after the batch's sends.
#[derive(Default)]
struct Reads(HashMap<(Uuid, Uuid), i64>);

impl Reads {
    fn push(&mut self, conversation_id: Uuid, reader_id: Uuid, up_to: i64) {
        let read = self.0.entry((conversation_id, reader_id)).or_insert(up_to);
        *read = (*read).max(up_to);
    }

    /// Moves each reader's mark forward and recounts their unread messages, in one statement.
    async fn flush(self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let (keys, ups): (Vec<(Uuid, Uuid)>, Vec<i64>) = self.0.into_iter().unzip();
        let (conversations, readers): (Vec<Uuid>, Vec<Uuid>) = keys.into_iter().unzip();
        sqlx::query(
            "UPDATE members m SET read_up_to = GREATEST(m.read_up_to, v.up_to),
                    unread = (SELECT count(*) FROM messages x
                               WHERE x.conversation_id = m.conversation_id
                                 AND x.seq > GREATEST(m.read_up_to, v.up_to)
                                 AND x.sender_id <> m.user_id AND x.deleted_at IS NULL)
               FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS v(conversation_id, user_id, up_to)
              WHERE m.conversation_id = v.conversation_id AND m.user_id = v.user_id",
        )
        .bind(&conversations)
        .bind(&readers)
        .bind(&ups)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// A message as its send event has it, flattened into columns.
struct Sent {
    conversation_id: Uuid,
    seq: i64,
    message_id: Uuid,
    sender_id: Uuid,
    sender_username: String,
    sender_display_name: String,
    recipient_id: Uuid,
    body: String,
    client_id: String,
    sent_at: DateTime<Utc>,
    position: i64,
}

/// Consecutive sends waiting to be written together.
#[derive(Default)]
struct SentRun(Vec<Sent>);

impl SentRun {
    fn push(&mut self, sent: Sent) {
        self.0.push(sent);
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let sent = std::mem::take(&mut self.0);
        // Fixed fields (four uuids, three int8s and the lengths) take about 140 bytes a row.
        let text_bytes: usize = sent
            .iter()
            .map(|s| {
                s.sender_username.len()
                    + s.sender_display_name.len()
                    + s.body.len()
                    + s.client_id.len()
            })
            .sum();
        let mut messages = BinaryRows::with_capacity(sent.len() * 140 + text_bytes);
        for s in &sent {
            messages
                .row(10)
                .uuid(s.conversation_id)
                .int8(s.seq)
                .uuid(s.message_id)
                .uuid(s.sender_id)
                .text(&s.sender_username)
                .text(&s.sender_display_name)
                .text(&s.body)
                .text(&s.client_id)
                .timestamptz(s.sent_at)
                .int8(s.position);
        }
        messages
            .copy_in(
                conn,
                "COPY messages (conversation_id, seq, message_id, sender_id, sender_username,
                            sender_display_name, body, client_id, sent_at, position)
               FROM STDIN (FORMAT binary)",
            )
            .await?;

        // Per conversation, its last message; per recipient's row, the count and the last sender
        // (in a pair the recipient's peer is the sender: keep the peer's name fresh).
        let mut last: HashMap<Uuid, (i64, DateTime<Utc>)> = HashMap::new();
        let mut rows: HashMap<(Uuid, Uuid), (i64, &str, &str)> = HashMap::new();
        for s in &sent {
            last.insert(s.conversation_id, (s.seq, s.sent_at));
            let row = rows
                .entry((s.conversation_id, s.recipient_id))
                .or_insert((0, "", ""));
            *row = (row.0 + 1, &s.sender_username, &s.sender_display_name);
        }
        let (ids, ends): (Vec<Uuid>, Vec<(i64, DateTime<Utc>)>) = last.into_iter().unzip();
        let (seqs, ats): (Vec<i64>, Vec<DateTime<Utc>>) = ends.into_iter().unzip();
        sqlx::query(
            "UPDATE conversations c SET last_seq = v.seq, last_activity_at = v.at
               FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS v(id, seq, at)
              WHERE c.conversation_id = v.id",
        )
        .bind(&ids)
        .bind(&seqs)
        .bind(&ats)
        .execute(&mut *conn)
        .await?;
        let (keys, values): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
        let (conversations, users): (Vec<Uuid>, Vec<Uuid>) = keys.into_iter().unzip();
        sqlx::query(
            "UPDATE members m SET unread = m.unread + v.n, peer_username = v.username,
                                  peer_display_name = v.display_name
               FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[])
                    AS v(conversation_id, user_id, n, username, display_name)
              WHERE m.conversation_id = v.conversation_id AND m.user_id = v.user_id",
        )
        .bind(&conversations)
        .bind(&users)
        .bind(values.iter().map(|v| v.0).collect::<Vec<_>>())
        .bind(values.iter().map(|v| v.1).collect::<Vec<_>>())
        .bind(values.iter().map(|v| v.2).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// Starts, edits and deletions, one at a time (they are rare next to sends).
async fn apply_other<E: LoggedEvent>(
    conn: &mut PgConnection,
    event: &E,
    decoded: ConversationEvent,
) -> Result<(), ProjectionError> {
    match decoded {
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
            .bind(event.recorded_at())
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
        // Written in runs by `SentRun`; `apply_all` never passes one here.
        ConversationEvent::MessageSent { .. } => {}
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
        // Gathered by `Reads` and written after the batch's sends; never passed here.
        ConversationEvent::MessagesRead { .. } => {}
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
