//! A local stand-in for the Telegram Bot API (feature `telegram`): answers what the production bot
//! calls, queues updates for `getUpdates`, records every call, and can answer 429 or 403 on demand.
//! The server's Telegram tests and the fault suite point the real bot at it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BOT_USERNAME: &str = "chat_test_bot";

#[derive(Debug, Clone, Copy)]
pub enum Failure {
    RetryAfter(u32),
    Blocked,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    updates: Vec<Value>,
    next_update: u32,
    next_message: i64,
    calls: Vec<Call>,
    failures: HashMap<String, VecDeque<Failure>>,
    /// (chat, message id) -> current text, while not deleted.
    visible: HashMap<(i64, i64), String>,
}

#[derive(Clone, Default)]
pub struct FakeTelegram {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
}

impl FakeTelegram {
    pub async fn start() -> anyhow::Result<Self> {
        let mut fake = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        fake.url = format!("http://{}", listener.local_addr()?);
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(fake)
    }

    /// A user writes `text` to the bot from private chat `chat`.
    pub fn user_writes(&self, chat: i64, text: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.next_update += 1;
            let update = json!({
                "update_id": inner.next_update,
                "message": {
                    "message_id": 10_000 + inner.next_update,
                    "date": 1_700_000_000,
                    "chat": {"id": chat, "type": "private", "first_name": "Tester"},
                    "from": {"id": chat, "is_bot": false, "first_name": "Tester"},
                    "text": text,
                }
            });
            inner.updates.push(update);
        }
    }

    pub fn fail_next(&self, method: &str, failure: Failure) {
        if let Ok(mut inner) = self.inner.lock() {
            inner
                .failures
                .entry(method.to_owned())
                .or_default()
                .push_back(failure);
        }
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.inner
            .lock()
            .map(|inner| {
                inner
                    .calls
                    .iter()
                    .filter(|c| c.method == method)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Texts the bot sent to `chat` (sendMessage), in order.
    pub fn sent_to(&self, chat: i64) -> Vec<String> {
        self.calls("sendMessage")
            .into_iter()
            .filter(|c| c.body["chat_id"].as_i64() == Some(chat))
            .filter_map(|c| c.body["text"].as_str().map(str::to_owned))
            .collect()
    }

    /// The bot's messages in `chat` as the user sees them now (edited, not deleted).
    pub fn visible_in(&self, chat: i64) -> Vec<String> {
        let Ok(inner) = self.inner.lock() else {
            return vec![];
        };
        let mut messages: Vec<_> = inner
            .visible
            .iter()
            .filter(|((c, _), _)| *c == chat)
            .map(|((_, id), text)| (*id, text.clone()))
            .collect();
        messages.sort();
        messages.into_iter().map(|(_, text)| text).collect()
    }

    /// A user writes `text` to the bot from `chat`; the bot's answer there, within `within`.
    pub async fn answer_to(
        &self,
        chat: i64,
        text: &str,
        within: Duration,
    ) -> anyhow::Result<String> {
        let before = self.sent_to(chat).len();
        self.user_writes(chat, text);
        self.until(within, &format!("an answer to {text:?}"), |f| {
            f.sent_to(chat).len() > before
        })
        .await?;
        self.sent_to(chat)
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no answer to {text:?}"))
    }

    /// Waits until `check` holds, or fails after `within`.
    pub async fn until(
        &self,
        within: Duration,
        what: &str,
        check: impl Fn(&Self) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if check(self) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("timed out waiting for {what}")
    }
}

fn bot_user() -> Value {
    json!({
        "id": 42, "is_bot": true, "first_name": "Chat", "username": BOT_USERNAME,
        "can_join_groups": false, "can_read_all_group_messages": false, "supports_inline_queries": false,
        "has_main_web_app": false
    })
}

fn message(chat: i64, id: i64, text: &str) -> Value {
    json!({
        "message_id": id,
        "date": 1_700_000_000,
        "chat": {"id": chat, "type": "private", "first_name": "Tester"},
        "from": bot_user(),
        "text": text,
    })
}

async fn handle(
    State(fake): State<FakeTelegram>,
    Path((_bot, method)): Path<(String, String)>,
    body: Bytes,
) -> impl IntoResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // teloxide spells methods in PascalCase (`SendMessage`); the Bot API is case-insensitive.
    let method = match method.to_ascii_lowercase().as_str() {
        "getme" => "getMe",
        "getupdates" => "getUpdates",
        "sendmessage" => "sendMessage",
        "editmessagetext" => "editMessageText",
        "deletemessage" => "deleteMessage",
        _ => method.as_str(),
    }
    .to_owned();
    let (failure, result) = {
        let Ok(mut inner) = fake.inner.lock() else {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"ok": false})),
            );
        };
        inner.calls.push(Call {
            method: method.clone(),
            body: body.clone(),
            at: Instant::now(),
        });
        let failure = inner
            .failures
            .get_mut(&method)
            .and_then(VecDeque::pop_front);
        if failure.is_some() {
            (failure, Value::Null)
        } else {
            let chat = body["chat_id"].as_i64().unwrap_or(0);
            let result = match method.as_str() {
                "getMe" => bot_user(),
                "getUpdates" => {
                    let offset = body["offset"].as_i64().unwrap_or(0);
                    // As Telegram does: an offset confirms, and forgets, every earlier update.
                    inner
                        .updates
                        .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    let pending: Vec<Value> = inner
                        .updates
                        .iter()
                        .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
                        .cloned()
                        .collect();
                    Value::Array(pending)
                }
                "sendMessage" => {
                    inner.next_message += 1;
                    let id = inner.next_message;
                    let text = body["text"].as_str().unwrap_or_default().to_owned();
                    inner.visible.insert((chat, id), text.clone());
                    message(chat, id, &text)
                }
                "editMessageText" => {
                    let id = body["message_id"].as_i64().unwrap_or(0);
                    let text = body["text"].as_str().unwrap_or_default().to_owned();
                    inner.visible.insert((chat, id), text.clone());
                    message(chat, id, &text)
                }
                "deleteMessage" => {
                    let id = body["message_id"].as_i64().unwrap_or(0);
                    inner.visible.remove(&(chat, id));
                    json!(true)
                }
                _ => json!(true),
            };
            (None, result)
        }
    };
    if method == "getUpdates" && result.as_array().is_some_and(Vec::is_empty) {
        // A short long-poll, so an idle bot does not spin.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    match failure {
        Some(Failure::RetryAfter(seconds)) => (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({
                "ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {seconds}"),
                "parameters": {"retry_after": seconds}
            })),
        ),
        Some(Failure::Blocked) => (
            StatusCode::FORBIDDEN,
            Json(
                json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
            ),
        ),
        None => (StatusCode::OK, Json(json!({"ok": true, "result": result}))),
    }
}
