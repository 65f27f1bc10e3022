//! What a request may cost the server: bodies over the limit are refused before they are read, a
//! client that trickles its request head or body does not keep the connection, and rates are limited.

mod common;

use common::{spawn_app, ApiUser};
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::ws::Connect;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `head` (and nothing after it) and returns what the server answered, and when.
async fn answer_to(base: &str, head: &str) -> anyhow::Result<(String, Duration)> {
    let address = base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(address).await?;
    tcp.write_all(head.as_bytes()).await?;
    let started = Instant::now();
    let mut answer = Vec::new();
    // Until the server closes; a test runner's timeout would catch a server that never does.
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut answer)).await??;
    Ok((
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    ))
}

#[tokio::test]
async fn a_body_announced_over_the_limit_is_refused_before_it_is_read() -> anyhow::Result<()> {
    let app = spawn_app(&[("HTTP_BODY_TIMEOUT_MS", "60000")]).await?;
    for path in ["/api/v1/auth/register", "/api/v1/auth/login", "/login"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 10000000\r\n\r\n"
        );
        let (answer, took) = answer_to(&app.base, &head).await?;
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            answer.contains(r#""code":"payload_too_large""#),
            "{path}: {answer}"
        );
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("x-content-type-options: nosniff"),
            "{path}: {answer}"
        );
        assert!(
            took < Duration::from_secs(5),
            "{path}: answered after {took:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_trickled_request_head_or_body_loses_its_connection() -> anyhow::Result<()> {
    let app = spawn_app(&[
        ("HTTP_HEADER_TIMEOUT_MS", "500"),
        ("HTTP_BODY_TIMEOUT_MS", "500"),
    ])
    .await?;
    let (answer, took) = answer_to(&app.base, "GET /api/v1/me HTTP/1.1\r\nHost: x\r\n").await?;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(5), "head: closed after {took:?}");

    let head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n{\"username\"";
    let (answer, took) = answer_to(&app.base, head).await?;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains(r#""code":"invalid_body""#), "{answer}");
    assert!(
        took < Duration::from_secs(5),
        "body: answered after {took:?}"
    );
    Ok(())
}

#[tokio::test]
async fn registrations_sends_and_look_ups_are_rate_limited_with_retry_after() -> anyhow::Result<()>
{
    let app = spawn_app(&[
        ("RATE_LIMIT_REGISTER", "2/hour"),
        ("RATE_LIMIT_SEND", "3/min"),
        ("RATE_LIMIT_LOOKUP", "2/min"),
    ])
    .await?;
    let alice = ApiUser::new(&app, "alice").await?;
    ApiUser::new(&app, "bob").await?;
    // The third registration from this address.
    let response = app.register("carol", "correct horse battery").await?;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        (60..=1_800).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let body: serde_json::Value = response.json().await?;
    assert_eq!(body["error"]["code"], "too_many_requests");

    for n in 1..=3 {
        let (status, body) = alice
            .post(
                "/api/v1/messages",
                json!({"to": "bob", "body": format!("m{n}"), "client_id": format!("c{n}")}),
            )
            .await?;
        assert_eq!(status, 201, "send {n}: {body}");
    }
    let (status, body) = alice
        .post(
            "/api/v1/messages",
            json!({"to": "bob", "body": "m4", "client_id": "c4"}),
        )
        .await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("too_many_requests"))
    );
    // The socket's sends count against the same rate.
    let mut socket = Connect::new(&app.base).bearer(&alice.token).open().await?;
    socket
        .send(json!({"type": "send", "to": "bob", "body": "m5", "client_id": "c5"}))
        .await?;
    let error = socket.next_of("error").await?;
    assert_eq!(error["code"], "too_many_requests", "{error}");
    assert_eq!(error["client_id"], "c5");
    assert!(
        error["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{error}"
    );

    for n in 1..=2 {
        assert_eq!(alice.get("/api/v1/users/bob").await?.0, 200, "look-up {n}");
    }
    assert_eq!(alice.get("/api/v1/users/bob").await?.0, 429);
    // Nothing over the limit was stored.
    let (_, page) = alice.get("/api/v1/conversations").await?;
    assert_eq!(page["conversations"][0]["last_message"]["body"], "m3");
    Ok(())
}
