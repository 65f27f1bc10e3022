//! `generate`: a large, realistic store for measuring rebuilds: conversations between pairs of
//! people and, if asked, groups, with messages and read receipts, all valid domain events. Written
//! through the import path (one transaction), after whatever the store holds.
//!
//! The groups are set up first (see [`groups`]); then messages go round every conversation in
//! turn, pairs first, until the store holds `--events` more events.

mod groups;
mod pairs;
mod writer;

use crate::output::Out;
use crate::CtlError;
use domain::{DisplayName, Member, PasswordHash, UserId, Username};
use eventstore::EventStore;
use groups::Group;
use pairs::Pair;
use writer::Writer;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Events in all.
    pub events: u64,
    pub pairs: u64,
    pub groups: u64,
    /// Per group, its owner included.
    pub group_members: u64,
    /// The limit chatd decides group commands with (MAX_GROUP_MEMBERS).
    pub max_group_members: u64,
}

impl Plan {
    fn check(&self) -> Result<(), CtlError> {
        if self.pairs + self.groups == 0 {
            return Err(CtlError::Usage(
                "nothing to generate: --conversations and --groups are both 0".into(),
            ));
        }
        if self.groups > 0 && !(1..=self.max_group_members).contains(&self.group_members) {
            return Err(CtlError::Usage(format!(
                "--group-members must be between 1 and {} (MAX_GROUP_MEMBERS)",
                self.max_group_members
            )));
        }
        let needed = self.pairs + self.groups * Group::set_up_events(self.group_members);
        if self.events < needed {
            return Err(CtlError::Usage(format!(
                "--events must be at least {needed}: one start per conversation, and per group \
                 two per sign-up, its creation, one per added member and its admin's role"
            )));
        }
        Ok(())
    }
}

pub async fn generate(store: &EventStore, out: &mut Out, plan: Plan) -> Result<(), CtlError> {
    plan.check()?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let run = &run[..6];
    let mut pairs = (0..plan.pairs)
        .map(|i| Pair::new(run, i))
        .collect::<Result<Vec<_>, _>>()?;
    let password_hash = if plan.groups > 0 {
        Some(unknown_password_hash().await?)
    } else {
        None
    };
    let mut writer = Writer::open(store, plan.events).await?;
    let mut groups = Vec::with_capacity(plan.groups as usize);
    if let Some(password_hash) = &password_hash {
        for g in 0..plan.groups {
            let max = plan.max_group_members as usize;
            let group =
                Group::set_up(&mut writer, run, g, plan.group_members, max, password_hash).await?;
            groups.push(group);
        }
    }
    let conversations = plan.pairs + plan.groups;
    let mut n = 0;
    while writer.written() < plan.events {
        let turn = n % conversations;
        if let Some(pair) = pairs.get_mut(turn as usize) {
            let event = pair.next_event(n, writer.next_at())?;
            writer
                .push(
                    pair.id.stream_id(),
                    pair.version,
                    event.event_id(),
                    event.event_type(),
                    &event,
                )
                .await?;
        } else if let Some(group) = groups.get_mut((turn - plan.pairs) as usize) {
            group.write_next(&mut writer, n).await?;
        }
        n += 1;
    }
    let written = writer.finish().await?;
    let seconds = written.elapsed.as_secs_f64();
    let head = written.head;
    let (events, pairs, groups) = (written.events, plan.pairs, plan.groups);
    if out.json {
        out.json_line(&serde_json::json!({
            "events": events, "conversations": pairs, "groups": groups,
            "group_members": if groups > 0 { plan.group_members } else { 0 },
            "head": head, "seconds": seconds,
        }))?;
    } else {
        let groups = match groups {
            0 => String::new(),
            g => format!(" and {g} groups of {}", plan.group_members),
        };
        out.line(&format!(
            "generated {events} events in {pairs} conversations{groups} in {seconds:.1}s; the log's head is now {head}"
        ))?;
    }
    Ok(())
}

/// A generated person: `name` shown as itself.
fn person(name: &str) -> Result<Member, CtlError> {
    let username = Username::parse(name)
        .map_err(|e| CtlError::Failed(anyhow::anyhow!("generated username {name}: {e}")))?;
    Ok(Member {
        id: UserId::new(),
        display_name: DisplayName::from_username(&username),
        username,
    })
}

/// A real argon2id hash, with chatd's parameters, of a random password nobody is told: the
/// generated people sign up as anyone would, but nobody can log in as them.
async fn unknown_password_hash() -> Result<PasswordHash, CtlError> {
    let failed = |e: app::AppError| CtlError::Failed(e.into());
    let hasher = tokio::task::spawn_blocking(|| app::PasswordHasher::new(app::HashCost::default()))
        .await
        .map_err(|e| CtlError::Failed(e.into()))?
        .map_err(failed)?;
    let password = app::Password::parse(&uuid::Uuid::new_v4().simple().to_string())
        .map_err(|e| CtlError::Failed(e.into()))?;
    hasher.hash(password).await.map_err(failed)
}
