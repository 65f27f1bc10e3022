//! The fault suite: proves under kill -9, SIGSTOP and server restarts that an acknowledged message
//! is never lost, never doubled, and reaches every device after a reconnect.
//!
//! A run starts its own cluster on spare loopback ports (a private PostgreSQL, Redis and
//! nats-server with JetStream on disk, and chatd split per role: two API processes, publisher,
//! projector and notifier, the notifier's bot talking to a local fake Bot API), has people send
//! and receive through it while faults are injected ([`nemesis`]), lets everything recover, and
//! judges what every client saw against what the event store holds ([`verdict`]).
//! `scripts/faults` runs the long form; the server's test suite runs a short one.

pub mod cli;
mod clients;
mod cluster;
mod ledger;
pub mod nemesis;
mod process;
mod report;
pub mod verdict;

pub use report::Report;

use clients::{Clients, Device, Sender};
use cluster::{Postgres, Server};
use ledger::{Ledger, Via};
use nemesis::{Dice, Kind, Schedule, Targets};
use process::Roles;
use sqlx::{Connection, PgConnection};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::telegram::FakeTelegram;
use tokio::sync::watch;
use verdict::{Stored, Topology};

/// Everything a run can be told.
#[derive(Debug, Clone)]
pub struct Options {
    /// The chatd binary to run.
    pub chatd: PathBuf,
    /// How long faults are injected.
    pub duration: Duration,
    /// Pairs of people writing to each other, both online with two devices each.
    pub pairs: usize,
    /// People writing to someone who is offline and gets Telegram notifications.
    pub offline_pairs: usize,
    /// Each sender sends one message per this interval.
    pub every: Duration,
    pub schedule: Schedule,
    pub seed: u64,
    /// Where the cluster's data and logs go (a fresh temporary folder by default); kept when
    /// `keep` is set or the run fails.
    pub folder: Option<PathBuf>,
    pub keep: bool,
}

impl Options {
    /// The short form the test suite runs: a few faults of every kind in well under two minutes.
    pub fn short(chatd: PathBuf) -> Self {
        Self {
            chatd,
            duration: Duration::from_secs(40),
            pairs: 2,
            offline_pairs: 1,
            every: Duration::from_millis(100),
            schedule: Schedule {
                kinds: Kind::ALL.to_vec(),
                gap: (Duration::from_millis(1000), Duration::from_millis(2500)),
                outage: (Duration::from_millis(1000), Duration::from_millis(3000)),
                pause: (Duration::from_millis(2000), Duration::from_millis(4000)),
            },
            seed: seed_from_clock(),
            folder: None,
            keep: false,
        }
    }
}

pub fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// How long, after the faults, everything gets to recover and deliver.
const RECOVERY: Duration = Duration::from_secs(90);
/// The presence TTL the suite runs chatd with.
const PRESENCE_TTL: Duration = Duration::from_secs(5);
/// The offline people's Telegram chats are numbered from here.
const FIRST_CHAT: i64 = 7_000;

pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let folder = options.folder.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("chat-faults-{}", uuid::Uuid::new_v4().simple()))
    });
    std::fs::create_dir_all(&folder)?;
    let postgres = Postgres::create(&folder).await?;
    let outcome = run_on(options, &folder, &postgres).await;
    postgres.stop().await;
    let keep = options.keep || !outcome.as_ref().is_ok_and(Report::holds);
    if keep {
        eprintln!(
            "the cluster's data and logs are kept in {}",
            folder.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&folder);
    }
    let mut report = outcome?;
    report.folder = keep.then(|| folder.display().to_string());
    Ok(report)
}

