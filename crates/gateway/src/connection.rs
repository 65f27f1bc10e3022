//! One WebSocket: a reader (client frames) and a writer (hello, backlog, live frames, pings), each
//! its own task; when either ends the other is stopped and the socket leaves the hub and presence.

use crate::client::{self, Reply};
use crate::cursor::{Admit, Sent};
use crate::hub::{Outbound, Registration, SocketState, Stop};
use crate::resume::Replay;
use crate::{announce, Gateway, CLOSE_RESUME};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use domain::Member;
use futures_util::stream::{FuturesOrdered, SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use wire::{ServerFrame, UserRef};

/// Replies (acks, errors) waiting for the writer; the reader waits when it is full, which slows
/// only the client that sends faster than it reads.
const REPLY_QUEUE: usize = 16;
/// Sends one socket may have queued and not yet answered. A person sends one at a time; a bot or
/// a busy client gets its sends into shared group commits without waiting for each ack.
const MAX_SENDS_IN_FLIGHT: usize = 32;
/// Frames written to a socket before one flush, at most.
const MAX_BURST: usize = 32;

/// RFC 6455's "message too big": a client frame over the size limit.
const MESSAGE_TOO_BIG: u16 = 1009;

/// Close code for a socket whose session ended (logout, revoked elsewhere, expired).
pub const CLOSE_SESSION_ENDED: u16 = 4001;

/// Serves an authenticated socket until it closes. `after` is the client's resume cursor;
/// `session_id` is checked at every ping, so logging out or revoking the session closes it.
pub async fn serve(
    gateway: Gateway,
    socket: WebSocket,
    me: Member,
    after: Option<i64>,
    session_id: String,
) {
    let (mut sink, stream) = socket.split();
    let ready = tokio::time::timeout(
        Duration::from_secs(10),
        gateway.inner.live_ready.cancelled(),
    )
    .await;
    if ready.is_err() {
        let _ = close(&mut sink, 1013, "live feed unavailable; retry").await;
        return;
    }
    let registration = gateway.hub().register(me.id, &session_id);
    metrics::gauge!("websocket_connections").increment(1);
    let socket_id = registration.id;
    let presence_key = gateway.presence_key(socket_id);
    // Boxed here and below: every idle socket holds this future for its whole life, and a state
    // machine is as large as its largest await. Rare, deep awaits (Redis, Postgres, the bus) go
    // to the heap for their duration instead of sizing every socket's future.
    Box::pin(async {
        match gateway.deps().presence.connect(me.id, &presence_key).await {
            Ok(true) => announce::presence(&gateway, me.id).await,
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "presence unavailable"),
        }
    })
    .await;

    let started = Instant::now();
    let last_heard = Arc::new(AtomicI64::new(0));
    let (replies, reply_queue) = mpsc::channel(REPLY_QUEUE);
    let state = registration.state.clone();
    // The writer runs in this task (one task less per socket); the reader in its own.
    let mut writer = std::pin::pin!(write(
        gateway.clone(),
        me.clone(),
        sink,
        registration,
        reply_queue,
        after,
        started,
        last_heard.clone(),
        session_id,
    ));
    let mut reader = tokio::spawn(read(
        gateway.clone(),
        me.clone(),
        stream,
        replies,
        started,
        last_heard,
        (state, presence_key.clone()),
    ));
    tokio::select! {
        () = &mut writer => reader.abort(),
        _ = &mut reader => {
            // Let the writer flush what the reader asked of it; past that it is dropped.
            let _ = tokio::time::timeout(Duration::from_millis(200), &mut writer).await;
        }
    }

    gateway.hub().unregister(me.id, socket_id);
    metrics::gauge!("websocket_connections").decrement(1);
    Box::pin(async {
        match gateway
            .deps()
            .presence
            .disconnect(me.id, &presence_key)
            .await
        {
            Ok(true) => announce::presence(&gateway, me.id).await,
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "presence unavailable"),
        }
    })
    .await;
}

