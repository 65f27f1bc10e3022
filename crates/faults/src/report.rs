//! The result of a run: a table for people and the same as JSON for comparing runs.

use crate::ledger::{Logout, Send, Unavailable};
use crate::nemesis::{self, Fault};
use crate::verdict::Verdict;
use crate::Options;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub seed: u64,
    pub fault_seconds: f64,
    pub faults_by_kind: BTreeMap<&'static str, usize>,
    pub faults: Vec<Fault>,
    pub sends_by_via: BTreeMap<&'static str, usize>,
    pub verdict: Verdict,
    /// The longest any message waited from its first attempt to its acknowledgement.
    pub longest_outage_ms: u64,
    /// How send attempts ended (`201`, `503`, `timeout`, `ws closed`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// The longest a 503 took to answer: requests must fail fast, not hang. Only 503s answered by
    /// an API process that ran all along count here (see `held_503`).
    pub slowest_503_ms: u64,
    /// The 99th percentile of those 503s' answer times, and how many took over a second.
    pub p99_503_ms: u64,
    pub over_a_second_503: usize,
    /// Those over a second, by the fault their request overlapped (`none` when it overlapped
    /// none): a path that is slow in one kind of outage shows up here.
    pub over_a_second_503_during: BTreeMap<&'static str, usize>,
    /// The same REST 503s as the server timed them (`Server-Timing`), apart from those held back
    /// by a frozen or dead API process: the client's time also holds its own delays on a busy
    /// machine, the server's does not.
    pub slowest_503_in_server_ms: u64,
    pub over_a_second_503_in_server: usize,
    /// 503s whose request was in flight while an API process was frozen (SIGSTOP) or dead: the
    /// time it stood still is in their answer time, which says nothing of failing fast. Which API
    /// process answered is not known, so any frozen one holds a request back.
    pub held_503: usize,
    pub slowest_held_503_ms: u64,
    pub socket_reconnects: u64,
    /// Clients told their session had ended (401, or a socket closed with 4001).
    pub logouts: usize,
    /// Of those, the ones told while Redis was down: late news of an earlier restart (allowed)
    /// or a session lost to the outage (counted below).
    pub logouts_during_redis_outage: usize,
    /// Of those, the ones that no Redis restart (empty) between their login and the log-out
    /// explains: a silent log-out while Redis was down, or a spurious one. Must be 0: an outage
    /// is a 503, and only Redis coming back empty ends sessions.
    pub unexplained_logouts: usize,
    /// Answers 500 and the like (anything 5xx but 503): must be 0.
    pub server_errors: u64,
    /// Times each role was started again after it died.
    pub restarts: BTreeMap<String, u32>,
    /// sendMessage calls per offline person's chat; more than one is a doubled notification
    /// (they never read, so the first is only ever edited).
    pub notifications: BTreeMap<i64, usize>,
    /// What was sent to a chat that got more than one, to tell what doubled.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub doubled_texts: BTreeMap<i64, Vec<String>>,
    pub every_offline_person_notified: bool,
    /// Whether everyone with a connected device was shown online within two presence TTLs after
    /// the recovery.
    pub presence_healed: bool,
    /// Whether every device had received everything stored before the recovery deadline.
    pub drained: bool,
    /// The devices that had not, with what they were doing.
    pub behind: Vec<String>,
    /// Where the cluster's data and logs were kept, if they were.
    pub folder: Option<String>,
}

/// What [`Report::new`] is made of.
pub(crate) struct Parts<'a> {
    pub options: &'a Options,
    pub faults: Vec<Fault>,
    pub verdict: Verdict,
    pub sends: &'a [Send],
    pub outcomes: BTreeMap<String, u64>,
    pub unavailable: Vec<Unavailable>,
    pub served_unavailable: Vec<Unavailable>,
    pub reconnects: u64,
    pub logouts: Vec<Logout>,
    pub restarts: BTreeMap<String, u32>,
    pub notifications: BTreeMap<i64, Vec<String>>,
    pub notified: bool,
    pub presence_healed: bool,
    pub behind: Vec<String>,
    pub fault_time: Duration,
}

