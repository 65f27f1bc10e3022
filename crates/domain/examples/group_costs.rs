//! What a 1,000-member group costs the command path in memory and CPU: deciding and applying a
//! send, and copying and comparing the roster (what a command queue does with a group's
//! membership after each drained group of commands).
//!
//! `cargo run --release -p domain --features test-support --example group_costs`

use chrono::DateTime;
use domain::{
    Aggregate, ClientId, Conversation, ConversationCommand, ConversationId, GroupTitle, Member,
    MessageBody,
};
use std::time::Instant;

const MEMBERS: usize = 1_000;
const SENDS: usize = 20_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let id = ConversationId::new_group();
    let members: Vec<Member> = (0..MEMBERS)
        .map(|n| Member::named(&format!("m{n:04}")))
        .collect();
    let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let mut state = Conversation::default();
    let create = ConversationCommand::CreateGroup {
        id,
        title: GroupTitle::parse("Everyone")?,
        owner: members[0].clone(),
        members: members[1..].to_vec(),
        max_members: MEMBERS,
        at,
    };
    for event in state.decide(&create)? {
        state = state.evolve(&event);
    }

    let started = Instant::now();
    for n in 0..SENDS {
        let send = ConversationCommand::Send {
            sender: members[n % MEMBERS].id,
            client_id: ClientId::parse(&format!("c{n}"))?,
            body: MessageBody::parse("hello")?,
            at,
        };
        for event in state.decide(&send)? {
            state = state.evolve(&event);
        }
    }
    println!(
        "decide + evolve of a send: {:?}",
        started.elapsed() / SENDS as u32
    );

    let started = Instant::now();
    let copies: usize = (0..1_000)
        .map(|_| state.roster().clone().members().len())
        .sum();
    println!(
        "copy of the roster: {:?} ({copies} members in the copies)",
        started.elapsed() / 1_000
    );
    let copy = state.roster().clone();
    let started = Instant::now();
    let equal = (0..1_000).filter(|_| copy == *state.roster()).count();
    println!(
        "comparison with an unchanged copy: {:?} ({equal} equal)",
        started.elapsed() / 1_000
    );
    println!(
        "state after {SENDS} messages: {} bytes",
        state.approximate_size()
    );
    Ok(())
}
