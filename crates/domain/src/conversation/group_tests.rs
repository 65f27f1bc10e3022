//! Given/when/then tables for a group's rules (see `group.rs`).

use super::*;
use crate::aggregate::scenario::given;

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

const MAX: usize = 1_000;

/// Ann owns "Climbing", with Ben and Cat as members; Dan and Eve are outsiders.
struct Group {
    id: ConversationId,
    ann: Member,
    ben: Member,
    cat: Member,
    dan: Member,
    eve: Member,
}

fn group() -> Group {
    Group {
        id: ConversationId::new_group(),
        ann: Member::named("ann"),
        ben: Member::named("ben"),
        cat: Member::named("cat"),
        dan: Member::named("dan"),
        eve: Member::named("eve"),
    }
}

fn title(text: &str) -> GroupTitle {
    GroupTitle::parse(text).unwrap()
}

impl Group {
    fn created(&self) -> ConversationEvent {
        ConversationEvent::GroupCreated {
            conversation_id: self.id,
            title: title("Climbing"),
            created_by: self.ann.clone(),
            members: vec![self.ann.clone(), self.ben.clone(), self.cat.clone()],
            created_at: at(),
        }
    }

    fn sent(&self, seq: i64, from: &Member, client: &str, body: &str) -> ConversationEvent {
        let client_id = ClientId::parse(client).unwrap();
        ConversationEvent::GroupMessageSent {
            conversation_id: self.id,
            message_id: self.id.message_id(from.id, &client_id),
            seq,
            sender: from.clone(),
            body: MessageBody::parse(body).unwrap(),
            client_id,
            sent_at: at(),
        }
    }

    fn message_id(&self, from: &Member, client: &str) -> Uuid {
        self.id
            .message_id(from.id, &ClientId::parse(client).unwrap())
    }

    fn added(&self, seq: i64, member: &Member, by: &Member) -> ConversationEvent {
        ConversationEvent::MemberAdded {
            conversation_id: self.id,
            seq,
            member: member.clone(),
            added_by: by.clone(),
            added_at: at(),
        }
    }

    fn removed(&self, seq: i64, member: &Member, by: &Member) -> ConversationEvent {
        ConversationEvent::MemberRemoved {
            conversation_id: self.id,
            seq,
            member: member.clone(),
            removed_by: by.clone(),
            reason: if member.id == by.id {
                RemovalReason::Left
            } else {
                RemovalReason::Removed
            },
            removed_at: at(),
        }
    }

    fn transferred(&self, seq: i64, from: &Member, to: &Member) -> ConversationEvent {
        ConversationEvent::OwnershipTransferred {
            conversation_id: self.id,
            seq,
            from: from.clone(),
            to: to.clone(),
            transferred_at: at(),
        }
    }

    fn role_changed(&self, seq: i64, member: &Member, role: Role) -> ConversationEvent {
        ConversationEvent::RoleChanged {
            conversation_id: self.id,
            seq,
            member: member.clone(),
            role,
            changed_by: self.ann.clone(),
            changed_at: at(),
        }
    }

    fn closed(&self) -> ConversationEvent {
        ConversationEvent::GroupClosed {
            conversation_id: self.id,
            closed_at: at(),
        }
    }

