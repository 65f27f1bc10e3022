//! Checking a live read model against a fresh replay of the log, and replaying a range of the log
//! into a scratch schema (to debug a projector).
//!
//! Verify replays into `<name>_verify`, then compares inside one `REPEATABLE READ` transaction:
//! its snapshot holds the live tables and their checkpoint as one committed state (they always
//! commit together), the scratch copy is brought to exactly that checkpoint inside the same
//! transaction, and each table is compared row by row (`EXCEPT ALL` both ways). The live projector
//! is never stopped.

use crate::rebuild::{drop_schema, in_schema, replay_range, Progress, Range, DEFAULT_BATCH};
use crate::runner::{create_schema, Projection};
use crate::shadow;
use crate::ProjectionError;
use eventstore::{load_checkpoint, EventStore};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

/// What differs between the live tables and a fresh replay.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    pub projection: &'static str,
    /// The position both were compared at (the live checkpoint).
    pub position: i64,
    pub tables: Vec<TableDiff>,
}

impl VerifyReport {
    pub fn is_equal(&self) -> bool {
        self.tables
            .iter()
            .all(|t| t.only_live == 0 && t.only_rebuilt == 0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableDiff {
    pub table: String,
    /// Rows in the live table, and in the replayed one.
    pub live_rows: i64,
    pub rebuilt_rows: i64,
    /// Rows found only in the live table (wrong or extra there).
    pub only_live: i64,
    /// Rows found only in the replay (missing or different in the live table).
    pub only_rebuilt: i64,
    /// Some of the differing rows as JSON, each with the side it is found on (`live`/`rebuilt`).
    pub sample: Vec<(String, serde_json::Value)>,
}

/// Replays the log into a scratch schema and compares it with the live tables; at most `sample`
/// differing rows per table are returned.
pub async fn verify<P: Projection>(
    store: &EventStore,
    projection: &P,
    sample: i64,
    mut progress: impl FnMut(Progress),
) -> Result<VerifyReport, ProjectionError> {
    let pool = store.pool();
    let stored: Option<i32> = sqlx::query_scalar("SELECT version FROM projections WHERE name = $1")
        .bind(P::NAME)
        .fetch_optional(pool)
        .await?;
    match stored {
        Some(version) if version == P::VERSION => {}
        stored => {
            return Err(ProjectionError::Stale {
                name: P::NAME.to_owned(),
                stored,
                code: P::VERSION,
            })
        }
    }
    let scratch = format!("{}_verify", P::NAME);
    {
        let mut tx = pool.begin().await?;
        drop_schema(&mut tx, &scratch).await?;
        create_schema::<P>(&mut tx, &scratch).await?;
        // Compared, then dropped: it needs neither WAL nor the indexes readers use.
        shadow::unlog(&mut tx, &scratch).await?;
        tx.commit().await?;
    }
    // Up to a checkpoint the live model has reached: never past the state it is compared with.
    let reached = load_checkpoint(pool, P::NAME).await?;
    let (position, _) = replay_range(
        store,
        projection,
        &scratch,
        None,
        Range {
            after: 0,
            up_to: Some(reached),
            batch: DEFAULT_BATCH,
        },
        reached,
        &mut progress,
    )
    .await?;

    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await?;
    let live_at: i64 = sqlx::query_scalar(
        "SELECT COALESCE(max(position), 0) FROM checkpoints WHERE subscriber = $1",
    )
    .bind(P::NAME)
    .fetch_one(&mut *tx)
    .await?;
    in_schema(&mut tx, &scratch).await?;
    let mut at = position;
    while at < live_at {
        let mut page = store.read_all_raw(at, DEFAULT_BATCH).await?;
        page.retain(|e| e.position <= live_at);
        let Some(last) = page.last() else { break };
        at = last.position;
        projection.apply_all(&mut tx, &page).await?;
    }
    let mut tables = Vec::new();
    for table in tables_of(&mut tx, P::NAME).await? {
        tables.push(compare(&mut tx, P::NAME, &scratch, &table, sample).await?);
    }
    drop_schema(&mut tx, &scratch).await?;
    tx.commit().await?;
    Ok(VerifyReport {
        projection: P::NAME,
        position: live_at,
        tables,
    })
}

/// What a replay into a scratch schema left there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub schema: String,
    /// The last position applied (`from - 1` if none).
    pub position: i64,
    pub applied: u64,
    /// Each table of the scratch schema with its number of rows.
    pub tables: Vec<(String, i64)>,
}

/// Applies the events with `from <= position <= to` (to the head if `to` is `None`) to the scratch
/// schema `<name>_replay`, created afresh unless `keep` (then the range is applied on top of what
/// an earlier replay left). The live tables are not touched.
pub async fn replay<P: Projection>(
    store: &EventStore,
    projection: &P,
    from: i64,
    to: Option<i64>,
    keep: bool,
    mut progress: impl FnMut(Progress),
) -> Result<ReplayReport, ProjectionError> {
    let pool = store.pool();
    let schema = format!("{}_replay", P::NAME);
    {
        let mut tx = pool.begin().await?;
        if !keep {
            drop_schema(&mut tx, &schema).await?;
        }
        create_schema::<P>(&mut tx, &schema).await?;
        tx.commit().await?;
    }
    let head = match to {
        Some(to) => to,
        None => store.head_position().await?,
    };
    let after = from.saturating_sub(1).max(0);
    let (position, applied) = replay_range(
        store,
        projection,
        &schema,
        None,
        Range {
            after,
            up_to: Some(head),
            batch: DEFAULT_BATCH,
        },
        head,
        &mut progress,
    )
    .await?;
    let tables = row_counts(pool, &schema).await?;
    Ok(ReplayReport {
        schema,
        position,
        applied,
        tables,
    })
}

/// The tables of `schema` with their number of rows.
pub async fn row_counts(
    pool: &PgPool,
    schema: &str,
) -> Result<Vec<(String, i64)>, ProjectionError> {
    let mut conn = pool.acquire().await?;
    let mut counts = Vec::new();
    for table in tables_of(&mut conn, schema).await? {
        let sql = format!("SELECT count(*) FROM \"{schema}\".\"{table}\"");
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await?;
        counts.push((table, count));
    }
    Ok(counts)
}

async fn tables_of(conn: &mut PgConnection, schema: &str) -> Result<Vec<String>, ProjectionError> {
    Ok(sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await?)
}

async fn compare(
    conn: &mut PgConnection,
    live: &str,
    rebuilt: &str,
    table: &str,
    sample: i64,
) -> Result<TableDiff, ProjectionError> {
    let live_table = format!("\"{live}\".\"{table}\"");
    let rebuilt_table = format!("\"{rebuilt}\".\"{table}\"");
    let sql = format!(
        "WITH only_live AS (SELECT * FROM {live_table} EXCEPT ALL SELECT * FROM {rebuilt_table}),
              only_rebuilt AS (SELECT * FROM {rebuilt_table} EXCEPT ALL SELECT * FROM {live_table})
         SELECT (SELECT count(*) FROM {live_table}),
                (SELECT count(*) FROM {rebuilt_table}),
                (SELECT count(*) FROM only_live),
                (SELECT count(*) FROM only_rebuilt),
                COALESCE((SELECT jsonb_agg(s) FROM (
                    (SELECT 'live' AS side, to_jsonb(t) AS row FROM only_live t LIMIT $1)
                    UNION ALL
                    (SELECT 'rebuilt', to_jsonb(t) FROM only_rebuilt t LIMIT $1)) s), '[]')"
    );
    let (live_rows, rebuilt_rows, only_live, only_rebuilt, rows): (
        i64,
        i64,
        i64,
        i64,
        serde_json::Value,
    ) = sqlx::query_as(AssertSqlSafe(sql))
        .bind(sample)
        .fetch_one(&mut *conn)
        .await?;
    let sample = match rows {
        serde_json::Value::Array(rows) => rows
            .into_iter()
            .map(|mut row| {
                let side = row["side"].as_str().unwrap_or("").to_owned();
                (side, row["row"].take())
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(TableDiff {
        table: table.to_owned(),
        live_rows,
        rebuilt_rows,
        only_live,
        only_rebuilt,
        sample,
    })
}
