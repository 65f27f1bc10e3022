//! The group-commit appender against the real Postgres: many requests per transaction, each
//! checked alone, every event exactly once and in order for a subscriber, durable once answered.

mod common;

use common::event;
use eventstore::{
    Appender, AppenderOptions, Error, EventStore, ExpectedVersion, Metadata, NewEvent,
    StreamAppend, SubscriptionOptions,
};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use testkit::{append_lock, TestDb};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn appender(db: &TestDb) -> (EventStore, Appender, CancellationToken) {
    let store = EventStore::new(db.pool.clone());
    let stop = CancellationToken::new();
    let (appender, _task) =
        Appender::start(store.clone(), AppenderOptions::default(), stop.clone());
    (store, appender, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_appenders_on_shared_and_separate_streams_reach_a_subscriber_once_in_order(
) -> anyhow::Result<()> {
    const WRITERS: usize = 64;
    const PER_WRITER: usize = 50;
    let db = TestDb::create().await?;
    // Two appenders on one database, as two API processes would run them.
    let (store, first, _stop1) = appender(&db).await;
    let (_, second, _stop2) = appender(&db).await;

    let reader_store = store.clone();
    let reader = tokio::spawn(async move {
        let mut sub = reader_store
            .subscribe(0, SubscriptionOptions::default())
            .await?;
        let mut received = Vec::new();
        while received.len() < WRITERS * PER_WRITER {
            let batch = tokio::time::timeout(Duration::from_secs(60), sub.next_batch()).await??;
            received.extend(batch);
        }
        anyhow::Ok(received)
    });

    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let appender = if w % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        writers.spawn(async move {
            let mut ids = Vec::with_capacity(PER_WRITER);
            let mut own_version = 0;
            for n in 0..PER_WRITER {
                let e = event("Tick", (w * PER_WRITER + n) as i64);
                ids.push(e.event_id);
                if w % 4 < 2 {
                    // Half the writers share one stream and append whatever it holds.
                    appender
                        .append("shared", ExpectedVersion::Any, vec![e])
                        .await?;
                } else {
                    // The others own a stream each and state its exact version.
                    let result = appender
                        .append(
                            &format!("own-{w}"),
                            ExpectedVersion::Exact(own_version),
                            vec![e],
                        )
                        .await?;
                    own_version = result.stream_version;
                }
            }
            anyhow::Ok(ids)
        });
    }
    let mut written = HashSet::new();
    while let Some(ids) = writers.join_next().await {
        written.extend(ids??);
    }
    assert_eq!(written.len(), WRITERS * PER_WRITER);

    let received = reader.await??;
    assert_eq!(received.len(), written.len(), "every event exactly once");
    assert!(
        received.windows(2).all(|w| w[0].position < w[1].position),
        "strictly increasing positions"
    );
    assert_eq!(
        received.iter().map(|e| e.event_id).collect::<HashSet<_>>(),
        written
    );
    // Each stream's versions are dense and follow the global order.
    let mut versions: HashMap<&str, i64> = HashMap::new();
    for e in &received {
        let v = versions.entry(e.stream_id.as_str()).or_insert(0);
        assert_eq!(
            e.stream_version,
            *v + 1,
            "dense versions in {}",
            e.stream_id
        );
        *v = e.stream_version;
    }
    assert_eq!(versions["shared"], (WRITERS / 2 * PER_WRITER) as i64);
    // Concurrent requests shared transactions: far fewer commits than appends.
    let transactions: i64 = sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM events")
        .fetch_one(&db.pool)
        .await?;
    assert!(
        (transactions as usize) < WRITERS * PER_WRITER,
        "{transactions} transactions for {} appends",
        WRITERS * PER_WRITER
    );
    Ok(())
}

/// Polls `future` once (so every request in it is queued, in order), signals, then finishes it.
async fn queued_then<F: Future>(future: F, queued: tokio::sync::oneshot::Sender<()>) -> F::Output {
    let mut future = pin!(future);
    let first = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
    let _ = queued.send(());
    match first {
        Poll::Ready(output) => output,
        Poll::Pending => future.await,
    }
}

#[tokio::test]
async fn in_one_batch_a_stale_or_invalid_request_fails_alone_and_the_rest_is_stored(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let (store, appender, _stop) = appender(&db).await;
    store
        .append("a", ExpectedVersion::NoStream, &[event("A", 0)])
        .await?;

    // Hold the append lock so the appender stalls on a first request while the others queue up.
    let blocker = append_lock::hold(&db.pool).await?;
    let stalled = {
        let appender = appender.clone();
        tokio::spawn(async move {
            appender
                .append("first", ExpectedVersion::NoStream, vec![event("F", 0)])
                .await
        })
    };
    append_lock::until_awaited(&db.pool).await?;

    let twin = vec![event("B", 1), event("B", 2)];
    let mut poisoned = event("P", 0);
    poisoned.data = json!({ "body": "nul \u{0} here" });
    let append = |stream: &'static str, expected: ExpectedVersion, events: Vec<NewEvent>| {
        let appender = appender.clone();
        async move { appender.append(stream, expected, events).await }
    };
    let requests = vec![
        append("a", ExpectedVersion::Exact(1), vec![event("A", 1)]),
        // Stale: "a" is at 1 before this batch and at 2 after the request above.
        append("a", ExpectedVersion::Exact(1), vec![event("A", 99)]),
        // Sees the version the first request of the batch left.
        append("a", ExpectedVersion::Exact(2), vec![event("A", 2)]),
        append("b", ExpectedVersion::NoStream, twin.clone()),
        append("c", ExpectedVersion::Any, vec![poisoned]),
        // A retry of the "b" request racing the original, in the same batch.
        append("b", ExpectedVersion::NoStream, twin.clone()),
        append("d", ExpectedVersion::Exact(3), vec![event("D", 0)]),
    ];
    let (queued, is_queued) = tokio::sync::oneshot::channel();
    let all = tokio::spawn(queued_then(
        futures_util::future::join_all(requests),
        queued,
    ));
    is_queued.await?;
    blocker.commit().await?;
    stalled.await??;
    let outcomes = all.await?;

    let ok = |i: usize| {
        outcomes[i]
            .as_ref()
            .map_err(|e| anyhow::anyhow!("request {i}: {e}"))
    };
    assert_eq!(ok(0)?.stream_version, 2);
    assert!(matches!(
        outcomes[1],
        Err(Error::WrongExpectedVersion { actual: 2, .. })
    ));
    assert_eq!(ok(2)?.stream_version, 3);
    assert!(ok(3)?.appended);
    assert!(matches!(outcomes[4], Err(Error::Invalid(_))));
    assert!(!ok(5)?.appended, "the retry stores nothing");
    assert_eq!(
        ok(5)?.positions,
        ok(3)?.positions,
        "and answers the original"
    );
    assert!(matches!(
        outcomes[6],
        Err(Error::WrongExpectedVersion { actual: 0, .. })
    ));

    let a: Vec<i64> = store
        .read_whole_stream("a")
        .await?
        .iter()
        .map(|e| e.data["n"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(a, [0, 1, 2]);
    assert_eq!(store.read_whole_stream("b").await?.len(), 2);
    assert_eq!(store.stream_version("c").await?, 0);
    assert_eq!(store.stream_version("d").await?, 0);
    // All accepted requests of the batch committed in one transaction.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT xmin::text) FROM events WHERE stream_id IN ('a', 'b') AND position > 1",
    )
    .fetch_one(&db.pool)
    .await?;
    assert_eq!(transactions, 1);
    Ok(())
}

/// The appender reads a batch's streams before it takes the lock. Another process appending to
/// one of them in between (here: a transaction holding the lock while the appender reads, and
/// committing once the appender waits for the lock) must not make the batch fail or land on a
/// stale version: it is planned again under the lock.
#[tokio::test]
async fn a_batch_read_before_another_process_appended_to_its_stream_is_planned_again(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let (store, appender, _stop) = appender(&db).await;
    store
        .append("s", ExpectedVersion::NoStream, &[event("S", 0)])
        .await?;

    let race = |expected: ExpectedVersion, n: i64, other: i64| {
        let appender = appender.clone();
        let db = &db;
        async move {
            let mut other_process = db.pool.begin().await?;
            eventstore::append_in_tx(
                &mut other_process,
                "s",
                ExpectedVersion::Any,
                &[event("S", other)],
            )
            .await?;
            let racing =
                tokio::spawn(
                    async move { appender.append("s", expected, vec![event("S", n)]).await },
                );
            append_lock::until_awaited(&db.pool).await?;
            other_process.commit().await?;
            anyhow::Ok(racing.await?)
        }
    };

    // Read at version 1, stored after the other process's event: at 3, not a failed batch.
    let any = race(ExpectedVersion::Any, 2, 1).await?;
    assert_eq!(any.map_err(|e| anyhow::anyhow!("{e}"))?.stream_version, 3);
    // Read at version 3 and expecting it, which was true when read but not when stored: refused
    // for the version the stream has, not for a database error.
    let exact = race(ExpectedVersion::Exact(3), 99, 3).await?;
    assert!(
        matches!(exact, Err(Error::WrongExpectedVersion { actual: 4, .. })),
        "{exact:?}"
    );

    let s: Vec<i64> = store
        .read_whole_stream("s")
        .await?
        .iter()
        .map(|e| e.data["n"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(s, [0, 1, 2, 3]);
    assert_eq!(store.stream_version("s").await?, 4);
    Ok(())
}

#[tokio::test]
async fn several_streams_in_one_request_commit_or_fail_together() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let (store, appender, _stop) = appender(&db).await;
    store
        .append("taken", ExpectedVersion::NoStream, &[event("Reserved", 0)])
        .await?;
    let err = appender
        .append_streams(vec![
            StreamAppend::new("owner", ExpectedVersion::NoStream, vec![event("Owner", 1)]),
            StreamAppend::new(
                "taken",
                ExpectedVersion::NoStream,
                vec![event("Reserved", 2)],
            ),
        ])
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    assert_eq!(store.stream_version("owner").await?, 0);
    let results = appender
        .append_streams(vec![
            StreamAppend::new("owner", ExpectedVersion::NoStream, vec![event("Owner", 1)]),
            StreamAppend::new(
                "free",
                ExpectedVersion::NoStream,
                vec![event("Reserved", 2)],
            ),
        ])
        .await?;
    assert_eq!(results.len(), 2);
    assert!(results[0].positions[0] < results[1].positions[0]);
    Ok(())
}

#[tokio::test]
async fn a_stopped_appender_writes_what_it_accepted_and_refuses_the_rest() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let store = EventStore::new(db.pool.clone());
    let stop = CancellationToken::new();
    let (appender, task) = Appender::start(store.clone(), AppenderOptions::default(), stop.clone());
    let accepted = {
        let appender = appender.clone();
        async move {
            appender
                .append("s", ExpectedVersion::Any, vec![event("E", 1)])
                .await
        }
    };
    let (queued, is_queued) = tokio::sync::oneshot::channel();
    let accepted = tokio::spawn(queued_then(accepted, queued));
    is_queued.await?;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), task).await??;
    assert_eq!(accepted.await??.stream_version, 1);
    let refused = appender
        .append("s", ExpectedVersion::Any, vec![event("E", 2)])
        .await;
    assert!(matches!(refused, Err(Error::Stopped)));
    assert_eq!(store.stream_version("s").await?, 1);
    Ok(())
}

