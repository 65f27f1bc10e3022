//! Conversations and messages over HTTP, against the app with real Postgres, Redis and NATS.

mod common;

use common::cases::{expect, expect_answer, expect_eq, expect_none_of, Cases};
use common::{spawn_app, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeSet;

use common::ApiUser as User;

impl User {
    async fn start_with(&self, peer: &str) -> anyhow::Result<String> {
        let (status, body) = self
            .post("/api/v1/conversations", json!({"with": peer}))
            .await?;
        anyhow::ensure!(status == 200 || status == 201, "start: {status} {body}");
        Ok(body["conversation"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    async fn send(
        &self,
        conversation: &str,
        body: &str,
        client_id: &str,
    ) -> anyhow::Result<(u16, Value)> {
        self.post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"body": body, "client_id": client_id}),
        )
        .await
    }

    async fn history(&self, conversation: &str, query: &str) -> anyhow::Result<(u16, Value)> {
        self.get(&format!(
            "/api/v1/conversations/{conversation}/messages{query}"
        ))
        .await
    }

    async fn conversations(&self) -> anyhow::Result<Vec<Value>> {
        let (status, body) = self.get("/api/v1/conversations").await?;
        anyhow::ensure!(status == 200, "list: {status} {body}");
        Ok(body["conversations"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}

fn bodies(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["body"].as_str().unwrap_or("<deleted>").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn two_users_talk_and_read_their_history_back() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = User::new(&app, "alice").await?;
    let bob = User::new(&app, "bob").await?;

    let (status, started) = alice
        .post("/api/v1/conversations", json!({"with": "Bob"}))
        .await?;
    assert_eq!(status, 201, "{started}");
    let id = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let members: BTreeSet<&str> = started["conversation"]["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["username"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(members, BTreeSet::from(["alice", "bob"]));
    // The same pair always gets the same conversation, from either side.
    let (status, again) = alice
        .post("/api/v1/conversations", json!({"with": "bob"}))
        .await?;
    assert_eq!(
        (status, again["conversation"]["id"].as_str()),
        (200, Some(id.as_str()))
    );
    assert_eq!(bob.start_with("alice").await?, id);

    let hostile = "<img src=x onerror=alert(1)> & 👋 Привет";
    let (status, sent) = alice.send(&id, hostile, "a-1").await?;
    assert_eq!(status, 201, "{sent}");
    let message = &sent["message"];
    assert_eq!(message["seq"], 1);
    assert_eq!(message["body"], hostile, "stored exactly as sent");
    assert_eq!(message["sender"]["username"], "alice");
    assert_eq!(message["client_id"], "a-1");
    assert_eq!(message["conversation_id"], id.as_str());
    assert!(message["sent_at"].as_str().is_some());

    // Read-your-writes: the history right after the send has it.
    let (status, page) = alice.history(&id, "").await?;
    assert_eq!(status, 200);
    assert_eq!(bodies(&page), [hostile]);

    let (status, reply) = bob
        .post(
            "/api/v1/messages",
            json!({"to": "alice", "body": "hi alice", "client_id": "b-1"}),
        )
        .await?;
    assert_eq!((status, &reply["message"]["seq"]), (201, &json!(2)));
    let (_, page) = bob.history(&id, "").await?;
    assert_eq!(bodies(&page), [hostile, "hi alice"]);
    assert_eq!(page["next_before"], Value::Null);

    let listed = alice.conversations().await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["peer"]["username"], "bob");
    assert_eq!(listed[0]["last_message"]["body"], "hi alice");
    assert_eq!(listed[0]["unread"], 1);
    Ok(())
}

#[tokio::test]
async fn conversations_are_listed_most_recent_activity_first() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = User::new(&app, "alice").await?;
    User::new(&app, "bob").await?;
    User::new(&app, "carol").await?;
    let with_bob = alice.start_with("bob").await?;
    let with_carol = alice.start_with("carol").await?;
    alice.send(&with_bob, "to bob", "1").await?;
    alice.send(&with_carol, "to carol", "2").await?;
    let order: Vec<String> = alice
        .conversations()
        .await?
        .iter()
        .filter_map(|c| c["peer"]["username"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(order, ["carol", "bob"]);
    alice.send(&with_bob, "again", "3").await?;
    let first = alice.conversations().await?[0]["peer"]["username"].clone();
    assert_eq!(first, "bob");
    Ok(())
}

#[tokio::test]
async fn a_resent_message_with_the_same_client_id_is_stored_once() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = User::new(&app, "alice").await?;
    User::new(&app, "bob").await?;
    User::new(&app, "carol").await?;
    let id = alice.start_with("bob").await?;
    let (status, first) = alice.send(&id, "only once", "retry-me").await?;
    assert_eq!(status, 201);
    let (status, again) = alice.send(&id, "only once", "retry-me").await?;
    assert_eq!(status, 200);
    assert_eq!(again["message"]["id"], first["message"]["id"]);
    assert_eq!(again["message"]["seq"], first["message"]["seq"]);
    // Through the by-username endpoint it is the same message too.
    let (status, via_name) = alice
        .post(
            "/api/v1/messages",
            json!({"to": "bob", "body": "only once", "client_id": "retry-me"}),
        )
        .await?;
    assert_eq!(
        (status, &via_name["message"]["id"]),
        (200, &first["message"]["id"])
    );
    let (_, page) = alice.history(&id, "").await?;
    assert_eq!(bodies(&page), ["only once"]);

    // The same client id in another conversation is another message.
    let other = alice.start_with("carol").await?;
    let (status, _) = alice.send(&other, "hello carol", "retry-me").await?;
    assert_eq!(status, 201);
    Ok(())
}

#[tokio::test]
async fn history_pages_back_through_250_messages() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = User::new(&app, "alice").await?;
    User::new(&app, "bob").await?;
    let id = alice.start_with("bob").await?;
    for n in 1..=250 {
        let (status, body) = alice
            .send(&id, &format!("message {n}"), &format!("c{n}"))
            .await?;
        anyhow::ensure!(status == 201, "send {n}: {body}");
    }
    let mut seen = Vec::new();
    let mut query = "?limit=100".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = alice.history(&id, &query).await?;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let seqs: Vec<i64> = page["messages"]
            .as_array()
            .map(|m| m.iter().filter_map(|m| m["seq"].as_i64()).collect())
            .unwrap_or_default();
        assert!(
            seqs.windows(2).all(|w| w[0] + 1 == w[1]),
            "oldest first, dense: {seqs:?}"
        );
        seen.splice(0..0, seqs);
        match page["next_before"].as_i64() {
            Some(before) => query = format!("?limit=100&before={before}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=250).collect::<Vec<_>>());

    let (_, default_page) = alice.history(&id, "").await?;
    assert_eq!(default_page["messages"].as_array().map(Vec::len), Some(50));
    assert_eq!(default_page["messages"][49]["body"], "message 250");
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
        ("?before=0", "before"),
        ("?before=abc", "before"),
    ] {
        let (status, error) = alice.history(&id, query).await?;
        assert_eq!(
            (status, &error["error"]["field"]),
            (422, &json!(field)),
            "{query}"
        );
    }
    Ok(())
}

/// A route about one conversation (and maybe one of its messages), as an outsider calls it.
struct Route {
    name: &'static str,
    method: reqwest::Method,
    /// With `{c}` for the conversation id and `{m}` for the message id.
    path: &'static str,
    body: Option<Value>,
}

impl Route {
    fn new(name: &'static str, method: reqwest::Method, path: &'static str) -> Self {
        Self {
            name,
            method,
            path,
            body: None,
        }
    }

    fn with(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    async fn call(
        &self,
        user: &User,
        conversation: &str,
        message: &str,
    ) -> anyhow::Result<(u16, Value)> {
        let path = self
            .path
            .replace("{c}", conversation)
            .replace("{m}", message);
        user.call(self.method.clone(), &path, self.body.clone())
            .await
    }
}

#[tokio::test]
async fn outsiders_get_404_for_everything_about_a_conversation() -> anyhow::Result<()> {
    use reqwest::Method;
    let app = spawn_app(&[]).await?;
    let alice = User::new(&app, "alice").await?;
    User::new(&app, "bob").await?;
    let eve = User::new(&app, "eve").await?;
    let id = alice.start_with("bob").await?;
    let (_, sent) = alice.send(&id, "private", "p1").await?;
    let message_id = sent["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Eve has a conversation of her own, whose id she may use with alice's message id.
    let own = eve.start_with("bob").await?;
    let unknown = "00000000-0000-0000-0000-000000000000";

    let routes = [
        Route::new("get", Method::GET, "/api/v1/conversations/{c}"),
        Route::new("history", Method::GET, "/api/v1/conversations/{c}/messages"),
        Route::new("send", Method::POST, "/api/v1/conversations/{c}/messages")
            .with(json!({"body": "let me in", "client_id": "e1"})),
        Route::new("read", Method::POST, "/api/v1/conversations/{c}/read")
            .with(json!({"up_to": 1})),
        Route::new(
            "edit",
            Method::PATCH,
            "/api/v1/conversations/{c}/messages/{m}",
        )
        .with(json!({"body": "mine now"})),
        Route::new(
            "delete",
            Method::DELETE,
            "/api/v1/conversations/{c}/messages/{m}",
        ),
    ];
    let mut cases = Cases::new();
    for route in &routes {
        // Whatever the route, the conversation (or the message) is not there for eve: the same
        // answer as for an id that never existed there, and nothing of what it holds.
        let mut attempts = vec![(
            format!("{} on alice's conversation", route.name),
            id.as_str(),
            unknown,
        )];
        if route.path.contains("{m}") {
            attempts.push((
                format!(
                    "{} of alice's message through eve's own conversation",
                    route.name
                ),
                own.as_str(),
                own.as_str(),
            ));
        }
        for (case, conversation, baseline) in attempts {
            let outcome = async {
                let never = route.call(&eve, baseline, unknown).await?;
                let got = route.call(&eve, conversation, &message_id).await?;
                expect_answer(&got, 404, &[("/error/code", json!("not_found"))])?;
                expect_eq(&got, &never)?;
                let text = got.1.to_string();
                expect_none_of(&text, &["private", "alice", "bob", message_id.as_str()])
            }
            .await;
            cases.record(case, outcome);
        }
    }
    cases.record(
        "an id that is not an id looks like one that does not exist",
        async {
            let got = eve.history("not-an-id", "").await?;
            expect_answer(&got, 404, &[("/error/code", json!("not_found"))])
        }
        .await,
    );
    // Starting "with bob", or sending to bob by name, gives eve her own conversation with him,
    // never alice's.
    cases.record(
        "start",
        async {
            let (status, started) = eve
                .post("/api/v1/conversations", json!({"with": "bob"}))
                .await?;
            expect_eq(status, 200)?;
            let got = started["conversation"]["id"].as_str().unwrap_or_default();
            expect(got == own && got != id, format!("started {got}"))?;
            expect(
                !started.to_string().contains("private"),
                format!("leaks: {started}"),
            )
        }
        .await,
    );
    cases.record(
        "send to bob by name",
        async {
            let (status, sent) = eve
                .post(
                    "/api/v1/messages",
                    json!({"to": "bob", "body": "hi bob", "client_id": "e2"}),
                )
                .await?;
            expect_eq(status, 201)?;
            expect_eq(
                sent["message"]["conversation_id"].as_str(),
                Some(own.as_str()),
            )
        }
        .await,
    );
    cases.record(
        "eve's list holds only her own conversation",
        async {
            let listed: Vec<String> = eve
                .conversations()
                .await?
                .iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect();
            expect_eq(listed, vec![own.clone()])
        }
        .await,
    );
    cases.finish()?;
    let (_, page) = alice.history(&id, "").await?;
    assert_eq!(bodies(&page), ["private"], "nothing changed");
    assert_eq!(page["messages"][0]["edited"], false);
    assert_eq!(
        alice.conversations().await?[0]["unread"],
        0,
        "no read by eve"
    );
    Ok(())
}

#[tokio::test]
async fn reading_lowers_unread_and_shows_the_peer_a_receipt() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = User::new(&app, "alice").await?;
    let bob = User::new(&app, "bob").await?;
    let id = alice.start_with("bob").await?;
    for n in 1..=3 {
        alice.send(&id, &format!("m{n}"), &format!("c{n}")).await?;
    }
    assert_eq!(bob.conversations().await?[0]["unread"], 3);
    assert_eq!(
        alice.conversations().await?[0]["unread"],
        0,
        "own messages are not unread"
    );

    let (status, _) = bob
        .post(
            &format!("/api/v1/conversations/{id}/read"),
            json!({"up_to": 2}),
        )
        .await?;
    assert_eq!(status, 204);
    let bobs = &bob.conversations().await?[0];
    assert_eq!(
        (bobs["unread"].as_i64(), bobs["read_up_to"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(alice.conversations().await?[0]["peer_read_up_to"], 2);
    let (_, page) = alice.history(&id, "").await?;
    assert_eq!(page["peer_read_up_to"], 2);

    // Reading backwards changes nothing; past the end means everything.
    bob.post(
        &format!("/api/v1/conversations/{id}/read"),
        json!({"up_to": 1}),
    )
    .await?;
    assert_eq!(bob.conversations().await?[0]["unread"], 1);
    bob.post(
        &format!("/api/v1/conversations/{id}/read"),
        json!({"up_to": 99}),
    )
    .await?;
    assert_eq!(bob.conversations().await?[0]["unread"], 0);
    assert_eq!(alice.conversations().await?[0]["peer_read_up_to"], 3);

    let (status, error) = bob
        .post(
            &format!("/api/v1/conversations/{id}/read"),
            json!({"up_to": -1}),
        )
        .await?;
    assert_eq!((status, &error["error"]["field"]), (422, &json!("up_to")));
    let (status, error) = bob
        .post(&format!("/api/v1/conversations/{id}/read"), json!({}))
        .await?;
    assert_eq!((status, &error["error"]["field"]), (422, &json!("up_to")));
    Ok(())
}

#[tokio::test]
async fn edits_and_deletions_show_in_history_without_the_old_text() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = User::new(&app, "alice").await?;
    let bob = User::new(&app, "bob").await?;
    let id = alice.start_with("bob").await?;
    let (_, first) = alice.send(&id, "original typo", "c1").await?;
    let (_, second) = alice.send(&id, "regrettable", "c2").await?;
    let first_id = first["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let second_id = second["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = |m: &str| format!("/api/v1/conversations/{id}/messages/{m}");

    let (status, edited) = alice
        .call(
            reqwest::Method::PATCH,
            &path(&first_id),
            Some(json!({"body": "original, fixed"})),
        )
        .await?;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["message"]["body"], "original, fixed");
    assert_eq!(edited["message"]["edited"], true);

    let (status, refused) = bob
        .call(
            reqwest::Method::PATCH,
            &path(&first_id),
            Some(json!({"body": "bob was here"})),
        )
        .await?;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (403, &json!("not_sender"))
    );
    let (status, _) = bob
        .call(reqwest::Method::DELETE, &path(&first_id), None)
        .await?;
    assert_eq!(status, 403);

    let (status, _) = alice
        .call(reqwest::Method::DELETE, &path(&second_id), None)
        .await?;
    assert_eq!(status, 204);
    let (status, _) = alice
        .call(reqwest::Method::DELETE, &path(&second_id), None)
        .await?;
    assert_eq!(status, 204, "deleting twice is harmless");
    let (status, error) = alice
        .call(
            reqwest::Method::PATCH,
            &path(&second_id),
            Some(json!({"body": "undo"})),
        )
        .await?;
    assert_eq!(
        (status, &error["error"]["code"]),
        (409, &json!("message_deleted"))
    );

    for viewer in [&alice, &bob] {
        let (_, page) = viewer.history(&id, "").await?;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        assert_eq!(messages[0]["body"], "original, fixed");
        assert_eq!(messages[0]["edited"], true);
        assert_eq!(messages[1]["deleted"], true);
        assert_eq!(messages[1]["body"], Value::Null);
        let text = page.to_string();
        assert!(
            !text.contains("typo") && !text.contains("regrettable"),
            "{text}"
        );
    }
    let (status, _) = alice
        .call(
            reqwest::Method::DELETE,
            &path("00000000-0000-0000-0000-000000000000"),
            None,
        )
        .await?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test]
async fn eight_concurrent_senders_get_dense_seqs_without_duplicates() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = std::sync::Arc::new(User::new(&app, "alice").await?);
    let bob = std::sync::Arc::new(User::new(&app, "bob").await?);
    let id = alice.start_with("bob").await?;
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..8 {
        let user = if s % 2 == 0 {
            alice.clone()
        } else {
            bob.clone()
        };
        let id = id.clone();
        senders.spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..10 {
                let (status, body) = user
                    .send(&id, &format!("{s}/{n}"), &format!("s{s}-{n}"))
                    .await?;
                anyhow::ensure!(status == 201, "{status} {body}");
                seqs.push(body["message"]["seq"].as_i64().unwrap_or(-1));
            }
            anyhow::Ok(seqs)
        });
    }
    let mut all = Vec::new();
    while let Some(seqs) = senders.join_next().await {
        all.extend(seqs??);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=80).collect::<Vec<_>>());
    let (_, page) = alice.history(&id, "?limit=100").await?;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(80));
    Ok(())
}

#[tokio::test]
async fn invalid_sends_name_their_field_and_store_nothing() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = User::new(&app, "alice").await?;
    User::new(&app, "bob").await?;
    let id = alice.start_with("bob").await?;
    let long = "x".repeat(4_001);
    let cases = [
        (json!({"body": "   ", "client_id": "c"}), "body"),
        (json!({"body": long, "client_id": "c"}), "body"),
        (json!({"client_id": "c"}), "body"),
        (json!({"body": "hi"}), "client_id"),
        (json!({"body": "hi", "client_id": ""}), "client_id"),
        (
            json!({"body": "hi", "client_id": "c".repeat(65)}),
            "client_id",
        ),
        (json!({"body": 5, "client_id": "c"}), "body"),
        // Not an outage: a NUL used to answer 503 "unavailable" and page whoever was on call.
        (json!({"body": "a\u{0}b", "client_id": "c"}), "body"),
        (json!({"body": "red \u{1b}[31m", "client_id": "c"}), "body"),
    ];
    for (request, field) in cases {
        let (status, error) = alice
            .post(
                &format!("/api/v1/conversations/{id}/messages"),
                request.clone(),
            )
            .await?;
        assert_eq!(
            (status, &error["error"]["field"]),
            (422, &json!(field)),
            "{request}"
        );
    }
    let (status, error) = alice
        .post(
            "/api/v1/messages",
            json!({"to": "nobody", "body": "hi", "client_id": "c"}),
        )
        .await?;
    assert_eq!((status, &error["error"]["field"]), (422, &json!("to")));
    let (status, error) = alice
        .post(
            "/api/v1/messages",
            json!({"to": "bob", "body": "\u{0}", "client_id": "c"}),
        )
        .await?;
    assert_eq!((status, &error["error"]["field"]), (422, &json!("body")));
    let (status, sent) = alice.send(&id, "kept", "kept").await?;
    assert_eq!(status, 201, "{sent}");
    let edit = format!(
        "/api/v1/conversations/{id}/messages/{}",
        sent["message"]["id"].as_str().unwrap_or_default()
    );
    let (status, error) = alice
        .call(
            reqwest::Method::PATCH,
            &edit,
            Some(json!({"body": "x\u{0}"})),
        )
        .await?;
    assert_eq!((status, &error["error"]["field"]), (422, &json!("body")));
    for with in ["nobody", "alice", "x"] {
        let (status, error) = alice
            .post("/api/v1/conversations", json!({"with": with}))
            .await?;
        assert_eq!(
            (status, &error["error"]["field"]),
            (422, &json!("with")),
            "{with}"
        );
    }
    let (_, page) = alice.history(&id, "").await?;
    assert_eq!(bodies(&page), ["kept"]);
    assert_eq!(page["messages"][0]["edited"], json!(false));
    assert_eq!(alice.conversations().await?.len(), 1);
    Ok(())
}

