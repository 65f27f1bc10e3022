//! The record of every message sent: when it was due, whether it was answered, and whether and
//! when it reached its recipient's socket; from it come the latency histograms and the counts of
//! errors, lost and duplicated messages.
//!
//! A message's number is its index here and its `client_id` is `lg<number>`, so the socket that
//! receives it finds its entry without a map. Numbers keep counting across runs, so no two
//! messages of one load generator share a `client_id` (a repeated one would be an idempotent
//! resend, not a new message).
//!
//! A group message (recipient [`EVERYONE`]) is due at every member but its sender: each of those
//! arrivals is one delivery, timed and counted on its own, and a bit per member says who has had
//! it, so a second arrival at a member is a duplicate and a missing one is lost.

use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const ANSWERED: u8 = 1;
const FAILED: u8 = 2;
const DELIVERED: u8 = 4;

/// Latencies are kept in microseconds, from 1 µs to 10 minutes, to 3 significant digits.
const HIGHEST_US: u64 = 600_000_000;

/// The recipient of a group message: every member of the group but its sender.
pub const EVERYONE: usize = u32::MAX as usize;

/// The prefix of every `client_id` this tool sends.
pub const CLIENT_ID_PREFIX: &str = "lg";

/// The message number a `client_id` carries, if it is one of ours.
pub fn number_of(client_id: &str) -> Option<u64> {
    client_id.strip_prefix(CLIENT_ID_PREFIX)?.parse().ok()
}

struct Entry {
    /// When it was due, in nanoseconds after [`Ledger::origin`]: latencies count from here.
    due_ns: u64,
    sender: u32,
    recipient: u32,
    lane: u32,
    flags: u8,
}

/// Which members have had one group message.
struct Seen {
    bits: Vec<u64>,
    count: u64,
}

/// What a socket saw when a message of ours arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Its first arrival at its recipient.
    Delivered,
    /// The sender's own copy (every socket of both members gets each message).
    Echo,
    /// Arrived at the recipient a second time.
    Duplicate,
    /// Not a message this tool sent, or to someone else.
    Unknown,
}

/// Counts and histograms of the current run.
pub struct Tally {
    pub started: Instant,
    /// Messages whose sending began (whatever the answer).
    pub sent: u64,
    /// Answered with success (201/200, or an `ack`).
    pub answered: u64,
    /// Reached the recipient's socket (first arrivals only; a group message counts once per
    /// member reached).
    pub delivered: u64,
    pub duplicates: u64,
    /// Arrivals of messages of an earlier run, after that run's grace period.
    pub late: u64,
    /// Frames about messages this tool cannot place.
    pub unknown: u64,
    /// Deliveries of successfully answered messages that have not arrived yet.
    pub pending: u64,
    /// Errors by kind (`http 503 unavailable`, `ws error conflict`, `timeout`, `ws closed 4008`).
    pub errors: BTreeMap<String, u64>,
    /// Due -> arrival at the recipient's socket.
    pub deliver: Histogram<u64>,
    /// Due -> answer (HTTP response or `ack`).
    pub answer: Histogram<u64>,
    /// The furthest a send started behind its due time.
    pub max_lag: Duration,
}

impl Tally {
    fn new(started: Instant) -> Self {
        let histogram =
            || Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("constant, valid bounds");
        Self {
            started,
            sent: 0,
            answered: 0,
            delivered: 0,
            duplicates: 0,
            late: 0,
            unknown: 0,
            pending: 0,
            errors: BTreeMap::new(),
            deliver: histogram(),
            answer: histogram(),
            max_lag: Duration::ZERO,
        }
    }

    #[cfg(test)]
    pub fn new_for_tests() -> Self {
        Self::new(Instant::now())
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Every message of this load generator, and the tally of the current run.
pub struct Ledger {
    origin: Instant,
    entries: Vec<Entry>,
    /// Entries before this one belong to earlier runs.
    first_of_run: usize,
    tally: Tally,
    /// The members of the group that group messages go to (users `0..group_size`).
    group_size: usize,
    /// Group messages by number: who has had them.
    seen: HashMap<u64, Seen>,
}

impl Ledger {
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            entries: Vec::new(),
            first_of_run: 0,
            tally: Tally::new(origin),
            group_size: 0,
            seen: HashMap::new(),
        }
    }

    /// Group messages (sent to [`EVERYONE`]) are due at users `0..members` but their sender.
    pub fn set_group_size(&mut self, members: usize) {
        self.group_size = members;
    }

