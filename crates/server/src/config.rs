//! The one typed configuration, read from the environment with defaults that work on a fresh machine.
//!
//! Connection URLs may carry passwords, so they are kept as [`SecretString`]: `Debug` (and so every
//! log line that prints the config) shows `[REDACTED]`, and only the code that connects exposes them.
//! Every URL is parsed with [`Url`] here, at start, so a typo fails before any connection is tried,
//! with the variable's name in the message.

use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone)]
pub struct Config {
    /// Postgres holding the event store and the read models; created at start if missing.
    pub database_url: SecretString,
    /// Upper bound of the connection pool, so a burst queues instead of exhausting the server.
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before it is refused as unavailable.
    pub database_acquire_timeout: Duration,
    /// While the database is failing or coming back, how long an API request or a WebSocket
    /// command waits for its answer before it answers 503 `timed_out`, however many database
    /// waits it queued behind.
    pub command_timeout: Duration,
    /// A read model behind the log for longer than this stops holding reads up (they answer from
    /// what it has) and makes `/readyz` fail until it catches up.
    pub read_model_max_lag: Duration,
    /// Redis for sessions, presence and rate limits.
    pub redis_url: SecretString,
    /// NATS with JetStream, the event bus between processes (one URL or a comma-separated list).
    pub nats_url: SecretString,
    /// Where the HTTP server listens (every role serves `/healthz` and `/readyz`).
    pub bind: SocketAddr,
    /// The origin browsers use to reach the service; cookie requests from other origins are refused.
    pub public_url: Url,
    /// PUBLIC_URL was not set: it defaults to BIND, and `localhost` is accepted beside 127.0.0.1.
    pub public_url_is_default: bool,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// A request head (line and headers) must arrive within this; also how long an idle
    /// keep-alive connection stays open.
    pub http_header_timeout: Duration,
    /// A request body must arrive within this.
    pub http_body_timeout: Duration,
    /// Per-user and per-address rate limits; `None` when `RATE_LIMITS=off` (load tests).
    pub rate_limits: Option<kv::RateLimits>,
    /// Mark the session cookie `Secure`; defaults to whether PUBLIC_URL is https.
    pub cookie_secure: bool,
    /// A session unused this long ends.
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, however active.
    pub session_max_age: Duration,
    /// Failed logins allowed per username, and per client address, within the window.
    /// Failed logins for one username from one address before that pair gets 429.
    pub login_failures_per_username_and_address: u32,
    /// Failed logins for one username (from anywhere) after which its logins are slowed.
    pub login_slowdown_after: u32,
    pub login_failures_per_address: u32,
    pub login_failure_window: Duration,
    /// Prepended to every Redis key, so deployments (or tests) can share one Redis.
    pub redis_key_prefix: String,
    /// Holds `node_modules/` with the front-end packages (installed by `npm ci` in `web/`).
    pub web_dir: PathBuf,
    /// The JetStream stream carrying events to gateways and the notifier.
    pub nats_stream: String,
    /// The first token of every NATS subject.
    pub nats_subject_prefix: String,
    /// A socket counts as open this long without its gateway's heartbeat; bounds how long a
    /// crashed gateway's users still look online.
    pub presence_ttl: Duration,
    /// How often gateways ping idle sockets.
    pub ws_ping_interval: Duration,
    /// A socket silent this long (no frame, no pong) is dropped.
    pub ws_idle_timeout: Duration,
    /// The admin listener for /metrics; `off` disables it.
    pub metrics_bind: Option<SocketAddr>,
    /// Proxies (addresses or networks) whose forwarded-client headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Unset: the Telegram bot and notifications are off.
    pub telegram_bot_token: Option<SecretString>,
    /// The Bot API server (Telegram's, a local Bot API server, or a test's fake).
    pub telegram_api_url: Url,
    /// The bot's username for t.me links; asked from Telegram (getMe) when unset.
    pub telegram_bot_username: Option<String>,
    /// Messages younger than this are not notified yet (the recipient may come online or read).
    pub notify_grace: Duration,
    /// At most one edit of a notification per this interval.
    pub notify_edit_interval: Duration,
    /// Long-polling timeout of the bot's getUpdates.
    pub telegram_poll_timeout: Duration,
    /// A group's members at most; every group command is decided with the current value.
    pub max_group_members: usize,
    /// Presence is announced among the members of groups of at most this many members.
    pub presence_max_group_members: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A variable that is set but cannot be used, named so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{variable}{} is invalid: {reason}", shown(value))]
pub struct ConfigError {
    pub variable: &'static str,
    /// `None` for a variable that may hold a password: the message goes to the terminal and logs.
    pub value: Option<String>,
    pub reason: String,
}

fn shown(value: &Option<String>) -> String {
    value
        .as_ref()
        .map_or_else(String::new, |value| format!("={value:?}"))
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads from any source of variables, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str, default: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let bind_raw = get("BIND", "127.0.0.1:8080");
        let bind: SocketAddr = bind_raw.parse().map_err(|e| ConfigError {
            variable: "BIND",
            value: Some(bind_raw.clone()),
            reason: format!("expected host:port ({e})"),
        })?;
        let public_url = parse_url(
            "PUBLIC_URL",
            &get("PUBLIC_URL", &format!("http://{bind}")),
            &["http", "https"],
        )?;
        let log_format = match get("LOG_FORMAT", "text").as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError {
                    variable: "LOG_FORMAT",
                    value: Some(other.to_owned()),
                    reason: "expected text or json".into(),
                })
            }
        };
        Ok(Self {
            database_url: secret_url(
                "DATABASE_URL",
                get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chat"),
                &["postgres", "postgresql"],
            )?,
            database_max_connections: parse_number(&get, "DATABASE_MAX_CONNECTIONS", "20")?,
            database_acquire_timeout: parse_duration(&get, "DATABASE_ACQUIRE_TIMEOUT_MS", "750")?,
            command_timeout: parse_duration(
                &get,
                "COMMAND_TIMEOUT_MS",
                &app::DEFAULT_ANSWER_WITHIN.as_millis().to_string(),
            )?,
            read_model_max_lag: parse_duration(&get, "READ_MODEL_MAX_LAG_MS", "3000")?,
            max_group_members: parse_number(&get, "MAX_GROUP_MEMBERS", "1000")?,
            presence_max_group_members: parse_number(&get, "PRESENCE_MAX_GROUP_MEMBERS", "100")?,
            redis_url: secret_url(
                "REDIS_URL",
                get("REDIS_URL", "redis://127.0.0.1:6379"),
                REDIS_SCHEMES,
            )?,
            nats_url: secret_url(
                "NATS_URL",
                get("NATS_URL", "nats://127.0.0.1:4222"),
                NATS_SCHEMES,
            )?,
            bind,
            public_url_is_default: lookup("PUBLIC_URL")
                .filter(|v| !v.trim().is_empty())
                .is_none(),
            log_format,
            shutdown_grace: parse_duration(&get, "SHUTDOWN_GRACE_SECS", "10")?,
            http_header_timeout: parse_duration(&get, "HTTP_HEADER_TIMEOUT_MS", "10000")?,
            http_body_timeout: parse_duration(&get, "HTTP_BODY_TIMEOUT_MS", "15000")?,
            rate_limits: parse_rate_limits(&get)?,
            cookie_secure: parse_bool(
                &get,
                "COOKIE_SECURE",
                if public_url.scheme() == "https" {
                    "true"
                } else {
                    "false"
                },
            )?,
            session_idle_timeout: parse_duration(&get, "SESSION_IDLE_TIMEOUT_SECS", "604800")?,
            session_max_age: parse_duration(&get, "SESSION_MAX_AGE_SECS", "2592000")?,
            login_failures_per_username_and_address: parse_number(
                &get,
                "LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS",
                "5",
            )?,
            login_slowdown_after: parse_number(&get, "LOGIN_SLOWDOWN_AFTER", "5")?,
            login_failures_per_address: parse_number(&get, "LOGIN_FAILURES_PER_ADDRESS", "20")?,
            login_failure_window: parse_duration(&get, "LOGIN_FAILURE_WINDOW_SECS", "900")?,
            redis_key_prefix: get("REDIS_KEY_PREFIX", "chat:"),
            nats_stream: get("NATS_STREAM", "CHAT"),
            nats_subject_prefix: get("NATS_SUBJECT_PREFIX", "chat"),
            presence_ttl: parse_duration(&get, "PRESENCE_TTL_MS", "60000")?,
            ws_ping_interval: parse_duration(&get, "WS_PING_MS", "25000")?,
            ws_idle_timeout: parse_duration(&get, "WS_IDLE_TIMEOUT_MS", "60000")?,
            telegram_bot_token: lookup("TELEGRAM_BOT_TOKEN")
                .filter(|v| !v.trim().is_empty())
                .map(SecretString::from),
            metrics_bind: match get("METRICS_BIND", "127.0.0.1:9090").as_str() {
                "off" => None,
                raw => Some(raw.parse().map_err(|e| ConfigError {
                    variable: "METRICS_BIND",
                    value: Some(raw.to_owned()),
                    reason: format!("expected host:port or off ({e})"),
                })?),
            },
            trusted_proxies: {
                let raw = get("TRUSTED_PROXIES", "");
                http_api::client::parse_trusted(&raw).map_err(|reason| ConfigError {
                    variable: "TRUSTED_PROXIES",
                    value: Some(raw.clone()),
                    reason,
                })?
            },
            telegram_api_url: parse_url(
                "TELEGRAM_API_URL",
                &get("TELEGRAM_API_URL", "https://api.telegram.org"),
                &["http", "https"],
            )?,
            telegram_bot_username: lookup("TELEGRAM_BOT_USERNAME").filter(|v| !v.trim().is_empty()),
            notify_grace: parse_duration(&get, "NOTIFY_GRACE_MS", "5000")?,
            notify_edit_interval: parse_duration(&get, "NOTIFY_EDIT_INTERVAL_MS", "3000")?,
            telegram_poll_timeout: parse_duration(&get, "TELEGRAM_POLL_TIMEOUT_SECS", "25")?,
            web_dir: lookup("WEB_DIR")
                .filter(|v| !v.trim().is_empty())
                .map_or_else(default_web_dir, PathBuf::from),
            public_url,
        })
    }
}

