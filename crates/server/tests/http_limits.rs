//! What a request may cost the server: bodies over the limit are refused before they are read, and
//! a client that trickles its request head or body does not keep the connection.

mod common;

use common::spawn_app;
use std::time::{Duration, Instant};
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
