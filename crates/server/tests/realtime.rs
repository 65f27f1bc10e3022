//! Real time over WebSockets, against the app with real Postgres, Redis and NATS JetStream.

mod common;

use common::cases::{expect, expect_eq, expect_none_of, Cases};
use common::{spawn_app, TestApp};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::free_port;
use testkit::ws::{Connect, End, Message, Socket};
use tokio::net::TcpStream;

/// The close code of a frame over the size limit (RFC 6455 "message too big").
const MESSAGE_TOO_BIG: u16 = 1009;

struct Person {
    name: String,
    token: String,
    http: reqwest::Client,
}

impl Person {
    async fn new(app: &TestApp, name: &str) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.to_owned(),
            token: app.signed_up(name).await?,
            http: reqwest::Client::new(),
        })
    }

    async fn socket(&self, base: &str) -> anyhow::Result<Socket> {
        Connect::new(base).bearer(&self.token).open().await
    }

    async fn start_with(&self, base: &str, peer: &Person) -> anyhow::Result<String> {
        let body: Value = self
            .http
            .post(format!("{base}/api/v1/conversations"))
            .bearer_auth(&self.token)
            .json(&json!({"with": peer.name}))
            .send()
            .await?
            .json()
            .await?;
        Ok(body["conversation"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    async fn send_rest(&self, base: &str, to: &Person, body: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{base}/api/v1/messages"))
            .bearer_auth(&self.token)
            .json(&json!({"to": to.name, "body": body, "client_id": uuid::Uuid::new_v4().to_string()}))
            .send()
            .await?;
        anyhow::ensure!(response.status() == 201, "send: {}", response.status());
        Ok(response.json().await?)
    }

    async fn profile(&self, base: &str, of: &Person) -> anyhow::Result<Value> {
        let body: Value = self
            .http
            .get(format!("{base}/api/v1/users/{}", of.name))
            .bearer_auth(&self.token)
            .send()
            .await?
            .json()
            .await?;
        Ok(body["user"].clone())
    }
}

#[tokio::test]
async fn messages_reach_every_socket_of_both_members_and_no_other() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    let carol = Person::new(&app, "carol").await?;
    let mut alice_laptop = alice.socket(&app.base).await?;
    let mut alice_phone = alice.socket(&app.base).await?;
    let mut bob_tab = bob.socket(&app.base).await?;
    let mut carol_tab = carol.socket(&app.base).await?;

    alice.send_rest(&app.base, &bob, "hello bob").await?;
    for socket in [&mut bob_tab, &mut alice_laptop, &mut alice_phone] {
        let frame = socket.next_of("message.new").await?;
        assert_eq!(frame["message"]["body"], "hello bob");
        assert_eq!(frame["message"]["sender"]["username"], "alice");
        assert_eq!(frame["cursor"], frame["message"]["cursor"]);
        assert!(frame["cursor"].as_i64().unwrap_or(0) > 0);
    }

    // A send over the socket is acknowledged, and reaches everyone including the sender's devices.
    bob_tab
        .send(json!({"type": "send", "to": "alice", "body": "hi alice", "client_id": "b1"}))
        .await?;
    // The ack and the sender's own copy travel separately (the copy through the bus): either may
    // come first, and the one read past stays unread for the other read.
    let ack = bob_tab.next_of("ack").await?;
    let own = bob_tab.next_of("message.new").await?;
    assert_eq!(ack["client_id"], "b1");
    assert_eq!(ack["message"]["seq"], 2);
    assert_eq!(own["message"]["body"], "hi alice");
    for socket in [&mut alice_laptop, &mut alice_phone] {
        assert_eq!(socket.bodies(1).await?, ["hi alice"]);
    }
    // The same client id again: acknowledged with the same message, nothing new delivered.
    bob_tab
        .send(json!({"type": "send", "to": "alice", "body": "hi alice", "client_id": "b1"}))
        .await?;
    let again = bob_tab.next_of("ack").await?;
    assert_eq!(
        (again["created"].as_bool(), &again["message"]["id"]),
        (Some(false), &ack["message"]["id"])
    );

    carol_tab
        .assert_no("message.new", Duration::from_millis(500))
        .await?;
    alice_phone
        .assert_no("message.new", Duration::from_millis(300))
        .await?;
    Ok(())
}

#[tokio::test]
async fn many_sends_in_flight_on_one_socket_are_stored_and_acked_in_frame_order(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    let mut bob_tab = bob.socket(&app.base).await?;
    let mut alice_tab = alice.socket(&app.base).await?;
    // Fired without waiting for acks, some by username and some by conversation id.
    let id = alice.start_with(&app.base, &bob).await?;
    for n in 0..100 {
        let frame = if n % 2 == 0 {
            json!({"type": "send", "to": "bob", "body": format!("m{n}"), "client_id": format!("c{n}")})
        } else {
            json!({"type": "send", "conversation_id": id, "body": format!("m{n}"), "client_id": format!("c{n}")})
        };
        alice_tab.send(frame).await?;
    }
    let mut acked = Vec::new();
    while acked.len() < 100 {
        let ack = alice_tab.next_of("ack").await?;
        acked.push((
            ack["client_id"].as_str().unwrap_or_default().to_owned(),
            ack["message"]["seq"].as_i64().unwrap_or(0),
        ));
    }
    let expected: Vec<(String, i64)> = (0..100).map(|n| (format!("c{n}"), n + 1)).collect();
    assert_eq!(acked, expected, "acks in frame order, seqs in frame order");
    // The socket did not wait for each ack: its sends shared transactions.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT xmin::text) FROM events WHERE event_type = 'MessageSent'",
    )
    .fetch_one(&app.db.pool)
    .await?;
    assert!(
        transactions < 100,
        "{transactions} transactions for 100 sends"
    );
    let bodies = bob_tab.bodies(100).await?;
    assert_eq!(
        bodies,
        (0..100).map(|n| format!("m{n}")).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test]
async fn a_reconnecting_client_resumes_without_gaps_or_duplicates() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    let mut socket = alice.socket(&app.base).await?;
    bob.send_rest(&app.base, &alice, "one").await?;
    assert_eq!(socket.bodies(1).await?, ["one"]);
    let cursor = socket.cursor();
    drop(socket);

    for body in ["two", "three", "four"] {
        bob.send_rest(&app.base, &alice, body).await?;
    }
    let mut resumed = Connect::new(&app.base)
        .bearer(&alice.token)
        .after(Some(cursor))
        .open()
        .await?;
    assert_eq!(resumed.bodies(3).await?, ["two", "three", "four"]);
    bob.send_rest(&app.base, &alice, "five").await?;
    assert_eq!(resumed.bodies(1).await?, ["five"]);
    resumed
        .assert_no("message.new", Duration::from_millis(500))
        .await?;

    // Resuming with a frame instead of the URL works the same way.
    let mut again = alice.socket(&app.base).await?;
    again
        .send(json!({"type": "resume", "after": cursor}))
        .await?;
    assert_eq!(again.bodies(4).await?, ["two", "three", "four", "five"]);
    Ok(())
}