async fn read(
    gateway: Gateway,
    me: Member,
    mut stream: SplitStream<WebSocket>,
    replies: mpsc::Sender<Reply>,
    started: Instant,
    last_heard: Arc<AtomicI64>,
    (state, presence_key): (Arc<SocketState>, String),
) {
    // Sends queued but not yet stored; acks go out in frame order. Bounded: past it the reader
    // stops reading, and TCP pushes back on the client.
    let mut in_flight = FuturesOrdered::new();
    loop {
        let message = tokio::select! {
            Some(ack) = in_flight.next(), if !in_flight.is_empty() => {
                if replies.send(Reply::Frame(Box::new(ack))).await.is_err() {
                    break;
                }
                continue;
            }
            message = stream.next(), if in_flight.len() < MAX_SENDS_IN_FLIGHT => message,
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(error)) if is_too_big(&error) => {
                // The client hears why (1009), as RFC 6455 asks, instead of a dropped connection.
                let _ = replies
                    .send(Reply::Close(MESSAGE_TOO_BIG, "message too big"))
                    .await;
                break;
            }
            // Closed, protocol errors, resets: this socket is done.
            _ => break,
        };
        last_heard.store(started.elapsed().as_millis() as i64, Ordering::Relaxed);
        if state.stop_reason() == Some(Stop::SessionEnded) {
            // Nothing more from an ended session, not even a send already on the wire.
            break;
        }
        let reply = match message {
            Message::Text(text) => Box::pin(client::handle(&gateway, &me, text.as_str())).await,
            Message::Binary(_) => Some(Reply::Frame(Box::new(ServerFrame::error(
                "invalid_frame",
                "binary frames are not supported; send JSON text",
            )))),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => None,
        };
        let writer_alive = match reply {
            Some(Reply::Visible(now_visible)) => {
                state.visible.store(now_visible, Ordering::Relaxed);
                if let Err(error) = Box::pin(gateway.deps().presence.set_visible(
                    me.id,
                    &presence_key,
                    now_visible,
                ))
                .await
                {
                    tracing::warn!(%error, "presence unavailable");
                }
                true
            }
            Some(Reply::Pending(ack)) => {
                in_flight.push_back(ack);
                true
            }
            Some(reply) => replies.send(reply).await.is_ok(),
            None => true,
        };
        if !writer_alive {
            break;
        }
    }
}

type Sink = SplitSink<WebSocket, Message>;