/// What the redis crate connects to (TCP, TLS, Unix sockets; Valkey's names too).
const REDIS_SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "unix",
    "redis+unix",
    "valkey",
    "valkeys",
    "valkey+unix",
];

/// What async-nats connects to.
const NATS_SCHEMES: &[&str] = &["nats", "tls", "ws", "wss"];

/// A URL with one of `schemes`, or an error naming `variable` and showing the value.
fn parse_url(variable: &'static str, raw: &str, schemes: &[&str]) -> Result<Url, ConfigError> {
    check_url(raw, schemes).map_err(|reason| ConfigError {
        variable,
        value: Some(raw.to_owned()),
        reason,
    })
}

/// Like [`parse_url`] for a URL that may carry a password: checked, kept secret, never echoed.
/// A comma-separated list is checked entry by entry (NATS takes several servers).
fn secret_url(
    variable: &'static str,
    raw: String,
    schemes: &[&str],
) -> Result<SecretString, ConfigError> {
    let raw = SecretString::from(raw);
    for entry in raw.expose_secret().split(',') {
        if let Err(reason) = check_url(entry.trim(), schemes) {
            return Err(ConfigError {
                variable,
                value: None,
                reason,
            });
        }
    }
    Ok(raw)
}

/// The reason never quotes the URL, so it is safe to show for secret ones.
fn check_url(raw: &str, schemes: &[&str]) -> Result<Url, String> {
    let expected = format!(
        "expected a URL starting with {}",
        schemes
            .iter()
            .map(|scheme| format!("{scheme}://"))
            .collect::<Vec<_>>()
            .join(" or ")
    );
    match Url::parse(raw) {
        Err(e) => Err(format!("{expected} ({e})")),
        Ok(url) if !schemes.contains(&url.scheme()) || url.cannot_be_a_base() => Err(expected),
        Ok(url) => Ok(url),
    }
}

