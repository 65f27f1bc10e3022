//! The user aggregate: an account's registration and profile, one stream per user (`user-<id>`).
//!
//! The username's uniqueness is not decided here (an aggregate sees only its own stream): the
//! reservation stream (see [`crate::Reservation`]) is appended in the same transaction.

use crate::{Aggregate, DisplayName, UserId, Username};
use serde::{Deserialize, Serialize};

/// A password hash in PHC string form (it carries its algorithm and parameters).
///
/// Hashing is CPU work done at the edge; the domain only stores and hands back the string. Its `Debug`
/// hides the value so a hash never lands in a log line.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    Register {
        user_id: UserId,
        username: Username,
        display_name: DisplayName,
        password_hash: PasswordHash,
    },
    ChangeDisplayName {
        display_name: DisplayName,
    },
    ChangePassword {
        password_hash: PasswordHash,
    },
    /// Link a Telegram chat, replacing any chat linked before.
    LinkTelegram {
        chat_id: i64,
    },
    UnlinkTelegram {
        reason: UnlinkReason,
    },
}

/// Why a Telegram chat stopped being linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlinkReason {
    /// The user unlinked on the web.
    User,
    /// The user sent /stop to the bot.
    Stopped,
    /// Telegram said the user blocked the bot.
    BotBlocked,
    /// The chat was linked to another account.
    Relinked,
}

/// Stored events of a user stream. Never reshape one: add a new variant or version instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum UserEvent {
    UserRegistered {
        user_id: UserId,
        username: Username,
        display_name: DisplayName,
        password_hash: PasswordHash,
    },
    DisplayNameChanged {
        user_id: UserId,
        display_name: DisplayName,
    },
    PasswordChanged {
        user_id: UserId,
        password_hash: PasswordHash,
    },
    TelegramLinked {
        user_id: UserId,
        chat_id: i64,
    },
    TelegramUnlinked {
        user_id: UserId,
        chat_id: i64,
        reason: UnlinkReason,
    },
}

impl UserEvent {
    /// The name stored in the event store's `event_type` column.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::UserRegistered { .. } => "UserRegistered",
            Self::DisplayNameChanged { .. } => "DisplayNameChanged",
            Self::PasswordChanged { .. } => "PasswordChanged",
            Self::TelegramLinked { .. } => "TelegramLinked",
            Self::TelegramUnlinked { .. } => "TelegramUnlinked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("this account is already registered")]
    AlreadyRegistered,
    #[error("no such account")]
    NotRegistered,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum User {
    #[default]
    Unregistered,
    Registered {
        id: UserId,
        username: Username,
        display_name: DisplayName,
        password_hash: PasswordHash,
        /// The linked Telegram chat, if any.
        telegram_chat: Option<i64>,
    },
}

impl Aggregate for User {
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;

    fn decide(&self, command: &UserCommand) -> Result<Vec<UserEvent>, UserError> {
        match (self, command) {
            (
                Self::Unregistered,
                UserCommand::Register {
                    user_id,
                    username,
                    display_name,
                    password_hash,
                },
            ) => Ok(vec![UserEvent::UserRegistered {
                user_id: *user_id,
                username: username.clone(),
                display_name: display_name.clone(),
                password_hash: password_hash.clone(),
            }]),
            (Self::Registered { .. }, UserCommand::Register { .. }) => {
                Err(UserError::AlreadyRegistered)
            }
            (Self::Unregistered, _) => Err(UserError::NotRegistered),
            (
                Self::Registered {
                    id, display_name, ..
                },
                UserCommand::ChangeDisplayName {
                    display_name: wanted,
                },
            ) => Ok(if wanted == display_name {
                vec![]
            } else {
                vec![UserEvent::DisplayNameChanged {
                    user_id: *id,
                    display_name: wanted.clone(),
                }]
            }),
            (Self::Registered { id, .. }, UserCommand::ChangePassword { password_hash }) => {
                Ok(vec![UserEvent::PasswordChanged {
                    user_id: *id,
                    password_hash: password_hash.clone(),
                }])
            }
            (
                Self::Registered {
                    id, telegram_chat, ..
                },
                UserCommand::LinkTelegram { chat_id },
            ) => Ok(match telegram_chat {
                Some(linked) if linked == chat_id => vec![],
                Some(linked) => vec![
                    UserEvent::TelegramUnlinked {
                        user_id: *id,
                        chat_id: *linked,
                        reason: UnlinkReason::Relinked,
                    },
                    UserEvent::TelegramLinked {
                        user_id: *id,
                        chat_id: *chat_id,
                    },
                ],
                None => vec![UserEvent::TelegramLinked {
                    user_id: *id,
                    chat_id: *chat_id,
                }],
            }),
            (
                Self::Registered {
                    id, telegram_chat, ..
                },
                UserCommand::UnlinkTelegram { reason },
            ) => Ok(match telegram_chat {
                Some(chat_id) => vec![UserEvent::TelegramUnlinked {
                    user_id: *id,
                    chat_id: *chat_id,
                    reason: *reason,
                }],
                None => vec![],
            }),
        }
    }

