//! The command line: what to run against, which load, for how long, and where the results go.
//!
//! Parsed by hand (the workspace has no argument-parsing crate and this needs little), into
//! [`Options`], which the library runs; the integration test builds them from the same strings.

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage: loadgen [OPTIONS]

Drives chatd with users sending to each other, times every message from send to its arrival on
the recipient's WebSocket, and counts errors, lost and duplicated messages.

target (default: start chatd from $CHATD, else target/release/chatd, with a throwaway database,
Redis prefix and NATS stream):
  --url URL              use a running service instead (e.g. http://127.0.0.1:8080)
  --pid PID              with --url: sample this process's CPU and memory too (repeatable)
  --split-roles          start api, publisher, projector and notifier as four processes

load (default: paced at --rate):
  --rate R               target messages per second, on a fixed schedule       [1000]
  --senders S            concurrent senders that carry the schedule           [64]
  --concurrency C        closed loop instead: C senders, each sending the next message as soon
                         as the last one is answered (maximum throughput)
  --one-conversation     every sender sends as one of the two members of ONE conversation
                         (otherwise the senders are spread over all pairs of users)
  --via rest|ws|both     send with POST .../messages or the WebSocket send frame  [rest]
  --users N              users to register (pairs of them talk)  [senders, or 2 with
                         --one-conversation]
  --duration SECS        how long each run sends                               [10]
  --body-bytes N         message body size                                     [64]
  --grace SECS           how long to wait for deliveries after sending stops   [5]

other modes:
  --find-max             raise the rate step by step until p99 send-to-deliver passes --p99-ms,
                         or anything is lost or fails; report the highest rate that held
    --start-rate R       [500]     --step-factor F  [1.5]    --step-secs SECS [10]
    --p99-ms MS          [100]     --max-rate R     [100000]
  --group-members N      fan-out: sign up N users, put them all in ONE group, open one socket
                         each; the senders (members) send into the group, and every other
                         member's socket must receive every message once. The rate is in
                         messages (each one N - 1 deliveries)   [--rate 50, --senders 4;
                         with --find-max: --start-rate 10]
  --connections C        open C idle authenticated sockets (spread over --users, default 10)
                         and report the server's memory per socket
    --gateways G         start G processes serving sockets (all roles in the first, the api
                         role in the others) and spread the sockets over them, each share held
                         by a child loadgen: past what one process may hold (`ulimit -n`)
    --hold               (used by --gateways) open the sockets at --url, print one JSON line,
                         hold them until stdin closes, then print the count the server closed
  --smoke                4 users, 200 msgs/s for 3 s over REST and over WebSockets; exits
                         non-zero if anything was lost, duplicated or failed (for CI)

output:
  --label TEXT           a name for this run in the table and the result file
  --out FILE             the JSON result file   [target/loadgen/<timestamp>-<label>.json]
  -h, --help             show this";

/// How messages are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `POST /api/v1/conversations/{id}/messages`; answered after the commit.
    Rest,
    /// The WebSocket `send` frame; answered by an `ack` frame.
    Ws,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Rest => "rest",
            Via::Ws => "ws",
        }
    }
}

/// The service under load.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start chatd from this binary with throwaway storage.
    Start {
        chatd: PathBuf,
        split_roles: bool,
        /// Processes serving the API and sockets.
        gateways: usize,
    },
    /// A service that runs already; `pids` are sampled for CPU and memory.
    Url { url: String, pids: Vec<u32> },
}

/// Stepping parameters of `--find-max`.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct FindMax {
    pub start_rate: f64,
    pub factor: f64,
    pub step: Duration,
    pub p99_ms: f64,
    pub max_rate: f64,
}

/// What the run does.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Open loop: `rate` messages per second on a fixed schedule carried by `senders`.
    Paced { rate: f64, senders: usize },
    /// Closed loop: `concurrency` senders each sending back to back.
    Closed { concurrency: usize },
    /// Paced steps of rising rate, `senders` carrying each.
    FindMax { steps: FindMax, senders: usize },
    /// Idle sockets only.
    Connections { sockets: usize },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    pub mode: Mode,
    /// Each via is one run, in this order.
    pub vias: Vec<Via>,
    pub one_conversation: bool,
    /// `--group-members`: every user is a member of one group, and all messages go there.
    pub group_members: Option<usize>,
    pub users: usize,
    pub duration: Duration,
    pub body_bytes: usize,
    pub grace: Duration,
    pub smoke: bool,
    /// `--hold`: this process only holds sockets for a parent (see `connections::hold`).
    pub hold: bool,
    pub label: String,
    pub out: Option<PathBuf>,
}

