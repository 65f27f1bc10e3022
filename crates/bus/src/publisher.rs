//! The publisher role: every committed event goes to JetStream, in the event store's order.
//!
//! It follows the store's catch-up subscription (safe global order, woken by LISTEN/NOTIFY) and moves
//! its checkpoint only over events whose every frame JetStream acknowledged. An event committed just
//! before a crash, or while NATS was down, is published when the publisher is back; a re-sent one is
//! dropped by JetStream's duplicate detection (`Nats-Msg-Id` = event id). Each event is published
//! once, whatever the number of its recipients.
//!
//! Publishes are pipelined (acks awaited per batch), so a write lost in a reconnect could otherwise
//! be overtaken by the ones behind it, which the client flushes after reconnecting, and reach the
//! stream out of the log's order. Each publish therefore names the one before it
//! (`Nats-Expected-Last-Msg-Id`): the broker refuses an event whose predecessor it does not hold,
//! the batch fails, and the publisher starts again from its checkpoint. A gateway can then trust
//! that positions reach it in order.

use crate::{to_header, Bus, BusError, Renderer, POSITION_HEADER, TO_HEADER};
use async_nats::jetstream::message::PublishMessage;
use eventstore::{advance_checkpoint, load_checkpoint, EventStore, SubscriptionOptions};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const CHECKPOINT: &str = "publisher";

/// How long the checkpoint may trail what was published. Written once per batch, it cost a
/// Postgres transaction per batch and a round trip before the next one was read (at 2,000
/// messages/s, batches are a few events each); trailing, it only makes a restarted publisher
/// re-send up to this much, which JetStream drops as duplicates.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Runs until `shutdown`; failures are logged and retried from the checkpoint with backoff.
pub async fn run_publisher(store: EventStore, bus: Bus, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            outcome = follow(&store, &bus, &mut backoff) => outcome,
        };
        if let Err(error) = outcome {
            metrics::counter!("jetstream_publish_failures_total").increment(1);
            tracing::warn!(%error, "publisher failed; retrying from its checkpoint");
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

async fn follow(store: &EventStore, bus: &Bus, backoff: &mut Duration) -> Result<(), BusError> {
    bus.ensure_stream().await?;
    let checkpoint = load_checkpoint(store.pool(), CHECKPOINT).await?;
    let mut subscription = store
        .subscribe(
            checkpoint,
            SubscriptionOptions {
                batch_size: 200,
                ..SubscriptionOptions::default()
            },
        )
        .await?;
    tracing::info!(checkpoint, stream = %bus.config.stream, "publisher following the log");
    // The first publish of a run expects nothing: everything before the checkpoint is stored.
    let mut previous: Option<String> = None;
    let mut renderer = Renderer::new(store.clone());
    // The position published but not yet checkpointed, and when it is due.
    let mut unsaved: Option<i64> = None;
    let mut save_at = Instant::now();
    loop {
        let batch = tokio::select! {
            biased;
            () = tokio::time::sleep_until(save_at), if unsaved.is_some() => {
                if let Some(position) = unsaved.take() {
                    save(store, position).await?;
                }
                continue;
            }
            batch = subscription.next_batch() => batch?,
        };
        let mut acks = Vec::new();
        for event in &batch {
            let Some(frame) = renderer.render(event).await? else {
                continue;
            };
            let id = event.event_id.to_string();
            let mut publish = PublishMessage::build()
                .payload(frame.json.into_bytes().into())
                .message_id(&id)
                .header(POSITION_HEADER, event.position.to_string().as_str())
                .header(TO_HEADER, to_header(&frame.to).as_str());
            if let Some(previous) = &previous {
                publish = publish.expected_last_message_id(previous);
            }
            previous = Some(id);
            let ack = bus
                .jetstream
                .send_publish(
                    bus.conversation_subject(frame.conversation, frame.kind),
                    publish,
                )
                .await
                .map_err(|e| BusError::JetStream(e.to_string()))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(|e| BusError::JetStream(e.to_string()))?;
        }
        metrics::counter!("events_published_total").increment(batch.len() as u64);
        if let Some(last) = batch.last() {
            if unsaved.is_none() {
                save_at = Instant::now() + CHECKPOINT_EVERY;
            }
            unsaved = Some(last.position);
        }
        *backoff = Duration::from_millis(200);
    }
}

/// Moves the checkpoint over everything JetStream acknowledged.
///
/// A checkpoint lost in a crash only re-publishes what JetStream then drops as a duplicate (same
/// message ids), so it does not wait for its flush.
async fn save(store: &EventStore, position: i64) -> Result<(), BusError> {
    let mut conn = store
        .pool()
        .acquire()
        .await
        .map_err(eventstore::Error::from)?;
    advance_checkpoint(&mut conn, CHECKPOINT, position).await?;
    Ok(())
}
