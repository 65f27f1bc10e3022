//! The people using the service while it is broken: senders that keep sending at a steady rate,
//! over REST or the WebSocket `send`, retrying each message with its `client_id` until it is
//! acknowledged; and devices whose sockets reconnect, to either API process, and resume after the
//! last cursor they received. Both log in again when their session is gone (Redis restarted
//! empty) and move to the other API process when theirs does not answer.

use crate::ledger::{Delivery, Ledger, Via};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::ws::{Connect, Message, Ws};
use tokio::sync::watch;

pub const PASSWORD: &str = "correct horse battery staple";
/// How long one attempt may take before the client gives up on it and retries.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// What every client shares.
pub struct Clients {
    pub http: reqwest::Client,
    /// The API processes, `http://127.0.0.1:port`.
    pub apis: Vec<String>,
    pub ledger: Arc<Ledger>,
}

impl Clients {
    pub fn new(apis: Vec<String>, ledger: Arc<Ledger>) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(ATTEMPT_TIMEOUT)
                .tcp_nodelay(true)
                .build()?,
            apis,
            ledger,
        })
    }

    fn api(&self, n: usize) -> &str {
        &self.apis[n % self.apis.len()]
    }

    /// Registers `username` (before any fault).
    pub async fn register(&self, username: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/api/v1/auth/register", self.api(0)))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::CREATED,
            "register {username}: {}",
            response.status()
        );
        Ok(())
    }

    /// A session of `username`, retrying through outages until `deadline`.
    pub async fn login(&self, username: &str, deadline: Instant) -> anyhow::Result<Session> {
        let mut api = 0;
        loop {
            let asked = Instant::now();
            let answer = self
                .http
                .post(format!("{}/api/v1/auth/login", self.api(api)))
                .json(&json!({"username": username, "password": PASSWORD}))
                .send()
                .await;
            if let Ok(response) = answer {
                if response.status() == StatusCode::OK {
                    let body: Value = response.json().await?;
                    if let Some(token) = body["token"].as_str() {
                        return Ok(Session {
                            username: username.to_owned(),
                            token: token.to_owned(),
                            api,
                            asked,
                        });
                    }
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{username} could not log in before the deadline"
            );
            api += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Starts the conversation of `session` with `peer`; its id.
    pub async fn start_conversation(
        &self,
        session: &Session,
        peer: &str,
    ) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!("{}/api/v1/conversations", self.api(session.api)))
            .bearer_auth(&session.token)
            .json(&json!({"with": peer}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "start conversation: {}",
            response.status()
        );
        let body: Value = response.json().await?;
        body["conversation"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("a conversation without an id: {body}"))
    }

    /// Whether the session still holds (`false` only on a 401; an outage is not an answer).
    async fn session_lost(&self, session: &Session) -> bool {
        self.http
            .get(format!("{}/api/v1/me", self.api(session.api)))
            .bearer_auth(&session.token)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::UNAUTHORIZED)
    }

    /// Logs in again, keeping the API process.
    async fn renew(&self, session: &mut Session) -> anyhow::Result<()> {
        let api = session.api;
        let deadline = Instant::now() + Duration::from_secs(120);
        *session = self.login(&session.username, deadline).await?;
        session.api = api;
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    pub token: String,
    /// Which API process it talks to; moves on when that one fails.
    pub api: usize,
    /// When the login that made it was sent: only a Redis emptying after this can end it.
    pub asked: Instant,
}

/// One person sending to another, one message every `every`, until `sending` turns false; the
/// message in flight then still gets its retries until `give_up` says stop.
pub struct Sender {
    pub session: Session,
    pub to: String,
    pub conversation: String,
    pub via: Via,
    pub every: Duration,
}

impl Sender {
    pub async fn run(
        mut self,
        clients: Arc<Clients>,
        mut sending: watch::Receiver<bool>,
        give_up: watch::Receiver<bool>,
    ) {
        let mut ws: Option<Ws> = None;
        let mut n = 0u64;
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while *sending.borrow() {
            tokio::select! {
                _ = tick.tick() => {}
                _ = sending.changed() => continue,
            }
            n += 1;
            let client_id = uuid::Uuid::new_v4().to_string();
            let body = format!("{} #{n}", self.session.username);
            let send = clients.ledger.begin(
                &self.session.username,
                &self.conversation,
                &client_id,
                self.via,
            );
            let mut failures = 0u32;
            while !*give_up.borrow() {
                let started = Instant::now();
                let (outcome, seq) = match self.via {
                    Via::Rest => self.over_rest(&clients, &body, &client_id).await,
                    Via::Ws => self.over_ws(&clients, &mut ws, &body, &client_id).await,
                };
                clients.ledger.attempted(send, &outcome, started.elapsed());
                if outcome == "401" || outcome == "ws 4001" {
                    clients.ledger.logged_out(self.session.asked);
                }
                if let Some(seq) = seq {
                    clients.ledger.acked(send, seq);
                    break;
                }
                if outcome == "401" || outcome == "ws 4001" {
                    ws = None;
                    if clients.renew(&mut self.session).await.is_err() {
                        return;
                    }
                    continue;
                }
                // Anything else: try the other API process, after a short backoff.
                ws = None;
                self.session.api += 1;
                failures += 1;
                let backoff = Duration::from_millis(100 * u64::from(failures.min(10)));
                tokio::time::sleep(backoff).await;
            }
        }
    }

    /// One attempt over REST: what happened, and the acknowledged `seq`.
    async fn over_rest(
        &self,
        clients: &Clients,
        body: &str,
        client_id: &str,
    ) -> (String, Option<i64>) {
        let answer = clients
            .http
            .post(format!("{}/api/v1/messages", clients.api(self.session.api)))
            .bearer_auth(&self.session.token)
            .json(&json!({"to": self.to, "body": body, "client_id": client_id}))
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(error) => return (request_error(&error), None),
        };
        let status = response.status();
        let outcome = status.as_str().to_owned();
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            if let Some(took) = server_timing(response.headers()) {
                clients.ledger.server_took_503(took);
            }
        }
        if !status.is_success() {
            return (outcome, None);
        }
        match response.json::<Value>().await {
            Ok(sent) => (outcome, sent["message"]["seq"].as_i64()),
            Err(error) => (request_error(&error), None),
        }
    }

    /// One attempt over the sender's own socket, opened (again) if needed.
    async fn over_ws(
        &self,
        clients: &Clients,
        ws: &mut Option<Ws>,
        body: &str,
        client_id: &str,
    ) -> (String, Option<i64>) {
        if ws.is_none() {
            let connect = Connect::new(clients.api(self.session.api)).bearer(&self.session.token);
            match tokio::time::timeout(ATTEMPT_TIMEOUT, connect.open_raw()).await {
                Ok(Ok((socket, _hello))) => *ws = Some(socket),
                _ if clients.session_lost(&self.session).await => return ("401".into(), None),
                _ => return ("ws connect failed".into(), None),
            }
        }
        let Some(socket) = ws.as_mut() else {
            return ("ws connect failed".into(), None);
        };
        let frame = json!({"type": "send", "to": self.to, "body": body, "client_id": client_id});
        if socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .is_err()
        {
            return ("ws closed".into(), None);
        }
        let deadline = tokio::time::Instant::now() + ATTEMPT_TIMEOUT;
        loop {
            let message = match tokio::time::timeout_at(deadline, socket.next()).await {
                Err(_) => return ("timeout".into(), None),
                Ok(None) | Ok(Some(Err(_))) => return ("ws closed".into(), None),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    if frame["client_id"] != client_id {
                        continue;
                    }
                    match frame["type"].as_str() {
                        Some("ack") => return ("ack".into(), frame["message"]["seq"].as_i64()),
                        Some("error") => {
                            let code = frame["code"].as_str().unwrap_or("unknown");
                            return (format!("ws error {code}"), None);
                        }
                        _ => {}
                    }
                }
                Message::Close(close) => {
                    let code = close.map_or(0, |c| u16::from(c.code));
                    return (format!("ws {code}"), None);
                }
                _ => {}
            }
        }
    }
}

