//! The event store against the real Postgres, each test in a database of its own.

mod common;

use common::event;
use eventstore::{
    append_in_tx, load_checkpoint, save_checkpoint, Error, EventStore, ExpectedVersion, Metadata,
    NewEvent, SubscriptionOptions,
};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;
use testkit::TestDb;
use uuid::Uuid;

async fn store() -> anyhow::Result<(TestDb, EventStore)> {
    let db = TestDb::create().await?;
    let store = EventStore::new(db.pool.clone());
    Ok((db, store))
}

#[tokio::test]
async fn appended_events_read_back_with_versions_positions_and_metadata() -> anyhow::Result<()> {
    let (_db, store) = store().await?;
    let correlation = Uuid::new_v4();
    let first = event("Opened", 1).with_metadata(Metadata {
        correlation_id: Some(correlation),
        causation_id: None,
        actor: Some("user:alice".into()),
    });
    let result = store
        .append(
            "s-1",
            ExpectedVersion::NoStream,
            &[first.clone(), event("Noted", 2)],
        )
        .await?;
    assert_eq!(result.stream_version, 2);
    assert_eq!(result.positions.len(), 2);
    assert!(result.positions[0] < result.positions[1]);
    store
        .append("s-2", ExpectedVersion::Any, &[event("Other", 3)])
        .await?;
    store
        .append("s-1", ExpectedVersion::Exact(2), &[event("Noted", 4)])
        .await?;

    let stream = store.read_whole_stream("s-1").await?;
    let versions: Vec<i64> = stream.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(stream[0].event_id, first.event_id);
    assert_eq!(stream[0].event_type, "Opened");
    assert_eq!(stream[0].data, json!({"n": 1}));
    assert_eq!(stream[0].metadata.correlation_id, Some(correlation));
    assert_eq!(stream[0].metadata.actor.as_deref(), Some("user:alice"));

    let tail = store.read_stream("s-1", 2, 10).await?;
    assert_eq!(tail.len(), 2);
    assert_eq!(tail[0].stream_version, 2);

    let all = store.read_all(0, 100).await?;
    let ns: Vec<i64> = all
        .iter()
        .map(|e| e.data["n"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(ns, [1, 2, 3, 4]);
    let page = store.read_all(all[1].position, 1).await?;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].position, all[2].position);
    assert_eq!(store.stream_version("s-1").await?, 3);
    assert_eq!(store.stream_version("missing").await?, 0);
    Ok(())
}

