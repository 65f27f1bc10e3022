//! WebSockets: one task per socket. A user's socket receives that user's messages (recording
//! their arrival in the ledger), carries the `send` frames of senders sending as that user, and
//! reads their `ack`/`error` answers. A socket the server closes (4008 "too far behind", say) is
//! counted as an error and reopened from its last cursor, as a real client would.
//!
//! Idle sockets (`--connections`) only read, which also answers the server's pings.
//!
//! Only the handshake is shared with the tests (`testkit::ws`). The frames after it are read
//! here, borrowing the few fields this tool looks at from each frame's text: this process shares
//! two cores with the server it measures, and the tests' client parses every frame into a
//! `serde_json::Value` and keeps those of other types for later, which would cost an allocation
//! tree per frame and memory per socket.

use crate::ledger::number_of;
use crate::state::Shared;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::ws::{Connect, Message};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use testkit::ws::Ws;

/// A frame from the server, borrowing from its text: only the fields this tool looks at.
#[derive(Deserialize)]
struct ServerFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    cursor: Option<i64>,
    /// `ack` and `error`: the `client_id` of the send they answer.
    #[serde(borrow)]
    client_id: Option<Cow<'a, str>>,
    /// `error`: what went wrong.
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
    /// `message.new`: the message (in `error` frames the same name holds text).
    #[serde(borrow)]
    message: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MessageRef<'a> {
    #[serde(borrow)]
    client_id: Option<Cow<'a, str>>,
}

/// Opens a socket authenticated with `token` (resuming after `after` if given) and reads its
/// `hello`; returns the socket and the hello's cursor.
pub async fn open(ws_base: &str, token: &str, after: Option<i64>) -> anyhow::Result<(Ws, i64)> {
    let (ws, hello) = Connect::new(ws_base)
        .bearer(token)
        .after(after)
        .open_raw()
        .await?;
    Ok((ws, hello["cursor"].as_i64().unwrap_or(0)))
}

/// A user's socket task, and where senders put the frames to send on it.
pub struct UserSocket {
    pub outgoing: mpsc::Sender<String>,
    pub task: JoinHandle<()>,
}

/// How serving a socket ended.
enum End {
    Closed(Option<u16>),
    Dropped,
    /// Nothing will be sent any more: the run is over.
    Stopped,
}

/// Serves `ws` (already open, at `cursor`) for user `user` until aborted, reopening it when the
/// server closes it.
pub fn spawn_user(
    shared: Arc<Shared>,
    user: usize,
    ws_base: String,
    token: String,
    ws: Ws,
    cursor: i64,
    queue: usize,
) -> UserSocket {
    let (outgoing, mut frames) = mpsc::channel(queue);
    let task = tokio::spawn(async move {
        let mut ws = ws;
        let mut cursor = cursor;
        loop {
            let end = serve(&mut ws, &mut frames, &shared, user, &mut cursor).await;
            let kind = match end {
                End::Stopped => return,
                End::Closed(Some(code)) => format!("ws closed {code}"),
                End::Closed(None) => "ws closed".to_owned(),
                End::Dropped => "ws dropped".to_owned(),
            };
            shared.ledger().error(kind);
            let mut attempt = 0u64;
            ws = loop {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * attempt.min(10))).await;
                match open(&ws_base, &token, Some(cursor)).await {
                    Ok((ws, _)) => break ws,
                    Err(_) => shared.ledger().error("ws reconnect failed".to_owned()),
                }
            };
        }
    });
    UserSocket { outgoing, task }
}

async fn serve(
    ws: &mut Ws,
    frames: &mut mpsc::Receiver<String>,
    shared: &Shared,
    user: usize,
    cursor: &mut i64,
) -> End {
    loop {
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { return End::Stopped };
                if ws.send(Message::Text(frame.into())).await.is_err() {
                    return End::Dropped;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => received(shared, user, text.as_str(), cursor),
                Some(Ok(Message::Close(frame))) => {
                    return End::Closed(frame.map(|f| u16::from(f.code)))
                }
                // Pings are answered by the library as it keeps reading.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return End::Dropped,
            }
        }
    }
}

