//! What the API's handlers share.

use crate::ratelimit::LoginLimiter;
use crate::session::SessionStore;
use app::{Accounts, Conversations};
use projections::ProjectionWatch;
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone)]
pub struct ApiState {
    /// Registration, login checks and profiles (event store).
    pub accounts: Accounts,
    /// Conversation commands (event store).
    pub conversations: Conversations,
    /// How far the history read model has got, for read-your-writes.
    pub history: ProjectionWatch,
    /// For queries on the read models.
    pub pool: PgPool,
    /// Sessions (Redis).
    pub sessions: SessionStore,
    /// Who is online (Redis), for profiles.
    pub presence: kv::Presence,
    /// Login failure counters (Redis).
    pub limiter: LoginLimiter,
    pub settings: Arc<ApiSettings>,
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `scheme://host[:port]` of PUBLIC_URL (and, when PUBLIC_URL is left to its loopback default,
    /// the same port on `localhost`): the only origins allowed to send cookie-authenticated
    /// state-changing requests.
    pub allowed_origins: Vec<String>,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub cookie_secure: bool,
    /// Holds `node_modules/` with the front-end packages served locally (Swagger UI, htmx).
    pub web_dir: PathBuf,
    /// The Telegram bot's username for t.me links; `None` when Telegram is off or unreachable.
    pub telegram_bot: Option<String>,
    /// Proxies whose X-Real-IP / X-Forwarded-For name the client (nginx).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a Telegram link token stays valid.
    pub telegram_link_ttl: std::time::Duration,
}
