//! The form a shadow schema takes while the log is replayed into it: cheap to write, then sealed.
//!
//! While replaying, the shadow's tables are `UNLOGGED` (a million inserts write no WAL) and keep
//! only their primary keys (the other indexes and unique constraints are built once, after the
//! replay, instead of being maintained row by row). Before anything can swap the shadow in, it is
//! sealed: made logged and given its indexes back in one transaction, so the live model is never
//! unlogged and never lacks an index. A projection's `apply` must therefore not depend on anything
//! but primary keys (no `ON CONFLICT` on a unique constraint).
//!
//! Crash recovery empties every unlogged table. The shadow's position is therefore also kept beside
//! its tables, in an unlogged table of its own (`rebuild_state`) written with every page: a crash
//! empties it together with them, and a rerun that finds it empty knows the replay was lost although
//! the checkpoint says otherwise, and starts over.

use crate::ProjectionError;
use sqlx::{AssertSqlSafe, PgConnection};

/// The shadow's own table: its position and what sealing must rebuild. Dropped when sealed.
const STATE_TABLE: &str = "rebuild_state";

/// Where an interrupted rebuild's shadow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Unlogged and replayed up to this position.
    Replaying(i64),
    /// Logged and indexed: only the catch-up and the swap are left.
    Sealed,
    /// Its unlogged tables were emptied by crash recovery: start over.
    Lost,
}

pub(crate) async fn phase(conn: &mut PgConnection, shadow: &str) -> Result<Phase, ProjectionError> {
    let state: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(state_table(shadow))
        .fetch_one(&mut *conn)
        .await?;
    if state.is_none() {
        return Ok(Phase::Sealed);
    }
    let position: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT position FROM {}",
        state_table(shadow)
    )))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(position.map_or(Phase::Lost, Phase::Replaying))
}

/// Turns a schema just created from the projection's DDL into its replay form: every table
/// unlogged, every index but the primary keys dropped. Returns the statements that restore the
/// dropped ones.
pub(crate) async fn unlog(
    conn: &mut PgConnection,
    schema: &str,
) -> Result<Vec<String>, ProjectionError> {
    let deferred: Vec<(String, String)> = sqlx::query_as(
        "SELECT format('ALTER TABLE %I.%I DROP CONSTRAINT %I', n.nspname, t.relname, c.conname),
                format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', n.nspname, t.relname, c.conname,
                       pg_get_constraintdef(c.oid))
           FROM pg_constraint c
           JOIN pg_class t ON t.oid = c.conrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE n.nspname = $1 AND c.contype IN ('u', 'x')
            AND NOT EXISTS (SELECT 1 FROM pg_constraint f
                             WHERE f.contype = 'f' AND f.conindid = c.conindid)
         UNION ALL
         SELECT format('DROP INDEX %I.%I', n.nspname, x.relname), pg_get_indexdef(i.indexrelid)
           FROM pg_index i
           JOIN pg_class x ON x.oid = i.indexrelid
           JOIN pg_namespace n ON n.oid = x.relnamespace
          WHERE n.nspname = $1
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await?;
    let tables = tables(conn, schema, 'p').await?;
    let (drops, restores): (Vec<String>, Vec<String>) = deferred.into_iter().unzip();
    let mut ddl = drops;
    ddl.extend(
        tables
            .iter()
            .map(|table| format!("ALTER TABLE {table} SET UNLOGGED")),
    );
    execute(conn, &ddl).await?;
    Ok(restores)
}

/// Makes a freshly created shadow unlogged and records its position (0) beside it.
pub(crate) async fn prepare(conn: &mut PgConnection, shadow: &str) -> Result<(), ProjectionError> {
    let restores = unlog(conn, shadow).await?;
    let state = state_table(shadow);
    execute(
        conn,
        &[format!(
            "CREATE UNLOGGED TABLE {state} (position bigint NOT NULL, deferred text[] NOT NULL)"
        )],
    )
    .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {state} (position, deferred) VALUES (0, $1)"
    )))
    .bind(&restores)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the position a page of the replay reached, in the page's transaction.
pub(crate) async fn record(
    conn: &mut PgConnection,
    shadow: &str,
    position: i64,
) -> Result<(), ProjectionError> {
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {} SET position = $1",
        state_table(shadow)
    )))
    .bind(position)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Makes the shadow's tables logged (each is rewritten into the WAL once) and rebuilds the indexes
/// left out of the replay, in the caller's transaction. Once that commits, a crash keeps it whole.
pub(crate) async fn seal(conn: &mut PgConnection, shadow: &str) -> Result<(), ProjectionError> {
    let state = state_table(shadow);
    let restores: Vec<String> =
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT deferred FROM {state}")))
            .fetch_one(&mut *conn)
            .await?;
    let mut ddl = vec![format!("DROP TABLE {state}")];
    // Logged first: making a table logged rewrites it with its indexes, so the deferred ones are
    // built after, once.
    ddl.extend(
        tables(conn, shadow, 'u')
            .await?
            .into_iter()
            .map(|table| format!("ALTER TABLE {table} SET LOGGED")),
    );
    ddl.extend(restores);
    execute(conn, &ddl).await
}

/// The projection's tables in `schema` (not the state table) with the given persistence (`p`
/// logged, `u` unlogged), qualified and quoted.
async fn tables(
    conn: &mut PgConnection,
    schema: &str,
    persistence: char,
) -> Result<Vec<String>, ProjectionError> {
    let tables = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relpersistence::text = $2
            AND c.relname <> $3
          ORDER BY c.relname",
    )
    .bind(schema)
    .bind(persistence.to_string())
    .bind(STATE_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    Ok(tables)
}

fn state_table(shadow: &str) -> String {
    format!("\"{shadow}\".{STATE_TABLE}")
}

async fn execute(conn: &mut PgConnection, statements: &[String]) -> Result<(), ProjectionError> {
    if statements.is_empty() {
        return Ok(());
    }
    sqlx::raw_sql(AssertSqlSafe(statements.join(";\n")))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
