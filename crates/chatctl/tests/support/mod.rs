//! Running the real `chatctl` binary against a test database, and writing events as chatd would.

#![allow(dead_code)]

use domain::{ClientId, ConversationEvent, ConversationId, Member, MessageBody};
use eventstore::{EventStore, ExpectedVersion, NewEvent};
use std::process::{Command, Output, Stdio};

/// `chatctl ARGS` with the test database's configuration; waits for it to end.
pub fn chatctl(db: &testkit::TestDb, args: &[&str]) -> anyhow::Result<Output> {
    Ok(command(db, args).stdin(Stdio::null()).output()?)
}

/// The command, not started (for processes a test follows or kills).
pub fn command(db: &testkit::TestDb, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chatctl"));
    command
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("REDIS_KEY_PREFIX", format!("test:{}:", db.name()))
        .env_remove("RUST_LOG");
    command
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Fails the test with the command's output unless it exited with `code`.
pub fn expect_exit(output: &Output, code: i32) -> anyhow::Result<()> {
    anyhow::ensure!(
        output.status.code() == Some(code),
        "expected exit {code}, got {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// A conversation between two new people, started in the store.
pub struct Chat {
    pub id: ConversationId,
    pub members: [Member; 2],
    pub version: i64,
}

impl Chat {
    pub async fn start(store: &EventStore) -> anyhow::Result<Self> {
        let (a, b) = (Member::named("ann"), Member::named("ben"));
        let id = ConversationId::for_pair(a.id, b.id);
        let mut chat = Self {
            id,
            members: [a, b],
            version: 0,
        };
        let event = ConversationEvent::ConversationStarted {
            conversation_id: id,
            members: chat.members.clone(),
        };
        chat.append(store, event).await?;
        Ok(chat)
    }

    /// The next message, from alternating members.
    pub async fn send(&mut self, store: &EventStore, body: &str) -> anyhow::Result<i64> {
        let seq = self.version; // the start is version 1; messages follow
        let client_id = ClientId::parse(&format!("c{seq}"))?;
        let sender = self.members[(seq % 2) as usize].clone();
        let recipient = self.members[((seq + 1) % 2) as usize].clone();
        let event = ConversationEvent::MessageSent {
            conversation_id: self.id,
            message_id: self.id.message_id(sender.id, &client_id),
            seq,
            sender,
            recipient,
            body: MessageBody::parse(body)?,
            client_id,
            sent_at: chrono::Utc::now(),
        };
        self.append(store, event).await
    }

    pub async fn append(
        &mut self,
        store: &EventStore,
        event: ConversationEvent,
    ) -> anyhow::Result<i64> {
        let new = NewEvent::from_data(event.event_id(), event.event_type(), &event)?;
        let result = store
            .append(
                &self.id.stream_id(),
                ExpectedVersion::Exact(self.version),
                &[new],
            )
            .await?;
        self.version = result.stream_version;
        result
            .last_position()
            .ok_or_else(|| anyhow::anyhow!("nothing appended"))
    }
}