impl Config {
    /// Origins allowed to send cookie-authenticated state-changing requests.
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut origins = vec![self.public_url.origin().ascii_serialization()];
        if self.public_url_is_default && self.bind.ip().is_loopback() {
            let mut localhost = self.public_url.clone();
            if localhost.set_host(Some("localhost")).is_ok() {
                origins.push(localhost.origin().ascii_serialization());
            }
        }
        origins
    }

    /// PUBLIC_URL without its trailing slash, for links made by appending a path to it.
    pub fn public_base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }
}

fn parse_bool(
    get: &impl Fn(&str, &str) -> String,
    variable: &'static str,
    default: &str,
) -> Result<bool, ConfigError> {
    match get(variable, default).to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(ConfigError {
            variable,
            value: Some(other.to_owned()),
            reason: "expected true or false".into(),
        }),
    }
}

/// `./web` when run from the repository root, else the checkout this binary was built from.
fn default_web_dir() -> PathBuf {
    let here = PathBuf::from("web");
    if here.join("package.json").exists() {
        here
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web"))
    }
}

/// `RATE_LIMITS=on|off`, and each limit's rate as `N/s`, `N/min`, `N/hour` or `N/day`.
fn parse_rate_limits(
    get: &impl Fn(&str, &str) -> String,
) -> Result<Option<kv::RateLimits>, ConfigError> {
    match get("RATE_LIMITS", "on").to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => {}
        "off" | "false" | "0" => return Ok(None),
        other => {
            return Err(ConfigError {
                variable: "RATE_LIMITS",
                value: Some(other.to_owned()),
                reason: "expected on or off".into(),
            })
        }
    }
    let defaults = kv::RateLimits::default();
    let rate = |variable: &'static str, default: kv::Rate| {
        let raw = get(variable, "");
        if raw.trim().is_empty() {
            return Ok(default);
        }
        kv::Rate::parse(&raw).ok_or(ConfigError {
            variable,
            value: Some(raw),
            reason: "expected a rate such as 30/min (per s, min, hour or day)".into(),
        })
    };
    Ok(Some(kv::RateLimits {
        register: rate("RATE_LIMIT_REGISTER", defaults.register)?,
        send: rate("RATE_LIMIT_SEND", defaults.send)?,
        start: rate("RATE_LIMIT_START", defaults.start)?,
        lookup: rate("RATE_LIMIT_LOOKUP", defaults.lookup)?,
        search: rate("RATE_LIMIT_SEARCH", defaults.search)?,
        link: rate("RATE_LIMIT_LINK", defaults.link)?,
    }))
}