/// The environment variable that turns the test below into the writer process of the kill test.
const CHILD_DATABASE: &str = "GROUP_COMMIT_CHILD_DATABASE_URL";
/// Streams each request of the writer process appends to, atomically.
const PARTS: [&str; 2] = ["left", "right"];

fn request_events(request: u64) -> Vec<Vec<NewEvent>> {
    // Ids derived from the request number, so the parent knows every id the child may write.
    PARTS
        .iter()
        .enumerate()
        .map(|(p, _)| {
            (0..=p as u64)
                .map(|i| NewEvent {
                    event_id: Uuid::from_u64_pair(request + 1, (p as u64) << 8 | i),
                    event_type: "Part".into(),
                    schema_version: 1,
                    data: json!({ "request": request }),
                    metadata: Metadata::default(),
                })
                .collect()
        })
        .collect()
}

/// The writer process of `acknowledged_appends_survive_kill_9_mid_batch`; skipped on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by acknowledged_appends_survive_kill_9_mid_batch"]
async fn group_commit_writer_process() -> anyhow::Result<()> {
    let url = std::env::var(CHILD_DATABASE)?;
    let pool = eventstore::connect(&url, 10, std::time::Duration::from_secs(5)).await?;
    let store = EventStore::new(pool);
    let (appender, _task) =
        Appender::start(store, AppenderOptions::default(), CancellationToken::new());
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..32u64 {
        let appender = appender.clone();
        writers.spawn(async move {
            for n in 0.. {
                let request = w << 32 | n;
                let parts = PARTS
                    .iter()
                    .zip(request_events(request))
                    .map(|(stream, events)| {
                        StreamAppend::new(*stream, ExpectedVersion::Any, events)
                    })
                    .collect();
                if appender.append_streams(parts).await.is_ok() {
                    println!("acked {request}");
                }
            }
        });
    }
    while writers.join_next().await.is_some() {}
    Ok(())
}

