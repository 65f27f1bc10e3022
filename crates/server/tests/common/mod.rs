//! Starting the real application on port 0 against the real Postgres, Redis and NATS, with a
//! database and a Redis key prefix of its own.

#![allow(dead_code)]

pub mod cases;
pub mod fake_telegram;
pub mod groups;
pub mod telegram;

use serde_json::Value;
use server::{Application, Config, Role};
use std::collections::HashMap;
use testkit::TestDb;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub base: String,
    /// This test's JetStream stream and subject prefix.
    pub stream: String,
    pub prefix: String,
    pub shutdown: CancellationToken,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub db: TestDb,
    /// The configuration it runs with, for starting replicas of it.
    pub vars: HashMap<String, String>,
}

/// Another process's worth of the same deployment (same database, Redis prefix and NATS stream),
/// running only `roles`; it shares nothing in memory with the first.
pub struct Replica {
    pub base: String,
    pub shutdown: CancellationToken,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    pub async fn replica(&self, roles: &[Role]) -> anyhow::Result<Replica> {
        let vars = self.vars.clone();
        let config = Config::from_lookup(|name| vars.get(name).cloned())?;
        let app = Application::build(config, roles.to_vec()).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Ok(Replica {
            base,
            shutdown,
            handle,
        })
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        testkit::delete_stream(&self.stream);
    }
}

pub async fn spawn_app(overrides: &[(&str, &str)]) -> anyhow::Result<TestApp> {
    spawn_app_with_roles(overrides, &Role::ALL).await
}

