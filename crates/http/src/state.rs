//! What the API's handlers share.

use crate::ratelimit::LoginLimiter;
use crate::session::SessionStore;
use app::{Accounts, Conversations};
use projections::ProjectionWatch;
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;

/// What the API's handlers share, behind one `Arc`: every `State` extractor and middleware clones
/// it per request, and cloning the parts themselves (each a few handles of its own) cost a few
/// points of CPU at saturation in a profile.
#[derive(Clone)]
pub struct ApiState(Arc<ApiParts>);

impl ApiState {
    pub fn new(parts: ApiParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for ApiState {
    type Target = ApiParts;

    fn deref(&self) -> &ApiParts {
        &self.0
    }
}

pub struct ApiParts {
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
    /// Rate limits on registrations, sends, starts, look-ups and link requests (Redis).
    pub rate: kv::RateLimiter,
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
    /// The Telegram bot's username for t.me links, once known.
    pub telegram_bot: TelegramBot,
    /// Proxies whose X-Real-IP / X-Forwarded-For name the client (nginx).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a Telegram link token stays valid.
    pub telegram_link_ttl: std::time::Duration,
}

/// The bot's username for t.me links: unknown while Telegram is off, or until the Bot API first
/// answers `getMe` (asked again in the background until it does, so a Telegram hiccup at start
/// does not leave linking off until a restart). Shared, so the answer reaches every handler.
#[derive(Debug, Clone, Default)]
pub struct TelegramBot {
    username: Arc<std::sync::OnceLock<String>>,
    /// A bot token is set: linking is a feature of this server, even while the Bot API is
    /// unreachable.
    configured: bool,
}

impl TelegramBot {
    /// Telegram is not set up on this server.
    pub fn off() -> Self {
        Self::default()
    }

    /// Set up; the username comes with the Bot API's first answer ([`TelegramBot::learn`]).
    pub fn awaiting_username() -> Self {
        Self {
            configured: true,
            ..Self::default()
        }
    }

    /// Set up, with its username given.
    pub fn known(username: String) -> Self {
        let bot = Self::awaiting_username();
        bot.learn(username);
        bot
    }

    /// Records the username; the first one stays.
    pub fn learn(&self, username: String) {
        let _ = self.username.set(username);
    }

    pub fn username(&self) -> Option<&str> {
        self.username.get().map(String::as_str)
    }

    pub fn configured(&self) -> bool {
        self.configured
    }
}
