//! Conversation commands: start, send, edit, delete, read.
//!
//! Each command loads the conversation (from a small per-process cache, topped up with the events
//! appended since), decides, and appends with the version it decided on. A conflicting concurrent
//! append means someone else got there first: reload and decide again, so concurrent senders all
//! succeed with dense, gap-free seqs.

use crate::{Accounts, AppError};
use chrono::Utc;
use domain::{
    Aggregate, ClientId, Conversation, ConversationCommand, ConversationError, ConversationEvent,
    ConversationId, Member, MessageBody, UserId, Username,
};
use eventstore::{EventStore, ExpectedVersion, Metadata, NewEvent};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Enough for any realistic contention on one conversation; each retry means another writer won.
const MAX_ATTEMPTS: usize = 64;
/// Conversations kept in memory per process; past it the cache starts over.
const CACHE_CAPACITY: usize = 10_000;

/// A message as its send recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub conversation_id: ConversationId,
    pub message_id: Uuid,
    pub seq: i64,
    pub sender: Member,
    pub recipient: Member,
    pub body: String,
    pub client_id: String,
    pub sent_at: chrono::DateTime<Utc>,
    /// False when this was a resend of a message already stored (nothing new was stored).
    pub created: bool,
    /// The event store position of the send, for read-your-writes waits.
    pub position: i64,
}

/// What a command changed: the new position, or nothing (the command was already satisfied).
pub type Appended = Option<i64>;

#[derive(Clone)]
pub struct Conversations {
    store: EventStore,
    accounts: Accounts,
    /// Conversation state by id with the stream version it reflects. A command works on its own
    /// copy (cheap: message texts are shared) and puts back a newer state when it appends.
    cache: Arc<Mutex<HashMap<ConversationId, (i64, Conversation)>>>,
}

