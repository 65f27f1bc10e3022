//! Building the application (database ready, clients made, socket bound) and running it.

use crate::roles::Role;
use crate::state::AppState;
use crate::ws::{self, WsState};
use crate::{health, Config};
use anyhow::Context;
use app::{Accounts, Conversations, HashCost, PasswordHasher};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use bus::{Bus, BusConfig};
use eventstore::{Appender, AppenderOptions, EventStore};
use gateway::{Gateway, GatewayDeps, GatewaySettings};
use http_api::ratelimit::{LoginLimiter, LoginLimits};
use http_api::session::{SessionPolicy, SessionStore};
use http_api::{ApiSettings, Kv, TelegramBot};
use kv::Presence;
use notifier::telegram::Telegram;
use notifier::{Notifier, NotifierConfig};
use projections::directory::Directory;
use projections::history::History;
use projections::telegram::TelegramLinks;
use projections::{Projection, ProjectionWatch};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub struct Application {
    listener: TcpListener,
    /// The admin listener serving /metrics (METRICS_BIND), if enabled.
    metrics_listener: Option<TcpListener>,
    router: Router,
    state: AppState,
    roles: Vec<Role>,
    /// Stops the background tasks (projection watch, role tasks) once the server has drained.
    tasks_stop: CancellationToken,
    /// Stops the appender after the last request that could append has finished.
    appender_stop: CancellationToken,
    tasks: JoinSet<()>,
    /// Present when TELEGRAM_BOT_TOKEN is set.
    notifier: Option<Notifier>,
}

