//! The history projection fed lists of real events: what the read model then tells people (unread
//! counts, read receipts, edits, deletions, pages, who is in which conversation), and that it is
//! the same whether events arrive one per batch (a live projector keeping up) or all in one batch
//! (a rebuild), with sends, edits, deletions and receipts interleaved inside the batch.

use chrono::{DateTime, Utc};
use domain::{
    Aggregate, ClientId, Conversation, ConversationCommand, ConversationEvent, ConversationId,
    Member, MessageBody, UserId,
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

/// Decides `commands` in order on a fresh conversation and returns its events.
fn conversation(commands: Vec<ConversationCommand>) -> anyhow::Result<Vec<ConversationEvent>> {
    let mut state = Conversation::default();
    let mut events = Vec::new();
    for command in commands {
        let decided = state.decide(&command)?;
        state = decided.iter().fold(state, |s, e| s.evolve(e));
        events.extend(decided);
    }
    Ok(events)
}

fn send(
    sender: &Member,
    client: &str,
    body: &str,
    second: i64,
) -> anyhow::Result<ConversationCommand> {
    Ok(ConversationCommand::Send {
        sender: sender.id,
        client_id: ClientId::parse(client)?,
        body: MessageBody::parse(body)?,
        at: at(second),
    })
}

async fn dump(db: &TestDb) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    for query in [
        "SELECT row_to_json(t)::text FROM (SELECT * FROM history.conversations ORDER BY conversation_id) t",
        "SELECT row_to_json(t)::text FROM (SELECT * FROM history.members ORDER BY user_id, conversation_id) t",
        "SELECT row_to_json(t)::text FROM (SELECT * FROM history.messages ORDER BY conversation_id, seq) t",
    ] {
        rows.extend(sqlx::query_scalar::<_, String>(query).fetch_all(&db.pool).await?);
    }
    Ok(rows)
}

#[tokio::test]
async fn one_event_per_batch_and_all_in_one_batch_build_the_same_history() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let store = EventStore::new(db.pool.clone());
    let (ann, ben, cat) = (
        Member::named("ann"),
        Member::named("ben"),
        Member::named("cat"),
    );
    let pair = ConversationId::for_pair(ann.id, ben.id);
    let other = ConversationId::for_pair(ann.id, cat.id);
    let start = |id, a: &Member, b: &Member| ConversationCommand::Start {
        id,
        members: [a.clone(), b.clone()],
    };
    let mut commands = vec![start(pair, &ann, &ben)];
    for n in 0..6 {
        let from = if n % 2 == 0 { &ann } else { &ben };
        commands.push(send(from, &format!("m{n}"), &format!("message {n}"), n)?);
    }
    let first = pair.message_id(ann.id, &ClientId::parse("m0")?);
    let third = pair.message_id(ann.id, &ClientId::parse("m2")?);
    commands.extend([
        ConversationCommand::Edit {
            editor: ann.id,
            message_id: third,
            body: MessageBody::parse("message 2, edited")?,
            at: at(10),
        },
        ConversationCommand::Delete {
            actor: ann.id,
            message_id: first,
            at: at(11),
        },
        ConversationCommand::Read {
            reader: ben.id,
            up_to: 4,
            at: at(12),
        },
        send(&ann, "m6", "after the receipt", 13)?,
        send(&ann, "m7", "and one more", 14)?,
    ]);
    let pair_events = conversation(commands)?;
    let other_events = conversation(vec![
        start(other, &cat, &ann),
        send(&cat, "c0", "hello ann", 20)?,
    ])?;

    // Live: one append at a time, each applied by the projector before the next.
    let stop = CancellationToken::new();
    projections::ensure_schema::<History>(&db.pool).await?;
    let projector = tokio::spawn(projections::run(store.clone(), History, stop.clone()));
    let streams = [(pair, pair_events), (other, other_events)];
    for (id, events) in &streams {
        for event in events {
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
    }
    stop.cancel();
    projector.await?;
    let live = dump(&db).await?;

    // Rebuilt: every event in one batch.
    projections::rebuild(&store, &History).await?;
    assert_eq!(dump(&db).await?, live);

    // And what that history says.
    let page = queries::history_page(&db.pool, pair.as_uuid(), None, 0, 50).await?;
    let bodies: Vec<Option<&str>> = page.messages.iter().map(|m| m.body.as_deref()).collect();
    assert_eq!(
        bodies,
        [
            None,
            Some("message 1"),
            Some("message 2, edited"),
            Some("message 3"),
            Some("message 4"),
            Some("message 5"),
            Some("after the receipt"),
            Some("and one more"),
        ]
    );
    let for_ben = queries::conversation_for(&db.pool, ben.id.as_uuid(), pair.as_uuid())
        .await?
        .ok_or_else(|| anyhow::anyhow!("ben's conversation is missing"))?;
    // Ben read up to seq 4; ann's messages after it are seqs 5, 7 and 8 (6 is ben's own).
    assert_eq!(for_ben.conversation.unread, 3);
    assert_eq!(for_ben.conversation.last_seq, 8);
    assert_eq!(for_ben.conversation.peer_username.as_deref(), Some("ann"));
    let list = queries::list_conversations(&db.pool, ann.id.as_uuid(), 10).await?;
    let order: Vec<_> = list
        .iter()
        .map(|c| c.conversation.conversation_id)
        .collect();
    assert_eq!(
        order,
        [other.as_uuid(), pair.as_uuid()],
        "most recent first"
    );
    assert_eq!(list[0].conversation.unread, 1);
    Ok(())
}