#[tokio::test]
async fn acknowledged_appends_survive_kill_9_mid_batch() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "group_commit_writer_process",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DATABASE, &db.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (acked, mut enough) = (
        std::sync::Arc::new(std::sync::Mutex::new(Vec::new())),
        false,
    );
    let reader = {
        let acked = acked.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(request) = line
                    .strip_prefix("acked ")
                    .and_then(|r| r.parse::<u64>().ok())
                {
                    if let Ok(mut acked) = acked.lock() {
                        acked.push(request);
                    }
                }
            }
        })
    };
    for _ in 0..600 {
        if acked.lock().map(|a| a.len()).unwrap_or(0) >= 2_000 {
            enough = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // kill -9 while 32 writers keep batches in flight.
    child.kill()?;
    child.wait()?;
    let _ = reader.join();
    assert!(
        enough,
        "the writer process acknowledged too little before the deadline"
    );
    let acked: Vec<u64> = acked.lock().map(|a| a.clone()).unwrap_or_default();

    let stored: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT event_id, stream_id FROM events ORDER BY position")
            .fetch_all(&db.pool)
            .await?;
    let stored_ids: HashSet<Uuid> = stored.iter().map(|(id, _)| *id).collect();
    for request in &acked {
        for id in request_events(*request)
            .iter()
            .flatten()
            .map(|e| e.event_id)
        {
            assert!(
                stored_ids.contains(&id),
                "acknowledged request {request} lost"
            );
        }
    }
    // Every request is all or nothing, acknowledged or not.
    let mut by_request: HashMap<u64, usize> = HashMap::new();
    for (id, _) in &stored {
        *by_request.entry(id.as_u64_pair().0 - 1).or_default() += 1;
    }
    let whole = request_events(0).iter().map(Vec::len).sum::<usize>();
    for (request, count) in by_request {
        assert_eq!(count, whole, "request {request} partly stored");
    }
    // Versions stay dense.
    for stream in PARTS {
        let versions: Vec<i64> = sqlx::query_scalar(
            "SELECT stream_version FROM events WHERE stream_id = $1 ORDER BY position",
        )
        .bind(stream)
        .fetch_all(&db.pool)
        .await?;
        assert!(versions.iter().enumerate().all(|(i, v)| *v == i as i64 + 1));
    }
    Ok(())
}

#[tokio::test]
async fn while_the_database_is_unreachable_appends_fail_within_about_one_acquire_timeout(
) -> anyhow::Result<()> {
    // Nothing listens on port 1: every connection attempt is refused, as while Postgres is down.
    const TIMEOUT: Duration = Duration::from_millis(800);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(TIMEOUT)
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")?;
    let stop = CancellationToken::new();
    let (appender, _task) = Appender::start(
        EventStore::new(pool),
        AppenderOptions::default(),
        stop.clone(),
    );
    let _stop = stop.drop_guard();
    // Requests keep arriving during the outage, as clients retry: each would otherwise queue
    // behind the attempt in progress and then wait out one of its own.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..12 {
        let appender = appender.clone();
        tasks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(150) * n).await;
            let started = std::time::Instant::now();
            let outcome = appender
                .append("s", ExpectedVersion::Any, vec![event("Try", i64::from(n))])
                .await;
            (outcome, started.elapsed())
        });
    }
    let mut slowest = Duration::ZERO;
    while let Some(done) = tasks.join_next().await {
        let (outcome, took) = done?;
        match outcome {
            Err(error) => anyhow::ensure!(error.is_unavailable(), "unexpected error {error}"),
            Ok(_) => anyhow::bail!("an append succeeded without a database"),
        }
        slowest = slowest.max(took);
    }
    anyhow::ensure!(
        slowest < TIMEOUT + TIMEOUT / 2,
        "an append took {slowest:?} to fail (acquire timeout {TIMEOUT:?})"
    );
    Ok(())
}

#[tokio::test]
async fn while_the_database_is_unreachable_a_request_of_several_reads_and_an_append_fails_within_about_one_timeout(
) -> anyhow::Result<()> {
    // A send can read an account's stream, the conversation's version and then append: each
    // would wait out the acquire timeout on its own.
    const TIMEOUT: Duration = Duration::from_millis(800);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(TIMEOUT)
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")?;
    let store = EventStore::new(pool);
    let started = std::time::Instant::now();
    let read = store.read_whole_stream("user-1").await;
    let version = store.stream_version("conversation-1").await;
    let appended = store
        .append("conversation-1", ExpectedVersion::Any, &[event("Try", 1)])
        .await;
    let took = started.elapsed();
    for (what, error) in [
        ("read", read.err()),
        ("version", version.err()),
        ("append", appended.err()),
    ] {
        let error =
            error.ok_or_else(|| anyhow::anyhow!("the {what} succeeded without a database"))?;
        anyhow::ensure!(error.is_unavailable(), "the {what} failed with {error}");
    }
    anyhow::ensure!(
        took < TIMEOUT + TIMEOUT / 2,
        "the three operations took {took:?} to fail (acquire timeout {TIMEOUT:?})"
    );
    Ok(())
}
