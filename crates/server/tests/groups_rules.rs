//! A group's rules as a client meets them, against the app with real Postgres, Redis and NATS,
//! over HTTP and WebSockets: handing the group over, an owner leaving with admins, edits and
//! deletions and who may make them, the member limit, and a removed member's loss of access,
//! open socket included.

mod common;

use common::cases::{expect, expect_eq, Cases};
use common::groups::{code, next_entry, pairs};
use common::spawn_app;
use common::ApiUser as User;
use serde_json::{json, Value};
use testkit::ws::Socket;

/// The refusal `(status, code, field)` expected of a call that must not change anything.
fn refused(status: u16, code: &str) -> (u16, (String, Option<String>)) {
    (status, (code.to_owned(), None))
}

fn id_of(sent: &Value) -> String {
    sent["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The caller's `role` in the group, as the conversation route shows it.
async fn role_in(user: &User, group: &str) -> anyhow::Result<Value> {
    let (status, body) = user.get(&format!("/api/v1/conversations/{group}")).await?;
    anyhow::ensure!(status == 200, "conversation: {status} {body}");
    Ok(body["conversation"]["role"].clone())
}

/// Every frame `socket` gets before the `message.new` whose body is `body` (sent last, as a
/// marker: frames reach a socket in log order, so what is not here was not sent).
async fn frames_before(socket: &mut Socket, body: &str) -> anyhow::Result<Vec<Value>> {
    socket
        .frames_until(|f| f["type"] == "message.new" && f["message"]["body"] == body)
        .await
}

/// The frames of `kind` among `frames`.
fn of_kind<'a>(frames: &'a [Value], kind: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == kind).collect()
}

#[tokio::test]
async fn the_owner_hands_the_group_over_and_nobody_else_may() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let [ann, ben, cat, dan] = [
        User::new(&app, "ann").await?,
        User::new(&app, "ben").await?,
        User::new(&app, "cat").await?,
        User::new(&app, "dan").await?,
    ];
    let group = ann.group("Climbing", &["ben", "cat", "dan"]).await?;
    let (status, body) = ann.set_role(&group, "dan", "admin").await?;
    assert_eq!(status, 200, "{body}");

    let mut cases = Cases::new();
    for (case, who, to) in [
        ("a plain member hands over", &cat, "ben"),
        ("a plain member takes over", &cat, "cat"),
        ("an admin hands over", &dan, "ben"),
        ("an admin takes over", &dan, "dan"),
    ] {
        cases
            .run(case, async {
                let (status, body) = who.set_role(&group, to, "owner").await?;
                expect_eq((status, code(&body)), refused(403, "not_owner"))?;
                expect(
                    body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("owner")),
                    format!("the message says why: {body}"),
                )
            })
            .await;
    }
    cases.record(
        "refused hand-overs change nothing",
        expect_eq(
            ben.members(&group).await?,
            pairs(&[
                ("ann", "owner"),
                ("ben", "member"),
                ("cat", "member"),
                ("dan", "admin"),
            ]),
        ),
    );
    cases.finish()?;

    let (status, handed) = ann.set_role(&group, "ben", "owner").await?;
    assert_eq!(status, 200, "{handed}");
    assert_eq!(
        (
            &handed["member"]["user"]["username"],
            &handed["member"]["role"]
        ),
        (&json!("ben"), &json!("owner"))
    );
    assert_eq!(
        cat.members(&group).await?,
        pairs(&[
            ("ann", "admin"),
            ("ben", "owner"),
            ("cat", "member"),
            ("dan", "admin"),
        ]),
        "the old owner stays as an admin"
    );
    assert_eq!(role_in(&ann, &group).await?, "admin");
    assert_eq!(role_in(&ben, &group).await?, "owner");

    // The new owner renames and manages, down to what only an owner may do.
    let (status, body) = ben.rename(&group, "Bouldering").await?;
    assert_eq!(
        (status, &body["conversation"]["title"]),
        (200, &json!("Bouldering"))
    );
    let (status, body) = ben.set_role(&group, "cat", "admin").await?;
    assert_eq!((status, &body["member"]["role"]), (200, &json!("admin")));
    let (status, body) = ben.remove(&group, "dan").await?;
    assert_eq!(status, 204, "only the owner removes an admin: {body}");

    // The old owner, now an admin, may no longer do an owner's part.
    let (status, body) = ann.set_role(&group, "cat", "member").await?;
    assert_eq!((status, code(&body)), refused(403, "not_owner"));
    let (status, body) = ann.set_role(&group, "ann", "owner").await?;
    assert_eq!((status, code(&body)), refused(403, "not_owner"));
    let (status, body) = ann.remove(&group, "ben").await?;
    assert_eq!((status, code(&body)), refused(403, "not_allowed"));
    let (status, _) = ann.rename(&group, "Crag").await?;
    assert_eq!(status, 200, "an admin still renames");

    assert_eq!(
        cat.timeline(&group).await?,
        [
            "role_changed dan",
            "ownership_transferred ben",
            "renamed Bouldering",
            "role_changed cat",
            "member_removed dan",
            "renamed Crag",
        ]
    );
    let (_, page) = cat
        .get(&format!("/api/v1/conversations/{group}/messages"))
        .await?;
    let handover = page["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["system"]["kind"] == "ownership_transferred")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        handover["sender"]["username"], "ann",
        "the entry says who handed over: {handover}"
    );
    Ok(())
}