/// Appends each conversation's events to its stream, then projects the whole log in one batch.
async fn project(
    db: &TestDb,
    streams: &[(ConversationId, Vec<ConversationEvent>)],
) -> anyhow::Result<()> {
    let store = EventStore::new(db.pool.clone());
    projections::ensure_schema::<History>(&db.pool).await?;
    for (id, events) in streams {
        let new = events
            .iter()
            .map(|event| NewEvent::from_data(event.event_id(), event.event_type(), event))
            .collect::<Result<Vec<_>, _>>()?;
        store
            .append(&id.stream_id(), ExpectedVersion::Any, &new)
            .await?;
    }
    projections::rebuild(&store, &History).await?;
    Ok(())
}

fn start(id: ConversationId, a: &Member, b: &Member) -> ConversationCommand {
    ConversationCommand::Start {
        id,
        members: [a.clone(), b.clone()],
    }
}

#[tokio::test]
async fn a_users_conversations_and_peers_are_those_they_are_in() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let (ann, ben, cat, dan) = (
        Member::named("ann"),
        Member::named("ben"),
        Member::named("cat"),
        Member::named("dan"),
    );
    let with_ben = ConversationId::for_pair(ann.id, ben.id);
    let with_cat = ConversationId::for_pair(cat.id, ann.id);
    let without_ann = ConversationId::for_pair(ben.id, dan.id);
    project(
        &db,
        &[
            (with_ben, conversation(vec![start(with_ben, &ann, &ben)])?),
            (with_cat, conversation(vec![start(with_cat, &cat, &ann)])?),
            (
                without_ann,
                conversation(vec![start(without_ann, &ben, &dan)])?,
            ),
        ],
    )
    .await?;

    let mut conversations = queries::conversations_of(&db.pool, ann.id).await?;
    conversations.sort();
    let mut expected = vec![with_ben, with_cat];
    expected.sort();
    assert_eq!(conversations, expected);
    let mut peers = queries::peers_of(&db.pool, ann.id, 100).await?;
    peers.sort();
    let mut expected = vec![ben.id, cat.id];
    expected.sort();
    assert_eq!(peers, expected);
    assert_eq!(queries::peers_of(&db.pool, dan.id, 100).await?, [ben.id]);
    assert!(queries::conversations_of(&db.pool, UserId::new())
        .await?
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn a_replayed_message_keeps_its_text_and_times_exactly() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let (id, ann, ben) = ann_and_ben()?;
    let body = "tab\there, a line\nbreak, a \\backslash, \"quotes\", <b>markup</b>, caf\u{e9}, \u{65e5}\u{672c} \u{1f389}";
    // Microseconds, and a time before 2000 (Postgres counts binary timestamps from 2000-01-01).
    let sent_at = at(3) + chrono::Duration::microseconds(123_456);
    let before_2000 = DateTime::from_timestamp(915_148_800, 999_000).unwrap_or_default();
    let send_at = |sender: &Member, client: &str, body: &str, at| -> anyhow::Result<_> {
        Ok(ConversationCommand::Send {
            sender: sender.id,
            client_id: ClientId::parse(client)?,
            body: MessageBody::parse(body)?,
            at,
        })
    };
    project(
        &db,
        &[(
            id,
            conversation(vec![
                start(id, &ann, &ben),
                send_at(&ben, "c\\1 \u{e9}", "the oldest", before_2000)?,
                send_at(&ann, "c2", body, sent_at)?,
            ])?,
        )],
    )
    .await?;

    let page = queries::history_page(&db.pool, id.as_uuid(), None, 0, 10).await?;
    let got: Vec<_> = page
        .messages
        .iter()
        .map(|m| {
            (
                m.body.as_deref(),
                m.client_id.as_str(),
                m.sent_at,
                m.sender_username.as_str(),
                m.sender_display_name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Some("the oldest"),
                "c\\1 \u{e9}",
                before_2000,
                ben.username.as_str(),
                ben.display_name.as_str()
            ),
            (
                Some(body),
                "c2",
                sent_at,
                ann.username.as_str(),
                ann.display_name.as_str()
            ),
        ]
    );
    let log = EventStore::new(db.pool.clone()).read_all(0, 10).await?;
    let positions: Vec<i64> = page.messages.iter().map(|m| m.position).collect();
    assert_eq!(positions, [log[1].position, log[2].position]);
    Ok(())
}

