//! Message runs: the users, their sockets and conversations set up once, then any number of runs
//! (a way of sending, a pacing, a duration), each ending with a grace period in which the
//! messages still on their way may arrive; whatever has not arrived by then is lost.

use crate::api::{self, Session};
use crate::cli::{FindMax, Via};
use crate::ledger::{Tally, EVERYONE};
use crate::pacing::{Pacing, Plan};
use crate::procs::{Sampler, Watched};
use crate::report::{FindMaxReport, Percentiles, RunReport};
use crate::senders::{self, Route, Sending};
use crate::sockets::{self, UserSocket};
use crate::state::Shared;
use crate::users::{self, Pair};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Senders are started this long before the first message is due.
const LEAD: Duration = Duration::from_millis(100);

/// Everything the runs share.
pub struct Bench {
    http: reqwest::Client,
    pub users: Vec<Session>,
    pub pairs: Vec<Pair>,
    sockets: Vec<UserSocket>,
    shared: Arc<Shared>,
    watched: Vec<Watched>,
    lanes: usize,
    one_conversation: bool,
    /// All users are the members of one group (`pairs[0]` holds its id), and every message goes
    /// to all of them.
    group: bool,
    body_bytes: usize,
    grace: Duration,
}

/// What is fixed for every run of one invocation.
pub struct Setup<'a> {
    pub base: &'a str,
    pub watched: &'a [Watched],
    pub users: usize,
    pub lanes: usize,
    pub one_conversation: bool,
    pub group: bool,
    pub body_bytes: usize,
    pub grace: Duration,
}

impl Bench {
    /// Signs the users up, starts their conversations and opens one socket per user.
    pub async fn prepare(setup: Setup<'_>) -> anyhow::Result<Self> {
        let http = api::client(setup.lanes)?;
        eprintln!("loadgen: signing up {} users", setup.users);
        let users = users::sign_up(&http, setup.base, setup.users).await?;
        let pairs = if setup.group {
            eprintln!("loadgen: creating a group of {}", users.len());
            vec![users::group_up(&http, setup.base, &users).await?]
        } else {
            users::pair_up(&http, setup.base, &users).await?
        };
        let shared = Arc::new(Shared::new(Instant::now(), setup.lanes));
        shared
            .ledger()
            .set_group_size(if setup.group { users.len() } else { 0 });
        eprintln!("loadgen: opening {} sockets", users.len());
        let ws_base = setup.base.replacen("http://", "ws://", 1);
        let mut sockets = Vec::with_capacity(users.len());
        for (index, user) in users.iter().enumerate() {
            let (ws, cursor) = sockets::open(&ws_base, &user.token, None).await?;
            sockets.push(sockets::spawn_user(
                shared.clone(),
                index,
                ws_base.clone(),
                user.token.clone(),
                ws,
                cursor,
                setup.lanes + 16,
            ));
        }
        Ok(Self {
            http,
            users,
            pairs,
            sockets,
            shared,
            watched: setup.watched.to_vec(),
            lanes: setup.lanes,
            one_conversation: setup.one_conversation,
            group: setup.group,
            body_bytes: setup.body_bytes,
            grace: setup.grace,
        })
    }

    /// One run; `name` labels it in the report.
    pub async fn run(
        &self,
        name: String,
        via: Via,
        pacing: Pacing,
        duration: Duration,
    ) -> RunReport {
        let lanes = pacing.lanes().min(self.lanes);
        eprintln!("loadgen: {name}");
        let sending = Sending {
            via,
            http: self.http.clone(),
            shared: self.shared.clone(),
            body_bytes: self.body_bytes,
        };
        let start = Instant::now() + LEAD;
        self.shared.ledger().begin_run(start);
        let plan = Plan::new(pacing, start, duration);
        let sampler = Sampler::start(&self.watched);
        let mut tasks = tokio::task::JoinSet::new();
        for lane in 0..lanes {
            tasks.spawn(senders::run(
                lane,
                plan.lane(lane),
                self.route(lane),
                sending.clone(),
            ));
        }
        while tasks.join_next().await.is_some() {}
        let sending_ended = Instant::now();
        let usage = sampler.finish();
        let deadline = sending_ended + self.grace;
        while Instant::now() < deadline && self.shared.ledger().tally().pending > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let tally = self.shared.ledger().begin_run(Instant::now());
        let seconds = sending_ended.saturating_duration_since(start).as_secs_f64();
        let conversations = if self.one_conversation || self.group {
            1
        } else {
            lanes.min(self.pairs.len())
        };
        let mut run = report(name, via, plan, lanes, conversations, seconds, tally, usage);
        run.group_members = self.group.then_some(self.users.len());
        run
    }

    /// Raises the rate step by step until a step does not hold.
    pub async fn find_max(
        &self,
        via: Via,
        steps: FindMax,
        shape: &str,
        runs: &mut Vec<RunReport>,
    ) -> FindMaxReport {
        let mut rate = steps.start_rate;
        let mut held_rate = None;
        let mut step = 1;
        let (failed_rate, why) = loop {
            if rate > steps.max_rate {
                break (None, format!("stopped at --max-rate {}", steps.max_rate));
            }
            let pacing = Pacing::Paced {
                rate,
                lanes: self.lanes,
            };
            let name = format!(
                "{} step {step} {rate:.0}/s {} snd {shape}",
                via.as_str(),
                self.lanes
            );
            let run = self.run(name, via, pacing, steps.step).await;
            let verdict = judge(&run, steps.p99_ms);
            runs.push(run);
            match verdict {
                Ok(()) => held_rate = Some(rate),
                Err(why) => break (Some(rate), format!("{rate:.0} msgs/s did not hold: {why}")),
            }
            rate *= steps.factor;
            step += 1;
        };
        FindMaxReport {
            via: via.as_str(),
            p99_limit_ms: steps.p99_ms,
            failed_rate,
            held_rate,
            why,
        }
    }

