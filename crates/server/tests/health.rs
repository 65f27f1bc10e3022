//! The service process: health, readiness naming what is down, JSON 404s and graceful shutdown.

mod common;

use common::{spawn_app, spawn_app_with_roles, until, ApiUser};
use serde_json::json;
use server::Role;
use std::time::{Duration, Instant};

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

/// A projector that is down must not hold every read up: once the history model has been behind
/// for longer than its bound, reads answer at once from what it has, readiness says so, and both
/// heal when a projector comes back.
#[tokio::test]
async fn a_stalled_read_model_fails_readiness_and_stops_holding_reads_up() -> anyhow::Result<()> {
    // An API without a projector: the history model cannot move.
    let app = spawn_app_with_roles(
        &[("READ_MODEL_MAX_LAG_MS", "300")],
        &[Role::Api, Role::Publisher],
    )
    .await?;
    let ann = ApiUser::new(&app, "ann").await?;
    ApiUser::new(&app, "ben").await?;
    let (status, body) = ann
        .post("/api/v1/conversations", json!({"with": "ben"}))
        .await?;
    assert!(status == 200 || status == 201, "{status} {body}");
    let conversation = body["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let messages = format!("/api/v1/conversations/{conversation}/messages");
    let (status, body) = ann
        .post(
            &messages,
            json!({"body": "anyone there?", "client_id": "c1"}),
        )
        .await?;
    assert_eq!(status, 201, "a send does not wait for read models: {body}");

    let mut last = serde_json::Value::Null;
    until(
        Duration::from_secs(10),
        "readiness to report the stall",
        async || {
            let (status, body) = get_json(&format!("{}/readyz", app.base)).await?;
            last = body;
            Ok(status == 503)
        },
    )
    .await?;
    assert_eq!(last["down"], json!(["history"]), "{last}");
    let history = last["checks"]["history"].as_str().unwrap_or_default();
    assert!(history.starts_with("stalled: "), "{last}");

    // Reads no longer wait out read-your-writes (2 s) for a model that is not moving.
    let started = Instant::now();
    let (status, _) = ann.get(&messages).await?;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "a read waited {:?} for a stalled model",
        started.elapsed()
    );

    // A projector comes back: the model catches up, readiness returns, the message is there.
    let _projector = app.replica(&[Role::Projector]).await?;
    until(
        Duration::from_secs(15),
        "readiness after the projector returned",
        async || Ok(get_json(&format!("{}/readyz", app.base)).await?.0 == 200),
    )
    .await?;
    let (status, page) = ann.get(&messages).await?;
    assert_eq!(status, 200);
    assert_eq!(page["messages"][0]["body"], "anyone there?", "{page}");
    Ok(())
}

/// A TCP hop between chatd and Postgres that the test can cut, as if the database went down:
/// open connections drop and new ones are refused, until it is restored on the same port.
struct DatabaseLink {
    port: u16,
    target: std::net::SocketAddr,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl DatabaseLink {
    async fn to(target: std::net::SocketAddr) -> anyhow::Result<Self> {
        let mut link = Self {
            port: 0,
            target,
            connections: std::sync::Arc::default(),
            accept: None,
        };
        link.restore()?;
        Ok(link)
    }

    fn cut(&mut self) {
        // The listener goes with its task: connecting is refused, as with a stopped server.
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        if let Ok(mut open) = self.connections.lock() {
            open.drain(..).for_each(|c| c.abort());
        }
    }

    fn restore(&mut self) -> anyhow::Result<()> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], self.port)))?;
        let listener = socket.listen(64)?;
        self.port = listener.local_addr()?.port();
        let (target, connections) = (self.target, self.connections.clone());
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                if let Ok(mut open) = connections.lock() {
                    open.push(task.abort_handle());
                }
            }
        }));
        Ok(())
    }
}

impl Drop for DatabaseLink {
    fn drop(&mut self) {
        self.cut();
    }
}

/// While Postgres is unreachable, requests answer 503 within about a second (they do not pile up
/// behind the outage), readiness says so just as fast, and the pool heals by itself after.
#[tokio::test]
async fn while_the_database_is_down_requests_fail_fast_and_recover_by_themselves(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let ann = ApiUser::new(&app, "ann").await?;
    let mut url = url::Url::parse(&app.db.url)?;
    let target = std::net::SocketAddr::new(
        url.host_str().unwrap_or("127.0.0.1").parse()?,
        url.port().unwrap_or(5432),
    );
    let mut link = DatabaseLink::to(target).await?;
    url.set_port(Some(link.port))
        .map_err(|()| anyhow::anyhow!("no port in {url}"))?;
    let mut vars = app.vars.clone();
    vars.insert("DATABASE_URL".into(), url.to_string());
    vars.insert("LOGIN_FAILURES_PER_ADDRESS".into(), "2".into());
    let config = server::Config::from_lookup(|name| vars.get(name).cloned())?;
    let api = server::Application::build(config, vec![Role::Api]).await?;
    let base = format!("http://127.0.0.1:{}", api.port());
    let stop = tokio_util::sync::CancellationToken::new();
    let _running = tokio::spawn(api.run_until_stopped(stop.clone()));
    let _stop = stop.drop_guard();
    let ann = ApiUser::with_token(&app, &ann.token).at(&base);
    assert_eq!(ann.get("/api/v1/conversations").await?.0, 200);

    link.cut();
    for attempt in 0..5 {
        let started = Instant::now();
        let (status, body) = ann.get("/api/v1/conversations").await?;
        let took = started.elapsed();
        assert_eq!(status, 503, "attempt {attempt}: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        assert!(
            took < Duration::from_millis(1800),
            "attempt {attempt} took {took:?}"
        );
    }
    let started = Instant::now();
    let (status, body) = get_json(&format!("{base}/readyz")).await?;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["down"]
            .as_array()
            .is_some_and(|d| d.contains(&json!("postgres"))),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );

    // Logins that cannot be checked are no failed logins: retrying through the outage must not
    // lock the address out (it allows 2 failures here).
    let http = reqwest::Client::new();
    let login = async || {
        let answer = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "ann", "password": "correct horse battery"}))
            .send()
            .await?;
        anyhow::Ok(answer.status())
    };
    for attempt in 0..3 {
        assert_eq!(
            login().await?,
            503,
            "login attempt {attempt} during the outage"
        );
    }

    link.restore()?;
    until(Duration::from_secs(10), "the pool to heal", async || {
        Ok(ann.get("/api/v1/conversations").await?.0 == 200)
    })
    .await?;
    assert_eq!(login().await?, 200, "logging in after the outage");
    Ok(())
}
