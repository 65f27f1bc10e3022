//! Properties of a conversation under any sequence of commands, from its two members and an
//! outsider: `seq`s stay dense, outsiders change nothing, a resend stores nothing new, only the
//! sender edits or deletes a message, read positions only move forward and never past the end.

use chrono::{DateTime, Utc};
use domain::{
    Aggregate, ClientId, Conversation, ConversationCommand, ConversationError, ConversationEvent,
    ConversationId, DisplayName, Member, MessageBody, UserId, Username,
};
use proptest::prelude::*;
use std::collections::HashSet;
use uuid::Uuid;

#[derive(Debug, Clone)]
enum Op {
    Send { who: usize, client: u8 },
    Edit { who: usize, target: usize, text: u8 },
    Delete { who: usize, target: usize },
    Read { who: usize, up_to: i64 },
}

/// Three people: 0 and 1 are the members, 2 an outsider. Targets past the messages sent name no
/// message at all.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..6u8).prop_map(|(who, client)| Op::Send { who, client }),
        2 => (0..3usize, 0..10usize, 0..3u8)
            .prop_map(|(who, target, text)| Op::Edit { who, target, text }),
        1 => (0..3usize, 0..10usize).prop_map(|(who, target)| Op::Delete { who, target }),
        2 => (0..3usize, -2..14i64).prop_map(|(who, up_to)| Op::Read { who, up_to }),
    ]
}

fn person(name: &str) -> Member {
    let Ok(username) = Username::parse(name) else {
        panic!("{name} is a valid username");
    };
    Member {
        id: UserId::new(),
        display_name: DisplayName::from_username(&username),
        username,
    }
}

fn body(text: &str) -> MessageBody {
    MessageBody::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
}

/// What the test remembers of each message, to judge the aggregate's answers by.
struct Sent {
    id: Uuid,
    sender: UserId,
    body: String,
    deleted: bool,
}

fn command(op: &Op, people: &[Member; 3], sent: &[Sent]) -> ConversationCommand {
    let at = DateTime::<Utc>::from_timestamp(1_764_460_800, 0).unwrap_or_default();
    let message = |target: usize| sent.get(target).map_or_else(Uuid::new_v4, |m| m.id);
    match *op {
        Op::Send { who, client } => ConversationCommand::Send {
            sender: people[who].id,
            client_id: ClientId::parse(&format!("c{client}"))
                .unwrap_or_else(|e| panic!("a valid client id: {e:?}")),
            body: body(&format!("message {client} from {who}")),
            at,
        },
        Op::Edit { who, target, text } => ConversationCommand::Edit {
            editor: people[who].id,
            message_id: message(target),
            body: body(&format!("edit {text}")),
            at,
        },
        Op::Delete { who, target } => ConversationCommand::Delete {
            actor: people[who].id,
            message_id: message(target),
            at,
        },
        Op::Read { who, up_to } => ConversationCommand::Read {
            reader: people[who].id,
            up_to,
            at,
        },
    }
}

/// What the aggregate must answer to `op`, judged from what was sent: how many events, or why not.
fn expected(
    op: &Op,
    people: &[Member; 3],
    sent: &[Sent],
    resends: &HashSet<(usize, u8)>,
    read: &[i64; 2],
) -> Result<usize, ConversationError> {
    let own = |who: usize, target: usize| match sent.get(target) {
        None => Err(ConversationError::MessageNotFound),
        Some(m) if m.sender != people[who].id => Err(ConversationError::NotSender),
        Some(m) => Ok(m),
    };
    match *op {
        Op::Send { who: 2, .. }
        | Op::Edit { who: 2, .. }
        | Op::Delete { who: 2, .. }
        | Op::Read { who: 2, .. } => Err(ConversationError::NotMember),
        Op::Send { who, client } => Ok(usize::from(!resends.contains(&(who, client)))),
        Op::Edit { who, target, text } => {
            let m = own(who, target)?;
            if m.deleted {
                return Err(ConversationError::MessageDeleted);
            }
            Ok(usize::from(m.body != format!("edit {text}")))
        }
        Op::Delete { who, target } => Ok(usize::from(!own(who, target)?.deleted)),
        Op::Read { up_to, .. } if up_to < 0 => Err(ConversationError::NegativeReadPosition),
        Op::Read { who, up_to } => Ok(usize::from(up_to.min(sent.len() as i64) > read[who])),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_sequence_of_commands_keeps_the_invariants(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        let people = [person("ann"), person("ben"), person("eve")];
        let id = ConversationId::for_pair(people[0].id, people[1].id);
        let mut state = Conversation::default();
        let start = ConversationCommand::Start {
            id,
            members: [people[0].clone(), people[1].clone()],
        };
        for event in state.decide(&start).map_err(|e| TestCaseError::fail(e.to_string()))? {
            state = state.evolve(&event);
        }
        let mut sent: Vec<Sent> = Vec::new();
        let mut resends: HashSet<(usize, u8)> = HashSet::new();
        let mut read = [0i64; 2];

        for op in &ops {
            let want = expected(op, &people, &sent, &resends, &read);
            let got = state.decide(&command(op, &people, &sent));
            prop_assert_eq!(got.as_ref().map(Vec::len).map_err(Clone::clone), want, "{:?}", op);
            let Ok(events) = got else { continue };
            for event in &events {
                match (op, event) {
                    (Op::Send { who, client }, ConversationEvent::MessageSent { seq, message_id, .. }) => {
                        prop_assert_eq!(*seq, sent.len() as i64 + 1, "seqs are dense");
                        resends.insert((*who, *client));
                        sent.push(Sent {
                            id: *message_id,
                            sender: people[*who].id,
                            body: format!("message {client} from {who}"),
                            deleted: false,
                        });
                    }
                    (Op::Edit { target, text, .. }, ConversationEvent::MessageEdited { seq, .. }) => {
                        prop_assert_eq!(*seq, *target as i64 + 1);
                        sent[*target].body = format!("edit {text}");
                    }
                    (Op::Delete { target, .. }, ConversationEvent::MessageDeleted { seq, .. }) => {
                        prop_assert_eq!(*seq, *target as i64 + 1);
                        sent[*target].deleted = true;
                    }
                    (Op::Read { who, .. }, ConversationEvent::MessagesRead { up_to, .. }) => {
                        prop_assert!(*up_to > read[*who], "reads only move forward");
                        read[*who] = *up_to;
                    }
                    (op, event) => {
                        return Err(TestCaseError::fail(format!("{op:?} gave {event:?}")));
                    }
                }
                state = state.evolve(event);
            }
            prop_assert_eq!(state.last_seq(), sent.len() as i64);
            for (who, up_to) in read.iter().enumerate() {
                prop_assert_eq!(state.read_up_to(people[who].id), *up_to);
                prop_assert!(*up_to <= state.last_seq(), "never read past the end");
            }
        }
    }
}
