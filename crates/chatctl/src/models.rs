//! `projections ...` and `replay`: the read models, by name.

use crate::output::Out;
use crate::progress::Reporter;
use crate::CtlError;
use eventstore::EventStore;
use projections::directory::Directory;
use projections::history::History;
use projections::telegram::TelegramLinks;
use projections::{Projection, RebuildOptions};
use serde::Serialize;

/// Runs `$body` with `$P` standing for the projection type named `$name`.
macro_rules! with_projection {
    ($name:expr, $P:ident => $body:expr) => {
        match $name {
            "history" => {
                type $P = History;
                $body
            }
            "telegram" => {
                type $P = TelegramLinks;
                $body
            }
            "directory" => {
                type $P = Directory;
                $body
            }
            other => Err(CtlError::Usage(format!(
                "no projection named {other:?} (known: {})",
                known()
            ))),
        }
    };
}

fn known() -> String {
    projections::ALL
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn list(store: &EventStore, out: &mut Out) -> Result<(), CtlError> {
    #[derive(Serialize)]
    struct StatusJson<'a> {
        name: &'a str,
        code_version: i32,
        stored_version: Option<i32>,
        checkpoint: i64,
        lag_events: i64,
        lag_seconds: f64,
        rebuilt_at: Option<chrono::DateTime<chrono::Utc>>,
        state: String,
    }
    let mut rows = Vec::new();
    for (name, version) in projections::ALL {
        let s = projections::status(store.pool(), name, *version).await?;
        if out.json {
            out.json_line(&StatusJson {
                name: s.name,
                code_version: s.code_version,
                stored_version: s.stored_version,
                checkpoint: s.checkpoint,
                lag_events: s.lag_events,
                lag_seconds: s.lag_seconds,
                rebuilt_at: s.rebuilt_at,
                state: s.state.to_string(),
            })?;
        } else {
            rows.push(vec![
                s.name.to_owned(),
                match s.stored_version {
                    Some(v) if v == s.code_version => v.to_string(),
                    Some(v) => format!("{v} (code: {})", s.code_version),
                    None => format!("- (code: {})", s.code_version),
                },
                s.checkpoint.to_string(),
                s.lag_events.to_string(),
                format!("{:.1}", s.lag_seconds),
                s.state.to_string(),
            ]);
        }
    }
    if !out.json {
        out.table(
            &[
                "NAME",
                "VERSION",
                "CHECKPOINT",
                "LAG EVENTS",
                "LAG SECONDS",
                "STATE",
            ],
            &rows,
        )?;
    }
    Ok(())
}

pub async fn rebuild(
    store: &EventStore,
    out: &mut Out,
    names: &[&str],
    options: RebuildOptions,
) -> Result<(), CtlError> {
    for name in names {
        with_projection!(*name, P => rebuild_one::<P>(store, out, options).await)?;
    }
    Ok(())
}

async fn rebuild_one<P: Projection + Default>(
    store: &EventStore,
    out: &mut Out,
    options: RebuildOptions,
) -> Result<(), CtlError> {
    #[derive(Serialize)]
    struct RebuildJson {
        projection: &'static str,
        position: i64,
        events_applied: u64,
        resumed_from: i64,
        seconds: f64,
        events_per_second: f64,
    }
    projections::ensure_schema::<P>(store.pool()).await?;
    let mut reporter = Reporter::new(format!("rebuild {}", P::NAME));
    let report =
        projections::rebuild_with(store, &P::default(), options, |p| reporter.update(p)).await;
    let elapsed = reporter.finish().as_secs_f64().max(0.001);
    let report = report?;
    let rate = report.events_applied as f64 / elapsed;
    if out.json {
        out.json_line(&RebuildJson {
            projection: report.projection,
            position: report.position,
            events_applied: report.events_applied,
            resumed_from: report.resumed_from,
            seconds: elapsed,
            events_per_second: rate,
        })?;
    } else {
        let resumed = if report.resumed_from > 0 {
            format!(" (continued from position {})", report.resumed_from)
        } else {
            String::new()
        };
        out.line(&format!(
            "rebuilt {}: {} events in {elapsed:.1}s ({rate:.0} events/s){resumed}; swapped in at position {}",
            report.projection, report.events_applied, report.position
        ))?;
    }
    Ok(())
}