impl Application {
    /// Prepares the database, connects the clients and binds `config.bind` (port 0 picks a free one).
    pub async fn build(config: Config, roles: Vec<Role>) -> anyhow::Result<Self> {
        if config.metrics_bind.is_some() {
            crate::metrics::handle();
        }
        let pool = prepare_database(&config).await?;
        let redis = redis::Client::open(config.redis_url.expose_secret())
            .with_context(|| "REDIS_URL is not a valid Redis URL")?;
        let nats = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(config.nats_url.expose_secret())
            .await
            .with_context(|| "NATS_URL is not a valid NATS URL")?;
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let metrics_listener = match config.metrics_bind {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot listen on METRICS_BIND {address}"))?,
            ),
            None => None,
        };
        projections::ensure_schema::<History>(&pool)
            .await
            .context("cannot create the history read model's schema")?;
        projections::ensure_schema::<TelegramLinks>(&pool)
            .await
            .context("cannot create the telegram read model's schema")?;
        projections::ensure_schema::<Directory>(&pool)
            .await
            .context("cannot create the user directory read model's schema")?;
        let telegram = match &config.telegram_bot_token {
            Some(token) => Some(Telegram::new(
                token.expose_secret(),
                config.telegram_api_url.clone(),
            )),
            None => None,
        };
        let store = EventStore::new(pool);
        let tasks_stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let telegram_bot =
            bot_username(&config, telegram.as_ref(), &mut tasks, tasks_stop.clone()).await;
        let appender_stop = CancellationToken::new();
        let (appender, appender_task) = Appender::start(
            store.clone(),
            AppenderOptions::default(),
            appender_stop.clone(),
        );
        tasks.spawn(async move {
            let _ = appender_task.await;
        });
        // Only the API reads the history model (and waits for it); other roles hold no listener.
        let history = if roles.contains(&Role::Api) {
            let (history, watch_task) = ProjectionWatch::start(
                store.pool().clone(),
                History::NAME,
                config.read_model_max_lag,
                tasks_stop.clone(),
            );
            tasks.spawn(async move {
                let _ = watch_task.await;
            });
            history
        } else {
            ProjectionWatch::detached(store.pool().clone(), config.read_model_max_lag)
        };
        let kv = Kv::new(redis.clone(), &config.redis_key_prefix);
        let presence = Presence::new(kv.clone(), config.presence_ttl);
        let api = api_state(
            &config,
            store.clone(),
            appender,
            kv.clone(),
            presence.clone(),
            history.clone(),
            telegram_bot,
        )
        .await?;
        let bus = Bus::new(
            nats.clone(),
            BusConfig {
                stream: config.nats_stream.clone(),
                prefix: config.nats_subject_prefix.clone(),
                ..BusConfig::default()
            },
        );
        let notifier = telegram.map(|telegram| Notifier {
            telegram,
            store: store.clone(),
            accounts: api.accounts.clone(),
            conversations: api.conversations.clone(),
            presence: presence.clone(),
            kv: kv.clone(),
            bus: bus.clone(),
            config: Arc::new(NotifierConfig {
                grace: config.notify_grace,
                edit_interval: config.notify_edit_interval,
                poll_timeout: config.telegram_poll_timeout,
                public_url: config.public_base().to_owned(),
            }),
        });
        let gateway = if roles.contains(&Role::Api) {
            let (gateway, gateway_tasks) = Gateway::start(
                GatewayDeps {
                    store: store.clone(),
                    bus: bus.clone(),
                    history,
                    conversations: api.conversations.clone(),
                    presence,
                    rate: api.rate.clone(),
                    kv,
                    settings: GatewaySettings {
                        ping_interval: config.ws_ping_interval,
                        idle_timeout: config.ws_idle_timeout,
                        presence_max_group_members: config.presence_max_group_members,
                        ..GatewaySettings::default()
                    },
                },
                tasks_stop.clone(),
            );
            tasks.spawn(async move {
                gateway_tasks.join_all().await;
            });
            Some(gateway)
        } else {
            None
        };
        let state = AppState {
            read_model: roles.contains(&Role::Api).then(|| api.history.clone()),
            config: Arc::new(config),
            store,
            redis,
            nats,
            api,
            bus,
        };
        let router = router(state.clone(), &roles, gateway);
        Ok(Self {
            listener,
            metrics_listener,
            router,
            state,
            roles,
            tasks_stop,
            appender_stop,
            tasks,
            notifier,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The port of the /metrics listener, if enabled.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish within the grace.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let roles: Vec<&str> = self.roles.iter().map(Role::as_str).collect();
        tracing::info!(
            address = %self.listener.local_addr()?,
            roles = %roles.join(","),
            "chatd listening"
        );
        let mut tasks = self.tasks;
        if let (Some(listener), Some(handle)) = (self.metrics_listener, crate::metrics::handle()) {
            let stop = self.tasks_stop.clone();
            tasks.spawn(async move {
                let serve = axum::serve(listener, crate::metrics::router(handle))
                    .with_graceful_shutdown(stop.cancelled_owned());
                if let Err(error) = serve.await {
                    tracing::error!(%error, "metrics listener failed");
                }
            });
        }
        // Sockets and background tasks stop with the first signal, while HTTP requests drain.
        let stop = self.tasks_stop.clone();
        let signal = shutdown.clone();
        tasks.spawn(async move {
            tokio::select! {
                () = signal.cancelled() => stop.cancel(),
                () = stop.cancelled() => {}
            }
        });
        tasks.spawn(crate::stall::watch(self.tasks_stop.clone()));
        if self.roles.contains(&Role::Publisher) {
            tasks.spawn(bus::run_publisher(
                self.state.store.clone(),
                self.state.bus.clone(),
                self.tasks_stop.clone(),
            ));
        }
        if self.roles.contains(&Role::Projector) {
            tasks.spawn(projections::run(
                self.state.store.clone(),
                History,
                self.tasks_stop.clone(),
            ));
            tasks.spawn(projections::run(
                self.state.store.clone(),
                TelegramLinks,
                self.tasks_stop.clone(),
            ));
            tasks.spawn(projections::run(
                self.state.store.clone(),
                Directory,
                self.tasks_stop.clone(),
            ));
        }
        if self.roles.contains(&Role::Notifier) {
            match self.notifier {
                Some(notifier) => {
                    let notifier_tasks = notifier.start(self.tasks_stop.clone());
                    tasks.spawn(async move {
                        notifier_tasks.join_all().await;
                    });
                }
                None => tracing::info!(
                    "TELEGRAM_BOT_TOKEN is not set: the Telegram bot and notifications are off"
                ),
            }
        }
        let grace = self.state.config.shutdown_grace;
        let header_timeout = self.state.config.http_header_timeout;
        crate::serve::serve(self.listener, self.router, header_timeout, shutdown, grace).await;
        self.tasks_stop.cancel();
        // Commands already queued (a socket's sends in flight) are stored before the appender stops.
        let drained = tokio::time::timeout(grace, self.state.api.conversations.idle()).await;
        if drained.is_err() {
            tracing::warn!("queued commands still running after the grace period");
        }
        self.appender_stop.cancel();
        while tasks.join_next().await.is_some() {}
        self.state.store.pool().close().await;
        tracing::info!("chatd stopped");
        Ok(())
    }
}

/// Creates the database if missing and applies migrations (also the `chatd migrate` subcommand).
pub async fn prepare_database(config: &Config) -> anyhow::Result<PgPool> {
    eventstore::create_database_if_missing(config.database_url.expose_secret())
        .await
        .context("cannot reach Postgres at DATABASE_URL or create its database")?;
    let pool = eventstore::connect(
        config.database_url.expose_secret(),
        config.database_max_connections,
        config.database_acquire_timeout,
    )
    .await
    .context("cannot connect to Postgres at DATABASE_URL")?;
    eventstore::migrate(&pool)
        .await
        .context("cannot apply database migrations")?;
    Ok(pool)
}

fn router(state: AppState, roles: &[Role], gateway: Option<Gateway>) -> Router {
    let body_timeout = state.config.http_body_timeout;
    // Served over https (PUBLIC_URL, COOKIE_SECURE): browsers must never fall back to http.
    let hsts = state
        .config
        .cookie_secure
        .then(|| axum::http::HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    let mut router = Router::new()
        .merge(health::router())
        .fallback(not_found)
        .with_state(state.clone());
    if roles.contains(&Role::Api) {
        router = router
            .merge(http_api::router(state.api.clone()))
            .merge(web::router(state.api.clone()));
    }
    if let Some(gateway) = gateway {
        router = router.merge(ws::router(WsState {
            app: state,
            gateway,
        }));
    }
    let router = match hsts {
        Some(value) => router.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            value,
        )),
        None => router,
    };
    router
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .layer(axum::middleware::from_fn(
            http_api::limits::refuse_oversized,
        ))
        // Outside every face and early refusal (the 413 above), so nothing escapes it.
        .layer(axum::middleware::map_response(
            http_api::headers::every_answer,
        ))
        .layer(axum::middleware::from_fn(crate::metrics::track))
}

