//! What clients receive for each durable event, and who receives it.
//!
//! Rendered once, by the publisher (live) or by a gateway replaying a backlog (resume), so both
//! paths send byte-for-byte the same frames. Each carries `cursor`, the event's global position.

use domain::{ConversationEvent, UserId};
use eventstore::RecordedEvent;
use wire::{Message, Sent, ServerFrame, UserRef};

/// A rendered frame addressed to one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub to: UserId,
    /// The event kind in subjects, e.g. `message.new`.
    pub kind: &'static str,
    pub cursor: i64,
    /// The JSON text sent to the client.
    pub json: String,
}

/// The frames of one stored event (none for events clients do not see).
pub fn render(event: &RecordedEvent) -> Result<Vec<Frame>, crate::BusError> {
    if !event.stream_id.starts_with("conversation-") {
        return Ok(vec![]);
    }
    let cursor = event.position;
    let decoded: ConversationEvent = event.decode()?;
    let (recipients, frame) = match &decoded {
        ConversationEvent::ConversationStarted {
            conversation_id,
            members,
        } => (
            vec![members[0].id, members[1].id],
            ServerFrame::ConversationStarted {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                members: members.iter().map(UserRef::from).collect(),
            },
        ),
        ConversationEvent::MessageSent {
            conversation_id,
            message_id,
            seq,
            sender,
            recipient,
            body,
            client_id,
            sent_at,
        } => (
            // The sender's other devices see their own messages too.
            vec![recipient.id, sender.id],
            ServerFrame::MessageNew {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                message: Message::from(Sent {
                    conversation_id: *conversation_id,
                    id: *message_id,
                    seq: *seq,
                    sender,
                    body: body.as_str(),
                    client_id: client_id.as_str(),
                    sent_at: *sent_at,
                    cursor,
                }),
            },
        ),
        ConversationEvent::MessageEdited {
            conversation_id,
            message_id,
            seq,
            editor_id,
            recipient_id,
            body,
            edited_at,
        } => (
            vec![*recipient_id, *editor_id],
            ServerFrame::MessageEdited {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                message_id: *message_id,
                seq: *seq,
                body: body.as_str().to_owned(),
                edited_at: *edited_at,
            },
        ),
        ConversationEvent::MessageDeleted {
            conversation_id,
            message_id,
            seq,
            deleted_by,
            recipient_id,
            deleted_at,
        } => (
            vec![*recipient_id, *deleted_by],
            ServerFrame::MessageDeleted {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                message_id: *message_id,
                seq: *seq,
                deleted_at: *deleted_at,
            },
        ),
        ConversationEvent::MessagesRead {
            conversation_id,
            reader_id,
            peer_id,
            up_to,
            ..
        } => (
            vec![*peer_id, *reader_id],
            ServerFrame::Read {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                reader_id: reader_id.as_uuid(),
                up_to: *up_to,
            },
        ),
    };
    let kind = frame.kind();
    let json = frame.to_json();
    Ok(recipients
        .into_iter()
        .map(|to| Frame {
            to,
            kind,
            cursor,
            json: json.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{ClientId, ConversationId, Member, MessageBody};
    use uuid::Uuid;

    fn recorded(position: i64, stream_id: String, event: &ConversationEvent) -> RecordedEvent {
        RecordedEvent {
            position,
            event_id: Uuid::new_v4(),
            stream_id,
            stream_version: 1,
            event_type: event.event_type().to_owned(),
            schema_version: 1,
            data: serde_json::to_value(event).unwrap(),
            metadata: Default::default(),
            recorded_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_sent_message_reaches_the_recipient_and_the_senders_other_devices_as_one_frame() {
        let (ann, ben) = (Member::named("ann"), Member::named("ben"));
        let conversation = ConversationId::for_pair(ann.id, ben.id);
        let event = ConversationEvent::MessageSent {
            conversation_id: conversation,
            message_id: Uuid::new_v4(),
            seq: 4,
            sender: ann.clone(),
            recipient: ben.clone(),
            body: MessageBody::parse("hello").unwrap(),
            client_id: ClientId::parse("c-1").unwrap(),
            sent_at: chrono::Utc::now(),
        };
        let frames = render(&recorded(
            77,
            format!("conversation-{conversation}"),
            &event,
        ))
        .unwrap();

        let to: Vec<UserId> = frames.iter().map(|f| f.to).collect();
        assert_eq!(to, vec![ben.id, ann.id]);
        assert!(frames.iter().all(|f| f.json == frames[0].json));
        assert!(frames
            .iter()
            .all(|f| f.kind == "message.new" && f.cursor == 77));
        let ServerFrame::MessageNew {
            cursor, message, ..
        } = serde_json::from_str(&frames[0].json).unwrap()
        else {
            panic!("not a message.new frame: {}", frames[0].json);
        };
        assert_eq!((cursor, message.cursor, message.seq), (77, 77, 4));
        assert_eq!(message.body.as_deref(), Some("hello"));
        assert_eq!(message.sender.username, "ann");
        assert_eq!(message.client_id, "c-1");
        assert!(!message.edited && !message.deleted);
    }

    #[test]
    fn a_read_receipt_goes_to_the_peer_and_the_readers_other_devices() {
        let (ann, ben) = (Member::named("ann"), Member::named("ben"));
        let conversation = ConversationId::for_pair(ann.id, ben.id);
        let event = ConversationEvent::MessagesRead {
            conversation_id: conversation,
            reader_id: ben.id,
            peer_id: ann.id,
            up_to: 9,
            read_at: chrono::Utc::now(),
        };
        let frames = render(&recorded(5, format!("conversation-{conversation}"), &event)).unwrap();
        assert_eq!(
            frames.iter().map(|f| f.to).collect::<Vec<_>>(),
            vec![ann.id, ben.id]
        );
        let frame: ServerFrame = serde_json::from_str(&frames[0].json).unwrap();
        assert_eq!(
            frame,
            ServerFrame::Read {
                cursor: 5,
                conversation_id: conversation.as_uuid(),
                reader_id: ben.id.as_uuid(),
                up_to: 9
            }
        );
    }

    #[test]
    fn events_of_other_streams_are_not_shown_to_clients() {
        let mut event = recorded(
            1,
            "conversation-x".into(),
            &ConversationEvent::MessagesRead {
                conversation_id: ConversationId::for_pair(UserId::new(), UserId::new()),
                reader_id: UserId::new(),
                peer_id: UserId::new(),
                up_to: 1,
                read_at: chrono::Utc::now(),
            },
        );
        event.stream_id = format!("user-{}", Uuid::new_v4());
        assert!(render(&event).unwrap().is_empty());
    }
}
