//! Rendering events in log order, for pairs and groups alike.
//!
//! A pair's event names its two people. A group's names nobody: who receives it is who was a
//! member at its position, so the renderer keeps each group's roster as it reads the group's
//! stream in order, and reads the stream's earlier events to build a roster it does not hold (a
//! group first seen after a restart, or one dropped to bound memory). Every current member gets
//! each event, the sender's other devices too; a member added gets their own `MemberAdded`
//! and what follows; a member removed gets their `MemberRemoved` and nothing after.
//!
//! The publisher renders live events with one; a gateway replaying a backlog uses one of its
//! own, so both name the same recipients for the same event.

use crate::frames::{mute_frame, render_pair, Frame};
use crate::BusError;
use domain::{ConversationEvent as E, ConversationId, Member, Roster, UserId};
use eventstore::{EventStore, RecordedEvent};
use std::collections::HashMap;
use wire::{Message, Sent, ServerFrame, SystemEntry, SystemKind, UserRef};

/// Groups whose roster is kept at most; past it they are all dropped and read again on demand
/// (a roster costs one read of its stream to rebuild).
const MAX_GROUPS: usize = 10_000;

pub struct Renderer {
    store: EventStore,
    /// Each group's roster as of the stream version it was last brought to.
    rosters: HashMap<ConversationId, (i64, Roster)>,
}

impl Renderer {
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            rosters: HashMap::new(),
        }
    }

    /// The frame of one stored event and who receives it (none for events clients do not see).
    pub async fn render(&mut self, event: &RecordedEvent) -> Result<Option<Frame>, BusError> {
        if !event.stream_id.starts_with("conversation-") {
            return Ok(None);
        }
        let decoded: E = event.decode()?;
        if let Some(frame) = mute_frame(event, &decoded) {
            // Nobody's membership changes: a group's roster held just before it stays current.
            if let Some((version, _)) = self.rosters.get_mut(&decoded.conversation_id()) {
                if *version == event.stream_version - 1 {
                    *version = event.stream_version;
                }
            }
            return Ok(Some(frame));
        }
        if !is_group_event(&decoded) {
            return render_pair(event, &decoded);
        }
        let id = decoded.conversation_id();
        let roster = self.roster_before(id, event).await?;
        let mut to: Vec<UserId> = roster.members().iter().map(|m| m.id).collect();
        roster.apply(&decoded);
        match &decoded {
            E::MemberAdded { member, .. } => to.push(member.id),
            E::GroupCreated { members, .. } => to = members.iter().map(|m| m.id).collect(),
            _ => {}
        }
        if let Some((version, _)) = self.rosters.get_mut(&id) {
            *version = event.stream_version;
        }
        Ok(group_frame(event, &decoded).map(|frame| Frame::new(id, to, event.position, &frame)))
    }

    /// The group's roster just before `event`, read from its stream when not held.
    async fn roster_before(
        &mut self,
        id: ConversationId,
        event: &RecordedEvent,
    ) -> Result<&mut Roster, BusError> {
        let held = self
            .rosters
            .get(&id)
            .is_some_and(|(version, _)| *version == event.stream_version - 1);
        if !held {
            if self.rosters.len() >= MAX_GROUPS {
                self.rosters.clear();
            }
            let mut roster = Roster::default();
            if event.stream_version > 1 {
                for earlier in self
                    .store
                    .read_stream(&event.stream_id, 1, event.stream_version - 1)
                    .await?
                {
                    roster.apply(&earlier.decode()?);
                }
            }
            self.rosters.insert(id, (event.stream_version - 1, roster));
        }
        let (_, roster) = self
            .rosters
            .get_mut(&id)
            .ok_or_else(|| BusError::JetStream("a roster vanished while rendering".into()))?;
        Ok(roster)
    }
}

fn is_group_event(event: &E) -> bool {
    !matches!(
        event,
        E::ConversationStarted { .. }
            | E::MessageSent { .. }
            | E::MessageEdited { .. }
            | E::MessageDeleted { .. }
            | E::MessagesRead { .. }
    )
}

