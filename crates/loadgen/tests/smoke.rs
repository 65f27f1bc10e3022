//! `loadgen --smoke` against the real service (every role, served in-process on port 0 as the
//! server's own tests do) on the real PostgreSQL, Redis and NATS, with a database, Redis key
//! prefix and JetStream stream of its own: a few seconds of paced sends over REST and over the
//! WebSocket must lose, duplicate and fail nothing.

use server::{Application, Config, Role};
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;

/// The service for one test; dropping it stops the service and deletes its stream (the
/// database is dropped with `_db`).
struct Service {
    base: String,
    stream: String,
    shutdown: CancellationToken,
    _db: testkit::TestDb,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown.cancel();
        testkit::delete_stream(&self.stream);
    }
}

async fn serve() -> anyhow::Result<Service> {
    let db = testkit::TestDb::create().await?;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("T{unique}");
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url.clone()),
        ("BIND".into(), "127.0.0.1:0".into()),
        ("REDIS_KEY_PREFIX".into(), format!("test:{unique}:")),
        ("SESSION_IDLE_TIMEOUT_SECS".into(), "600".into()),
        ("SHUTDOWN_GRACE_SECS".into(), "2".into()),
        ("METRICS_BIND".into(), "off".into()),
        ("NATS_STREAM".into(), stream.clone()),
        ("NATS_SUBJECT_PREFIX".into(), format!("t{unique}")),
        // As scripts/bench runs it: a load test sends faster than the limits allow a person.
        ("RATE_LIMITS".into(), "off".into()),
    ]);
    for name in ["REDIS_URL", "NATS_URL"] {
        if let Ok(value) = std::env::var(name) {
            vars.insert(name.into(), value);
        }
    }
    let config = Config::from_lookup(|name| vars.get(name).cloned())?;
    let app = Application::build(config, Role::ALL.to_vec()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    Ok(Service {
        base,
        stream,
        shutdown,
        _db: db,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_run_loses_duplicates_and_fails_nothing() -> anyhow::Result<()> {
    let service = serve().await?;
    let options = loadgen::cli::parse(["--smoke", "--url", service.base.as_str()])?
        .ok_or_else(|| anyhow::anyhow!("--smoke is not a request for help"))?;
    let report = loadgen::run(&options, Vec::new()).await?;
    println!("{}", report.table());

    assert_eq!(
        report.runs.iter().map(|run| run.via).collect::<Vec<_>>(),
        ["rest", "ws"]
    );
    for run in &report.runs {
        // A debug build on two shared cores may not keep 200/s; what it sends must all arrive.
        assert!(run.sent >= 100, "{}: only {} sent", run.name, run.sent);
        assert_eq!(
            (run.lost, run.duplicates, run.error_count, run.unknown),
            (0, 0, 0, 0),
            "{}: {:?}",
            run.name,
            run.errors
        );
        assert_eq!(
            (run.answered, run.delivered),
            (run.sent, run.sent),
            "{}",
            run.name
        );
        assert_eq!(run.deliver_ms.count, run.sent);
        assert!(run.deliver_ms.p50 > 0.0 && run.deliver_ms.p50 <= run.deliver_ms.max);
    }
    assert!(report.clean);
    Ok(())
}

/// `--group-members`: one 20-member group, a few senders; every message must reach each of the
/// 19 other members' sockets exactly once, with no error (how fast is the benchmark's business).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_fan_out_run_reaches_every_other_member_once() -> anyhow::Result<()> {
    let service = serve().await?;
    let options = loadgen::cli::parse([
        "--group-members",
        "20",
        "--rate",
        "20",
        "--senders",
        "3",
        "--duration",
        "2",
        "--via",
        "both",
        "--url",
        service.base.as_str(),
    ])?
    .ok_or_else(|| anyhow::anyhow!("--group-members is not a request for help"))?;
    let report = loadgen::run(&options, Vec::new()).await?;
    println!("{}", report.table());

    assert_eq!(report.runs.len(), 2);
    for run in &report.runs {
        assert_eq!(run.group_members, Some(20), "{}", run.name);
        assert!(run.sent >= 10, "{}: only {} sent", run.name, run.sent);
        assert_eq!(
            (run.lost, run.duplicates, run.error_count, run.unknown),
            (0, 0, 0, 0),
            "{}: {:?}",
            run.name,
            run.errors
        );
        assert_eq!(run.answered, run.sent, "{}", run.name);
        assert_eq!(run.delivered, run.sent * 19, "{}", run.name);
        assert_eq!(run.deliver_ms.count, run.delivered);
    }
    assert!(report.clean);
    Ok(())
}
