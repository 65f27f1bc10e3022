//! Groups over HTTP and WebSockets, against the app with real Postgres, Redis and NATS: creating
//! one, who may add, remove and rename, what a member added later sees (live and on resume), and
//! that a removed member loses access at once, open sockets included.

mod common;

use common::cases::{expect_eq, Cases};
use common::groups::{code, next_entry, pairs};
use common::spawn_app;
use common::ApiUser as User;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::ws::Connect;

#[tokio::test]
async fn three_people_talk_and_a_fourth_added_later_sees_only_what_follows() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let ann = User::new(&app, "ann").await?;
    let ben = User::new(&app, "ben").await?;
    let cat = User::new(&app, "cat").await?;
    let dan = User::new(&app, "dan").await?;

    let (status, created) = ann.create_group("Climbing", &["ben", "Cat", "ann"]).await?;
    assert_eq!(status, 201, "{created}");
    let group = created["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(created["conversation"]["kind"], "group");
    assert_eq!(created["conversation"]["title"], "Climbing");
    assert_eq!(created["conversation"]["role"], "owner");
    assert_eq!(created["conversation"]["member_count"], 3);

    ann.sent(&group, "before dan", "a1").await?;
    let second = ben.sent(&group, "still before dan", "b1").await?;
    assert_eq!(second["message"]["seq"], 2);
    // A resend is the same message.
    let (status, again) = ben
        .post(
            &format!("/api/v1/conversations/{group}/messages"),
            json!({"body": "still before dan", "client_id": "b1"}),
        )
        .await?;
    assert_eq!(
        (status, &again["message"]["id"]),
        (200, &second["message"]["id"])
    );

    let (status, added) = ann.add(&group, "dan").await?;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["member"]["user"]["username"], "dan");
    assert_eq!(added["member"]["role"], "member");
    let (status, _) = ann.add(&group, "dan").await?;
    assert_eq!(status, 200, "adding a member twice");
    cat.sent(&group, "welcome dan", "c1").await?;
    let hi = dan.sent(&group, "hi all", "d1").await?;
    assert_eq!(hi["message"]["seq"], 5, "the 'added' entry took seq 3");

    assert_eq!(
        dan.timeline(&group).await?,
        ["member_added dan", "welcome dan", "hi all"],
        "Dan sees from his join on"
    );
    assert_eq!(
        ben.timeline(&group).await?,
        [
            "before dan",
            "still before dan",
            "member_added dan",
            "welcome dan",
            "hi all"
        ]
    );
    let (status, page) = dan
        .get(&format!("/api/v1/conversations/{group}/messages?limit=2"))
        .await?;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["next_before"], 4, "paging back stops at his join");
    let (_, page) = dan
        .get(&format!("/api/v1/conversations/{group}/messages?before=4"))
        .await?;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next_before"], Value::Null);

    assert_eq!(
        ann.members(&group).await?,
        pairs(&[
            ("ann", "owner"),
            ("ben", "member"),
            ("cat", "member"),
            ("dan", "member")
        ])
    );
    let listed = dan.listed(&group).await?;
    let listed = listed.ok_or_else(|| anyhow::anyhow!("Dan's list lacks the group"))?;
    assert_eq!(
        (&listed["kind"], &listed["title"], &listed["member_count"]),
        (&json!("group"), &json!("Climbing"), &json!(4))
    );
    assert_eq!(listed["unread"], 0, "writing is reading");
    assert_eq!(listed["last_message"]["body"], "hi all");
    Ok(())
}

#[tokio::test]
async fn unread_counts_are_per_member_and_reading_clears_them() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let ann = User::new(&app, "ann").await?;
    let ben = User::new(&app, "ben").await?;
    let cat = User::new(&app, "cat").await?;
    let group = ann.group("Climbing", &["ben", "cat"]).await?;
    for n in 1..=3 {
        ben.sent(&group, &format!("message {n}"), &format!("b{n}"))
            .await?;
    }
    let unread = |c: Option<Value>| c.map(|c| c["unread"].clone());
    assert_eq!(unread(ann.listed(&group).await?), Some(json!(3)));
    assert_eq!(unread(cat.listed(&group).await?), Some(json!(3)));
    assert_eq!(unread(ben.listed(&group).await?), Some(json!(0)));
    let (status, _) = ann
        .post(
            &format!("/api/v1/conversations/{group}/read"),
            json!({"up_to": 2}),
        )
        .await?;
    assert_eq!(status, 204);
    assert_eq!(unread(ann.listed(&group).await?), Some(json!(1)));
    assert_eq!(unread(cat.listed(&group).await?), Some(json!(3)));
    Ok(())
}

