//! What to do about one new message for one recipient, as a pure function of what is known.
//!
//! The consumer asks [`next`] what to do; the answer is either an action or the one fact still
//! needed ([`Next::Look`]), which the consumer looks up and asks again. So lookups happen in the
//! order the rules need them and stop at the first rule that decides (most messages are settled
//! by the first two: own message, or the recipient was looking), and every rule is a table test.

use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

/// The new message, as far as deciding goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewMessage {
    pub sender: Uuid,
    pub seq: i64,
    pub sent_at: DateTime<Utc>,
}

/// The recipient's current notification for the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Existing {
    pub chat_id: i64,
    /// False while a send is in flight or after a crash during one (then it is replaced).
    pub delivered: bool,
}

/// Facts looked up so far; `None` is "not looked up yet".
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Known {
    /// This message was already handled for this recipient (a redelivery).
    pub handled: Option<bool>,
    /// Online with the page visible.
    pub attentive: Option<bool>,
    pub read_up_to: Option<i64>,
    /// The linked Telegram chat, if any.
    pub chat: Option<Option<i64>>,
    pub existing: Option<Option<Existing>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Handled,
    Presence,
    ReadState,
    Chat,
    Existing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    Online,
    Read,
    Unlinked,
}

impl Skip {
    /// As recorded in the handled-record.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Online => "skipped_online",
            Self::Read => "skipped_read",
            Self::Unlinked => "skipped_unlinked",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing to do and nothing to record (the recipient's own message, or already handled).
    Ignore,
    /// Too young: the recipient may still come online or read it; look again after this.
    Later(Duration),
    /// Not notified, for a reason worth recording.
    Skip(Skip),
    /// Fold it into the notification already in the chat (edited later, at most once per interval).
    Coalesce,
    /// A new Telegram message to this chat.
    Send {
        chat: i64,
    },
    Look(Lookup),
}

pub(crate) fn next(
    message: &NewMessage,
    recipient: Uuid,
    now: DateTime<Utc>,
    grace: Duration,
    known: &Known,
) -> Next {
    if message.sender == recipient {
        return Next::Ignore;
    }
    let Some(handled) = known.handled else {
        return Next::Look(Lookup::Handled);
    };
    if handled {
        return Next::Ignore;
    }
    let age = (now - message.sent_at).to_std().unwrap_or_default();
    if age < grace {
        return Next::Later(grace - age);
    }
    let Some(attentive) = known.attentive else {
        return Next::Look(Lookup::Presence);
    };
    if attentive {
        return Next::Skip(Skip::Online);
    }
    let Some(read_up_to) = known.read_up_to else {
        return Next::Look(Lookup::ReadState);
    };
    if read_up_to >= message.seq {
        return Next::Skip(Skip::Read);
    }
    let Some(chat) = known.chat else {
        return Next::Look(Lookup::Chat);
    };
    let Some(chat) = chat else {
        return Next::Skip(Skip::Unlinked);
    };
    let Some(existing) = known.existing else {
        return Next::Look(Lookup::Existing);
    };
    match existing {
        Some(existing) if existing.delivered && existing.chat_id == chat => Next::Coalesce,
        _ => Next::Send { chat },
    }
}

/// What to do about the recipient's notification once they read the conversation up to `up_to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnRead {
    /// No notification, or it holds messages newer than what was read.
    Keep,
    /// Delete the Telegram message (when one was delivered) and forget the notification.
    Retract { telegram_message: Option<i32> },
}

