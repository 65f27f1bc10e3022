//! What clients receive for each durable event, and who receives it.
//!
//! Rendered once, by the publisher (live) or by a gateway replaying a backlog (resume), so both
//! paths send byte-for-byte the same frame to the same people. Each carries `cursor`, the event's
//! global position.

use domain::{ConversationEvent, ConversationId, UserId};
use eventstore::RecordedEvent;
use wire::{Message, Sent, ServerFrame, UserRef};

/// The one frame of an event, and everyone who receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub conversation: ConversationId,
    /// Every user whose devices get the frame (the sender's other devices too).
    pub to: Vec<UserId>,
    /// The event kind in subjects, e.g. `message.new`.
    pub kind: &'static str,
    pub cursor: i64,
    /// The JSON text sent to the client.
    pub json: String,
}

/// The frame of one stored event of a pair (none for events clients do not see, and for a
/// group's, whose recipients depend on the membership at their position: see
/// [`crate::Renderer`]).
pub(crate) fn render_pair(
    event: &RecordedEvent,
    decoded: &ConversationEvent,
) -> Result<Option<Frame>, crate::BusError> {
    if let Some(frame) = mute_frame(event, decoded) {
        return Ok(Some(frame));
    }
    let cursor = event.position;
    let (recipients, frame) = match decoded {
        ConversationEvent::ConversationMuted { .. }
        | ConversationEvent::ConversationUnmuted { .. } => return Ok(None),
        ConversationEvent::GroupCreated { .. }
        | ConversationEvent::GroupMessageSent { .. }
        | ConversationEvent::GroupMessageEdited { .. }
        | ConversationEvent::GroupMessageDeleted { .. }
        | ConversationEvent::GroupMessagesRead { .. }
        | ConversationEvent::MemberAdded { .. }
        | ConversationEvent::MemberRemoved { .. }
        | ConversationEvent::GroupRenamed { .. }
        | ConversationEvent::OwnershipTransferred { .. }
        | ConversationEvent::RoleChanged { .. }
        | ConversationEvent::GroupClosed { .. } => return Ok(None),
        ConversationEvent::ConversationStarted {
            conversation_id,
            members,
        } => (
            vec![members[0].id, members[1].id],
            ServerFrame::ConversationStarted {
                cursor,
                conversation_id: conversation_id.as_uuid(),
                members: members.iter().map(UserRef::from).collect(),
                title: None,
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
    Ok(Some(Frame::new(
        decoded.conversation_id(),
        recipients,
        cursor,
        &frame,
    )))
}

/// A member's mute switch, in a pair or a group: news for that member's own devices only.
pub(crate) fn mute_frame(event: &RecordedEvent, decoded: &ConversationEvent) -> Option<Frame> {
    let (member, muted) = match decoded {
        ConversationEvent::ConversationMuted { member_id, .. } => (*member_id, true),
        ConversationEvent::ConversationUnmuted { member_id, .. } => (*member_id, false),
        _ => return None,
    };
    let conversation = decoded.conversation_id();
    Some(Frame::new(
        conversation,
        vec![member],
        event.position,
        &ServerFrame::ConversationMuted {
            cursor: event.position,
            conversation_id: conversation.as_uuid(),
            muted,
        },
    ))
}

impl Frame {
    pub(crate) fn new(
        conversation: ConversationId,
        to: Vec<UserId>,
        cursor: i64,
        frame: &ServerFrame,
    ) -> Self {
        Self {
            conversation,
            to,
            kind: frame.kind(),
            cursor,
            json: frame.to_json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{ClientId, ConversationId, Member, MessageBody};
    use uuid::Uuid;

    fn render(event: &RecordedEvent) -> Result<Option<Frame>, crate::BusError> {
        if !event.stream_id.starts_with("conversation-") {
            return Ok(None);
        }
        render_pair(event, &event.decode()?)
    }

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
    fn a_sent_message_is_one_frame_for_the_recipient_and_the_senders_other_devices() {
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
        let frame = render(&recorded(
            77,
            format!("conversation-{conversation}"),
            &event,
        ))
        .unwrap()
        .unwrap();

        assert_eq!(frame.to, vec![ben.id, ann.id]);
        assert_eq!(frame.conversation, conversation);
        assert_eq!((frame.kind, frame.cursor), ("message.new", 77));
        let ServerFrame::MessageNew {
            cursor, message, ..
        } = serde_json::from_str(&frame.json).unwrap()
        else {
            panic!("not a message.new frame: {}", frame.json);
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
        let frame = render(&recorded(5, format!("conversation-{conversation}"), &event))
            .unwrap()
            .unwrap();
        assert_eq!(frame.to, vec![ann.id, ben.id]);
        let json: ServerFrame = serde_json::from_str(&frame.json).unwrap();
        assert_eq!(
            json,
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
        assert!(render(&event).unwrap().is_none());
    }
}
