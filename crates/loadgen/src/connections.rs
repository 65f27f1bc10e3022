//! `--connections C`: the server's memory per idle WebSocket. Opens C authenticated sockets,
//! spread over a few users (a user may have any number of sockets), and reads chatd's resident
//! memory before, while they are open, and after they are closed.
//!
//! One process may hold only as many sockets as `ulimit -n` allows, on either side. With
//! `--gateways G` the sockets are spread over G chatd processes, and each share is held by a
//! child loadgen (`--hold`), so the service can be measured past that limit.

use crate::api;
use crate::procs::{self, Sampler, Watched};
use crate::report::ConnectionsReport;
use crate::sockets;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

/// Sockets being opened at once.
const OPENING_IN_FLIGHT: usize = 32;
/// Time for the server's memory to settle before it is read.
const SETTLE: Duration = Duration::from_secs(2);
/// File descriptors this tool needs besides the sockets.
const SPARE_FILES: u64 = 256;

/// Sockets opened at one base, held by tasks that end when the server closes their socket.
struct Opened {
    held: Vec<JoinHandle<Option<u16>>>,
    failures: BTreeMap<String, u64>,
    users: usize,
}

/// What a holding child reports once its sockets are open.
#[derive(Serialize, Deserialize)]
struct HoldOpened {
    opened: usize,
    failures: BTreeMap<String, u64>,
    users: usize,
}

/// What a holding child reports when told to let go.
#[derive(Serialize, Deserialize)]
struct HoldClosed {
    closed_by_server: u64,
}

pub async fn run(
    bases: &[String],
    watched: &[Watched],
    users: usize,
    asked: usize,
) -> anyhow::Result<ConnectionsReport> {
    match bases {
        [] => anyhow::bail!("no process serves sockets"),
        [base] => in_this_process(base, watched, users, asked).await,
        _ => in_children(bases, watched, users, asked).await,
    }
}

fn ensure_files_for(sockets: usize) -> anyhow::Result<()> {
    let limit = procs::raise_open_files_limit();
    anyhow::ensure!(
        limit == 0 || limit >= sockets as u64 + SPARE_FILES,
        "{sockets} sockets need more open files than `ulimit -n` allows ({limit}); raise it first, or spread them with --gateways"
    );
    Ok(())
}

async fn open(base: &str, users: usize, asked: usize) -> anyhow::Result<Opened> {
    let http = api::client(4)?;
    eprintln!("loadgen: signing up {users} users");
    let sessions = crate::users::sign_up(&http, base, users).await?;
    let ws_base = base.replacen("http://", "ws://", 1);
    eprintln!("loadgen: opening {asked} idle sockets at {base}");
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut held = Vec::with_capacity(asked);
    let mut opening = futures_util::stream::iter(0..asked)
        .map(|n| {
            let token = &sessions[n % sessions.len()].token;
            sockets::open(&ws_base, token, None)
        })
        .buffer_unordered(OPENING_IN_FLIGHT);
    while let Some(opened) = opening.next().await {
        match opened {
            Ok((ws, _)) => held.push(sockets::spawn_idle(ws)),
            Err(error) => {
                let kind: String = error.to_string().chars().take(80).collect();
                *failures.entry(kind).or_default() += 1;
            }
        }
    }
    Ok(Opened {
        held,
        failures,
        users: sessions.len(),
    })
}

/// Closes the sockets; how many the server had closed while they were held.
fn let_go(held: Vec<JoinHandle<Option<u16>>>) -> u64 {
    let closed_by_server = held.iter().filter(|task| task.is_finished()).count() as u64;
    for task in held {
        task.abort();
    }
    closed_by_server
}

fn rss(watched: &[Watched]) -> u64 {
    watched.iter().filter_map(|w| procs::rss_kib(w.pid)).sum()
}