/// `Ok(None)` when help was asked for.
pub fn parse<I, S>(args: I) -> anyhow::Result<Option<Options>>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let mut url = None;
    let mut pids = Vec::new();
    let mut split_roles = false;
    let mut rate = None;
    let mut senders = None;
    let mut concurrency = None;
    let mut one_conversation = false;
    let mut vias = None;
    let mut users = None;
    let mut duration = None;
    let mut body_bytes = 64;
    let mut grace = Duration::from_secs(5);
    let mut find_max = false;
    let mut steps = FindMax {
        start_rate: 500.0,
        factor: 1.5,
        step: Duration::from_secs(10),
        p99_ms: 100.0,
        max_rate: 100_000.0,
    };
    let mut connections = None;
    let mut group_members = None;
    let mut start_rate = None;
    let mut smoke = false;
    let mut gateways = None;
    let mut hold = false;
    let mut label = None;
    let mut out = None;

    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_owned(), Some(value.into())),
            _ => (arg, None),
        };
        let mut value = |what: &str| -> anyhow::Result<String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| anyhow::anyhow!("{name} needs {what}"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--url" => url = Some(value("a URL")?.trim_end_matches('/').to_owned()),
            "--pid" => pids.push(number(&name, &value("a process id")?)?),
            "--split-roles" => split_roles = true,
            "--rate" => rate = Some(positive(&name, &value("messages per second")?)?),
            "--senders" => senders = Some(count(&name, &value("a count")?)?),
            "--concurrency" => concurrency = Some(count(&name, &value("a count")?)?),
            "--one-conversation" => one_conversation = true,
            "--via" => {
                vias = Some(match value("rest, ws or both")?.as_str() {
                    "rest" => vec![Via::Rest],
                    "ws" => vec![Via::Ws],
                    "both" => vec![Via::Rest, Via::Ws],
                    other => anyhow::bail!("--via: expected rest, ws or both, got {other:?}"),
                })
            }
            "--users" => users = Some(count(&name, &value("a count")?)?),
            "--duration" => duration = Some(seconds(&name, &value("seconds")?)?),
            "--body-bytes" => body_bytes = count(&name, &value("a size")?)?,
            "--grace" => grace = seconds(&name, &value("seconds")?)?,
            "--find-max" => find_max = true,
            "--start-rate" => start_rate = Some(positive(&name, &value("a rate")?)?),
            "--step-factor" => {
                steps.factor = positive(&name, &value("a factor")?)?;
                anyhow::ensure!(steps.factor > 1.0, "--step-factor must be above 1");
            }
            "--step-secs" => steps.step = seconds(&name, &value("seconds")?)?,
            "--p99-ms" => steps.p99_ms = positive(&name, &value("milliseconds")?)?,
            "--max-rate" => steps.max_rate = positive(&name, &value("a rate")?)?,
            "--connections" => connections = Some(count(&name, &value("a count")?)?),
            "--gateways" => gateways = Some(count(&name, &value("a count")?)?),
            "--hold" => hold = true,
            "--group-members" => group_members = Some(count(&name, &value("a count")?)?),
            "--smoke" => smoke = true,
            "--label" => label = Some(value("a name")?),
            "--out" => out = Some(PathBuf::from(value("a file name")?)),
            other => anyhow::bail!("unknown option {other:?}; see loadgen --help"),
        }
    }

    let exclusive = [
        concurrency.is_some(),
        find_max,
        connections.is_some(),
        smoke,
    ];
    anyhow::ensure!(
        exclusive.iter().filter(|set| **set).count() <= 1,
        "--concurrency, --find-max, --connections and --smoke are separate modes; pick one"
    );
    if let Some(members) = group_members {
        anyhow::ensure!(
            members >= 2,
            "--group-members: at least 2 (a sender and a reader)"
        );
        anyhow::ensure!(
            connections.is_none() && !smoke && !one_conversation && users.is_none(),
            "--group-members: the group is the conversation and its members the users; it does not go with --connections, --smoke, --one-conversation or --users"
        );
    }
    let group = group_members.is_some();
    steps.start_rate = start_rate.unwrap_or(if group { 10.0 } else { 500.0 });
    anyhow::ensure!(
        body_bytes <= 4000,
        "--body-bytes: at most 4000 (the limit of a message body)"
    );
    let senders = senders.unwrap_or(match () {
        _ if smoke => 8,
        _ if group => 4,
        _ => 64,
    });
    let mode = if let Some(concurrency) = concurrency {
        Mode::Closed { concurrency }
    } else if find_max {
        Mode::FindMax { steps, senders }
    } else if let Some(sockets) = connections {
        Mode::Connections { sockets }
    } else {
        let default_rate = match () {
            _ if smoke => 200.0,
            _ if group => 50.0,
            _ => 1000.0,
        };
        Mode::Paced {
            rate: rate.unwrap_or(default_rate),
            senders,
        }
    };
    let lanes = match mode {
        Mode::Paced { senders, .. } | Mode::FindMax { senders, .. } => senders,
        Mode::Closed { concurrency } => concurrency,
        Mode::Connections { .. } => 0,
    };
    let users = match (users, mode) {
        _ if group => group_members.unwrap_or(2),
        (Some(users), _) => users,
        (None, Mode::Connections { .. }) => 10,
        (None, _) if smoke => 4,
        (None, _) if one_conversation => 2,
        (None, _) => lanes.max(2),
    };
    let users = if matches!(mode, Mode::Connections { .. }) || group {
        users
    } else {
        anyhow::ensure!(users >= 2, "--users: at least 2 (one pair)");
        users + users % 2
    };
    anyhow::ensure!(
        connections.is_some() || (gateways.is_none() && !hold),
        "--gateways and --hold go with --connections"
    );
    anyhow::ensure!(
        !hold || url.is_some(),
        "--hold holds sockets at a running service: it needs --url"
    );
    anyhow::ensure!(
        gateways.is_none() || url.is_none(),
        "--gateways starts chatd; it does not go with --url"
    );
    let target = match url {
        Some(url) => {
            anyhow::ensure!(
                url.starts_with("http://"),
                "--url: expected http://host:port, got {url:?}"
            );
            anyhow::ensure!(
                !split_roles,
                "--split-roles starts chatd; it does not go with --url"
            );
            Target::Url { url, pids }
        }
        None => {
            anyhow::ensure!(pids.is_empty(), "--pid goes with --url");
            Target::Start {
                chatd: std::env::var_os("CHATD")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("target/release/chatd")),
                split_roles,
                gateways: gateways.unwrap_or(1),
            }
        }
    };
    let vias = vias.unwrap_or_else(|| {
        if smoke {
            vec![Via::Rest, Via::Ws]
        } else {
            vec![Via::Rest]
        }
    });
    let label = label.unwrap_or_else(|| {
        let label = default_label(mode, &vias, one_conversation, smoke);
        match group_members {
            Some(members) => label.replacen("spread", &format!("group{members}"), 1),
            None => label,
        }
    });
    anyhow::ensure!(
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "--label: letters, digits, '-', '_' and '.' only (it names the result file)"
    );
    Ok(Some(Options {
        target,
        mode,
        vias,
        one_conversation,
        group_members,
        users,
        duration: duration.unwrap_or(Duration::from_secs(if smoke { 3 } else { 10 })),
        body_bytes,
        grace,
        smoke,
        hold,
        label,
        out,
    }))
}

