//! CPU and memory of processes, read from `/proc`: the chatd processes under load, this load
//! generator itself (it shares the cores with the server), and the machine as a whole.
//!
//! CPU is the difference of `utime + stime` (`/proc/<pid>/stat`) between the start and end of a
//! run, so it is an exact average; resident memory (`VmRSS` in `/proc/<pid>/status`) is sampled
//! a few times a second for its maximum.

use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// Clock ticks per second of `/proc` CPU times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// User plus system CPU time of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count fields after its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// Resident memory of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The machine's busy and total CPU ticks over all cores (`/proc/stat`).
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// Raises this process's soft limit of open files to its hard limit (children inherit it, so
/// a chatd started here can hold as many sockets); the soft limit in force afterwards.
pub fn raise_open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A process being watched.
#[derive(Debug, Clone, Serialize)]
pub struct Watched {
    pub role: String,
    pub pid: u32,
}

/// One process's use of the machine over a run.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    pub role: String,
    pub pid: u32,
    /// Average over the run, in percent of one core.
    pub cpu_percent: f64,
    pub rss_max_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub seconds: f64,
    pub processes: Vec<ProcessUsage>,
    /// This load generator, in percent of one core.
    pub loadgen_cpu_percent: f64,
    /// Everything on the machine (chatd, PostgreSQL, Redis, NATS, this tool), in percent of one
    /// core: `cores * 100` is all of it.
    pub machine_cpu_percent: f64,
    pub cores: usize,
}

impl Usage {
    pub fn server_cpu_percent(&self) -> f64 {
        self.processes.iter().map(|p| p.cpu_percent).sum()
    }

    pub fn server_rss_max_mib(&self) -> f64 {
        self.processes.iter().map(|p| p.rss_max_mib).sum()
    }
}

struct Start {
    at: Instant,
    ticks: Vec<Option<u64>>,
    own: Option<u64>,
    machine: Option<(u64, u64)>,
}

/// Watches processes from [`Sampler::start`] to [`Sampler::finish`].
pub struct Sampler {
    watched: Vec<Watched>,
    start: Start,
    rss_max: Arc<Mutex<Vec<u64>>>,
    task: JoinHandle<()>,
}

impl Sampler {
    pub fn start(watched: &[Watched]) -> Self {
        let pids: Vec<u32> = watched.iter().map(|w| w.pid).collect();
        let rss_max = Arc::new(Mutex::new(vec![0; pids.len()]));
        let start = Start {
            at: Instant::now(),
            ticks: pids.iter().map(|&pid| cpu_ticks(pid)).collect(),
            own: cpu_ticks(std::process::id()),
            machine: machine_ticks(),
        };
        let maxima = rss_max.clone();
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(SAMPLE_EVERY);
            loop {
                every.tick().await;
                let sampled: Vec<u64> = pids.iter().map(|&pid| rss_kib(pid).unwrap_or(0)).collect();
                if let Ok(mut maxima) = maxima.lock() {
                    for (max, now) in maxima.iter_mut().zip(sampled) {
                        *max = (*max).max(now);
                    }
                }
            }
        });
        Self {
            watched: watched.to_vec(),
            start,
            rss_max,
            task,
        }
    }

    pub fn finish(self) -> Usage {
        self.task.abort();
        let seconds = self.start.at.elapsed().as_secs_f64().max(1e-3);
        let per_second = ticks_per_second();
        let percent = |from: Option<u64>, to: Option<u64>| match (from, to) {
            (Some(from), Some(to)) => to.saturating_sub(from) as f64 / per_second / seconds * 100.0,
            _ => 0.0,
        };
        let maxima = self.rss_max.lock().map(|m| m.clone()).unwrap_or_default();
        let processes = self
            .watched
            .iter()
            .zip(&self.start.ticks)
            .enumerate()
            .map(|(i, (watched, &from))| {
                let last = rss_kib(watched.pid).unwrap_or(0);
                let max = maxima.get(i).copied().unwrap_or(0).max(last);
                ProcessUsage {
                    role: watched.role.clone(),
                    pid: watched.pid,
                    cpu_percent: percent(from, cpu_ticks(watched.pid)),
                    rss_max_mib: max as f64 / 1024.0,
                }
            })
            .collect();
        let machine = match (self.start.machine, machine_ticks()) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
                (busy1 - busy0.min(busy1)) as f64 / (total1 - total0) as f64
                    * 100.0
                    * cores() as f64
            }
            _ => 0.0,
        };
        Usage {
            seconds,
            processes,
            loadgen_cpu_percent: percent(self.start.own, cpu_ticks(std::process::id())),
            machine_cpu_percent: machine,
            cores: cores(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_measured() {
        let me = std::process::id();
        assert!(rss_kib(me).is_some_and(|kib| kib > 0));
        assert!(cpu_ticks(me).is_some());
        let (busy, total) = machine_ticks().expect("/proc/stat");
        assert!(busy <= total && total > 0);
    }

    #[tokio::test]
    async fn a_sampler_reports_each_watched_process() {
        let watched = [Watched {
            role: "self".into(),
            pid: std::process::id(),
        }];
        let sampler = Sampler::start(&watched);
        tokio::time::sleep(Duration::from_millis(250)).await;
        let usage = sampler.finish();
        assert_eq!(usage.processes.len(), 1);
        assert!(usage.processes[0].rss_max_mib > 0.0);
        assert!(usage.seconds >= 0.25);
    }
}