/// A duration in the unit its variable's name ends with (`_MS` or `_SECS`), so the two never
/// disagree.
fn parse_duration(
    get: &impl Fn(&str, &str) -> String,
    variable: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let amount: u64 = parse_number(get, variable, default)?;
    if variable.ends_with("_MS") {
        Ok(Duration::from_millis(amount))
    } else {
        debug_assert!(variable.ends_with("_SECS"), "{variable} names no unit");
        Ok(Duration::from_secs(amount))
    }
}

fn parse_number<T: std::str::FromStr>(
    get: &impl Fn(&str, &str) -> String,
    variable: &'static str,
    default: &str,
) -> Result<T, ConfigError> {
    let value = get(variable, default);
    value.parse().map_err(|_| ConfigError {
        variable,
        reason: "expected a whole number".into(),
        value: Some(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_work_on_a_fresh_machine() {
        let config = config(&[]).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_base(), "http://127.0.0.1:8080");
        assert_eq!(
            config.database_url.expose_secret(),
            "postgres://postgres@127.0.0.1:5432/chat"
        );
        assert_eq!(config.redis_url.expose_secret(), "redis://127.0.0.1:6379");
        assert_eq!(config.nats_url.expose_secret(), "nats://127.0.0.1:4222");
        assert_eq!(
            config.telegram_api_url.as_str(),
            "https://api.telegram.org/"
        );
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(!config.cookie_secure);
        assert!(config.web_dir.join("package.json").exists());
    }

    #[test]
    fn cookies_are_secure_by_default_behind_https() {
        let config = config(&[("PUBLIC_URL", "https://chat.example.org")]).unwrap();
        assert!(config.cookie_secure);
        let config = config_with_override();
        assert!(!config.cookie_secure);
    }

    fn config_with_override() -> Config {
        config(&[
            ("PUBLIC_URL", "https://chat.example.org"),
            ("COOKIE_SECURE", "false"),
        ])
        .unwrap()
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (variable, value) in [
            ("BIND", "localhost"),
            ("LOG_FORMAT", "xml"),
            ("DATABASE_MAX_CONNECTIONS", "many"),
            ("PUBLIC_URL", "example.com"),
            ("PUBLIC_URL", "ftp://chat.example.org"),
            ("DATABASE_URL", "127.0.0.1:5432/chat"),
            ("DATABASE_URL", "mysql://root@127.0.0.1/chat"),
            ("REDIS_URL", "127.0.0.1:6379"),
            ("NATS_URL", "nats://127.0.0.1:4222,localhost"),
            ("NATS_URL", "http://127.0.0.1:4222"),
            ("TELEGRAM_API_URL", "api.telegram.org"),
            ("SHUTDOWN_GRACE_SECS", "-1"),
            ("COOKIE_SECURE", "maybe"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("SESSION_MAX_AGE_SECS", "1d"),
        ] {
            let err = config(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable);
            assert!(err.to_string().contains(variable));
        }
    }

    #[test]
    fn a_default_public_url_also_accepts_localhost() {
        let default = config(&[]).unwrap();
        assert_eq!(
            default.allowed_origins(),
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        let set = config(&[("PUBLIC_URL", "https://chat.example.org")]).unwrap();
        assert_eq!(set.allowed_origins(), ["https://chat.example.org"]);
    }

    #[test]
    fn the_public_url_loses_its_trailing_slash() {
        let root = config(&[("PUBLIC_URL", "https://chat.example.org/")]).unwrap();
        assert_eq!(root.public_base(), "https://chat.example.org");
        let path = config(&[("PUBLIC_URL", "https://example.org/chat/")]).unwrap();
        assert_eq!(path.public_base(), "https://example.org/chat");
    }

    #[test]
    fn connection_urls_stay_out_of_debug_output_and_errors() {
        let config = config(&[
            ("DATABASE_URL", "postgres://chat:hunter2@db:5432/chat"),
            ("REDIS_URL", "redis://:hunter3@redis:6379"),
            ("NATS_URL", "nats://user:hunter4@nats:4222"),
            ("TELEGRAM_BOT_TOKEN", "123:hunter5"),
        ])
        .unwrap();
        let printed = format!("{config:?}");
        for secret in ["hunter2", "hunter3", "hunter4", "hunter5"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        let err = config_error("DATABASE_URL", "postgres://chat:hunter2@db:port/chat");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("DATABASE_URL"), "{err}");
    }

    fn config_error(variable: &str, value: &str) -> String {
        config(&[(variable, value)]).unwrap_err().to_string()
    }

    #[test]
    fn several_nats_servers_are_accepted() {
        let config = config(&[("NATS_URL", "nats://a:4222, nats://b:4222")]).unwrap();
        assert_eq!(
            config.nats_url.expose_secret(),
            "nats://a:4222, nats://b:4222"
        );
    }

    #[test]
    fn other_databases_and_redis_forms_are_accepted() {
        for (variable, value) in [
            ("DATABASE_URL", "postgresql://chat@db/chat?sslmode=require"),
            ("REDIS_URL", "rediss://redis:6380/1"),
            ("REDIS_URL", "unix:///run/redis.sock"),
        ] {
            assert!(config(&[(variable, value)]).is_ok(), "{variable}={value}");
        }
    }
}
