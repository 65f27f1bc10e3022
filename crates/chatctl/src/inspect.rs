//! `streams`, `events` and `tail`: looking into the log.

use crate::cli::EventsArgs;
use crate::output::Out;
use crate::CtlError;
use eventstore::{EventFilter, EventStore, SubscriptionOptions};
use serde::Serialize;

/// Events fetched per query while paging through a long result.
const PAGE: i64 = 1_000;

pub async fn streams(
    store: &EventStore,
    out: &mut Out,
    prefix: &str,
    limit: i64,
) -> Result<(), CtlError> {
    #[derive(Serialize)]
    struct StreamJson<'a> {
        stream_id: &'a str,
        version: i64,
        last_recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    }
    let streams = store.list_streams(prefix, limit.max(0)).await?;
    if out.json {
        for s in &streams {
            out.json_line(&StreamJson {
                stream_id: &s.stream_id,
                version: s.version,
                last_recorded_at: s.last_recorded_at,
            })?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = streams
        .iter()
        .map(|s| {
            vec![
                s.stream_id.clone(),
                s.version.to_string(),
                s.last_recorded_at.map_or_else(
                    || "-".to_owned(),
                    |at| at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                ),
            ]
        })
        .collect();
    out.table(&["STREAM", "VERSION", "LAST EVENT (UTC)"], &rows)?;
    if streams.len() as i64 == limit {
        eprintln!("(the first {limit} streams; --limit shows more)");
    }
    Ok(())
}

pub async fn events(store: &EventStore, out: &mut Out, args: EventsArgs) -> Result<(), CtlError> {
    let filter = EventFilter {
        stream_id: args
            .stream
            .or_else(|| args.conversation.map(|id| format!("conversation-{id}"))),
        from_position: args.from,
        to_position: args.to,
        since: args.since,
        event_type: args.event_type,
        seq: args.seq,
    };
    let mut left = args.limit.unwrap_or(u64::MAX);
    let mut after = 0;
    out.event_header()?;
    while left > 0 {
        let page = store
            .read_filtered(&filter, after, left.min(PAGE as u64) as i64)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        left -= page.len() as u64;
        for event in &page {
            out.event(event)?;
        }
    }
    Ok(())
}

pub async fn tail(
    store: &EventStore,
    out: &mut Out,
    follow: bool,
    lines: i64,
) -> Result<(), CtlError> {
    // The subscription re-reads from `head` whatever its listener hears: nothing committed after
    // the head was read is missed.
    let head = store.head_position().await?;
    let mut subscription = if follow {
        Some(
            store
                .subscribe(head, SubscriptionOptions::default())
                .await?,
        )
    } else {
        None
    };
    out.event_header()?;
    for event in store.read_last(lines.max(0)).await? {
        if event.position <= head {
            out.event(&event)?;
        }
    }
    out.flush()?;
    let Some(subscription) = subscription.as_mut() else {
        return Ok(());
    };
    eprintln!("following the log after position {head} (Ctrl-C to stop)");
    loop {
        let batch = tokio::select! {
            batch = subscription.next_batch() => batch?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        for event in &batch {
            out.event(event)?;
        }
        out.flush()?;
    }
}
