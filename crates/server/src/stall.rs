//! Notices when this process's async runtime falls behind, and says whether it was busy.
//!
//! Every deadline of the service (answering a 503 within a second during an outage, pings,
//! time-outs) is a timer, and a timer fires only when a runtime thread gets to it. Fault runs saw
//! deadline answers leave a process 0.4-1 s late, several at the same instant, with nothing in
//! the logs in between. A task that should wake every `TICK` and wakes late measures that delay
//! directly; the CPU the process used meanwhile tells the two causes apart: about a core or more
//! per core of the delay means its threads were running something that did not yield (busy), near
//! none means they were not running at all (stopped, or starved by other processes).

use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const TICK: Duration = Duration::from_millis(100);
/// Past this much delay on one tick the runtime is reported as having stalled.
const REPORTED: Duration = Duration::from_millis(250);

/// Runs until `stop`; logs each stall and counts it in `runtime_stalls_total`.
pub async fn watch(stop: CancellationToken) {
    let mut expected = Instant::now() + TICK;
    let mut cpu_before = process_cpu();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(expected) => {}
        }
        let woke = Instant::now();
        let late = woke.saturating_duration_since(expected);
        let cpu = process_cpu();
        if late >= REPORTED {
            metrics::counter!("runtime_stalls_total").increment(1);
            let used = match (cpu_before, cpu) {
                (Some(before), Some(now)) => now.saturating_sub(before).as_millis().to_string(),
                _ => "unknown".to_owned(),
            };
            tracing::warn!(
                late_ms = late.as_millis() as u64,
                cpu_ms_meanwhile = %used,
                "the runtime fell behind: timers fired late"
            );
        }
        cpu_before = cpu;
        expected = woke + TICK;
    }
}

/// The CPU time (user and system) this process has used, from `/proc/self/stat`.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu(&stat)
}

/// Fields 14 and 15 (utime, stime) in clock ticks; the command name before them (in
/// parentheses) may hold spaces, so counting starts after its closing parenthesis.
fn parse_cpu(stat: &str) -> Option<Duration> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    let ticks = user + system;
    Some(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// The unit of `/proc`'s CPU times: fixed at 100 by Linux's user-space ABI, whatever the kernel's
/// own tick rate.
const USER_HZ: u64 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time_after_a_command_name_with_spaces() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        let stat = "42 (chatd (api) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 4";
        assert_eq!(parse_cpu(stat), Some(Duration::from_millis(3800)));
    }
}