impl Report {
    pub(crate) fn new(mut parts: Parts<'_>) -> Self {
        let api_stood_still: Vec<_> = parts
            .faults
            .iter()
            .filter(|f| f.target.as_deref().is_some_and(|t| t.starts_with("api")))
            .map(|f| f.window)
            .collect();
        let (held_back, ran): (Vec<_>, Vec<_>) = std::mem::take(&mut parts.unavailable)
            .into_iter()
            .partition(|answer| held(answer, &api_stood_still));
        let mut over_a_second_503_during = BTreeMap::new();
        for answer in ran.iter().filter(|a| a.took > Duration::from_secs(1)) {
            *over_a_second_503_during
                .entry(during(answer, &parts.faults))
                .or_default() += 1;
        }
        let served: Vec<Duration> = std::mem::take(&mut parts.served_unavailable)
            .into_iter()
            .filter(|answer| !held(answer, &api_stood_still))
            .map(|answer| answer.took)
            .collect();
        let mut unavailable: Vec<Duration> = ran.iter().map(|answer| answer.took).collect();
        unavailable.sort_unstable();
        let longest_outage = parts
            .sends
            .iter()
            .filter_map(|send| send.acked.map(|(at, _)| at.duration_since(send.started)))
            .max()
            .unwrap_or_default();
        let emptyings: Vec<_> = parts
            .faults
            .iter()
            .filter(|f| f.kind == nemesis::Kind::RestartRedis)
            .map(|f| f.window)
            .collect();
        let logouts_during_redis_outage = parts
            .logouts
            .iter()
            .filter(|logout| {
                emptyings
                    .iter()
                    .any(|&(down, up)| down <= logout.at && logout.at < up)
            })
            .count();
        let unexplained_logouts = parts
            .logouts
            .iter()
            .filter(|logout| !explained(logout, &emptyings))
            .count();
        let server_errors = parts
            .outcomes
            .iter()
            .filter(|(outcome, _)| outcome.starts_with('5') && outcome.as_str() != "503")
            .map(|(_, n)| n)
            .sum();
        Self {
            seed: parts.options.seed,
            logouts: parts.logouts.len(),
            logouts_during_redis_outage,
            unexplained_logouts,
            server_errors,
            fault_seconds: parts.fault_time.as_secs_f64(),
            faults_by_kind: nemesis::counts(&parts.faults),
            faults: parts.faults,
            sends_by_via: crate::by_via(parts.sends),
            verdict: parts.verdict,
            longest_outage_ms: longest_outage.as_millis() as u64,
            outcomes: parts.outcomes,
            slowest_503_ms: unavailable.last().map_or(0, |d| d.as_millis() as u64),
            p99_503_ms: unavailable
                .get((unavailable.len() * 99).div_ceil(100).saturating_sub(1))
                .map_or(0, |d| d.as_millis() as u64),
            over_a_second_503: unavailable
                .iter()
                .filter(|d| **d > Duration::from_secs(1))
                .count(),
            over_a_second_503_during,
            slowest_503_in_server_ms: served.iter().max().map_or(0, |d| d.as_millis() as u64),
            over_a_second_503_in_server: served
                .iter()
                .filter(|d| **d > Duration::from_secs(1))
                .count(),
            held_503: held_back.len(),
            slowest_held_503_ms: held_back
                .iter()
                .map(|answer| answer.took.as_millis() as u64)
                .max()
                .unwrap_or(0),
            socket_reconnects: parts.reconnects,
            restarts: parts.restarts,
            notifications: parts
                .notifications
                .iter()
                .map(|(chat, texts)| (*chat, texts.len()))
                .collect(),
            doubled_texts: parts
                .notifications
                .into_iter()
                .filter(|(_, texts)| texts.len() > 1)
                .collect(),
            every_offline_person_notified: parts.notified,
            presence_healed: parts.presence_healed,
            drained: parts.behind.is_empty(),
            behind: parts.behind,
            folder: None,
        }
    }