async fn api_state(
    config: &Config,
    store: EventStore,
    appender: Appender,
    kv: Kv,
    presence: Presence,
    history: ProjectionWatch,
    telegram_bot: TelegramBot,
) -> anyhow::Result<http_api::ApiState> {
    if config.rate_limits.is_none() {
        tracing::warn!("RATE_LIMITS=off: registrations, sends and look-ups are not rate limited");
    }
    // Hashing the timing-equalizing dummy password is CPU work: keep it off the runtime.
    let hasher = tokio::task::spawn_blocking(|| PasswordHasher::new(HashCost::default()))
        .await
        .context("password hasher setup panicked")??;
    let accounts = Accounts::new(store.clone(), appender.clone(), hasher);
    Ok(http_api::ApiState::new(http_api::ApiParts {
        conversations: Conversations::new(store.clone(), appender, accounts.clone())
            .with_max_group_members(config.max_group_members)
            .answering_within(config.command_timeout),
        history,
        presence,
        pool: store.pool().clone(),
        accounts,
        sessions: SessionStore::new(
            kv.clone(),
            SessionPolicy {
                idle_timeout: config.session_idle_timeout,
                absolute_lifetime: config.session_max_age,
            },
        ),
        rate: kv::RateLimiter::new(kv.clone(), config.rate_limits),
        limiter: LoginLimiter::new(
            kv,
            LoginLimits {
                per_username_and_address: config.login_failures_per_username_and_address,
                per_address: config.login_failures_per_address,
                username_slowdown_after: config.login_slowdown_after,
                window: config.login_failure_window,
                ..LoginLimits::default()
            },
        ),
        settings: Arc::new(ApiSettings {
            allowed_origins: config.allowed_origins(),
            cookie_secure: config.cookie_secure,
            web_dir: config.web_dir.clone(),
            telegram_bot,
            trusted_proxies: config.trusted_proxies.clone(),
            telegram_link_ttl: std::time::Duration::from_secs(10 * 60),
        }),
    }))
}

/// An unknown address: a browser finding its way (it asks for HTML, outside the API) gets the
/// web page's "not found" page, with a way back; everyone else the API's JSON error.
async fn not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    let wants_page = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_page && !uri.path().starts_with("/api/") {
        return web::not_found_page().await;
    }
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({
            "error": { "code": "not_found", "message": "no such endpoint" }
        })),
    )
        .into_response()
}

/// The bot's username for t.me links: configured, or asked from Telegram at start and, if it does
/// not answer, again in the background (1 s, doubling to a minute) until it does: linking turns
/// on then, without a restart.
async fn bot_username(
    config: &Config,
    telegram: Option<&Telegram>,
    tasks: &mut JoinSet<()>,
    stop: CancellationToken,
) -> TelegramBot {
    let Some(telegram) = telegram else {
        return TelegramBot::off();
    };
    if let Some(username) = &config.telegram_bot_username {
        return TelegramBot::known(username.clone());
    }
    let bot = TelegramBot::awaiting_username();
    if ask_username(telegram, &bot).await {
        return bot;
    }
    tracing::warn!("linking Telegram chats is off until the Bot API answers getMe; retrying");
    let (telegram, learned) = (telegram.clone(), bot.clone());
    tasks.spawn(async move {
        let mut delay = std::time::Duration::from_secs(1);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            if ask_username(&telegram, &learned).await {
                tracing::info!("the Telegram Bot API answered; linking is on");
                return;
            }
            delay = (delay * 2).min(std::time::Duration::from_secs(60));
        }
    });
    bot
}

/// One `getMe`; true once the username is known.
async fn ask_username(telegram: &Telegram, bot: &TelegramBot) -> bool {
    match tokio::time::timeout(std::time::Duration::from_secs(5), telegram.username()).await {
        Ok(Ok(username)) if !username.is_empty() => {
            bot.learn(username);
            true
        }
        Ok(Ok(_)) => {
            tracing::error!("the Telegram bot has no username; linking stays off");
            false
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot reach the Telegram Bot API (getMe)");
            false
        }
        Err(_) => {
            tracing::warn!("the Telegram Bot API did not answer getMe");
            false
        }
    }
}