#[tokio::test]
async fn only_the_owner_and_admins_manage_and_outsiders_get_not_found_everywhere(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let ann = User::new(&app, "ann").await?;
    let ben = User::new(&app, "ben").await?;
    let cat = User::new(&app, "cat").await?;
    let eve = User::new(&app, "eve").await?;
    User::new(&app, "dan").await?;
    let group = ann.group("Climbing", &["ben", "cat"]).await?;
    let message = ben.sent(&group, "hello", "b1").await?;
    let message_id = message["message"]["id"].as_str().unwrap_or_default();

    let mut cases = Cases::new();
    let (status, body) = cat.add(&group, "dan").await?;
    cases.record(
        "a plain member cannot add",
        expect_eq((status, code(&body)), (403, ("not_admin".into(), None))),
    );
    let (status, body) = ann.add(&group, "nobody_here").await?;
    cases.record(
        "an unknown username is named",
        expect_eq(
            (status, code(&body)),
            (422, ("validation_failed".into(), Some("username".into()))),
        ),
    );
    let (status, body) = ann
        .create_group("Climbing", &["ben", "nobody_here"])
        .await?;
    cases.record(
        "a group with an unknown member is refused naming them",
        expect_eq(
            (
                status,
                code(&body),
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("nobody_here")),
            ),
            (
                422,
                ("validation_failed".into(), Some("members".into())),
                true,
            ),
        ),
    );
    let (status, body) = ann.create_group("  ", &["ben"]).await?;
    cases.record(
        "a blank title is refused",
        expect_eq(
            (status, code(&body)),
            (422, ("validation_failed".into(), Some("title".into()))),
        ),
    );
    let (status, body) = cat.rename(&group, "Cat's").await?;
    cases.record(
        "a plain member cannot rename",
        expect_eq((status, code(&body)), (403, ("not_admin".into(), None))),
    );
    let (status, body) = cat.remove(&group, "ben").await?;
    cases.record(
        "a plain member cannot remove",
        expect_eq((status, code(&body)), (403, ("not_admin".into(), None))),
    );
    let (status, body) = cat.delete(&group, message_id).await?;
    cases.record(
        "a plain member cannot delete someone else's message",
        expect_eq((status, code(&body)), (403, ("not_sender".into(), None))),
    );

    let paths = [
        (
            reqwest::Method::GET,
            format!("/api/v1/conversations/{group}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/conversations/{group}/members"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/conversations/{group}/messages"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/conversations/{group}/members"),
            Some(json!({"username": "eve"})),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/conversations/{group}/members/ben"),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/conversations/{group}/members/eve"),
            None,
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/conversations/{group}"),
            Some(json!({"title": "Mine"})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/conversations/{group}/messages"),
            Some(json!({"body": "hi", "client_id": "e1"})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/conversations/{group}/read"),
            Some(json!({"up_to": 1})),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/conversations/{group}/messages/{message_id}"),
            None,
        ),
    ];
    for (method, path, body) in paths {
        let name = format!("an outsider's {method} {path}");
        let (status, _) = eve.call(method, &path, body).await?;
        cases.record(name, expect_eq(status, 404));
    }

    let (status, renamed) = ann.rename(&group, "Bouldering").await?;
    cases.record(
        "the owner renames",
        expect_eq(
            (status, renamed["conversation"]["title"].clone()),
            (200, json!("Bouldering")),
        ),
    );
    let (status, made) = ann.set_role(&group, "ben", "admin").await?;
    cases.record(
        "the owner makes an admin",
        expect_eq(
            (status, made["member"]["role"].clone()),
            (200, json!("admin")),
        ),
    );
    let (status, _) = ben.add(&group, "dan").await?;
    cases.record("an admin adds", expect_eq(status, 201));
    let (status, _) = ben.rename(&group, "Crag").await?;
    cases.record("an admin renames", expect_eq(status, 200));
    let (status, body) = ben.remove(&group, "ann").await?;
    cases.record(
        "nobody removes the owner",
        expect_eq((status, code(&body)), (403, ("not_allowed".into(), None))),
    );
    let (status, _) = ann.delete(&group, message_id).await?;
    cases.record("the owner deletes anyone's message", expect_eq(status, 204));
    cases.record(
        "every change is in the timeline",
        expect_eq(
            cat.timeline(&group).await?,
            vec![
                "<deleted>".to_owned(),
                "renamed Bouldering".to_owned(),
                "role_changed ben".to_owned(),
                "member_added dan".to_owned(),
                "renamed Crag".to_owned(),
            ],
        ),
    );

    let pair = {
        let (status, body) = ann
            .post("/api/v1/conversations", json!({"with": "ben"}))
            .await?;
        anyhow::ensure!(status == 201, "{body}");
        body["conversation"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (status, body) = ann.rename(&pair, "Us").await?;
    cases.record(
        "a pair has no title",
        expect_eq((status, code(&body)), (409, ("not_a_group".into(), None))),
    );
    cases.record(
        "a pair's members are its two people",
        expect_eq(
            ann.members(&pair).await?,
            pairs(&[("ann", "member"), ("ben", "member")]),
        ),
    );
    let listed = ann.listed(&pair).await?.unwrap_or_default();
    cases.record(
        "a pair is direct",
        expect_eq(
            (listed["kind"].clone(), listed["peer"]["username"].clone()),
            (json!("direct"), json!("ben")),
        ),
    );
    cases.finish()
}

#[tokio::test]
async fn a_removed_member_loses_access_at_once_and_can_be_added_again() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let ann = User::new(&app, "ann").await?;
    let ben = User::new(&app, "ben").await?;
    let cat = User::new(&app, "cat").await?;
    let group = ann.group("Climbing", &["ben", "cat"]).await?;
    let own = cat.sent(&group, "cat was here", "c1").await?;
    let own_id = own["message"]["id"].as_str().unwrap_or_default();

    let (status, body) = ann.remove(&group, "cat").await?;
    assert_eq!(status, 204, "{body}");
    for (method, path, body) in [
        (
            reqwest::Method::GET,
            format!("/api/v1/conversations/{group}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/conversations/{group}/messages"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/conversations/{group}/messages"),
            Some(json!({"body": "still here?", "client_id": "c2"})),
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/conversations/{group}/messages/{own_id}"),
            Some(json!({"body": "edited"})),
        ),
    ] {
        let (status, answer) = cat.call(method.clone(), &path, body).await?;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    assert!(cat.listed(&group).await?.is_none(), "gone from Cat's list");
    ben.sent(&group, "while cat was away", "b1").await?;

    let (status, _) = ann.add(&group, "cat").await?;
    assert_eq!(status, 201);
    assert_eq!(
        cat.timeline(&group).await?,
        ["member_added cat"],
        "back, Cat sees from the new join on"
    );
    let (status, _) = cat.remove(&group, "cat").await?;
    assert_eq!(status, 204, "anyone may leave");
    assert_eq!(
        ben.timeline(&group).await?,
        [
            "cat was here",
            "member_removed cat",
            "while cat was away",
            "member_added cat",
            "member_left cat"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn an_owner_who_leaves_hands_over_and_the_last_one_out_closes_the_group() -> anyhow::Result<()>
{
    let app = spawn_app(&[]).await?;
    let ann = User::new(&app, "ann").await?;
    let ben = User::new(&app, "ben").await?;
    let cat = User::new(&app, "cat").await?;
    let group = ann.group("Climbing", &["ben", "cat"]).await?;
    let (status, _) = ann.remove(&group, "ann").await?;
    assert_eq!(status, 204);
    assert_eq!(
        ben.members(&group).await?,
        pairs(&[("ben", "owner"), ("cat", "member")]),
        "the oldest member took over"
    );
    let (status, _) = ben.remove(&group, "ben").await?;
    assert_eq!(status, 204);
    let (status, _) = cat.remove(&group, "cat").await?;
    assert_eq!(status, 204);
    for user in [&ann, &ben, &cat] {
        let (status, _) = user.get(&format!("/api/v1/conversations/{group}")).await?;
        assert_eq!(status, 404);
        let (status, _) = user.add(&group, "ann").await?;
        assert_eq!(status, 404, "a closed group takes nobody back");
    }
    Ok(())
}

#[tokio::test]
async fn every_members_sockets_get_a_groups_events_and_a_removed_members_socket_nothing_after(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let ann = User::new(&app, "ann").await?;
    let ben = User::new(&app, "ben").await?;
    let cat = User::new(&app, "cat").await?;
    let eve = User::new(&app, "eve").await?;
    let (mut ann_socket, mut ben_socket, mut cat_socket, mut eve_socket) = (
        ann.socket(None).await?,
        ben.socket(None).await?,
        cat.socket(None).await?,
        eve.socket(None).await?,
    );
    let group = ann.group("Climbing", &["ben", "cat"]).await?;
    let started = cat_socket.next_of("conversation.started").await?;
    assert_eq!(started["title"], "Climbing");
    assert_eq!(started["members"].as_array().map(Vec::len), Some(3));

    ben.sent(&group, "hello all", "b1").await?;
    for socket in [&mut ann_socket, &mut ben_socket, &mut cat_socket] {
        assert_eq!(next_entry(socket).await?, "hello all");
    }
    let (status, _) = ann.remove(&group, "cat").await?;
    assert_eq!(status, 204);
    for socket in [&mut ann_socket, &mut ben_socket, &mut cat_socket] {
        assert_eq!(next_entry(socket).await?, "member_removed cat");
    }
    ben.sent(&group, "after cat", "b2").await?;
    assert_eq!(next_entry(&mut ann_socket).await?, "after cat");
    assert_eq!(next_entry(&mut ben_socket).await?, "after cat");
    cat_socket
        .assert_no("message.new", Duration::from_millis(800))
        .await?;
    eve_socket
        .assert_no("message.new", Duration::from_millis(100))
        .await?;
    eve_socket
        .assert_no("conversation.started", Duration::from_millis(100))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_member_added_later_gets_no_earlier_frame_on_resume() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let ann = User::new(&app, "ann").await?;
    User::new(&app, "ben").await?;
    let dan = User::new(&app, "dan").await?;
    let before_everything = dan.socket(None).await?.cursor();

    let group = ann.group("Climbing", &["ben"]).await?;
    ann.sent(&group, "before dan", "a1").await?;
    let (status, _) = ann.add(&group, "dan").await?;
    assert_eq!(status, 201);
    ann.sent(&group, "after dan", "a2").await?;

    let mut resumed = dan.socket(Some(before_everything)).await?;
    assert_eq!(next_entry(&mut resumed).await?, "member_added dan");
    assert_eq!(next_entry(&mut resumed).await?, "after dan");
    resumed
        .assert_no("message.new", Duration::from_millis(500))
        .await?;
    resumed
        .assert_no("conversation.started", Duration::from_millis(100))
        .await?;

    // Live, the same: Dan's socket is told of his removal and of nothing after.
    let (status, _) = ann.remove(&group, "dan").await?;
    assert_eq!(status, 204);
    assert_eq!(next_entry(&mut resumed).await?, "member_removed dan");
    ann.sent(&group, "without dan", "a3").await?;
    resumed
        .assert_no("message.new", Duration::from_millis(800))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_member_group_with_50_sockets_on_two_gateways_gets_every_message_once(
) -> anyhow::Result<()> {
    const MEMBERS: usize = 200;
    const SOCKETS: usize = 50;
    const MESSAGES: usize = 10;
    let app = spawn_app(&[]).await?;
    let second = app.replica(&[server::Role::Api]).await?;
    let names: Vec<String> = (0..MEMBERS).map(|n| format!("u{n:03}")).collect();
    let mut people = Vec::with_capacity(MEMBERS);
    for chunk in names.chunks(8) {
        let signed =
            futures_util::future::try_join_all(chunk.iter().map(|name| User::new(&app, name)))
                .await?;
        people.extend(signed);
    }
    let others: Vec<&str> = names[1..].iter().map(String::as_str).collect();
    let group = people[0].group("Everyone", &others).await?;

    let mut sockets = Vec::with_capacity(SOCKETS);
    for (n, person) in people.iter().take(SOCKETS).enumerate() {
        let base = if n % 2 == 0 { &app.base } else { &second.base };
        sockets.push(Connect::new(base).bearer(&person.token).open().await?);
    }
    let mut sent = Vec::with_capacity(MESSAGES);
    for n in 0..MESSAGES {
        let sender = &people[n * (MEMBERS / MESSAGES)];
        let sender = if n % 2 == 0 {
            User::with_token(&app, &sender.token)
        } else {
            User::with_token(&app, &sender.token).at(&second.base)
        };
        let answer = sender
            .sent(&group, &format!("message {n}"), &format!("m{n}"))
            .await?;
        sent.push(
            answer["message"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    for (n, socket) in sockets.iter_mut().enumerate() {
        let mut got = Vec::with_capacity(MESSAGES);
        while got.len() < MESSAGES {
            let frame = socket.next_of("message.new").await?;
            if frame["conversation_id"] == group {
                got.push(
                    frame["message"]["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
        assert_eq!(got, sent, "socket {n}: every message, once, in order");
    }
    for (n, socket) in sockets.iter_mut().enumerate() {
        socket
            .assert_no(
                "message.new",
                Duration::from_millis(if n == 0 { 500 } else { 10 }),
            )
            .await?;
    }
    Ok(())
}
