//! The conversation aggregate: stream `conversation-<id>`, holding its members, messages, edits,
//! deletions and read receipts. Two kinds share it: the one-to-one pair and the group.
//!
//! A pair's conversation id is derived from the two user ids, so starting a conversation twice, or
//! from either side, names the same stream; its two members never change. A group's id is a fresh
//! UUID; its members come and go (see [`group`] for its rules). Messages are numbered by a dense
//! `seq` per conversation; a client can tell a gap by itself.
//!
//! The pair's events name the one other person (`recipient`, `peer_id`): they were stored that way
//! and are never reshaped. Groups have events of their own that name nobody but the actor; who
//! receives them follows from the membership at their position in the log.

pub mod group;
#[cfg(test)]
mod group_tests;
mod roster;

pub use group::{GroupTitle, RemovalReason, Role};
pub use roster::Roster;

use crate::{Aggregate, ClientId, DisplayName, MessageBody, UserId, Username};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Namespace of the derived ids (UUIDv5), fixed forever: changing it would split history.
const NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_4c3a_9b2e_4f7d_8a51_3c9e_07b4_d2a6);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationId(Uuid);

impl ConversationId {
    /// The same for (a, b) and (b, a).
    pub fn for_pair(a: UserId, b: UserId) -> Self {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let mut name = Vec::with_capacity(32);
        name.extend_from_slice(low.as_uuid().as_bytes());
        name.extend_from_slice(high.as_uuid().as_bytes());
        Self(Uuid::new_v5(&NAMESPACE, &name))
    }

    /// A new group's id: random, since a group is not named by its members (who change).
    pub fn new_group() -> Self {
        Self(Uuid::new_v4())
    }

    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }

    pub fn stream_id(&self) -> String {
        format!("conversation-{}", self.0)
    }

    /// The message id (and event id) of `sender`'s message with `client_id` here: a resend derives
    /// the same id, which makes the send idempotent down to the event store.
    pub fn message_id(&self, sender: UserId, client_id: &ClientId) -> Uuid {
        let mut name = Vec::with_capacity(40 + client_id.as_str().len());
        name.extend_from_slice(self.0.as_bytes());
        name.extend_from_slice(sender.as_uuid().as_bytes());
        name.extend_from_slice(client_id.as_str().as_bytes());
        Uuid::new_v5(&NAMESPACE, &name)
    }
}

impl std::fmt::Display for ConversationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Which kind of conversation a stream holds: what clients see as `kind`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    #[default]
    Direct,
    Group,
}

impl ConversationKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
        }
    }
}

/// A member as they were named when the event happened, so consumers need not look them up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
}

