//! How each conversation event changes the history tables (a group's own events: `group.rs`).

use super::group;
use crate::copy::BinaryRows;
use crate::ProjectionError;
use chrono::{DateTime, Utc};
use domain::{ConversationEvent, Member};
use eventstore::LoggedEvent;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// A batch decoded into what it writes, in order: prepared on one core while the batch before it
/// is written from another (see `rebuild.rs`).
///
/// Sends (the bulk of any batch) are written together: one binary `COPY` of the messages and one
/// update per table for a run of them, instead of four statements per message. Read receipts do
/// not end a run: a member's unread count is always exactly "the peer's undeleted messages after
/// what they have read", so the members who read are recounted once, after the batch's sends and
/// receipts are all written. Conversation starts do not end a run either (a conversation's sends
/// come after its start). Only edits and deletions, which must find the messages sent before them,
/// end the run. A rebuild's batches thus take a handful of statements however many receipts they
/// hold, with the effect of applying the events one by one.
#[derive(Default)]
pub struct Prepared {
    steps: Vec<Step>,
    reads: Reads,
}

enum Step {
    Started {
        conversation_id: Uuid,
        members: [Member; 2],
        recorded_at: DateTime<Utc>,
    },
    Sends(Sends),
    /// An edit, a deletion or a group's change, with where the event sits in the log.
    Changed(ConversationEvent, group::Logged),
}

pub(super) fn prepare<E: LoggedEvent>(events: &[E]) -> Result<Prepared, ProjectionError> {
    let mut prepared = Prepared::default();
    let mut run = SentRun::default();
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
                recipient_id: Some(recipient.id.as_uuid()),
                body: body.into(),
                client_id: client_id.into(),
                sent_at,
                position: event.position(),
            }),
            ConversationEvent::GroupMessageSent {
                conversation_id,
                message_id,
                seq,
                sender,
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
                recipient_id: None,
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
            }
            | ConversationEvent::GroupMessagesRead {
                conversation_id,
                reader_id,
                up_to,
                ..
            } => prepared
                .reads
                .push(conversation_id.as_uuid(), reader_id.as_uuid(), up_to),
            ConversationEvent::ConversationStarted {
                conversation_id,
                members,
            } => prepared.steps.push(Step::Started {
                conversation_id: conversation_id.as_uuid(),
                members,
                recorded_at: event.recorded_at(),
            }),
            changed => {
                if !run.0.is_empty() {
                    prepared
                        .steps
                        .push(Step::Sends(std::mem::take(&mut run).finish()));
                }
                let logged = group::Logged {
                    event_id: event.event_id(),
                    position: event.position(),
                };
                prepared.steps.push(Step::Changed(changed, logged));
            }
        }
    }
    if !run.0.is_empty() {
        prepared.steps.push(Step::Sends(run.finish()));
    }
    Ok(prepared)
}

pub(super) async fn write(
    conn: &mut PgConnection,
    prepared: Prepared,
) -> Result<(), ProjectionError> {
    for step in prepared.steps {
        match step {
            Step::Started {
                conversation_id,
                members,
                recorded_at,
            } => start(conn, conversation_id, &members, recorded_at).await?,
            Step::Sends(sends) => sends.write(conn).await?,
            Step::Changed(event, logged) => change(conn, event, &logged).await?,
        }
    }
    prepared.reads.flush(conn).await
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
    /// A pair's other member, whose unread count grows; `None` in a group, where the sender's
    /// read position moves instead (unread is derived there).
    recipient_id: Option<Uuid>,
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

    /// What the run writes: its messages in `COPY`'s form, and per conversation its last
    /// message, per recipient's row the count and the last sender (in a pair the recipient's peer
    /// is the sender: keep the peer's name fresh).
    fn finish(self) -> Sends {
        let mut sent = self.0;
        // In key order: Postgres then inserts each conversation's messages into the same leaf of
        // the primary key one after the other, instead of jumping between a thousand of them (the
        // index upkeep was most of a rebuild's COPY). Within a conversation this is the log's order
        // (seq is dense and increasing), which the last-message bookkeeping below relies on.
        sent.sort_unstable_by_key(|s| (s.conversation_id, s.seq));
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
        let mut last: HashMap<Uuid, (i64, DateTime<Utc>)> = HashMap::new();
        let mut rows: HashMap<(Uuid, Uuid), (i64, &str, &str)> = HashMap::new();
        // In a group, writing is reading: per (group, sender), their last message.
        let mut wrote: HashMap<(Uuid, Uuid), i64> = HashMap::new();
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
            last.insert(s.conversation_id, (s.seq, s.sent_at));
            match s.recipient_id {
                Some(recipient_id) => {
                    let row = rows
                        .entry((s.conversation_id, recipient_id))
                        .or_insert((0, "", ""));
                    *row = (row.0 + 1, &s.sender_username, &s.sender_display_name);
                }
                None => {
                    wrote.insert((s.conversation_id, s.sender_id), s.seq);
                }
            }
        }
        let mut sends = Sends {
            messages,
            conversations: Vec::with_capacity(last.len()),
            last_seqs: Vec::with_capacity(last.len()),
            last_at: Vec::with_capacity(last.len()),
            member_conversations: Vec::with_capacity(rows.len()),
            member_users: Vec::with_capacity(rows.len()),
            unread_added: Vec::with_capacity(rows.len()),
            peer_usernames: Vec::with_capacity(rows.len()),
            peer_display_names: Vec::with_capacity(rows.len()),
            writer_conversations: Vec::with_capacity(wrote.len()),
            writers: Vec::with_capacity(wrote.len()),
            written_seqs: Vec::with_capacity(wrote.len()),
        };
        for ((conversation, user), seq) in wrote {
            sends.writer_conversations.push(conversation);
            sends.writers.push(user);
            sends.written_seqs.push(seq);
        }
        for (id, (seq, at)) in last {
            sends.conversations.push(id);
            sends.last_seqs.push(seq);
            sends.last_at.push(at);
        }
        for ((conversation, user), (n, username, display_name)) in rows {
            sends.member_conversations.push(conversation);
            sends.member_users.push(user);
            sends.unread_added.push(n);
            sends.peer_usernames.push(username.to_owned());
            sends.peer_display_names.push(display_name.to_owned());
        }
        sends
    }
}

