//! The results: one JSON document per invocation (so runs can be compared later) and a table
//! for people.

use crate::procs::{ProcessUsage, Usage};
use crate::service::LogSummary;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    /// From a histogram of microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: histogram.len(),
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p99_9: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1000.0,
        }
    }
}

/// One run: a way of sending, a load, a duration.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub name: String,
    pub via: &'static str,
    /// `paced` (open loop, fixed schedule) or `closed`.
    pub pacing: &'static str,
    pub senders: usize,
    /// Distinct conversations the senders send into.
    pub conversations: usize,
    /// `--group-members`: the size of the one group every message went to (each message is due
    /// at all members but its sender).
    pub group_members: Option<usize>,
    pub target_rate: Option<f64>,
    /// How long sending lasted, in seconds.
    pub seconds: f64,
    /// Messages on the schedule (paced runs).
    pub scheduled: Option<u64>,
    pub sent: u64,
    /// Scheduled but not sent: every sender was still waiting for answers when the run ended.
    pub missed: Option<u64>,
    /// Paced runs: whether the senders kept the schedule (at most 0.5% missed). When they did not,
    /// the server was slower than the rate and the latencies only cover what could be sent.
    pub on_schedule: Option<bool>,
    pub answered: u64,
    pub delivered: u64,
    /// Answered with success but not on the recipient's socket within the grace period.
    pub lost: u64,
    pub duplicates: u64,
    /// Arrivals of an earlier run's messages after its grace period.
    pub late: u64,
    pub unknown: u64,
    pub errors: BTreeMap<String, u64>,
    pub error_count: u64,
    /// Successful answers per second of sending.
    pub throughput: f64,
    /// Arrivals at recipients' sockets per second of sending (= `throughput` for pairs; a group
    /// message is one delivery per member but its sender).
    pub deliveries_per_second: f64,
    /// Send (due time) to arrival on the recipient's socket.
    pub deliver_ms: Percentiles,
    /// Send (due time) to the HTTP answer or the `ack`.
    pub answer_ms: Percentiles,
    /// The furthest behind its due time a send started (a sign the senders, or this tool, could
    /// not keep up).
    pub max_send_lag_ms: f64,
    pub usage: Usage,
}