#[tokio::test]
async fn an_owner_who_leaves_hands_over_to_the_oldest_admin() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let [ann, ben, cat] = [
        User::new(&app, "ann").await?,
        User::new(&app, "ben").await?,
        User::new(&app, "cat").await?,
    ];
    User::new(&app, "dan").await?;
    let group = ann.group("Climbing", &["ben", "cat", "dan"]).await?;
    // Open before the role changes, so that every entry of the group reaches it in order (a
    // socket opened right after a change may still get that change's frame, from before its
    // hello).
    let mut ben_socket = ben.socket(None).await?;
    // Dan is made an admin first, but Cat joined before him: the oldest admin is Cat, and
    // neither is the oldest member (Ben).
    for admin in ["dan", "cat"] {
        let (status, body) = ann.set_role(&group, admin, "admin").await?;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(next_entry(&mut ben_socket).await?, "role_changed dan");
    assert_eq!(next_entry(&mut ben_socket).await?, "role_changed cat");

    let (status, body) = ann.remove(&group, "ann").await?;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        next_entry(&mut ben_socket).await?,
        "ownership_transferred cat"
    );
    assert_eq!(next_entry(&mut ben_socket).await?, "member_left ann");
    assert_eq!(
        ben.members(&group).await?,
        pairs(&[("ben", "member"), ("cat", "owner"), ("dan", "admin")])
    );
    assert_eq!(
        ben.timeline(&group).await?,
        [
            "role_changed dan",
            "role_changed cat",
            "ownership_transferred cat",
            "member_left ann",
        ]
    );
    assert_eq!(role_in(&cat, &group).await?, "owner");
    let (status, body) = cat.remove(&group, "dan").await?;
    assert_eq!(status, 204, "the new owner removes an admin: {body}");
    let (status, _) = ann.get(&format!("/api/v1/conversations/{group}")).await?;
    assert_eq!(status, 404, "the old owner is gone");
    Ok(())
}