#[tokio::test]
async fn the_raw_read_of_the_log_decodes_to_the_same_events_as_the_whole_read() -> anyhow::Result<()>
{
    let (_db, store) = store().await?;
    let awkward = NewEvent {
        data: json!({"n": 7, "text": "tab\t, line\n, \\, \"quoted\", caf\u{e9} \u{1f389}", "nested": {"a": [1, 2.5, null]}}),
        ..event("Noted", 7)
    };
    store
        .append(
            "s-1",
            ExpectedVersion::NoStream,
            &[event("Opened", 1), awkward],
        )
        .await?;
    store
        .append("s-2", ExpectedVersion::Any, &[event("Other", 3)])
        .await?;

    let whole = store.read_all(0, 100).await?;
    let raw = store.read_all_raw(0, 100).await?;
    assert_eq!(raw.len(), 3);
    for (w, r) in whole.iter().zip(&raw) {
        assert_eq!(
            (w.position, &w.stream_id, &w.event_type, w.recorded_at),
            (r.position, &r.stream_id, &r.event_type, r.recorded_at)
        );
        assert_eq!(r.decode::<serde_json::Value>()?, w.data);
    }
    // Pages like `read_all`: after a position, at most `limit`.
    let page = store.read_all_raw(raw[0].position, 1).await?;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].position, raw[1].position);
    // A payload that does not fit the type names its position.
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Wrong {
        missing: String,
    }
    let error = raw[1].decode::<Wrong>().err();
    assert!(
        matches!(error, Some(Error::Decode { position, .. }) if position == raw[1].position),
        "{error:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_expected_version_names_the_actual_version() -> anyhow::Result<()> {
    let (_db, store) = store().await?;
    store
        .append(
            "s",
            ExpectedVersion::NoStream,
            &[event("A", 1), event("B", 2)],
        )
        .await?;

    let err = store
        .append("s", ExpectedVersion::Exact(1), &[event("C", 3)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::WrongExpectedVersion { actual: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("version 2"), "{err}");

    let err = store
        .append("s", ExpectedVersion::NoStream, &[event("C", 3)])
        .await
        .unwrap_err();
    assert!(err.is_conflict());

    let err = store
        .append("new", ExpectedVersion::Exact(1), &[event("C", 3)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongExpectedVersion { actual: 0, .. }));
    assert_eq!(store.read_all(0, 100).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn concurrent_appends_with_the_same_expected_version_let_exactly_one_win(
) -> anyhow::Result<()> {
    let (_db, store) = store().await?;
    store
        .append("race", ExpectedVersion::NoStream, &[event("Start", 0)])
        .await?;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .append("race", ExpectedVersion::Exact(1), &[event("Try", n)])
                .await
        });
    }
    let mut wins = 0;
    let mut conflicts = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome? {
            Ok(result) => {
                wins += 1;
                assert_eq!(result.stream_version, 2);
            }
            Err(Error::WrongExpectedVersion { actual: 2, .. }) => conflicts += 1,
            Err(other) => anyhow::bail!("unexpected error {other:?}"),
        }
    }
    assert_eq!((wins, conflicts), (1, 15));
    assert_eq!(store.read_whole_stream("race").await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn writers_deciding_under_the_append_lock_all_win_each_seeing_the_others(
) -> anyhow::Result<()> {
    // The same race as above, from the same stale version, decided under the lock: nobody loses,
    // and each decides on every event that landed after the version it knew.
    let (_db, store) = store().await?;
    store
        .append("race", ExpectedVersion::NoStream, &[event("Start", 0)])
        .await?;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .append_deciding("race", 1, |newer| {
                    let seen: Vec<i64> = newer.iter().map(|e| e.stream_version).collect();
                    (vec![event("Try", n)], seen)
                })
                .await
        });
    }
    let mut versions = HashSet::new();
    while let Some(outcome) = tasks.join_next().await {
        let (appended, seen) = outcome??;
        let appended = appended.ok_or_else(|| anyhow::anyhow!("nothing appended"))?;
        // It saw exactly the versions between what it knew and what it wrote.
        assert_eq!(
            seen,
            (2..appended.stream_version).collect::<Vec<i64>>(),
            "writer {}",
            appended.stream_version
        );
        versions.insert(appended.stream_version);
    }
    assert_eq!(versions, (2..=17).collect::<HashSet<i64>>());
    // Deciding nothing writes nothing.
    let (appended, ()) = store.append_deciding("race", 17, |_| (vec![], ())).await?;
    assert!(appended.is_none());
    assert_eq!(store.stream_version("race").await?, 17);
    Ok(())
}

