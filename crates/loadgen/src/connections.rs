//! `--connections C`: the server's memory per idle WebSocket. Opens C authenticated sockets,
//! spread over a few users (a user may have any number of sockets), and reads chatd's resident
//! memory before, while they are open, and after they are closed.

use crate::api;
use crate::procs::{self, Sampler, Watched};
use crate::report::ConnectionsReport;
use crate::sockets;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Sockets being opened at once.
const OPENING_IN_FLIGHT: usize = 32;
/// Time for the server's memory to settle before it is read.
const SETTLE: Duration = Duration::from_secs(2);
/// File descriptors this tool needs besides the sockets.
const SPARE_FILES: u64 = 256;

pub async fn run(
    base: &str,
    watched: &[Watched],
    users: usize,
    asked: usize,
) -> anyhow::Result<ConnectionsReport> {
    let limit = procs::raise_open_files_limit();
    anyhow::ensure!(
        limit == 0 || limit >= asked as u64 + SPARE_FILES,
        "{asked} sockets need more open files than `ulimit -n` allows ({limit}); raise it first"
    );
    let http = api::client(4)?;
    eprintln!("loadgen: signing up {users} users");
    let sessions = crate::users::sign_up(&http, base, users).await?;
    let ws_base = base.replacen("http://", "ws://", 1);
    let rss = || -> u64 { watched.iter().filter_map(|w| procs::rss_kib(w.pid)).sum() };
    tokio::time::sleep(SETTLE).await;
    let rss_before_kib = rss();
    eprintln!("loadgen: opening {asked} idle sockets");
    let sampler = Sampler::start(watched);
    let started = Instant::now();
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
    let open_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let rss_open_kib = rss();
    let usage = sampler.finish();
    let closed_by_server = held.iter().filter(|task| task.is_finished()).count() as u64;
    let opened = held.len();
    for task in held {
        task.abort();
    }
    tokio::time::sleep(SETTLE).await;
    let rss_after_close_kib = rss();
    Ok(ConnectionsReport {
        asked,
        opened,
        failures,
        users: sessions.len(),
        open_seconds,
        rss_before_kib,
        rss_open_kib,
        rss_after_close_kib,
        kib_per_socket: rss_open_kib.saturating_sub(rss_before_kib) as f64 / opened.max(1) as f64,
        closed_by_server,
        usage,
    })
}
