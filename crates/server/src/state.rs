//! The state every HTTP handler shares: cheap to clone, every field a handle around an `Arc`.

use crate::Config;
use eventstore::EventStore;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    /// Validated configuration, read once at start.
    pub config: Arc<Config>,
    /// The event store, and through it the Postgres pool the read models use too.
    pub store: EventStore,
    /// Redis; connections are made per use until sessions need a shared one.
    pub redis: redis::Client,
    /// NATS; connects (and reconnects) in the background, so a down bus does not stop the start.
    pub nats: async_nats::Client,
    /// What the JSON API's handlers share (accounts, sessions, login limits).
    pub api: http_api::ApiState,
    /// The event bus (JetStream and core NATS) with this deployment's stream and prefix.
    pub bus: bus::Bus,
    /// The read model this process serves reads from (API role), whose lag readiness reports.
    pub read_model: Option<projections::ProjectionWatch>,
}