pub async fn verify(
    store: &EventStore,
    out: &mut Out,
    name: &str,
    rows: i64,
) -> Result<(), CtlError> {
    with_projection!(name, P => verify_one::<P>(store, out, rows).await)
}

async fn verify_one<P: Projection + Default>(
    store: &EventStore,
    out: &mut Out,
    rows: i64,
) -> Result<(), CtlError> {
    #[derive(Serialize)]
    struct DiffJson<'a> {
        projection: &'a str,
        position: i64,
        table: &'a str,
        live_rows: i64,
        rebuilt_rows: i64,
        only_live: i64,
        only_rebuilt: i64,
        sample: Vec<SampleJson<'a>>,
    }
    #[derive(Serialize)]
    struct SampleJson<'a> {
        side: &'a str,
        row: &'a serde_json::Value,
    }
    let mut reporter = Reporter::new(format!("verify {}", P::NAME));
    let report =
        projections::verify(store, &P::default(), rows.max(0), |p| reporter.update(p)).await;
    reporter.finish();
    let report = report?;
    for table in &report.tables {
        if out.json {
            out.json_line(&DiffJson {
                projection: report.projection,
                position: report.position,
                table: &table.table,
                live_rows: table.live_rows,
                rebuilt_rows: table.rebuilt_rows,
                only_live: table.only_live,
                only_rebuilt: table.only_rebuilt,
                sample: table
                    .sample
                    .iter()
                    .map(|(side, row)| SampleJson { side, row })
                    .collect(),
            })?;
            continue;
        }
        let verdict = if table.only_live == 0 && table.only_rebuilt == 0 {
            "equal".to_owned()
        } else {
            format!(
                "DIFFERENT: {} rows only live, {} only in the replay",
                table.only_live, table.only_rebuilt
            )
        };
        out.line(&format!(
            "{}.{}: {} live rows, {} replayed: {verdict}",
            report.projection, table.table, table.live_rows, table.rebuilt_rows
        ))?;
        for (side, row) in &table.sample {
            out.line(&format!("  {side:<8} {row}"))?;
        }
    }
    if report.is_equal() {
        if !out.json {
            out.line(&format!(
                "{} equals a fresh replay of the log at position {}",
                report.projection, report.position
            ))?;
        }
        Ok(())
    } else {
        Err(CtlError::Differs(format!(
            "{} differs from a fresh replay of the log at position {}",
            report.projection, report.position
        )))
    }
}

pub async fn replay(
    store: &EventStore,
    out: &mut Out,
    name: &str,
    from: i64,
    to: Option<i64>,
    keep: bool,
) -> Result<(), CtlError> {
    with_projection!(name, P => replay_one::<P>(store, out, from, to, keep).await)
}

async fn replay_one<P: Projection + Default>(
    store: &EventStore,
    out: &mut Out,
    from: i64,
    to: Option<i64>,
    keep: bool,
) -> Result<(), CtlError> {
    #[derive(Serialize)]
    struct ReplayJson<'a> {
        projection: &'a str,
        schema: &'a str,
        position: i64,
        events_applied: u64,
        tables: std::collections::BTreeMap<&'a str, i64>,
    }
    let mut reporter = Reporter::new(format!("replay {}", P::NAME));
    let report =
        projections::replay(store, &P::default(), from, to, keep, |p| reporter.update(p)).await;
    reporter.finish();
    let report = report?;
    if out.json {
        out.json_line(&ReplayJson {
            projection: P::NAME,
            schema: &report.schema,
            position: report.position,
            events_applied: report.applied,
            tables: report
                .tables
                .iter()
                .map(|(t, n)| (t.as_str(), *n))
                .collect(),
        })?;
        return Ok(());
    }
    out.line(&format!(
        "applied {} events (up to position {}) to {} in schema {}",
        report.applied,
        report.position,
        P::NAME,
        report.schema
    ))?;
    let rows: Vec<Vec<String>> = report
        .tables
        .iter()
        .map(|(t, n)| vec![format!("{}.{t}", report.schema), n.to_string()])
        .collect();
    out.table(&["TABLE", "ROWS"], &rows)?;
    Ok(())
}

/// Every projection's name, for `rebuild --all`.
pub fn all_names() -> Vec<&'static str> {
    projections::ALL.iter().map(|(name, _)| *name).collect()
}
