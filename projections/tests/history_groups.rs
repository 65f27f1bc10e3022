//! The history projection fed a group's real events: members, roles and join points, system
//! entries in the timeline, derived unread counts, and that the model is the same whether the
//! events arrive one per batch (a live projector keeping up) or all in one batch (a rebuild).

use chrono::{DateTime, Utc};
use domain::{
    Aggregate, ClientId, Conversation, ConversationCommand, ConversationEvent, ConversationId,
    GroupTitle, Member, MessageBody, Role,
};
use eventstore::{load_checkpoint, EventStore, ExpectedVersion, NewEvent};
use projections::history::{queries, History};
use projections::Projection;
use std::time::Duration;
use testkit::TestDb;
use tokio_util::sync::CancellationToken;

fn at(second: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + second, 0).unwrap_or_default()
}

fn decide_all(commands: Vec<ConversationCommand>) -> anyhow::Result<Vec<ConversationEvent>> {
    let mut state = Conversation::default();
    let mut events = Vec::new();
    for command in commands {
        let decided = state.decide(&command)?;
        state = decided.iter().fold(state, |s, e| s.evolve(e));
        events.extend(decided);
    }
    Ok(events)
}

fn mute(member: &Member, muted: bool, second: i64) -> ConversationCommand {
    ConversationCommand::SetMuted {
        member: member.id,
        muted,
        at: at(second),
    }
}

fn send(sender: &Member, client: &str, second: i64) -> anyhow::Result<ConversationCommand> {
    Ok(ConversationCommand::Send {
        sender: sender.id,
        client_id: ClientId::parse(client)?,
        body: MessageBody::parse(&format!("{} says {client}", sender.username.as_str()))?,
        at: at(second),
    })
}

async fn dump(db: &TestDb) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    for query in [
        "SELECT row_to_json(t)::text FROM (SELECT * FROM history.conversations ORDER BY conversation_id) t",
        "SELECT row_to_json(t)::text FROM (SELECT * FROM history.members ORDER BY user_id, conversation_id) t",
        "SELECT row_to_json(t)::text FROM (SELECT * FROM history.messages ORDER BY conversation_id, seq) t",
        "SELECT row_to_json(t)::text FROM (SELECT * FROM history.departures ORDER BY user_id, conversation_id) t",
    ] {
        rows.extend(sqlx::query_scalar::<_, String>(query).fetch_all(&db.pool).await?);
    }
    Ok(rows)
}