/// A run of sends ready to write: three statements, and a fourth for a group's senders.
struct Sends {
    messages: BinaryRows,
    conversations: Vec<Uuid>,
    last_seqs: Vec<i64>,
    last_at: Vec<DateTime<Utc>>,
    member_conversations: Vec<Uuid>,
    member_users: Vec<Uuid>,
    unread_added: Vec<i64>,
    peer_usernames: Vec<String>,
    peer_display_names: Vec<String>,
    /// A group's senders, each with their last message of the run: their read mark.
    writer_conversations: Vec<Uuid>,
    writers: Vec<Uuid>,
    written_seqs: Vec<i64>,
}

impl Sends {
    async fn write(self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        self.messages
            .copy_in(
                conn,
                "COPY messages (conversation_id, seq, message_id, sender_id, sender_username,
                                sender_display_name, body, client_id, sent_at, position)
                   FROM STDIN (FORMAT binary)",
            )
            .await?;
        sqlx::query(
            "UPDATE conversations c SET last_seq = v.seq, last_activity_at = v.at
               FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS v(id, seq, at)
              WHERE c.conversation_id = v.id",
        )
        .bind(&self.conversations)
        .bind(&self.last_seqs)
        .bind(&self.last_at)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE members m SET unread = m.unread + v.n, peer_username = v.username,
                                  peer_display_name = v.display_name
               FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[])
                    AS v(conversation_id, user_id, n, username, display_name)
              WHERE m.conversation_id = v.conversation_id AND m.user_id = v.user_id",
        )
        .bind(&self.member_conversations)
        .bind(&self.member_users)
        .bind(&self.unread_added)
        .bind(&self.peer_usernames)
        .bind(&self.peer_display_names)
        .execute(&mut *conn)
        .await?;
        if !self.writers.is_empty() {
            sqlx::query(
                "UPDATE members m SET read_up_to = GREATEST(m.read_up_to, v.seq)
                   FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS v(conversation_id, user_id, seq)
                  WHERE m.conversation_id = v.conversation_id AND m.user_id = v.user_id",
            )
            .bind(&self.writer_conversations)
            .bind(&self.writers)
            .bind(&self.written_seqs)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

async fn start(
    conn: &mut PgConnection,
    id: Uuid,
    members: &[Member; 2],
    recorded_at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO conversations (conversation_id, started_at, last_activity_at)
         VALUES ($1, $2, $2) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(recorded_at)
    .execute(&mut *conn)
    .await?;
    for (me, peer) in [(&members[0], &members[1]), (&members[1], &members[0])] {
        sqlx::query(
            "INSERT INTO members (user_id, conversation_id, peer_id, peer_username,
                                  peer_display_name, username, display_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(me.id.as_uuid())
        .bind(id)
        .bind(peer.id.as_uuid())
        .bind(peer.username.as_str())
        .bind(peer.display_name.as_str())
        .bind(me.username.as_str())
        .bind(me.display_name.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Edits, deletions and a group's changes, one at a time (they are rare next to sends).
async fn change(
    conn: &mut PgConnection,
    event: ConversationEvent,
    logged: &group::Logged,
) -> Result<(), ProjectionError> {
    match event {
        ConversationEvent::MessageEdited {
            conversation_id,
            seq,
            body,
            edited_at,
            ..
        }
        | ConversationEvent::GroupMessageEdited {
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
            delete_message(conn, conversation_id.as_uuid(), seq, deleted_at).await?;
            recount_unread(conn, conversation_id.as_uuid(), recipient_id.as_uuid()).await?;
        }
        // A group's unread count is derived, so a deletion touches no member's row.
        ConversationEvent::GroupMessageDeleted {
            conversation_id,
            seq,
            deleted_at,
            ..
        } => delete_message(conn, conversation_id.as_uuid(), seq, deleted_at).await?,
        // Starts, sends and receipts are prepared as steps of their own; never passed here.
        ConversationEvent::ConversationStarted { .. }
        | ConversationEvent::MessageSent { .. }
        | ConversationEvent::MessagesRead { .. }
        | ConversationEvent::GroupMessageSent { .. }
        | ConversationEvent::GroupMessagesRead { .. } => {}
        group_event => group::apply(conn, logged, group_event).await?,
    }
    Ok(())
}

/// Drops a message's text and marks it deleted, in a pair or a group alike.
async fn delete_message(
    conn: &mut PgConnection,
    conversation_id: Uuid,
    seq: i64,
    deleted_at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE messages SET body = NULL, deleted_at = $3
          WHERE conversation_id = $1 AND seq = $2",
    )
    .bind(conversation_id)
    .bind(seq)
    .bind(deleted_at)
    .execute(&mut *conn)
    .await?;
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