/// One device of a person: a socket that receives, and reconnects after the last cursor it saw.
pub struct Device {
    pub name: String,
    pub session: Session,
}

impl Device {
    /// A new session after the last one was lost; false when logging in kept failing.
    async fn log_in_again(&mut self, clients: &Clients) -> bool {
        clients.ledger.phase(&self.name, "logging in".to_owned());
        let renewed = clients.renew(&mut self.session).await.is_ok();
        if !renewed {
            clients
                .ledger
                .phase(&self.name, "gave up logging in".to_owned());
        }
        renewed
    }

    pub async fn run(mut self, clients: Arc<Clients>, mut receiving: watch::Receiver<bool>) {
        let mut cursor = 0i64;
        let mut first = true;
        while *receiving.borrow() {
            if !first {
                clients.ledger.reconnected();
            }
            first = false;
            let api = clients.api(self.session.api).to_owned();
            clients
                .ledger
                .phase(&self.name, format!("connecting to {api}"));
            let connect = Connect::new(&api)
                .bearer(&self.session.token)
                .after(Some(cursor));
            let mut socket = match tokio::time::timeout(ATTEMPT_TIMEOUT, connect.open_raw()).await {
                Ok(Ok((socket, _hello))) => socket,
                _ => {
                    if clients.session_lost(&self.session).await {
                        clients.ledger.logged_out(self.session.asked);
                        if !self.log_in_again(&clients).await {
                            return;
                        }
                    } else {
                        self.session.api += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    continue;
                }
            };
            clients.ledger.phase(&self.name, format!("open on {api}"));
            let end = loop {
                let message = tokio::select! {
                    message = socket.next() => message,
                    _ = receiving.changed() => break None,
                };
                match message {
                    Some(Ok(Message::Text(text))) => {
                        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                            continue;
                        };
                        // Resume after the highest cursor seen: a late frame below it is still
                        // counted below, and must not move the resume point back.
                        if let Some(at) = frame["cursor"].as_i64() {
                            cursor = cursor.max(at);
                        }
                        if frame["type"] == "message.new" {
                            let message = &frame["message"];
                            clients.ledger.delivered(
                                &self.name,
                                Delivery {
                                    conversation: text_of(&message["conversation_id"]),
                                    seq: message["seq"].as_i64().unwrap_or(0),
                                    client_id: text_of(&message["client_id"]),
                                },
                            );
                        }
                    }
                    Some(Ok(Message::Close(close))) => break close.map(|c| u16::from(c.code)),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break Some(0),
                }
            };
            match end {
                None => break,
                Some(4001) => {
                    clients.ledger.logged_out(self.session.asked);
                    if !self.log_in_again(&clients).await {
                        return;
                    }
                }
                Some(_) => {
                    self.session.api += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

fn text_of(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn request_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connect failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// The time the server says it spent on an answer (`Server-Timing: app;dur=<ms>`).
fn server_timing(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get("server-timing")?.to_str().ok()?;
    let ms: f64 = value
        .split(';')
        .find_map(|part| part.trim().strip_prefix("dur="))?
        .parse()
        .ok()?;
    (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_timing_of_an_answer_is_read_in_milliseconds() {
        let timing = |value: &str| {
            let mut headers = reqwest::header::HeaderMap::new();
            if let Ok(value) = reqwest::header::HeaderValue::from_str(value) {
                headers.insert("server-timing", value);
            }
            server_timing(&headers)
        };
        assert_eq!(
            timing("app;dur=812.5"),
            Some(Duration::from_micros(812_500))
        );
        assert_eq!(timing("app; dur=3"), Some(Duration::from_millis(3)));
        assert_eq!(timing("app"), None);
        assert_eq!(timing("app;dur=-1"), None);
        assert_eq!(server_timing(&reqwest::header::HeaderMap::new()), None);
    }
}
