//! `export` and `import` through the real binary: exact round trips, refusals.

mod support;

use eventstore::{ExpectedVersion, Metadata, NewEvent};
use support::{chatctl, expect_exit, stdout, Chat};

#[tokio::test]
async fn export_import_export_gives_identical_bytes() -> anyhow::Result<()> {
    let source = testkit::TestDb::create().await?;
    let store = eventstore::EventStore::new(source.pool.clone());
    let mut chat = Chat::start(&store).await?;
    chat.send(&store, "héllo \"quoted\" \u{1F600}").await?;
    // Metadata, big numbers and odd keys must survive as they are.
    let odd = NewEvent {
        event_id: uuid::Uuid::new_v4(),
        event_type: "Odd".into(),
        schema_version: 3,
        data: serde_json::json!({"big": 12345678901234567_i64, "float": 1.5, "z": [], "a": {"n": null}}),
        metadata: Metadata {
            correlation_id: Some(uuid::Uuid::new_v4()),
            causation_id: Some(uuid::Uuid::new_v4()),
            actor: Some("user:someone".into()),
        },
    };
    store
        .append("odd-1", ExpectedVersion::NoStream, &[odd])
        .await?;
    expect_exit(
        &chatctl(
            &source,
            &["generate", "--events", "3000", "--conversations", "7"],
        )?,
        0,
    )?;
    chat.send(&store, "last").await?;

    let dir = std::env::temp_dir().join(format!("chatctl-{}", source.name()));
    std::fs::create_dir_all(&dir)?;
    let first = dir.join("first.jsonl");
    let second = dir.join("second.jsonl");
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    expect_exit(
        &chatctl(&source, &["export", "--output", &path(&first)])?,
        0,
    )?;

    let target = testkit::TestDb::create().await?;
    let imported = chatctl(&target, &["import", &path(&first)])?;
    expect_exit(&imported, 0)?;
    assert!(
        stdout(&imported).contains("imported 3004 events"),
        "{}",
        stdout(&imported)
    );
    expect_exit(&chatctl(&target, &["export", "-o", &path(&second)])?, 0)?;

    let (a, b) = (std::fs::read(&first)?, std::fs::read(&second)?);
    assert_eq!(a.len(), b.len());
    assert!(a == b, "the second export differs from the first");
    assert_eq!(a.iter().filter(|b| **b == b'\n').count(), 3004);

    // The imported store goes on: streams at their versions, new positions after the import.
    let target_store = eventstore::EventStore::new(target.pool.clone());
    assert_eq!(target_store.stream_version(&chat.id.stream_id()).await?, 3);
    let next = chat.send(&target_store, "after the import").await?;
    assert_eq!(next, 3005);

    // A range.
    let range = chatctl(&source, &["export", "--from", "2", "--to", "3"])?;
    expect_exit(&range, 0)?;
    let positions: Vec<i64> = stdout(&range)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .map(|v| v["position"].as_i64().unwrap_or(0))
        })
        .collect::<Result<_, _>>()?;
    assert_eq!(positions, [2, 3]);

    // Compressed: a `.zst` export is smaller, imports into another empty store, and exports
    // back to the same bytes.
    let packed = dir.join("packed.jsonl.zst");
    expect_exit(&chatctl(&source, &["export", "-o", &path(&packed)])?, 0)?;
    assert!(std::fs::read(&packed)?.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]));
    assert!(
        std::fs::metadata(&packed)?.len() * 3 < a.len() as u64,
        "not compressed"
    );
    let third = testkit::TestDb::create().await?;
    expect_exit(&chatctl(&third, &["import", &path(&packed)])?, 0)?;
    let unpacked = dir.join("unpacked.jsonl");
    expect_exit(&chatctl(&third, &["export", "-o", &path(&unpacked)])?, 0)?;
    assert!(
        std::fs::read(&unpacked)? == a,
        "the zstd round trip changed the log"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn import_refuses_a_non_empty_store_and_names_a_bad_line() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let store = eventstore::EventStore::new(db.pool.clone());
    let mut chat = Chat::start(&store).await?;
    chat.send(&store, "one").await?;
    let dir = std::env::temp_dir().join(format!("chatctl-{}", db.name()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("export.jsonl");
    let file = file.to_string_lossy().into_owned();
    expect_exit(&chatctl(&db, &["export", "-o", &file])?, 0)?;

    let refused = chatctl(&db, &["import", &file])?;
    expect_exit(&refused, 3)?;
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));
    // Told otherwise, it still refuses positions that are taken: all or nothing.
    expect_exit(&chatctl(&db, &["import", "--allow-non-empty", &file])?, 2)?;
    assert_eq!(store.head_position().await?, 2);

    let empty = testkit::TestDb::create().await?;
    let broken = dir.join("broken.jsonl");
    let text = std::fs::read_to_string(&file)?;
    std::fs::write(&broken, format!("{text}{{\"position\": 3}}\n"))?;
    let output = chatctl(&empty, &["import", &broken.to_string_lossy()])?;
    expect_exit(&output, 2)?;
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("line 3"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let empty_store = eventstore::EventStore::new(empty.pool.clone());
    assert_eq!(
        empty_store.head_position().await?,
        0,
        "nothing was imported"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