    /// Doubled Telegram notifications.
    pub fn doubled_notifications(&self) -> usize {
        self.notifications
            .values()
            .map(|n| n.saturating_sub(1))
            .sum()
    }

    /// The invariants: nothing lost or doubled (messages and notifications), order kept.
    pub fn holds(&self) -> bool {
        self.verdict.holds()
            && self.doubled_notifications() == 0
            && self.unexplained_logouts == 0
            && self.server_errors == 0
    }

    pub fn table(&self) -> String {
        let v = &self.verdict;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "fault suite, seed {}: {:.0} s of faults",
            self.seed, self.fault_seconds
        );
        let _ = writeln!(out, "\n| faults injected | count |\n| --- | --- |");
        for (kind, n) in &self.faults_by_kind {
            let _ = writeln!(out, "| {kind} | {n} |");
        }
        let _ = writeln!(
            out,
            "| total | {} |",
            self.faults_by_kind.values().sum::<usize>()
        );
        let _ = writeln!(
            out,
            "\n| sends | ok | lost | duplicated | unknown |\n| --- | --- | --- | --- | --- |"
        );
        let _ = writeln!(
            out,
            "| {} ({}) | {} | {} | {} | {} |",
            v.sends,
            self.sends_by_via
                .iter()
                .map(|(via, n)| format!("{n} {via}"))
                .collect::<Vec<_>>()
                .join(", "),
            v.ok,
            v.lost,
            v.duplicated,
            v.unknown
        );
        let _ = writeln!(out);
        let lines = [
            ("out of order on a device", v.out_of_order.to_string()),
            ("conversations with seq gaps", v.seq_gaps.to_string()),
            ("stored but never sent", v.strangers.to_string()),
            (
                "doubled Telegram notifications",
                self.doubled_notifications().to_string(),
            ),
            (
                "every offline person notified",
                self.every_offline_person_notified.to_string(),
            ),
            ("every device caught up", self.drained.to_string()),
            ("presence healed", self.presence_healed.to_string()),
            (
                "log-outs no Redis emptying explains",
                format!(
                    "{} of {} ({} told during an outage)",
                    self.unexplained_logouts, self.logouts, self.logouts_during_redis_outage
                ),
            ),
            ("5xx answers other than 503", self.server_errors.to_string()),
            (
                "longest outage seen by a client",
                format!("{:.1} s", self.longest_outage_ms as f64 / 1000.0),
            ),
            (
                "503 answer time",
                format!(
                    "p99 {} ms, slowest {} ms, {} over a second; {} more held by a frozen or dead API process (slowest {} ms)",
                    self.p99_503_ms,
                    self.slowest_503_ms,
                    self.over_a_second_503,
                    self.held_503,
                    self.slowest_held_503_ms
                ),
            ),
            (
                "503s over a second, by the fault they overlapped",
                format!("{:?}", self.over_a_second_503_during),
            ),
            (
                "503 time in the server (REST, its Server-Timing)",
                format!(
                    "slowest {} ms, {} over a second",
                    self.slowest_503_in_server_ms, self.over_a_second_503_in_server
                ),
            ),
            ("socket reconnects", self.socket_reconnects.to_string()),
            (
                "role restarts",
                self.restarts
                    .iter()
                    .map(|(role, n)| format!("{role} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "send attempts",
                self.outcomes
                    .iter()
                    .map(|(outcome, n)| format!("{outcome}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ];
        for (what, value) in lines {
            let _ = writeln!(out, "{what}: {value}");
        }
        for (chat, texts) in &self.doubled_texts {
            let _ = writeln!(out, "  sent to chat {chat}: {texts:?}");
        }
        for device in &self.behind {
            let _ = writeln!(out, "  behind: {device}");
        }
        for example in &v.examples {
            let _ = writeln!(out, "  {example}");
        }
        let _ = writeln!(
            out,
            "\n{}",
            if self.holds() {
                "invariants hold: 0 lost, 0 duplicated"
            } else {
                "INVARIANTS BROKEN"
            }
        );
        out
    }
}

/// Whether a Redis restart (it comes back empty) ended the session: one that went down after the
/// login was sent and was up again before the client was told. A log-out inside an outage, or
/// one no restart precedes, is the service losing a session that Redis still held.
fn explained(logout: &Logout, emptyings: &[(Instant, Instant)]) -> bool {
    emptyings
        .iter()
        .any(|&(down, up)| logout.session_asked < down && up <= logout.at)
}

/// The fault a 503's request overlapped (the first, if several), or `none`.
fn during(answer: &Unavailable, faults: &[Fault]) -> &'static str {
    faults
        .iter()
        .find(|f| answer.overlaps(f.window))
        .map_or("none", |f| f.kind.name())
}

/// Whether the request was in flight while an API process stood still (frozen or dead).
fn held(answer: &Unavailable, stood_still: &[(Instant, Instant)]) -> bool {
    stood_still.iter().any(|&window| answer.overlaps(window))
}

impl Unavailable {
    /// Whether the request was in flight at some moment of `(from, to)`.
    fn overlaps(&self, (from, to): (Instant, Instant)) -> bool {
        from < self.answered && self.answered - self.took < to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_503_is_put_down_to_the_outage_its_request_overlapped() {
        let t0 = Instant::now();
        let s = |ms: u64| t0 + Duration::from_millis(ms);
        let postgres_down = Fault {
            kind: nemesis::Kind::RestartPostgres,
            target: None,
            at_s: 10.0,
            down_ms: 2_000,
            window: (s(10_000), s(12_000)),
        };
        let answer = |sent: u64, answered: u64| Unavailable {
            answered: s(answered),
            took: Duration::from_millis(answered - sent),
        };
        let faults = [postgres_down];
        assert_eq!(
            during(&answer(9_500, 10_700), &faults),
            "restart postgres (immediate)"
        );
        assert_eq!(during(&answer(12_100, 13_300), &faults), "none");
    }

    #[test]
    fn a_503_counts_as_held_only_when_its_request_overlapped_a_frozen_api() {
        let t0 = Instant::now();
        let s = |ms: u64| t0 + Duration::from_millis(ms);
        // An API process frozen from 10 s to 13 s.
        let frozen = [(s(10_000), s(13_000))];
        let answer = |sent: u64, answered: u64| Unavailable {
            answered: s(answered),
            took: Duration::from_millis(answered - sent),
        };
        assert!(
            held(&answer(9_800, 13_100), &frozen),
            "sent before, answered after"
        );
        assert!(held(&answer(10_500, 11_000), &frozen), "inside");
        assert!(!held(&answer(13_100, 13_900), &frozen), "after the SIGCONT");
        assert!(!held(&answer(9_000, 9_900), &frozen), "before the SIGSTOP");
    }

    #[test]
    fn only_a_restart_between_login_and_log_out_explains_a_log_out() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        // Redis down from 10 s to 12 s, and again from 20 s to 22 s.
        let emptyings = [(s(10), s(12)), (s(20), s(22))];
        let logout = |asked, at| Logout {
            session_asked: s(asked),
            at: s(at),
        };
        // Told late, during the next outage, about the end the first restart caused.
        assert!(explained(&logout(5, 21), &emptyings));
        assert!(explained(&logout(5, 13), &emptyings));
        // Logged out while Redis was down, of a session it held until then.
        assert!(!explained(&logout(15, 21), &emptyings));
        assert!(!explained(&logout(5, 11), &emptyings));
        // Logged out with Redis up and no restart since the login.
        assert!(!explained(&logout(13, 18), &emptyings));
        assert!(!explained(&logout(1, 9), &emptyings));
    }
}
