//! `projections rebuild`, `verify`, `list` and `replay` through the real binary, with the live
//! projector and a writer running beside them.

mod support;

use std::time::{Duration, Instant};
use support::{chatctl, command, expect_exit, stdout, Chat};
use tokio_util::sync::CancellationToken;

async fn history_checkpoint(pool: &sqlx::PgPool, name: &str) -> anyhow::Result<i64> {
    Ok(eventstore::load_checkpoint(pool, name).await?)
}

/// Waits until the live history projection has applied everything in the log.
async fn caught_up(store: &eventstore::EventStore) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let head = store.head_position().await?;
    while history_checkpoint(store.pool(), "history").await? < head {
        anyhow::ensure!(Instant::now() < deadline, "the projector did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test]
async fn verify_finds_a_row_changed_by_hand() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let store = eventstore::EventStore::new(db.pool.clone());
    let mut chat = Chat::start(&store).await?;
    for n in 1..=5 {
        chat.send(&store, &format!("message {n}")).await?;
    }
    expect_exit(&chatctl(&db, &["projections", "rebuild", "history"])?, 0)?;
    let equal = chatctl(&db, &["projections", "verify", "history"])?;
    expect_exit(&equal, 0)?;
    assert!(
        stdout(&equal).contains("equals a fresh replay"),
        "{}",
        stdout(&equal)
    );

    sqlx::query("UPDATE history.messages SET body = 'tampered' WHERE seq = 3")
        .execute(&db.pool)
        .await?;
    let differs = chatctl(&db, &["projections", "verify", "history"])?;
    expect_exit(&differs, 1)?;
    let text = stdout(&differs);
    assert!(
        text.contains("history.messages: 5 live rows, 5 replayed: DIFFERENT"),
        "{text}"
    );
    assert!(
        text.contains("tampered") && text.contains("message 3"),
        "{text}"
    );
    assert!(
        text.contains("history.members: 2 live rows, 2 replayed: equal"),
        "{text}"
    );

    let json = chatctl(&db, &["--json", "projections", "verify", "history"])?;
    expect_exit(&json, 1)?;
    let messages = stdout(&json)
        .lines()
        .map(serde_json::from_str::<serde_json::Value>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|t| t["table"] == "messages")
        .ok_or_else(|| anyhow::anyhow!("no messages table in {}", stdout(&json)))?;
    assert_eq!(messages["only_live"], 1);
    assert_eq!(messages["only_rebuilt"], 1);
    // The scratch schema is gone again.
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'history_verify'")
            .fetch_one(&db.pool)
            .await?;
    assert_eq!(left, 0);
    Ok(())
}

#[tokio::test]
async fn a_rebuild_while_a_writer_keeps_sending_equals_a_fresh_replay() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let store = eventstore::EventStore::new(db.pool.clone());
    expect_exit(
        &chatctl(
            &db,
            &["generate", "--events", "20000", "--conversations", "40"],
        )?,
        0,
    )?;
    let shutdown = CancellationToken::new();
    let projector = tokio::spawn(projections::run(
        store.clone(),
        projections::history::History,
        shutdown.clone(),
    ));
    let writing = CancellationToken::new();
    let writer = {
        let (store, writing) = (store.clone(), writing.clone());
        tokio::spawn(async move {
            let mut chat = Chat::start(&store).await?;
            let mut sent = 0u32;
            while !writing.is_cancelled() {
                chat.send(&store, &format!("live {sent}")).await?;
                sent += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            anyhow::Ok(sent)
        })
    };
    caught_up(&store).await?;

    let rebuild = tokio::task::spawn_blocking({
        let mut command = command(
            &db,
            &["projections", "rebuild", "history", "--batch", "500"],
        );
        move || command.output()
    })
    .await??;
    expect_exit(&rebuild, 0)?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    writing.cancel();
    let sent = writer.await??;
    assert!(
        sent > 10,
        "the writer kept writing during the rebuild: {sent}"
    );
    caught_up(&store).await?;

    let verify = chatctl(&db, &["projections", "verify", "history"])?;
    expect_exit(&verify, 0)?;
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM history.messages WHERE body LIKE 'live %'")
            .fetch_one(&db.pool)
            .await?;
    assert_eq!(
        live,
        i64::from(sent),
        "every message sent during the rebuild is there"
    );
    shutdown.cancel();
    projector.await?;
    Ok(())
}

/// Messages in the live history model.
async fn live_messages(db: &testkit::TestDb) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM history.messages")
        .fetch_one(&db.pool)
        .await?)
}

