//! The service under load: chatd started here as its own process(es), with a throwaway database,
//! Redis key prefix and NATS stream (as `crates/bench` does), or a running one given by URL.
//!
//! Started processes write their logs to files beside the result file; after the run their
//! warnings and errors are counted and a few are quoted in the report.

use crate::procs::Watched;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

const READY_WITHIN: Duration = Duration::from_secs(60);
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// A chatd process started here.
struct Process {
    role: String,
    child: Child,
    pid: u32,
    log: PathBuf,
}

/// What the log of a started process held.
#[derive(Debug, Clone, Serialize)]
pub struct LogSummary {
    pub role: String,
    pub file: String,
    pub lines: usize,
    pub warnings: usize,
    pub errors: usize,
    /// The first few warning or error lines, shortened.
    pub samples: Vec<String>,
}

pub struct Service {
    /// `http://host:port` of the API.
    pub base: String,
    /// Every process serving the API and sockets (`base` first); more than one with `--gateways`.
    pub bases: Vec<String>,
    /// Processes whose CPU and memory are watched.
    pub watched: Vec<Watched>,
    /// `Some` when chatd was started here.
    pub chatd: Option<PathBuf>,
    processes: Vec<Process>,
    /// The throwaway database; dropping it drops the database.
    database: Option<testkit::TestDb>,
    /// The throwaway JetStream stream, deleted at the end.
    stream: Option<String>,
}

impl Service {
    /// A running service at `url`; `pids` are watched.
    pub fn attach(url: &str, pids: &[u32]) -> Self {
        Self {
            base: url.to_owned(),
            watched: pids
                .iter()
                .map(|&pid| Watched {
                    role: "given".to_owned(),
                    pid,
                })
                .collect(),
            bases: vec![url.to_owned()],
            chatd: None,
            processes: Vec::new(),
            database: None,
            stream: None,
        }
    }

