//! `/metrics` on the admin listener: requests by route and status, events, sockets, projections.

use server::{Application, Config, Role};
use std::collections::HashMap;
use testkit::TestDb;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn metrics_describe_requests_events_and_projections() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("BIND", "127.0.0.1:0".into()),
        ("METRICS_BIND", "127.0.0.1:0".into()),
        ("REDIS_KEY_PREFIX", format!("test:{unique}:")),
        ("NATS_STREAM", format!("M{unique}")),
        ("NATS_SUBJECT_PREFIX", format!("m{unique}")),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned())?;
    let app = Application::build(config, Role::ALL.to_vec()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics_port = app
        .metrics_port()
        .ok_or_else(|| anyhow::anyhow!("no metrics port"))?;
    let stop = CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(stop.clone()));

    let client = reqwest::Client::new();
    let registered = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({"username": "metrics_user", "password": "correct horse battery"}))
        .send()
        .await?;
    assert_eq!(registered.status(), 201);
    // The API port does not serve metrics.
    assert_eq!(
        client.get(format!("{base}/metrics")).send().await?.status(),
        404
    );

    let expected = [
        "http_requests_total{method=\"POST\",route=\"/api/v1/auth/register\",status=\"201\"}",
        "http_request_duration_seconds_bucket",
        "events_appended_total",
        "projection_lag_events{projection=\"history\"}",
        "projection_lag_events{projection=\"telegram\"}",
    ];
    // Each projector sets its gauges after its first batch: wait for all of them, not the first.
    let mut text = String::new();
    for _ in 0..100 {
        text = client
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        if expected.iter().all(|e| text.contains(e)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for expected in expected {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    stop.cancel();
    running.await??;
    testkit::delete_stream(&format!("M{unique}"));
    Ok(())
}