pub async fn spawn_app_with_roles(
    overrides: &[(&str, &str)],
    roles: &[Role],
) -> anyhow::Result<TestApp> {
    let db = TestDb::create().await?;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("test:{unique}:");
    let stream = format!("T{unique}");
    let subject_prefix = format!("t{unique}");
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url.clone()),
        ("BIND".into(), "127.0.0.1:0".into()),
        ("PUBLIC_URL".into(), "http://chat.test".into()),
        ("REDIS_KEY_PREFIX".into(), prefix),
        // Keys of test sessions expire soon after the test.
        ("SESSION_IDLE_TIMEOUT_SECS".into(), "600".into()),
        ("SHUTDOWN_GRACE_SECS".into(), "2".into()),
        ("METRICS_BIND".into(), "127.0.0.1:0".into()),
        ("NATS_STREAM".into(), stream.clone()),
        ("NATS_SUBJECT_PREFIX".into(), subject_prefix.clone()),
        // Limits stay on (every request runs them) but far above what tests send; tests of the
        // limits themselves set their own.
        ("RATE_LIMIT_REGISTER".into(), "100000/min".into()),
        ("RATE_LIMIT_SEND".into(), "100000/s".into()),
        ("RATE_LIMIT_START".into(), "100000/min".into()),
        ("RATE_LIMIT_LOOKUP".into(), "100000/min".into()),
        ("RATE_LIMIT_SEARCH".into(), "100000/min".into()),
        ("RATE_LIMIT_LINK".into(), "100000/min".into()),
    ]);
    for name in ["REDIS_URL", "NATS_URL"] {
        if let Ok(value) = std::env::var(name) {
            vars.insert(name.into(), value);
        }
    }
    for (name, value) in overrides {
        vars.insert((*name).into(), (*value).into());
    }
    let config = Config::from_lookup(|name| vars.get(name).cloned())?;
    let app = Application::build(config, roles.to_vec()).await?;
    let snapshot = vars.clone();
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let stream = vars.get("NATS_STREAM").cloned().unwrap_or(stream);
    let prefix = vars
        .get("NATS_SUBJECT_PREFIX")
        .cloned()
        .unwrap_or(subject_prefix);
    Ok(TestApp {
        base,
        stream,
        prefix,
        shutdown,
        handle,
        db,
        vars: snapshot,
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client that keeps cookies, like a browser tab.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap_or_default()
    }

    pub async fn register(
        &self,
        username: &str,
        password: &str,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(reqwest::Client::new()
            .post(self.url("/api/v1/auth/register"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await?)
    }

    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await?)
    }

    /// The status of `/api/v1/me` for `client` (with its cookies) and `token` if any: whether
    /// they still authenticate.
    pub async fn me_status(
        &self,
        client: &reqwest::Client,
        token: Option<&str>,
    ) -> anyhow::Result<u16> {
        let mut request = client.get(self.url("/api/v1/me"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Ok(request.send().await?.status().as_u16())
    }

    /// Registers and logs in; returns the bearer token.
    pub async fn signed_up(&self, username: &str) -> anyhow::Result<String> {
        let response = self.register(username, "correct horse battery").await?;
        anyhow::ensure!(response.status() == 201, "register: {}", response.status());
        self.signed_up_again(username).await
    }

    /// Logs an existing user in once more (another device); returns that session's token.
    pub async fn signed_up_again(&self, username: &str) -> anyhow::Result<String> {
        let response = self
            .login_with(&reqwest::Client::new(), username, "correct horse battery")
            .await?;
        let body: serde_json::Value = response.json().await?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no token in {body}"))
    }
}

/// Waits until `check` answers true, asking every 50 ms; fails after `within`.
pub async fn until(
    within: std::time::Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    while !check().await? {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A response's status and JSON body (`null` when empty).
pub async fn answer(response: reqwest::Response) -> anyhow::Result<(u16, Value)> {
    let status = response.status().as_u16();
    let text = response.text().await?;
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("not JSON ({e}): {text}"))?
    };
    Ok((status, value))
}

/// A logged-in user as an API client with a bearer token.
pub struct ApiUser {
    pub token: String,
    pub http: reqwest::Client,
    pub base: String,
}

impl ApiUser {
    pub async fn new(app: &TestApp, name: &str) -> anyhow::Result<Self> {
        Ok(Self {
            token: app.signed_up(name).await?,
            http: reqwest::Client::new(),
            base: app.base.clone(),
        })
    }

    /// An API client for a session that already exists (another device of a user, say).
    pub fn with_token(app: &TestApp, token: &str) -> Self {
        Self {
            token: token.to_owned(),
            http: reqwest::Client::new(),
            base: app.base.clone(),
        }
    }

    /// The same session against another process of the deployment.
    pub fn at(mut self, base: &str) -> Self {
        self.base = base.to_owned();
        self
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await?).await
    }

    /// Sends `body` into `conversation` as `client_id`; fails unless it was stored (201).
    pub async fn sent(
        &self,
        conversation: &str,
        body: &str,
        client_id: &str,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                serde_json::json!({"body": body, "client_id": client_id}),
            )
            .await?;
        anyhow::ensure!(status == 201, "send: {status} {answer}");
        Ok(answer)
    }

    /// Marks `conversation` read up to `up_to`: the status and body, whatever they are.
    pub async fn mark_read(&self, conversation: &str, up_to: i64) -> anyhow::Result<(u16, Value)> {
        self.post(
            &format!("/api/v1/conversations/{conversation}/read"),
            serde_json::json!({ "up_to": up_to }),
        )
        .await
    }

    /// Marks `conversation` read up to `up_to`; fails unless it was recorded (204).
    pub async fn read_up_to(&self, conversation: &str, up_to: i64) -> anyhow::Result<()> {
        let (status, body) = self.mark_read(conversation, up_to).await?;
        anyhow::ensure!(status == 204, "read: {status} {body}");
        Ok(())
    }

    /// `PATCH`es message `message` of `conversation` to `body`.
    pub async fn edit(
        &self,
        conversation: &str,
        message: &str,
        body: &str,
    ) -> anyhow::Result<(u16, Value)> {
        self.call(
            reqwest::Method::PATCH,
            &format!("/api/v1/conversations/{conversation}/messages/{message}"),
            Some(serde_json::json!({ "body": body })),
        )
        .await
    }

    /// `DELETE`s message `message` of `conversation`.
    pub async fn delete(&self, conversation: &str, message: &str) -> anyhow::Result<(u16, Value)> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/conversations/{conversation}/messages/{message}"),
            None,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}
