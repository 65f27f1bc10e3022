//! Who is in a conversation and how far each has read: the small part of a conversation's state
//! that reads need (routing typing, read receipts, the notifier's "already read?").

use domain::{Conversation, ConversationEvent, Member, UserId};
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    members: Vec<Member>,
    read_up_to: HashMap<UserId, i64>,
}

impl Membership {
    pub fn of(state: &Conversation) -> Self {
        Self {
            members: state.members().to_vec(),
            read_up_to: state
                .members()
                .iter()
                .map(|m| (m.id, state.read_up_to(m.id)))
                .collect(),
        }
    }

    /// Whether this still describes `state`, checked without copying anything (most commands are
    /// sends, which change neither the members nor how far they have read).
    pub fn is_current(&self, state: &Conversation) -> bool {
        self.members == state.members()
            && self.read_up_to.len() == state.members().len()
            && state
                .members()
                .iter()
                .all(|m| self.read_up_to.get(&m.id) == Some(&state.read_up_to(m.id)))
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn is_member(&self, user: UserId) -> bool {
        self.members.iter().any(|m| m.id == user)
    }

    pub fn read_up_to(&self, user: UserId) -> i64 {
        self.read_up_to.get(&user).copied().unwrap_or(0)
    }

    /// Brings it up to date with a later event of the conversation.
    pub fn apply(&mut self, event: &ConversationEvent) {
        match event {
            ConversationEvent::ConversationStarted { members, .. } => {
                self.members = members.to_vec();
            }
            ConversationEvent::MessagesRead {
                reader_id, up_to, ..
            } => {
                let read = self.read_up_to.entry(*reader_id).or_insert(0);
                *read = (*read).max(*up_to);
            }
            _ => {}
        }
    }
}
