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

/// What the recipient's membership says, as of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reader {
    pub read_up_to: i64,
    /// They turned this conversation's notifications off.
    pub muted: bool,
}

/// Facts looked up so far; `None` is "not looked up yet".
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Known {
    /// This message was already handled for this recipient (a redelivery).
    pub handled: Option<bool>,
    /// The linked Telegram chat, if any.
    pub chat: Option<Option<i64>>,
    /// Online with the page visible.
    pub attentive: Option<bool>,
    /// Their place in the conversation; `Some(None)` once they are no longer in it (removed from
    /// the group, or left, since the message).
    pub reader: Option<Option<Reader>>,
    pub existing: Option<Option<Existing>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Handled,
    Chat,
    Presence,
    Reader,
    Existing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    Online,
    Read,
    Unlinked,
    Muted,
    NotMember,
}

impl Skip {
    /// As recorded in the handled-record (and counted).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Online => "skipped_online",
            Self::Read => "skipped_read",
            Self::Unlinked => "skipped_unlinked",
            Self::Muted => "skipped_muted",
            Self::NotMember => "skipped_not_member",
        }
    }

    /// Whether the skip is written down. Not for someone without a linked chat: most members of
    /// a big group have none, and a row per member per message would be the notifier's main
    /// cost. A redelivery asks again, which is as cheap (one query for all of them).
    pub(crate) fn recorded(self) -> bool {
        self != Self::Unlinked
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

/// How long a message sent at `sent_at` must still wait before anyone is notified of it: asked
/// before anything is looked up, so a young message costs no query whatever the group's size.
pub(crate) fn too_young(
    sent_at: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Option<Duration> {
    let age = (now - sent_at).to_std().unwrap_or_default();
    (age < grace).then(|| grace - age)
}

/// The rules in order, cheapest and most decisive first: the linked chat comes before presence
/// and membership because in a group most members have none, and the consumer learns that for
/// all of them at once.
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
    if let Some(wait) = too_young(message.sent_at, now, grace) {
        return Next::Later(wait);
    }
    let Some(handled) = known.handled else {
        return Next::Look(Lookup::Handled);
    };
    if handled {
        return Next::Ignore;
    }
    let Some(chat) = known.chat else {
        return Next::Look(Lookup::Chat);
    };
    let Some(chat) = chat else {
        return Next::Skip(Skip::Unlinked);
    };
    let Some(attentive) = known.attentive else {
        return Next::Look(Lookup::Presence);
    };
    if attentive {
        return Next::Skip(Skip::Online);
    }
    let Some(reader) = known.reader else {
        return Next::Look(Lookup::Reader);
    };
    let Some(reader) = reader else {
        return Next::Skip(Skip::NotMember);
    };
    if reader.muted {
        return Next::Skip(Skip::Muted);
    }
    if reader.read_up_to >= message.seq {
        return Next::Skip(Skip::Read);
    }
    let Some(existing) = known.existing else {
        return Next::Look(Lookup::Existing);
    };
    match existing {
        Some(existing) if existing.delivered && existing.chat_id == chat => Next::Coalesce,
        _ => Next::Send { chat },
    }
}

/// Why a notification may have to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Withdraw {
    /// The recipient read the conversation up to this seq.
    Read { up_to: i64 },
    /// They muted the conversation.
    Muted,
    /// They left the group or were removed from it.
    Left,
    /// They wrote in the group: in a group, writing counts as reading up to one's own message.
    Wrote { seq: i64 },
}

impl Withdraw {
    /// The outcome counted in `notifications_total`.
    pub(crate) fn outcome(self) -> &'static str {
        match self {
            Self::Read { .. } => "deleted_on_read",
            Self::Muted => "deleted_on_mute",
            Self::Left => "deleted_on_leaving",
            Self::Wrote { .. } => "deleted_on_writing",
        }
    }
}

/// What to do about the recipient's notification for a [`Withdraw`] reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnRead {
    /// No notification, or it holds messages newer than what was read.
    Keep,
    /// Delete the Telegram message (when one was delivered) and forget the notification.
    Retract { telegram_message: Option<i32> },
}

/// The live notification, as far as withdrawing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Live {
    pub last_seq: i64,
    pub telegram_message: Option<i32>,
    pub in_group: bool,
}

