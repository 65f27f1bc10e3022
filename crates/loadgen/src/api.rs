//! The JSON API calls the load generator makes: register, log in, start a conversation, send.
//!
//! One `reqwest::Client` for the whole run (HTTP/1.1 keep-alive, a pool as large as the number of
//! senders); answers are read to the end so their connections go back to the pool.

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// How long a request may take before it counts as a `timeout` error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const PASSWORD: &str = "correct horse battery staple";

/// The shared HTTP client, with room in its pool for `senders` connections kept alive.
pub fn client(senders: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(senders.max(8))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .build()?)
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    pub token: String,
    /// `Bearer <token>`, built once.
    pub authorization: HeaderValue,
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

#[derive(Deserialize)]
struct ConversationEnvelope {
    conversation: Conversation,
}

#[derive(Deserialize)]
struct Conversation {
    id: String,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
}

/// Registers `username` and logs in.
pub async fn sign_up(
    http: &reqwest::Client,
    base: &str,
    username: &str,
) -> anyhow::Result<Session> {
    let credentials = json!({ "username": username, "password": PASSWORD });
    let registered = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await?;
    expect_status(registered, &[201], "register").await?;
    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&credentials)
        .send()
        .await?;
    let login: Login = expect_status(login, &[200], "login").await?.json().await?;
    Ok(Session {
        username: username.to_owned(),
        authorization: HeaderValue::from_str(&format!("Bearer {}", login.token))?,
        token: login.token,
    })
}

/// Starts (or finds) the conversation of `me` with `peer`; its id.
pub async fn start_conversation(
    http: &reqwest::Client,
    base: &str,
    me: &Session,
    peer: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/api/v1/conversations"))
        .header(AUTHORIZATION, me.authorization.clone())
        .json(&json!({ "with": peer }))
        .send()
        .await?;
    let envelope: ConversationEnvelope = expect_status(response, &[200, 201], "start conversation")
        .await?
        .json()
        .await?;
    Ok(envelope.conversation.id)
}

/// Creates a group owned by `owner` with the users named in `members`; its id.
pub async fn create_group(
    http: &reqwest::Client,
    base: &str,
    owner: &Session,
    title: &str,
    members: &[&str],
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/api/v1/groups"))
        .header(AUTHORIZATION, owner.authorization.clone())
        .json(&json!({ "title": title, "members": members }))
        .send()
        .await?;
    let envelope: ConversationEnvelope = expect_status(response, &[201], "create group")
        .await?
        .json()
        .await?;
    Ok(envelope.conversation.id)
}

/// Adds the user named `username` to group `group`, as `owner`.
pub async fn add_member(
    http: &reqwest::Client,
    base: &str,
    owner: &Session,
    group: &str,
    username: &str,
) -> anyhow::Result<()> {
    let response = http
        .post(format!("{base}/api/v1/conversations/{group}/members"))
        .header(AUTHORIZATION, owner.authorization.clone())
        .json(&json!({ "username": username }))
        .send()
        .await?;
    expect_status(response, &[201, 200], "add member").await?;
    Ok(())
}

/// Sends one message (`body` is the JSON request body); `Err` names the kind of failure.
pub async fn send_message(
    http: &reqwest::Client,
    url: &reqwest::Url,
    authorization: &HeaderValue,
    body: String,
) -> Result<(), String> {
    let response = http
        .post(url.clone())
        .header(AUTHORIZATION, authorization.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(body)
        .send()
        .await
        .map_err(|error| request_error_kind(&error))?;
    let status = response.status();
    let answer = response
        .bytes()
        .await
        .map_err(|error| request_error_kind(&error))?;
    if status.is_success() {
        return Ok(());
    }
    Err(match serde_json::from_slice::<ErrorEnvelope>(&answer) {
        Ok(envelope) => format!("http {} {}", status.as_u16(), envelope.error.code),
        Err(_) => format!("http {}", status.as_u16()),
    })
}

fn request_error_kind(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connect failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}

async fn expect_status(
    response: reqwest::Response,
    expected: &[u16],
    what: &str,
) -> anyhow::Result<reqwest::Response> {
    let status = response.status().as_u16();
    if expected.contains(&status) {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    anyhow::bail!("{what}: {status} {text}")
}
