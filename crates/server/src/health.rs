//! `/healthz` says the process is up; `/readyz` says whether it can do its work right now: its
//! dependencies answer, and (API role) the history read model its reads wait for is not stalled.
//!
//! Orchestrators restart on a failing liveness check but only stop routing on a failing readiness
//! check, so `/healthz` never looks at dependencies: a Postgres outage must not restart every process.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::future::Future;
use std::time::Duration;

/// How long one dependency may take to answer before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (postgres, redis, nats, history) = tokio::join!(
        check(async {
            sqlx::query("SELECT 1")
                .execute(state.store.pool())
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        check(async {
            let mut conn = state
                .redis
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| e.to_string())?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        check(async {
            match state.nats.connection_state() {
                async_nats::connection::State::Connected => Ok(()),
                other => Err(format!("connection is {other}")),
            }
        }),
        check(async {
            let Some(watch) = &state.read_model else {
                return Ok(());
            };
            match watch.stalled().await {
                Ok(None) => Ok(()),
                Ok(Some(stalled)) => Err(format!(
                    "stalled: {} events behind for {:.1} s",
                    stalled.waiting_for - stalled.position,
                    stalled.since.as_secs_f64()
                )),
                Err(error) => Err(error.to_string()),
            }
        }),
    );
    let mut checks = vec![("postgres", postgres), ("redis", redis), ("nats", nats)];
    if state.read_model.is_some() {
        checks.push(("history", history));
    }
    let down: Vec<&str> = checks
        .iter()
        .filter(|(_, result)| result.is_err())
        .map(|(name, _)| *name)
        .collect();
    let details: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|(name, result)| {
            let value = match result {
                Ok(()) => json!("ok"),
                Err(reason) => json!(reason),
            };
            ((*name).to_owned(), value)
        })
        .collect();
    if down.is_empty() {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "checks": details })),
        )
    } else {
        tracing::warn!(?down, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "down": down, "checks": details })),
        )
    }
}

async fn check(probe: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(CHECK_TIMEOUT, probe)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")))
}
