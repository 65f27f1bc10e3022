//! Properties of a group under any sequence of commands from six people, three of them its first
//! members: while it has members it has exactly one owner; timeline `seq`s stay dense across
//! messages and system entries; only members act (everyone else is `NotMember`); it never holds
//! more than its limit; a member's join point and read position stay within the timeline; once
//! closed it accepts nothing.

use chrono::{DateTime, Utc};
use domain::{
    Aggregate, ClientId, Conversation, ConversationCommand, ConversationError, ConversationEvent,
    ConversationId, DisplayName, GroupTitle, Member, MessageBody, Role, UserId, Username,
};
use proptest::prelude::*;
use uuid::Uuid;

const PEOPLE: usize = 6;
const MAX_MEMBERS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Send {
        who: usize,
        client: u8,
    },
    Add {
        who: usize,
        whom: usize,
    },
    Remove {
        who: usize,
        whom: usize,
    },
    Rename {
        who: usize,
        title: u8,
    },
    Transfer {
        who: usize,
        to: usize,
    },
    MakeAdmin {
        who: usize,
        whom: usize,
        admin: bool,
    },
    Read {
        who: usize,
        up_to: i64,
    },
    Delete {
        who: usize,
        target: usize,
    },
    Mute {
        who: usize,
        muted: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..PEOPLE;
    prop_oneof![
        4 => (who.clone(), 0..6u8).prop_map(|(who, client)| Op::Send { who, client }),
        3 => (who.clone(), 0..PEOPLE).prop_map(|(who, whom)| Op::Add { who, whom }),
        3 => (who.clone(), 0..PEOPLE).prop_map(|(who, whom)| Op::Remove { who, whom }),
        1 => (who.clone(), 0..3u8).prop_map(|(who, title)| Op::Rename { who, title }),
        1 => (who.clone(), 0..PEOPLE).prop_map(|(who, to)| Op::Transfer { who, to }),
        2 => (who.clone(), 0..PEOPLE, any::<bool>())
            .prop_map(|(who, whom, admin)| Op::MakeAdmin { who, whom, admin }),
        2 => (who.clone(), -1..20i64).prop_map(|(who, up_to)| Op::Read { who, up_to }),
        1 => (who.clone(), 0..12usize).prop_map(|(who, target)| Op::Delete { who, target }),
        2 => (who, any::<bool>()).prop_map(|(who, muted)| Op::Mute { who, muted }),
    ]
}

fn person(n: usize) -> Member {
    let Ok(username) = Username::parse(&format!("person{n}")) else {
        panic!("person{n} is a valid username");
    };
    Member {
        id: UserId::new(),
        display_name: DisplayName::from_username(&username),
        username,
    }
}

fn command(
    op: &Op,
    people: &[Member],
    messages: &[Uuid],
) -> Result<ConversationCommand, TestCaseError> {
    let at = DateTime::<Utc>::from_timestamp(1_764_460_800, 0).unwrap_or_default();
    let fail = |e: domain::ValidationError| TestCaseError::fail(e.to_string());
    Ok(match *op {
        Op::Send { who, client } => ConversationCommand::Send {
            sender: people[who].id,
            client_id: ClientId::parse(&format!("c{client}")).map_err(fail)?,
            body: MessageBody::parse("hello").map_err(fail)?,
            at,
        },
        Op::Add { who, whom } => ConversationCommand::AddMember {
            actor: people[who].id,
            member: people[whom].clone(),
            max_members: MAX_MEMBERS,
            at,
        },
        Op::Remove { who, whom } => ConversationCommand::RemoveMember {
            actor: people[who].id,
            member: people[whom].id,
            at,
        },
        Op::Rename { who, title } => ConversationCommand::Rename {
            actor: people[who].id,
            title: GroupTitle::parse(&format!("title {title}")).map_err(fail)?,
            at,
        },
        Op::Transfer { who, to } => ConversationCommand::TransferOwnership {
            actor: people[who].id,
            to: people[to].id,
            at,
        },
        Op::MakeAdmin { who, whom, admin } => ConversationCommand::ChangeRole {
            actor: people[who].id,
            member: people[whom].id,
            role: if admin { Role::Admin } else { Role::Member },
            at,
        },
        Op::Read { who, up_to } => ConversationCommand::Read {
            reader: people[who].id,
            up_to,
            at,
        },
        Op::Delete { who, target } => ConversationCommand::Delete {
            actor: people[who].id,
            message_id: messages.get(target).copied().unwrap_or_else(Uuid::new_v4),
            at,
        },
        Op::Mute { who, muted } => ConversationCommand::SetMuted {
            member: people[who].id,
            muted,
            at,
        },
    })
}

fn actor(op: &Op) -> usize {
    match *op {
        Op::Send { who, .. }
        | Op::Add { who, .. }
        | Op::Remove { who, .. }
        | Op::Rename { who, .. }
        | Op::Transfer { who, .. }
        | Op::MakeAdmin { who, .. }
        | Op::Read { who, .. }
        | Op::Delete { who, .. }
        | Op::Mute { who, .. } => who,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_sequence_of_group_commands_keeps_the_invariants(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        let people: Vec<Member> = (0..PEOPLE).map(person).collect();
        let id = ConversationId::new_group();
        let create = ConversationCommand::CreateGroup {
            id,
            title: GroupTitle::parse("title 0").map_err(|e| TestCaseError::fail(e.to_string()))?,
            owner: people[0].clone(),
            members: people[1..3].to_vec(),
            max_members: MAX_MEMBERS,
            at: DateTime::<Utc>::from_timestamp(1_764_460_800, 0).unwrap_or_default(),
        };
        let mut state = Conversation::default();
        for event in state.decide(&create).map_err(|e| TestCaseError::fail(e.to_string()))? {
            state = state.evolve(&event);
        }
        let mut messages: Vec<Uuid> = Vec::new();

        for op in &ops {
            let was_member = state.is_member(people[actor(op)].id);
            let got = state.decide(&command(op, &people, &messages)?);
            if !was_member {
                prop_assert_eq!(got, Err(ConversationError::NotMember), "{:?}", op);
                continue;
            }
            let Ok(events) = got else { continue };
            for event in &events {
                if let Some(seq) = event.new_seq() {
                    prop_assert_eq!(seq, state.last_seq() + 1, "seqs are dense: {:?}", event);
                }
                if let ConversationEvent::GroupMessageSent { message_id, .. } = event {
                    messages.push(*message_id);
                }
                state = state.evolve(event);
            }

            let owners = people.iter().filter(|p| state.role(p.id) == Some(Role::Owner)).count();
            let members = state.members().len();
            prop_assert_eq!(owners, usize::from(members > 0), "one owner while it has members");
            prop_assert!(members <= MAX_MEMBERS);
            prop_assert_eq!(state.is_closed(), members == 0);
            for p in &people {
                let joined = state.joined_after(p.id);
                prop_assert_eq!(joined.is_some(), state.is_member(p.id));
                if let Some(joined) = joined {
                    prop_assert!(joined < state.last_seq().max(1), "a join is in the timeline");
                    prop_assert!(state.read_up_to(p.id) >= joined);
                    prop_assert!(state.read_up_to(p.id) <= state.last_seq());
                }
                let muted_member = !state.is_muted(p.id) || state.is_member(p.id);
                prop_assert!(muted_member, "only members are muted");
            }
            if state.is_closed() {
                break;
            }
        }
    }
}