async fn in_this_process(
    base: &str,
    watched: &[Watched],
    users: usize,
    asked: usize,
) -> anyhow::Result<ConnectionsReport> {
    ensure_files_for(asked)?;
    tokio::time::sleep(SETTLE).await;
    let rss_before_kib = rss(watched);
    let sampler = Sampler::start(watched);
    let started = Instant::now();
    let Opened {
        held,
        failures,
        users,
    } = open(base, users, asked).await?;
    let open_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let rss_open_kib = rss(watched);
    let usage = sampler.finish();
    let opened = held.len();
    let closed_by_server = let_go(held);
    tokio::time::sleep(SETTLE).await;
    Ok(ConnectionsReport {
        asked,
        opened,
        failures,
        users,
        open_seconds,
        rss_before_kib,
        rss_open_kib,
        rss_after_close_kib: rss(watched),
        kib_per_socket: per_socket(rss_before_kib, rss_open_kib, opened),
        closed_by_server,
        usage,
    })
}

/// `--hold`: opens `asked` sockets at `base`, reports them on stdout, holds them until stdin
/// closes (the parent is done measuring), then reports how many the server closed meanwhile.
pub async fn hold(base: &str, users: usize, asked: usize) -> anyhow::Result<()> {
    ensure_files_for(asked)?;
    let Opened {
        held,
        failures,
        users,
    } = open(base, users, asked).await?;
    println!(
        "{}",
        serde_json::to_string(&HoldOpened {
            opened: held.len(),
            failures,
            users,
        })?
    );
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
    })
    .await??;
    let closed_by_server = let_go(held);
    println!(
        "{}",
        serde_json::to_string(&HoldClosed { closed_by_server })?
    );
    Ok(())
}

/// A child loadgen holding one base's share of the sockets.
struct Holder {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Holder {
    fn spawn(base: &str, users: usize, sockets: usize) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--url", base, "--hold"])
            .args(["--connections", &sockets.to_string()])
            .args(["--users", &users.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("a holding loadgen has no stdout"))?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    async fn next<T: serde::de::DeserializeOwned>(&mut self) -> anyhow::Result<T> {
        let line = self.lines.next_line().await?.ok_or_else(|| {
            anyhow::anyhow!("a holding loadgen ended early (see its messages above)")
        })?;
        Ok(serde_json::from_str(&line)?)
    }
}

async fn in_children(
    bases: &[String],
    watched: &[Watched],
    users: usize,
    asked: usize,
) -> anyhow::Result<ConnectionsReport> {
    tokio::time::sleep(SETTLE).await;
    let rss_before_kib = rss(watched);
    let sampler = Sampler::start(watched);
    let started = Instant::now();
    let shares =
        (0..bases.len()).map(|i| asked / bases.len() + usize::from(i < asked % bases.len()));
    let mut holders = bases
        .iter()
        .zip(shares)
        .map(|(base, share)| Holder::spawn(base, users, share))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opened: Vec<HoldOpened> =
        futures_util::future::try_join_all(holders.iter_mut().map(|h| h.next::<HoldOpened>()))
            .await?;
    let open_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let rss_open_kib = rss(watched);
    let usage = sampler.finish();
    for holder in &mut holders {
        // Closing its stdin tells the child to let go.
        drop(holder.child.stdin.take());
    }
    let closed: Vec<HoldClosed> =
        futures_util::future::try_join_all(holders.iter_mut().map(|h| h.next::<HoldClosed>()))
            .await?;
    for holder in &mut holders {
        holder.child.wait().await?;
    }
    tokio::time::sleep(SETTLE).await;
    let mut failures = BTreeMap::new();
    for share in &opened {
        for (kind, n) in &share.failures {
            *failures.entry(kind.clone()).or_default() += n;
        }
    }
    let sockets = opened.iter().map(|o| o.opened).sum();
    Ok(ConnectionsReport {
        asked,
        opened: sockets,
        failures,
        users: opened.iter().map(|o| o.users).sum(),
        open_seconds,
        rss_before_kib,
        rss_open_kib,
        rss_after_close_kib: rss(watched),
        kib_per_socket: per_socket(rss_before_kib, rss_open_kib, sockets),
        closed_by_server: closed.iter().map(|c| c.closed_by_server).sum(),
        usage,
    })
}

/// Resident memory the open sockets added, per socket.
fn per_socket(rss_before_kib: u64, rss_open_kib: u64, opened: usize) -> f64 {
    rss_open_kib.saturating_sub(rss_before_kib) as f64 / opened.max(1) as f64
}
