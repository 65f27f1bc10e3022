//! Conversation commands: start, send, edit, delete, read; and a group's: create, add, remove
//! or leave, rename, hand over, change a role.
//!
//! Commands go through the conversation's command queue (see `command_queue.rs`): decided in
//! arrival order against cached state and appended in groups, so concurrent senders on one
//! conversation never conflict and all get dense, gap-free seqs.

use crate::command_queue::{self, CommandQueues};
use crate::{Accounts, AppError, Deadline, Membership};
use chrono::Utc;
use domain::{
    ClientId, ConversationCommand, ConversationError, ConversationEvent, ConversationId,
    GroupTitle, Member, MessageBody, Role, UserId, Username,
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
    /// A pair's other member; `None` in a group.
    pub recipient: Option<Member>,
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

/// A group's members at most, unless configured otherwise (`MAX_GROUP_MEMBERS`).
pub const DEFAULT_MAX_GROUP_MEMBERS: usize = 1_000;

#[derive(Clone)]
pub struct Conversations {
    store: EventStore,
    accounts: Accounts,
    queues: CommandQueues,
    /// What the faces bound a caller's wait with during an outage; kept here, beside the store
    /// whose reachability it reads, for every face to use the same.
    deadline: Deadline,
    /// The limit every group command is decided with: configuration, not part of a group.
    max_group_members: usize,
}

impl Conversations {
    pub fn new(store: EventStore, appender: Appender, accounts: Accounts) -> Self {
        Self {
            queues: CommandQueues::new(store.clone(), appender),
            deadline: Deadline::new(store.clone(), crate::DEFAULT_ANSWER_WITHIN),
            store,
            accounts,
            max_group_members: DEFAULT_MAX_GROUP_MEMBERS,
        }
    }

    pub fn with_max_group_members(mut self, max: usize) -> Self {
        self.max_group_members = max;
        self
    }

    /// How long a caller waits for an outcome during an outage before it is told `TimedOut`
    /// (see `deadline.rs`).
    pub fn answering_within(mut self, wait: std::time::Duration) -> Self {
        self.deadline = Deadline::new(self.store.clone(), wait);
        self
    }

    /// The bound on waits during an outage. The faces apply it, each to what its caller waits
    /// for as a whole (an HTTP request, a socket's send and its ack): the methods here wait as
    /// long as their work takes.
    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// Creates a group owned by `owner` with the people named (the owner among them or not).
    /// An unknown name is refused naming it (field `members`), and so is a list longer than the
    /// limit, before any of it is looked up.
    pub async fn create_group(
        &self,
        owner: UserId,
        title: GroupTitle,
        members: &[String],
    ) -> Result<(ConversationId, Appended), AppError> {
        let too_many = |max| {
            AppError::Validation(domain::ValidationError::new(
                "members",
                ConversationError::TooManyMembers { max }.to_string(),
            ))
        };
        if members.len() >= self.max_group_members.saturating_mul(2) {
            // Far over the limit even with repeats: not worth a look-up each.
            return Err(too_many(self.max_group_members));
        }
        let owner = member(self.accounts.profile(owner).await?);
        let mut people = Vec::with_capacity(members.len());
        for raw in members {
            people.push(self.member_named(raw, "members").await?);
        }
        let id = ConversationId::new_group();
        let (_, appended) = self
            .execute(
                id,
                owner.id,
                ConversationCommand::CreateGroup {
                    id,
                    title,
                    owner: owner.clone(),
                    members: people,
                    max_members: self.max_group_members,
                    at: Utc::now(),
                },
            )
            .await
            .map_err(|e| match e {
                AppError::Conflict {
                    code: "group_full", ..
                } => too_many(self.max_group_members),
                other => other,
            })?;
        Ok((id, appended))
    }

    /// Adds the person named to a group; `None` when they were in it already. An outsider gets
    /// `NotFound` before the name is even looked up.
    pub async fn add_member(
        &self,
        id: ConversationId,
        actor: UserId,
        username: &str,
    ) -> Result<(Member, Appended), AppError> {
        self.for_member(id, actor).await?;
        let added = self.member_named(username, "username").await?;
        let (_, appended) = self
            .execute(
                id,
                actor,
                ConversationCommand::AddMember {
                    actor,
                    member: added.clone(),
                    max_members: self.max_group_members,
                    at: Utc::now(),
                },
            )
            .await?;
        Ok((added, appended))
    }

    /// Removes the person named from a group, or lets the actor leave when it is themself.
    /// Someone who is not in the group (or does not exist) is `NotFound("member")`.
    pub async fn remove_member(
        &self,
        id: ConversationId,
        actor: UserId,
        username: &str,
    ) -> Result<Appended, AppError> {
        let membership = self.for_member(id, actor).await?;
        let removed = membership
            .members()
            .iter()
            .find(|m| m.username.as_str() == username.trim().to_ascii_lowercase())
            .ok_or(AppError::NotFound("member"))?
            .id;
        let (_, appended) = self
            .execute(
                id,
                actor,
                ConversationCommand::RemoveMember {
                    actor,
                    member: removed,
                    at: Utc::now(),
                },
            )
            .await?;
        Ok(appended)
    }

    pub async fn rename(
        &self,
        id: ConversationId,
        actor: UserId,
        title: GroupTitle,
    ) -> Result<Appended, AppError> {
        let (_, appended) = self
            .execute(
                id,
                actor,
                ConversationCommand::Rename {
                    actor,
                    title,
                    at: Utc::now(),
                },
            )
            .await?;
        Ok(appended)
    }

    /// Turns `member`'s Telegram notifications of the conversation off (`muted`) or on again;
    /// any member of a pair or a group, for themself. `None` when it already was so.
    pub async fn set_muted(
        &self,
        id: ConversationId,
        member: UserId,
        muted: bool,
    ) -> Result<Appended, AppError> {
        let (_, appended) = self
            .execute(
                id,
                member,
                ConversationCommand::SetMuted {
                    member,
                    muted,
                    at: Utc::now(),
                },
            )
            .await?;
        Ok(appended)
    }

    /// Gives the member named a role: `Owner` hands the group over (the owner stays as an
    /// admin), `Admin` and `Member` make or unmake an admin. Owner only.
    pub async fn set_role(
        &self,
        id: ConversationId,
        actor: UserId,
        username: &str,
        role: Role,
    ) -> Result<Appended, AppError> {
        let membership = self.for_member(id, actor).await?;
        let target = membership
            .members()
            .iter()
            .find(|m| m.username.as_str() == username.trim().to_ascii_lowercase())
            .ok_or(AppError::NotFound("member"))?
            .id;
        let at = Utc::now();
        let command = match role {
            Role::Owner => ConversationCommand::TransferOwnership {
                actor,
                to: target,
                at,
            },
            role => ConversationCommand::ChangeRole {
                actor,
                member: target,
                role,
                at,
            },
        };
        let (_, appended) = self.execute(id, actor, command).await?;
        Ok(appended)
    }

    /// A person by username as a member, or a refusal naming `field`.
    async fn member_named(&self, raw: &str, field: &'static str) -> Result<Member, AppError> {
        let unknown = || {
            AppError::Validation(domain::ValidationError::new(
                field,
                format!("there is no user named {}", raw.trim()),
            ))
        };
        let username = Username::parse(raw).map_err(|_| unknown())?;
        match self.accounts.profile_by_username(&username).await {
            Ok(profile) => Ok(member(profile)),
            Err(AppError::NotFound(_)) => Err(unknown()),
            Err(other) => Err(other),
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
            recipient: Some(recipient),
            body: body.into(),
            client_id: client_id.into(),
            sent_at,
            created,
            position,
        }),
        ConversationEvent::GroupMessageSent {
            conversation_id,
            message_id,
            seq,
            sender,
            body,
            client_id,
            sent_at,
        } => Ok(SentMessage {
            conversation_id,
            message_id,
            seq,
            sender,
            recipient: None,
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
        E::TooManyMembers { .. } => AppError::Conflict {
            code: "group_full",
            message: error.to_string(),
        },
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
            (E::TooManyMembers { max: 3 }, ("conflict", "group_full")),
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
        assert_eq!((sent.sender, sent.recipient), (ann, Some(ben)));
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
