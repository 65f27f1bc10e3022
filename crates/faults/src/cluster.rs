//! The suite's own PostgreSQL, Redis and NATS, on spare loopback ports with their data under the
//! run's folder, so a fault injected here never touches the machine's shared servers.
//!
//! Each server can be crashed and started again: PostgreSQL with `pg_ctl -m immediate` (no
//! shutdown checkpoint, recovery from the WAL at the next start, as after a power cut of the
//! process), Redis and NATS with SIGKILL. Redis runs without persistence, so it comes back empty,
//! the harshest case for sessions and presence; NATS keeps JetStream on disk.

use crate::process::{kill, wait_for_port};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use testkit::free_port;
use tokio::process::{Child, Command};

const START_WITHIN: Duration = Duration::from_secs(60);

/// A private PostgreSQL cluster (initdb under the run's folder).
pub struct Postgres {
    bindir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    pub port: u16,
    /// Postgres refuses to run as root: the cluster then belongs to the `postgres` user.
    as_postgres: bool,
}

impl Postgres {
    /// Creates the cluster and starts it.
    pub async fn create(folder: &Path) -> anyhow::Result<Self> {
        let bindir = pg_bindir()?;
        let root = folder.join("postgres");
        std::fs::create_dir_all(&root)?;
        // SAFETY: geteuid only reads the process's credentials.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        if as_postgres {
            chown_to_postgres(&root)?;
        }
        let postgres = Self {
            data: root.join("data"),
            log: root.join("postgres.log"),
            bindir,
            port: free_port()?,
            as_postgres,
        };
        let data = postgres.data.display().to_string();
        postgres
            .run(
                "initdb",
                &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync"],
            )
            .await?;
        postgres.start().await?;
        Ok(postgres)
    }

    /// `postgres://` URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub async fn start(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200",
            self.port
        );
        let (data, log) = (
            self.data.display().to_string(),
            self.log.display().to_string(),
        );
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start",
            ],
        )
        .await?;
        wait_for_port(self.port, START_WITHIN).await
    }

    /// Stops the server without a shutdown checkpoint: every backend is killed and the next start
    /// recovers from the WAL.
    pub async fn crash(&self) -> anyhow::Result<()> {
        let data = self.data.display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .await
    }

    /// Stops the server for good (a fast shutdown; ignores a server already down).
    pub async fn stop(&self) {
        let data = self.data.display().to_string();
        let _ = self
            .run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])
            .await;
    }

    /// Runs one of the cluster's programs, as `postgres` when this process is root.
    async fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let path = self.bindir.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
            .await?;
        anyhow::ensure!(
            output.status.success(),
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }
}

/// The newest installed PostgreSQL's programs (Debian keeps them under /usr/lib/postgresql).
fn pg_bindir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow::anyhow!("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
    })
}

fn chown_to_postgres(path: &Path) -> anyhow::Result<()> {
    let name = c"postgres";
    // SAFETY: getpwnam reads the password database; the record is copied out at once.
    let record = unsafe { libc::getpwnam(name.as_ptr()) };
    anyhow::ensure!(!record.is_null(), "no `postgres` user to run PostgreSQL as");
    // SAFETY: checked non-null just above.
    let (uid, gid) = unsafe { ((*record).pw_uid, (*record).pw_gid) };
    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    Ok(())
}

/// A server run as a child of this process (Redis, nats-server), killed and started again on the
/// same port.
pub struct Server {
    program: &'static str,
    args: Vec<String>,
    log: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Server {
    /// A private Redis without persistence: a restart brings it back empty.
    pub async fn redis(folder: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let dir = folder.join("redis");
        std::fs::create_dir_all(&dir)?;
        let args = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir.display().to_string(),
        ]
        .map(str::to_owned)
        .to_vec();
        Self::start_new("redis-server", args, folder.join("redis.log"), port).await
    }

    /// A private nats-server with JetStream on disk.
    pub async fn nats(folder: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let dir = folder.join("nats");
        std::fs::create_dir_all(&dir)?;
        let args = [
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-js",
            "-sd",
            &dir.display().to_string(),
        ]
        .map(str::to_owned)
        .to_vec();
        Self::start_new("nats-server", args, folder.join("nats.log"), port).await
    }

    async fn start_new(
        program: &'static str,
        args: Vec<String>,
        log: PathBuf,
        port: u16,
    ) -> anyhow::Result<Self> {
        let mut server = Self {
            program,
            args,
            log,
            port,
            child: None,
        };
        server.start().await?;
        Ok(server)
    }

    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("{}: {e} (is it installed?)", self.program))?;
        self.child = Some(child);
        wait_for_port(self.port, START_WITHIN).await
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                kill(pid, libc::SIGKILL);
            }
            let _ = child.wait().await;
        }
    }
}
