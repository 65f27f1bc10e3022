//! Senders: each is one task with at most one message in flight, sending as one member of one
//! pair on its lane's schedule, over REST or over that member's socket.

use crate::api;
use crate::cli::Via;
use crate::ledger::CLIENT_ID_PREFIX;
use crate::pacing::Lane;
use crate::state::Shared;
use reqwest::header::HeaderValue;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// Where one sender's messages go, and as whom.
#[derive(Clone)]
pub struct Route {
    pub sender: usize,
    pub recipient: usize,
    pub conversation: Arc<str>,
    /// `POST` here to send over REST.
    pub messages_url: reqwest::Url,
    /// The sender's `Bearer` header.
    pub authorization: HeaderValue,
    /// The sender's socket, to send over the WebSocket.
    pub socket: mpsc::Sender<String>,
}

/// Everything a sender needs besides its route and schedule.
#[derive(Clone)]
pub struct Sending {
    pub via: Via,
    pub http: reqwest::Client,
    pub shared: Arc<Shared>,
    pub body_bytes: usize,
}

/// Sends on `lane`'s schedule until it ends; how many messages it sent.
pub async fn run(id: usize, mut lane: Lane, route: Route, sending: Sending) -> u64 {
    let mut sent = 0;
    while let Some(due) = lane.next_due(Instant::now()) {
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let number =
            sending
                .shared
                .ledger()
                .sending(id, route.sender, route.recipient, due, Instant::now());
        sent += 1;
        let failure = match sending.via {
            Via::Rest => {
                let body = rest_body(number, sending.body_bytes);
                let outcome = api::send_message(
                    &sending.http,
                    &route.messages_url,
                    &route.authorization,
                    body,
                )
                .await;
                sending
                    .shared
                    .ledger()
                    .answered(number, Instant::now(), outcome);
                continue;
            }
            Via::Ws => send_over_socket(id, number, &route, &sending).await,
        };
        if let Err(kind) = failure {
            sending
                .shared
                .ledger()
                .answered(number, Instant::now(), Err(kind));
        }
    }
    sent
}

/// Puts the `send` frame on the sender's socket and waits for its answer, which the socket
/// records; `Err` only when no answer came.
async fn send_over_socket(
    id: usize,
    number: u64,
    route: &Route,
    sending: &Sending,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + api::REQUEST_TIMEOUT;
    let frame = ws_frame(number, &route.conversation, sending.body_bytes);
    match tokio::time::timeout_at(deadline, route.socket.send(frame)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err("ws socket gone".to_owned()),
        Err(_) => return Err("timeout".to_owned()),
    }
    let Some(waker) = sending.shared.waker(id) else {
        return Err("ws no waker".to_owned());
    };
    loop {
        // A wake-up left over from an answer that came after its sender gave up is harmless:
        // the ledger says whether this message is answered.
        if let Some((_, true)) = sending.shared.ledger().lane_of(number) {
            return Ok(());
        }
        if tokio::time::timeout_at(deadline, waker.notified())
            .await
            .is_err()
        {
            return Err("timeout".to_owned());
        }
    }
}

/// `{"body":"m<n> xxx…","client_id":"lg<n>"}`.
pub fn rest_body(number: u64, body_bytes: usize) -> String {
    let mut json = String::with_capacity(body_bytes + 40);
    json.push_str(r#"{"body":""#);
    push_text(&mut json, number, body_bytes);
    let _ = write!(json, r#"","client_id":"{CLIENT_ID_PREFIX}{number}"}}"#);
    json
}

/// `{"type":"send","conversation_id":…,"body":"m<n> xxx…","client_id":"lg<n>"}`.
pub fn ws_frame(number: u64, conversation: &str, body_bytes: usize) -> String {
    let mut json = String::with_capacity(body_bytes + 120);
    let _ = write!(
        json,
        r#"{{"type":"send","conversation_id":"{conversation}","body":""#
    );
    push_text(&mut json, number, body_bytes);
    let _ = write!(json, r#"","client_id":"{CLIENT_ID_PREFIX}{number}"}}"#);
    json
}

/// The message text: its number, then padding to `body_bytes` (only ASCII: nothing to escape).
fn push_text(json: &mut String, number: u64, body_bytes: usize) {
    let start = json.len();
    let _ = write!(json, "m{number}");
    let written = json.len() - start;
    if written + 1 < body_bytes {
        json.push(' ');
        json.extend(std::iter::repeat_n('x', body_bytes - written - 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_carrying_the_number_at_the_asked_size() {
        let rest = rest_body(7, 8);
        assert_eq!(rest, r#"{"body":"m7 xxxxx","client_id":"lg7"}"#);
        let parsed: serde_json::Value = serde_json::from_str(&rest).expect("json");
        assert_eq!(parsed["body"].as_str().map(str::len), Some(8));
        assert_eq!(
            rest_body(123456, 4),
            r#"{"body":"m123456","client_id":"lg123456"}"#
        );
        let ws: serde_json::Value = serde_json::from_str(&ws_frame(3, "c-1", 64)).expect("json");
        assert_eq!(
            (&ws["type"], &ws["conversation_id"], &ws["client_id"]),
            (&"send".into(), &"c-1".into(), &"lg3".into())
        );
        assert_eq!(ws["body"].as_str().map(str::len), Some(64));
    }
}
