//! Conversation commands: start, send, edit, delete, read.
//!
//! Commands go through the conversation's command queue (see `command_queue.rs`): decided in
//! arrival order against cached state and appended in groups, so concurrent senders on one
//! conversation never conflict and all get dense, gap-free seqs.

use crate::command_queue::{self, CommandQueues};
use crate::{Accounts, AppError, Membership};
use chrono::Utc;
use domain::{
    ClientId, ConversationCommand, ConversationError, ConversationEvent, ConversationId, Member,
    MessageBody, UserId, Username,
};
use eventstore::{Appender, EventStore, Metadata};
use uuid::Uuid;

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

impl SentMessage {
    /// The message as clients see it: the REST answer and the socket's ack.
    pub fn message(&self) -> wire::Message {
        wire::Message::from(wire::Sent {
            conversation_id: self.conversation_id,
            id: self.message_id,
            seq: self.seq,
            sender: &self.sender,
            body: &self.body,
            client_id: &self.client_id,
            sent_at: self.sent_at,
            cursor: self.position,
        })
    }
}

/// What a command changed: the new position, or nothing (the command was already satisfied).
pub type Appended = Option<i64>;

#[derive(Clone)]
pub struct Conversations {
    store: EventStore,
    accounts: Accounts,
    queues: CommandQueues,
}

impl Conversations {
    pub fn new(store: EventStore, appender: Appender, accounts: Accounts) -> Self {
        Self {
            queues: CommandQueues::new(store.clone(), appender),
            store,
            accounts,
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
        self.submit_send(id, sender, client_id, body).await
    }

    /// Queues a send now and returns the wait for its outcome, so a caller (a WebSocket with many
    /// sends in flight) can submit several in order without waiting for each: they get their
    /// `seq`s in submission order.
    pub fn submit_send(
        &self,
        id: ConversationId,
        sender: UserId,
        client_id: ClientId,
        body: MessageBody,
    ) -> impl std::future::Future<Output = Result<SentMessage, AppError>> + Send + 'static {
        let message_id = id.message_id(sender, &client_id);
        let command = ConversationCommand::Send {
            sender,
            client_id,
            body,
            at: Utc::now(),
        };
        let outcome = self.queues.submit(id, command, metadata(sender));
        let store = self.store.clone();
        async move {
            let (events, appended) = outcome.await?;
            if let (Some(position), Some(event)) = (appended, events.into_iter().next()) {
                return sent_message(event, position, true);
            }
            // A resend: answer with the message as first stored.
            let stored = store
                .read_event(message_id)
                .await?
                .ok_or_else(|| AppError::bug(format!("sent message {message_id} not stored")))?;
            sent_message(stored.decode()?, stored.position, false)
        }
    }

    /// The conversation between `sender` and the user named `to`, started if needed. Usernames
    /// never change owner, so once this process knows the conversation no read is needed.
    pub async fn with_user(
        &self,
        sender: UserId,
        to: &Username,
    ) -> Result<ConversationId, AppError> {
        if let Some(peer) = self.accounts.cached_user_id(to) {
            let id = ConversationId::for_pair(sender, peer);
            if peer != sender && self.queues.is_started(id) {
                return Ok(id);
            }
        }
        let (id, _) = self.start(sender, to).await.map_err(|e| match e {
            AppError::Validation(v) if v.field == "with" => {
                AppError::Validation(domain::ValidationError::new("to", v.message))
            }
            other => other,
        })?;
        Ok(id)
    }

