//! The user directory fed user events: who is found by the start of a name, in which order, and
//! under which display name after a rename.

use domain::{DisplayName, PasswordHash, UserEvent, UserId, Username};
use eventstore::{EventStore, ExpectedVersion, NewEvent};
use projections::directory::{search, Directory};
use testkit::TestDb;
use uuid::Uuid;

fn registered(user_id: UserId, username: &str, display_name: &str) -> anyhow::Result<UserEvent> {
    Ok(UserEvent::UserRegistered {
        user_id,
        username: Username::parse(username)?,
        display_name: DisplayName::parse(display_name)?,
        password_hash: PasswordHash::new("$argon2id$not-a-real-hash"),
    })
}

fn renamed(user_id: UserId, display_name: &str) -> anyhow::Result<UserEvent> {
    Ok(UserEvent::DisplayNameChanged {
        user_id,
        display_name: DisplayName::parse(display_name)?,
    })
}

async fn append(store: &EventStore, events: &[UserEvent]) -> anyhow::Result<()> {
    for event in events {
        let user = match event {
            UserEvent::UserRegistered { user_id, .. }
            | UserEvent::DisplayNameChanged { user_id, .. } => *user_id,
            other => anyhow::bail!("not a directory event: {other:?}"),
        };
        let new = NewEvent::from_data(Uuid::new_v4(), event.event_type(), event)?;
        store
            .append(&user.stream_id(), ExpectedVersion::Any, &[new])
            .await?;
    }
    Ok(())
}

/// The usernames `search` finds.
async fn found(db: &TestDb, prefix: &str, me: UserId, limit: i64) -> anyhow::Result<Vec<String>> {
    Ok(search(&db.pool, prefix, me.as_uuid(), limit)
        .await?
        .into_iter()
        .map(|u| u.username)
        .collect())
}

#[tokio::test]
async fn people_are_found_by_the_start_of_a_username_or_display_name() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let store = EventStore::new(db.pool.clone());
    projections::ensure_schema::<Directory>(&db.pool).await?;
    let (me, ann, anna, andrew, bob, zed) = (
        UserId::new(),
        UserId::new(),
        UserId::new(),
        UserId::new(),
        UserId::new(),
        UserId::new(),
    );
    append(
        &store,
        &[
            registered(me, "anton", "Anton")?,
            registered(anna, "anna", "Anna")?,
            registered(andrew, "andrew", "Andy")?,
            registered(ann, "ann", "Ann Lee")?,
            registered(bob, "bob", "Annette")?,
            registered(zed, "z_ed", "Zed")?,
        ],
    )
    .await?;
    projections::rebuild(&store, &Directory).await?;

    // The exact username first, then by username; the display name counts too; never the caller.
    assert_eq!(
        found(&db, "ann", me, 10).await?,
        ["ann", "anna", "bob"],
        "exact first"
    );
    assert_eq!(
        found(&db, "an", me, 10).await?,
        ["andrew", "ann", "anna", "bob"]
    );
    assert_eq!(
        found(&db, "AN", me, 10).await?,
        found(&db, "an", me, 10).await?
    );
    assert_eq!(found(&db, "an", me, 2).await?, ["andrew", "ann"]);
    assert_eq!(
        found(&db, "an", anna, 10).await?,
        ["andrew", "ann", "anton", "bob"]
    );
    // `_` and `%` are letters here, not patterns.
    assert_eq!(found(&db, "z_", me, 10).await?, ["z_ed"]);
    assert!(found(&db, "a_", me, 10).await?.is_empty());
    assert!(found(&db, "%", me, 10).await?.is_empty());
    // Only the start: "lee" is inside "Ann Lee", not at its start.
    assert!(found(&db, "lee", me, 10).await?.is_empty());

    // Display names change through events: the directory follows, live and after a rebuild.
    append(&store, &[renamed(bob, "Robert")?]).await?;
    let live = tokio_util::sync::CancellationToken::new();
    let projector = tokio::spawn(projections::run(store.clone(), Directory, live.clone()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while found(&db, "rob", me, 10).await? != ["bob"] {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the rename never reached the directory"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    live.cancel();
    projector.await?;
    assert_eq!(found(&db, "ann", me, 10).await?, ["ann", "anna"]);
    let entry = search(&db.pool, "rob", me.as_uuid(), 10).await?;
    assert_eq!(entry[0].display_name, "Robert");

    let report = projections::verify(&store, &Directory, 5, |_| {}).await?;
    assert!(report.is_equal(), "verify: {report:?}");
    projections::rebuild(&store, &Directory).await?;
    assert_eq!(found(&db, "rob", me, 10).await?, ["bob"]);
    Ok(())
}

#[tokio::test]
async fn a_prefix_search_uses_an_index() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    projections::ensure_schema::<Directory>(&db.pool).await?;
    // Enough rows that a sequential scan is not the obvious plan.
    sqlx::query(
        "INSERT INTO directory.users (user_id, username, display_name, registered_at)
         SELECT gen_random_uuid(), 'user' || n, 'Person ' || n, now()
           FROM generate_series(1, 20000) AS n",
    )
    .execute(&db.pool)
    .await?;
    sqlx::query("ANALYZE directory.users")
        .execute(&db.pool)
        .await?;
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT user_id FROM directory.users
          WHERE (username LIKE 'user12%' OR lower(display_name) LIKE 'user12%')",
    )
    .fetch_all(&db.pool)
    .await?;
    let plan = plan.join("\n");
    assert!(
        plan.contains("users_by_username_prefix") && plan.contains("users_by_display_name_prefix"),
        "the prefix search does not use both indexes:\n{plan}"
    );
    Ok(())
}
