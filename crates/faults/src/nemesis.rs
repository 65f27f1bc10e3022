//! The faults: one at a time, of a kind and at a moment drawn from a seeded generator, so a run
//! that found something can be repeated with its seed.

use crate::cluster::{Postgres, Server};
use crate::process::{kill, Roles};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// SIGKILL of a chatd role (its supervisor starts it again).
    Kill,
    /// SIGSTOP of a chatd role, SIGCONT after longer than the service's timeouts.
    Pause,
    RestartNats,
    RestartRedis,
    /// `pg_ctl -m immediate stop`, then a start that recovers from the WAL.
    RestartPostgres,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Kill,
        Kind::Pause,
        Kind::RestartNats,
        Kind::RestartRedis,
        Kind::RestartPostgres,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill -9 role",
            Self::Pause => "SIGSTOP role",
            Self::RestartNats => "restart nats",
            Self::RestartRedis => "restart redis (empty)",
            Self::RestartPostgres => "restart postgres (immediate)",
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub kind: Kind,
    /// The role, for kills and pauses.
    pub target: Option<String>,
    /// Seconds from the start of the faults.
    pub at_s: f64,
    /// How long the part was down or frozen (kills: until the supervisor's restart).
    pub down_ms: u64,
    /// While the part was surely down: from the fault to the moment its restart began (servers),
    /// or to its restart or SIGCONT (roles).
    #[serde(skip)]
    pub window: (Instant, Instant),
}

/// A small seeded generator (splitmix64): enough to vary the faults and repeat a run.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn roll(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A duration in `[low, high]`.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = high.saturating_sub(low).as_millis() as u64;
        low + Duration::from_millis(self.roll() % (span + 1))
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[(self.roll() % items.len() as u64) as usize])
    }
}

/// How faults are spaced and how long outages last.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub kinds: Vec<Kind>,
    pub gap: (Duration, Duration),
    pub outage: (Duration, Duration),
    pub pause: (Duration, Duration),
}

pub struct Targets<'a> {
    pub roles: &'a Roles,
    pub postgres: &'a Postgres,
    pub nats: &'a mut Server,
    pub redis: &'a mut Server,
}

/// Injects faults until `until`; what it injected.
pub async fn run(
    targets: Targets<'_>,
    schedule: &Schedule,
    dice: &mut Dice,
    until: Instant,
) -> anyhow::Result<Vec<Fault>> {
    let started = Instant::now();
    let mut faults = Vec::new();
    loop {
        tokio::time::sleep(dice.between(schedule.gap.0, schedule.gap.1)).await;
        if Instant::now() >= until {
            return Ok(faults);
        }
        // Every kind once first (so a short run covers them all), then at random.
        let kind = match schedule.kinds.get(faults.len()) {
            Some(&kind) => kind,
            None => match dice.pick(&schedule.kinds) {
                Some(&kind) => kind,
                None => return Ok(faults),
            },
        };
        let at = Instant::now();
        let at_s = started.elapsed().as_secs_f64();
        let down_until;
        let mut target = None;
        let down = match kind {
            Kind::Kill | Kind::Pause => {
                let Some(role) = dice.pick(&targets.roles.all) else {
                    continue;
                };
                target = Some(role.name.clone());
                let pid = role.pid();
                if kind == Kind::Kill {
                    let killed = Instant::now();
                    kill(pid, libc::SIGKILL);
                    while role.pid() == pid && killed.elapsed() < Duration::from_secs(10) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    while role.pid() == 0 && killed.elapsed() < Duration::from_secs(10) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    down_until = Instant::now();
                    killed.elapsed()
                } else {
                    let pause = dice.between(schedule.pause.0, schedule.pause.1);
                    kill(pid, libc::SIGSTOP);
                    tokio::time::sleep(pause).await;
                    kill(pid, libc::SIGCONT);
                    down_until = Instant::now();
                    pause
                }
            }
            Kind::RestartNats | Kind::RestartRedis => {
                let outage = dice.between(schedule.outage.0, schedule.outage.1);
                let server = if kind == Kind::RestartNats {
                    &mut *targets.nats
                } else {
                    &mut *targets.redis
                };
                server.crash().await;
                tokio::time::sleep(outage).await;
                down_until = Instant::now();
                server.start().await?;
                outage
            }
            Kind::RestartPostgres => {
                let outage = dice.between(schedule.outage.0, schedule.outage.1);
                let stopped = Instant::now();
                targets.postgres.crash().await?;
                tokio::time::sleep(outage).await;
                down_until = Instant::now();
                targets.postgres.start().await?;
                stopped.elapsed()
            }
        };
        faults.push(Fault {
            kind,
            target,
            at_s,
            down_ms: down.as_millis() as u64,
            window: (at, down_until),
        });
    }
}

/// Faults injected, counted by kind.
pub fn counts(faults: &[Fault]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for fault in faults {
        *counts.entry(fault.kind.name()).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let (mut a, mut b, mut c) = (Dice::new(7), Dice::new(7), Dice::new(8));
        let draws: Vec<u64> = (0..5).map(|_| a.roll()).collect();
        assert_eq!(draws, (0..5).map(|_| b.roll()).collect::<Vec<_>>());
        assert_ne!(draws, (0..5).map(|_| c.roll()).collect::<Vec<_>>());
    }

    #[test]
    fn durations_stay_within_their_bounds() {
        let mut dice = Dice::new(1);
        let (low, high) = (Duration::from_millis(500), Duration::from_millis(900));
        for _ in 0..1000 {
            let d = dice.between(low, high);
            assert!(d >= low && d <= high, "{d:?}");
        }
        assert_eq!(dice.pick::<u8>(&[]), None);
    }
}
