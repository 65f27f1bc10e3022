//! The WebSocket gateway: every connected device of a user receives the user's events, live and in
//! order, and a reconnecting client gets what it missed without gap or duplicate.
//!
//! Durable frames come from JetStream (one ordered consumer per gateway process; each event names
//! its recipients and goes to the sockets of those connected here) and carry the event's global
//! position as `cursor`. Typing and presence are ephemeral, over core NATS. Gateways share nothing but NATS, Redis and Postgres, so any number
//! can run side by side.

mod announce;
mod client;
mod connection;
mod cursor;
pub mod hub;
mod live;
mod resume;

use app::Conversations;
use bus::Bus;
use eventstore::EventStore;
use hub::Hub;
use kv::{Kv, Presence};
use projections::ProjectionWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Close code telling a client to reconnect and resume from its last cursor (its queue overflowed
/// or the gateway is going away).
pub const CLOSE_RESUME: u16 = 4008;

#[derive(Debug, Clone, Copy)]
pub struct GatewaySettings {
    /// How often the server pings; keeps idle connections alive through proxies.
    pub ping_interval: Duration,
    /// A peer silent this long (no frame, no pong) is dropped.
    pub idle_timeout: Duration,
    /// At most one typing notice per user and conversation in this interval.
    pub typing_interval: Duration,
    /// A member's presence is announced to the other members of their groups of at most this
    /// many members (and always to a pair's peer): in a bigger group every coming and going
    /// would be a frame to each of the others.
    pub presence_max_group_members: usize,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
            typing_interval: Duration::from_secs(2),
            presence_max_group_members: 100,
        }
    }
}

/// Everything a gateway needs, built by the binary.
pub struct GatewayDeps {
    pub store: EventStore,
    pub bus: Bus,
    pub history: ProjectionWatch,
    pub conversations: Conversations,
    pub presence: Presence,
    pub kv: Kv,
    /// The same limits as the API's: a WebSocket `send` counts against the user's send rate.
    pub rate: kv::RateLimiter,
    pub settings: GatewaySettings,
}

#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    deps: GatewayDeps,
    hub: Hub,
    /// Names this process's sockets in the presence model.
    instance: String,
    /// Cancelled once the live feed follows JetStream; sockets wait for it, so none can miss an
    /// event published between its backlog and the feed's start.
    live_ready: CancellationToken,
    shutdown: CancellationToken,
}

impl Gateway {
    /// Starts the live feed, the ephemeral feed and the presence heartbeat and sweep.
    pub fn start(deps: GatewayDeps, shutdown: CancellationToken) -> (Self, JoinSet<()>) {
        let gateway = Self {
            inner: Arc::new(Inner {
                deps,
                hub: Hub::default(),
                instance: uuid::Uuid::new_v4().simple().to_string(),
                live_ready: CancellationToken::new(),
                shutdown: shutdown.clone(),
            }),
        };
        let mut tasks = JoinSet::new();
        for task in [
            live::Task::Durable,
            live::Task::Ephemeral,
            live::Task::Heartbeat,
            live::Task::Sweep,
            live::Task::Sessions,
        ] {
            let gateway = gateway.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = live::run(gateway, task) => {}
                }
            });
        }
        (gateway, tasks)
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    fn deps(&self) -> &GatewayDeps {
        &self.inner.deps
    }

    fn presence_key(&self, socket: u64) -> String {
        format!("{}:{socket}", self.inner.instance)
    }
}

pub use connection::{serve, CLOSE_SESSION_ENDED};
