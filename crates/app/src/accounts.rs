//! Registration, authentication and profiles, straight from the event store.
//!
//! Login reads two short streams (the username reservation, then the user), so it is consistent the
//! moment registration commits and needs no read model.

use crate::{AppError, Password, PasswordHasher};
use domain::reservation::{Reservation, ReservationEvent, Reserve};
use domain::user::{PasswordHash, UnlinkReason};
use domain::{Aggregate, DisplayName, User, UserCommand, UserEvent, UserId, Username};
use eventstore::{Appender, EventStore, ExpectedVersion, Metadata, NewEvent, StreamAppend};
use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use serde::Serialize;

/// What anyone may see of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserProfile {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
}

#[derive(Clone)]
pub struct Accounts {
    store: EventStore,
    /// Writes share transactions with the process's other commands (group commit).
    appender: Appender,
    hasher: PasswordHasher,
    /// Who holds each username seen here. A reservation never changes owner, so an entry never
    /// goes stale; past `OWNERS_BYTES` the least recently used names are forgotten.
    owners: Cache<Username, UserId>,
}

/// Approximate bytes of the username cache (some 100,000 names).
const OWNERS_BYTES: u64 = 8 * 1024 * 1024;
/// What an entry costs beside the name's text: the id, the string's header, the cache's own
/// bookkeeping.
const OWNER_OVERHEAD: usize = 64;

impl Accounts {
    pub fn new(store: EventStore, appender: Appender, hasher: PasswordHasher) -> Self {
        Self {
            store,
            appender,
            hasher,
            owners: Cache::builder()
                .max_capacity(OWNERS_BYTES)
                .weigher(|name: &Username, _| {
                    u32::try_from(name.as_str().len() + OWNER_OVERHEAD).unwrap_or(u32::MAX)
                })
                .eviction_policy(EvictionPolicy::lru())
                .build(),
        }
    }

    /// Registers a new account. The username is taken by appending its reservation stream with
    /// "no stream" expected, in the same transaction as the user's first event: of two concurrent
    /// registrations of one name exactly one commits.
    pub async fn register(
        &self,
        username: Username,
        password: Password,
        display_name: Option<DisplayName>,
    ) -> Result<UserProfile, AppError> {
        // Fail fast on a taken name before spending a password hash on it.
        if let Reservation::Taken { .. } = self.reservation(&username).await? {
            return Err(AppError::UsernameTaken);
        }
        let password_hash = self.hasher.hash(password).await?;
        let user_id = UserId::new();
        let display_name = display_name.unwrap_or_else(|| DisplayName::from_username(&username));

        let reserved = Reservation::Free
            .decide(&Reserve {
                username: username.clone(),
                user_id,
            })
            .map_err(|_| AppError::UsernameTaken)?;
        let registered = User::default()
            .decide(&UserCommand::Register {
                user_id,
                username: username.clone(),
                display_name: display_name.clone(),
                password_hash,
            })
            .map_err(|e| AppError::internal("cannot register the user", e))?;

        let metadata = Metadata {
            actor: Some(format!("user:{user_id}")),
            ..Metadata::default()
        };
        let reserved = to_new_events(&reserved, ReservationEvent::event_type, &metadata)?;
        let registered = to_new_events(&registered, UserEvent::event_type, &metadata)?;

        let reservation_stream = username.reservation_stream_id();
        let appended = self
            .appender
            .append_streams(vec![
                StreamAppend::new(&reservation_stream, ExpectedVersion::NoStream, reserved),
                StreamAppend::new(user_id.stream_id(), ExpectedVersion::NoStream, registered),
            ])
            .await;
        match appended {
            Err(eventstore::Error::WrongExpectedVersion { stream_id, .. })
                if stream_id == reservation_stream =>
            {
                return Err(AppError::UsernameTaken)
            }
            other => other?,
        };
        tracing::info!(%user_id, "user registered");
        Ok(UserProfile {
            id: user_id,
            username,
            display_name,
        })
    }

    /// Checks a username and password. Unknown users, malformed names and wrong passwords all
    /// cost one argon2 verification and end in the same [`AppError::InvalidCredentials`].
    pub async fn authenticate(
        &self,
        username: &str,
        password: Password,
    ) -> Result<UserProfile, AppError> {
        let account = match Username::parse(username) {
            Ok(username) => match self.reservation(&username).await? {
                Reservation::Taken { by } => self.registered(by).await?,
                Reservation::Free => None,
            },
            Err(_) => None,
        };
        let hash = account.as_ref().map(|(_, hash)| hash);
        if self.hasher.verify(password, hash).await? {
            if let Some((profile, _)) = account {
                return Ok(profile);
            }
        }
        Err(AppError::InvalidCredentials)
    }

