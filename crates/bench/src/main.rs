//! `scripts/bench`: measures the release build of chatd, run as its own process against the real
//! PostgreSQL, Redis and NATS, with a throwaway database, Redis prefix and NATS stream.
//!
//! Prints send latency (REST, committed and readable), end-to-end delivery latency to a recipient's
//! WebSocket, concurrent send throughput, and the server's memory per idle WebSocket.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testkit::ws::Connect;

const SEQUENTIAL_SENDS: usize = 500;
const DELIVERIES: usize = 300;
const CONCURRENT_PAIRS: usize = 8;
const SENDS_PER_PAIR: usize = 100;
const IDLE_SOCKETS: usize = 2_000;

struct Percentiles(Vec<Duration>);

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v = self.0.clone();
        v.sort();
        let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
        write!(
            f,
            "p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  (n = {})",
            at(0.50).as_secs_f64() * 1e3,
            at(0.95).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            v.len()
        )
    }
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))
}

struct User {
    token: String,
}

async fn user(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<User> {
    let password = "correct horse battery";
    http.post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await?
        .error_for_status()?;
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(User {
        token: login["token"].as_str().unwrap_or_default().to_owned(),
    })
}

async fn send(
    http: &reqwest::Client,
    base: &str,
    from: &User,
    to: &str,
    body: &str,
) -> anyhow::Result<()> {
    http.post(format!("{base}/api/v1/messages"))
        .bearer_auth(&from.token)
        .json(&json!({"to": to, "body": body, "client_id": uuid::Uuid::new_v4().to_string()}))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = testkit::TestDb::create().await?;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let binary = std::env::var("CHATD").unwrap_or_else(|_| "target/release/chatd".into());
    let mut child = tokio::process::Command::new(&binary)
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("METRICS_BIND", "off")
        .env("REDIS_KEY_PREFIX", format!("bench:{unique}:"))
        .env("NATS_STREAM", format!("B{unique}"))
        .env("NATS_SUBJECT_PREFIX", format!("b{unique}"))
        .env("LOGIN_FAILURES_PER_ADDRESS", "1000000")
        .env("RATE_LIMITS", "off")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or_else(|| anyhow::anyhow!("no pid"))?;
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("chatd {binary} (pid {pid}) on {base}; 2 cores shared by server, databases and this client\n");

    let alice = user(&http, &base, "alice").await?;
    let bob = user(&http, &base, "bob").await?;
    send(&http, &base, &alice, "bob", "warm-up").await?;

    let mut latencies = Vec::with_capacity(SEQUENTIAL_SENDS);
    for n in 0..SEQUENTIAL_SENDS {
        let started = Instant::now();
        send(&http, &base, &alice, "bob", &format!("message {n}")).await?;
        latencies.push(started.elapsed());
    }
    println!(
        "REST send, committed and in history (read-your-writes): {}",
        Percentiles(latencies)
    );

    let mut bob_socket = Connect::new(&base).bearer(&bob.token).open().await?;
    let mut deliveries = Vec::with_capacity(DELIVERIES);
    for n in 0..DELIVERIES {
        let body = format!("live {n}");
        let started = Instant::now();
        send(&http, &base, &alice, "bob", &body).await?;
        loop {
            let frame = bob_socket.next_of("message.new").await?;
            if frame["message"]["body"] == body.as_str() {
                break;
            }
        }
        deliveries.push(started.elapsed());
    }
    println!(
        "send -> recipient's WebSocket (end to end):           {}",
        Percentiles(deliveries)
    );
    drop(bob_socket);

    let mut pairs = Vec::new();
    for p in 0..CONCURRENT_PAIRS {
        pairs.push((
            user(&http, &base, &format!("sender{p}")).await?,
            format!("receiver{p}"),
        ));
        user(&http, &base, &format!("receiver{p}")).await?;
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (sender, to) in pairs {
        let (http, base) = (http.clone(), base.clone());
        tasks.spawn(async move {
            for n in 0..SENDS_PER_PAIR {
                send(&http, &base, &sender, &to, &format!("c{n}")).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let total = CONCURRENT_PAIRS * SENDS_PER_PAIR;
    println!(
        "concurrent sends, {CONCURRENT_PAIRS} senders x {SENDS_PER_PAIR}:                 {:.0} messages/s ({total} in {:.2} s)",
        total as f64 / started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid)?;
    let mut idle = Vec::with_capacity(IDLE_SOCKETS);
    for _ in 0..IDLE_SOCKETS {
        idle.push(Connect::new(&base).bearer(&bob.token).open().await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    println!(
        "idle WebSockets: {IDLE_SOCKETS} open, server RSS {:.1} MiB -> {:.1} MiB: {:.1} KiB per socket",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / IDLE_SOCKETS as f64
    );
    drop(idle);
    child.kill().await?;
    testkit::delete_stream(&format!("B{unique}"));
    Ok(())
}