impl RunReport {
    /// Nothing lost, duplicated or failed.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.error_count == 0 && self.unknown == 0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FindMaxReport {
    pub via: &'static str,
    pub p99_limit_ms: f64,
    /// The highest rate whose step held: clean, on schedule, p99 within the limit.
    pub held_rate: Option<f64>,
    pub failed_rate: Option<f64>,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionsReport {
    pub asked: usize,
    pub opened: usize,
    pub failures: BTreeMap<String, u64>,
    pub users: usize,
    pub open_seconds: f64,
    /// Resident memory of the watched chatd processes together, in KiB.
    pub rss_before_kib: u64,
    pub rss_open_kib: u64,
    pub rss_after_close_kib: u64,
    pub kib_per_socket: f64,
    /// Sockets the server closed while they were held.
    pub closed_by_server: u64,
    pub usage: Usage,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub url: String,
    pub chatd: Option<String>,
    pub processes: Vec<crate::procs::Watched>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_at: String,
    /// Where the JSON goes (`--out`, or `target/loadgen/<started_at>-<label>.json`).
    #[serde(skip)]
    pub out: PathBuf,
    pub label: String,
    pub args: Vec<String>,
    pub target: TargetReport,
    pub cores: usize,
    pub users: usize,
    pub pairs: usize,
    pub one_conversation: bool,
    /// `--group-members`: all users in one group, every message to all of them.
    pub group_members: Option<usize>,
    pub body_bytes: usize,
    pub grace_seconds: f64,
    pub runs: Vec<RunReport>,
    pub find_max: Vec<FindMaxReport>,
    pub connections: Option<ConnectionsReport>,
    pub server_logs: Vec<LogSummary>,
    /// Nothing lost, duplicated or failed in any run (steps of `--find-max` past the one that
    /// failed aside).
    pub clean: bool,
}

impl Report {
    pub fn write_json(&self) -> anyhow::Result<()> {
        let path = &self.out;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    /// The table for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let processes: Vec<String> = self
            .target
            .processes
            .iter()
            .map(|p| format!("{} pid {}", p.role, p.pid))
            .collect();
        let _ = writeln!(
            out,
            "loadgen {} at {}: chatd {} ({}); {} cores shared by chatd, PostgreSQL, Redis, NATS and loadgen",
            self.label,
            self.started_at,
            self.target.url,
            if processes.is_empty() { "not watched".to_owned() } else { processes.join(", ") },
            self.cores
        );
        if !self.runs.is_empty() {
            if let Some(members) = self.group_members {
                let _ = writeln!(
                    out,
                    "{members} users in ONE group, one socket each; every message is due at the {} other members' sockets (deliveries); bodies of {} bytes; lost = deliveries of answered messages not made {} s after sending ended",
                    members.saturating_sub(1),
                    self.body_bytes,
                    self.grace_seconds
                );
            } else {
                let _ = writeln!(
                    out,
                    "{} users in {} pairs; {}; bodies of {} bytes; lost = answered but not on the recipient's socket {} s after sending ended",
                    self.users,
                    self.pairs,
                    if self.one_conversation { "all senders in ONE conversation" } else { "senders spread over the pairs" },
                    self.body_bytes,
                    self.grace_seconds
                );
            }
            out.push('\n');
            out.push_str(&runs_table(&self.runs));
            for run in &self.runs {
                if let (Some(false), Some(missed), Some(scheduled)) =
                    (run.on_schedule, run.missed, run.scheduled)
                {
                    let _ = writeln!(
                        out,
                        "  {}: SCHEDULE NOT KEPT: {missed} of {scheduled} messages were due while all {} senders waited for answers (the server is slower than this rate; latencies cover only what was sent)",
                        run.name, run.senders
                    );
                }
                if !run.errors.is_empty() || run.late > 0 || run.unknown > 0 {
                    let errors: Vec<String> = run
                        .errors
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect();
                    let _ = writeln!(
                        out,
                        "  {}: errors {{{}}}, late {}, unknown {}",
                        run.name,
                        errors.join(", "),
                        run.late,
                        run.unknown
                    );
                }
            }
        }
        for find in &self.find_max {
            let _ = writeln!(
                out,
                "\nfind-max over {} (p99 send->deliver <= {} ms, nothing lost or failed): held {}; {}",
                find.via,
                find.p99_limit_ms,
                find.held_rate
                    .map_or("no rate".to_owned(), |r| format!("{r:.0} msgs/s")),
                find.why
            );
        }
        if let Some(c) = &self.connections {
            let _ = writeln!(
                out,
                "\nidle sockets: {} of {} opened over {} users in {:.1} s{}",
                c.opened,
                c.asked,
                c.users,
                c.open_seconds,
                if c.failures.is_empty() {
                    String::new()
                } else {
                    format!(" (failures: {:?})", c.failures)
                }
            );
            let mib = |kib: u64| kib as f64 / 1024.0;
            let _ = writeln!(
                out,
                "chatd RSS {:.1} MiB before -> {:.1} MiB open -> {:.1} MiB after closing: {:.1} KiB per socket; {} closed by the server while held",
                mib(c.rss_before_kib),
                mib(c.rss_open_kib),
                mib(c.rss_after_close_kib),
                c.kib_per_socket,
                c.closed_by_server
            );
            let _ = writeln!(out, "{}", usage_line(&c.usage));
        }
        for log in &self.server_logs {
            if log.warnings + log.errors > 0 {
                let _ = writeln!(
                    out,
                    "\nchatd {} log: {} warnings, {} errors ({})",
                    log.role, log.warnings, log.errors, log.file
                );
                for sample in &log.samples {
                    let _ = writeln!(out, "  {sample}");
                }
            }
        }
        let _ = writeln!(
            out,
            "\n{}",
            if self.clean {
                "CLEAN: nothing lost, duplicated or failed"
            } else {
                "NOT CLEAN: see lost / dup / err above"
            }
        );
        out
    }
}

fn runs_table(runs: &[RunReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36} {:>7} {:>8} {:>9} {:>5} {:>6} {:>4} {:>5} | {:>11} {:>7} {:>7} {:>7} {:>8} | {:>10} {:>7} {:>8} | {:>9} {:>8} | {:>7} {:>7}",
        "run (latencies: ms from due time)", "sent", "msgs/s", "deliv/s", "miss", "lost", "dup", "err",
        "deliver p50", "p90", "p99", "p99.9", "max",
        "answer p50", "p99", "max",
        "chatd cpu", "rss MiB", "loadgen", "machine",
    );
    for run in runs {
        let (d, a) = (run.deliver_ms, run.answer_ms);
        let (server_cpu, server_rss) = if run.usage.processes.is_empty() {
            ("-".to_owned(), "-".to_owned())
        } else {
            (
                format!("{:.0}%", run.usage.server_cpu_percent()),
                format!("{:.1}", run.usage.server_rss_max_mib()),
            )
        };
        let _ = writeln!(
            out,
            "{:<36} {:>7} {:>8.1} {:>9.0} {:>5} {:>6} {:>4} {:>5} | {:>11.2} {:>7.2} {:>7.2} {:>7.2} {:>8.2} | {:>10.2} {:>7.2} {:>8.2} | {:>9} {:>8} | {:>6.0}% {:>6.0}%",
            truncate(&run.name, 36),
            run.sent,
            run.throughput,
            run.deliveries_per_second,
            run.missed.map_or("-".to_owned(), |m| m.to_string()),
            run.lost,
            run.duplicates,
            run.error_count,
            d.p50,
            d.p90,
            d.p99,
            d.p99_9,
            d.max,
            a.p50,
            a.p99,
            a.max,
            server_cpu,
            server_rss,
            run.usage.loadgen_cpu_percent,
            run.usage.machine_cpu_percent,
        );
        if run.usage.processes.len() > 1 {
            let _ = writeln!(out, "    {}", processes_line(&run.usage.processes));
        }
    }
    out
}

fn processes_line(processes: &[ProcessUsage]) -> String {
    let parts: Vec<String> = processes
        .iter()
        .map(|p| format!("{} {:.0}% {:.1} MiB", p.role, p.cpu_percent, p.rss_max_mib))
        .collect();
    parts.join(", ")
}

fn usage_line(usage: &Usage) -> String {
    format!(
        "chatd cpu {:.0}% ({}), loadgen {:.0}%, machine {:.0}% of {}%",
        usage.server_cpu_percent(),
        processes_line(&usage.processes),
        usage.loadgen_cpu_percent,
        usage.machine_cpu_percent,
        usage.cores * 100
    )
}

fn truncate(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// `2026-05-04T13:02:09Z` for seconds since the Unix epoch.
pub fn utc_timestamp(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let rest = unix_seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

pub fn now_utc() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_timestamp(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn percentiles_are_milliseconds_of_microsecond_histograms() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        for us in 1..=1000 {
            histogram.record(us * 10).expect("in range");
        }
        let p = Percentiles::of(&histogram);
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 5.0).abs() < 0.01, "{p:?}");
        assert!((p.p99 - 9.9).abs() < 0.01, "{p:?}");
        assert!((p.max - 10.0).abs() < 0.01, "{p:?}");
        assert_eq!(Percentiles::of(&Histogram::new(3).expect("hist")).count, 0);
    }
}