/// Records what one text frame from the server says about our messages.
fn received(shared: &Shared, user: usize, text: &str, cursor: &mut i64) {
    let now = Instant::now();
    let Ok(frame) = serde_json::from_str::<ServerFrame>(text) else {
        shared.ledger().error("ws unreadable frame".to_owned());
        return;
    };
    if frame.kind != "hello" {
        if let Some(at) = frame.cursor {
            *cursor = (*cursor).max(at);
        }
    }
    let number = |client_id: Option<Cow<str>>| client_id.as_deref().and_then(number_of);
    match frame.kind.as_ref() {
        "message.new" => {
            let client_id = frame
                .message
                .and_then(|raw| serde_json::from_str::<MessageRef>(raw.get()).ok())
                .and_then(|message| message.client_id);
            match number(client_id) {
                Some(number) => {
                    shared.ledger().arrived(number, user, now);
                }
                None => shared
                    .ledger()
                    .error("ws message without our client_id".into()),
            }
        }
        "ack" | "error" => {
            let outcome = match frame.kind.as_ref() {
                "ack" => Ok(()),
                _ => Err(format!(
                    "ws error {}",
                    frame.code.as_deref().unwrap_or("without code")
                )),
            };
            match number(frame.client_id) {
                Some(number) => answered(shared, number, now, outcome),
                None => {
                    if let Err(kind) = outcome {
                        shared.ledger().error(kind);
                    }
                }
            }
        }
        _ => {}
    }
}

fn answered(shared: &Shared, number: u64, now: Instant, outcome: Result<(), String>) {
    let lane = {
        let mut ledger = shared.ledger();
        ledger.answered(number, now, outcome);
        ledger.lane_of(number).map(|(lane, _)| lane)
    };
    if let Some(waker) = lane.and_then(|lane| shared.waker(lane)) {
        waker.notify_one();
    }
}

/// Keeps an idle socket open (reading, so pings are answered) until aborted or closed.
pub fn spawn_idle(mut ws: Ws) -> JoinHandle<Option<u16>> {
    tokio::spawn(async move {
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;

    fn shared_with_one_message() -> (Arc<Shared>, u64) {
        let origin = Instant::now();
        let shared = Arc::new(Shared::new(origin, 1));
        let number = shared.ledger().sending(0, 0, 1, origin, origin);
        (shared, number)
    }

    #[test]
    fn a_message_frame_is_recorded_as_delivered_and_moves_the_cursor() {
        let (shared, number) = shared_with_one_message();
        let frame = format!(
            r#"{{"type":"message.new","cursor":41,"conversation_id":"c","message":{{"id":"m","sender":{{"id":"u","username":"a"}},"body":"m0 \"x\"","client_id":"lg{number}","cursor":41}}}}"#
        );
        let mut cursor = 3;
        received(&shared, 1, &frame, &mut cursor);
        received(&shared, 1, &frame, &mut cursor);
        let ledger: std::sync::MutexGuard<Ledger> = shared.ledger();
        assert_eq!(
            (ledger.tally().delivered, ledger.tally().duplicates),
            (1, 1)
        );
        assert_eq!(cursor, 41);
    }

    #[test]
    fn acks_and_errors_answer_the_send_they_name() {
        let (shared, number) = shared_with_one_message();
        let error = format!(
            r#"{{"type":"error","code":"conflict","message":"busy","client_id":"lg{number}"}}"#
        );
        let mut cursor = 0;
        received(&shared, 0, &error, &mut cursor);
        received(
            &shared,
            0,
            r#"{"type":"error","code":"invalid_frame","message":"x"}"#,
            &mut cursor,
        );
        received(
            &shared,
            0,
            r#"{"type":"presence","online":true}"#,
            &mut cursor,
        );
        received(&shared, 0, "not json", &mut cursor);
        let ledger = shared.ledger();
        let errors = &ledger.tally().errors;
        assert_eq!(errors.get("ws error conflict"), Some(&1));
        assert_eq!(errors.get("ws error invalid_frame"), Some(&1));
        assert_eq!(errors.get("ws unreadable frame"), Some(&1));
        assert_eq!(ledger.lane_of(number), Some((0, true)));
    }
}
