//! Fixtures of the Telegram tests: the service pointed at the fake Bot API, users who link their
//! chat the way a person does, and what the notifier decided about each message.

use super::fake_telegram::{FakeTelegram, BOT_USERNAME};
use super::{spawn_app_with_roles, ApiUser, TestApp};
use serde_json::{json, Value};
use server::Role;
use std::time::Duration;

/// How long the bot and the notifier get for anything (a poll, a grace delay, a retry).
pub const WAIT: Duration = Duration::from_secs(15);
/// Bob's private chat with the bot.
pub const BOB_CHAT: i64 = 555;

/// The service running `roles`, its bot talking to `fake`, with short delays.
pub async fn telegram_app(fake: &FakeTelegram, roles: &[Role]) -> anyhow::Result<TestApp> {
    spawn_app_with_roles(
        &[
            ("TELEGRAM_BOT_TOKEN", "123456:TEST"),
            ("TELEGRAM_API_URL", fake.url.as_str()),
            ("TELEGRAM_POLL_TIMEOUT_SECS", "1"),
            ("NOTIFY_GRACE_MS", "300"),
            ("NOTIFY_EDIT_INTERVAL_MS", "1000"),
        ],
        roles,
    )
    .await
}

impl ApiUser {
    /// Sends `body` to user `to`; the stored message.
    pub async fn send_to(&self, to: &str, body: &str) -> anyhow::Result<Value> {
        let client_id = uuid::Uuid::new_v4().to_string();
        let (status, sent) = self
            .post(
                "/api/v1/messages",
                json!({"to": to, "body": body, "client_id": client_id}),
            )
            .await?;
        anyhow::ensure!(status == 201, "send: {status} {sent}");
        Ok(sent["message"].clone())
    }

    /// Marks the conversation of `message` read up to `up_to`.
    pub async fn read(&self, message: &Value, up_to: i64) -> anyhow::Result<()> {
        let conversation = message["conversation_id"].as_str().unwrap_or_default();
        self.read_up_to(conversation, up_to).await
    }

    pub async fn telegram_linked(&self) -> anyhow::Result<bool> {
        let (status, me) = self.get("/api/v1/me").await?;
        anyhow::ensure!(status == 200, "me: {status} {me}");
        Ok(me["telegram"]["linked"] == true)
    }

    /// A one-time link from the API: the token its `/start` carries.
    pub async fn telegram_start_token(&self) -> anyhow::Result<String> {
        let (status, link) = self
            .call(reqwest::Method::POST, "/api/v1/telegram/link", None)
            .await?;
        anyhow::ensure!(status == 200, "link: {status} {link}");
        anyhow::ensure!(link["expires_at"].is_string(), "a link expires: {link}");
        let url = link["url"].as_str().unwrap_or_default();
        url.strip_prefix(&format!("https://t.me/{BOT_USERNAME}?start="))
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("unexpected link {url}"))
    }

    /// Links Telegram chat `chat` the way a person does: the link from the API, /start in the
    /// bot; the bot's answer.
    pub async fn link_telegram(&self, fake: &FakeTelegram, chat: i64) -> anyhow::Result<String> {
        let token = self.telegram_start_token().await?;
        fake.answer_to(chat, &format!("/start {token}"), WAIT).await
    }
}

/// The service with a fake Bot API, and alice and bob, bob with his chat linked.
pub struct Linked {
    pub fake: FakeTelegram,
    pub app: TestApp,
    pub alice: ApiUser,
    pub bob: ApiUser,
    /// The bot's messages in bob's chat before any notification (the answer to linking).
    answers: usize,
}

impl Linked {
    /// The service running `roles`, which must include the notifier (whose bot links chats).
    pub async fn start(roles: &[Role]) -> anyhow::Result<Self> {
        let fake = FakeTelegram::start().await?;
        let app = telegram_app(&fake, roles).await?;
        Self::on(fake, app).await
    }

    /// On a service already running against `fake`, whose notifier may be a replica.
    pub async fn on(fake: FakeTelegram, app: TestApp) -> anyhow::Result<Self> {
        let alice = ApiUser::new(&app, "alice").await?;
        let bob = ApiUser::new(&app, "bob").await?;
        bob.link_telegram(&fake, BOB_CHAT).await?;
        let answers = fake.sent_to(BOB_CHAT).len();
        Ok(Self {
            fake,
            app,
            alice,
            bob,
            answers,
        })
    }

    /// Notifications sent to bob's chat since it was linked (sendMessage texts, in order).
    pub fn notifications(&self) -> Vec<String> {
        self.fake
            .sent_to(BOB_CHAT)
            .into_iter()
            .skip(self.answers)
            .collect()
    }

    /// Waits until a notification has been sent to bob's chat.
    pub async fn until_notified(&self, what: &str) -> anyhow::Result<()> {
        let answers = self.answers;
        self.fake
            .until(WAIT, what, |f| f.sent_to(BOB_CHAT).len() > answers)
            .await
    }

    /// Waits until the notifier has handled every one of `messages` for bob; what it decided
    /// about each. From then on none of them can lead to another notification, which is what a
    /// test of "exactly one" or "none" needs before it counts.
    pub async fn handled(&self, messages: &[Value]) -> anyhow::Result<Vec<String>> {
        let mut outcomes = Vec::with_capacity(messages.len());
        for message in messages {
            outcomes.push(notifier_outcome(&self.app, message).await?);
        }
        Ok(outcomes)
    }
}

/// What the notifier decided about `message` for its recipient (`sent`, `coalesced`,
/// `skipped_online`, `skipped_read`...), waiting until it has. This is the notifier's
/// handled-record, read from its table: a skip leaves no other trace, and a test that only watches
/// the fake Bot API cannot tell a notification rightly skipped from a notifier that never looked.
pub async fn notifier_outcome(app: &TestApp, message: &Value) -> anyhow::Result<String> {
    let id = uuid::Uuid::parse_str(message["id"].as_str().unwrap_or_default())?;
    let mut outcome = None;
    super::until(WAIT, &format!("the notifier to handle {id}"), async || {
        outcome = sqlx::query_scalar("SELECT outcome FROM notifier_handled WHERE message_id = $1")
            .bind(id)
            .fetch_optional(&app.db.pool)
            .await?;
        Ok(outcome.is_some())
    })
    .await?;
    outcome.ok_or_else(|| anyhow::anyhow!("{id} was not handled"))
}