/// For the tests of every crate (feature `test-support`): one way to make a person.
#[cfg(any(test, feature = "test-support"))]
impl Member {
    /// A new person called `name`, shown by that name; panics on an invalid username.
    pub fn named(name: &str) -> Self {
        let username = Username::parse(name).expect("a valid test username");
        Self {
            id: UserId::new(),
            display_name: DisplayName::from_username(&username),
            username,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationCommand {
    Start {
        id: ConversationId,
        members: [Member; 2],
    },
    Send {
        sender: UserId,
        client_id: ClientId,
        body: MessageBody,
        at: DateTime<Utc>,
    },
    Edit {
        editor: UserId,
        message_id: Uuid,
        body: MessageBody,
        at: DateTime<Utc>,
    },
    /// By the sender, or in a group also by an admin or the owner.
    Delete {
        actor: UserId,
        message_id: Uuid,
        at: DateTime<Utc>,
    },
    Read {
        reader: UserId,
        up_to: i64,
        at: DateTime<Utc>,
    },
    /// A new group with `owner` as its owner and `members` (the owner among them or not) as plain
    /// members. `max_members` is the limit in force (configuration, not part of the group), so a
    /// changed limit applies to every group from then on.
    CreateGroup {
        id: ConversationId,
        title: GroupTitle,
        owner: Member,
        members: Vec<Member>,
        max_members: usize,
        at: DateTime<Utc>,
    },
    AddMember {
        actor: UserId,
        member: Member,
        max_members: usize,
        at: DateTime<Utc>,
    },
    /// `actor == member` is leaving; anything else is a removal by an admin or the owner.
    RemoveMember {
        actor: UserId,
        member: UserId,
        at: DateTime<Utc>,
    },
    Rename {
        actor: UserId,
        title: GroupTitle,
        at: DateTime<Utc>,
    },
    /// The owner hands the group over; they stay as an admin.
    TransferOwnership {
        actor: UserId,
        to: UserId,
        at: DateTime<Utc>,
    },
    /// The owner makes a member an admin, or an admin a plain member again.
    ChangeRole {
        actor: UserId,
        member: UserId,
        role: Role,
        at: DateTime<Utc>,
    },
    /// A member turns Telegram notifications of this conversation off (`muted`) or on again;
    /// a pair's or a group's, a setting of that member alone.
    SetMuted {
        member: UserId,
        muted: bool,
        at: DateTime<Utc>,
    },
}

/// Stored events of a conversation stream. Never reshape one: add a new variant or version instead.
///
/// The first five are a pair's. The `Group*`, `Member*`, `OwnershipTransferred` and
/// `RoleChanged` events are a group's; every group event after `GroupCreated` that people see in
/// the timeline (a membership change, a rename, a new owner or admin) takes the next `seq`, like a
/// message, so a timeline is one dense sequence and a member's join point is a `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ConversationEvent {
    ConversationStarted {
        conversation_id: ConversationId,
        members: [Member; 2],
    },
    MessageSent {
        conversation_id: ConversationId,
        message_id: Uuid,
        seq: i64,
        sender: Member,
        recipient: Member,
        body: MessageBody,
        client_id: ClientId,
        sent_at: DateTime<Utc>,
    },
    MessageEdited {
        conversation_id: ConversationId,
        message_id: Uuid,
        seq: i64,
        editor_id: UserId,
        recipient_id: UserId,
        body: MessageBody,
        edited_at: DateTime<Utc>,
    },
    MessageDeleted {
        conversation_id: ConversationId,
        message_id: Uuid,
        seq: i64,
        deleted_by: UserId,
        recipient_id: UserId,
        deleted_at: DateTime<Utc>,
    },
    MessagesRead {
        conversation_id: ConversationId,
        reader_id: UserId,
        /// The peer, whose messages were read: the one who sees the receipt.
        peer_id: UserId,
        up_to: i64,
        read_at: DateTime<Utc>,
    },
    /// `members` are everyone in the group at its start, the owner (`created_by`) first. No `seq`:
    /// the group's timeline begins after it.
    GroupCreated {
        conversation_id: ConversationId,
        title: GroupTitle,
        created_by: Member,
        members: Vec<Member>,
        created_at: DateTime<Utc>,
    },
    GroupMessageSent {
        conversation_id: ConversationId,
        message_id: Uuid,
        seq: i64,
        sender: Member,
        body: MessageBody,
        client_id: ClientId,
        sent_at: DateTime<Utc>,
    },
    GroupMessageEdited {
        conversation_id: ConversationId,
        message_id: Uuid,
        seq: i64,
        editor_id: UserId,
        body: MessageBody,
        edited_at: DateTime<Utc>,
    },
    GroupMessageDeleted {
        conversation_id: ConversationId,
        message_id: Uuid,
        seq: i64,
        /// The sender, or an admin or the owner deleting someone else's message.
        deleted_by: UserId,
        deleted_at: DateTime<Utc>,
    },
    GroupMessagesRead {
        conversation_id: ConversationId,
        reader_id: UserId,
        up_to: i64,
        read_at: DateTime<Utc>,
    },
    /// A timeline entry; the new member sees the group from this `seq` on.
    MemberAdded {
        conversation_id: ConversationId,
        seq: i64,
        member: Member,
        added_by: Member,
        added_at: DateTime<Utc>,
    },
    /// A timeline entry; the last one the removed member sees.
    MemberRemoved {
        conversation_id: ConversationId,
        seq: i64,
        member: Member,
        /// The member themself when they left.
        removed_by: Member,
        reason: RemovalReason,
        removed_at: DateTime<Utc>,
    },
    GroupRenamed {
        conversation_id: ConversationId,
        seq: i64,
        title: GroupTitle,
        renamed_by: Member,
        renamed_at: DateTime<Utc>,
    },
    /// The former owner stays as an admin (unless they are leaving: their removal follows).
    OwnershipTransferred {
        conversation_id: ConversationId,
        seq: i64,
        from: Member,
        to: Member,
        transferred_at: DateTime<Utc>,
    },
    RoleChanged {
        conversation_id: ConversationId,
        seq: i64,
        member: Member,
        role: Role,
        changed_by: Member,
        changed_at: DateTime<Utc>,
    },
    /// The last member left; nobody can act on the group any more. No `seq`: nobody sees it.
    GroupClosed {
        conversation_id: ConversationId,
        closed_at: DateTime<Utc>,
    },
    /// `member` wants no notification of this conversation (pair or group). No `seq`: it is
    /// that member's setting, not an entry anyone else sees.
    ConversationMuted {
        conversation_id: ConversationId,
        member_id: UserId,
        muted_at: DateTime<Utc>,
    },
    /// `member` wants notifications of this conversation again.
    ConversationUnmuted {
        conversation_id: ConversationId,
        member_id: UserId,
        unmuted_at: DateTime<Utc>,
    },
}

impl ConversationEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::ConversationStarted { .. } => "ConversationStarted",
            Self::MessageSent { .. } => "MessageSent",
            Self::MessageEdited { .. } => "MessageEdited",
            Self::MessageDeleted { .. } => "MessageDeleted",
            Self::MessagesRead { .. } => "MessagesRead",
            Self::GroupCreated { .. } => "GroupCreated",
            Self::GroupMessageSent { .. } => "GroupMessageSent",
            Self::GroupMessageEdited { .. } => "GroupMessageEdited",
            Self::GroupMessageDeleted { .. } => "GroupMessageDeleted",
            Self::GroupMessagesRead { .. } => "GroupMessagesRead",
            Self::MemberAdded { .. } => "MemberAdded",
            Self::MemberRemoved { .. } => "MemberRemoved",
            Self::GroupRenamed { .. } => "GroupRenamed",
            Self::OwnershipTransferred { .. } => "OwnershipTransferred",
            Self::RoleChanged { .. } => "RoleChanged",
            Self::GroupClosed { .. } => "GroupClosed",
            Self::ConversationMuted { .. } => "ConversationMuted",
            Self::ConversationUnmuted { .. } => "ConversationUnmuted",
        }
    }

    pub fn conversation_id(&self) -> ConversationId {
        match self {
            Self::ConversationStarted {
                conversation_id, ..
            }
            | Self::MessageSent {
                conversation_id, ..
            }
            | Self::MessageEdited {
                conversation_id, ..
            }
            | Self::MessageDeleted {
                conversation_id, ..
            }
            | Self::MessagesRead {
                conversation_id, ..
            }
            | Self::GroupCreated {
                conversation_id, ..
            }
            | Self::GroupMessageSent {
                conversation_id, ..
            }
            | Self::GroupMessageEdited {
                conversation_id, ..
            }
            | Self::GroupMessageDeleted {
                conversation_id, ..
            }
            | Self::GroupMessagesRead {
                conversation_id, ..
            }
            | Self::MemberAdded {
                conversation_id, ..
            }
            | Self::MemberRemoved {
                conversation_id, ..
            }
            | Self::GroupRenamed {
                conversation_id, ..
            }
            | Self::OwnershipTransferred {
                conversation_id, ..
            }
            | Self::RoleChanged {
                conversation_id, ..
            }
            | Self::GroupClosed {
                conversation_id, ..
            }
            | Self::ConversationMuted {
                conversation_id, ..
            }
            | Self::ConversationUnmuted {
                conversation_id, ..
            } => *conversation_id,
        }
    }

    /// The id the event should be stored under: a message's own id for a send (idempotent
    /// resends), a fresh one otherwise.
    pub fn event_id(&self) -> Uuid {
        match self {
            Self::MessageSent { message_id, .. } | Self::GroupMessageSent { message_id, .. } => {
                *message_id
            }
            _ => Uuid::new_v4(),
        }
    }

    /// The timeline `seq` the event takes, if it adds an entry (a message or a group's system
    /// entry); edits, deletions and receipts point at an earlier one and take none.
    pub fn new_seq(&self) -> Option<i64> {
        match self {
            Self::MessageSent { seq, .. }
            | Self::GroupMessageSent { seq, .. }
            | Self::MemberAdded { seq, .. }
            | Self::MemberRemoved { seq, .. }
            | Self::GroupRenamed { seq, .. }
            | Self::OwnershipTransferred { seq, .. }
            | Self::RoleChanged { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    #[error("the conversation has not been started")]
    NotStarted,
    /// Also what outsiders get for a conversation that exists: no hint that it does.
    #[error("not a member of this conversation")]
    NotMember,
    #[error("a conversation needs two different people")]
    WithSelf,
    #[error("no such message")]
    MessageNotFound,
    #[error("only the sender may change a message")]
    NotSender,
    #[error("the message was deleted")]
    MessageDeleted,
    #[error("up_to must not be negative")]
    NegativeReadPosition,
    #[error("this is not a group conversation")]
    NotAGroup,
    #[error("only the group's owner and admins may do this")]
    NotAdmin,
    #[error("only the group's owner may do this")]
    NotOwner,
    /// The person acted on is not in the group.
    #[error("not a member of this group")]
    MemberNotFound,
    #[error("a group has at most {max} members")]
    TooManyMembers { max: usize },
    /// Nobody removes the owner: they leave, or hand the group over first.
    #[error("the owner cannot be removed; ownership must be handed over first")]
    OwnerNotRemovable,
    #[error("only the owner may remove an admin")]
    AdminNotRemovable,
    /// The owner's role changes only by handing the group over.
    #[error("the owner's role changes only by handing over ownership")]
    OwnerRoleFixed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MessageState {
    /// For a system entry, who did it.
    sender: UserId,
    deleted: bool,
    /// A group's membership change, rename and the like: nobody edits or deletes it.
    system: bool,
    /// Shared, so cloning a long conversation's state copies no text.
    body: Arc<str>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conversation {
    roster: Roster,
    /// Index `seq - 1`: messages and a group's system entries.
    messages: Vec<MessageState>,
    by_id: HashMap<Uuid, i64>,
    /// Bytes of message text held, kept as events are applied so that sizing the state is O(1).
    text_bytes: usize,
}

impl Conversation {
    /// Who is in it and how far each has read.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    pub fn is_started(&self) -> bool {
        self.roster.id.is_some()
    }

    pub fn kind(&self) -> ConversationKind {
        self.roster.kind()
    }

    /// A group's title; `None` for a pair.
    pub fn title(&self) -> Option<&GroupTitle> {
        self.roster.title()
    }

    /// A group whose last member left: it accepts nothing any more.
    pub fn is_closed(&self) -> bool {
        self.roster.is_closed()
    }

    pub fn is_member(&self, user: UserId) -> bool {
        self.roster.is_member(user)
    }

    /// The current members, in the order they joined.
    pub fn members(&self) -> &[Member] {
        self.roster.members()
    }

    /// A group member's role; `None` for a non-member, and for both people of a pair.
    pub fn role(&self, user: UserId) -> Option<Role> {
        self.roster.role(user)
    }

    /// The last `seq` before `user` joined: they see the entries after it. 0 for a pair's two
    /// and for a group's first members; `None` for a non-member.
    pub fn joined_after(&self, user: UserId) -> Option<i64> {
        self.roster.joined_after(user)
    }

    pub fn last_seq(&self) -> i64 {
        self.messages.len() as i64
    }

    /// The seq of an already sent message, for answering a resend.
    pub fn seq_of(&self, message_id: Uuid) -> Option<i64> {
        self.by_id.get(&message_id).copied()
    }

    pub fn read_up_to(&self, user: UserId) -> i64 {
        self.roster.read_up_to(user)
    }

    /// Whether `user` turned this conversation's notifications off.
    pub fn is_muted(&self, user: UserId) -> bool {
        self.roster.is_muted(user)
    }

    /// A member's mute switch, the same for pairs and groups; setting it to what it is records
    /// nothing.
    fn decide_mute(
        &self,
        member: UserId,
        muted: bool,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        let conversation_id = self.roster.id.ok_or(ConversationError::NotStarted)?;
        if !self.is_member(member) {
            return Err(ConversationError::NotMember);
        }
        if self.is_muted(member) == muted {
            return Ok(vec![]);
        }
        Ok(vec![if muted {
            ConversationEvent::ConversationMuted {
                conversation_id,
                member_id: member,
                muted_at: at,
            }
        } else {
            ConversationEvent::ConversationUnmuted {
                conversation_id,
                member_id: member,
                unmuted_at: at,
            }
        }])
    }

    /// Roughly how many bytes of memory this state holds, in constant time: a cache of states
    /// bounds memory, not a count, since one long conversation outweighs thousands of new ones.
    pub fn approximate_size(&self) -> usize {
        use std::mem::size_of;
        /// The counts of an `Arc<str>`'s allocation, beside the text.
        const ARC_HEADER: usize = 2 * size_of::<usize>();
        /// A hash table's control byte per bucket.
        const CONTROL: usize = 1;
        size_of::<Self>()
            + self.roster.approximate_size()
            + self.messages.capacity() * size_of::<MessageState>()
            + self.messages.len() * ARC_HEADER
            + self.text_bytes
            + self.by_id.capacity() * (size_of::<(Uuid, i64)>() + CONTROL)
    }

    fn member_pair(&self, user: UserId) -> Result<(&Member, &Member), ConversationError> {
        if self.roster.id.is_none() {
            return Err(ConversationError::NotStarted);
        }
        let me = self
            .roster
            .members
            .iter()
            .find(|m| m.id == user)
            .ok_or(ConversationError::NotMember)?;
        let peer = self
            .roster
            .members
            .iter()
            .find(|m| m.id != user)
            .ok_or(ConversationError::NotMember)?;
        Ok((me, peer))
    }

    /// A message `user` sent and may see, with its seq.
    fn own_message(
        &self,
        user: UserId,
        message_id: Uuid,
    ) -> Result<(i64, &MessageState), ConversationError> {
        let (seq, message) = self.visible_message(user, message_id)?;
        if message.sender != user {
            return Err(ConversationError::NotSender);
        }
        Ok((seq, message))
    }

    /// A message (not a system entry) from `user`'s join on, with its seq.
    fn visible_message(
        &self,
        user: UserId,
        message_id: Uuid,
    ) -> Result<(i64, &MessageState), ConversationError> {
        let seq = self
            .seq_of(message_id)
            .ok_or(ConversationError::MessageNotFound)?;
        let message = self
            .messages
            .get((seq - 1) as usize)
            .ok_or(ConversationError::MessageNotFound)?;
        if message.system || seq <= self.joined_after(user).unwrap_or(i64::MAX) {
            return Err(ConversationError::MessageNotFound);
        }
        Ok((seq, message))
    }

    fn push_entry(&mut self, message_id: Option<Uuid>, sender: UserId, body: &str, system: bool) {
        if let Some(message_id) = message_id {
            self.by_id.insert(message_id, self.last_seq() + 1);
        }
        self.text_bytes += body.len();
        self.messages.push(MessageState {
            sender,
            deleted: false,
            system,
            body: body.into(),
        });
    }

    fn edit_entry(&mut self, seq: i64, body: &str) {
        if let Some(message) = self.messages.get_mut((seq - 1) as usize) {
            self.text_bytes = (self.text_bytes + body.len()).saturating_sub(message.body.len());
            message.body = body.into();
        }
    }

    fn delete_entry(&mut self, seq: i64) {
        if let Some(message) = self.messages.get_mut((seq - 1) as usize) {
            message.deleted = true;
        }
    }
}

impl Aggregate for Conversation {
    type Command = ConversationCommand;
    type Event = ConversationEvent;
    type Error = ConversationError;

    fn decide(
        &self,
        command: &ConversationCommand,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        use ConversationCommand as C;
        use ConversationEvent as E;
        if let C::SetMuted { member, muted, at } = command {
            return self.decide_mute(*member, *muted, *at);
        }
        if self.kind() == ConversationKind::Group || matches!(command, C::CreateGroup { .. }) {
            return group::decide(self, command);
        }
        match command {
            C::Start { id, members } => {
                if members[0].id == members[1].id {
                    return Err(ConversationError::WithSelf);
                }
                if self.is_started() {
                    return Ok(vec![]);
                }
                Ok(vec![E::ConversationStarted {
                    conversation_id: *id,
                    members: members.clone(),
                }])
            }
            C::Send {
                sender,
                client_id,
                body,
                at,
            } => {
                let (me, peer) = self.member_pair(*sender)?;
                let conversation_id = self.roster.id.ok_or(ConversationError::NotStarted)?;
                let message_id = conversation_id.message_id(*sender, client_id);
                if self.by_id.contains_key(&message_id) {
                    // A resend: already stored, nothing new happens.
                    return Ok(vec![]);
                }
                Ok(vec![E::MessageSent {
                    conversation_id,
                    message_id,
                    seq: self.last_seq() + 1,
                    sender: me.clone(),
                    recipient: peer.clone(),
                    body: body.clone(),
                    client_id: client_id.clone(),
                    sent_at: *at,
                }])
            }
            C::Edit {
                editor,
                message_id,
                body,
                at,
            } => {
                let (_, peer) = self.member_pair(*editor)?;
                let (seq, message) = self.own_message(*editor, *message_id)?;
                if message.deleted {
                    return Err(ConversationError::MessageDeleted);
                }
                if *message.body == *body.as_str() {
                    return Ok(vec![]);
                }
                Ok(vec![E::MessageEdited {
                    conversation_id: self.roster.id.ok_or(ConversationError::NotStarted)?,
                    message_id: *message_id,
                    seq,
                    editor_id: *editor,
                    recipient_id: peer.id,
                    body: body.clone(),
                    edited_at: *at,
                }])
            }
            C::Delete {
                actor,
                message_id,
                at,
            } => {
                let (_, peer) = self.member_pair(*actor)?;
                let (seq, message) = self.own_message(*actor, *message_id)?;
                if message.deleted {
                    return Ok(vec![]);
                }
                Ok(vec![E::MessageDeleted {
                    conversation_id: self.roster.id.ok_or(ConversationError::NotStarted)?,
                    message_id: *message_id,
                    seq,
                    deleted_by: *actor,
                    recipient_id: peer.id,
                    deleted_at: *at,
                }])
            }
            C::Read { reader, up_to, at } => {
                let (_, peer) = self.member_pair(*reader)?;
                if *up_to < 0 {
                    return Err(ConversationError::NegativeReadPosition);
                }
                // Reading past the end means "everything so far".
                let up_to = (*up_to).min(self.last_seq());
                if up_to <= self.read_up_to(*reader) {
                    return Ok(vec![]);
                }
                Ok(vec![E::MessagesRead {
                    conversation_id: self.roster.id.ok_or(ConversationError::NotStarted)?,
                    reader_id: *reader,
                    peer_id: peer.id,
                    up_to,
                    read_at: *at,
                }])
            }
            // Group commands on a pair: an outsider still learns nothing.
            C::AddMember { actor, .. }
            | C::RemoveMember { actor, .. }
            | C::Rename { actor, .. }
            | C::TransferOwnership { actor, .. }
            | C::ChangeRole { actor, .. } => {
                self.member_pair(*actor)?;
                Err(ConversationError::NotAGroup)
            }
            C::CreateGroup { .. } => group::decide(self, command),
            C::SetMuted { member, muted, at } => self.decide_mute(*member, *muted, *at),
        }
    }

    fn evolve(mut self, event: &ConversationEvent) -> Self {
        use ConversationEvent as E;
        self.roster.apply(event);
        match event {
            E::MessageSent {
                message_id,
                sender,
                body,
                ..
            }
            | E::GroupMessageSent {
                message_id,
                sender,
                body,
                ..
            } => self.push_entry(Some(*message_id), sender.id, body.as_str(), false),
            E::MessageEdited { seq, body, .. } | E::GroupMessageEdited { seq, body, .. } => {
                self.edit_entry(*seq, body.as_str())
            }
            E::MessageDeleted { seq, .. } | E::GroupMessageDeleted { seq, .. } => {
                self.delete_entry(*seq)
            }
            // A group's system entries: a place in the timeline nobody edits.
            E::MemberAdded { added_by: by, .. }
            | E::MemberRemoved { removed_by: by, .. }
            | E::GroupRenamed { renamed_by: by, .. }
            | E::OwnershipTransferred { from: by, .. }
            | E::RoleChanged { changed_by: by, .. } => self.push_entry(None, by.id, "", true),
            E::ConversationStarted { .. }
            | E::MessagesRead { .. }
            | E::GroupCreated { .. }
            | E::GroupMessagesRead { .. }
            | E::GroupClosed { .. }
            | E::ConversationMuted { .. }
            | E::ConversationUnmuted { .. } => {}
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::scenario::given;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    struct Pair {
        alice: Member,
        bob: Member,
        id: ConversationId,
    }

    fn pair() -> Pair {
        let alice = Member::named("alice");
        let bob = Member::named("bob");
        let id = ConversationId::for_pair(alice.id, bob.id);
        Pair { alice, bob, id }
    }

    fn started(p: &Pair) -> ConversationEvent {
        ConversationEvent::ConversationStarted {
            conversation_id: p.id,
            members: [p.alice.clone(), p.bob.clone()],
        }
    }

    fn sent(p: &Pair, seq: i64, from: &Member, client: &str, body: &str) -> ConversationEvent {
        let to = if from.id == p.alice.id {
            &p.bob
        } else {
            &p.alice
        };
        let client_id = ClientId::parse(client).unwrap();
        ConversationEvent::MessageSent {
            conversation_id: p.id,
            message_id: p.id.message_id(from.id, &client_id),
            seq,
            sender: from.clone(),
            recipient: to.clone(),
            body: MessageBody::parse(body).unwrap(),
            client_id,
            sent_at: at(),
        }
    }

    fn send(from: &Member, client: &str, body: &str) -> ConversationCommand {
        ConversationCommand::Send {
            sender: from.id,
            client_id: ClientId::parse(client).unwrap(),
            body: MessageBody::parse(body).unwrap(),
            at: at(),
        }
    }

    #[test]
    fn the_pair_id_does_not_depend_on_who_starts() {
        let p = pair();
        assert_eq!(ConversationId::for_pair(p.bob.id, p.alice.id), p.id);
        assert_ne!(
            ConversationId::for_pair(p.alice.id, Member::named("carol").id),
            p.id
        );
    }

    #[test]
    fn starting_is_idempotent_and_needs_two_people() {
        let p = pair();
        let start = ConversationCommand::Start {
            id: p.id,
            members: [p.alice.clone(), p.bob.clone()],
        };
        given::<Conversation>(&[])
            .when(start.clone())
            .then_events(vec![started(&p)]);
        given::<Conversation>(&[started(&p)])
            .when(start)
            .then_events(vec![]);
        given::<Conversation>(&[])
            .when(ConversationCommand::Start {
                id: p.id,
                members: [p.alice.clone(), p.alice.clone()],
            })
            .then_error(ConversationError::WithSelf);
    }

    #[test]
    fn messages_get_dense_seqs_and_resends_record_nothing() {
        let p = pair();
        given::<Conversation>(&[started(&p)])
            .when(send(&p.alice, "c1", "hi"))
            .then_events(vec![sent(&p, 1, &p.alice, "c1", "hi")]);
        let history = [started(&p), sent(&p, 1, &p.alice, "c1", "hi")];
        given::<Conversation>(&history)
            .when(send(&p.bob, "c1", "hello"))
            .then_events(vec![sent(&p, 2, &p.bob, "c1", "hello")]);
        given::<Conversation>(&history)
            .when(send(&p.alice, "c1", "hi"))
            .then_events(vec![]);
    }

    #[test]
    fn outsiders_and_unstarted_conversations_are_refused() {
        let p = pair();
        given::<Conversation>(&[])
            .when(send(&p.alice, "c1", "hi"))
            .then_error(ConversationError::NotStarted);
        given::<Conversation>(&[started(&p)])
            .when(send(&Member::named("eve"), "c1", "hi"))
            .then_error(ConversationError::NotMember);
    }

    #[test]
    fn only_the_sender_edits_or_deletes_and_deleted_stays_deleted() {
        let p = pair();
        let first = sent(&p, 1, &p.alice, "c1", "hi");
        let message_id = p.id.message_id(p.alice.id, &ClientId::parse("c1").unwrap());
        let history = [started(&p), first];
        let edit = |by: &Member, body: &str| ConversationCommand::Edit {
            editor: by.id,
            message_id,
            body: MessageBody::parse(body).unwrap(),
            at: at(),
        };
        given::<Conversation>(&history)
            .when(edit(&p.alice, "hi!"))
            .then_events(vec![ConversationEvent::MessageEdited {
                conversation_id: p.id,
                message_id,
                seq: 1,
                editor_id: p.alice.id,
                recipient_id: p.bob.id,
                body: MessageBody::parse("hi!").unwrap(),
                edited_at: at(),
            }]);
        given::<Conversation>(&history)
            .when(edit(&p.bob, "hijacked"))
            .then_error(ConversationError::NotSender);
        given::<Conversation>(&history)
            .when(edit(&p.alice, "hi"))
            .then_events(vec![]);

        let deleted = ConversationEvent::MessageDeleted {
            conversation_id: p.id,
            message_id,
            seq: 1,
            deleted_by: p.alice.id,
            recipient_id: p.bob.id,
            deleted_at: at(),
        };
        let delete = ConversationCommand::Delete {
            actor: p.alice.id,
            message_id,
            at: at(),
        };
        given::<Conversation>(&history)
            .when(delete.clone())
            .then_events(vec![deleted.clone()]);
        let after_delete = [history[0].clone(), history[1].clone(), deleted];
        given::<Conversation>(&after_delete)
            .when(delete)
            .then_events(vec![]);
        given::<Conversation>(&after_delete)
            .when(edit(&p.alice, "back"))
            .then_error(ConversationError::MessageDeleted);
        given::<Conversation>(&after_delete)
            .when(ConversationCommand::Delete {
                actor: p.alice.id,
                message_id: Uuid::new_v4(),
                at: at(),
            })
            .then_error(ConversationError::MessageNotFound);
    }

    #[test]
    fn reads_only_move_forward_and_stop_at_the_last_message() {
        let p = pair();
        let history = [
            started(&p),
            sent(&p, 1, &p.alice, "c1", "one"),
            sent(&p, 2, &p.alice, "c2", "two"),
        ];
        let read = |up_to| ConversationCommand::Read {
            reader: p.bob.id,
            up_to,
            at: at(),
        };
        let receipt = |up_to| ConversationEvent::MessagesRead {
            conversation_id: p.id,
            reader_id: p.bob.id,
            peer_id: p.alice.id,
            up_to,
            read_at: at(),
        };
        given::<Conversation>(&history)
            .when(read(1))
            .then_events(vec![receipt(1)]);
        given::<Conversation>(&history)
            .when(read(99))
            .then_events(vec![receipt(2)]);
        let mut read_all = history.to_vec();
        read_all.push(receipt(2));
        given::<Conversation>(&read_all)
            .when(read(1))
            .then_events(vec![]);
        given::<Conversation>(&history)
            .when(read(-1))
            .then_error(ConversationError::NegativeReadPosition);
    }

    #[test]
    fn either_person_of_a_pair_mutes_it_for_themself() {
        let p = pair();
        let mute = |who: &Member, muted| ConversationCommand::SetMuted {
            member: who.id,
            muted,
            at: at(),
        };
        let muted = ConversationEvent::ConversationMuted {
            conversation_id: p.id,
            member_id: p.bob.id,
            muted_at: at(),
        };
        given::<Conversation>(&[started(&p)])
            .when(mute(&p.bob, true))
            .then_events(vec![muted.clone()]);
        let state = Conversation::from_events(&[started(&p), muted.clone()]);
        assert!(state.is_muted(p.bob.id) && !state.is_muted(p.alice.id));
        given::<Conversation>(&[started(&p), muted.clone()])
            .when(mute(&p.bob, true))
            .then_events(vec![]);
        given::<Conversation>(&[started(&p), muted])
            .when(mute(&p.bob, false))
            .then_events(vec![ConversationEvent::ConversationUnmuted {
                conversation_id: p.id,
                member_id: p.bob.id,
                unmuted_at: at(),
            }]);
        given::<Conversation>(&[started(&p)])
            .when(mute(&Member::named("eve"), true))
            .then_error(ConversationError::NotMember);
        given::<Conversation>(&[])
            .when(mute(&p.bob, true))
            .then_error(ConversationError::NotStarted);
    }

    #[test]
    fn the_size_of_a_state_follows_its_text() {
        let p = pair();
        let short = Conversation::from_events(&[started(&p), sent(&p, 1, &p.alice, "c1", "hi")]);
        let long_text = "x".repeat(4000);
        let long =
            Conversation::from_events(&[started(&p), sent(&p, 1, &p.alice, "c1", &long_text)]);
        assert!(long.approximate_size() >= short.approximate_size() + 3998);
        let long_size = long.approximate_size();
        let edited = long.evolve(&ConversationEvent::MessageEdited {
            conversation_id: p.id,
            message_id: p.id.message_id(p.alice.id, &ClientId::parse("c1").unwrap()),
            seq: 1,
            editor_id: p.alice.id,
            recipient_id: p.bob.id,
            body: MessageBody::parse("hi").unwrap(),
            edited_at: at(),
        });
        assert_eq!(edited.approximate_size(), long_size - 3998);
        let many = (1..=1000).fold(Conversation::from_events(&[started(&p)]), |state, seq| {
            state.evolve(&sent(&p, seq, &p.alice, &format!("c{seq}"), "hi"))
        });
        assert!(many.approximate_size() > 1000 * (size_of::<Uuid>() + 2));
    }
}
