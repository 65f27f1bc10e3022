//! The service process: health, readiness naming what is down, JSON 404s and graceful shutdown.

mod common;

use common::spawn_app;
use std::time::Duration;

async fn get_json(url: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let response = reqwest::get(url).await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

#[tokio::test]
async fn a_process_with_every_dependency_up_is_live_and_ready() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (status, body) = get_json(&format!("{}/healthz", app.base)).await?;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    // NATS connects in the background; give it a moment on a loaded machine.
    let mut last = (0, serde_json::Value::Null);
    for _ in 0..50 {
        last = get_json(&format!("{}/readyz", app.base)).await?;
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.0, 200, "{}", last.1);
    assert_eq!(last.1["checks"]["postgres"], "ok");
    assert_eq!(last.1["checks"]["redis"], "ok");
    assert_eq!(last.1["checks"]["nats"], "ok");
    Ok(())
}

#[tokio::test]
async fn readiness_names_the_dependencies_that_are_down() -> anyhow::Result<()> {
    let app = spawn_app(&[
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("NATS_URL", "nats://127.0.0.1:1"),
    ])
    .await?;
    let (status, body) = get_json(&format!("{}/readyz", app.base)).await?;
    assert_eq!(status, 503);
    assert_eq!(body["down"], serde_json::json!(["redis", "nats"]));
    assert_eq!(body["checks"]["postgres"], "ok");
    // Liveness does not depend on them.
    let (status, _) = get_json(&format!("{}/healthz", app.base)).await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn unknown_paths_get_a_json_404() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (status, body) = get_json(&format!("{}/no/such/thing", app.base)).await?;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    Ok(())
}

#[tokio::test]
async fn the_server_stops_when_asked_and_frees_its_port() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (status, _) = get_json(&format!("{}/healthz", app.base)).await?;
    assert_eq!(status, 200);
    let mut app = app;
    app.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), &mut app.handle).await???;
    assert!(reqwest::get(format!("{}/healthz", app.base)).await.is_err());
    Ok(())
}