/// What to do about the `live` notification (if any) for a [`Withdraw`] reason.
pub(crate) fn withdraw(live: Option<Live>, why: Withdraw) -> OnRead {
    let Some(live) = live else {
        return OnRead::Keep;
    };
    let keep = match why {
        Withdraw::Read { up_to } => live.last_seq > up_to,
        // A pair's unread counts the peer's messages after one's read mark, which writing
        // does not move.
        Withdraw::Wrote { seq } => !live.in_group || live.last_seq > seq,
        Withdraw::Muted | Withdraw::Left => false,
    };
    if keep {
        OnRead::Keep
    } else {
        OnRead::Retract {
            telegram_message: live.telegram_message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(5);

    fn reader(read_up_to: i64) -> Option<Reader> {
        Some(Reader {
            read_up_to,
            muted: false,
        })
    }

    fn known(
        handled: bool,
        chat: Option<i64>,
        attentive: bool,
        reader: Option<Reader>,
        existing: Option<Existing>,
    ) -> Known {
        Known {
            handled: Some(handled),
            chat: Some(chat),
            attentive: Some(attentive),
            reader: Some(reader),
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
        let muted = Some(Reader {
            read_up_to: 0,
            muted: true,
        });
        let cases: [(&str, NewMessage, Uuid, Known, Next); 17] = [
            ("own message", old, ann, Known::default(), Next::Ignore),
            (
                "too young: looked at again when the grace ends, before any lookup",
                young,
                ben,
                Known::default(),
                Next::Later(Duration::from_secs(3)),
            ),
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
                known(true, Some(77), false, reader(0), None),
                Next::Ignore,
            ),
            (
                "then asks for the linked chat",
                old,
                ben,
                Known {
                    handled: Some(false),
                    ..Known::default()
                },
                Next::Look(Lookup::Chat),
            ),
            (
                "no linked chat: nothing else is looked up",
                old,
                ben,
                Known {
                    handled: Some(false),
                    chat: Some(None),
                    ..Known::default()
                },
                Next::Skip(Skip::Unlinked),
            ),
            (
                "then asks for presence",
                old,
                ben,
                Known {
                    handled: Some(false),
                    chat: Some(Some(77)),
                    ..Known::default()
                },
                Next::Look(Lookup::Presence),
            ),
            (
                "looking at the page",
                old,
                ben,
                known(false, Some(77), true, reader(0), None),
                Next::Skip(Skip::Online),
            ),
            (
                "then asks for their place in the conversation",
                old,
                ben,
                Known {
                    handled: Some(false),
                    chat: Some(Some(77)),
                    attentive: Some(false),
                    ..Known::default()
                },
                Next::Look(Lookup::Reader),
            ),
            (
                "removed from the group since",
                old,
                ben,
                known(false, Some(77), false, None, None),
                Next::Skip(Skip::NotMember),
            ),
            (
                "muted",
                old,
                ben,
                known(false, Some(77), false, muted, delivered),
                Next::Skip(Skip::Muted),
            ),
            (
                "already read elsewhere",
                old,
                ben,
                known(false, Some(77), false, reader(5), None),
                Next::Skip(Skip::Read),
            ),
            (
                "then asks for the notification in the chat",
                old,
                ben,
                Known {
                    existing: None,
                    ..known(false, Some(77), false, reader(4), None)
                },
                Next::Look(Lookup::Existing),
            ),
            (
                "the first unread message",
                old,
                ben,
                known(false, Some(77), false, reader(4), None),
                Next::Send { chat: 77 },
            ),
            (
                "a notification is in the chat already",
                old,
                ben,
                known(false, Some(77), false, reader(4), delivered),
                Next::Coalesce,
            ),
            (
                "the earlier send never completed",
                old,
                ben,
                known(false, Some(77), false, reader(4), in_flight),
                Next::Send { chat: 77 },
            ),
            (
                "linked to another chat since",
                old,
                ben,
                known(false, Some(77), false, reader(4), other_chat),
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
    fn only_an_unlinked_skip_goes_unrecorded() {
        for skip in [Skip::Online, Skip::Read, Skip::Muted, Skip::NotMember] {
            assert!(skip.recorded(), "{skip:?}");
        }
        assert!(!Skip::Unlinked.recorded());
    }

    #[test]
    fn a_notification_goes_when_read_past_written_past_in_a_group_muted_or_left() {
        let retract = |telegram_message| OnRead::Retract { telegram_message };
        let live = |in_group, last_seq, telegram_message| {
            Some(Live {
                last_seq,
                telegram_message,
                in_group,
            })
        };
        let (pair, group) = (false, true);
        let cases = [
            (
                "no notification",
                None,
                Withdraw::Read { up_to: 9 },
                OnRead::Keep,
            ),
            (
                "read past it",
                live(pair, 9, Some(3)),
                Withdraw::Read { up_to: 9 },
                retract(Some(3)),
            ),
            (
                "a newer message arrived since",
                live(pair, 10, Some(3)),
                Withdraw::Read { up_to: 9 },
                OnRead::Keep,
            ),
            (
                "read while its send was in flight",
                live(pair, 9, None),
                Withdraw::Read { up_to: 12 },
                retract(None),
            ),
            (
                "wrote in the group after it",
                live(group, 9, Some(3)),
                Withdraw::Wrote { seq: 10 },
                retract(Some(3)),
            ),
            (
                "wrote in the group, but a newer message is in it",
                live(group, 11, Some(3)),
                Withdraw::Wrote { seq: 10 },
                OnRead::Keep,
            ),
            (
                "wrote to the peer of a pair: still unread",
                live(pair, 9, Some(3)),
                Withdraw::Wrote { seq: 10 },
                OnRead::Keep,
            ),
            (
                "muted: whatever it holds",
                live(pair, 10, Some(3)),
                Withdraw::Muted,
                retract(Some(3)),
            ),
            (
                "removed from the group",
                live(group, 10, Some(3)),
                Withdraw::Left,
                retract(Some(3)),
            ),
            (
                "left with nothing pending",
                None,
                Withdraw::Left,
                OnRead::Keep,
            ),
        ];
        for (name, live, why, expected) in cases {
            assert_eq!(withdraw(live, why), expected, "{name}");
        }
    }
}