async fn dump_history(app: &TestApp) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    for query in [
        "SELECT row_to_json(t)::text FROM (SELECT * FROM history.conversations ORDER BY conversation_id) t",
        "SELECT row_to_json(t)::text FROM (SELECT * FROM history.members ORDER BY user_id, conversation_id) t",
        "SELECT row_to_json(t)::text FROM (SELECT * FROM history.messages ORDER BY conversation_id, seq) t",
    ] {
        let part: Vec<String> = sqlx::query_scalar(query).fetch_all(&app.db.pool).await?;
        rows.extend(part);
    }
    Ok(rows)
}

#[tokio::test]
async fn a_rebuilt_history_equals_the_live_one() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = User::new(&app, "alice").await?;
    let bob = User::new(&app, "bob").await?;
    User::new(&app, "carol").await?;
    let id = alice.start_with("bob").await?;
    let other = alice.start_with("carol").await?;
    for n in 0..20 {
        for (sender, name) in [(&alice, "a"), (&bob, "b")] {
            let text = format!("{name}{n}");
            let (status, sent) = sender.send(&id, &text, &text).await?;
            assert_eq!(status, 201, "{text}: {sent}");
        }
    }
    let (status, sent) = alice.send(&other, "hi carol", "c").await?;
    assert_eq!(status, 201, "{sent}");
    // Every kind of change goes into the comparison: an edit and a delete, each by the message's
    // sender (anyone else is refused and changes nothing), and a read.
    let (status, page) = alice.history(&id, "?limit=3").await?;
    assert_eq!(status, 200, "{page}");
    let id_of = |body: &str| {
        page["messages"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["body"] == body))
            .and_then(|m| m["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("{body} is not among the last three: {page}"))
    };
    let (edited, deleted) = (id_of("b19")?, id_of("a19")?);
    let (status, body) = bob
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/conversations/{id}/messages/{edited}"),
            Some(json!({"body": "edited"})),
        )
        .await?;
    assert_eq!(status, 200, "bob edits his b19: {body}");
    let (status, body) = alice
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/conversations/{id}/messages/{deleted}"),
            None,
        )
        .await?;
    assert_eq!(status, 204, "alice deletes her a19: {body}");
    let (status, body) = bob
        .post(
            &format!("/api/v1/conversations/{id}/read"),
            json!({"up_to": 30}),
        )
        .await?;
    assert_eq!(status, 204, "bob reads: {body}");
    // Writes answer without waiting for the read model; a read waits until it has caught up.
    bob.history(&id, "?limit=1").await?;

    let live = dump_history(&app).await?;
    assert!(live.len() > 40);
    let row_of = |message: &str| {
        live.iter()
            .filter_map(|row| serde_json::from_str::<Value>(row).ok())
            .find(|row| row["message_id"] == message)
            .ok_or_else(|| anyhow::anyhow!("no row for message {message}"))
    };
    let edited_row = row_of(&edited)?;
    assert!(
        edited_row["body"] == "edited" && edited_row["edited_at"].is_string(),
        "the edit is in the compared read model: {edited_row}"
    );
    let deleted_row = row_of(&deleted)?;
    assert!(
        deleted_row["body"].is_null() && deleted_row["deleted_at"].is_string(),
        "the delete is in the compared read model: {deleted_row}"
    );
    let store = eventstore::EventStore::new(app.db.pool.clone());
    let report = projections::rebuild(&store, &projections::history::History).await?;
    assert!(report.events_applied > 40);
    let rebuilt = dump_history(&app).await?;
    let differing: Vec<(&String, &String)> =
        live.iter().zip(&rebuilt).filter(|(l, r)| l != r).collect();
    assert!(
        live.len() == rebuilt.len() && differing.is_empty(),
        "live {} rows, rebuilt {}; {} differ, the first (live, rebuilt): {:?}",
        live.len(),
        rebuilt.len(),
        differing.len(),
        differing.first()
    );

    // The service keeps working on the swapped-in tables.
    let (status, _) = alice.send(&id, "after the rebuild", "after").await?;
    assert_eq!(status, 201);
    let (_, page) = alice.history(&id, "?limit=1").await?;
    assert_eq!(bodies(&page), ["after the rebuild"]);
    Ok(())
}

#[tokio::test]
async fn malformed_paths_and_queries_are_answered_in_the_json_error_shape() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = User::new(&app, "alice").await?;
    User::new(&app, "bob").await?;
    let id = alice.start_with("bob").await?;
    let cases = [
        ("/api/v1/conversations/%FF".to_owned(), 404, None),
        ("/api/v1/conversations/%FF/messages".to_owned(), 404, None),
        ("/api/v1/users/%FF%FE".to_owned(), 404, None),
        (
            format!("/api/v1/conversations/{id}/messages?limit=1&limit=2"),
            422,
            Some("limit"),
        ),
        (
            format!("/api/v1/conversations/{id}/messages?before=1&before=2"),
            422,
            Some("before"),
        ),
        ("/api/v1/ws?after=1&after=2".to_owned(), 422, Some("after")),
    ];
    for (path, status, field) in cases {
        // `call` fails unless the answer is JSON.
        let (got, body) = alice.get(&path).await?;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
        assert_eq!(body["error"]["field"].as_str(), field, "{path}: {body}");
    }
    let path = format!("/api/v1/conversations/{id}/messages/%C3%28");
    let (status, body) = alice.call(reqwest::Method::DELETE, &path, None).await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    Ok(())
}