    fn route(&self, lane: usize) -> Route {
        if self.group {
            let sender = users::group_sender(lane, self.users.len());
            return Route {
                sender,
                recipient: EVERYONE,
                conversation: self.pairs[0].conversation.clone(),
                messages_url: self.pairs[0].messages_url.clone(),
                authorization: self.users[sender].authorization.clone(),
                socket: self.sockets[sender].outgoing.clone(),
            };
        }
        let (pair, side) = users::seat(lane, self.pairs.len(), self.one_conversation);
        let pair = &self.pairs[pair.min(self.pairs.len() - 1)];
        let (sender, recipient) = (pair.members[side], pair.members[1 - side]);
        Route {
            sender,
            recipient,
            conversation: pair.conversation.clone(),
            messages_url: pair.messages_url.clone(),
            authorization: self.users[sender].authorization.clone(),
            socket: self.sockets[sender].outgoing.clone(),
        }
    }

    /// Closes every socket, and gives the server a moment to see them go, so that what it logs
    /// about them belongs to the run and not to its shutdown.
    pub async fn close(self) {
        for socket in self.sockets {
            socket.task.abort();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    name: String,
    via: Via,
    plan: Plan,
    senders: usize,
    conversations: usize,
    seconds: f64,
    tally: Tally,
    usage: crate::procs::Usage,
) -> RunReport {
    let (pacing, target_rate) = match plan.pacing {
        Pacing::Paced { rate, .. } => ("paced", Some(rate)),
        Pacing::Closed { .. } => ("closed", None),
    };
    let scheduled = plan.scheduled();
    let missed = scheduled.map(|s| s.saturating_sub(tally.sent));
    let error_count = tally.error_count();
    RunReport {
        group_members: None,
        deliveries_per_second: tally.delivered as f64 / seconds.max(1e-3),
        name,
        via: via.as_str(),
        pacing,
        senders,
        conversations,
        target_rate,
        seconds,
        scheduled,
        sent: tally.sent,
        missed,
        on_schedule: missed.zip(scheduled).map(|(m, s)| kept_schedule(m, s)),
        answered: tally.answered,
        delivered: tally.delivered,
        lost: tally.pending,
        duplicates: tally.duplicates,
        late: tally.late,
        unknown: tally.unknown,
        errors: tally.errors,
        error_count,
        throughput: tally.answered as f64 / seconds.max(1e-3),
        deliver_ms: Percentiles::of(&tally.deliver),
        answer_ms: Percentiles::of(&tally.answer),
        max_send_lag_ms: tally.max_lag.as_secs_f64() * 1e3,
        usage,
    }
}

/// A few of the last messages may fall past the end by a timer tick; more means that every
/// sender was waiting for answers: the server did not keep up.
fn kept_schedule(missed: u64, scheduled: u64) -> bool {
    missed * 200 <= scheduled
}

/// Whether a `--find-max` step held: clean, on schedule, p99 send-to-deliver within the limit.
fn judge(run: &RunReport, p99_limit_ms: f64) -> Result<(), String> {
    if run.lost > 0 || run.duplicates > 0 || run.error_count > 0 {
        return Err(format!(
            "lost {}, duplicated {}, errors {}",
            run.lost, run.duplicates, run.error_count
        ));
    }
    if run.delivered == 0 {
        return Err("nothing delivered".to_owned());
    }
    if let (Some(missed), Some(scheduled)) = (run.missed, run.scheduled) {
        // A few of the last messages may fall past the end by a timer tick; more means the
        // senders were all waiting: the server did not keep up.
        if missed * 200 > scheduled {
            return Err(format!(
                "{missed} of {scheduled} messages could not be sent on time"
            ));
        }
    }
    if run.deliver_ms.p99 > p99_limit_ms {
        return Err(format!("p99 {:.1} ms", run.deliver_ms.p99));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procs::Usage;

    fn step(p99: f64, sent: u64, lost: u64, errors: u64) -> RunReport {
        let plan = Plan::new(
            Pacing::Paced {
                rate: 100.0,
                lanes: 4,
            },
            Instant::now(),
            Duration::from_secs(10),
        );
        let mut tally = Tally::new_for_tests();
        tally.sent = sent;
        tally.answered = sent - errors;
        tally.delivered = sent - errors - lost;
        tally.pending = lost;
        if errors > 0 {
            tally.errors.insert("timeout".into(), errors);
        }
        let _ = tally.deliver.record((p99 * 1000.0) as u64);
        let usage = Usage {
            seconds: 10.0,
            processes: Vec::new(),
            loadgen_cpu_percent: 0.0,
            machine_cpu_percent: 0.0,
            cores: 2,
        };
        report("step".into(), Via::Rest, plan, 4, 2, 10.0, tally, usage)
    }

    #[test]
    fn a_step_holds_only_clean_on_schedule_and_within_the_p99_limit() {
        assert_eq!(judge(&step(50.0, 1000, 0, 0), 100.0), Ok(()));
        let failures = [
            (step(150.0, 1000, 0, 0), "p99"),
            (step(50.0, 1000, 1, 0), "lost 1"),
            (step(50.0, 1000, 0, 2), "errors 2"),
            (step(50.0, 900, 0, 0), "could not be sent on time"),
        ];
        for (run, why) in failures {
            let verdict = judge(&run, 100.0);
            assert!(
                verdict.as_ref().is_err_and(|e| e.contains(why)),
                "{why}: {verdict:?}"
            );
        }
    }
}
