//! A group's rules: who may add, remove, rename and hand over, and what each change records.
//!
//! - The creator is the owner; the others start as plain members. The owner makes admins
//!   (`ChangeRole`) and hands the group over (`TransferOwnership`; they stay as an admin).
//! - The owner and admins add members and rename the group. Admins remove plain members; only
//!   the owner removes an admin; nobody removes the owner. Anyone may leave.
//! - An owner who leaves hands the group to its oldest admin, else its oldest member (oldest: who
//!   joined first), in an `OwnershipTransferred` entry just before their `MemberRemoved`: a group
//!   with members always has an owner. The last member leaving closes the group for good.
//! - At most `max_members` members: the limit comes with each command (it is configuration), so
//!   a changed limit holds for every group at once; a group over a lowered limit keeps its
//!   members but takes nobody new.
//! - A member sees the timeline from their join on: entries after `joined_after`, which starts at
//!   their own `MemberAdded` (the group's first members see everything). Messages from before
//!   are "not found" to them for edits, deletions and reads, as they would be for an outsider.
//!   Re-adding a removed member gives them a new join point; what happened meanwhile stays hidden.
//! - A removed member is an outsider at once: every command of theirs is `NotMember`.
//! - Every change after `GroupCreated` that people see (added, removed or left, renamed, new
//!   owner, new role) is a timeline entry with the next `seq`, like a message: one dense sequence,
//!   so paging, gap detection and join points all speak `seq`. They count as unread like messages.
//! - The sender edits their own message; the sender, an admin or the owner delete it.
//! - Sending is reading: a member's read position moves to their own message, so unread is
//!   always `last_seq - read_up_to` (system entries count; deleted messages still count, which
//!   keeps a deletion from touching every member's count).

use super::{
    Conversation, ConversationCommand as C, ConversationError, ConversationEvent as E, Member,
};
use crate::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A group's name: 1-100 characters once surrounding whitespace is trimmed, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GroupTitle(String);

impl GroupTitle {
    pub const MAX_CHARS: usize = 100;

