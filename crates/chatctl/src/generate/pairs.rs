//! A generated pair: two people, messages alternating between them, now and then a read receipt.
//! Its two people do not sign up (a pair's events carry their names), which keeps a store of
//! pairs the shape the README's rebuild measurements were taken on.

use crate::CtlError;
use chrono::{DateTime, Utc};
use domain::{ClientId, ConversationEvent, ConversationId, Member, MessageBody};

pub(super) struct Pair {
    pub(super) id: ConversationId,
    members: [Member; 2],
    /// Events in its stream so far (its version).
    pub(super) version: i64,
    last_seq: i64,
}

impl Pair {
    /// The `i`th pair of run `run`.
    pub(super) fn new(run: &str, i: u64) -> Result<Self, CtlError> {
        let a = super::person(&format!("g{run}a{i}"))?;
        let b = super::person(&format!("g{run}b{i}"))?;
        Ok(Self {
            id: ConversationId::for_pair(a.id, b.id),
            members: [a, b],
            version: 0,
            last_seq: 0,
        })
    }

    /// Its next event, the `n`th of the run's conversation events: first the start, then a read
    /// receipt when `n % 50 == 7` (2% of them) and a message otherwise.
    pub(super) fn next_event(
        &mut self,
        n: u64,
        at: DateTime<Utc>,
    ) -> Result<ConversationEvent, CtlError> {
        let c = &*self;
        let event = if c.version == 0 {
            ConversationEvent::ConversationStarted {
                conversation_id: c.id,
                members: c.members.clone(),
            }
        } else if c.last_seq > 0 && n % 50 == 7 {
            ConversationEvent::MessagesRead {
                conversation_id: c.id,
                reader_id: c.members[(c.last_seq % 2) as usize].id,
                peer_id: c.members[((c.last_seq + 1) % 2) as usize].id,
                up_to: c.last_seq,
                read_at: at,
            }
        } else {
            let seq = c.last_seq + 1;
            let sender = &c.members[(seq % 2) as usize];
            let recipient = &c.members[((seq + 1) % 2) as usize];
            let client_id = client_id(n)?;
            ConversationEvent::MessageSent {
                conversation_id: c.id,
                message_id: c.id.message_id(sender.id, &client_id),
                seq,
                sender: sender.clone(),
                recipient: recipient.clone(),
                body: body(&format!("message {seq} of a generated conversation"))?,
                client_id,
                sent_at: at,
            }
        };
        if let ConversationEvent::MessageSent { seq, .. } = &event {
            self.last_seq = *seq;
        }
        self.version += 1;
        Ok(event)
    }
}

/// The client id of the run's `n`th event, unique in the run as a client's would be.
pub(super) fn client_id(n: u64) -> Result<ClientId, CtlError> {
    ClientId::parse(&format!("gen-{n}"))
        .map_err(|e| CtlError::Failed(anyhow::anyhow!("generated client id: {e}")))
}

pub(super) fn body(text: &str) -> Result<MessageBody, CtlError> {
    MessageBody::parse(text).map_err(|e| CtlError::Failed(anyhow::anyhow!("generated body: {e}")))
}