    /// Sends to a user by name, starting the conversation if needed.
    pub async fn send_to(
        &self,
        sender: UserId,
        to: &Username,
        client_id: ClientId,
        body: MessageBody,
    ) -> Result<SentMessage, AppError> {
        let id = self.with_user(sender, to).await?;
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

    /// Waits until every command accepted so far is stored and answered (for shutdown, before
    /// the appender stops).
    pub async fn idle(&self) {
        self.queues.idle().await;
    }

    /// Who is in the conversation and how far they have read, if `user` is a member; `NotFound`
    /// otherwise, whether or not it exists. Reads the events newer than the cached state, so read
    /// receipts recorded by other processes count.
    pub async fn for_member(
        &self,
        id: ConversationId,
        user: UserId,
    ) -> Result<Membership, AppError> {
        let (version, mut membership) = match self.queues.membership(id) {
            Some(known) => known,
            None => {
                let (version, state) = command_queue::load(&self.store, id).await?;
                let membership = Membership::of(&state);
                self.queues.offer(id, version, state);
                (version, membership)
            }
        };
        for recorded in self
            .store
            .read_stream(&id.stream_id(), version + 1, i64::MAX)
            .await?
        {
            membership.apply(&recorded.decode::<ConversationEvent>()?);
        }
        if membership.is_member(user) {
            Ok(membership)
        } else {
            Err(AppError::NotFound("conversation"))
        }
    }

    async fn execute(
        &self,
        id: ConversationId,
        actor: UserId,
        command: ConversationCommand,
    ) -> Result<(Vec<ConversationEvent>, Appended), AppError> {
        self.queues.submit(id, command, metadata(actor)).await
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
        other => Err(AppError::bug(format!(
            "expected a sent message, found {}",
            other.event_type()
        ))),
    }
}

fn metadata(actor: UserId) -> Metadata {
    Metadata {
        actor: Some(format!("user:{actor}")),
        correlation_id: Some(Uuid::new_v4()),
        ..Metadata::default()
    }
}

fn member(profile: crate::UserProfile) -> Member {
    Member {
        id: profile.id,
        username: profile.username,
        display_name: profile.display_name,
    }
}

pub(crate) fn conversation_error(error: ConversationError) -> AppError {
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
        E::MemberNotFound => AppError::NotFound("member"),
        E::NotAGroup => AppError::Conflict {
            code: "not_a_group",
            message: error.to_string(),
        },
        E::TooManyMembers { .. } => {
            AppError::Validation(domain::ValidationError::new("members", error.to_string()))
        }
        E::NotAdmin => AppError::Forbidden {
            code: "not_admin",
            message: error.to_string(),
        },
        E::NotOwner => AppError::Forbidden {
            code: "not_owner",
            message: error.to_string(),
        },
        E::OwnerNotRemovable | E::AdminNotRemovable | E::OwnerRoleFixed => AppError::Forbidden {
            code: "not_allowed",
            message: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each refusal becomes for the caller: (kind, code or field).
    fn shown(error: AppError) -> (&'static str, String) {
        match error {
            AppError::NotFound(what) => ("not found", what.to_owned()),
            AppError::Validation(v) => ("invalid", v.field.to_owned()),
            AppError::Forbidden { code, .. } => ("forbidden", code.to_owned()),
            AppError::Conflict { code, .. } => ("conflict", code.to_owned()),
            other => ("other", other.to_string()),
        }
    }

    #[test]
    fn domain_refusals_become_errors_the_caller_can_act_on() {
        use ConversationError as E;
        for (error, expected) in [
            // An outsider cannot tell a conversation that exists from one that does not.
            (E::NotStarted, ("not found", "conversation")),
            (E::NotMember, ("not found", "conversation")),
            (E::MessageNotFound, ("not found", "message")),
            (E::WithSelf, ("invalid", "with")),
            (E::NegativeReadPosition, ("invalid", "up_to")),
            (E::NotSender, ("forbidden", "not_sender")),
            (E::MessageDeleted, ("conflict", "message_deleted")),
            (E::MemberNotFound, ("not found", "member")),
            (E::NotAGroup, ("conflict", "not_a_group")),
            (E::TooManyMembers { max: 3 }, ("invalid", "members")),
            (E::NotAdmin, ("forbidden", "not_admin")),
            (E::NotOwner, ("forbidden", "not_owner")),
            (E::OwnerNotRemovable, ("forbidden", "not_allowed")),
            (E::AdminNotRemovable, ("forbidden", "not_allowed")),
            (E::OwnerRoleFixed, ("forbidden", "not_allowed")),
        ] {
            let name = format!("{error:?}");
            assert_eq!(
                shown(conversation_error(error)),
                (expected.0, expected.1.to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn a_send_is_answered_with_the_message_as_stored() {
        let (ann, ben) = (member_named("ann"), member_named("ben"));
        let id = ConversationId::for_pair(ann.id, ben.id);
        let event = ConversationEvent::MessageSent {
            conversation_id: id,
            message_id: Uuid::new_v4(),
            seq: 7,
            sender: ann.clone(),
            recipient: ben.clone(),
            body: MessageBody::parse("hello").unwrap(),
            client_id: ClientId::parse("c1").unwrap(),
            sent_at: Utc::now(),
        };
        let sent = sent_message(event, 42, false).unwrap();
        assert_eq!(
            (sent.seq, sent.body.as_str(), sent.client_id.as_str()),
            (7, "hello", "c1")
        );
        assert_eq!((sent.position, sent.created), (42, false));
        assert_eq!((sent.sender, sent.recipient), (ann, ben));
        let not_a_send = ConversationEvent::ConversationStarted {
            conversation_id: id,
            members: [member_named("cat"), member_named("dan")],
        };
        assert!(matches!(
            sent_message(not_a_send, 1, true),
            Err(AppError::Internal { .. })
        ));
    }

    fn member_named(name: &str) -> Member {
        let username = Username::parse(name).unwrap();
        Member {
            id: UserId::new(),
            display_name: domain::DisplayName::from_username(&username),
            username,
        }
    }
}