/// Ann and Ben's conversation: its id, and the two of them.
fn ann_and_ben() -> anyhow::Result<(ConversationId, Member, Member)> {
    let (ann, ben) = (Member::named("ann"), Member::named("ben"));
    Ok((ConversationId::for_pair(ann.id, ben.id), ann, ben))
}

async fn seen_by(
    db: &TestDb,
    user: &Member,
    id: ConversationId,
) -> anyhow::Result<queries::ConversationSummary> {
    queries::conversation_for(&db.pool, user.id.as_uuid(), id.as_uuid())
        .await?
        .ok_or_else(|| anyhow::anyhow!("{} does not see the conversation", user.username))
}

#[tokio::test]
async fn unread_counts_only_the_peers_unread_and_undeleted_messages() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let (id, ann, ben) = ann_and_ben()?;
    let events = conversation(vec![
        start(id, &ann, &ben),
        send(&ann, "a1", "one", 1)?,
        send(&ann, "a2", "two", 2)?,
        send(&ben, "b1", "mine", 3)?,
        send(&ann, "a3", "three", 4)?,
        send(&ann, "a4", "four", 5)?,
        ConversationCommand::Read {
            reader: ben.id,
            up_to: 2,
            at: at(6),
        },
        ConversationCommand::Delete {
            actor: ann.id,
            message_id: id.message_id(ann.id, &ClientId::parse("a3")?),
            at: at(7),
        },
    ])?;
    let (sent, rest) = events.split_at(6);

    project(&db, &[(id, sent.to_vec())]).await?;
    // Ben's own message is not unread for him; Ann has read nothing of Ben's yet.
    assert_eq!(seen_by(&db, &ben, id).await?.conversation.unread, 4);
    assert_eq!(seen_by(&db, &ann, id).await?.conversation.unread, 1);

    project(&db, &[(id, rest.to_vec())]).await?;
    let ben_sees = seen_by(&db, &ben, id).await?.conversation;
    // Read up to seq 2, and seq 4 was deleted: only seq 5 is left unread.
    assert_eq!((ben_sees.unread, ben_sees.read_up_to), (1, 2));
    let ann_sees = seen_by(&db, &ann, id).await?.conversation;
    assert_eq!(ann_sees.peer_read_up_to, 2, "Ann sees Ben's read receipt");
    assert_eq!(ann_sees.unread, 1);
    Ok(())
}

