//! How a group's own events change the history tables: its creation, members coming and going,
//! renames and roles (and a member's mute switch, a pair's as well as a group's). Each change after the creation is also a system entry in the timeline, a
//! row of `messages` with the event's `seq` (see `schema.sql`).

use crate::ProjectionError;
use chrono::{DateTime, Utc};
use domain::{ConversationEvent as E, Member, RemovalReason, Role};
use sqlx::PgConnection;
use uuid::Uuid;

/// Where a group's event sits in the log: its id names its system entry, its position orders it.
pub(super) struct Logged {
    pub event_id: Uuid,
    pub position: i64,
}

/// A system entry as a `messages` row.
struct Entry<'a> {
    conversation_id: Uuid,
    seq: i64,
    by: &'a Member,
    at: DateTime<Utc>,
    kind: &'static str,
    subject: Option<&'a Member>,
    detail: Option<&'a str>,
}

pub(super) async fn apply(
    conn: &mut PgConnection,
    event: &Logged,
    decoded: E,
) -> Result<(), ProjectionError> {
    match &decoded {
        E::GroupCreated {
            conversation_id,
            title,
            members,
            created_at,
            ..
        } => {
            let id = conversation_id.as_uuid();
            sqlx::query(
                "INSERT INTO conversations (conversation_id, kind, title, member_count, started_at,
                                            last_activity_at)
                 VALUES ($1, 'group', $2, $3, $4, $4) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(title.as_str())
            .bind(members.len() as i64)
            .bind(created_at)
            .execute(&mut *conn)
            .await?;
            // The creator is the owner (first), the others members, all from the start.
            let roles: Vec<&str> = (0..members.len())
                .map(|n| if n == 0 { "owner" } else { "member" })
                .collect();
            sqlx::query(
                "INSERT INTO members (user_id, conversation_id, role, joined_after, username,
                                      display_name)
                 SELECT v.user_id, $1, v.role, 0, v.username, v.display_name
                   FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[])
                        AS v(user_id, role, username, display_name)
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(members.iter().map(|m| m.id.as_uuid()).collect::<Vec<_>>())
            .bind(&roles)
            .bind(
                members
                    .iter()
                    .map(|m| m.username.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                members
                    .iter()
                    .map(|m| m.display_name.as_str())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await?;
        }
        E::MemberAdded {
            conversation_id,
            seq,
            member,
            added_by,
            added_at,
        } => {
            let id = conversation_id.as_uuid();
            entry(
                conn,
                event,
                Entry {
                    conversation_id: id,
                    seq: *seq,
                    by: added_by,
                    at: *added_at,
                    kind: "member_added",
                    subject: Some(member),
                    detail: None,
                },
            )
            .await?;
            // Their own "added" entry is not unread to them; what came before they never see.
            sqlx::query(
                "INSERT INTO members (user_id, conversation_id, role, joined_after, read_up_to,
                                      username, display_name)
                 VALUES ($1, $2, 'member', $3, $4, $5, $6)
                 ON CONFLICT (user_id, conversation_id) DO UPDATE
                    SET role = 'member', joined_after = $3, read_up_to = $4",
            )
            .bind(member.id.as_uuid())
            .bind(id)
            .bind(seq - 1)
            .bind(seq)
            .bind(member.username.as_str())
            .bind(member.display_name.as_str())
            .execute(&mut *conn)
            .await?;
            count_members(conn, id).await?;
        }
        E::MemberRemoved {
            conversation_id,
            seq,
            member,
            removed_by,
            reason,
            removed_at,
        } => {
            let id = conversation_id.as_uuid();
            let kind = match reason {
                RemovalReason::Left => "member_left",
                RemovalReason::Removed => "member_removed",
            };
            entry(
                conn,
                event,
                Entry {
                    conversation_id: id,
                    seq: *seq,
                    by: removed_by,
                    at: *removed_at,
                    kind,
                    subject: Some(member),
                    detail: None,
                },
            )
            .await?;
            sqlx::query("DELETE FROM members WHERE user_id = $1 AND conversation_id = $2")
                .bind(member.id.as_uuid())
                .bind(id)
                .execute(&mut *conn)
                .await?;
            count_members(conn, id).await?;
            sqlx::query(
                "INSERT INTO departures (user_id, conversation_id, position) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, conversation_id) DO UPDATE SET position = $3",
            )
            .bind(member.id.as_uuid())
            .bind(id)
            .bind(event.position)
            .execute(&mut *conn)
            .await?;
        }
        E::GroupRenamed {
            conversation_id,
            seq,
            title,
            renamed_by,
            renamed_at,
        } => {
            let id = conversation_id.as_uuid();
            entry(
                conn,
                event,
                Entry {
                    conversation_id: id,
                    seq: *seq,
                    by: renamed_by,
                    at: *renamed_at,
                    kind: "renamed",
                    subject: None,
                    detail: Some(title.as_str()),
                },
            )
            .await?;
            sqlx::query("UPDATE conversations SET title = $2 WHERE conversation_id = $1")
                .bind(id)
                .bind(title.as_str())
                .execute(&mut *conn)
                .await?;
        }
        E::OwnershipTransferred {
            conversation_id,
            seq,
            from,
            to,
            transferred_at,
        } => {
            let id = conversation_id.as_uuid();
            entry(
                conn,
                event,
                Entry {
                    conversation_id: id,
                    seq: *seq,
                    by: from,
                    at: *transferred_at,
                    kind: "ownership_transferred",
                    subject: Some(to),
                    detail: None,
                },
            )
            .await?;
            set_role(conn, id, from, Role::Admin).await?;
            set_role(conn, id, to, Role::Owner).await?;
        }
        E::RoleChanged {
            conversation_id,
            seq,
            member,
            role,
            changed_by,
            changed_at,
        } => {
            let id = conversation_id.as_uuid();
            entry(
                conn,
                event,
                Entry {
                    conversation_id: id,
                    seq: *seq,
                    by: changed_by,
                    at: *changed_at,
                    kind: "role_changed",
                    subject: Some(member),
                    detail: Some(role.as_str()),
                },
            )
            .await?;
            set_role(conn, id, member, *role).await?;
        }
        // Its last member's removal took their row already; nothing is left to show.
        E::GroupClosed { .. } => {}
        // A pair's or a group's member's own switch.
        E::ConversationMuted {
            conversation_id,
            member_id,
            ..
        }
        | E::ConversationUnmuted {
            conversation_id,
            member_id,
            ..
        } => {
            sqlx::query(
                "UPDATE members SET muted = $3 WHERE conversation_id = $1 AND user_id = $2",
            )
            .bind(conversation_id.as_uuid())
            .bind(member_id.as_uuid())
            .bind(matches!(decoded, E::ConversationMuted { .. }))
            .execute(&mut *conn)
            .await?;
        }
        // A pair's events and a group's messages are applied by `project.rs`.
        E::ConversationStarted { .. }
        | E::MessageSent { .. }
        | E::MessageEdited { .. }
        | E::MessageDeleted { .. }
        | E::MessagesRead { .. }
        | E::GroupMessageSent { .. }
        | E::GroupMessageEdited { .. }
        | E::GroupMessageDeleted { .. }
        | E::GroupMessagesRead { .. } => {}
    }
    Ok(())
}