    pub async fn profile(&self, id: UserId) -> Result<UserProfile, AppError> {
        self.registered(id)
            .await?
            .map(|(profile, _)| profile)
            .ok_or(AppError::NotFound("user"))
    }

    pub async fn profile_by_username(&self, username: &Username) -> Result<UserProfile, AppError> {
        match self.reservation(username).await? {
            Reservation::Taken { by } => {
                // The name is copied only the first time.
                self.owners.get_with_by_ref(username, || by);
                self.profile(by).await
            }
            Reservation::Free => Err(AppError::NotFound("user")),
        }
    }

    /// The owner of `username` if this process has looked it up before (no read).
    pub fn cached_user_id(&self, username: &Username) -> Option<UserId> {
        self.owners.get(username)
    }

    /// The Telegram chat linked to the user, if any.
    pub async fn telegram_chat(&self, id: UserId) -> Result<Option<i64>, AppError> {
        match self.user(id).await?.1 {
            User::Registered { telegram_chat, .. } => Ok(telegram_chat),
            User::Unregistered => Err(AppError::NotFound("user")),
        }
    }

    /// Links a Telegram chat to the user (replacing an earlier one).
    pub async fn link_telegram(&self, id: UserId, chat_id: i64) -> Result<UserProfile, AppError> {
        self.execute(id, UserCommand::LinkTelegram { chat_id })
            .await?;
        self.profile(id).await
    }

    /// Unlinks the user's Telegram chat; true if one was linked.
    pub async fn unlink_telegram(
        &self,
        id: UserId,
        reason: UnlinkReason,
    ) -> Result<bool, AppError> {
        self.execute(id, UserCommand::UnlinkTelegram { reason })
            .await
    }

    /// Decides and appends a command on a user stream, retrying on concurrent changes. True if
    /// something was appended.
    async fn execute(&self, id: UserId, command: UserCommand) -> Result<bool, AppError> {
        for _ in 0..16 {
            let (version, user) = self.user(id).await?;
            let events = user.decide(&command).map_err(|e| match e {
                domain::UserError::NotRegistered => AppError::NotFound("user"),
                other => AppError::internal("the user refused a command", other),
            })?;
            if events.is_empty() {
                return Ok(false);
            }
            let metadata = Metadata {
                actor: Some(format!("user:{id}")),
                ..Metadata::default()
            };
            let events = to_new_events(&events, UserEvent::event_type, &metadata)?;
            match self
                .appender
                .append(&id.stream_id(), ExpectedVersion::Exact(version), events)
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict {
            code: "contention",
            message: "too many concurrent changes to this account; please retry".into(),
        })
    }

    async fn user(&self, id: UserId) -> Result<(i64, User), AppError> {
        let recorded = self.store.read_whole_stream(&id.stream_id()).await?;
        let version = recorded.last().map_or(0, |e| e.stream_version);
        let events = recorded
            .iter()
            .map(|e| e.decode::<UserEvent>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok((version, User::from_events(&events)))
    }

    async fn reservation(&self, username: &Username) -> Result<Reservation, AppError> {
        let events = self
            .store
            .read_whole_stream(&username.reservation_stream_id())
            .await?;
        let events = events
            .iter()
            .map(|e| e.decode::<ReservationEvent>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Reservation::from_events(&events))
    }

    async fn registered(
        &self,
        id: UserId,
    ) -> Result<Option<(UserProfile, PasswordHash)>, AppError> {
        let events = self.store.read_whole_stream(&id.stream_id()).await?;
        let events = events
            .iter()
            .map(|e| e.decode::<UserEvent>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match User::from_events(&events) {
            User::Registered {
                id,
                username,
                display_name,
                password_hash,
                ..
            } => Some((
                UserProfile {
                    id,
                    username,
                    display_name,
                },
                password_hash,
            )),
            User::Unregistered => None,
        })
    }
}

/// Serializes domain events for the store, each with a fresh id.
fn to_new_events<E: Serialize>(
    events: &[E],
    event_type: fn(&E) -> &'static str,
    metadata: &Metadata,
) -> Result<Vec<NewEvent>, AppError> {
    events
        .iter()
        .map(|event| {
            NewEvent::from_data(uuid::Uuid::new_v4(), event_type(event), event)
                .map(|e| e.with_metadata(metadata.clone()))
                .map_err(|e| AppError::internal("cannot serialize an event", e))
        })
        .collect()
}
