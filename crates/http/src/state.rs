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

/// The origin part of a URL: scheme, host and port, no path.
pub fn origin_of(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    match trimmed.find("://") {
        Some(i) => match trimmed[i + 3..].find('/') {
            Some(slash) => trimmed[..i + 3 + slash].to_owned(),
            None => trimmed.to_owned(),
        },
        None => trimmed.to_owned(),
    }
    .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins_drop_the_path_and_case() {
        assert_eq!(
            origin_of("https://Chat.example.org/app/"),
            "https://chat.example.org"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
