//! `streams`, `events` and `tail` against a real database, through the real binary.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;
use support::{chatctl, command, expect_exit, stdout, Chat};

#[tokio::test]
async fn tail_follow_shows_an_event_committed_after_it_started() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let store = eventstore::EventStore::new(db.pool.clone());
    let mut chat = Chat::start(&store).await?;
    chat.send(&store, "before tail").await?;

    let mut tail = command(&db, &["--json", "tail", "--follow", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (lines, received) = mpsc::channel();
    let (errors, error_lines) = mpsc::channel();
    let out = tail
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let err = tail
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = errors.send(line);
        }
    });
    let first = received.recv_timeout(Duration::from_secs(20))?;
    assert!(
        first.contains("before tail"),
        "the last event first: {first}"
    );
    let ready = error_lines.recv_timeout(Duration::from_secs(20))?;
    assert!(ready.contains("following the log"), "{ready}");

    let position = chat.send(&store, "after tail started").await?;
    let next = received.recv_timeout(Duration::from_secs(20));
    tail.kill()?;
    tail.wait()?;
    let next: serde_json::Value = serde_json::from_str(&next?)?;
    assert_eq!(next["position"], position);
    assert_eq!(next["data"]["body"], "after tail started");
    Ok(())
}

#[tokio::test]
async fn events_are_found_by_stream_type_and_message() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let store = eventstore::EventStore::new(db.pool.clone());
    let mut chat = Chat::start(&store).await?;
    for n in 1..=3 {
        chat.send(&store, &format!("message {n}")).await?;
    }
    let mut other = Chat::start(&store).await?;
    other.send(&store, "elsewhere").await?;

    let json_lines = |args: &[&str]| -> anyhow::Result<Vec<serde_json::Value>> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = chatctl(&db, &all)?;
        expect_exit(&output, 0)?;
        Ok(stdout(&output)
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?)
    };
    let stream = chat.id.stream_id();
    assert_eq!(json_lines(&["events", &stream])?.len(), 4);
    let sends = json_lines(&["events", "--type", "MessageSent"])?;
    assert_eq!(sends.len(), 4, "every stream's sends");
    let id = chat.id.to_string();
    let second = json_lines(&["events", "--conversation", &id, "--seq", "2"])?;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["data"]["body"], "message 2");
    let from = json_lines(&["events", "--from", "5", "--limit", "1"])?;
    assert_eq!(from[0]["position"], 5);

    let streams = json_lines(&["streams", "--prefix", "conversation-"])?;
    assert_eq!(streams.len(), 2);
    let ours = streams
        .iter()
        .find(|s| s["stream_id"] == stream.as_str())
        .ok_or_else(|| anyhow::anyhow!("stream missing: {streams:?}"))?;
    assert_eq!(ours["version"], 4);
    assert!(ours["last_recorded_at"].is_string());
    assert!(json_lines(&["streams", "--prefix", "user-"])?.is_empty());

    // A table for people, with a header.
    let table = chatctl(&db, &["streams"])?;
    expect_exit(&table, 0)?;
    assert!(stdout(&table).starts_with("STREAM"), "{}", stdout(&table));
    Ok(())
}

#[tokio::test]
async fn bad_usage_exits_with_2_and_names_the_problem() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let output = chatctl(&db, &["events", "--seq", "2"])?;
    expect_exit(&output, 2)?;
    let output = chatctl(&db, &["projections", "verify", "nonsense"])?;
    expect_exit(&output, 2)?;
    assert!(String::from_utf8_lossy(&output.stderr).contains("nonsense"));
    let output = command(&db, &["streams"])
        .env("DATABASE_URL", "mysql://nowhere")
        .output()?;
    expect_exit(&output, 2)?;
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL"));
    Ok(())
}
