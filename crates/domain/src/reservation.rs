//! The username reservation aggregate: one stream per name (`username-<name>`), whose first event
//! takes the name.
//!
//! It lives apart from the user aggregate because uniqueness is a rule across users: a user's stream
//! cannot see the others', but the one stream per name can, and the event store's expected version
//! makes the first reservation win.

use crate::{Aggregate, UserId, Username};
use serde::{Deserialize, Serialize};

/// Who holds a username.
///
/// Appended with "no stream yet" as the expected version in the same transaction as the user's
/// `UserRegistered`, so two concurrent registrations of one name cannot both commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Reservation {
    #[default]
    Free,
    Taken {
        by: UserId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserve {
    pub username: Username,
    pub user_id: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ReservationEvent {
    UsernameReserved { username: Username, user_id: UserId },
}

impl ReservationEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::UsernameReserved { .. } => "UsernameReserved",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservationError {
    #[error("this username is taken")]
    UsernameTaken,
}

impl Aggregate for Reservation {
    type Command = Reserve;
    type Event = ReservationEvent;
    type Error = ReservationError;

    fn decide(&self, command: &Reserve) -> Result<Vec<ReservationEvent>, ReservationError> {
        match self {
            Self::Free => Ok(vec![ReservationEvent::UsernameReserved {
                username: command.username.clone(),
                user_id: command.user_id,
            }]),
            // Retrying one's own reservation changes nothing.
            Self::Taken { by } if *by == command.user_id => Ok(vec![]),
            Self::Taken { .. } => Err(ReservationError::UsernameTaken),
        }
    }

    fn evolve(self, event: &ReservationEvent) -> Self {
        match event {
            ReservationEvent::UsernameReserved { user_id, .. } => Self::Taken { by: *user_id },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::scenario::given;

    #[test]
    fn a_free_username_is_reserved_once() {
        let username = Username::parse("alice").unwrap();
        let first = UserId::new();
        let reserved = ReservationEvent::UsernameReserved {
            username: username.clone(),
            user_id: first,
        };
        given::<Reservation>(&[])
            .when(Reserve {
                username: username.clone(),
                user_id: first,
            })
            .then_events(vec![reserved.clone()]);
        given::<Reservation>(std::slice::from_ref(&reserved))
            .when(Reserve {
                username: username.clone(),
                user_id: UserId::new(),
            })
            .then_error(ReservationError::UsernameTaken);
        given::<Reservation>(&[reserved])
            .when(Reserve {
                username,
                user_id: first,
            })
            .then_events(vec![]);
    }
}
