//! The command line of `faults`.

use crate::nemesis::{Kind, Schedule};
use crate::Options;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Runs chatd split per role on a private PostgreSQL, Redis and NATS, injects faults while people
/// send and receive, and checks that nothing acknowledged was lost or doubled.
#[derive(Debug, Parser)]
#[command(name = "faults")]
pub struct Cli {
    /// The chatd binary (build it with `cargo build --release -p server`).
    #[arg(long, default_value = "target/release/chatd")]
    pub chatd: PathBuf,
    /// Seconds of faults.
    #[arg(long, default_value_t = 600)]
    pub duration: u64,
    /// Pairs of online people writing to each other (two devices each).
    #[arg(long, default_value_t = 4)]
    pub pairs: usize,
    /// People writing to someone offline who is notified on Telegram.
    #[arg(long, default_value_t = 2)]
    pub offline_pairs: usize,
    /// Milliseconds between two messages of one sender.
    #[arg(long, default_value_t = 50)]
    pub every_ms: u64,
    /// Milliseconds between faults, at least and at most.
    #[arg(long, num_args = 2, default_values_t = [500, 1500])]
    pub gap_ms: Vec<u64>,
    /// The kinds of fault, in the order of the first ones (then drawn at random among them),
    /// e.g. `--kinds restart-nats,pause` to replay a sequence that found something.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Kind::ALL)]
    pub kinds: Vec<Kind>,
    /// Seed of the fault schedule (the clock by default; printed, to repeat a run).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the cluster's data and logs go (a temporary folder by default).
    #[arg(long)]
    pub folder: Option<PathBuf>,
    /// Keep the data and logs even when the run passes.
    #[arg(long)]
    pub keep: bool,
    /// Where the JSON report is written.
    #[arg(long, default_value = "target/faults/report.json")]
    pub json: PathBuf,
}

impl Cli {
    pub fn options(&self) -> Options {
        let gap = match self.gap_ms.as_slice() {
            [low, high] => (
                Duration::from_millis(*low.min(high)),
                Duration::from_millis(*low.max(high)),
            ),
            _ => (Duration::from_millis(500), Duration::from_millis(1500)),
        };
        Options {
            chatd: self.chatd.clone(),
            duration: Duration::from_secs(self.duration),
            pairs: self.pairs,
            offline_pairs: self.offline_pairs,
            every: Duration::from_millis(self.every_ms.max(1)),
            schedule: Schedule {
                kinds: self.kinds.clone(),
                gap,
                outage: (Duration::from_secs(1), Duration::from_secs(4)),
                pause: (Duration::from_secs(2), Duration::from_secs(6)),
            },
            seed: self.seed.unwrap_or_else(crate::seed_from_clock),
            folder: self.folder.clone(),
            keep: self.keep,
        }
    }
}
