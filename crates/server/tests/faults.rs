//! The short form of the fault suite (crates/faults; `scripts/faults` runs the long one): chatd
//! split per role on a private PostgreSQL, Redis and NATS, every kind of fault injected at least
//! once while people send over REST and WebSocket and their devices reconnect and resume.

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_or_doubled_while_parts_die_and_come_back(
) -> anyhow::Result<()> {
    let options = faults::Options::short(env!("CARGO_BIN_EXE_chatd").into());
    let report = faults::run(&options).await?;
    println!("{}", report.table());

    assert!(report.holds(), "the invariants broke:\n{}", report.table());
    assert!(
        report.drained,
        "some device never caught up:\n{}",
        report.table()
    );
    assert!(
        report.every_offline_person_notified,
        "an offline person was never notified on Telegram"
    );
    assert!(
        report.presence_healed,
        "someone connected was still shown offline two presence TTLs after the faults"
    );
    let kinds = faults::nemesis::Kind::ALL.len();
    assert_eq!(
        report.faults_by_kind.len(),
        kinds,
        "every kind of fault is injected: {:?}",
        report.faults_by_kind
    );
    // Enough got through for the verdict to mean something.
    assert!(
        report.verdict.ok >= 100,
        "only {} sends ok",
        report.verdict.ok
    );
    // While Postgres or Redis is down requests fail fast (their timeouts are 0.75 s) instead of
    // piling up; the margin is for a debug build on a busy machine.
    assert!(
        Duration::from_millis(report.slowest_503_ms) < Duration::from_secs(2),
        "a 503 took {} ms",
        report.slowest_503_ms
    );
    Ok(())
}