#[tokio::test]
async fn a_group_message_is_edited_by_its_sender_and_deleted_by_them_or_an_admin(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let [ann, ben, cat, dan] = [
        User::new(&app, "ann").await?,
        User::new(&app, "ben").await?,
        User::new(&app, "cat").await?,
        User::new(&app, "dan").await?,
    ];
    let group = ann.group("Climbing", &["ben", "cat", "dan"]).await?;
    let (status, body) = ann.set_role(&group, "dan", "admin").await?;
    assert_eq!(status, 200, "{body}");
    // Every member's socket, and the sender's other device.
    let mut sockets = vec![
        ("ann", ann.socket(None).await?),
        ("ben", ben.socket(None).await?),
        ("ben's other device", ben.socket(None).await?),
        ("cat", cat.socket(None).await?),
        ("dan", dan.socket(None).await?),
    ];

    let sent = ben.sent(&group, "helo", "b1").await?;
    let bens = id_of(&sent);
    let (status, edited) = ben.edit(&group, &bens, "hello").await?;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (&edited["message"]["body"], &edited["message"]["edited"]),
        (&json!("hello"), &json!(true))
    );
    let mut cases = Cases::new();
    for (case, who) in [
        ("another member edits", &cat),
        ("an admin edits", &dan),
        ("the owner edits", &ann),
    ] {
        let (status, body) = who.edit(&group, &bens, "not yours").await?;
        cases.record(
            case,
            expect_eq((status, code(&body)), refused(403, "not_sender")),
        );
    }
    ben.sent(&group, "after the edit", "b2").await?;
    for (who, socket) in &mut sockets {
        let frames = frames_before(socket, "after the edit").await?;
        let edits: Vec<_> = of_kind(&frames, "message.edited")
            .into_iter()
            .map(|f| {
                (
                    f["conversation_id"].clone(),
                    f["message_id"].clone(),
                    f["seq"].clone(),
                    f["body"].clone(),
                )
            })
            .collect();
        cases.record(
            format!("{who}'s socket gets the edit once"),
            expect_eq(
                edits,
                vec![(
                    json!(group),
                    json!(bens),
                    sent["message"]["seq"].clone(),
                    json!("hello"),
                )],
            ),
        );
    }
    let (_, page) = cat
        .get(&format!("/api/v1/conversations/{group}/messages"))
        .await?;
    let shown = page["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == bens.as_str())
        .cloned()
        .unwrap_or_default();
    cases.record(
        "history shows the edit",
        expect_eq(
            (shown["body"].clone(), shown["edited"].clone()),
            (json!("hello"), json!(true)),
        ),
    );

    let cats = id_of(&cat.sent(&group, "mine", "c1").await?);
    let anns = id_of(&ann.sent(&group, "from ann", "a1").await?);
    let (status, body) = cat.delete(&group, &anns).await?;
    cases.record(
        "a plain member deletes someone else's",
        expect_eq((status, code(&body)), refused(403, "not_sender")),
    );
    let (status, body) = cat.delete(&group, &cats).await?;
    cases.record(
        "the sender deletes their own",
        expect_eq((status, body), (204, Value::Null)),
    );
    let (status, body) = dan.delete(&group, &bens).await?;
    cases.record(
        "an admin deletes someone else's",
        expect_eq((status, body), (204, Value::Null)),
    );
    let (status, body) = ben.edit(&group, &bens, "back").await?;
    cases.record(
        "a deleted message is not edited",
        expect_eq((status, code(&body)), refused(409, "message_deleted")),
    );
    ann.sent(&group, "after the deletions", "a2").await?;
    for (who, socket) in &mut sockets {
        let frames = frames_before(socket, "after the deletions").await?;
        let deleted: Vec<_> = of_kind(&frames, "message.deleted")
            .into_iter()
            .map(|f| f["message_id"].clone())
            .collect();
        cases.record(
            format!("{who}'s socket gets each deletion once"),
            expect_eq(deleted, vec![json!(cats), json!(bens)]),
        );
        cases.record(
            format!("{who}'s socket gets no other edit"),
            expect_eq(of_kind(&frames, "message.edited"), Vec::<&Value>::new()),
        );
    }
    cases.record(
        "history shows the deletions and keeps the rest",
        expect_eq(
            ben.timeline(&group).await?,
            vec![
                "role_changed dan".to_owned(),
                "<deleted>".to_owned(),
                "after the edit".to_owned(),
                "<deleted>".to_owned(),
                "from ann".to_owned(),
                "after the deletions".to_owned(),
            ],
        ),
    );
    cases.finish()
}

#[tokio::test]
async fn the_member_limit_refuses_a_group_too_big_and_one_member_too_many() -> anyhow::Result<()> {
    let app = spawn_app(&[("MAX_GROUP_MEMBERS", "3")]).await?;
    let [ann, ben, cat, dan] = [
        User::new(&app, "ann").await?,
        User::new(&app, "ben").await?,
        User::new(&app, "cat").await?,
        User::new(&app, "dan").await?,
    ];

    let (status, body) = ann.create_group("Four", &["ben", "cat", "dan"]).await?;
    assert_eq!(
        (status, code(&body)),
        (
            422,
            ("validation_failed".to_owned(), Some("members".to_owned()))
        ),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 3")),
        "the message names the limit: {body}"
    );
    for user in [&ann, &ben, &cat, &dan] {
        let (status, list) = user.get("/api/v1/conversations").await?;
        assert_eq!(
            (status, &list["conversations"]),
            (200, &json!([])),
            "no group was made"
        );
    }

    // Four names, three people: the limit counts people.
    let (status, created) = ann
        .create_group("Three", &["ben", "Cat", "BEN", "ann"])
        .await?;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["conversation"]["member_count"], 3);
    let group = created["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let (status, body) = ann.add(&group, "dan").await?;
    assert_eq!((status, code(&body)), refused(409, "group_full"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 3")),
        "the message names the limit: {body}"
    );
    let three = pairs(&[("ann", "owner"), ("ben", "member"), ("cat", "member")]);
    assert_eq!(ann.members(&group).await?, three);
    assert!(ann.timeline(&group).await?.is_empty(), "no entry was made");
    assert_eq!(
        ann.listed(&group).await?.map(|c| c["member_count"].clone()),
        Some(json!(3))
    );
    let (status, _) = dan.get(&format!("/api/v1/conversations/{group}")).await?;
    assert_eq!(status, 404, "Dan is not in it");

    // Full is about the members now: once one leaves there is room again.
    let (status, _) = cat.remove(&group, "cat").await?;
    assert_eq!(status, 204);
    let (status, body) = ann.add(&group, "dan").await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        ann.members(&group).await?,
        pairs(&[("ann", "owner"), ("ben", "member"), ("dan", "member")])
    );
    Ok(())
}