pub(crate) fn on_read(notification: Option<(i64, Option<i32>)>, up_to: i64) -> OnRead {
    match notification {
        Some((last_seq, telegram_message)) if last_seq <= up_to => {
            OnRead::Retract { telegram_message }
        }
        _ => OnRead::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(5);

    fn known(
        handled: bool,
        attentive: bool,
        read_up_to: i64,
        chat: Option<i64>,
        existing: Option<Existing>,
    ) -> Known {
        Known {
            handled: Some(handled),
            attentive: Some(attentive),
            read_up_to: Some(read_up_to),
            chat: Some(chat),
            existing: Some(existing),
        }
    }

    #[test]
    fn each_rule_decides_in_its_turn() {
        let now: DateTime<Utc> = "2026-01-01T12:00:10Z".parse().unwrap();
        let (ann, ben) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let old = NewMessage {
            sender: ann,
            seq: 5,
            sent_at: "2026-01-01T12:00:00Z".parse().unwrap(),
        };
        let young = NewMessage {
            sent_at: "2026-01-01T12:00:08Z".parse().unwrap(),
            ..old
        };
        let delivered = Some(Existing {
            chat_id: 77,
            delivered: true,
        });
        let in_flight = Some(Existing {
            chat_id: 77,
            delivered: false,
        });
        let other_chat = Some(Existing {
            chat_id: 66,
            delivered: true,
        });
        let cases: [(&str, NewMessage, Uuid, Known, Next); 13] = [
            ("own message", old, ann, Known::default(), Next::Ignore),
            (
                "first asks whether it was handled",
                old,
                ben,
                Known::default(),
                Next::Look(Lookup::Handled),
            ),
            (
                "a redelivery of a handled message",
                old,
                ben,
                known(true, false, 0, Some(77), None),
                Next::Ignore,
            ),
            (
                "too young: looked at again when the grace ends",
                young,
                ben,
                known(false, false, 0, Some(77), None),
                Next::Later(Duration::from_secs(3)),
            ),
            (
                "then asks for presence",
                old,
                ben,
                Known {
                    handled: Some(false),
                    ..Known::default()
                },
                Next::Look(Lookup::Presence),
            ),
            (
                "looking at the page",
                old,
                ben,
                known(false, true, 0, Some(77), None),
                Next::Skip(Skip::Online),
            ),
            (
                "then asks how far they read",
                old,
                ben,
                Known {
                    handled: Some(false),
                    attentive: Some(false),
                    ..Known::default()
                },
                Next::Look(Lookup::ReadState),
            ),
            (
                "already read elsewhere",
                old,
                ben,
                known(false, false, 5, Some(77), None),
                Next::Skip(Skip::Read),
            ),
            (
                "no linked chat",
                old,
                ben,
                known(false, false, 4, None, None),
                Next::Skip(Skip::Unlinked),
            ),
            (
                "the first unread message",
                old,
                ben,
                known(false, false, 4, Some(77), None),
                Next::Send { chat: 77 },
            ),
            (
                "a notification is in the chat already",
                old,
                ben,
                known(false, false, 4, Some(77), delivered),
                Next::Coalesce,
            ),
            (
                "the earlier send never completed",
                old,
                ben,
                known(false, false, 4, Some(77), in_flight),
                Next::Send { chat: 77 },
            ),
            (
                "linked to another chat since",
                old,
                ben,
                known(false, false, 4, Some(77), other_chat),
                Next::Send { chat: 77 },
            ),
        ];
        for (name, message, recipient, known, expected) in cases {
            assert_eq!(
                next(&message, recipient, now, GRACE, &known),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn reading_retracts_a_notification_only_when_it_holds_nothing_newer() {
        let cases = [
            ("no notification", None, 9, OnRead::Keep),
            (
                "read past it",
                Some((9, Some(3))),
                9,
                OnRead::Retract {
                    telegram_message: Some(3),
                },
            ),
            (
                "a newer message arrived since",
                Some((10, Some(3))),
                9,
                OnRead::Keep,
            ),
            (
                "read while its send was in flight",
                Some((9, None)),
                12,
                OnRead::Retract {
                    telegram_message: None,
                },
            ),
        ];
        for (name, notification, up_to, expected) in cases {
            assert_eq!(on_read(notification, up_to), expected, "{name}");
        }
    }
}