    fn evolve(self, event: &UserEvent) -> Self {
        match (self, event) {
            (
                _,
                UserEvent::UserRegistered {
                    user_id,
                    username,
                    display_name,
                    password_hash,
                },
            ) => Self::Registered {
                id: *user_id,
                username: username.clone(),
                display_name: display_name.clone(),
                password_hash: password_hash.clone(),
                telegram_chat: None,
            },
            (
                Self::Registered {
                    id,
                    username,
                    password_hash,
                    telegram_chat,
                    ..
                },
                UserEvent::DisplayNameChanged { display_name, .. },
            ) => Self::Registered {
                id,
                username,
                display_name: display_name.clone(),
                password_hash,
                telegram_chat,
            },
            (
                Self::Registered {
                    id,
                    username,
                    display_name,
                    telegram_chat,
                    ..
                },
                UserEvent::PasswordChanged { password_hash, .. },
            ) => Self::Registered {
                id,
                username,
                display_name,
                password_hash: password_hash.clone(),
                telegram_chat,
            },
            (
                Self::Registered {
                    id,
                    username,
                    display_name,
                    password_hash,
                    ..
                },
                UserEvent::TelegramLinked { chat_id, .. },
            ) => Self::Registered {
                id,
                username,
                display_name,
                password_hash,
                telegram_chat: Some(*chat_id),
            },
            (
                Self::Registered {
                    id,
                    username,
                    display_name,
                    password_hash,
                    ..
                },
                UserEvent::TelegramUnlinked { .. },
            ) => Self::Registered {
                id,
                username,
                display_name,
                password_hash,
                telegram_chat: None,
            },
            // A profile change before registration cannot have been decided; keep the state.
            (state @ Self::Unregistered, _) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::scenario::given;

    fn alice() -> (UserId, Username, DisplayName) {
        let name = Username::parse("alice").unwrap();
        (
            UserId::new(),
            name.clone(),
            DisplayName::from_username(&name),
        )
    }

    fn registered(id: UserId, username: &Username, display: &DisplayName) -> UserEvent {
        UserEvent::UserRegistered {
            user_id: id,
            username: username.clone(),
            display_name: display.clone(),
            password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        }
    }

    #[test]
    fn a_new_user_registers() {
        let (id, username, display) = alice();
        given::<User>(&[])
            .when(UserCommand::Register {
                user_id: id,
                username: username.clone(),
                display_name: display.clone(),
                password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            })
            .then_events(vec![registered(id, &username, &display)]);
    }

    #[test]
    fn registering_twice_is_refused() {
        let (id, username, display) = alice();
        given::<User>(&[registered(id, &username, &display)])
            .when(UserCommand::Register {
                user_id: id,
                username: username.clone(),
                display_name: display,
                password_hash: PasswordHash::new("x"),
            })
            .then_error(UserError::AlreadyRegistered);
    }

    #[test]
    fn an_unregistered_user_cannot_change_anything() {
        given::<User>(&[])
            .when(UserCommand::ChangeDisplayName {
                display_name: DisplayName::parse("Bob").unwrap(),
            })
            .then_error(UserError::NotRegistered);
    }

    #[test]
    fn changing_the_display_name_to_the_same_value_records_nothing() {
        let (id, username, display) = alice();
        given::<User>(&[registered(id, &username, &display)])
            .when(UserCommand::ChangeDisplayName {
                display_name: display.clone(),
            })
            .then_events(vec![]);
    }

    #[test]
    fn a_display_name_change_is_folded_into_state() {
        let (id, username, display) = alice();
        let renamed = DisplayName::parse("Alice Liddell").unwrap();
        let history = [
            registered(id, &username, &display),
            UserEvent::DisplayNameChanged {
                user_id: id,
                display_name: renamed.clone(),
            },
        ];
        match User::from_events(&history) {
            User::Registered { display_name, .. } => assert_eq!(display_name, renamed),
            other => panic!("unexpected state {other:?}"),
        }
    }

    #[test]
    fn events_round_trip_through_json_with_a_type_tag() {
        let (id, username, display) = alice();
        let event = registered(id, &username, &display);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "UserRegistered");
        assert_eq!(json["username"], "alice");
        let back: UserEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert_eq!(event.event_type(), "UserRegistered");
    }

    #[test]
    fn a_telegram_chat_is_linked_replaced_and_unlinked() {
        let (id, username, display) = alice();
        let history = vec![registered(id, &username, &display)];
        given::<User>(&history)
            .when(UserCommand::LinkTelegram { chat_id: 7 })
            .then_events(vec![UserEvent::TelegramLinked {
                user_id: id,
                chat_id: 7,
            }]);
        let mut linked = history.clone();
        linked.push(UserEvent::TelegramLinked {
            user_id: id,
            chat_id: 7,
        });
        given::<User>(&linked)
            .when(UserCommand::LinkTelegram { chat_id: 7 })
            .then_events(vec![]);
        given::<User>(&linked)
            .when(UserCommand::LinkTelegram { chat_id: 8 })
            .then_events(vec![
                UserEvent::TelegramUnlinked {
                    user_id: id,
                    chat_id: 7,
                    reason: UnlinkReason::Relinked,
                },
                UserEvent::TelegramLinked {
                    user_id: id,
                    chat_id: 8,
                },
            ]);
        given::<User>(&linked)
            .when(UserCommand::UnlinkTelegram {
                reason: UnlinkReason::Stopped,
            })
            .then_events(vec![UserEvent::TelegramUnlinked {
                user_id: id,
                chat_id: 7,
                reason: UnlinkReason::Stopped,
            }]);
        given::<User>(&history)
            .when(UserCommand::UnlinkTelegram {
                reason: UnlinkReason::User,
            })
            .then_events(vec![]);
    }

    #[test]
    fn password_hashes_stay_out_of_debug_output() {
        let hash = PasswordHash::new("$argon2id$secret");
        assert!(!format!("{hash:?}").contains("secret"));
    }
}
