//! `loadgen`: a load generator for chatd. It registers users, pairs them up, opens their
//! WebSockets and has them send to each other over REST or the WebSocket `send` frame, paced on
//! a fixed schedule or in a closed loop; it times every message from send to its arrival on the
//! recipient's socket, counts errors, lost and duplicated messages, and watches the server's CPU
//! and memory. See `loadgen --help` and `scripts/bench`.
//!
//! The binary is a thin `main`; [`run`] is what tests call, against a service served in-process.

pub mod api;
pub mod cli;
pub mod connections;
pub mod ledger;
pub mod pacing;
pub mod procs;
pub mod report;
pub mod runs;
pub mod senders;
pub mod service;
pub mod sockets;
pub mod state;
pub mod users;

use cli::{Mode, Options, Target};
use pacing::Pacing;
use report::{Report, TargetReport};
use runs::{Bench, Setup};
use service::Service;
use std::path::PathBuf;

/// Runs what `options` ask for, start to end (including starting and stopping chatd when asked).
/// `args` are recorded in the report as given.
pub async fn run(options: &Options, args: Vec<String>) -> anyhow::Result<Report> {
    let started_at = report::now_utc();
    let out = options.out.clone().unwrap_or_else(|| {
        let stamp = started_at.replace(':', "-");
        PathBuf::from(format!("target/loadgen/{stamp}-{}.json", options.label))
    });
    let service = match &options.target {
        Target::Start {
            chatd,
            split_roles,
            gateways,
        } => {
            eprintln!("loadgen: starting {}", chatd.display());
            Service::start(chatd, *split_roles, *gateways, &out.with_extension("")).await?
        }
        Target::Url { url, pids } => Service::attach(url, pids),
    };
    let mut report = Report {
        started_at,
        label: options.label.clone(),
        args,
        out,
        target: TargetReport {
            url: service.base.clone(),
            chatd: service.chatd.as_ref().map(|p| p.display().to_string()),
            processes: service.watched.clone(),
        },
        cores: procs::cores(),
        users: options.users,
        pairs: 0,
        one_conversation: options.one_conversation,
        group_members: options.group_members,
        body_bytes: options.body_bytes,
        grace_seconds: options.grace.as_secs_f64(),
        runs: Vec::new(),
        find_max: Vec::new(),
        connections: None,
        server_logs: Vec::new(),
        clean: false,
    };
    let outcome = drive(options, &service, &mut report).await;
    report.server_logs = service.stop().await;
    outcome?;
    report.clean = clean(&report);
    Ok(report)
}

async fn drive(options: &Options, service: &Service, report: &mut Report) -> anyhow::Result<()> {
    let lanes = match options.mode {
        Mode::Connections { sockets } => {
            report.connections = Some(
                connections::run(&service.bases, &service.watched, options.users, sockets).await?,
            );
            return Ok(());
        }
        Mode::Paced { senders, .. } | Mode::FindMax { senders, .. } => senders,
        Mode::Closed { concurrency } => concurrency,
    };
    let bench = Bench::prepare(Setup {
        base: &service.base,
        watched: &service.watched,
        users: options.users,
        lanes,
        one_conversation: options.one_conversation,
        group: options.group_members.is_some(),
        body_bytes: options.body_bytes,
        grace: options.grace,
    })
    .await?;
    report.pairs = bench.pairs.len();
    let shape = match (options.one_conversation, lanes.min(bench.pairs.len())) {
        _ if options.group_members.is_some() => format!("group {}", bench.users.len()),
        (true, _) | (false, 1) => "1 conv".to_owned(),
        (false, n) => format!("{n} convs"),
    };
    for &via in &options.vias {
        let v = via.as_str();
        match options.mode {
            Mode::Paced { rate, senders } => {
                let name = format!("{v} {rate:.0}/s {senders} snd {shape}");
                let pacing = Pacing::Paced {
                    rate,
                    lanes: senders,
                };
                let run = bench.run(name, via, pacing, options.duration).await;
                report.runs.push(run);
            }
            Mode::Closed { concurrency } => {
                let name = format!("{v} closed {concurrency} snd {shape}");
                let pacing = Pacing::Closed { lanes: concurrency };
                let run = bench.run(name, via, pacing, options.duration).await;
                report.runs.push(run);
            }
            Mode::FindMax { steps, .. } => {
                let found = bench.find_max(via, steps, &shape, &mut report.runs).await;
                report.find_max.push(found);
            }
            Mode::Connections { .. } => {}
        }
    }
    bench.close().await;
    Ok(())
}

/// Nothing lost, duplicated or unplaceable anywhere, and no errors except in the `--find-max`
/// step that failed (overload errors are how a step fails).
fn clean(report: &Report) -> bool {
    let failed_steps: Vec<&str> = report
        .find_max
        .iter()
        .filter(|f| f.failed_rate.is_some())
        .filter_map(|f| report.runs.iter().rev().find(|run| run.via == f.via))
        .map(|run| run.name.as_str())
        .collect();
    let runs_clean = report.runs.iter().all(|run| {
        let errors_allowed = failed_steps.contains(&run.name.as_str());
        run.lost == 0
            && run.duplicates == 0
            && run.unknown == 0
            && (errors_allowed || run.error_count == 0)
    });
    let connections_clean = report
        .connections
        .as_ref()
        .is_none_or(|c| c.opened == c.asked && c.closed_by_server == 0);
    runs_clean && connections_clean
}
