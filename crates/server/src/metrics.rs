//! Prometheus metrics: one recorder per process, an HTTP middleware counting requests by route and
//! status with latency histograms, and `/metrics` on a separate admin listener (METRICS_BIND), so it
//! is never exposed through the public front.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Latency buckets in seconds: from a cache hit to a slow password hash.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process's recorder, installed on first use (tests build several applications per process).
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .map_err(|e| tracing::error!(%e, "invalid metrics buckets"))
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::error!(%error, "cannot install the metrics recorder");
                    None
                }
            }
        })
        .clone()
}

/// Counts every request by method, matched route (not the raw path: ids would explode the label
/// set) and status, and observes its latency.
///
/// A 503 also says how long the server tried before giving up (`Server-Timing: app;dur=<ms>`):
/// "fail fast while a dependency is down" is a promise about the server, and a client on a busy
/// machine cannot tell its own delays from the server's without it.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if response.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE {
        let took = started.elapsed();
        let failure = response.extensions().get::<http_api::error::Failure>();
        let code = failure.map_or("unavailable", |f| f.code);
        // A 503 is promised within a second: one that was not says why, for whoever looks.
        if took > Duration::from_secs(1) {
            let cause = failure.and_then(|f| f.cause.as_deref()).unwrap_or("");
            tracing::warn!(route = %route, code, cause, took_ms = took.as_millis() as u64, "a 503 took over a second");
        }
        let timing = format!("app;dur={:.1};desc={code}", took.as_secs_f64() * 1000.0);
        if let Ok(value) = axum::http::HeaderValue::from_str(&timing) {
            response.headers_mut().insert("server-timing", value);
        }
    }
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

pub fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    handle.render(),
                )
            }
        }),
    )
}
