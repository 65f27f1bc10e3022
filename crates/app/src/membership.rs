//! Who is in a conversation, in which role and from where, and how far each has read: the small
//! part of a conversation's state that reads need (routing typing, read receipts, the notifier's
//! "already read?", a group's member list and where a member's history starts).

use domain::{Conversation, ConversationEvent, Member, Roster, UserId};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    roster: Roster,
}

impl Membership {
    pub fn of(state: &Conversation) -> Self {
        Self {
            roster: state.roster().clone(),
        }
    }

    /// Whether this still describes `state`, checked without copying anything (most commands are
    /// sends, which in a pair change neither the members nor how far they have read).
    pub fn is_current(&self, state: &Conversation) -> bool {
        self.roster == *state.roster()
    }

    /// Kind, title, roles and join points.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    pub fn members(&self) -> &[Member] {
        self.roster.members()
    }

    pub fn is_member(&self, user: UserId) -> bool {
        self.roster.is_member(user)
    }

    pub fn read_up_to(&self, user: UserId) -> i64 {
        self.roster.read_up_to(user)
    }

    /// Whether `user` turned the conversation's notifications off.
    pub fn is_muted(&self, user: UserId) -> bool {
        self.roster.is_muted(user)
    }

    /// Brings it up to date with a later event of the conversation.
    pub fn apply(&mut self, event: &ConversationEvent) {
        self.roster.apply(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{Aggregate, ConversationId};

    fn read(id: ConversationId, reader: &Member, peer: &Member, up_to: i64) -> ConversationEvent {
        ConversationEvent::MessagesRead {
            conversation_id: id,
            reader_id: reader.id,
            peer_id: peer.id,
            up_to,
            read_at: chrono::Utc::now(),
        }
    }

    fn started() -> (ConversationId, Member, Member, Conversation) {
        let (ann, ben) = (Member::named("ann"), Member::named("ben"));
        let id = ConversationId::for_pair(ann.id, ben.id);
        let state = Conversation::default().evolve(&ConversationEvent::ConversationStarted {
            conversation_id: id,
            members: [ann.clone(), ben.clone()],
        });
        (id, ann, ben, state)
    }

    #[test]
    fn a_read_receipt_moves_forward_only() {
        let (id, ann, ben, state) = started();
        let mut membership = Membership::of(&state);
        assert!(membership.is_member(ann.id) && membership.is_member(ben.id));
        assert!(!membership.is_member(UserId::new()));
        membership.apply(&read(id, &ben, &ann, 3));
        membership.apply(&read(id, &ben, &ann, 2));
        assert_eq!(membership.read_up_to(ben.id), 3);
        assert_eq!(membership.read_up_to(ann.id), 0);
    }

    #[test]
    fn it_goes_stale_when_someone_reads_and_not_when_someone_sends() {
        let (id, ann, ben, state) = started();
        let membership = Membership::of(&state);
        let sent = state.evolve(&ConversationEvent::MessageSent {
            conversation_id: id,
            message_id: uuid::Uuid::new_v4(),
            seq: 1,
            sender: ann.clone(),
            recipient: ben.clone(),
            body: domain::MessageBody::parse("hi").unwrap(),
            client_id: domain::ClientId::parse("c1").unwrap(),
            sent_at: chrono::Utc::now(),
        });
        assert!(membership.is_current(&sent));
        let read = sent.evolve(&read(id, &ben, &ann, 1));
        assert!(!membership.is_current(&read));
        assert!(Membership::of(&read).is_current(&read));
        assert!(!Membership::default().is_current(&read));
    }
}