fn default_label(mode: Mode, vias: &[Via], one_conversation: bool, smoke: bool) -> String {
    let via = match vias {
        [one] => one.as_str(),
        _ => "both",
    };
    let shape = if one_conversation { "one" } else { "spread" };
    match mode {
        _ if smoke => "smoke".to_owned(),
        Mode::Paced { rate, .. } => format!("paced-{rate}-{shape}-{via}"),
        Mode::Closed { concurrency } => format!("closed-{concurrency}-{shape}-{via}"),
        Mode::FindMax { .. } => format!("find-max-{shape}-{via}"),
        Mode::Connections { sockets } => format!("connections-{sockets}"),
    }
}

fn number<T: std::str::FromStr>(name: &str, raw: &str) -> anyhow::Result<T> {
    raw.parse()
        .map_err(|_| anyhow::anyhow!("{name}: not a number: {raw:?}"))
}

fn count(name: &str, raw: &str) -> anyhow::Result<usize> {
    let n: usize = number(name, raw)?;
    anyhow::ensure!(n > 0, "{name}: must be at least 1");
    Ok(n)
}

fn positive(name: &str, raw: &str) -> anyhow::Result<f64> {
    let x: f64 = number(name, raw)?;
    anyhow::ensure!(x.is_finite() && x > 0.0, "{name}: must be above 0");
    Ok(x)
}