#[tokio::test]
async fn edits_and_deletions_show_in_the_messages_and_the_conversation_list() -> anyhow::Result<()>
{
    let db = TestDb::create().await?;
    let (id, ann, ben) = ann_and_ben()?;
    let last = id.message_id(ann.id, &ClientId::parse("m2")?);
    let events = conversation(vec![
        start(id, &ann, &ben),
        send(&ann, "m1", "first", 1)?,
        send(&ann, "m2", "second", 2)?,
        ConversationCommand::Edit {
            editor: ann.id,
            message_id: last,
            body: MessageBody::parse("second, better")?,
            at: at(3),
        },
        ConversationCommand::Delete {
            actor: ann.id,
            message_id: last,
            at: at(4),
        },
    ])?;
    let (before_delete, delete) = events.split_at(4);

    project(&db, &[(id, before_delete.to_vec())]).await?;
    let edited = queries::message(&db.pool, last)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the edited message is missing"))?;
    assert_eq!(edited.body.as_deref(), Some("second, better"));
    assert_eq!(edited.edited_at, Some(at(3)));
    assert_eq!(edited.deleted_at, None);
    let list = queries::list_conversations(&db.pool, ben.id.as_uuid(), 10).await?;
    let shown = list[0]
        .last_message
        .as_ref()
        .and_then(|m| m.body.as_deref());
    assert_eq!(shown, Some("second, better"), "the list shows the edit");
    assert_eq!(
        list[0].conversation.unread, 2,
        "an edit is not a new message"
    );

    project(&db, &[(id, delete.to_vec())]).await?;
    let deleted = queries::message(&db.pool, last)
        .await?
        .ok_or_else(|| anyhow::anyhow!("a deleted message keeps its place"))?;
    assert_eq!((deleted.body, deleted.deleted_at), (None, Some(at(4))));
    let list = queries::list_conversations(&db.pool, ben.id.as_uuid(), 10).await?;
    let last_message = list[0]
        .last_message
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the list lost its last message"))?;
    assert_eq!((last_message.seq, last_message.body.as_deref()), (2, None));
    assert_eq!(list[0].conversation.unread, 1);
    let page = queries::history_page(&db.pool, id.as_uuid(), None, 0, 10).await?;
    let bodies: Vec<_> = page.messages.iter().map(|m| m.body.as_deref()).collect();
    assert_eq!(bodies, [Some("first"), None]);
    Ok(())
}

#[tokio::test]
async fn pages_go_back_from_the_newest_message_to_the_first() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let (id, ann, ben) = ann_and_ben()?;
    let mut commands = vec![start(id, &ann, &ben)];
    for n in 1..=5 {
        commands.push(send(&ann, &format!("m{n}"), &format!("message {n}"), n)?);
    }
    project(&db, &[(id, conversation(commands)?)]).await?;

    let mut before = None;
    let mut pages = Vec::new();
    loop {
        let page = queries::history_page(&db.pool, id.as_uuid(), before, 0, 2).await?;
        pages.push(page.messages.iter().map(|m| m.seq).collect::<Vec<_>>());
        match page.next_before {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, [vec![4, 5], vec![2, 3], vec![1]]);
    Ok(())
}

/// What a crash or a reader would notice of the live schema's make-up: each table's persistence
/// (`p` logged), each constraint and each index.
async fn make_up(db: &TestDb) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT 'table ' || relname || ' ' || relpersistence::text FROM pg_class
          WHERE relnamespace = 'history'::regnamespace AND relkind = 'r'
         UNION ALL
         SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
          WHERE connamespace = 'history'::regnamespace
         UNION ALL
         SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index
          WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'history'::regnamespace)
         ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await?)
}

#[tokio::test]
async fn a_rebuilt_history_is_logged_and_has_every_index_of_its_schema() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    projections::ensure_schema::<History>(&db.pool).await?;
    let created = make_up(&db).await?;
    assert!(
        created.iter().any(|m| m.contains("UNIQUE (message_id)")),
        "{created:?}"
    );
    let (pair, ann, ben) = ann_and_ben()?;
    let events = conversation(vec![
        start(pair, &ann, &ben),
        send(&ann, "c1", "hello", 1)?,
        send(&ben, "c2", "hi", 2)?,
    ])?;
    project(&db, &[(pair, events)]).await?;
    assert_eq!(make_up(&db).await?, created);
    let page = queries::history_page(&db.pool, pair.as_uuid(), None, 0, 10).await?;
    assert_eq!(page.messages.len(), 2);
    Ok(())
}
