//! `conversations` and `members`: what the history read model holds about conversations, pairs
//! and groups alike, for an operator answering "who is in this group, and how far have they read?".

use crate::cli::KindArg;
use crate::output::Out;
use crate::CtlError;
use domain::{ConversationId, ConversationKind, Username};
use eventstore::EventStore;
use projections::history::overview::{self, ConversationFilter};
use serde::Serialize;

const TIME: &str = "%Y-%m-%d %H:%M:%S%.3f";

pub async fn conversations(
    store: &EventStore,
    out: &mut Out,
    kind: Option<KindArg>,
    member: Option<&str>,
    limit: i64,
) -> Result<(), CtlError> {
    #[derive(Serialize)]
    struct ConversationJson<'a> {
        conversation_id: uuid::Uuid,
        kind: &'a str,
        title: Option<&'a str>,
        member_count: i64,
        last_seq: i64,
        last_activity_at: chrono::DateTime<chrono::Utc>,
    }
    let member = member
        .map(Username::parse)
        .transpose()
        .map_err(|e| CtlError::Usage(format!("--member: {}", e.message)))?;
    let filter = ConversationFilter {
        kind: kind.map(|k| match k {
            KindArg::Direct => ConversationKind::Direct,
            KindArg::Group => ConversationKind::Group,
        }),
        member,
        limit,
    };
    let rows = overview::conversations(store.pool(), &filter).await?;
    if out.json {
        for c in &rows {
            out.json_line(&ConversationJson {
                conversation_id: c.conversation_id,
                kind: &c.kind,
                title: c.title.as_deref(),
                member_count: c.member_count,
                last_seq: c.last_seq,
                last_activity_at: c.last_activity_at,
            })?;
        }
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|c| {
                vec![
                    c.conversation_id.to_string(),
                    c.kind.clone(),
                    c.title.clone().unwrap_or_else(|| "-".to_owned()),
                    c.member_count.to_string(),
                    c.last_seq.to_string(),
                    c.last_activity_at.format(TIME).to_string(),
                ]
            })
            .collect();
        out.table(
            &[
                "CONVERSATION",
                "KIND",
                "TITLE",
                "MEMBERS",
                "LAST SEQ",
                "LAST ACTIVITY (UTC)",
            ],
            &table,
        )?;
    }
    if rows.len() as i64 == limit {
        eprintln!("(the {limit} most recently active; --limit shows more)");
    }
    Ok(())
}

pub async fn members(store: &EventStore, out: &mut Out, id: uuid::Uuid) -> Result<(), CtlError> {
    #[derive(Serialize)]
    struct MemberJson<'a> {
        user_id: uuid::Uuid,
        username: &'a str,
        display_name: &'a str,
        role: Option<&'a str>,
        joined_after: i64,
        read_up_to: i64,
        muted: bool,
    }
    let Some((conversation, members)) =
        overview::members(store.pool(), ConversationId::from_uuid(id)).await?
    else {
        return Err(CtlError::Usage(format!(
            "no conversation {id} in the history read model (`chatctl conversations` lists them)"
        )));
    };
    if out.json {
        for m in &members {
            out.json_line(&MemberJson {
                user_id: m.user_id,
                username: &m.username,
                display_name: &m.display_name,
                role: m.role.as_deref(),
                joined_after: m.joined_after,
                read_up_to: m.read_up_to,
                muted: m.muted,
            })?;
        }
        return Ok(());
    }
    let name = match &conversation.title {
        Some(title) => format!("group {title:?}"),
        None => conversation.kind.clone(),
    };
    out.line(&format!(
        "{name} {id}: {} members, last seq {}",
        conversation.member_count, conversation.last_seq
    ))?;
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            vec![
                m.username.clone(),
                m.display_name.clone(),
                m.role.clone().unwrap_or_else(|| "-".to_owned()),
                m.joined_after.to_string(),
                m.read_up_to.to_string(),
                if m.muted { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    out.table(
        &[
            "USERNAME",
            "DISPLAY NAME",
            "ROLE",
            "JOINED AFTER",
            "READ UP TO",
            "MUTED",
        ],
        &rows,
    )?;
    Ok(())
}