    /// Created, then Ben made an admin (seq 1).
    fn with_admin_ben(&self) -> Vec<ConversationEvent> {
        vec![self.created(), self.role_changed(1, &self.ben, Role::Admin)]
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

fn add(by: &Member, member: &Member) -> ConversationCommand {
    ConversationCommand::AddMember {
        actor: by.id,
        member: member.clone(),
        max_members: MAX,
        at: at(),
    }
}

fn remove(by: &Member, member: &Member) -> ConversationCommand {
    ConversationCommand::RemoveMember {
        actor: by.id,
        member: member.id,
        at: at(),
    }
}

fn rename(by: &Member, text: &str) -> ConversationCommand {
    ConversationCommand::Rename {
        actor: by.id,
        title: title(text),
        at: at(),
    }
}

fn read(by: &Member, up_to: i64) -> ConversationCommand {
    ConversationCommand::Read {
        reader: by.id,
        up_to,
        at: at(),
    }
}

fn edit(by: &Member, message_id: Uuid, body: &str) -> ConversationCommand {
    ConversationCommand::Edit {
        editor: by.id,
        message_id,
        body: MessageBody::parse(body).unwrap(),
        at: at(),
    }
}

fn delete(by: &Member, message_id: Uuid) -> ConversationCommand {
    ConversationCommand::Delete {
        actor: by.id,
        message_id,
        at: at(),
    }
}

fn state(history: &[ConversationEvent]) -> Conversation {
    Conversation::from_events(history)
}

#[test]
fn the_creator_owns_the_group_and_the_others_are_members() {
    let g = group();
    let create = ConversationCommand::CreateGroup {
        id: g.id,
        title: title("Climbing"),
        owner: g.ann.clone(),
        // The owner named again and a name twice count once.
        members: vec![g.ben.clone(), g.ann.clone(), g.cat.clone(), g.ben.clone()],
        max_members: MAX,
        at: at(),
    };
    given::<Conversation>(&[])
        .when(create.clone())
        .then_events(vec![g.created()]);
    // A retried creation finds the group made.
    given::<Conversation>(&[g.created()])
        .when(create)
        .then_events(vec![]);

    let s = state(&[g.created()]);
    assert_eq!(s.kind(), ConversationKind::Group);
    assert_eq!(s.title().map(GroupTitle::as_str), Some("Climbing"));
    assert_eq!(s.role(g.ann.id), Some(Role::Owner));
    assert_eq!(s.role(g.ben.id), Some(Role::Member));
    assert_eq!(s.role(g.dan.id), None);
    assert_eq!(s.joined_after(g.cat.id), Some(0));
    assert_eq!(s.members().len(), 3);
    assert_eq!(s.last_seq(), 0, "the creation takes no seq");
}

#[test]
fn a_group_has_at_most_the_configured_number_of_members() {
    let g = group();
    let create = |max_members| ConversationCommand::CreateGroup {
        id: g.id,
        title: title("Climbing"),
        owner: g.ann.clone(),
        members: vec![g.ben.clone(), g.cat.clone()],
        max_members,
        at: at(),
    };
    given::<Conversation>(&[])
        .when(create(2))
        .then_error(ConversationError::TooManyMembers { max: 2 });
    given::<Conversation>(&[])
        .when(create(3))
        .then_events(vec![g.created()]);
    let full = |max_members| ConversationCommand::AddMember {
        actor: g.ann.id,
        member: g.dan.clone(),
        max_members,
        at: at(),
    };
    given::<Conversation>(&[g.created()])
        .when(full(3))
        .then_error(ConversationError::TooManyMembers { max: 3 });
    given::<Conversation>(&[g.created()])
        .when(full(4))
        .then_events(vec![g.added(1, &g.dan, &g.ann)]);
}

#[test]
fn owners_and_admins_add_members_and_plain_members_may_not() {
    let g = group();
    given::<Conversation>(&[g.created()])
        .when(add(&g.ann, &g.dan))
        .then_events(vec![g.added(1, &g.dan, &g.ann)]);
    given::<Conversation>(&g.with_admin_ben())
        .when(add(&g.ben, &g.dan))
        .then_events(vec![g.added(2, &g.dan, &g.ben)]);
    given::<Conversation>(&[g.created()])
        .when(add(&g.cat, &g.dan))
        .then_error(ConversationError::NotAdmin);
    // An outsider cannot tell the group exists.
    given::<Conversation>(&[g.created()])
        .when(add(&g.eve, &g.dan))
        .then_error(ConversationError::NotMember);
    // Adding someone already in is already done.
    given::<Conversation>(&[g.created()])
        .when(add(&g.ann, &g.cat))
        .then_events(vec![]);
}

#[test]
fn admins_remove_members_only_the_owner_removes_admins_and_nobody_the_owner() {
    let g = group();
    let admin_ben = g.with_admin_ben();
    given::<Conversation>(&admin_ben)
        .when(remove(&g.ben, &g.cat))
        .then_events(vec![g.removed(2, &g.cat, &g.ben)]);
    given::<Conversation>(&admin_ben)
        .when(remove(&g.ann, &g.ben))
        .then_events(vec![g.removed(2, &g.ben, &g.ann)]);
    given::<Conversation>(&admin_ben)
        .when(remove(&g.cat, &g.ben))
        .then_error(ConversationError::NotAdmin);
    given::<Conversation>(&admin_ben)
        .when(remove(&g.ben, &g.ann))
        .then_error(ConversationError::OwnerNotRemovable);
    let mut two_admins = admin_ben.clone();
    two_admins.push(g.role_changed(2, &g.cat, Role::Admin));
    given::<Conversation>(&two_admins)
        .when(remove(&g.ben, &g.cat))
        .then_error(ConversationError::AdminNotRemovable);
    // Someone not in the group is already not in it.
    given::<Conversation>(&admin_ben)
        .when(remove(&g.ann, &g.dan))
        .then_events(vec![]);
    given::<Conversation>(&admin_ben)
        .when(remove(&g.eve, &g.cat))
        .then_error(ConversationError::NotMember);
}

#[test]
fn anyone_may_leave_and_a_leaver_is_gone() {
    let g = group();
    given::<Conversation>(&[g.created()])
        .when(remove(&g.cat, &g.cat))
        .then_events(vec![g.removed(1, &g.cat, &g.cat)]);
    let s = state(&[g.created(), g.removed(1, &g.cat, &g.cat)]);
    assert!(!s.is_member(g.cat.id));
    assert_eq!(s.members().len(), 2);
    // Leaving again: they are an outsider now.
    given::<Conversation>(&[g.created(), g.removed(1, &g.cat, &g.cat)])
        .when(remove(&g.cat, &g.cat))
        .then_error(ConversationError::NotMember);
}

#[test]
fn an_owner_who_leaves_hands_over_to_the_oldest_admin_else_the_oldest_member() {
    let g = group();
    // No admin: Ben joined before Cat.
    given::<Conversation>(&[g.created()])
        .when(remove(&g.ann, &g.ann))
        .then_events(vec![
            g.transferred(1, &g.ann, &g.ben),
            g.removed(2, &g.ann, &g.ann),
        ]);
    // Cat is an admin, Ben is not: Cat.
    let admin_cat = [g.created(), g.role_changed(1, &g.cat, Role::Admin)];
    given::<Conversation>(&admin_cat)
        .when(remove(&g.ann, &g.ann))
        .then_events(vec![
            g.transferred(2, &g.ann, &g.cat),
            g.removed(3, &g.ann, &g.ann),
        ]);
    let mut after = admin_cat.to_vec();
    after.extend([
        g.transferred(2, &g.ann, &g.cat),
        g.removed(3, &g.ann, &g.ann),
    ]);
    let s = state(&after);
    assert_eq!(s.role(g.cat.id), Some(Role::Owner));
    assert_eq!(s.role(g.ann.id), None);
    assert_eq!(s.last_seq(), 3);
}

#[test]
fn the_last_member_leaving_closes_the_group_for_good() {
    let g = group();
    let history = [
        g.created(),
        g.removed(1, &g.ben, &g.ben),
        g.removed(2, &g.cat, &g.cat),
    ];
    given::<Conversation>(&history)
        .when(remove(&g.ann, &g.ann))
        .then_events(vec![g.removed(3, &g.ann, &g.ann), g.closed()]);
    let mut closed = history.to_vec();
    closed.extend([g.removed(3, &g.ann, &g.ann), g.closed()]);
    let s = state(&closed);
    assert!(s.is_closed() && s.members().is_empty());
    for command in [
        send(&g.ann, "c1", "anyone?"),
        add(&g.ann, &g.ben),
        rename(&g.ann, "Back"),
    ] {
        given::<Conversation>(&closed)
            .when(command)
            .then_error(ConversationError::NotMember);
    }
}

#[test]
fn the_owner_hands_over_and_stays_as_an_admin() {
    let g = group();
    let transfer = |by: &Member, to: &Member| ConversationCommand::TransferOwnership {
        actor: by.id,
        to: to.id,
        at: at(),
    };
    given::<Conversation>(&[g.created()])
        .when(transfer(&g.ann, &g.cat))
        .then_events(vec![g.transferred(1, &g.ann, &g.cat)]);
    given::<Conversation>(&g.with_admin_ben())
        .when(transfer(&g.ben, &g.cat))
        .then_error(ConversationError::NotOwner);
    given::<Conversation>(&[g.created()])
        .when(transfer(&g.ann, &g.dan))
        .then_error(ConversationError::MemberNotFound);
    given::<Conversation>(&[g.created()])
        .when(transfer(&g.ann, &g.ann))
        .then_events(vec![]);
    let s = state(&[g.created(), g.transferred(1, &g.ann, &g.cat)]);
    assert_eq!(
        (s.role(g.ann.id), s.role(g.cat.id)),
        (Some(Role::Admin), Some(Role::Owner))
    );
}

#[test]
fn only_the_owner_makes_or_unmakes_admins() {
    let g = group();
    let change = |by: &Member, member: &Member, role| ConversationCommand::ChangeRole {
        actor: by.id,
        member: member.id,
        role,
        at: at(),
    };
    given::<Conversation>(&[g.created()])
        .when(change(&g.ann, &g.ben, Role::Admin))
        .then_events(vec![g.role_changed(1, &g.ben, Role::Admin)]);
    given::<Conversation>(&g.with_admin_ben())
        .when(change(&g.ben, &g.cat, Role::Admin))
        .then_error(ConversationError::NotOwner);
    given::<Conversation>(&g.with_admin_ben())
        .when(change(&g.ann, &g.ben, Role::Admin))
        .then_events(vec![]);
    given::<Conversation>(&g.with_admin_ben())
        .when(change(&g.ann, &g.ben, Role::Member))
        .then_events(vec![g.role_changed(2, &g.ben, Role::Member)]);
    given::<Conversation>(&[g.created()])
        .when(change(&g.ann, &g.ann, Role::Member))
        .then_error(ConversationError::OwnerRoleFixed);
    given::<Conversation>(&[g.created()])
        .when(change(&g.ann, &g.ben, Role::Owner))
        .then_error(ConversationError::OwnerRoleFixed);
    given::<Conversation>(&[g.created()])
        .when(change(&g.ann, &g.dan, Role::Admin))
        .then_error(ConversationError::MemberNotFound);
}

#[test]
fn owners_and_admins_rename_and_plain_members_may_not() {
    let g = group();
    let renamed = |seq, by: &Member, text: &str| ConversationEvent::GroupRenamed {
        conversation_id: g.id,
        seq,
        title: title(text),
        renamed_by: by.clone(),
        renamed_at: at(),
    };
    given::<Conversation>(&[g.created()])
        .when(rename(&g.ann, "Bouldering"))
        .then_events(vec![renamed(1, &g.ann, "Bouldering")]);
    given::<Conversation>(&g.with_admin_ben())
        .when(rename(&g.ben, "Bouldering"))
        .then_events(vec![renamed(2, &g.ben, "Bouldering")]);
    given::<Conversation>(&[g.created()])
        .when(rename(&g.cat, "Bouldering"))
        .then_error(ConversationError::NotAdmin);
    given::<Conversation>(&[g.created()])
        .when(rename(&g.dan, "Bouldering"))
        .then_error(ConversationError::NotMember);
    given::<Conversation>(&[g.created()])
        .when(rename(&g.ann, "Climbing"))
        .then_events(vec![]);
    let s = state(&[g.created(), renamed(1, &g.ann, "Bouldering")]);
    assert_eq!(s.title().map(GroupTitle::as_str), Some("Bouldering"));
}

#[test]
fn messages_and_system_entries_share_one_dense_seq() {
    let g = group();
    let history = [
        g.created(),
        g.sent(1, &g.ann, "c1", "hello"),
        g.added(2, &g.dan, &g.ann),
    ];
    given::<Conversation>(&history)
        .when(send(&g.dan, "c1", "hi all"))
        .then_events(vec![g.sent(3, &g.dan, "c1", "hi all")]);
    // A resend records nothing.
    given::<Conversation>(&history[..2])
        .when(send(&g.ann, "c1", "hello"))
        .then_events(vec![]);
    given::<Conversation>(&history)
        .when(send(&g.eve, "c1", "let me in"))
        .then_error(ConversationError::NotMember);
}

#[test]
fn sending_in_a_group_is_reading_up_to_ones_own_message() {
    let g = group();
    let s = state(&[
        g.created(),
        g.sent(1, &g.ben, "c1", "one"),
        g.sent(2, &g.ben, "c2", "two"),
        g.sent(3, &g.cat, "c1", "three"),
    ]);
    assert_eq!(s.read_up_to(g.cat.id), 3);
    assert_eq!(s.read_up_to(g.ben.id), 2);
    assert_eq!(s.read_up_to(g.ann.id), 0);
    given::<Conversation>(&[g.created(), g.sent(1, &g.ben, "c1", "one")])
        .when(read(&g.ben, 1))
        .then_events(vec![]);
}

#[test]
fn removal_ends_access_to_sending_reading_and_editing() {
    let g = group();
    let history = [
        g.created(),
        g.sent(1, &g.cat, "c1", "hello"),
        g.removed(2, &g.cat, &g.ann),
    ];
    let own = g.message_id(&g.cat, "c1");
    for command in [
        send(&g.cat, "c2", "still here?"),
        read(&g.cat, 1),
        edit(&g.cat, own, "hello!"),
        delete(&g.cat, own),
        // Even a resend of what they sent while a member.
        send(&g.cat, "c1", "hello"),
    ] {
        given::<Conversation>(&history)
            .when(command)
            .then_error(ConversationError::NotMember);
    }
    let s = state(&history);
    assert!(!s.is_member(g.cat.id));
    assert_eq!(s.joined_after(g.cat.id), None);
}

#[test]
fn a_new_member_sees_from_their_join_and_nothing_before() {
    let g = group();
    let history = [
        g.created(),
        g.sent(1, &g.ann, "c1", "before dan"),
        g.added(2, &g.dan, &g.ann),
        g.sent(3, &g.ben, "c1", "after dan"),
    ];
    let s = state(&history);
    assert_eq!(s.joined_after(g.dan.id), Some(1), "Dan sees from seq 2");
    assert_eq!(
        s.read_up_to(g.dan.id),
        2,
        "their own 'added' entry is not unread"
    );
    // Made an admin, Dan still cannot touch what was before his time.
    let mut admin_dan = history.to_vec();
    admin_dan.push(g.role_changed(4, &g.dan, Role::Admin));
    given::<Conversation>(&admin_dan)
        .when(delete(&g.dan, g.message_id(&g.ann, "c1")))
        .then_error(ConversationError::MessageNotFound);
    given::<Conversation>(&admin_dan)
        .when(delete(&g.dan, g.message_id(&g.ben, "c1")))
        .then_events(vec![ConversationEvent::GroupMessageDeleted {
            conversation_id: g.id,
            message_id: g.message_id(&g.ben, "c1"),
            seq: 3,
            deleted_by: g.dan.id,
            deleted_at: at(),
        }]);
    given::<Conversation>(&history)
        .when(read(&g.dan, 3))
        .then_events(vec![ConversationEvent::GroupMessagesRead {
            conversation_id: g.id,
            reader_id: g.dan.id,
            up_to: 3,
            read_at: at(),
        }]);
    given::<Conversation>(&history)
        .when(read(&g.dan, 1))
        .then_events(vec![]);
}

#[test]
fn a_removed_member_added_again_starts_from_the_new_join() {
    let g = group();
    let history = [
        g.created(),
        g.sent(1, &g.cat, "c1", "first time"),
        g.removed(2, &g.cat, &g.ann),
        g.sent(3, &g.ann, "c1", "while cat was away"),
    ];
    given::<Conversation>(&history)
        .when(add(&g.ann, &g.cat))
        .then_events(vec![g.added(4, &g.cat, &g.ann)]);
    let mut again = history.to_vec();
    again.push(g.added(4, &g.cat, &g.ann));
    let s = state(&again);
    assert_eq!(s.joined_after(g.cat.id), Some(3));
    assert_eq!(s.role(g.cat.id), Some(Role::Member));
    given::<Conversation>(&again)
        .when(send(&g.cat, "c2", "back"))
        .then_events(vec![g.sent(5, &g.cat, "c2", "back")]);
    // Their message from the first membership is out of their sight now.
    given::<Conversation>(&again)
        .when(edit(&g.cat, g.message_id(&g.cat, "c1"), "edited"))
        .then_error(ConversationError::MessageNotFound);
}

#[test]
fn the_sender_edits_and_deletes_and_admins_delete_anyones_message() {
    let g = group();
    let history = {
        let mut h = g.with_admin_ben();
        h.push(g.sent(2, &g.cat, "c1", "hello"));
        h
    };
    let cats = g.message_id(&g.cat, "c1");
    let deleted = |by: &Member| ConversationEvent::GroupMessageDeleted {
        conversation_id: g.id,
        message_id: cats,
        seq: 2,
        deleted_by: by.id,
        deleted_at: at(),
    };
    given::<Conversation>(&history)
        .when(edit(&g.cat, cats, "hello!"))
        .then_events(vec![ConversationEvent::GroupMessageEdited {
            conversation_id: g.id,
            message_id: cats,
            seq: 2,
            editor_id: g.cat.id,
            body: MessageBody::parse("hello!").unwrap(),
            edited_at: at(),
        }]);
    // Nobody edits someone else's words, not even the owner.
    given::<Conversation>(&history)
        .when(edit(&g.ann, cats, "hijacked"))
        .then_error(ConversationError::NotSender);
    for by in [&g.cat, &g.ben, &g.ann] {
        given::<Conversation>(&history)
            .when(delete(by, cats))
            .then_events(vec![deleted(by)]);
    }
    let mut with_dan = history.clone();
    with_dan.push(g.added(3, &g.dan, &g.ann));
    given::<Conversation>(&with_dan)
        .when(delete(&g.dan, g.message_id(&g.dan, "nothing")))
        .then_error(ConversationError::MessageNotFound);
    let mut dans = with_dan.clone();
    dans.push(g.sent(4, &g.dan, "c1", "mine"));
    given::<Conversation>(&dans)
        .when(delete(&g.cat, g.message_id(&g.dan, "c1")))
        .then_error(ConversationError::NotSender);
}

#[test]
fn system_entries_cannot_be_edited_or_deleted() {
    let g = group();
    let history = [g.created(), g.added(1, &g.dan, &g.ann)];
    let s = state(&history);
    assert_eq!(s.last_seq(), 1);
    // A system entry has no message id; whatever id is named is not a message.
    given::<Conversation>(&history)
        .when(delete(&g.ann, Uuid::new_v4()))
        .then_error(ConversationError::MessageNotFound);
}

#[test]
fn group_commands_on_a_pair_are_refused_and_outsiders_learn_nothing() {
    let (ann, ben, eve) = (
        Member::named("ann"),
        Member::named("ben"),
        Member::named("eve"),
    );
    let id = ConversationId::for_pair(ann.id, ben.id);
    let started = [ConversationEvent::ConversationStarted {
        conversation_id: id,
        members: [ann.clone(), ben.clone()],
    }];
    given::<Conversation>(&started)
        .when(add(&ann, &eve))
        .then_error(ConversationError::NotAGroup);
    given::<Conversation>(&started)
        .when(rename(&ann, "Us"))
        .then_error(ConversationError::NotAGroup);
    given::<Conversation>(&started)
        .when(rename(&eve, "Us"))
        .then_error(ConversationError::NotMember);
    let s = state(&started);
    assert_eq!(s.kind(), ConversationKind::Direct);
    assert_eq!((s.role(ann.id), s.joined_after(ann.id)), (None, Some(0)));
}

#[test]
fn the_size_of_a_group_follows_its_members() {
    let g = group();
    let small = state(&[g.created()]);
    let many: Vec<Member> = (0..500)
        .map(|n| Member::named(&format!("m{n:03}")))
        .collect();
    let big = many.iter().enumerate().fold(small.clone(), |s, (n, m)| {
        s.evolve(&g.added(n as i64 + 1, m, &g.ann))
    });
    assert!(big.approximate_size() > small.approximate_size() + 500 * size_of::<Member>());
    let shrunk = many.iter().enumerate().fold(big.clone(), |s, (n, m)| {
        s.evolve(&g.removed(501 + n as i64, m, &g.ann))
    });
    // Names leave with their members (the tables keep their capacity).
    assert!(shrunk.approximate_size() < big.approximate_size() + 1_000 * size_of::<MessageState>());
    assert_eq!(shrunk.members().len(), 3);
}

#[test]
fn group_events_keep_their_stored_shape() {
    let g = group();
    let json = serde_json::to_value(g.removed(7, &g.cat, &g.ann)).unwrap();
    assert_eq!(json["type"], "MemberRemoved");
    assert_eq!(json["reason"], "removed");
    assert_eq!(json["seq"], 7);
    let back: ConversationEvent = serde_json::from_value(json).unwrap();
    assert_eq!(back, g.removed(7, &g.cat, &g.ann));
    let role = serde_json::to_value(g.role_changed(1, &g.ben, Role::Admin)).unwrap();
    assert_eq!(role["role"], "admin");
}

#[test]
fn a_title_is_trimmed_and_limited() {
    assert_eq!(
        GroupTitle::parse("  Climbing ").unwrap().as_str(),
        "Climbing"
    );
    for bad in ["", "   ", "a\u{7}b", &"x".repeat(101)] {
        assert_eq!(
            GroupTitle::parse(bad).unwrap_err().field,
            "title",
            "{bad:?}"
        );
    }
    assert!(GroupTitle::parse(&"é".repeat(100)).is_ok());
}

#[test]
fn a_title_is_refused_for_what_its_raw_text_holds_as_the_api_documents_it() {
    assert_eq!(title("  Climbing ").as_str(), "Climbing");
    // Bounds and characters apply to the text as sent, not as trimmed.
    let padded = format!("{} ", "x".repeat(GroupTitle::MAX_CHARS));
    assert!(GroupTitle::parse(&padded).is_err());
    assert!(GroupTitle::parse("\nClimbing").is_err());
    assert!(GroupTitle::parse(" \t ").is_err());
    assert!(GroupTitle::parse(&"x".repeat(GroupTitle::MAX_CHARS)).is_ok());
}

#[test]
fn who_may_remove_whom_is_what_removing_decides() {
    use Role::*;
    // (remover, removed, allowed): the page shows a "Remove" button exactly when it is true.
    let table = [
        (Owner, Owner, false),
        (Owner, Admin, true),
        (Owner, Member, true),
        (Admin, Owner, false),
        (Admin, Admin, false),
        (Admin, Member, true),
        (Member, Owner, false),
        (Member, Admin, false),
        (Member, Member, false),
    ];
    for (remover, removed, allowed) in table {
        assert_eq!(
            remover.may_remove(removed),
            allowed,
            "{remover:?} removing {removed:?}"
        );
    }
}

fn mute(who: &Member, muted: bool) -> ConversationCommand {
    ConversationCommand::SetMuted {
        member: who.id,
        muted,
        at: at(),
    }
}

impl Group {
    fn muted(&self, who: &Member) -> ConversationEvent {
        ConversationEvent::ConversationMuted {
            conversation_id: self.id,
            member_id: who.id,
            muted_at: at(),
        }
    }
}

#[test]
fn a_member_mutes_a_group_for_themself_only_and_takes_no_seq() {
    let g = group();
    given::<Conversation>(&[g.created()])
        .when(mute(&g.ben, true))
        .then_events(vec![g.muted(&g.ben)]);
    let muted = [g.created(), g.muted(&g.ben)];
    let state = Conversation::from_events(&muted);
    assert!(state.is_muted(g.ben.id) && !state.is_muted(g.cat.id));
    assert_eq!(state.last_seq(), 0, "a setting is no timeline entry");
    given::<Conversation>(&muted)
        .when(mute(&g.ben, true))
        .then_events(vec![]);
    given::<Conversation>(&muted)
        .when(mute(&g.ben, false))
        .then_events(vec![ConversationEvent::ConversationUnmuted {
            conversation_id: g.id,
            member_id: g.ben.id,
            unmuted_at: at(),
        }]);
    given::<Conversation>(&[g.created()])
        .when(mute(&g.cat, false))
        .then_events(vec![]);
}

#[test]
fn outsiders_and_removed_members_cannot_mute_and_a_rejoin_starts_unmuted() {
    let g = group();
    given::<Conversation>(&[g.created()])
        .when(mute(&g.dan, true))
        .then_error(ConversationError::NotMember);
    let removed = [g.created(), g.muted(&g.ben), g.removed(1, &g.ben, &g.ann)];
    given::<Conversation>(&removed)
        .when(mute(&g.ben, true))
        .then_error(ConversationError::NotMember);
    let back = [
        g.created(),
        g.muted(&g.ben),
        g.removed(1, &g.ben, &g.ann),
        g.added(2, &g.ben, &g.ann),
    ];
    assert!(!Conversation::from_events(&back).is_muted(g.ben.id));
    given::<Conversation>(&back)
        .when(mute(&g.ben, true))
        .then_events(vec![g.muted(&g.ben)]);
}
