//! What a big group costs the queries that run per presence change (`peers_of`) and per group
//! message for the notifier (`chats_of`): a measurement, not a check, so it is ignored by default.
//!
//! `scripts/test -p projections --test group_costs -- --ignored --nocapture`

use chrono::Utc;
use domain::{Aggregate, Conversation, ConversationCommand, ConversationId, GroupTitle, Member};
use eventstore::{EventStore, ExpectedVersion, NewEvent};
use projections::history::{queries, History};
use projections::telegram::{chats_of, TelegramLinks};
use std::time::{Duration, Instant};
use testkit::TestDb;

const MEMBERS: usize = 1_000;
const LINKED: usize = 100;
const RUNS: usize = 50;

/// The median of `RUNS` timings of `run`.
async fn median<F: std::future::Future<Output = anyhow::Result<usize>>>(
    mut run: impl FnMut() -> F,
) -> anyhow::Result<(Duration, usize)> {
    let mut times = Vec::with_capacity(RUNS);
    let mut rows = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        rows = run().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok((times[RUNS / 2], rows))
}

#[tokio::test]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn measure_the_queries_a_thousand_member_group_costs() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let store = EventStore::new(db.pool.clone());
    let members: Vec<Member> = (0..MEMBERS)
        .map(|n| Member::named(&format!("member{n}")))
        .collect();
    let id = ConversationId::new_group();
    let events = Conversation::default().decide(&ConversationCommand::CreateGroup {
        id,
        title: GroupTitle::parse("Everyone")?,
        owner: members[0].clone(),
        members: members[1..].to_vec(),
        max_members: MEMBERS,
        at: Utc::now(),
    })?;
    let new = events
        .iter()
        .map(|e| NewEvent::from_data(e.event_id(), e.event_type(), e))
        .collect::<Result<Vec<_>, _>>()?;
    store
        .append(&id.stream_id(), ExpectedVersion::NoStream, &new)
        .await?;
    projections::ensure_schema::<History>(&db.pool).await?;
    projections::ensure_schema::<TelegramLinks>(&db.pool).await?;
    projections::rebuild(&store, &History).await?;
    for (n, member) in members.iter().take(LINKED).enumerate() {
        sqlx::query(
            "INSERT INTO telegram.links (chat_id, user_id, linked_at) VALUES ($1, $2, now())",
        )
        .bind(n as i64 + 1)
        .bind(member.id.as_uuid())
        .execute(&db.pool)
        .await?;
    }
    let ids: Vec<uuid::Uuid> = members[1..].iter().map(|m| m.id.as_uuid()).collect();
    let me = members[0].id;

    let (all, peers) =
        median(|| async { Ok(queries::peers_of(&db.pool, me, MEMBERS as i64).await?.len()) })
            .await?;
    let (bounded, none) =
        median(|| async { Ok(queries::peers_of(&db.pool, me, 100).await?.len()) }).await?;
    let (chats, linked) = median(|| async { Ok(chats_of(&db.pool, &ids).await?.len()) }).await?;
    println!(
        "{MEMBERS}-member group, median of {RUNS}:\n\
         peers_of, group announced:   {all:?} ({peers} peers)\n\
         peers_of, over the bound:    {bounded:?} ({none} peers)\n\
         chats_of, {} recipients:    {chats:?} ({linked} linked)",
        ids.len()
    );
    assert_eq!((peers, none, linked), (MEMBERS - 1, 0, LINKED - 1));
    Ok(())
}
