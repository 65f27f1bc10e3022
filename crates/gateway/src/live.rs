//! The gateway's background feeds: durable events from JetStream, ephemeral frames from core NATS,
//! the presence heartbeat and sweep, and ended sessions (whose sockets close at once).

use crate::announce;
use crate::hub::Outbound;
use crate::Gateway;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use kv::session_ends::{Heard, EMPTIED_CHECK_EVERY};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Task {
    Durable,
    Ephemeral,
    Heartbeat,
    Sweep,
    Sessions,
}

pub(crate) async fn run(gateway: Gateway, task: Task) {
    let mut resume_after: Option<u64> = None;
    loop {
        let outcome = match task {
            Task::Durable => durable(&gateway, &mut resume_after).await,
            Task::Ephemeral => ephemeral(&gateway).await,
            Task::Heartbeat => heartbeat(&gateway).await,
            Task::Sweep => sweep(&gateway).await,
            Task::Sessions => sessions(&gateway).await,
        };
        if let Err(error) = outcome {
            tracing::warn!(?task, %error, "gateway feed failed; restarting it");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Follows every conversation's durable subjects with an ordered consumer and hands each event to
/// the local sockets of its recipients. After a failure it restarts
/// just after the last stream sequence it handled, so a NATS outage loses nothing.
async fn durable(gateway: &Gateway, resume_after: &mut Option<u64>) -> Result<(), Failure> {
    let bus = &gateway.deps().bus;
    let stream = bus.ensure_stream().await?;
    let deliver_policy = match resume_after {
        None => DeliverPolicy::New,
        Some(seq) => DeliverPolicy::ByStartSequence {
            start_sequence: *seq + 1,
        },
    };
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: bus.all_conversations_subject(),
            deliver_policy,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    gateway.inner.live_ready.cancel();
    // After a reconnect (e.g. NATS restarted) the consumer may be gone on the server while the
    // stream here stays silent; recreate it from the last sequence seen instead of waiting.
    let statistics = bus.client.statistics();
    let connects = statistics
        .connects
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut check = tokio::time::interval(Duration::from_millis(500));
    loop {
        let message = tokio::select! {
            message = messages.next() => message,
            _ = check.tick() => {
                if statistics.connects.load(std::sync::atomic::Ordering::Relaxed) != connects {
                    return Err("reconnected to NATS; recreating the consumer".into());
                }
                continue;
            }
        };
        let Some(message) = message else { break };
        let message = message?;
        if let Ok(info) = message.info() {
            *resume_after = Some(info.stream_sequence);
        }
        let headers = message.headers.as_ref();
        let Some(cursor) = bus::position(headers) else {
            tracing::warn!(subject = %message.subject, "an event without a position; skipped");
            continue;
        };
        let Ok(json) = Utf8Bytes::try_from(message.payload.clone()) else {
            continue;
        };
        gateway.hub().deliver_to(
            &bus::recipients(headers),
            &Outbound::Durable { cursor, json },
        );
    }
    Err("JetStream consumer ended".into())
}

async fn ephemeral(gateway: &Gateway) -> Result<(), Failure> {
    let bus = &gateway.deps().bus;
    let mut subscription = bus.client.subscribe(bus.all_ephemeral_subject()).await?;
    while let Some(message) = subscription.next().await {
        let to = bus.ephemeral_recipients(&message.subject, message.headers.as_ref());
        if to.is_empty() {
            continue;
        }
        if let Ok(json) = Utf8Bytes::try_from(message.payload.clone()) {
            gateway.hub().deliver_to(&to, &Outbound::Ephemeral(json));
        }
    }
    Err("NATS subscription ended".into())
}

async fn heartbeat(gateway: &Gateway) -> Result<(), Failure> {
    let presence = &gateway.deps().presence;
    let mut tick = tokio::time::interval(presence.ttl() / 3);
    loop {
        tick.tick().await;
        let sockets: Vec<_> = gateway
            .hub()
            .sockets()
            .into_iter()
            .map(|(user, socket, visible)| (user, gateway.presence_key(socket), visible))
            .collect();
        presence.heartbeat(&sockets).await?;
    }
}

/// Declares offline the users whose sockets all expired (their gateway died) and tells their peers.
async fn sweep(gateway: &Gateway) -> Result<(), Failure> {
    let presence = &gateway.deps().presence;
    let mut tick = tokio::time::interval((presence.ttl() / 2).max(Duration::from_millis(250)));
    loop {
        tick.tick().await;
        for user in presence.sweep().await? {
            announce::presence(gateway, user).await;
        }
    }
}

/// Closes the sockets of sessions that end. Announced ends arrive on Redis pub/sub; whenever the
/// listener (re)subscribes, or Redis turns out to have been emptied, every socket's session is
/// checked, since those ends were not announced.
async fn sessions(gateway: &Gateway) -> Result<(), Failure> {
    let kv = &gateway.deps().kv;
    let (recheck, mut rechecks) = tokio::sync::mpsc::channel::<()>(1);
    let listen = kv::session_ends::listen(kv, |heard| match heard {
        Heard::Ended { user, session_id } => {
            let closed = gateway.hub().end_session(user, &session_id);
            if closed > 0 {
                tracing::debug!(closed, "sockets of an ended session closed");
            }
        }
        Heard::Subscribed => {
            let _ = recheck.try_send(());
        }
    });
    let emptied = kv::session_ends::watch_emptied(kv, EMPTIED_CHECK_EVERY, || {
        let _ = recheck.try_send(());
    });
    let check = async {
        while rechecks.recv().await.is_some() {
            if let Err(error) = end_missing_sessions(gateway).await {
                tracing::warn!(%error, "cannot check the sessions of open sockets");
            }
        }
    };
    tokio::join!(listen, emptied, check);
    Err("session listener ended".into())
}

async fn end_missing_sessions(gateway: &Gateway) -> Result<(), Failure> {
    let kv = &gateway.deps().kv;
    let sessions = gateway.hub().sessions();
    if sessions.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for (_, session_id) in &sessions {
        pipe.exists(kv::session_key(kv, session_id));
    }
    let alive: Vec<bool> = pipe.query_async(&mut kv.conn().await?).await?;
    for ((user, session_id), alive) in sessions.iter().zip(alive) {
        if !alive {
            gateway.hub().end_session(*user, session_id);
        }
    }
    Ok(())
}