#[tokio::test]
async fn a_message_sent_through_one_gateway_reaches_a_socket_on_another() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let second = app.replica(&[server::Role::Api]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    let mut on_second = bob.socket(&second.base).await?;
    let mut on_first = bob.socket(&app.base).await?;
    alice.send_rest(&app.base, &bob, "via the first").await?;
    assert_eq!(on_second.bodies(1).await?, ["via the first"]);
    alice
        .send_rest(&second.base, &bob, "via the second")
        .await?;
    assert_eq!(
        on_first.bodies(2).await?,
        ["via the first", "via the second"]
    );
    assert_eq!(on_second.bodies(1).await?, ["via the second"]);

    // A client that switches gateways resumes from its cursor on the other one.
    let cursor = on_second.cursor();
    drop(on_second);
    alice.send_rest(&app.base, &bob, "while switching").await?;
    let mut switched = Connect::new(&app.base)
        .bearer(&bob.token)
        .after(Some(cursor))
        .open()
        .await?;
    assert_eq!(switched.bodies(1).await?, ["while switching"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_cut_off_while_a_fast_one_keeps_up() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = std::sync::Arc::new(Person::new(&app, "alice").await?);
    let bob = std::sync::Arc::new(Person::new(&app, "bob").await?);
    let mut fast = bob.socket(&app.base).await?;
    // A client that does not read, with a small receive window.
    let mut slow = Connect::new(&app.base)
        .bearer(&bob.token)
        .receive_buffer(4096)
        .open()
        .await?;

    // Enough data to fill the slow socket's kernel buffers and then its queue of 256 frames.
    const MESSAGES: usize = 700;
    // 4-byte characters: each frame carries about 16 KB.
    let body = "😀".repeat(3_990);
    let mut senders = tokio::task::JoinSet::new();
    for task in 0..8 {
        let (alice, bob, body, base) = (alice.clone(), bob.clone(), body.clone(), app.base.clone());
        senders.spawn(async move {
            for n in (task..MESSAGES).step_by(8) {
                alice.send_rest(&base, &bob, &format!("{n} {body}")).await?;
            }
            anyhow::Ok(())
        });
    }
    let mut received = 0;
    while received < MESSAGES {
        if let Err(e) = fast.next_of("message.new").await {
            anyhow::bail!("fast socket after {received} messages: {e}");
        }
        received += 1;
    }
    while let Some(done) = senders.join_next().await {
        done??;
    }
    let (end, got) = slow.until_end().await?;
    assert!(
        got < MESSAGES,
        "the slow socket was cut before it got everything ({got})"
    );
    assert!(
        matches!(end, End::Closed(Some(gateway::CLOSE_RESUME)) | End::Dropped),
        "{end:?}"
    );
    // The fast one is still connected and live.
    alice.send_rest(&app.base, &bob, "still here").await?;
    assert_eq!(fast.bodies(1).await?, ["still here"]);
    Ok(())
}

#[tokio::test]
async fn presence_follows_connects_and_disconnects() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    alice.start_with(&app.base, &bob).await?;
    assert_eq!(bob.profile(&app.base, &alice).await?["online"], false);

    let mut bob_socket = bob.socket(&app.base).await?;
    let alice_socket = alice.socket(&app.base).await?;
    let online = bob_socket.next_of("presence").await?;
    assert_eq!(
        (&online["user_id"], &online["online"]),
        (&json!(alice_socket_user(&app, &alice).await?), &json!(true))
    );
    let profile = bob.profile(&app.base, &alice).await?;
    assert_eq!(profile["online"], true);

    // A second device does not announce again; closing one of two keeps alice online.
    let second = alice.socket(&app.base).await?;
    drop(second);
    bob_socket
        .assert_no("presence", Duration::from_millis(500))
        .await?;
    assert_eq!(bob.profile(&app.base, &alice).await?["online"], true);

    drop(alice_socket);
    let offline = bob_socket.next_of("presence").await?;
    assert_eq!(offline["online"], false);
    assert!(offline["last_seen"].as_str().is_some());
    let profile = bob.profile(&app.base, &alice).await?;
    assert_eq!(profile["online"], false);
    assert!(profile["last_seen"].as_str().is_some());
    Ok(())
}

async fn alice_socket_user(app: &TestApp, person: &Person) -> anyhow::Result<String> {
    let me: Value = person
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&person.token)
        .send()
        .await?
        .json()
        .await?;
    Ok(me["user"]["id"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn users_of_a_killed_gateway_go_offline_by_themselves() -> anyhow::Result<()> {
    let app = spawn_app(&[("PRESENCE_TTL_MS", "1500")]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    alice.start_with(&app.base, &bob).await?;
    let mut bob_socket = bob.socket(&app.base).await?;

    // A second gateway as a real process, killed without any chance to clean up.
    let port = free_port()?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(["serve", "api"])
        .envs(app.vars.iter())
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()?;
    let child_base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(format!("{child_base}/healthz")).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::ensure!(ready, "the second gateway did not start");
    let _alice_socket = alice.socket(&child_base).await?;
    assert_eq!(bob_socket.next_of("presence").await?["online"], true);

    child.kill().await?;
    let started = std::time::Instant::now();
    let offline = bob_socket.next_of("presence").await?;
    assert_eq!(offline["online"], false);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(bob.profile(&app.base, &alice).await?["online"], false);
    Ok(())
}

#[tokio::test]
async fn typing_reaches_the_peer_and_is_rate_limited() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    let conversation = alice.start_with(&app.base, &bob).await?;
    let mut alice_socket = alice.socket(&app.base).await?;
    let mut bob_socket = bob.socket(&app.base).await?;
    alice_socket
        .send(json!({"type": "typing", "conversation_id": conversation}))
        .await?;
    let typing = bob_socket.next_of("typing").await?;
    assert_eq!(typing["conversation_id"], conversation.as_str());
    assert_eq!(typing["user"]["username"], "alice");
    assert!(typing["expires_in_ms"].as_u64().unwrap_or(0) > 0);
    for _ in 0..5 {
        alice_socket
            .send(json!({"type": "typing", "conversation_id": conversation}))
            .await?;
    }
    bob_socket
        .assert_no("typing", Duration::from_millis(700))
        .await
}

/// The error frame a socket answers `frame` with.
async fn refusal(socket: &mut Socket, frame: Value) -> anyhow::Result<Value> {
    socket.send(frame).await?;
    socket.next_of("error").await
}

#[tokio::test]
async fn an_outsiders_socket_gets_errors_and_nothing_of_a_conversation() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    let eve = Person::new(&app, "eve").await?;
    let conversation = alice.start_with(&app.base, &bob).await?;
    let mut alice_socket = alice.socket(&app.base).await?;
    let mut bob_socket = bob.socket(&app.base).await?;
    let mut eve_socket = eve.socket(&app.base).await?;
    alice.send_rest(&app.base, &bob, "private").await?;
    for socket in [&mut alice_socket, &mut bob_socket] {
        assert_eq!(socket.bodies(1).await?, ["private"]);
    }
    let unknown = uuid::Uuid::new_v4().to_string();

    let mut cases = Cases::new();
    for (case, frame) in [
        (
            "a send to the conversation's id",
            json!({"type": "send", "conversation_id": conversation, "body": "let me in", "client_id": "e1"}),
        ),
        (
            "typing in it",
            json!({"type": "typing", "conversation_id": conversation}),
        ),
    ] {
        // The same answer as for an id that never existed, naming nothing of the conversation.
        let never = frame.to_string().replace(&conversation, &unknown);
        let outcome = async {
            let got = refusal(&mut eve_socket, frame).await?;
            let want = refusal(&mut eve_socket, serde_json::from_str(&never)?).await?;
            expect_eq(&got["code"], &json!("not_found"))?;
            expect_eq(&got, &want)?;
            let text = got.to_string();
            expect_none_of(&text, &["private", "alice", "bob", conversation.as_str()])
        }
        .await;
        cases.record(case, outcome);
    }
    // A send by name to a member lands in eve's own conversation with him, never in theirs.
    cases.record(
        "a send to bob by name",
        async {
            eve_socket
                .send(json!({"type": "send", "to": "bob", "body": "hi bob", "client_id": "e2"}))
                .await?;
            let ack = eve_socket.next_of("ack").await?;
            let landed = ack["message"]["conversation_id"]
                .as_str()
                .unwrap_or_default();
            expect(landed != conversation, format!("landed in {landed}"))
        }
        .await,
    );
    // Resuming from the start, by frame or by URL, replays eve's own events only.
    let mut resumed = Connect::new(&app.base)
        .bearer(&eve.token)
        .after(Some(0))
        .open()
        .await?;
    eve_socket
        .send(json!({"type": "resume", "after": 0}))
        .await?;
    for (case, socket) in [
        ("a resume frame", &mut eve_socket),
        ("a resume in the URL", &mut resumed),
    ] {
        let outcome = async {
            let mut seen = Vec::new();
            loop {
                let frame =
                    match tokio::time::timeout(Duration::from_millis(700), socket.next()).await {
                        Ok(frame) => frame?,
                        Err(_) => break,
                    };
                seen.push(frame);
            }
            let text = serde_json::to_string(&seen)?;
            expect(
                !text.contains(&conversation) && !text.contains("private"),
                format!("replayed their conversation: {text}"),
            )?;
            // Not an empty replay: eve's own conversation is in it.
            expect(
                text.contains("hi bob"),
                format!("eve's own message is missing: {text}"),
            )
        }
        .await;
        cases.record(case, outcome);
    }
    // Nothing of eve's reached alice or bob about their conversation.
    cases.record(
        "no typing reached bob",
        bob_socket
            .assert_no("typing", Duration::from_millis(300))
            .await,
    );
    cases.finish()?;
    let history: Value = alice
        .http
        .get(app.url(&format!("/api/v1/conversations/{conversation}/messages")))
        .bearer_auth(&alice.token)
        .send()
        .await?
        .json()
        .await?;
    let bodies: Vec<&str> = history["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["body"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(bodies, ["private"], "nothing was added");
    alice_socket
        .assert_no("message.new", Duration::from_millis(300))
        .await
}

#[tokio::test]
async fn bad_frames_get_errors_and_hurt_no_other_socket() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    let mut bob_socket = bob.socket(&app.base).await?;
    let mut socket = alice.socket(&app.base).await?;

    socket
        .send_message(Message::Text("not json".into()))
        .await?;
    assert_eq!(socket.next_of("error").await?["code"], "invalid_frame");
    socket.send(json!({"type": "dance"})).await?;
    assert_eq!(socket.next_of("error").await?["code"], "unknown_type");
    socket
        .send_message(Message::Binary(vec![1, 2, 3].into()))
        .await?;
    assert_eq!(socket.next_of("error").await?["code"], "invalid_frame");
    socket
        .send(json!({"type": "send", "to": "bob", "body": "  ", "client_id": "c"}))
        .await?;
    let error = socket.next_of("error").await?;
    assert_eq!(
        (&error["field"], &error["client_id"]),
        (&json!("body"), &json!("c"))
    );
    // Still usable after errors.
    socket
        .send(json!({"type": "send", "to": "bob", "body": "fine", "client_id": "c2"}))
        .await?;
    assert_eq!(socket.next_of("ack").await?["message"]["body"], "fine");

    // Too large: the socket is closed with "message too big"; others are unaffected.
    socket
        .send_message(Message::Text("x".repeat(64 * 1024).into()))
        .await?;
    let (end, _) = socket.until_end().await?;
    assert_eq!(end, End::Closed(Some(MESSAGE_TOO_BIG)));
    assert_eq!(bob_socket.bodies(1).await?, ["fine"]);
    alice.send_rest(&app.base, &bob, "after").await?;
    assert_eq!(bob_socket.bodies(1).await?, ["after"]);
    Ok(())
}

#[tokio::test]
async fn upgrades_need_a_session_and_cookies_need_our_origin() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    assert_eq!(Connect::new(&app.base).status().await?, 401);
    app.register("dora", "correct horse battery").await?;
    let tab = app.browser();
    let login = app
        .login_with(&tab, "dora", "correct horse battery")
        .await?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    for (origin, expected) in [("http://evil.example", 403), ("http://chat.test", 101)] {
        let status = Connect::new(&app.base)
            .cookie(&cookie)
            .origin(origin)
            .status()
            .await?;
        assert_eq!(status, expected, "an upgrade from {origin}");
    }
    Ok(())
}

/// A NATS server of this test's own, so it can be killed and restarted without disturbing others.
struct OwnNats {
    port: u16,
    store: std::path::PathBuf,
    child: Option<tokio::process::Child>,
}

impl OwnNats {
    async fn start(port: u16, store: std::path::PathBuf) -> anyhow::Result<Self> {
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nats-server");
        let child = tokio::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(Self {
                    port,
                    store,
                    child: Some(child),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("nats-server did not start on {port}")
    }

    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_nats_restarts_mid_conversation() -> anyhow::Result<()> {
    let port = free_port()?;
    let store = std::env::temp_dir().join(format!("chat-nats-{}", uuid::Uuid::new_v4().simple()));
    let mut nats = OwnNats::start(port, store.clone()).await?;
    let url = format!("nats://127.0.0.1:{port}");
    let app = spawn_app(&[("NATS_URL", url.as_str())]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    let mut bob_socket = bob.socket(&app.base).await?;
    alice.send_rest(&app.base, &bob, "before").await?;
    assert_eq!(bob_socket.bodies(1).await?, ["before"]);

    nats.kill().await?;
    // Sends still commit while the bus is down.
    for body in ["during 1", "during 2", "during 3"] {
        alice.send_rest(&app.base, &bob, body).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut nats = OwnNats::start(nats.port, nats.store.clone()).await?;

    assert_eq!(
        bob_socket.bodies(3).await?,
        ["during 1", "during 2", "during 3"]
    );
    alice.send_rest(&app.base, &bob, "after").await?;
    assert_eq!(bob_socket.bodies(1).await?, ["after"]);
    bob_socket
        .assert_no("message.new", Duration::from_millis(500))
        .await?;

    drop(app);
    nats.kill().await?;
    let _ = std::fs::remove_dir_all(&store);
    Ok(())
}

#[tokio::test]
async fn pings_keep_a_reading_client_and_drop_a_silent_one() -> anyhow::Result<()> {
    let app = spawn_app(&[("WS_PING_MS", "200"), ("WS_IDLE_TIMEOUT_MS", "1000")]).await?;
    let alice = Person::new(&app, "alice").await?;
    let mut reading = alice.socket(&app.base).await?;
    let mut silent = alice.socket(&app.base).await?;
    // The reading client answers pings (tungstenite does, while it reads).
    reading
        .assert_no("message.new", Duration::from_millis(2_500))
        .await?;
    // The silent one never read, so never answered: the server dropped it.
    let (end, _) = silent.until_end().await?;
    assert!(
        matches!(end, End::Closed(Some(1001)) | End::Dropped),
        "{end:?}"
    );
    reading.send(json!({"type": "typing"})).await?;
    assert_eq!(
        reading.next_of("error").await?["code"],
        "not_found",
        "the reading one is alive"
    );
    Ok(())
}

#[tokio::test]
async fn ending_a_session_closes_its_sockets_at_once_and_no_others() -> anyhow::Result<()> {
    // Pings every 25 s (the default): only the announced end can close the sockets in time.
    let app = spawn_app(&[]).await?;
    let alice = Person::new(&app, "alice").await?;
    let tablet = app.signed_up_again("alice").await?;
    let laptop = app.signed_up_again("alice").await?;
    let mut doomed = alice.socket(&app.base).await?;
    let mut on_tablet = Connect::new(&app.base).bearer(&tablet).open().await?;
    let mut on_laptop = Connect::new(&app.base).bearer(&laptop).open().await?;
    let soon = Duration::from_secs(2);

    let response = alice
        .http
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&alice.token)
        .send()
        .await?;
    assert_eq!(response.status(), 204);
    tokio::time::timeout(soon, doomed.expect_close(gateway::CLOSE_SESSION_ENDED))
        .await
        .map_err(|_| anyhow::anyhow!("the logged-out socket stayed open"))??;

    // "Log out everywhere else" from the laptop ends the tablet's socket, not the laptop's.
    let response = alice
        .http
        .delete(app.url("/api/v1/sessions"))
        .bearer_auth(&laptop)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    tokio::time::timeout(soon, on_tablet.expect_close(gateway::CLOSE_SESSION_ENDED))
        .await
        .map_err(|_| anyhow::anyhow!("the revoked session's socket stayed open"))??;
    on_laptop
        .send(json!({"type": "typing", "conversation_id": "nope"}))
        .await?;
    assert_eq!(
        on_laptop.next_of("error").await?["code"],
        "not_found",
        "still served"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_redis_closes_the_sockets_of_its_lost_sessions_at_once() -> anyhow::Result<()> {
    // Pings every 25 s (the default) and the gateway's Redis connection stays up: only noticing
    // that the data is gone can close the sockets in time.
    let app = spawn_app(&[]).await?;
    let alice = Person::new(&app, "alice").await?;
    let mut socket = alice.socket(&app.base).await?;
    // Let the gateway see Redis as it was first.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Everything of this deployment goes, as with FLUSHALL on its own Redis.
    let prefix = app
        .vars
        .get("REDIS_KEY_PREFIX")
        .ok_or_else(|| anyhow::anyhow!("no Redis prefix"))?;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut conn = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await?;
    assert!(!keys.is_empty(), "the session lives in Redis");
    let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;

    tokio::time::timeout(
        Duration::from_secs(4),
        socket.expect_close(gateway::CLOSE_SESSION_ENDED),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the socket of a lost session stayed open"))??;
    let me = alice
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&alice.token)
        .send()
        .await?;
    assert_eq!(me.status(), 401, "the session is gone for the API too");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_consumer_vanished_from_the_broker_still_delivers() -> anyhow::Result<()> {
    // The broker drops an ephemeral consumer whose client stops answering (e.g. the gateway's
    // process was frozen for a few seconds); the client library may then wait forever.
    let app = spawn_app(&[]).await?;
    let alice = Person::new(&app, "alice").await?;
    let bob = Person::new(&app, "bob").await?;
    let mut bob_socket = bob.socket(&app.base).await?;
    alice.send_rest(&app.base, &bob, "before").await?;
    assert_eq!(bob_socket.bodies(1).await?, ["before"]);

    let jetstream = async_nats::jetstream::new(async_nats::connect(testkit::nats_url()).await?);
    let stream = jetstream.get_stream(&app.stream).await?;
    let names: Vec<String> = stream
        .consumer_names()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let mut deleted = 0;
    for name in names {
        // Durable consumers (the notifier's) have names of their own; the gateway's is ephemeral.
        if stream
            .consumer_info(&name)
            .await?
            .config
            .durable_name
            .is_none()
        {
            stream.delete_consumer(&name).await?;
            deleted += 1;
        }
    }
    assert!(
        deleted > 0,
        "the gateway follows the stream with an ephemeral consumer"
    );

    alice.send_rest(&app.base, &bob, "after").await?;
    let after = tokio::time::timeout(Duration::from_secs(10), bob_socket.bodies(1))
        .await
        .map_err(|_| anyhow::anyhow!("nothing reached the socket after the consumer vanished"))??;
    assert_eq!(after, ["after"]);
    Ok(())
}