/// What clients see of a group's event: its messages as a pair's, its changes as timeline
/// entries (`message.new` with `system`), its closing not at all (nobody is left to see it).
fn group_frame(event: &RecordedEvent, decoded: &E) -> Option<ServerFrame> {
    let cursor = event.position;
    let conversation_id = decoded.conversation_id().as_uuid();
    let entry = |seq: i64, by: &Member, at, kind, member: Option<&Member>, detail: Option<&str>| {
        let mut message = Message::from(Sent {
            conversation_id: decoded.conversation_id(),
            id: event.event_id,
            seq,
            sender: by,
            body: "",
            client_id: "",
            sent_at: at,
            cursor,
        });
        message.body = None;
        message.system = Some(SystemEntry {
            kind,
            member: member.map(UserRef::from),
            title: detail
                .filter(|_| kind == SystemKind::Renamed)
                .map(str::to_owned),
            role: detail
                .filter(|_| kind == SystemKind::RoleChanged)
                .map(str::to_owned),
        });
        ServerFrame::MessageNew {
            cursor,
            conversation_id,
            message,
        }
    };
    Some(match decoded {
        E::GroupCreated { title, members, .. } => ServerFrame::ConversationStarted {
            cursor,
            conversation_id,
            members: members.iter().map(UserRef::from).collect(),
            title: Some(title.as_str().to_owned()),
        },
        E::GroupMessageSent {
            message_id,
            seq,
            sender,
            body,
            client_id,
            sent_at,
            ..
        } => ServerFrame::MessageNew {
            cursor,
            conversation_id,
            message: Message::from(Sent {
                conversation_id: decoded.conversation_id(),
                id: *message_id,
                seq: *seq,
                sender,
                body: body.as_str(),
                client_id: client_id.as_str(),
                sent_at: *sent_at,
                cursor,
            }),
        },
        E::GroupMessageEdited {
            message_id,
            seq,
            body,
            edited_at,
            ..
        } => ServerFrame::MessageEdited {
            cursor,
            conversation_id,
            message_id: *message_id,
            seq: *seq,
            body: body.as_str().to_owned(),
            edited_at: *edited_at,
        },
        E::GroupMessageDeleted {
            message_id,
            seq,
            deleted_at,
            ..
        } => ServerFrame::MessageDeleted {
            cursor,
            conversation_id,
            message_id: *message_id,
            seq: *seq,
            deleted_at: *deleted_at,
        },
        E::GroupMessagesRead {
            reader_id, up_to, ..
        } => ServerFrame::Read {
            cursor,
            conversation_id,
            reader_id: reader_id.as_uuid(),
            up_to: *up_to,
        },
        E::MemberAdded {
            seq,
            member,
            added_by,
            added_at,
            ..
        } => entry(
            *seq,
            added_by,
            *added_at,
            SystemKind::MemberAdded,
            Some(member),
            None,
        ),
        E::MemberRemoved {
            seq,
            member,
            removed_by,
            reason,
            removed_at,
            ..
        } => {
            let kind = match reason {
                domain::RemovalReason::Left => SystemKind::MemberLeft,
                domain::RemovalReason::Removed => SystemKind::MemberRemoved,
            };
            entry(*seq, removed_by, *removed_at, kind, Some(member), None)
        }
        E::GroupRenamed {
            seq,
            title,
            renamed_by,
            renamed_at,
            ..
        } => entry(
            *seq,
            renamed_by,
            *renamed_at,
            SystemKind::Renamed,
            None,
            Some(title.as_str()),
        ),
        E::OwnershipTransferred {
            seq,
            from,
            to,
            transferred_at,
            ..
        } => entry(
            *seq,
            from,
            *transferred_at,
            SystemKind::OwnershipTransferred,
            Some(to),
            None,
        ),
        E::RoleChanged {
            seq,
            member,
            role,
            changed_by,
            changed_at,
            ..
        } => entry(
            *seq,
            changed_by,
            *changed_at,
            SystemKind::RoleChanged,
            Some(member),
            Some(role.as_str()),
        ),
        E::GroupClosed { .. }
        | E::ConversationMuted { .. }
        | E::ConversationUnmuted { .. }
        | E::ConversationStarted { .. }
        | E::MessageSent { .. }
        | E::MessageEdited { .. }
        | E::MessageDeleted { .. }
        | E::MessagesRead { .. } => return None,
    })
}