    /// Starts `chatd`: every role in one process, or (`split_roles`) api, publisher, projector
    /// and notifier each in its own; plus `gateways - 1` more api processes. Logs go to
    /// `<log_stem>.chatd-<role>.log`.
    pub async fn start(
        chatd: &Path,
        split_roles: bool,
        gateways: usize,
        log_stem: &Path,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            chatd.is_file(),
            "no chatd at {} (build it with `cargo build --release -p server`, or set CHATD)",
            chatd.display()
        );
        let database = testkit::TestDb::create().await?;
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let stream = format!("L{unique}");
        let mut service = Self {
            base: String::new(),
            bases: Vec::new(),
            watched: Vec::new(),
            chatd: Some(chatd.to_owned()),
            processes: Vec::new(),
            database: None,
            stream: Some(stream.clone()),
        };
        let vars = [
            ("DATABASE_URL", database.url.clone()),
            ("METRICS_BIND", "off".to_owned()),
            ("REDIS_KEY_PREFIX", format!("loadgen:{unique}:")),
            ("NATS_STREAM", stream),
            ("NATS_SUBJECT_PREFIX", format!("l{unique}")),
            ("LOGIN_FAILURES_PER_ADDRESS", "1000000".to_owned()),
            // A load test sends far faster than any person: measured without rate limits.
            ("RATE_LIMITS", "off".to_owned()),
            // Its sessions' keys expire soon after the run.
            ("SESSION_IDLE_TIMEOUT_SECS", "3600".to_owned()),
            ("SHUTDOWN_GRACE_SECS", "2".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
            ("NO_COLOR", "1".to_owned()),
        ];
        service.database = Some(database);
        let mut roles: Vec<&str> = if split_roles {
            vec!["api", "publisher", "projector", "notifier"]
        } else {
            vec!["all"]
        };
        let first_extra = roles.len();
        roles.extend(std::iter::repeat_n("api", gateways.saturating_sub(1)));
        if let Some(parent) = log_stem.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // The API first: its start applies the migrations the others would race for.
        for (n, role) in roles.iter().enumerate() {
            // The extra gateways are api-2, api-3, ...
            let name = if n < first_extra {
                role.to_string()
            } else {
                format!("api-{}", n - first_extra + 2)
            };
            let port = testkit::free_port()?;
            let log = PathBuf::from(format!("{}.chatd-{name}.log", log_stem.display()));
            let file = std::fs::File::create(&log)?;
            let child = Command::new(chatd)
                .args(["serve", role])
                .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
                .env("BIND", format!("127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::from(file.try_clone()?))
                .stderr(Stdio::from(file))
                .kill_on_drop(true)
                .spawn()?;
            let pid = child
                .id()
                .ok_or_else(|| anyhow::anyhow!("chatd {role} exited at once"))?;
            let base = format!("http://127.0.0.1:{port}");
            service.processes.push(Process {
                role: name.clone(),
                child,
                pid,
                log,
            });
            service.watched.push(Watched { role: name, pid });
            service.wait_ready(&base).await?;
            if matches!(*role, "all" | "api") {
                if service.bases.is_empty() {
                    service.base = base.clone();
                }
                service.bases.push(base);
            }
        }
        Ok(service)
    }

    /// Waits for `/readyz` of the process started last.
    async fn wait_ready(&mut self, base: &str) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let started = std::time::Instant::now();
        loop {
            let ready = http
                .get(format!("{base}/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return Ok(());
            }
            if let Some(process) = self.processes.last_mut() {
                if let Some(status) = process.child.try_wait()? {
                    anyhow::bail!(
                        "chatd {} exited ({status}); see {}",
                        process.role,
                        process.log.display()
                    );
                }
            }
            anyhow::ensure!(
                started.elapsed() < READY_WITHIN,
                "chatd at {base} not ready within {READY_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops what was started here (SIGTERM, then SIGKILL), removes the throwaway storage, and
    /// sums up the logs.
    pub async fn stop(mut self) -> Vec<LogSummary> {
        for process in &self.processes {
            if let Ok(pid) = i32::try_from(process.pid) {
                // SAFETY: signals a child of ours that has not been waited for, so the pid is
                // still ours.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        for process in &mut self.processes {
            if tokio::time::timeout(STOP_WITHIN, process.child.wait())
                .await
                .is_err()
            {
                let _ = process.child.kill().await;
            }
        }
        let summaries = self
            .processes
            .iter()
            .map(|p| summarize_log(&p.role, &p.log))
            .collect();
        if let Some(stream) = self.stream.take() {
            testkit::delete_stream(&stream);
        }
        self.database.take();
        summaries
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.child.start_kill();
        }
        if let Some(stream) = self.stream.take() {
            testkit::delete_stream(&stream);
        }
    }
}

fn summarize_log(role: &str, path: &Path) -> LogSummary {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut summary = LogSummary {
        role: role.to_owned(),
        file: path.display().to_string(),
        lines: 0,
        warnings: 0,
        errors: 0,
        samples: Vec::new(),
    };
    for line in text.lines().map(without_colors) {
        summary.lines += 1;
        let (warning, error) = (line.contains(" WARN "), line.contains(" ERROR "));
        summary.warnings += usize::from(warning);
        summary.errors += usize::from(error);
        if (warning || error) && summary.samples.len() < 5 {
            summary.samples.push(line.chars().take(240).collect());
        }
    }
    summary
}

/// `line` without ANSI colour sequences (`ESC [ ... m`).
fn without_colors(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_counted_by_level_without_colours() {
        let dir = std::env::temp_dir().join(format!("loadgen-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("chatd.log");
        std::fs::write(
            &path,
            "2026-01-01T00:00:00Z \u{1b}[33m WARN\u{1b}[0m gateway: slow\n\
             2026-01-01T00:00:01Z ERROR app: boom\n\
             2026-01-01T00:00:02Z  INFO server: fine\n",
        )
        .expect("write");
        let summary = summarize_log("all", &path);
        assert_eq!((summary.lines, summary.warnings, summary.errors), (3, 1, 1));
        assert_eq!(
            summary.samples[0],
            "2026-01-01T00:00:00Z  WARN gateway: slow"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