#[allow(clippy::too_many_arguments)]
async fn write(
    gateway: Gateway,
    me: Member,
    mut sink: Sink,
    mut registration: Registration,
    mut replies: mpsc::Receiver<Reply>,
    after: Option<i64>,
    started: Instant,
    last_heard: Arc<AtomicI64>,
    session_id: String,
) {
    let settings = gateway.deps().settings;
    let session_key = kv::session_key(&gateway.deps().kv, &session_id);
    let head = Box::pin(gateway.deps().store.head_position())
        .await
        .unwrap_or(0);
    let hello = ServerFrame::Hello {
        user: UserRef::from(&me),
        cursor: head,
    };
    if send_text(&mut sink, hello.to_json()).await.is_err() {
        return;
    }
    let mut sent = Sent::default();
    if let Some(after) = after {
        match Box::pin(backlog(&gateway, &me, &mut sink, after)).await {
            Some(head) => sent.replayed(head),
            None => return,
        }
    }

    let mut ping = tokio::time::interval(settings.ping_interval);
    ping.tick().await;
    loop {
        // Biased: a stopped socket (its session ended) sends nothing more, even if frames wait.
        tokio::select! {
            biased;
            () = registration.stop.cancelled() => {
                let _ = close_stopped(&mut sink, &registration).await;
                return;
            }
            frame = registration.queue.recv() => {
                let Some(frame) = frame else { return };
                // A client that stopped reading blocks this send; its overflow must still end it.
                let done = tokio::select! {
                    done = send_burst(&mut sink, frame, &mut registration.queue, &mut sent) => done.is_ok(),
                    () = registration.stop.cancelled() => false,
                };
                if !done {
                    let _ = tokio::time::timeout(Duration::from_secs(1), close_stopped(&mut sink, &registration)).await;
                    return;
                }
            }
            reply = replies.recv() => {
                match reply {
                    Some(Reply::Frame(frame)) => {
                        if send_text(&mut sink, frame.to_json()).await.is_err() {
                            return;
                        }
                    }
                    Some(Reply::Resume(after)) => match Box::pin(backlog(&gateway, &me, &mut sink, after)).await {
                        Some(head) => sent.replayed(head),
                        None => return,
                    },
                    Some(Reply::Close(code, reason)) => {
                        let _ = close(&mut sink, code, reason).await;
                        return;
                    }
                    Some(Reply::Visible(_) | Reply::Pending(_)) => {}
                    None => return,
                }
            }
            () = gateway.inner.shutdown.cancelled() => {
                let _ = close(&mut sink, CLOSE_RESUME, "server restarting; reconnect and resume from your last cursor").await;
                return;
            }
            _ = ping.tick() => {
                let heard = last_heard.load(Ordering::Relaxed);
                let silent = started.elapsed().as_millis() as i64 - heard;
                if silent > settings.idle_timeout.as_millis() as i64 {
                    let _ = close(&mut sink, 1001, "no answer to pings").await;
                    return;
                }
                if !Box::pin(session_alive(&gateway, &session_key)).await {
                    let _ = close(&mut sink, CLOSE_SESSION_ENDED, "your session ended; log in again").await;
                    return;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends the backlog after `after`; the head it reached, or `None` if the socket failed.
async fn backlog(gateway: &Gateway, me: &Member, sink: &mut Sink, after: i64) -> Option<i64> {
    let outcome: Result<Option<i64>, Box<dyn std::error::Error + Send + Sync>> = async {
        let mut replay = Replay::start(gateway, me.id, after).await?;
        while let Some(frames) = replay.next_page(gateway).await? {
            for json in frames {
                if send_text(sink, json).await.is_err() {
                    return Ok(None);
                }
            }
        }
        Ok(Some(replay.head))
    }
    .await;
    outcome.unwrap_or_else(|error| {
        tracing::error!(%error, "cannot replay a backlog");
        None
    })
}

/// Writes `first` and whatever else is already queued (up to `MAX_BURST` frames), then flushes
/// once: under load a socket gets one write for a burst of frames instead of one per frame.
async fn send_burst(
    sink: &mut Sink,
    first: Outbound,
    queue: &mut mpsc::Receiver<Outbound>,
    sent: &mut Sent,
) -> Result<(), axum::Error> {
    let mut next = Some(first);
    let mut fed = 0;
    while let Some(frame) = next.take() {
        let text = match frame {
            Outbound::Durable { cursor, json } => match sent.admit(cursor) {
                Admit::Send => Some(json),
                Admit::Skip => None,
                Admit::SendLate => {
                    metrics::counter!("websocket_frames_out_of_order_total").increment(1);
                    tracing::error!(cursor, "a durable frame arrived out of the log's order");
                    Some(json)
                }
            },
            Outbound::Ephemeral(json) => Some(json),
        };
        if let Some(text) = text {
            sink.feed(Message::Text(text)).await?;
            fed += 1;
        }
        if fed < MAX_BURST {
            next = queue.try_recv().ok();
        }
    }
    sink.flush().await
}

/// A client frame over the size limit (tungstenite's capacity error, under axum's wrapper).
fn is_too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)))
}

/// Closes a socket the hub stopped, saying why.
async fn close_stopped(sink: &mut Sink, registration: &Registration) -> Result<(), axum::Error> {
    match registration.state.stop_reason() {
        Some(Stop::SessionEnded) => {
            close(
                sink,
                CLOSE_SESSION_ENDED,
                "your session ended; log in again",
            )
            .await
        }
        _ => {
            metrics::counter!("websocket_overflows_total").increment(1);
            close(
                sink,
                CLOSE_RESUME,
                "too far behind; reconnect and resume from your last cursor",
            )
            .await
        }
    }
}

async fn send_text(sink: &mut Sink, text: impl Into<Utf8Bytes>) -> Result<(), axum::Error> {
    sink.send(Message::Text(text.into())).await
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) -> Result<(), axum::Error> {
    sink.send(Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    })))
    .await
}

/// Whether the socket's session still exists; a Redis outage does not close sockets.
async fn session_alive(gateway: &Gateway, key: &str) -> bool {
    let Ok(mut conn) = gateway.deps().kv.conn().await else {
        return true;
    };
    redis::AsyncCommands::exists::<_, bool>(&mut conn, key)
        .await
        .unwrap_or(true)
}