fn seconds(name: &str, raw: &str) -> anyhow::Result<Duration> {
    Ok(Duration::from_secs_f64(positive(name, raw)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Options {
        match parse(args.iter().copied()) {
            Ok(Some(options)) => options,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_a_paced_rest_run_over_spread_pairs() {
        let o = options(&[]);
        assert!(matches!(o.mode, Mode::Paced { rate, senders: 64 } if rate == 1000.0));
        assert_eq!((o.vias.as_slice(), o.users), ([Via::Rest].as_slice(), 64));
        assert!(!o.one_conversation);
        assert_eq!(o.label, "paced-1000-spread-rest");
    }

    #[test]
    fn one_conversation_needs_only_two_users() {
        let o = options(&["--concurrency", "64", "--one-conversation", "--via=ws"]);
        assert!(matches!(o.mode, Mode::Closed { concurrency: 64 }));
        assert_eq!((o.users, o.vias.as_slice()), (2, [Via::Ws].as_slice()));
    }

    #[test]
    fn smoke_is_short_and_covers_both_ways_of_sending() {
        let o = options(&["--smoke", "--url", "http://127.0.0.1:1/"]);
        assert!(matches!(o.mode, Mode::Paced { rate, senders: 8 } if rate == 200.0));
        assert_eq!((o.users, o.duration), (4, Duration::from_secs(3)));
        assert_eq!(o.vias, [Via::Rest, Via::Ws]);
        assert!(matches!(o.target, Target::Url { ref url, .. } if url == "http://127.0.0.1:1"));
    }

    #[test]
    fn gateways_and_holding_go_with_connections() {
        let o = options(&["--connections", "20000", "--gateways", "2"]);
        assert!(matches!(o.target, Target::Start { gateways: 2, .. }));
        assert!(matches!(o.mode, Mode::Connections { sockets: 20000 }));
        let o = options(&[
            "--connections",
            "10",
            "--hold",
            "--url",
            "http://127.0.0.1:1",
        ]);
        assert!(o.hold);
        for (args, needle) in [
            (&["--gateways", "2"][..], "go with --connections"),
            (&["--connections", "9", "--hold"][..], "needs --url"),
            (
                &["--connections", "9", "--gateways", "2", "--url", "http://a"][..],
                "does not go with --url",
            ),
        ] {
            let error = parse(args.iter().copied()).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains(needle)),
                "{args:?}: {error:?}"
            );
        }
    }

    #[test]
    fn odd_user_counts_are_rounded_up_to_pairs() {
        assert_eq!(options(&["--users", "5"]).users, 6);
    }

    #[test]
    fn bad_arguments_are_refused_with_the_option_named() {
        for (args, needle) in [
            (&["--rate", "fast"][..], "--rate"),
            (&["--rate", "0"][..], "--rate"),
            (&["--via", "pigeon"][..], "--via"),
            (&["--find-max", "--smoke"][..], "separate modes"),
            (&["--users"][..], "--users needs"),
            (&["--bogus"][..], "--bogus"),
            (&["--pid", "1"][..], "--pid"),
            (&["--step-factor", "0.5"][..], "--step-factor"),
        ] {
            let error = parse(args.iter().copied()).expect_err("refused");
            assert!(error.to_string().contains(needle), "{args:?}: {error}");
        }
    }

    #[test]
    fn a_group_run_has_one_user_per_member_and_a_gentler_rate() {
        let o = options(&["--group-members", "1000"]);
        assert!(matches!(o.mode, Mode::Paced { rate, senders: 4 } if rate == 50.0));
        assert_eq!((o.group_members, o.users), (Some(1000), 1000));
        assert_eq!(o.label, "paced-50-group1000-rest");
        let o = options(&["--group-members", "7", "--find-max"]);
        assert!(matches!(o.mode, Mode::FindMax { steps, .. } if steps.start_rate == 10.0));
        assert_eq!(o.users, 7);
        for args in [
            &["--group-members", "1"][..],
            &["--group-members", "9", "--users", "4"][..],
            &["--group-members", "9", "--one-conversation"][..],
        ] {
            let error = parse(args.iter().copied()).expect_err("refused");
            assert!(
                error.to_string().contains("--group-members"),
                "{args:?}: {error}"
            );
        }
    }

    #[test]
    fn help_is_not_an_error() {
        assert!(matches!(parse(["--help"]), Ok(None)));
    }
}
