//! `generate --groups`, `conversations` and `members` through the real binary: what an operator
//! reads about a store of pairs and groups once its history model is built.

mod support;

use support::{chatctl, expect_exit, stdout};

fn json_lines(output: &std::process::Output) -> anyhow::Result<Vec<serde_json::Value>> {
    Ok(stdout(output)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn generated_groups_are_listed_with_their_members_and_roles() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let generated = chatctl(
        &db,
        &[
            "--json",
            "generate",
            "--events",
            "600",
            "--conversations",
            "3",
            "--groups",
            "2",
            "--group-members",
            "4",
        ],
    )?;
    expect_exit(&generated, 0)?;
    assert_eq!(json_lines(&generated)?[0]["events"], 600);
    expect_exit(&chatctl(&db, &["projections", "rebuild", "--all"])?, 0)?;

    // The groups, each with its four members, newest activity first.
    let groups = json_lines(&chatctl(
        &db,
        &["--json", "conversations", "--kind", "group"],
    )?)?;
    assert_eq!(groups.len(), 2, "{groups:?}");
    for group in &groups {
        assert_eq!(group["kind"], "group");
        assert_eq!(group["member_count"], 4);
        let title = group["title"].as_str().unwrap_or_default();
        assert!(title.starts_with("Generated group "), "{group}");
        // Three additions and a new admin, then messages.
        assert!(group["last_seq"].as_i64() > Some(4), "{group}");
    }
    let activity = groups
        .iter()
        .map(|g| chrono::DateTime::parse_from_rfc3339(g["last_activity_at"].as_str().unwrap_or("")))
        .collect::<Result<Vec<_>, _>>()?;
    assert!(activity[0] > activity[1], "newest first: {activity:?}");
    let pairs = json_lines(&chatctl(
        &db,
        &["--json", "conversations", "--kind", "direct"],
    )?)?;
    assert_eq!(pairs.len(), 3);
    assert!(pairs
        .iter()
        .all(|p| p["member_count"] == 2 && p["title"].is_null()));
    let table = chatctl(&db, &["conversations"])?;
    expect_exit(&table, 0)?;
    let table = stdout(&table);
    assert!(table.starts_with("CONVERSATION"), "{table}");
    assert_eq!(table.lines().count(), 1 + 5, "{table}");
    assert!(table.contains("Generated group 1"), "{table}");

    // Each group's members: the owner, the admin they made, the two others in the order added.
    let ids = groups
        .iter()
        .filter_map(|g| g["conversation_id"].as_str())
        .collect::<Vec<_>>();
    assert_eq!(ids.len(), 2, "{groups:?}");
    for id in &ids {
        let members = json_lines(&chatctl(&db, &["--json", "members", id])?)?;
        let roles: Vec<&str> = members.iter().filter_map(|m| m["role"].as_str()).collect();
        assert_eq!(roles, ["owner", "admin", "member", "member"], "{id}");
    }
    let id = ids[0];
    let members = json_lines(&chatctl(&db, &["--json", "members", id])?)?;
    let names: Vec<&str> = members
        .iter()
        .filter_map(|m| m["username"].as_str())
        .collect();
    for (k, name) in names.iter().enumerate() {
        assert!(name.ends_with(&format!("u{k}")), "{names:?}");
    }
    let joined: Vec<i64> = members
        .iter()
        .filter_map(|m| m["joined_after"].as_i64())
        .collect();
    assert_eq!(
        joined,
        [0, 0, 1, 2],
        "each sees the group from their addition on"
    );
    let table = chatctl(&db, &["members", id])?;
    expect_exit(&table, 0)?;
    let table = stdout(&table);
    assert!(table.contains(": 4 members"), "{table}");
    assert!(table.contains("USERNAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(names[0]) && l.contains("owner")),
        "{table}"
    );

    // A member's conversations are just their group.
    let mine = json_lines(&chatctl(
        &db,
        &["--json", "conversations", "--member", names[2]],
    )?)?;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["conversation_id"], id);

    // The sign-ups, creations and additions are the service's own events: a fresh replay of
    // the log gives the same read models.
    for model in ["history", "directory"] {
        let verify = chatctl(&db, &["projections", "verify", model])?;
        expect_exit(&verify, 0)?;
    }
    Ok(())
}

#[tokio::test]
async fn an_unknown_conversation_is_named_and_exits_2() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let unknown = uuid::Uuid::new_v4().to_string();
    // Before the history model is built there is nothing to read: said, not guessed.
    let unbuilt = chatctl(&db, &["members", &unknown])?;
    expect_exit(&unbuilt, 3)?;
    assert!(
        stderr(&unbuilt).contains("not built yet"),
        "{}",
        stderr(&unbuilt)
    );

    let generated = chatctl(&db, &["generate", "--events", "50", "--conversations", "2"])?;
    expect_exit(&generated, 0)?;
    expect_exit(&chatctl(&db, &["projections", "rebuild", "history"])?, 0)?;
    let output = chatctl(&db, &["members", &unknown])?;
    expect_exit(&output, 2)?;
    let message = stderr(&output);
    assert!(
        message.contains(&format!("no conversation {unknown}")),
        "{message}"
    );
    assert!(stdout(&output).is_empty());
    expect_exit(&chatctl(&db, &["members", "not-an-id"])?, 2)?;
    Ok(())
}

#[tokio::test]
async fn groups_that_do_not_fit_the_limit_or_the_event_count_are_refused_up_front(
) -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let args = |events: &'static str, members: &'static str| {
        [
            "generate",
            "--events",
            events,
            "--conversations",
            "0",
            "--groups",
            "2",
            "--group-members",
            members,
        ]
    };
    let too_big = support::command(&db, &args("1000", "5"))
        .env("MAX_GROUP_MEMBERS", "4")
        .output()?;
    expect_exit(&too_big, 2)?;
    assert!(
        stderr(&too_big).contains("MAX_GROUP_MEMBERS"),
        "{}",
        stderr(&too_big)
    );
    // Two groups of 5: 10 sign-ups of two events, 2 creations, 8 additions, 2 admins.
    let too_few = chatctl(&db, &args("31", "5"))?;
    expect_exit(&too_few, 2)?;
    assert!(
        stderr(&too_few).contains("at least 32"),
        "{}",
        stderr(&too_few)
    );
    let store = eventstore::EventStore::new(db.pool.clone());
    assert_eq!(store.head_position().await?, 0, "nothing written");
    expect_exit(&chatctl(&db, &args("32", "5"))?, 0)?;
    assert_eq!(store.head_position().await?, 32);
    Ok(())
}