/// A store of 30,000 events with a built history, and a rebuild of it killed (SIGKILL) after a
/// few pages; returns the number of live messages.
async fn rebuild_killed_midway(db: &testkit::TestDb) -> anyhow::Result<i64> {
    expect_exit(
        &chatctl(
            db,
            &["generate", "--events", "30000", "--conversations", "100"],
        )?,
        0,
    )?;
    expect_exit(&chatctl(db, &["projections", "rebuild", "history"])?, 0)?;
    let before = live_messages(db).await?;

    let mut rebuild = command(
        db,
        &[
            "projections",
            "rebuild",
            "history",
            "--restart",
            "--batch",
            "200",
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while history_checkpoint(&db.pool, &rebuild_checkpoint()).await? < 3_000 {
        anyhow::ensure!(Instant::now() < deadline, "the rebuild made no progress");
        anyhow::ensure!(
            rebuild.try_wait()?.is_none(),
            "the rebuild ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rebuild.kill()?; // SIGKILL
    rebuild.wait()?;
    // The live tables are untouched.
    assert_eq!(live_messages(db).await?, before);
    Ok(before)
}

/// The checkpoint a rebuild of the history model keeps (named after its version).
fn rebuild_checkpoint() -> String {
    use projections::Projection;
    format!(
        "history@rebuild-v{}",
        <projections::history::History as Projection>::VERSION
    )
}

/// The persistence of every table in `schema` (`p` logged, `u` unlogged), by name.
async fn persistence(db: &testkit::TestDb, schema: &str) -> anyhow::Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT relname::text, relpersistence::text FROM pg_class
          WHERE relnamespace = $1::regnamespace AND relkind = 'r' ORDER BY relname",
    )
    .bind(schema)
    .fetch_all(&db.pool)
    .await?)
}

#[tokio::test]
async fn a_rebuild_killed_midway_continues_when_run_again() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let before = rebuild_killed_midway(&db).await?;

    // The interruption is visible.
    let list = chatctl(&db, &["--json", "projections", "list"])?;
    expect_exit(&list, 0)?;
    let history = stdout(&list)
        .lines()
        .map(serde_json::from_str::<serde_json::Value>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|p| p["name"] == "history")
        .ok_or_else(|| anyhow::anyhow!("history not listed"))?;
    let state = history["state"].as_str().unwrap_or_default().to_owned();
    assert!(state.starts_with("rebuild interrupted"), "{state}");
    assert_eq!(history["lag_events"], 0);

    let again = chatctl(&db, &["projections", "rebuild", "history"])?;
    expect_exit(&again, 0)?;
    assert!(
        stdout(&again).contains("continued from position"),
        "{}",
        stdout(&again)
    );
    assert_eq!(live_messages(&db).await?, before);
    expect_exit(&chatctl(&db, &["projections", "verify", "history"])?, 0)?;
    let list = chatctl(&db, &["projections", "list"])?;
    assert!(stdout(&list).contains("live"), "{}", stdout(&list));
    Ok(())
}

#[tokio::test]
async fn a_rebuild_whose_unlogged_shadow_a_crash_emptied_starts_over_and_swaps_in_logged_tables(
) -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let before = rebuild_killed_midway(&db).await?;
    // The shadow is written without WAL: crash recovery of Postgres empties every unlogged table
    // (resets it to its empty initial form), which this does by hand.
    let shadow = persistence(&db, "history_rebuild").await?;
    assert!(!shadow.is_empty());
    for (table, persistence) in &shadow {
        assert_eq!(persistence, "u", "{table} of the shadow");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "TRUNCATE history_rebuild.\"{table}\""
        )))
        .execute(&db.pool)
        .await?;
    }
    assert!(history_checkpoint(&db.pool, &rebuild_checkpoint()).await? >= 3_000);

    let again = chatctl(&db, &["projections", "rebuild", "history"])?;
    expect_exit(&again, 0)?;
    assert!(
        !stdout(&again).contains("continued from position"),
        "{}",
        stdout(&again)
    );
    assert_eq!(live_messages(&db).await?, before);
    expect_exit(&chatctl(&db, &["projections", "verify", "history"])?, 0)?;
    // What was swapped in survives a crash: logged, every table.
    let live = persistence(&db, "history").await?;
    assert_eq!(
        live.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["conversations", "departures", "members", "messages"]
    );
    assert!(live.iter().all(|(_, p)| p == "p"), "{live:?}");
    Ok(())
}

#[tokio::test]
async fn replay_fills_a_scratch_schema_and_leaves_the_live_tables_alone() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let store = eventstore::EventStore::new(db.pool.clone());
    let mut chat = Chat::start(&store).await?;
    for n in 1..=4 {
        chat.send(&store, &format!("message {n}")).await?;
    }
    let output = chatctl(
        &db,
        &["--json", "replay", "history", "--from", "1", "--to", "3"],
    )?;
    expect_exit(&output, 0)?;
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim())?;
    assert_eq!(report["schema"], "history_replay");
    assert_eq!(report["events_applied"], 3);
    assert_eq!(report["tables"]["messages"], 2);
    assert_eq!(report["tables"]["conversations"], 1);
    let live: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'history')")
            .fetch_one(&db.pool)
            .await?;
    assert!(!live, "the live schema was not created by a replay");

    let printed = chatctl(&db, &["--json", "replay", "-", "--from", "2", "--to", "3"])?;
    expect_exit(&printed, 0)?;
    assert_eq!(stdout(&printed).lines().count(), 2);
    Ok(())
}

#[tokio::test]
async fn reset_typing_clears_the_typing_limits_and_nothing_else() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let mut redis = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection()
        .await?;
    let prefix = format!("test:{}:", db.name());
    let (typing, session) = (
        format!("{prefix}typing:ann:c1"),
        format!("{prefix}session:s1"),
    );
    for key in [&typing, &session] {
        redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("EX")
            .arg(60)
            .query_async::<()>(&mut redis)
            .await?;
    }

    let output = chatctl(&db, &["projections", "reset", "typing", "--json"])?;
    expect_exit(&output, 0)?;
    assert!(
        stdout(&output).contains("\"keys_deleted\":1"),
        "{}",
        stdout(&output)
    );
    let exists = |key: String| {
        let mut redis = redis.clone();
        async move {
            redis::cmd("EXISTS")
                .arg(key)
                .query_async::<bool>(&mut redis)
                .await
        }
    };
    assert!(!exists(typing).await?, "the typing limit is gone");
    assert!(
        exists(session.clone()).await?,
        "a session is not a typing limit"
    );
    redis::cmd("DEL")
        .arg(session)
        .query_async::<()>(&mut redis)
        .await?;
    Ok(())
}