    /// Starts a new run: fresh counts and histograms; returns the previous run's.
    pub fn begin_run(&mut self, now: Instant) -> Tally {
        self.first_of_run = self.entries.len();
        std::mem::replace(&mut self.tally, Tally::new(now))
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Records a message about to be sent; its number.
    pub fn sending(
        &mut self,
        lane: usize,
        sender: usize,
        recipient: usize,
        due: Instant,
        now: Instant,
    ) -> u64 {
        let number = self.entries.len() as u64;
        self.entries.push(Entry {
            due_ns: due.saturating_duration_since(self.origin).as_nanos() as u64,
            sender: sender as u32,
            recipient: recipient as u32,
            lane: lane as u32,
            flags: 0,
        });
        if recipient == EVERYONE {
            let words = self.group_size.div_ceil(64);
            self.seen.insert(
                number,
                Seen {
                    bits: vec![0; words],
                    count: 0,
                },
            );
        }
        self.tally.sent += 1;
        self.tally.max_lag = self.tally.max_lag.max(now.saturating_duration_since(due));
        number
    }

    /// The sender of message `number` was answered: `Err(kind)` for an error.
    pub fn answered(&mut self, number: u64, now: Instant, outcome: Result<(), String>) {
        let elapsed = self.elapsed_since_due(number, now);
        let in_run = self.in_run(number);
        let Some(entry) = self.entries.get_mut(number as usize) else {
            return;
        };
        if entry.flags & (ANSWERED | FAILED) != 0 {
            return;
        }
        entry.flags |= if outcome.is_ok() { ANSWERED } else { FAILED };
        let awaited = match self.seen.get(&number) {
            Some(seen) => (self.group_size as u64)
                .saturating_sub(1)
                .saturating_sub(seen.count),
            None => u64::from(entry.flags & DELIVERED == 0),
        };
        if !in_run {
            return;
        }
        match outcome {
            Ok(()) => {
                self.tally.answered += 1;
                self.tally.pending += awaited;
                record(&mut self.tally.answer, elapsed);
            }
            Err(kind) => self.error(kind),
        }
    }

    /// Message `number` arrived at a socket of user `at`.
    pub fn arrived(&mut self, number: u64, at: usize, now: Instant) -> Arrival {
        let elapsed = self.elapsed_since_due(number, now);
        let in_run = self.in_run(number);
        let Some(entry) = self.entries.get_mut(number as usize) else {
            self.tally.unknown += 1;
            return Arrival::Unknown;
        };
        if let Some(seen) = self.seen.get_mut(&number) {
            if entry.sender as usize == at {
                return Arrival::Echo;
            }
            if at >= self.group_size {
                self.tally.unknown += 1;
                return Arrival::Unknown;
            }
            let (word, bit) = (at / 64, 1u64 << (at % 64));
            if seen.bits[word] & bit != 0 {
                self.tally.duplicates += 1;
                return Arrival::Duplicate;
            }
            seen.bits[word] |= bit;
            seen.count += 1;
            if !in_run {
                self.tally.late += 1;
            } else {
                self.tally.delivered += 1;
                if entry.flags & ANSWERED != 0 {
                    self.tally.pending = self.tally.pending.saturating_sub(1);
                }
                record(&mut self.tally.deliver, elapsed);
            }
            return Arrival::Delivered;
        }
        if entry.recipient as usize != at {
            if entry.sender as usize == at {
                return Arrival::Echo;
            }
            self.tally.unknown += 1;
            return Arrival::Unknown;
        }
        if entry.flags & DELIVERED != 0 {
            self.tally.duplicates += 1;
            return Arrival::Duplicate;
        }
        entry.flags |= DELIVERED;
        if !in_run {
            self.tally.late += 1;
        } else {
            self.tally.delivered += 1;
            if entry.flags & ANSWERED != 0 {
                self.tally.pending -= 1;
            }
            record(&mut self.tally.deliver, elapsed);
        }
        Arrival::Delivered
    }

    /// The sender lane waiting for message `number`'s answer, and whether it has come.
    pub fn lane_of(&self, number: u64) -> Option<(usize, bool)> {
        self.entries
            .get(number as usize)
            .map(|e| (e.lane as usize, e.flags & (ANSWERED | FAILED) != 0))
    }

    /// Counts an error of the run that belongs to no one message (a socket closed, say).
    pub fn error(&mut self, kind: String) {
        *self.tally.errors.entry(kind).or_default() += 1;
    }

    fn in_run(&self, number: u64) -> bool {
        number as usize >= self.first_of_run
    }

    fn elapsed_since_due(&self, number: u64, now: Instant) -> Duration {
        let due_ns = self
            .entries
            .get(number as usize)
            .map_or(0, |entry| entry.due_ns);
        now.saturating_duration_since(self.origin)
            .saturating_sub(Duration::from_nanos(due_ns))
    }
}

fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    histogram.saturating_record((elapsed.as_micros() as u64).max(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: usize = 0;
    const BOB: usize = 1;

    fn at(origin: Instant, ms: u64) -> Instant {
        origin + Duration::from_millis(ms)
    }

    #[test]
    fn client_ids_carry_the_message_number() {
        assert_eq!(number_of("lg42"), Some(42));
        assert_eq!(number_of("lg"), None);
        assert_eq!(number_of("web-7"), None);
    }

    #[test]
    fn latency_counts_from_the_due_time_even_when_sent_late() {
        let origin = Instant::now();
        let mut ledger = Ledger::new(origin);
        let n = ledger.sending(0, ALICE, BOB, at(origin, 10), at(origin, 40));
        ledger.answered(n, at(origin, 50), Ok(()));
        assert_eq!(ledger.arrived(n, BOB, at(origin, 60)), Arrival::Delivered);
        let tally = ledger.tally();
        assert_eq!(tally.max_lag, Duration::from_millis(30));
        assert_eq!(tally.answer.max(), tally.answer.highest_equivalent(40_000));
        assert_eq!(
            tally.deliver.max(),
            tally.deliver.highest_equivalent(50_000)
        );
        assert_eq!((tally.sent, tally.answered, tally.delivered), (1, 1, 1));
        assert_eq!(tally.pending, 0);
    }

    #[test]
    fn echoes_are_ignored_and_second_arrivals_are_duplicates() {
        let origin = Instant::now();
        let mut ledger = Ledger::new(origin);
        let n = ledger.sending(0, ALICE, BOB, origin, origin);
        assert_eq!(ledger.arrived(n, ALICE, origin), Arrival::Echo);
        // Delivered before the sender's answer came back: not pending afterwards.
        assert_eq!(ledger.arrived(n, BOB, origin), Arrival::Delivered);
        ledger.answered(n, origin, Ok(()));
        assert_eq!(ledger.arrived(n, BOB, origin), Arrival::Duplicate);
        assert_eq!(ledger.arrived(n, 7, origin), Arrival::Unknown);
        assert_eq!(ledger.arrived(99, BOB, origin), Arrival::Unknown);
        let tally = ledger.tally();
        assert_eq!(
            (tally.delivered, tally.duplicates, tally.unknown),
            (1, 1, 2)
        );
        assert_eq!(tally.pending, 0);
    }

    #[test]
    fn answered_but_undelivered_messages_stay_pending_and_errors_are_counted_by_kind() {
        let origin = Instant::now();
        let mut ledger = Ledger::new(origin);
        let ok = ledger.sending(0, ALICE, BOB, origin, origin);
        let failed = ledger.sending(1, BOB, ALICE, origin, origin);
        ledger.answered(ok, origin, Ok(()));
        ledger.answered(failed, origin, Err("http 503 unavailable".into()));
        // A late second answer changes nothing.
        ledger.answered(failed, origin, Ok(()));
        assert_eq!(ledger.lane_of(failed), Some((1, true)));
        let tally = ledger.tally();
        assert_eq!(
            (tally.answered, tally.pending, tally.error_count()),
            (1, 1, 1)
        );
        assert_eq!(tally.errors.get("http 503 unavailable"), Some(&1));
    }

    #[test]
    fn a_group_message_is_one_delivery_per_member_but_its_sender_each_at_most_once() {
        let origin = Instant::now();
        let mut ledger = Ledger::new(origin);
        ledger.set_group_size(70);
        let n = ledger.sending(0, 3, EVERYONE, origin, origin);
        // Two members have it before the answer, so 69 - 2 are still awaited after it.
        assert_eq!(ledger.arrived(n, 0, at(origin, 5)), Arrival::Delivered);
        assert_eq!(ledger.arrived(n, 65, at(origin, 6)), Arrival::Delivered);
        ledger.answered(n, at(origin, 7), Ok(()));
        assert_eq!(ledger.tally().pending, 67);
        assert_eq!(ledger.arrived(n, 3, origin), Arrival::Echo);
        assert_eq!(ledger.arrived(n, 65, origin), Arrival::Duplicate);
        assert_eq!(ledger.arrived(n, 70, origin), Arrival::Unknown);
        for member in (1..70).filter(|m| ![3, 65].contains(m)) {
            assert_eq!(ledger.arrived(n, member, at(origin, 9)), Arrival::Delivered);
        }
        let tally = ledger.tally();
        assert_eq!((tally.sent, tally.delivered, tally.pending), (1, 69, 0));
        assert_eq!((tally.duplicates, tally.unknown), (1, 1));
        assert_eq!(tally.deliver.len(), 69);
    }

    #[test]
    fn group_deliveries_that_never_come_stay_pending() {
        let origin = Instant::now();
        let mut ledger = Ledger::new(origin);
        ledger.set_group_size(4);
        let n = ledger.sending(0, 0, EVERYONE, origin, origin);
        ledger.answered(n, origin, Ok(()));
        assert_eq!(ledger.arrived(n, 1, origin), Arrival::Delivered);
        assert_eq!(ledger.tally().pending, 2);
    }

    #[test]
    fn a_new_run_starts_from_zero_and_late_arrivals_of_the_last_run_are_told_apart() {
        let origin = Instant::now();
        let mut ledger = Ledger::new(origin);
        let old = ledger.sending(0, ALICE, BOB, origin, origin);
        ledger.answered(old, origin, Ok(()));
        let previous = ledger.begin_run(at(origin, 100));
        assert_eq!(previous.pending, 1);
        let new = ledger.sending(0, ALICE, BOB, origin, origin);
        assert_eq!(new, old + 1);
        assert_eq!(ledger.arrived(old, BOB, origin), Arrival::Delivered);
        let tally = ledger.tally();
        assert_eq!((tally.sent, tally.delivered, tally.late), (1, 0, 1));
    }
}