/// Writes a system entry and moves the conversation's end to it.
async fn entry(
    conn: &mut PgConnection,
    event: &Logged,
    entry: Entry<'_>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO messages (conversation_id, seq, message_id, sender_id, sender_username,
                               sender_display_name, body, client_id, sent_at, position, entry,
                               subject_id, subject_username, subject_display_name, detail)
         VALUES ($1, $2, $3, $4, $5, $6, NULL, '', $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(entry.conversation_id)
    .bind(entry.seq)
    .bind(event.event_id)
    .bind(entry.by.id.as_uuid())
    .bind(entry.by.username.as_str())
    .bind(entry.by.display_name.as_str())
    .bind(entry.at)
    .bind(event.position)
    .bind(entry.kind)
    .bind(entry.subject.map(|m| m.id.as_uuid()))
    .bind(entry.subject.map(|m| m.username.as_str()))
    .bind(entry.subject.map(|m| m.display_name.as_str()))
    .bind(entry.detail)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE conversations SET last_seq = $2, last_activity_at = $3 WHERE conversation_id = $1",
    )
    .bind(entry.conversation_id)
    .bind(entry.seq)
    .bind(entry.at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn set_role(
    conn: &mut PgConnection,
    conversation_id: Uuid,
    member: &Member,
    role: Role,
) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE members SET role = $3 WHERE conversation_id = $1 AND user_id = $2")
        .bind(conversation_id)
        .bind(member.id.as_uuid())
        .bind(role.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn count_members(
    conn: &mut PgConnection,
    conversation_id: Uuid,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE conversations c
            SET member_count = (SELECT count(*) FROM members m
                                 WHERE m.conversation_id = c.conversation_id)
          WHERE c.conversation_id = $1",
    )
    .bind(conversation_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
