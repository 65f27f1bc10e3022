//! `generate`: a large, realistic store for measuring rebuilds: conversations between pairs of
//! people, messages alternating between them, read receipts and a few edits, all valid domain
//! events. Written through the import path (one transaction), after whatever the store holds.

use crate::output::Out;
use crate::progress::Reporter;
use crate::CtlError;
use chrono::{Duration, Utc};
use domain::{
    ClientId, ConversationEvent, ConversationId, DisplayName, Member, MessageBody, UserId, Username,
};
use eventstore::{EventStore, ExportedEvent};
use serde_json::value::RawValue;

/// Events per insert.
const PAGE: usize = 10_000;

struct Conversation {
    id: ConversationId,
    members: [Member; 2],
    /// Events in its stream so far (its version).
    version: i64,
    last_seq: i64,
}

pub async fn generate(
    store: &EventStore,
    out: &mut Out,
    events: u64,
    conversations: u64,
) -> Result<(), CtlError> {
    if conversations == 0 || events < conversations {
        return Err(CtlError::Usage(
            "--events must be at least --conversations, which must be at least 1".into(),
        ));
    }
    let run = uuid::Uuid::new_v4().simple().to_string();
    let member = |name: String| -> Result<Member, CtlError> {
        let username = Username::parse(&name)
            .map_err(|e| CtlError::Failed(anyhow::anyhow!("generated username {name}: {e}")))?;
        Ok(Member {
            id: UserId::new(),
            display_name: DisplayName::from_username(&username),
            username,
        })
    };
    let mut pairs = Vec::with_capacity(conversations as usize);
    for i in 0..conversations {
        let a = member(format!("g{}a{i}", &run[..6]))?;
        let b = member(format!("g{}b{i}", &run[..6]))?;
        pairs.push(Conversation {
            id: ConversationId::for_pair(a.id, b.id),
            members: [a, b],
            version: 0,
            last_seq: 0,
        });
    }
    let mut importer = store.import(true).await?;
    let mut position = store.head_position().await?;
    let head = position + events as i64;
    // Recorded times spread over the last `events` milliseconds, in order.
    let start = Utc::now() - Duration::milliseconds(events as i64);
    let mut reporter = Reporter::new("generate");
    let mut page: Vec<ExportedEvent> = Vec::with_capacity(PAGE);
    for n in 0..events {
        let at = start + Duration::milliseconds(n as i64);
        let c = &mut pairs[(n % conversations) as usize];
        let event = if c.version == 0 {
            ConversationEvent::ConversationStarted {
                conversation_id: c.id,
                members: c.members.clone(),
            }
        } else if c.last_seq > 0 && n % 50 == 7 {
            ConversationEvent::MessagesRead {
                conversation_id: c.id,
                reader_id: c.members[(c.last_seq % 2) as usize].id,
                peer_id: c.members[((c.last_seq + 1) % 2) as usize].id,
                up_to: c.last_seq,
                read_at: at,
            }
        } else {
            let seq = c.last_seq + 1;
            let sender = &c.members[(seq % 2) as usize];
            let recipient = &c.members[((seq + 1) % 2) as usize];
            let client_id = ClientId::parse(&format!("gen-{n}"))
                .map_err(|e| CtlError::Failed(anyhow::anyhow!("generated client id: {e}")))?;
            let body = MessageBody::parse(&format!("message {seq} of a generated conversation"))
                .map_err(|e| CtlError::Failed(anyhow::anyhow!("generated body: {e}")))?;
            ConversationEvent::MessageSent {
                conversation_id: c.id,
                message_id: c.id.message_id(sender.id, &client_id),
                seq,
                sender: sender.clone(),
                recipient: recipient.clone(),
                body,
                client_id,
                sent_at: at,
            }
        };
        if let ConversationEvent::MessageSent { seq, .. } = &event {
            c.last_seq = *seq;
        }
        c.version += 1;
        position += 1;
        let data = serde_json::to_string(&event)
            .and_then(RawValue::from_string)
            .map_err(|e| CtlError::Failed(e.into()))?;
        page.push(ExportedEvent {
            position,
            event_id: event.event_id(),
            stream_id: c.id.stream_id(),
            stream_version: c.version,
            event_type: event.event_type().to_owned(),
            schema_version: 1,
            data,
            metadata: RawValue::from_string("{\"actor\": \"system:generate\"}".to_owned())
                .map_err(|e| CtlError::Failed(e.into()))?,
            recorded_at: at,
        });
        if page.len() >= PAGE {
            importer.write(&page).await?;
            page.clear();
            reporter.update(projections::Progress {
                position,
                head,
                applied: n + 1,
            });
        }
    }
    importer.write(&page).await?;
    let written = importer.finish().await?;
    let elapsed = reporter.finish();
    if out.json {
        out.json_line(&serde_json::json!({
            "events": written, "conversations": conversations, "head": position,
            "seconds": elapsed.as_secs_f64(),
        }))?;
    } else {
        out.line(&format!(
            "generated {written} events in {conversations} conversations in {:.1}s; the log's head is now {position}",
            elapsed.as_secs_f64()
        ))?;
    }
    Ok(())
}
