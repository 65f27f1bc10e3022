//! chatd's roles as supervised processes, and the small process helpers the cluster shares.
//!
//! Each role runs under a supervisor that starts it again a moment after it exits, whatever the
//! reason, as a container runtime's restart policy would: the faults kill or freeze the current
//! process by pid, and a role that exits by itself (e.g. it could not reach Postgres at start)
//! comes back the same way.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Command;
use tokio::sync::watch;

/// How long a supervisor waits before starting an exited role again.
const RESTART_DELAY: Duration = Duration::from_millis(500);
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// Sends `signal` to `pid` (0 means no process and is ignored).
pub fn kill(pid: u32, signal: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        if pid > 0 {
            // SAFETY: kill only sends a signal; the pids are of our own children.
            unsafe { libc::kill(pid, signal) };
        }
    }
}

/// Waits until something accepts connections on `port`.
pub async fn wait_for_port(port: u16, within: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        anyhow::ensure!(
            started.elapsed() < within,
            "nothing listens on port {port} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// One chatd role, kept running by its supervisor.
pub struct Role {
    pub name: String,
    /// Where its HTTP server (API, or only `/readyz` for other roles) listens.
    pub port: u16,
    /// The running process, 0 between a death and the next start.
    pid: AtomicU32,
    /// Starts after the first.
    pub restarts: AtomicU32,
}

impl Role {
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Acquire)
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The supervised roles; dropping this stops them.
pub struct Roles {
    pub all: Vec<Arc<Role>>,
    stop: watch::Sender<bool>,
    supervisors: Vec<tokio::task::JoinHandle<()>>,
}

impl Roles {
    /// Starts `chatd serve <role>` for each `(name, role)`, with `env`, logging under `folder`;
    /// each is ready (its `/readyz` answered 200) before the next starts, the first one running
    /// the migrations.
    pub async fn start(
        chatd: &Path,
        roles: &[(&str, &str)],
        env: &[(String, String)],
        folder: &Path,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(chatd.is_file(), "no chatd at {}", chatd.display());
        let (stop, stopped) = watch::channel(false);
        let mut started = Self {
            all: Vec::new(),
            stop,
            supervisors: Vec::new(),
        };
        for (name, role) in roles {
            let handle = Arc::new(Role {
                name: (*name).to_owned(),
                port: testkit::free_port()?,
                pid: AtomicU32::new(0),
                restarts: AtomicU32::new(0),
            });
            let launch = Launch {
                chatd: chatd.to_owned(),
                role: (*role).to_owned(),
                env: env.to_vec(),
                log: folder.join(format!("chatd-{name}.log")),
            };
            started.supervisors.push(tokio::spawn(supervise(
                launch,
                handle.clone(),
                stopped.clone(),
            )));
            wait_ready(&handle, Duration::from_secs(90)).await?;
            started.all.push(handle);
        }
        Ok(started)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Role>> {
        self.all.iter().find(|role| role.name == name)
    }

    /// Waits until every role answers `/readyz` with 200.
    pub async fn all_ready(&self, within: Duration) -> anyhow::Result<()> {
        for role in &self.all {
            wait_ready(role, within).await?;
        }
        Ok(())
    }

    /// Stops every role (SIGTERM, SIGKILL after a grace) and its supervisor.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for supervisor in self.supervisors {
            let _ = supervisor.await;
        }
    }
}

struct Launch {
    chatd: PathBuf,
    role: String,
    env: Vec<(String, String)>,
    log: PathBuf,
}

async fn supervise(launch: Launch, role: Arc<Role>, mut stopped: watch::Receiver<bool>) {
    let mut first = true;
    while !*stopped.borrow() {
        if !first {
            role.restarts.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        let Ok(mut child) = spawn(&launch, role.port) else {
            tokio::time::sleep(RESTART_DELAY).await;
            continue;
        };
        role.pid.store(child.id().unwrap_or(0), Ordering::Release);
        tokio::select! {
            _ = child.wait() => {}
            _ = stopped.changed() => {
                let pid = role.pid();
                // A frozen process ignores SIGTERM until it runs again.
                kill(pid, libc::SIGCONT);
                kill(pid, libc::SIGTERM);
                if tokio::time::timeout(STOP_WITHIN, child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
            }
        }
        role.pid.store(0, Ordering::Release);
        if *stopped.borrow() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(RESTART_DELAY) => {}
            _ = stopped.changed() => {}
        }
    }
}

fn spawn(launch: &Launch, port: u16) -> anyhow::Result<tokio::process::Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&launch.log)?;
    Ok(Command::new(&launch.chatd)
        .args(["serve", &launch.role])
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("BIND", format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()?)
}

async fn wait_ready(role: &Role, within: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let ready = http
            .get(format!("{}/readyz", role.base()))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < within,
            "chatd {} not ready within {within:?}",
            role.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
