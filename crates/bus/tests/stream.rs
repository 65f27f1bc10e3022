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
