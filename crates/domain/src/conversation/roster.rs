//! Who is in a conversation, in which role, from where they see it, and how far each has read:
//! the part of a conversation's state that reads need (who may see it, where a new member's
//! history starts, receipts, routing), kept apart from the messages so it can be copied alone
//! and brought up to date from later events by itself.

use super::group::{name_bytes, Seat};
use super::{ConversationEvent as E, ConversationId, ConversationKind, GroupTitle, Member, Role};
use crate::UserId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    pub(super) id: Option<ConversationId>,
    pub(super) kind: ConversationKind,
    /// A group's.
    pub(super) title: Option<GroupTitle>,
    /// The current members, in the order they joined (a group's owner first at its creation).
    /// Shared between copies until one changes it: a thousand members are copied for every
    /// command group that changes someone's read mark otherwise (sending counts as reading),
    /// and compared by address when unchanged.
    pub(super) members: Arc<Vec<Member>>,
    /// A group's members by id: their role and join point. Empty for a pair, whose members are
    /// fixed and two. Shared like `members`.
    pub(super) seats: Arc<HashMap<UserId, Seat>>,
    /// A group whose last member left.
    pub(super) closed: bool,
    pub(super) read_up_to: HashMap<UserId, i64>,
    /// Members who turned notifications of this conversation off. A member who leaves a group
    /// takes their setting with them: added again, they start unmuted.
    pub(super) muted: HashSet<UserId>,
    /// Bytes of the members' names, kept as events are applied (a group may have a thousand), so
    /// that sizing the state is O(1).
    pub(super) name_bytes: usize,
}

impl Roster {
    pub fn id(&self) -> Option<ConversationId> {
        self.id
    }

    pub fn kind(&self) -> ConversationKind {
        self.kind
    }

    /// A group's title; `None` for a pair.
    pub fn title(&self) -> Option<&GroupTitle> {
        self.title.as_ref()
    }

    /// A group whose last member left: it accepts nothing any more.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn is_member(&self, user: UserId) -> bool {
        match self.kind {
            ConversationKind::Direct => self.members.iter().any(|m| m.id == user),
            ConversationKind::Group => self.seats.contains_key(&user),
        }
    }

    /// The current members, in the order they joined.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// A group member's role; `None` for a non-member, and for both people of a pair.
    pub fn role(&self, user: UserId) -> Option<Role> {
        self.seats.get(&user).map(|seat| seat.role)
    }

    /// The last `seq` before `user` joined: they see the entries after it. 0 for a pair's two
    /// and for a group's first members; `None` for a non-member.
    pub fn joined_after(&self, user: UserId) -> Option<i64> {
        match self.kind {
            ConversationKind::Direct => self.is_member(user).then_some(0),
            ConversationKind::Group => self.seats.get(&user).map(|seat| seat.joined_after),
        }
    }

    /// How far `user` has read (0 when they never did).
    pub fn read_up_to(&self, user: UserId) -> i64 {
        self.read_up_to.get(&user).copied().unwrap_or(0)
    }

    /// Whether `user` turned this conversation's notifications off.
    pub fn is_muted(&self, user: UserId) -> bool {
        self.muted.contains(&user)
    }

    /// Roughly how many bytes of memory this holds, in constant time.
    pub fn approximate_size(&self) -> usize {
        use std::mem::size_of;
        /// A hash table's control byte per bucket.
        const CONTROL: usize = 1;
        self.members.capacity() * size_of::<Member>()
            + self.name_bytes
            + self.title.as_ref().map_or(0, |t| t.as_str().len())
            + self.seats.capacity() * (size_of::<(UserId, Seat)>() + CONTROL)
            + self.read_up_to.capacity() * (size_of::<(UserId, i64)>() + CONTROL)
            + self.muted.capacity() * (size_of::<UserId>() + CONTROL)
    }

    fn read(&mut self, reader: UserId, up_to: i64) {
        let read = self.read_up_to.entry(reader).or_insert(0);
        *read = (*read).max(up_to);
    }

    /// Brings it up to date with the conversation's next event.
    pub fn apply(&mut self, event: &E) {
        match event {
            E::ConversationStarted {
                conversation_id,
                members,
            } => {
                self.id = Some(*conversation_id);
                self.members = Arc::new(members.to_vec());
                self.name_bytes = members.iter().map(name_bytes).sum();
            }
            E::MessagesRead {
                reader_id, up_to, ..
            }
            | E::GroupMessagesRead {
                reader_id, up_to, ..
            } => self.read(*reader_id, *up_to),
            // In a group, writing is reading: the sender has seen everything up to their own
            // message, so a member's unread count is `last_seq - read_up_to`, with no count per
            // member to keep for each message.
            E::GroupMessageSent { seq, sender, .. } => self.read(sender.id, *seq),
            E::GroupCreated {
                conversation_id,
                title,
                members,
                ..
            } => {
                self.id = Some(*conversation_id);
                self.kind = ConversationKind::Group;
                self.title = Some(title.clone());
                self.seats = Arc::new(
                    members
                        .iter()
                        .enumerate()
                        .map(|(n, m)| {
                            let role = if n == 0 { Role::Owner } else { Role::Member };
                            (
                                m.id,
                                Seat {
                                    role,
                                    joined_after: 0,
                                },
                            )
                        })
                        .collect(),
                );
                self.name_bytes = members.iter().map(name_bytes).sum();
                self.members = Arc::new(members.clone());
            }
            E::MemberAdded { seq, member, .. } => {
                Arc::make_mut(&mut self.seats).insert(
                    member.id,
                    Seat {
                        role: Role::Member,
                        joined_after: seq - 1,
                    },
                );
                // Their own "added" entry is not news to them; what came before they never see.
                self.read_up_to.insert(member.id, *seq);
                self.name_bytes += name_bytes(member);
                Arc::make_mut(&mut self.members).push(member.clone());
            }
            E::MemberRemoved { member, .. } => {
                if Arc::make_mut(&mut self.seats).remove(&member.id).is_some() {
                    Arc::make_mut(&mut self.members).retain(|m| m.id != member.id);
                    self.name_bytes = self.name_bytes.saturating_sub(name_bytes(member));
                }
                self.read_up_to.remove(&member.id);
                self.muted.remove(&member.id);
            }
            E::GroupRenamed { title, .. } => self.title = Some(title.clone()),
            E::OwnershipTransferred { from, to, .. } => {
                let seats = Arc::make_mut(&mut self.seats);
                if let Some(seat) = seats.get_mut(&from.id) {
                    seat.role = Role::Admin;
                }
                if let Some(seat) = seats.get_mut(&to.id) {
                    seat.role = Role::Owner;
                }
            }
            E::RoleChanged { member, role, .. } => {
                if let Some(seat) = Arc::make_mut(&mut self.seats).get_mut(&member.id) {
                    seat.role = *role;
                }
            }
            E::GroupClosed { .. } => {
                self.closed = true;
                self.seats = Arc::default();
                self.members = Arc::default();
                self.read_up_to.clear();
                self.muted.clear();
                self.name_bytes = 0;
            }
            E::ConversationMuted { member_id, .. } => {
                self.muted.insert(*member_id);
            }
            E::ConversationUnmuted { member_id, .. } => {
                self.muted.remove(member_id);
            }
            E::MessageSent { .. }
            | E::MessageEdited { .. }
            | E::MessageDeleted { .. }
            | E::GroupMessageEdited { .. }
            | E::GroupMessageDeleted { .. } => {}
        }
    }
}
