//! What a client does with a group over the API, as the group tests say it: create one, add,
//! remove, rename, change a role, and read its members and timeline back as plain lines; a
//! member's socket; and the error code of a refusal.

use super::ApiUser;
use serde_json::{json, Value};
use testkit::ws::{Connect, Socket};

impl ApiUser {
    /// `POST /groups` as is: the status and body, whatever they are.
    pub async fn create_group(
        &self,
        title: &str,
        members: &[&str],
    ) -> anyhow::Result<(u16, Value)> {
        self.post(
            "/api/v1/groups",
            json!({"title": title, "members": members}),
        )
        .await
    }

    /// A new group's id; fails unless it was created (201).
    pub async fn group(&self, title: &str, members: &[&str]) -> anyhow::Result<String> {
        let (status, body) = self.create_group(title, members).await?;
        anyhow::ensure!(status == 201, "create: {status} {body}");
        Ok(body["conversation"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub async fn add(&self, group: &str, username: &str) -> anyhow::Result<(u16, Value)> {
        self.post(
            &format!("/api/v1/conversations/{group}/members"),
            json!({"username": username}),
        )
        .await
    }

    /// Removes `username`, or leaves when it is the caller's own.
    pub async fn remove(&self, group: &str, username: &str) -> anyhow::Result<(u16, Value)> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/conversations/{group}/members/{username}"),
            None,
        )
        .await
    }

    pub async fn rename(&self, group: &str, title: &str) -> anyhow::Result<(u16, Value)> {
        self.call(
            reqwest::Method::PATCH,
            &format!("/api/v1/conversations/{group}"),
            Some(json!({"title": title})),
        )
        .await
    }

    /// Gives `username` a role (`owner` hands the group over).
    pub async fn set_role(
        &self,
        group: &str,
        username: &str,
        role: &str,
    ) -> anyhow::Result<(u16, Value)> {
        self.call(
            reqwest::Method::PATCH,
            &format!("/api/v1/conversations/{group}/members/{username}"),
            Some(json!({"role": role})),
        )
        .await
    }

    /// `(username, role)` of every member, in the order they joined.
    pub async fn members(&self, group: &str) -> anyhow::Result<Vec<(String, String)>> {
        let (status, body) = self
            .get(&format!("/api/v1/conversations/{group}/members"))
            .await?;
        anyhow::ensure!(status == 200, "members: {status} {body}");
        Ok(body["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["user"]["username"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    m["role"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// Each entry of the whole history as a line: a message's body, or `<kind> <member>`.
    pub async fn timeline(&self, group: &str) -> anyhow::Result<Vec<String>> {
        let (status, page) = self
            .get(&format!("/api/v1/conversations/{group}/messages?limit=100"))
            .await?;
        anyhow::ensure!(status == 200, "history: {status} {page}");
        Ok(page["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| match (&m["system"], m["body"].as_str()) {
                (Value::Object(system), _) => format!(
                    "{} {}",
                    system["kind"].as_str().unwrap_or_default(),
                    system
                        .get("member")
                        .and_then(|u| u["username"].as_str())
                        .or_else(|| system.get("title").and_then(Value::as_str))
                        .unwrap_or_default()
                ),
                (_, Some(body)) => body.to_owned(),
                (_, None) => "<deleted>".to_owned(),
            })
            .collect())
    }

    /// The caller's entry for `group` in their conversation list, if it is there.
    pub async fn listed(&self, group: &str) -> anyhow::Result<Option<Value>> {
        let (status, body) = self.get("/api/v1/conversations").await?;
        anyhow::ensure!(status == 200, "list: {status} {body}");
        Ok(body["conversations"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"] == group)
            .cloned())
    }

    /// A socket of this session, resuming after `after` when given.
    pub async fn socket(&self, after: Option<i64>) -> anyhow::Result<Socket> {
        Connect::new(&self.base)
            .bearer(&self.token)
            .after(after)
            .open()
            .await
    }
}

/// Owned `(username, role)` pairs, to compare with [`ApiUser::members`].
pub fn pairs(members: &[(&str, &str)]) -> Vec<(String, String)> {
    members
        .iter()
        .map(|(u, r)| ((*u).to_owned(), (*r).to_owned()))
        .collect()
}

/// A refusal's `(code, field)`.
pub fn code(body: &Value) -> (String, Option<String>) {
    (
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["field"].as_str().map(str::to_owned),
    )
}

/// The next `message.new` as a line: its body, or `<kind> <member>` for a system entry.
pub async fn next_entry(socket: &mut Socket) -> anyhow::Result<String> {
    let frame = socket.next_of("message.new").await?;
    let message = &frame["message"];
    Ok(match message["body"].as_str() {
        Some(body) => body.to_owned(),
        None => format!(
            "{} {}",
            message["system"]["kind"].as_str().unwrap_or_default(),
            message["system"]["member"]["username"]
                .as_str()
                .unwrap_or_default()
        ),
    })
}
