//! The JetStream stream as a deployment finds it: new, or made by a version that published on
//! per-user subjects.

use async_nats::jetstream::stream;
use bus::{Bus, BusConfig};
use domain::ConversationId;
use std::time::Duration;
use uuid::Uuid;

fn config() -> BusConfig {
    let name = Uuid::new_v4().simple().to_string();
    BusConfig {
        stream: format!("TEST_{name}"),
        prefix: format!("t{name}"),
        max_age: Duration::from_secs(3600),
    }
}

#[tokio::test]
async fn a_stream_of_per_user_subjects_moves_to_conversation_subjects_and_keeps_its_events(
) -> anyhow::Result<()> {
    let config = config();
    let _cleanup = Cleanup(config.stream.clone());
    let bus = Bus::new(async_nats::connect(testkit::nats_url()).await?, config);
    let prefix = &bus.config.prefix;
    bus.jetstream
        .create_stream(stream::Config {
            name: bus.config.stream.clone(),
            subjects: vec![format!("{prefix}.user.>")],
            ..Default::default()
        })
        .await?;
    bus.jetstream
        .publish(format!("{prefix}.user.someone.message.new"), "old".into())
        .await?
        .await?;

    let mut stream = bus.ensure_stream().await?;
    let info = stream.info().await?;
    assert_eq!(info.config.subjects, vec![format!("{prefix}.conv.>")]);
    assert_eq!(info.state.messages, 1, "the stored event is kept");

    let subject = bus.conversation_subject(ConversationId::from_uuid(Uuid::new_v4()), "read");
    bus.jetstream.publish(subject, "new".into()).await?.await?;
    assert_eq!(stream.info().await?.state.messages, 2);

    // Idempotent: a second start changes nothing.
    let again = bus.ensure_stream().await?;
    assert_eq!(again.cached_info().state.messages, 2);
    Ok(())
}

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        testkit::delete_stream(&self.0);
    }
}

/// The publisher chains each publish to the one before (`Nats-Expected-Last-Msg-Id`), so the
/// broker refuses an event whose predecessor it does not hold: events can never be stored out of
/// the log's order (e.g. when a reconnecting client flushes its buffer after a lost write). A
/// re-publish after a restart must still be taken as a duplicate, not refused.
#[tokio::test]
async fn the_broker_refuses_a_gap_in_the_chain_and_accepts_a_chained_duplicate(
) -> anyhow::Result<()> {
    use async_nats::jetstream::message::PublishMessage;
    let config = config();
    let _cleanup = Cleanup(config.stream.clone());
    let bus = Bus::new(async_nats::connect(testkit::nats_url()).await?, config);
    bus.ensure_stream().await?;
    let subject = bus.conversation_subject(ConversationId::from_uuid(Uuid::new_v4()), "read");
    let publish = |id: &str, after: Option<&str>| {
        let mut message = PublishMessage::build()
            .payload(id.to_owned().into_bytes().into())
            .message_id(id);
        if let Some(after) = after {
            message = message.expected_last_message_id(after);
        }
        let (jetstream, subject) = (bus.jetstream.clone(), subject.clone());
        async move {
            jetstream
                .send_publish(subject, message)
                .await
                .map_err(anyhow::Error::from)?
                .await
                .map_err(anyhow::Error::from)
        }
    };
    publish("e1", None).await?;
    publish("e2", Some("e1")).await?;
    // e3 never reached the broker: e4, chained to it, is refused.
    assert!(publish("e4", Some("e3")).await.is_err());
    // A restart re-publishes from its checkpoint: e2 again is a duplicate, whatever it expects.
    let again = publish("e2", Some("e1")).await?;
    assert!(again.duplicate);
    publish("e3", Some("e2")).await?;
    publish("e4", Some("e3")).await?;
    let stored = bus.ensure_stream().await?.cached_info().state.messages;
    assert_eq!(stored, 4);
    Ok(())
}
