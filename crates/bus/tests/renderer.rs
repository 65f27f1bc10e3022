//! Who receives a group's events: the members at each event's position, named the same by a
//! renderer that read the whole stream in order and by one that starts in the middle of it (a
//! publisher after a restart, a gateway replaying a backlog). A member's mute switch goes to that
//! member alone.

use bus::Renderer;
use chrono::Utc;
use domain::{
    Aggregate, ClientId, Conversation, ConversationCommand, ConversationEvent, ConversationId,
    GroupTitle, Member, MessageBody, UserId,
};
use eventstore::{EventStore, ExpectedVersion, NewEvent};
use testkit::TestDb;

fn send(sender: &Member, client: &str) -> anyhow::Result<ConversationCommand> {
    Ok(ConversationCommand::Send {
        sender: sender.id,
        client_id: ClientId::parse(client)?,
        body: MessageBody::parse("hello")?,
        at: Utc::now(),
    })
}

#[tokio::test]
async fn a_groups_events_go_to_its_members_at_their_position() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let store = EventStore::new(db.pool.clone());
    let [ann, ben, cat, dan] = ["ann", "ben", "cat", "dan"].map(Member::named);
    let id = ConversationId::new_group();
    let commands = vec![
        ConversationCommand::CreateGroup {
            id,
            title: GroupTitle::parse("Climbing")?,
            owner: ann.clone(),
            members: vec![ben.clone(), cat.clone()],
            max_members: 10,
            at: Utc::now(),
        },
        send(&ann, "a1")?,
        ConversationCommand::AddMember {
            actor: ann.id,
            member: dan.clone(),
            max_members: 10,
            at: Utc::now(),
        },
        send(&dan, "d1")?,
        ConversationCommand::SetMuted {
            member: ben.id,
            muted: true,
            at: Utc::now(),
        },
        ConversationCommand::RemoveMember {
            actor: ann.id,
            member: cat.id,
            at: Utc::now(),
        },
        send(&ben, "b1")?,
    ];
    let mut state = Conversation::default();
    for command in commands {
        let events = state.decide(&command)?;
        let new = events
            .iter()
            .map(|e| NewEvent::from_data(e.event_id(), e.event_type(), e))
            .collect::<Result<Vec<_>, _>>()?;
        store
            .append(&id.stream_id(), ExpectedVersion::Any, &new)
            .await?;
        state = events.iter().fold(state, |s, e| s.evolve(e));
    }
    let recorded = store.read_stream(&id.stream_id(), 1, 100).await?;
    let names = |to: &[UserId]| -> Vec<&str> {
        let mut names: Vec<&str> = [&ann, &ben, &cat, &dan]
            .into_iter()
            .filter(|m| to.contains(&m.id))
            .map(|m| m.username.as_str())
            .collect();
        names.sort_unstable();
        names
    };

    let mut from_the_start = Renderer::new(store.clone());
    let mut seen = Vec::new();
    for event in &recorded {
        let frame = from_the_start.render(event).await?;
        seen.push(frame.map(|f| (f.kind, names(&f.to).join(","))));
    }
    let expected = [
        ("conversation.started", "ann,ben,cat"),
        ("message.new", "ann,ben,cat"),
        // Dan gets his own "added" entry, and what follows.
        ("message.new", "ann,ben,cat,dan"),
        ("message.new", "ann,ben,cat,dan"),
        // A member's mute switch: theirs alone.
        ("conversation.muted", "ben"),
        // Cat gets her removal, and nothing after.
        ("message.new", "ann,ben,cat,dan"),
        ("message.new", "ann,ben,dan"),
    ];
    assert_eq!(
        seen,
        expected
            .iter()
            .map(|(kind, to)| Some((*kind, (*to).to_owned())))
            .collect::<Vec<_>>()
    );
    let decoded: Vec<ConversationEvent> = recorded
        .iter()
        .map(|e| e.decode())
        .collect::<Result<_, _>>()?;
    assert!(matches!(
        decoded[5],
        ConversationEvent::MemberRemoved { .. }
    ));

    // Starting in the middle, the roster is read from the stream: the same recipients.
    for start in 1..recorded.len() {
        let mut midway = Renderer::new(store.clone());
        for (n, event) in recorded.iter().enumerate().skip(start) {
            let frame = midway.render(event).await?;
            assert_eq!(
                frame.map(|f| (f.kind, names(&f.to).join(","))),
                seen[n],
                "starting at event {start}, event {n}"
            );
        }
    }
    Ok(())
}
