//! A generated group, set up and used the way the service does it: every command goes through
//! the domain's deciders (`Reservation`, `User`, `Conversation`), so its events are exactly the
//! ones chatd would have appended, and the history projection and `verify` treat them alike.

use super::pairs::{body, client_id};
use super::writer::Writer;
use crate::CtlError;
use domain::{
    Aggregate, Conversation, ConversationCommand, ConversationId, GroupTitle, Member, PasswordHash,
    Reservation, Reserve, Role, User, UserCommand,
};

pub(super) struct Group {
    id: ConversationId,
    state: Conversation,
    /// Events in its stream so far (its version).
    version: i64,
}

impl Group {
    /// The events [`Group::set_up`] writes for a group of `size`: two per sign-up, the creation,
    /// an addition per other member and, from three members on, the admin's role.
    pub(super) fn set_up_events(size: u64) -> u64 {
        2 * size + 1 + size.saturating_sub(1) + u64::from(size >= 3)
    }

    /// Group `g` of run `run`: `size` people sign up; the first creates the group alone, adds the
    /// others one by one and makes the second an admin.
    pub(super) async fn set_up(
        writer: &mut Writer,
        run: &str,
        g: u64,
        size: u64,
        max_members: usize,
        password_hash: &PasswordHash,
    ) -> Result<Self, CtlError> {
        let mut people = Vec::with_capacity(size as usize);
        for k in 0..size {
            let person = super::person(&format!("g{run}g{g}u{k}"))?;
            sign_up(writer, &person, password_hash).await?;
            people.push(person);
        }
        let Some((owner, others)) = people.split_first() else {
            return Err(CtlError::Usage("a group needs at least one member".into()));
        };
        let title = GroupTitle::parse(&format!("Generated group {g}"))
            .map_err(|e| CtlError::Failed(anyhow::anyhow!("generated title: {e}")))?;
        let id = ConversationId::new_group();
        let mut group = Self {
            id,
            state: Conversation::default(),
            version: 0,
        };
        let at = writer.next_at();
        group
            .execute(
                writer,
                ConversationCommand::CreateGroup {
                    id,
                    title,
                    owner: owner.clone(),
                    members: vec![],
                    max_members,
                    at,
                },
            )
            .await?;
        for member in others {
            let at = writer.next_at();
            group
                .execute(
                    writer,
                    ConversationCommand::AddMember {
                        actor: owner.id,
                        member: member.clone(),
                        max_members,
                        at,
                    },
                )
                .await?;
        }
        if let Some(admin) = others.first().filter(|_| size >= 3) {
            let at = writer.next_at();
            group
                .execute(
                    writer,
                    ConversationCommand::ChangeRole {
                        actor: owner.id,
                        member: admin.id,
                        role: Role::Admin,
                        at,
                    },
                )
                .await?;
        }
        Ok(group)
    }

    /// Its next event, the `n`th of the run's conversation events: a message from the next
    /// member in turn, or when `n % 50 == 7` that member's read receipt if they have something
    /// left to read.
    pub(super) async fn write_next(&mut self, writer: &mut Writer, n: u64) -> Result<(), CtlError> {
        let members = self.state.members();
        let last_seq = self.state.last_seq();
        let Some(next) = members.get((last_seq as usize + 1) % members.len().max(1)) else {
            return Err(CtlError::Failed(anyhow::anyhow!(
                "generated group {} has no members",
                self.id
            )));
        };
        let next = next.id;
        let at = writer.next_at();
        if n % 50 == 7 {
            let read = ConversationCommand::Read {
                reader: next,
                up_to: last_seq,
                at,
            };
            if self.execute(writer, read).await? > 0 {
                return Ok(());
            }
        }
        let send = ConversationCommand::Send {
            sender: next,
            client_id: client_id(n)?,
            body: body(&format!("message {} of a generated group", last_seq + 1))?,
            at,
        };
        match self.execute(writer, send).await? {
            0 => Err(CtlError::Failed(anyhow::anyhow!(
                "generated group {}: a send recorded nothing",
                self.id
            ))),
            _ => Ok(()),
        }
    }

    /// Decides `command` on the group's state, applies and writes what happened; how many events.
    async fn execute(
        &mut self,
        writer: &mut Writer,
        command: ConversationCommand,
    ) -> Result<usize, CtlError> {
        let events = self.state.decide(&command).map_err(|e| {
            CtlError::Failed(anyhow::Error::new(e).context(format!("generated group {}", self.id)))
        })?;
        for event in &events {
            self.state = std::mem::take(&mut self.state).evolve(event);
            self.version += 1;
            writer
                .push(
                    self.id.stream_id(),
                    self.version,
                    event.event_id(),
                    event.event_type(),
                    event,
                )
                .await?;
        }
        Ok(events.len())
    }
}

/// A sign-up as `Accounts::register` records it: the name's reservation, then the account.
async fn sign_up(
    writer: &mut Writer,
    person: &Member,
    password_hash: &PasswordHash,
) -> Result<(), CtlError> {
    let failed = |e: &dyn std::fmt::Display| {
        CtlError::Failed(anyhow::anyhow!(
            "generated sign-up of {}: {e}",
            person.username.as_str()
        ))
    };
    let reserved = Reservation::Free
        .decide(&Reserve {
            username: person.username.clone(),
            user_id: person.id,
        })
        .map_err(|e| failed(&e))?;
    for (version, event) in (1..).zip(&reserved) {
        let stream = person.username.reservation_stream_id();
        writer
            .push(
                stream,
                version,
                uuid::Uuid::new_v4(),
                event.event_type(),
                event,
            )
            .await?;
    }
    let registered = User::default()
        .decide(&UserCommand::Register {
            user_id: person.id,
            username: person.username.clone(),
            display_name: person.display_name.clone(),
            password_hash: password_hash.clone(),
        })
        .map_err(|e| failed(&e))?;
    for (version, event) in (1..).zip(&registered) {
        writer
            .push(
                person.id.stream_id(),
                version,
                uuid::Uuid::new_v4(),
                event.event_type(),
                event,
            )
            .await?;
    }
    Ok(())
}