#[tokio::test]
async fn a_replayed_batch_is_stored_once_and_returns_the_original_result() -> anyhow::Result<()> {
    let (_db, store) = store().await?;
    let batch = [event("A", 1), event("B", 2)];
    let first = store
        .append("idem", ExpectedVersion::NoStream, &batch)
        .await?;
    assert!(first.appended);
    // The reply was lost and the client retries with the same expected version and ids.
    let again = store
        .append("idem", ExpectedVersion::NoStream, &batch)
        .await?;
    assert!(!again.appended);
    assert_eq!(again.positions, first.positions);
    assert_eq!(again.stream_version, first.stream_version);
    assert_eq!(store.read_all(0, 100).await?.len(), 2);

    // Reusing one stored id inside a different batch is refused, and nothing is stored.
    let mixed = [batch[0].clone(), event("C", 3)];
    let err = store
        .append("idem", ExpectedVersion::Any, &mixed)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::IdempotencyConflict { event_id } if event_id == batch[0].event_id)
    );
    let dup = event("D", 4);
    let err = store
        .append("idem", ExpectedVersion::Any, &[dup.clone(), dup])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateEventInBatch { .. }));
    assert_eq!(store.read_all(0, 100).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn stored_events_cannot_be_updated_deleted_or_truncated() -> anyhow::Result<()> {
    let (db, store) = store().await?;
    store
        .append("s", ExpectedVersion::NoStream, &[event("A", 1)])
        .await?;
    for sql in [
        "UPDATE events SET data = '{}'::jsonb",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let err = sqlx::query(sql).execute(&db.pool).await.unwrap_err();
        assert!(err.to_string().contains("immutable"), "{sql}: {err}");
    }
    assert_eq!(store.read_all(0, 10).await?[0].data, json!({"n": 1}));
    Ok(())
}

#[tokio::test]
async fn two_streams_appended_in_one_transaction_commit_or_fail_together() -> anyhow::Result<()> {
    let (db, store) = store().await?;
    store
        .append("taken", ExpectedVersion::NoStream, &[event("Reserved", 0)])
        .await?;

    let mut tx = db.pool.begin().await?;
    append_in_tx(
        &mut tx,
        "owner",
        ExpectedVersion::NoStream,
        &[event("Owner", 1)],
    )
    .await?;
    let err = append_in_tx(
        &mut tx,
        "taken",
        ExpectedVersion::NoStream,
        &[event("Reserved", 2)],
    )
    .await
    .unwrap_err();
    assert!(err.is_conflict());
    tx.rollback().await?;

    assert_eq!(store.stream_version("owner").await?, 0);
    assert_eq!(store.read_all(0, 10).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_checkpoint_commits_only_with_its_transaction() -> anyhow::Result<()> {
    let (db, _store) = store().await?;
    assert_eq!(load_checkpoint(&db.pool, "history").await?, 0);

    let mut tx = db.pool.begin().await?;
    save_checkpoint(&mut tx, "history", 42).await?;
    tx.rollback().await?;
    assert_eq!(load_checkpoint(&db.pool, "history").await?, 0);

    let mut tx = db.pool.begin().await?;
    save_checkpoint(&mut tx, "history", 42).await?;
    tx.commit().await?;
    let mut conn = db.pool.acquire().await?;
    save_checkpoint(&mut conn, "history", 43).await?;
    assert_eq!(load_checkpoint(&db.pool, "history").await?, 43);
    assert_eq!(load_checkpoint(&db.pool, "other").await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_subscription_catches_up_then_follows_live_appends() -> anyhow::Result<()> {
    let (_db, store) = store().await?;
    for n in 0..5 {
        store
            .append("s", ExpectedVersion::Any, &[event("E", n)])
            .await?;
    }
    let options = SubscriptionOptions {
        batch_size: 2,
        // Long enough that the live event below can only arrive through NOTIFY in time.
        idle_poll: Duration::from_secs(30),
    };
    let mut sub = store.subscribe(0, options).await?;
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let batch = sub.next_batch().await?;
        assert!(batch.len() <= 2);
        seen.extend(
            batch
                .into_iter()
                .map(|e| e.data["n"].as_i64().unwrap_or(-1)),
        );
    }
    assert_eq!(seen, [0, 1, 2, 3, 4]);

    let writer = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer
            .append("s", ExpectedVersion::Any, &[event("E", 5)])
            .await
    });
    let live = tokio::time::timeout(Duration::from_secs(5), sub.next_batch()).await??;
    assert_eq!(live[0].data["n"], 5);
    assert_eq!(sub.position(), live[0].position);
    Ok(())
}

/// A small deterministic generator, so each writer sleeps a different, reproducible pattern.
struct Jitter(u64);

impl Jitter {
    fn next_micros(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % max
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_gets_every_event_of_concurrent_slow_writers_once_in_order(
) -> anyhow::Result<()> {
    const WRITERS: u64 = 8;
    const PER_WRITER: usize = 2_000;
    let (db, store) = store().await?;

    let reader_store = store.clone();
    let reader = tokio::spawn(async move {
        let mut sub = reader_store
            .subscribe(
                0,
                SubscriptionOptions {
                    batch_size: 300,
                    idle_poll: Duration::from_millis(200),
                },
            )
            .await?;
        let mut received = Vec::with_capacity(WRITERS as usize * PER_WRITER);
        while received.len() < WRITERS as usize * PER_WRITER {
            let batch = tokio::time::timeout(Duration::from_secs(60), sub.next_batch()).await??;
            received.extend(batch.into_iter().map(|e| (e.position, e.event_id)));
        }
        anyhow::Ok(received)
    });

    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let pool = db.pool.clone();
        writers.spawn(async move {
            let mut jitter = Jitter(0x9E37_79B9_7F4A_7C15 ^ (w + 1));
            let mut ids = Vec::with_capacity(PER_WRITER);
            let mut written = 0;
            while written < PER_WRITER {
                let size = (1 + jitter.next_micros(4) as usize).min(PER_WRITER - written);
                let batch: Vec<NewEvent> = (0..size)
                    .map(|i| event("Tick", (written + i) as i64))
                    .collect();
                let mut tx = pool.begin().await?;
                // Sleep inside the transaction before and after appending, so commits interleave
                // with other writers' appends in every possible way.
                tokio::time::sleep(Duration::from_micros(jitter.next_micros(400))).await;
                append_in_tx(
                    &mut tx,
                    &format!("writer-{w}"),
                    ExpectedVersion::Any,
                    &batch,
                )
                .await?;
                tokio::time::sleep(Duration::from_micros(jitter.next_micros(200))).await;
                if jitter.next_micros(50) == 0 {
                    // A rolled-back append leaves a gap in positions that readers must step over.
                    tx.rollback().await?;
                    continue;
                }
                tx.commit().await?;
                ids.extend(batch.iter().map(|e| e.event_id));
                written += size;
            }
            anyhow::Ok(ids)
        });
    }
    let mut written = HashSet::new();
    while let Some(ids) = writers.join_next().await {
        written.extend(ids??);
    }
    assert_eq!(written.len(), WRITERS as usize * PER_WRITER);

    let received = reader.await??;
    assert_eq!(received.len(), written.len(), "every event exactly once");
    assert!(
        received.windows(2).all(|w| w[0].0 < w[1].0),
        "events arrive in strictly increasing position order"
    );
    let received_ids: HashSet<Uuid> = received.iter().map(|(_, id)| *id).collect();
    assert_eq!(received_ids, written);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscriptions_of_one_process_share_one_reader_and_each_gets_every_event_once_in_order(
) -> anyhow::Result<()> {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 500;
    let (db, store) = store().await?;
    for n in 0..50 {
        store
            .append("early", ExpectedVersion::Any, &[event("E", n)])
            .await?;
    }
    let head = store.head_position().await?;
    let options = SubscriptionOptions {
        batch_size: 64,
        // Long: live events must come through the shared reader, not each one's own poll.
        idle_poll: Duration::from_secs(30),
    };
    // The first subscription starts the process's reader at the head; the one from 0 is behind
    // it and reads the log on its own until it gets there.
    let mut followers = vec![
        (store.subscribe(head, options.clone()).await?, 0),
        (store.subscribe(0, options.clone()).await?, 50),
        (store.subscribe(head, options).await?, 0),
    ];
    let listeners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&db.pool)
    .await?;
    assert_eq!(
        listeners, 1,
        "one listener for the process, not one per subscription"
    );

    let mut readers = tokio::task::JoinSet::new();
    for (n, (mut sub, earlier)) in followers.drain(..).enumerate() {
        readers.spawn(async move {
            let mut received = Vec::new();
            while received.len() < earlier + WRITERS * PER_WRITER {
                let batch =
                    tokio::time::timeout(Duration::from_secs(60), sub.next_batch()).await??;
                received.extend(batch.into_iter().map(|e| (e.position, e.event_id)));
            }
            anyhow::Ok((n, received))
        });
    }
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let pool = db.pool.clone();
        writers.spawn(async move {
            let mut jitter = Jitter(0x2545_F491_4F6C_DD1D ^ (w as u64 + 1));
            let mut ids = Vec::with_capacity(PER_WRITER);
            while ids.len() < PER_WRITER {
                let size = (1 + jitter.next_micros(3) as usize).min(PER_WRITER - ids.len());
                let batch: Vec<NewEvent> = (0..size).map(|i| event("Tick", i as i64)).collect();
                let mut tx = pool.begin().await?;
                append_in_tx(&mut tx, &format!("w-{w}"), ExpectedVersion::Any, &batch).await?;
                tokio::time::sleep(Duration::from_micros(jitter.next_micros(300))).await;
                tx.commit().await?;
                ids.extend(batch.iter().map(|e| e.event_id));
            }
            anyhow::Ok(ids)
        });
    }
    let mut written = HashSet::new();
    while let Some(ids) = writers.join_next().await {
        written.extend(ids??);
    }
    while let Some(done) = readers.join_next().await {
        let (n, received) = done??;
        assert!(
            received.windows(2).all(|w| w[0].0 < w[1].0),
            "subscription {n}: strictly increasing positions"
        );
        let live: HashSet<Uuid> = received
            .iter()
            .filter(|(position, _)| *position > head)
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(
            live, written,
            "subscription {n}: every live event exactly once"
        );
        assert_eq!(received.len(), if n == 1 { 50 } else { 0 } + written.len());
    }
    Ok(())
}