impl Conversations {
    pub fn new(store: EventStore, accounts: Accounts) -> Self {
        Self {
            store,
            accounts,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Starts (or finds) the conversation between `me` and `with`; true if it was created now.
    pub async fn start(
        &self,
        me: UserId,
        with: &Username,
    ) -> Result<(ConversationId, Appended), AppError> {
        let peer = self
            .accounts
            .profile_by_username(with)
            .await
            .map_err(|e| match e {
                AppError::NotFound(_) => AppError::Validation(domain::ValidationError::new(
                    "with",
                    format!("there is no user named {with}"),
                )),
                other => other,
            })?;
        if peer.id == me {
            return Err(AppError::Validation(domain::ValidationError::new(
                "with",
                "you cannot start a conversation with yourself",
            )));
        }
        let me = self.accounts.profile(me).await?;
        let id = ConversationId::for_pair(me.id, peer.id);
        let members = [member(me), member(peer)];
        let (_, appended) = self
            .execute(
                id,
                members[0].id,
                ConversationCommand::Start {
                    id,
                    members: members.clone(),
                },
            )
            .await?;
        Ok((id, appended))
    }

    pub async fn send(
        &self,
        id: ConversationId,
        sender: UserId,
        client_id: ClientId,
        body: MessageBody,
    ) -> Result<SentMessage, AppError> {
        let message_id = id.message_id(sender, &client_id);
        let command = ConversationCommand::Send {
            sender,
            client_id,
            body,
            at: Utc::now(),
        };
        let (events, appended) = self.execute(id, sender, command).await?;
        if let (Some(position), Some(event)) = (appended, events.into_iter().next()) {
            return sent_message(event, position, true);
        }
        // A resend: answer with the message as first stored.
        let stored =
            self.store.read_event(message_id).await?.ok_or_else(|| {
                AppError::Internal(format!("sent message {message_id} not stored"))
            })?;
        sent_message(stored.decode()?, stored.position, false)
    }

    /// Sends to a user by name, starting the conversation if needed.
    pub async fn send_to(
        &self,
        sender: UserId,
        to: &Username,
        client_id: ClientId,
        body: MessageBody,
    ) -> Result<SentMessage, AppError> {
        let (id, _) = self.start(sender, to).await.map_err(|e| match e {
            AppError::Validation(v) if v.field == "with" => {
                AppError::Validation(domain::ValidationError::new("to", v.message))
            }
            other => other,
        })?;
        self.send(id, sender, client_id, body).await
    }

    pub async fn edit(
        &self,
        id: ConversationId,
        editor: UserId,
        message_id: Uuid,
        body: MessageBody,
    ) -> Result<Appended, AppError> {
        let at = Utc::now();
        let (_, appended) = self
            .execute(
                id,
                editor,
                ConversationCommand::Edit {
                    editor,
                    message_id,
                    body: body.clone(),
                    at,
                },
            )
            .await?;
        Ok(appended)
    }

    pub async fn delete(
        &self,
        id: ConversationId,
        actor: UserId,
        message_id: Uuid,
    ) -> Result<Appended, AppError> {
        let at = Utc::now();
        let (_, appended) = self
            .execute(
                id,
                actor,
                ConversationCommand::Delete {
                    actor,
                    message_id,
                    at,
                },
            )
            .await?;
        Ok(appended)
    }

    pub async fn mark_read(
        &self,
        id: ConversationId,
        reader: UserId,
        up_to: i64,
    ) -> Result<Appended, AppError> {
        let at = Utc::now();
        let (_, appended) = self
            .execute(id, reader, ConversationCommand::Read { reader, up_to, at })
            .await?;
        Ok(appended)
    }

    /// The conversation if `user` is a member; `NotFound` otherwise, whether or not it exists.
    pub async fn for_member(
        &self,
        id: ConversationId,
        user: UserId,
    ) -> Result<Conversation, AppError> {
        let (version, state) = self.load(id).await?;
        let member = state.is_member(user);
        let result = if member {
            Ok(state.clone())
        } else {
            Err(AppError::NotFound("conversation"))
        };
        self.put_back(id, version, state);
        result
    }

    async fn execute(
        &self,
        id: ConversationId,
        actor: UserId,
        command: ConversationCommand,
    ) -> Result<(Vec<ConversationEvent>, Appended), AppError> {
        let metadata = Metadata {
            actor: Some(format!("user:{actor}")),
            correlation_id: Some(Uuid::new_v4()),
            ..Metadata::default()
        };
        for _ in 0..MAX_ATTEMPTS {
            let (version, state) = self.load(id).await?;
            let events = match state.decide(&command).map_err(conversation_error) {
                Ok(events) => events,
                Err(e) => {
                    self.put_back(id, version, state);
                    return Err(e);
                }
            };
            if events.is_empty() {
                self.put_back(id, version, state);
                return Ok((events, None));
            }
            let new_events = events
                .iter()
                .map(|event| {
                    NewEvent::from_data(event.event_id(), event.event_type(), event)
                        .map(|e| e.with_metadata(metadata.clone()))
                        .map_err(|e| AppError::Internal(format!("cannot serialize event: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let expected = if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version)
            };
            match self
                .store
                .append(&id.stream_id(), expected, &new_events)
                .await
            {
                Ok(result) if result.appended => {
                    let state = events.iter().fold(state, |s, e| s.evolve(e));
                    self.put_back(id, result.stream_version, state);
                    return Ok((events, result.last_position()));
                }
                // The same events were stored by a concurrent twin of this command: nothing new.
                Ok(_) => return Ok((vec![], None)),
                Err(e) if e.is_conflict() => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict {
            code: "contention",
            message: "too many concurrent changes to this conversation; please retry".into(),
        })
    }

    /// The cached state topped up with newer events, or the whole stream on a miss.
    async fn load(&self, id: ConversationId) -> Result<(i64, Conversation), AppError> {
        let cached = self.cache.lock().ok().and_then(|c| c.get(&id).cloned());
        let (mut version, mut state) = cached.unwrap_or_default();
        let newer = self
            .store
            .read_stream(&id.stream_id(), version + 1, i64::MAX)
            .await?;
        for recorded in &newer {
            let event = recorded.decode::<ConversationEvent>()?;
            state = state.evolve(&event);
            version = recorded.stream_version;
        }
        Ok((version, state))
    }

    fn put_back(&self, id: ConversationId, version: i64, state: Conversation) {
        // Ids of conversations that do not exist (guesses, typos) are not worth a cache slot.
        if version == 0 {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            match cache.get(&id) {
                // A concurrent command left a newer state; keep that one.
                Some((cached, _)) if *cached >= version => {}
                _ => {
                    cache.insert(id, (version, state));
                }
            }
        }
    }
}

fn sent_message(
    event: ConversationEvent,
    position: i64,
    created: bool,
) -> Result<SentMessage, AppError> {
    match event {
        ConversationEvent::MessageSent {
            conversation_id,
            message_id,
            seq,
            sender,
            recipient,
            body,
            client_id,
            sent_at,
        } => Ok(SentMessage {
            conversation_id,
            message_id,
            seq,
            sender,
            recipient,
            body: body.into(),
            client_id: client_id.into(),
            sent_at,
            created,
            position,
        }),
        other => Err(AppError::Internal(format!(
            "expected a sent message, found {}",
            other.event_type()
        ))),
    }
}

fn member(profile: crate::UserProfile) -> Member {
    Member {
        id: profile.id,
        username: profile.username,
        display_name: profile.display_name,
    }
}

fn conversation_error(error: ConversationError) -> AppError {
    use ConversationError as E;
    match error {
        E::NotStarted | E::NotMember => AppError::NotFound("conversation"),
        E::MessageNotFound => AppError::NotFound("message"),
        E::WithSelf => {
            AppError::Validation(domain::ValidationError::new("with", error.to_string()))
        }
        E::NegativeReadPosition => {
            AppError::Validation(domain::ValidationError::new("up_to", error.to_string()))
        }
        E::NotSender => AppError::Forbidden {
            code: "not_sender",
            message: error.to_string(),
        },
        E::MessageDeleted => AppError::Conflict {
            code: "message_deleted",
            message: error.to_string(),
        },
    }
}