#[tokio::test]
async fn a_groups_history_is_the_same_live_and_rebuilt_and_shows_each_member_their_part(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let store = EventStore::new(db.pool.clone());
    let [ann, ben, cat, dan] = ["ann", "ben", "cat", "dan"].map(Member::named);
    let id = ConversationId::new_group();
    let events = decide_all(vec![
        ConversationCommand::CreateGroup {
            id,
            title: GroupTitle::parse("Climbing")?,
            owner: ann.clone(),
            members: vec![ben.clone(), cat.clone()],
            max_members: 10,
            at: at(0),
        },
        send(&ann, "a1", 1)?,
        send(&ben, "b1", 2)?,
        ConversationCommand::Read {
            reader: cat.id,
            up_to: 1,
            at: at(3),
        },
        ConversationCommand::AddMember {
            actor: ann.id,
            member: dan.clone(),
            max_members: 10,
            at: at(4),
        },
        send(&dan, "d1", 5)?,
        ConversationCommand::Delete {
            actor: ann.id,
            message_id: id.message_id(ben.id, &ClientId::parse("b1")?),
            at: at(6),
        },
        ConversationCommand::ChangeRole {
            actor: ann.id,
            member: ben.id,
            role: Role::Admin,
            at: at(7),
        },
        ConversationCommand::RemoveMember {
            actor: ben.id,
            member: cat.id,
            at: at(8),
        },
        ConversationCommand::Rename {
            actor: ben.id,
            title: GroupTitle::parse("Bouldering")?,
            at: at(9),
        },
        // The owner leaves: Ben, the oldest admin, takes over.
        ConversationCommand::RemoveMember {
            actor: ann.id,
            member: ann.id,
            at: at(10),
        },
        send(&ben, "b2", 11)?,
        // Dan mutes it; Ben mutes it and changes his mind. Nobody else is told, no seq is taken.
        mute(&dan, true, 12),
        mute(&ben, true, 13),
        mute(&ben, false, 14),
    ])?;

    // Live: one append at a time, each applied by the projector before the next.
    let stop = CancellationToken::new();
    projections::ensure_schema::<History>(&db.pool).await?;
    let projector = tokio::spawn(projections::run(store.clone(), History, stop.clone()));
    for event in &events {
        let new = NewEvent::from_data(event.event_id(), event.event_type(), event)?;
        let appended = store
            .append(&id.stream_id(), ExpectedVersion::Any, &[new])
            .await?;
        let position = appended.last_position().unwrap_or_default();
        tokio::time::timeout(Duration::from_secs(10), async {
            while load_checkpoint(&db.pool, History::NAME).await? < position {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            anyhow::Ok(())
        })
        .await??;
    }
    stop.cancel();
    projector.await?;
    let live = dump(&db).await?;
    projections::rebuild(&store, &History).await?;
    assert_eq!(dump(&db).await?, live, "rebuilt in one batch");

    let entries: Vec<(i64, String, Option<String>)> =
        queries::history_page(&db.pool, id.as_uuid(), None, 0, 50)
            .await?
            .messages
            .into_iter()
            .map(|m| (m.seq, m.entry, m.body))
            .collect();
    let text = |s: &str| Some(s.to_owned());
    assert_eq!(
        entries,
        [
            (1, "message".into(), text("ann says a1")),
            (2, "message".into(), None),
            (3, "member_added".into(), None),
            (4, "message".into(), text("dan says d1")),
            (5, "role_changed".into(), None),
            (6, "member_removed".into(), None),
            (7, "renamed".into(), None),
            (8, "ownership_transferred".into(), None),
            (9, "member_left".into(), None),
            (10, "message".into(), text("ben says b2")),
        ]
    );
    let view = |member: &Member| {
        let pool = db.pool.clone();
        let user = member.id.as_uuid();
        async move { queries::conversation_for(&pool, user, id.as_uuid()).await }
    };
    let ben_view = view(&ben)
        .await?
        .ok_or_else(|| anyhow::anyhow!("ben's view"))?
        .conversation;
    assert_eq!(
        (
            ben_view.kind.as_str(),
            ben_view.title.as_deref(),
            ben_view.role.as_deref()
        ),
        ("group", Some("Bouldering"), Some("owner"))
    );
    assert_eq!((ben_view.member_count, ben_view.unread), (2, 0));
    assert!(!ben_view.muted, "unmuted again");
    let dan_view = view(&dan)
        .await?
        .ok_or_else(|| anyhow::anyhow!("dan's view"))?
        .conversation;
    // Dan wrote seq 4 (reading up to it); 5 to 10 came after.
    assert_eq!(
        (dan_view.joined_after, dan_view.read_up_to, dan_view.unread),
        (2, 4, 6)
    );
    assert!(dan_view.muted);
    assert!(view(&cat).await?.is_none(), "a removed member has no view");
    assert!(view(&ann).await?.is_none(), "nor one who left");
    assert_eq!(
        queries::conversations_of(&db.pool, cat.id).await?,
        [],
        "Cat is no longer in the group"
    );
    // But a socket of Cat's resuming from before the removal replays it (up to the removal).
    assert_eq!(queries::departed_since(&db.pool, cat.id, 0).await?, [id]);
    let removal: i64 = sqlx::query_scalar(
        "SELECT position FROM history.messages WHERE conversation_id = $1 AND seq = 6",
    )
    .bind(id.as_uuid())
    .fetch_one(&db.pool)
    .await?;
    assert_eq!(
        queries::departed_since(&db.pool, cat.id, removal - 1).await?,
        [id]
    );
    assert_eq!(
        queries::departed_since(&db.pool, cat.id, removal).await?,
        [],
        "a cursor past the removal"
    );
    assert_eq!(queries::departed_since(&db.pool, ben.id, 0).await?, []);
    // Presence: Ben and Dan are the group's two members now; none above the size bound.
    assert_eq!(queries::peers_of(&db.pool, ben.id, 2).await?, [dan.id]);
    assert_eq!(queries::peers_of(&db.pool, ben.id, 1).await?, []);
    assert_eq!(queries::peers_of(&db.pool, cat.id, 100).await?, []);
    Ok(())
}