#[tokio::test]
async fn a_removed_member_is_refused_everywhere_and_their_open_socket_hears_nothing_more(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let [ann, ben, cat] = [
        User::new(&app, "ann").await?,
        User::new(&app, "ben").await?,
        User::new(&app, "cat").await?,
    ];
    let group = ann.group("Climbing", &["ben", "cat"]).await?;
    let (status, body) = ann
        .post("/api/v1/conversations", json!({"with": "cat"}))
        .await?;
    assert_eq!(status, 201, "{body}");
    let pair = body["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bens = id_of(&ben.sent(&group, "from ben", "b1").await?);
    let cats = id_of(&cat.sent(&group, "from cat", "c1").await?);
    let mut ann_socket = ann.socket(None).await?;
    let mut ben_socket = ben.socket(None).await?;
    let mut cat_socket = cat.socket(None).await?;

    let (status, body) = ann.remove(&group, "cat").await?;
    assert_eq!(status, 204, "{body}");
    for socket in [&mut ann_socket, &mut cat_socket] {
        // A socket opened just after a send may still get that message, from before its hello.
        let mut entry = next_entry(socket).await?;
        while entry == "from ben" || entry == "from cat" {
            entry = next_entry(socket).await?;
        }
        assert_eq!(entry, "member_removed cat");
    }

    let mut cases = Cases::new();
    let refusals = [
        (
            "the members list",
            cat.get(&format!("/api/v1/conversations/{group}/members"))
                .await?,
        ),
        ("marking read", cat.mark_read(&group, 2).await?),
        (
            "deleting their own message",
            cat.delete(&group, &cats).await?,
        ),
        (
            "giving someone a role",
            cat.set_role(&group, "ben", "admin").await?,
        ),
        (
            "taking the group over",
            cat.set_role(&group, "cat", "owner").await?,
        ),
    ];
    for (case, (status, body)) in refusals {
        cases.record(
            case,
            expect_eq((status, code(&body)), refused(404, "not_found")),
        );
    }
    cases.record(
        "their message stays",
        expect_eq(
            ann.timeline(&group).await?,
            vec![
                "from ben".to_owned(),
                "from cat".to_owned(),
                "member_removed cat".to_owned(),
            ],
        ),
    );

    // Everything a group's members hear of, from the others, after the removal. Typing is
    // ephemeral and not in the log's order: Ann hearing it means the gateway has dispatched
    // it, to Cat too had it been addressed to her.
    ben_socket
        .send(json!({"type": "typing", "conversation_id": group}))
        .await?;
    let typing = ann_socket.next_of("typing").await?;
    assert_eq!(typing["conversation_id"], group.as_str(), "{typing}");
    ben.read_up_to(&group, 3).await?;
    let (status, body) = ben.edit(&group, &bens, "from ben, edited").await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = ann.delete(&group, &bens).await?;
    assert_eq!(status, 204, "{body}");
    ben.sent(&group, "after cat", "b2").await?;
    let (status, body) = ann.rename(&group, "Bouldering").await?;
    assert_eq!(status, 200, "{body}");
    // The marker: a message in a conversation Cat is still in, after all of it.
    ann.sent(&pair, "just us", "p1").await?;

    let heard = frames_before(&mut ann_socket, "just us").await?;
    let kinds: Vec<&str> = heard
        .iter()
        .filter(|f| f["conversation_id"] == group.as_str())
        .filter_map(|f| f["type"].as_str())
        .collect();
    cases.record(
        "the members heard all of it",
        expect_eq(
            kinds,
            vec![
                "read",
                "message.edited",
                "message.deleted",
                "message.new",
                "message.new",
            ],
        ),
    );
    let got = frames_before(&mut cat_socket, "just us").await?;
    let of_group: Vec<&Value> = got
        .iter()
        .filter(|f| f["conversation_id"] == group.as_str())
        .collect();
    cases.record(
        "the removed member's socket got nothing of the group",
        expect_eq(of_group, Vec::<&Value>::new()),
    );
    cases.finish()
}