    /// Length and characters are checked on the text as given, before trimming, so that the
    /// API's documented bounds (which can only speak of the raw text) are exactly what is refused.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let title = raw.trim();
        if title.is_empty() {
            return Err(ValidationError::new("title", "must not be empty"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "title",
                format!("must be at most {} characters long", Self::MAX_CHARS),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "title",
                "must not contain control characters",
            ));
        }
        Ok(Self(title.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GroupTitle {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<GroupTitle> for String {
    fn from(value: GroupTitle) -> Self {
        value.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// May add and remove members and rename the group.
    pub fn manages(&self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// May remove a member who holds `other`: admins remove plain members, only the owner
    /// removes an admin, nobody the owner. Pages ask it to show only the controls that work.
    pub fn may_remove(&self, other: Role) -> bool {
        match other {
            Self::Owner => false,
            Self::Admin => *self == Self::Owner,
            Self::Member => self.manages(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemovalReason {
    Left,
    Removed,
}

/// A group member's place: what they may do and from where they see the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seat {
    pub(super) role: Role,
    /// The last `seq` before they joined.
    pub(super) joined_after: i64,
}

pub(super) fn name_bytes(member: &Member) -> usize {
    member.username.as_str().len() + member.display_name.as_str().len()
}

/// The acting member and their role: `NotMember` for anyone else (a closed group has nobody).
fn seat(state: &Conversation, user: crate::UserId) -> Result<(&Member, Role), ConversationError> {
    let role = state.role(user).ok_or(ConversationError::NotMember)?;
    let member = state
        .roster
        .members
        .iter()
        .find(|m| m.id == user)
        .ok_or(ConversationError::NotMember)?;
    Ok((member, role))
}

/// The acting member, who must manage the group.
fn manager(state: &Conversation, user: crate::UserId) -> Result<&Member, ConversationError> {
    match seat(state, user)? {
        (member, role) if role.manages() => Ok(member),
        _ => Err(ConversationError::NotAdmin),
    }
}

/// The acting member, who must own the group.
fn owner(state: &Conversation, user: crate::UserId) -> Result<&Member, ConversationError> {
    match seat(state, user)? {
        (member, Role::Owner) => Ok(member),
        _ => Err(ConversationError::NotOwner),
    }
}

fn member_by_id(state: &Conversation, user: crate::UserId) -> Option<&Member> {
    if !state.roster.seats.contains_key(&user) {
        return None;
    }
    state.roster.members.iter().find(|m| m.id == user)
}

pub(super) fn decide(state: &Conversation, command: &C) -> Result<Vec<E>, ConversationError> {
    if let C::CreateGroup {
        id,
        title,
        owner,
        members,
        max_members,
        at,
    } = command
    {
        if state.is_started() {
            // A retried creation: the group exists.
            return Ok(vec![]);
        }
        let mut everyone = vec![owner.clone()];
        let mut seen = HashSet::from([owner.id]);
        everyone.extend(members.iter().filter(|m| seen.insert(m.id)).cloned());
        if everyone.len() > *max_members {
            return Err(ConversationError::TooManyMembers { max: *max_members });
        }
        return Ok(vec![E::GroupCreated {
            conversation_id: *id,
            title: title.clone(),
            created_by: owner.clone(),
            members: everyone,
            created_at: *at,
        }]);
    }
    let conversation_id = state.roster.id.ok_or(ConversationError::NotStarted)?;
    let next = state.last_seq() + 1;
    match command {
        // Unreachable in practice: a pair's id is derived, a group's is random.
        C::Start { .. } | C::CreateGroup { .. } => Err(ConversationError::NotMember),
        // Decided for both kinds by `Conversation::decide` before it gets here.
        C::SetMuted { member, muted, at } => state.decide_mute(*member, *muted, *at),
        C::Send {
            sender,
            client_id,
            body,
            at,
        } => {
            let (me, _) = seat(state, *sender)?;
            let message_id = conversation_id.message_id(*sender, client_id);
            if state.by_id.contains_key(&message_id) {
                // A resend: already stored, nothing new happens.
                return Ok(vec![]);
            }
            Ok(vec![E::GroupMessageSent {
                conversation_id,
                message_id,
                seq: next,
                sender: me.clone(),
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
            seat(state, *editor)?;
            let (seq, message) = state.own_message(*editor, *message_id)?;
            if message.deleted {
                return Err(ConversationError::MessageDeleted);
            }
            if *message.body == *body.as_str() {
                return Ok(vec![]);
            }
            Ok(vec![E::GroupMessageEdited {
                conversation_id,
                message_id: *message_id,
                seq,
                editor_id: *editor,
                body: body.clone(),
                edited_at: *at,
            }])
        }
        C::Delete {
            actor,
            message_id,
            at,
        } => {
            let (_, role) = seat(state, *actor)?;
            let (seq, message) = state.visible_message(*actor, *message_id)?;
            if message.sender != *actor && !role.manages() {
                return Err(ConversationError::NotSender);
            }
            if message.deleted {
                return Ok(vec![]);
            }
            Ok(vec![E::GroupMessageDeleted {
                conversation_id,
                message_id: *message_id,
                seq,
                deleted_by: *actor,
                deleted_at: *at,
            }])
        }
        C::Read { reader, up_to, at } => {
            seat(state, *reader)?;
            if *up_to < 0 {
                return Err(ConversationError::NegativeReadPosition);
            }
            // Reading past the end means "everything so far".
            let up_to = (*up_to).min(state.last_seq());
            if up_to <= state.read_up_to(*reader) {
                return Ok(vec![]);
            }
            Ok(vec![E::GroupMessagesRead {
                conversation_id,
                reader_id: *reader,
                up_to,
                read_at: *at,
            }])
        }
        C::AddMember {
            actor,
            member,
            max_members,
            at,
        } => {
            let by = manager(state, *actor)?;
            if state.is_member(member.id) {
                return Ok(vec![]);
            }
            if state.roster.members.len() >= *max_members {
                return Err(ConversationError::TooManyMembers { max: *max_members });
            }
            Ok(vec![E::MemberAdded {
                conversation_id,
                seq: next,
                member: member.clone(),
                added_by: by.clone(),
                added_at: *at,
            }])
        }
        C::RemoveMember { actor, member, at } if actor == member => {
            leave(state, conversation_id, *actor, *at)
        }
        C::RemoveMember { actor, member, at } => {
            let (by, by_role) = seat(state, *actor)?;
            if !by_role.manages() {
                return Err(ConversationError::NotAdmin);
            }
            let Some(removed) = member_by_id(state, *member) else {
                // Not (or no longer) in the group: nothing to do.
                return Ok(vec![]);
            };
            match state.role(removed.id) {
                Some(Role::Owner) => return Err(ConversationError::OwnerNotRemovable),
                Some(role) if !by_role.may_remove(role) => {
                    return Err(ConversationError::AdminNotRemovable);
                }
                _ => {}
            }
            Ok(vec![E::MemberRemoved {
                conversation_id,
                seq: next,
                member: removed.clone(),
                removed_by: by.clone(),
                reason: super::RemovalReason::Removed,
                removed_at: *at,
            }])
        }
        C::Rename { actor, title, at } => {
            let by = manager(state, *actor)?;
            if state.roster.title.as_ref() == Some(title) {
                return Ok(vec![]);
            }
            Ok(vec![E::GroupRenamed {
                conversation_id,
                seq: next,
                title: title.clone(),
                renamed_by: by.clone(),
                renamed_at: *at,
            }])
        }
        C::TransferOwnership { actor, to, at } => {
            let from = owner(state, *actor)?;
            if to == actor {
                return Ok(vec![]);
            }
            let to = member_by_id(state, *to).ok_or(ConversationError::MemberNotFound)?;
            Ok(vec![E::OwnershipTransferred {
                conversation_id,
                seq: next,
                from: from.clone(),
                to: to.clone(),
                transferred_at: *at,
            }])
        }
        C::ChangeRole {
            actor,
            member,
            role,
            at,
        } => {
            let by = owner(state, *actor)?;
            let target = member_by_id(state, *member).ok_or(ConversationError::MemberNotFound)?;
            let current = state.role(target.id);
            if *role == Role::Owner || current == Some(Role::Owner) {
                return Err(ConversationError::OwnerRoleFixed);
            }
            if current == Some(*role) {
                return Ok(vec![]);
            }
            Ok(vec![E::RoleChanged {
                conversation_id,
                seq: next,
                member: target.clone(),
                role: *role,
                changed_by: by.clone(),
                changed_at: *at,
            }])
        }
    }
}

/// `user` leaves: an owner hands over first, the last member closes the group.
fn leave(
    state: &Conversation,
    conversation_id: super::ConversationId,
    user: crate::UserId,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<E>, ConversationError> {
    let (me, role) = seat(state, user)?;
    let mut events = Vec::with_capacity(2);
    let mut next = state.last_seq() + 1;
    let others = || state.roster.members.iter().filter(|m| m.id != user);
    if role == Role::Owner {
        let successor = others()
            .find(|m| state.role(m.id) == Some(Role::Admin))
            .or_else(|| others().next());
        if let Some(successor) = successor {
            events.push(E::OwnershipTransferred {
                conversation_id,
                seq: next,
                from: me.clone(),
                to: successor.clone(),
                transferred_at: at,
            });
            next += 1;
        }
    }
    events.push(E::MemberRemoved {
        conversation_id,
        seq: next,
        member: me.clone(),
        removed_by: me.clone(),
        reason: super::RemovalReason::Left,
        removed_at: at,
    });
    if others().next().is_none() {
        events.push(E::GroupClosed {
            conversation_id,
            closed_at: at,
        });
    }
    Ok(events)
}