async fn run_on(
    options: &Options,
    folder: &std::path::Path,
    postgres: &Postgres,
) -> anyhow::Result<Report> {
    let mut admin = PgConnection::connect(&postgres.url("postgres")).await?;
    sqlx::raw_sql("CREATE DATABASE chat")
        .execute(&mut admin)
        .await?;
    drop(admin);
    let mut redis = Server::redis(folder).await?;
    let mut nats = Server::nats(folder).await?;
    let telegram = FakeTelegram::start().await?;
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", postgres.url("chat")),
        ("DATABASE_MAX_CONNECTIONS", "10".to_owned()),
        ("REDIS_URL", format!("redis://127.0.0.1:{}", redis.port)),
        ("NATS_URL", format!("nats://127.0.0.1:{}", nats.port)),
        ("METRICS_BIND", "off".to_owned()),
        ("TELEGRAM_BOT_TOKEN", "123456:FAULTS".to_owned()),
        ("TELEGRAM_API_URL", telegram.url.clone()),
        ("TELEGRAM_POLL_TIMEOUT_SECS", "1".to_owned()),
        ("NOTIFY_GRACE_MS", "300".to_owned()),
        ("NOTIFY_EDIT_INTERVAL_MS", "1000".to_owned()),
        // The clients send faster than a person may.
        ("RATE_LIMITS", "off".to_owned()),
        ("SESSION_IDLE_TIMEOUT_SECS", "3600".to_owned()),
        // Presence must heal within its TTL after Redis comes back empty: short, to see it.
        ("PRESENCE_TTL_MS", PRESENCE_TTL.as_millis().to_string()),
        ("SHUTDOWN_GRACE_SECS", "2".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
        ("NO_COLOR", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let roles = Roles::start(
        &options.chatd,
        &[
            ("api-1", "api"),
            ("api-2", "api"),
            ("publisher", "publisher"),
            ("projector", "projector"),
            ("notifier", "notifier"),
        ],
        &env,
        folder,
    )
    .await?;
    let apis = ["api-1", "api-2"]
        .iter()
        .filter_map(|name| roles.get(name).map(|role| role.base()))
        .collect();
    let ledger = Arc::new(Ledger::default());
    let clients = Arc::new(Clients::new(apis, ledger.clone())?);
    let people = People::sign_up(&clients, options, &telegram).await?;

    let (receiving_tx, receiving) = watch::channel(true);
    let (sending_tx, sending) = watch::channel(true);
    let (give_up_tx, give_up) = watch::channel(false);
    let mut devices = Vec::new();
    for device in people.devices {
        devices.push(tokio::spawn(device.run(clients.clone(), receiving.clone())));
    }
    let mut senders = Vec::new();
    for sender in people.senders {
        senders.push(tokio::spawn(sender.run(
            clients.clone(),
            sending.clone(),
            give_up.clone(),
        )));
    }

    // A quiet start, then the faults.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut dice = Dice::new(options.seed);
    let started = Instant::now();
    let faults = nemesis::run(
        Targets {
            roles: &roles,
            postgres,
            nats: &mut nats,
            redis: &mut redis,
        },
        &options.schedule,
        &mut dice,
        started + options.duration,
    )
    .await?;
    let _ = sending_tx.send(false);

    // Recovery: every part runs again; the messages in flight get their retries.
    let recovery = Instant::now() + RECOVERY;
    roles.all_ready(RECOVERY).await?;
    let give_up_at = tokio::time::Instant::from_std(recovery);
    for sender in senders {
        if tokio::time::timeout_at(give_up_at, sender).await.is_err() {
            let _ = give_up_tx.send(true);
        }
    }
    let _ = give_up_tx.send(true);
    let stored = stored_messages(&postgres.url("chat"), recovery).await?;
    let behind = wait_for_deliveries(&ledger, &people.topology, &stored, recovery).await;
    let notified = wait_for_notifications(&telegram, &people.chats, recovery).await;
    let presence_healed = wait_for_presence(&clients, &people.topology).await;
    let _ = receiving_tx.send(false);
    for device in devices {
        let _ = tokio::time::timeout(Duration::from_secs(5), device).await;
    }

    let sends = ledger.sends();
    let verdict = verdict::judge(&sends, &stored, &ledger.deliveries(), &people.topology);
    let notifications: BTreeMap<i64, Vec<String>> = people
        .chats
        .iter()
        .map(|&(chat, before)| {
            (
                chat,
                telegram.sent_to(chat).into_iter().skip(before).collect(),
            )
        })
        .collect();
    let restarts = roles
        .all
        .iter()
        .map(|role| {
            (
                role.name.clone(),
                role.restarts.load(std::sync::atomic::Ordering::Relaxed),
            )
        })
        .collect();
    roles.stop().await;
    redis.crash().await;
    nats.crash().await;
    Ok(Report::new(report::Parts {
        options,
        faults,
        verdict,
        sends: &sends,
        outcomes: ledger.outcomes(),
        unavailable: ledger.unavailable(),
        served_unavailable: ledger.served_unavailable(),
        reconnects: ledger.reconnects(),
        logouts: ledger.logouts(),
        restarts,
        notifications,
        notified,
        presence_healed,
        behind,
        fault_time: started.elapsed(),
    }))
}

/// The people of a run, signed up and linked before any fault.
struct People {
    senders: Vec<Sender>,
    devices: Vec<Device>,
    topology: Topology,
    /// The Telegram chats of the offline people, with how many messages the bot had sent there
    /// before the run (its answer to `/start`).
    chats: Vec<(i64, usize)>,
}

impl People {
    async fn sign_up(
        clients: &Clients,
        options: &Options,
        telegram: &FakeTelegram,
    ) -> anyhow::Result<Self> {
        let run = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut people = Self {
            senders: Vec::new(),
            devices: Vec::new(),
            topology: Topology::default(),
            chats: Vec::new(),
        };
        // (sender, recipient, recipient also sends back, recipient is online)
        let mut pairs = Vec::new();
        for i in 0..options.pairs {
            pairs.push((format!("ann{i}_{run}"), format!("bob{i}_{run}"), true));
        }
        for i in 0..options.offline_pairs {
            pairs.push((format!("sue{i}_{run}"), format!("tom{i}_{run}"), false));
        }
        for (n, (a, b, online)) in pairs.into_iter().enumerate() {
            clients.register(&a).await?;
            clients.register(&b).await?;
            let a_session = clients.login(&a, deadline).await?;
            let conversation = clients.start_conversation(&a_session, &b).await?;
            people
                .topology
                .members
                .insert(conversation.clone(), vec![a.clone(), b.clone()]);
            let mut online_people = vec![a.clone()];
            if online {
                online_people.push(b.clone());
            } else {
                let chat = FIRST_CHAT + n as i64;
                link_telegram(clients, telegram, &b, chat, deadline).await?;
                people.chats.push((chat, telegram.sent_to(chat).len()));
                people.topology.devices.insert(b.clone(), Vec::new());
            }
            for (k, person) in online_people.iter().enumerate() {
                let mut names = Vec::new();
                for d in 1..=2 {
                    let mut session = clients.login(person, deadline).await?;
                    // Spread the devices over both API processes.
                    session.api = d;
                    let name = format!("{person}/device-{d}");
                    names.push(name.clone());
                    people.devices.push(Device { name, session });
                }
                people.topology.devices.insert(person.clone(), names);
                let to = if k == 0 { &b } else { &a };
                people.senders.push(Sender {
                    session: clients.login(person, deadline).await?,
                    to: to.clone(),
                    conversation: conversation.clone(),
                    via: if (n + k) % 2 == 0 { Via::Rest } else { Via::Ws },
                    every: options.every,
                });
            }
        }
        Ok(people)
    }
}

/// Links `username`'s Telegram chat the way a person does: a link from the API, `/start` in the
/// bot.
async fn link_telegram(
    clients: &Clients,
    telegram: &FakeTelegram,
    username: &str,
    chat: i64,
    deadline: Instant,
) -> anyhow::Result<()> {
    let session = clients.login(username, deadline).await?;
    let link: serde_json::Value = clients
        .http
        .post(format!("{}/api/v1/telegram/link", clients.apis[0]))
        .bearer_auth(&session.token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = link["url"]
        .as_str()
        .and_then(|url| url.split_once("?start="))
        .map(|(_, token)| token.to_owned())
        .ok_or_else(|| anyhow::anyhow!("a Telegram link without a start token: {link}"))?;
    telegram.user_writes(chat, &format!("/start {token}"));
    loop {
        let me: serde_json::Value = clients
            .http
            .get(format!("{}/api/v1/me", clients.apis[0]))
            .bearer_auth(&session.token)
            .send()
            .await?
            .json()
            .await?;
        // Linked, and the bot's answer to `/start` is in the chat: it is sent after the link is
        // stored, and counting it as a notification would look like a doubled one.
        if me["telegram"]["linked"] == true && !telegram.sent_to(chat).is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{username}'s Telegram never linked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every message the event store holds, read once Postgres answers again.
async fn stored_messages(url: &str, deadline: Instant) -> anyhow::Result<Vec<Stored>> {
    loop {
        let attempt = async {
            let mut conn = PgConnection::connect(url).await?;
            let rows: Vec<(String, i64, String)> = sqlx::query_as(
                "SELECT data->>'conversation_id', (data->>'seq')::bigint, data->>'client_id'
                 FROM events WHERE event_type = 'MessageSent' ORDER BY position",
            )
            .fetch_all(&mut conn)
            .await?;
            anyhow::Ok(rows)
        };
        match attempt.await {
            Ok(rows) => {
                return Ok(rows
                    .into_iter()
                    .map(|(conversation, seq, client_id)| Stored {
                        conversation,
                        seq,
                        client_id,
                    })
                    .collect())
            }
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Waits until every device has received as many messages as its conversations hold; whether
/// they all got there before `deadline`.
async fn wait_for_deliveries(
    ledger: &Ledger,
    topology: &Topology,
    stored: &[Stored],
    deadline: Instant,
) -> Vec<String> {
    let mut expected: HashMap<&str, usize> = HashMap::new();
    for message in stored {
        for device in topology.devices_of(&message.conversation) {
            *expected.entry(device).or_default() += 1;
        }
    }
    loop {
        let mut behind: Vec<String> = expected
            .iter()
            .filter(|(device, &n)| ledger.received(device) < n)
            .map(|(device, &n)| {
                let (phase, since) = ledger
                    .phase_of(device)
                    .unwrap_or_else(|| ("not started".to_owned(), Duration::ZERO));
                format!(
                    "{device}: received {} of {n}; {phase} for {:.1} s",
                    ledger.received(device),
                    since.as_secs_f64()
                )
            })
            .collect();
        if behind.is_empty() || Instant::now() >= deadline {
            behind.sort();
            return behind;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until every offline person's chat has had a notification; whether they all did.
async fn wait_for_notifications(
    telegram: &FakeTelegram,
    chats: &[(i64, usize)],
    deadline: Instant,
) -> bool {
    loop {
        if chats
            .iter()
            .all(|&(chat, before)| telegram.sent_to(chat).len() > before)
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until everyone with a connected device is shown online, for at most two presence TTLs
/// (the faults ended a while ago: the last Redis restart is at least this far behind).
async fn wait_for_presence(clients: &Clients, topology: &Topology) -> bool {
    let deadline = Instant::now() + 2 * PRESENCE_TTL;
    let online: Vec<&String> = topology
        .devices
        .iter()
        .filter(|(_, devices)| !devices.is_empty())
        .map(|(person, _)| person)
        .collect();
    let Some(viewer) = online.first() else {
        return true;
    };
    let Ok(session) = clients.login(viewer, deadline).await else {
        return false;
    };
    loop {
        let mut all = true;
        for person in &online {
            let shown = clients
                .http
                .get(format!("{}/api/v1/users/{person}", clients.apis[0]))
                .bearer_auth(&session.token)
                .send()
                .await;
            let is_online = match shown {
                Ok(response) => response
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|body| body["user"]["online"] == true),
                Err(_) => false,
            };
            all &= is_online;
        }
        if all {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Who sent how many.
fn by_via(sends: &[ledger::Send]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for send in sends {
        let via = match send.via {
            Via::Rest => "rest",
            Via::Ws => "ws",
        };
        *counts.entry(via).or_default() += 1;
    }
    counts
}
