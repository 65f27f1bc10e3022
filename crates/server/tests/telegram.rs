//! Telegram notifications through the production bot, pointed at a local fake Bot API server.

mod common;

use common::fake_telegram::{Failure, FakeTelegram, BOT_USERNAME};
use common::{spawn_app_with_roles, TestApp};
use serde_json::{json, Value};
use server::Role;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const BOB_CHAT: i64 = 555;

async fn telegram_app(fake: &FakeTelegram, roles: &[Role]) -> anyhow::Result<TestApp> {
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

use common::ApiUser as Client;

impl Client {
    async fn send_to(&self, to: &str, body: &str) -> anyhow::Result<Value> {
        let (status, sent) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/messages",
                Some(
                    json!({"to": to, "body": body, "client_id": uuid::Uuid::new_v4().to_string()}),
                ),
            )
            .await?;
        anyhow::ensure!(status == 201, "send: {status} {sent}");
        Ok(sent["message"].clone())
    }

    async fn telegram_linked(&self) -> anyhow::Result<bool> {
        let (_, me) = self.call(reqwest::Method::GET, "/api/v1/me", None).await?;
        Ok(me["telegram"]["linked"] == true)
    }

    /// Links Telegram chat `chat` the way a person does: the link from the API, /start in the bot.
    async fn link_telegram(&self, fake: &FakeTelegram, chat: i64) -> anyhow::Result<()> {
        let (status, link) = self
            .call(reqwest::Method::POST, "/api/v1/telegram/link", None)
            .await?;
        anyhow::ensure!(status == 200, "link: {status} {link}");
        let url = link["url"].as_str().unwrap_or_default();
        let token = url
            .strip_prefix(&format!("https://t.me/{BOT_USERNAME}?start="))
            .ok_or_else(|| anyhow::anyhow!("unexpected link {url}"))?;
        let before = fake.sent_to(chat).len();
        fake.user_writes(chat, &format!("/start {token}"));
        fake.until(WAIT, "the bot's answer", |f| f.sent_to(chat).len() > before)
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_chat_is_linked_with_a_one_time_start_token() -> anyhow::Result<()> {
    let fake = FakeTelegram::start().await?;
    let app = telegram_app(&fake, &Role::ALL).await?;
    let bob = Client::new(&app, "bob").await?;
    assert!(!bob.telegram_linked().await?);

    let (_, link) = bob
        .call(reqwest::Method::POST, "/api/v1/telegram/link", None)
        .await?;
    assert!(link["expires_at"].as_str().is_some());
    let url = link["url"].as_str().unwrap_or_default().to_owned();
    let token = url.rsplit('=').next().unwrap_or_default().to_owned();
    fake.user_writes(BOB_CHAT, &format!("/start {token}"));
    fake.until(WAIT, "the link answer", |f| !f.sent_to(BOB_CHAT).is_empty())
        .await?;
    assert!(
        fake.sent_to(BOB_CHAT)[0].contains("Linked to <b>@bob</b>"),
        "{:?}",
        fake.sent_to(BOB_CHAT)
    );
    assert!(bob.telegram_linked().await?);

    // The same token again, from another chat: refused, and nothing is linked there.
    fake.user_writes(777, &format!("/start {token}"));
    fake.user_writes(777, "/start");
    fake.user_writes(777, "/start not-a-token");
    fake.until(WAIT, "three answers", |f| f.sent_to(777).len() == 3)
        .await?;
    let answers = fake.sent_to(777);
    assert!(answers[0].contains("invalid"), "{answers:?}");
    assert!(answers[1].contains("Settings"), "{answers:?}");
    assert!(answers[2].contains("invalid"), "{answers:?}");
    fake.user_writes(777, "/stop");
    fake.until(WAIT, "the /stop answer", |f| f.sent_to(777).len() == 4)
        .await?;
    assert!(fake.sent_to(777)[3].contains("not linked"));

    // /stop in the linked chat unlinks; so does DELETE on the web after relinking.
    fake.user_writes(BOB_CHAT, "/stop");
    fake.until(WAIT, "the unlink answer", |f| {
        f.sent_to(BOB_CHAT).len() == 2
    })
    .await?;
    assert!(fake.sent_to(BOB_CHAT)[1].contains("Unlinked"));
    assert!(!bob.telegram_linked().await?);
    bob.link_telegram(&fake, BOB_CHAT).await?;
    assert!(bob.telegram_linked().await?);
    let (status, _) = bob
        .call(reqwest::Method::DELETE, "/api/v1/telegram/link", None)
        .await?;
    assert_eq!(status, 204);
    assert!(!bob.telegram_linked().await?);
    Ok(())
}

#[tokio::test]
async fn an_offline_recipient_is_notified_once_and_the_notification_goes_when_read(
) -> anyhow::Result<()> {
    let fake = FakeTelegram::start().await?;
    let app = telegram_app(&fake, &Role::ALL).await?;
    let alice = Client::new(&app, "alice").await?;
    let bob = Client::new(&app, "bob").await?;
    bob.link_telegram(&fake, BOB_CHAT).await?;
    let linked_answers = fake.sent_to(BOB_CHAT).len();

    let message = alice.send_to("bob", "<b>lunch</b> & coffee?").await?;
    let conversation = message["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    fake.until(WAIT, "a notification", |f| {
        f.sent_to(BOB_CHAT).len() > linked_answers
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let sent = fake.sent_to(BOB_CHAT);
    assert_eq!(
        sent.len(),
        linked_answers + 1,
        "exactly one notification: {sent:?}"
    );
    let text = sent.last().cloned().unwrap_or_default();
    assert!(
        text.contains("<b>alice</b>: &lt;b&gt;lunch&lt;/b&gt; &amp; coffee?"),
        "{text}"
    );
    assert!(
        text.contains(&format!("/conversations/{conversation}")),
        "{text}"
    );
    assert_eq!(
        fake.calls("sendMessage")
            .last()
            .map(|c| c.body["parse_mode"].clone()),
        Some(json!("HTML"))
    );

    // Reading the conversation (anywhere) removes the notification.
    let (status, _) = bob
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{conversation}/read"),
            Some(json!({"up_to": 1})),
        )
        .await?;
    assert_eq!(status, 204);
    fake.until(WAIT, "the notification deleted", |f| {
        !f.calls("deleteMessage").is_empty()
    })
    .await?;
    assert!(!fake
        .visible_in(BOB_CHAT)
        .iter()
        .any(|t| t.contains("lunch")));
    Ok(())
}

#[tokio::test]
async fn an_online_recipient_is_not_notified_unless_the_page_is_hidden() -> anyhow::Result<()> {
    let fake = FakeTelegram::start().await?;
    let app = telegram_app(&fake, &Role::ALL).await?;
    let alice = Client::new(&app, "alice").await?;
    let bob = Client::new(&app, "bob").await?;
    bob.link_telegram(&fake, BOB_CHAT).await?;
    let before = fake.sent_to(BOB_CHAT).len();

    // Presence is recorded before the hello, so the open socket counts from here on.
    let _socket = testkit::ws::Connect::new(&app.base)
        .bearer(&bob.token)
        .open()
        .await?;

    alice.send_to("bob", "you are here").await?;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(
        fake.sent_to(BOB_CHAT).len(),
        before,
        "{:?}",
        fake.sent_to(BOB_CHAT)
    );
    Ok(())
}

#[tokio::test]
async fn a_burst_of_ten_messages_gives_one_notification_that_is_edited() -> anyhow::Result<()> {
    let fake = FakeTelegram::start().await?;
    let app = telegram_app(&fake, &Role::ALL).await?;
    let alice = Client::new(&app, "alice").await?;
    let bob = Client::new(&app, "bob").await?;
    bob.link_telegram(&fake, BOB_CHAT).await?;
    let before = fake.sent_to(BOB_CHAT).len();
    for n in 1..=10 {
        alice.send_to("bob", &format!("burst {n}")).await?;
    }
    fake.until(WAIT, "the notification to say 10", |f| {
        f.visible_in(BOB_CHAT)
            .iter()
            .any(|t| t.contains("10 new messages from alice") && t.contains("burst 10"))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        fake.sent_to(BOB_CHAT).len(),
        before + 1,
        "one message, never ten"
    );
    let edits = fake.calls("editMessageText").len();
    assert!((1..=5).contains(&edits), "{edits} edits");
    // Edits of one chat are at least the interval apart.
    let times: Vec<_> = fake.calls("editMessageText").iter().map(|c| c.at).collect();
    assert!(
        times
            .windows(2)
            .all(|w| w[1] - w[0] >= Duration::from_millis(900)),
        "{times:?}"
    );
    Ok(())
}

#[tokio::test]
async fn telegram_429_is_waited_out_and_403_unlinks() -> anyhow::Result<()> {
    let fake = FakeTelegram::start().await?;
    let app = telegram_app(&fake, &Role::ALL).await?;
    let alice = Client::new(&app, "alice").await?;
    let bob = Client::new(&app, "bob").await?;
    bob.link_telegram(&fake, BOB_CHAT).await?;
    let before = fake.calls("sendMessage").len();

    fake.fail_next("sendMessage", Failure::RetryAfter(2));
    alice.send_to("bob", "patience").await?;
    fake.until(WAIT, "a notification after the wait", |f| {
        f.visible_in(BOB_CHAT)
            .iter()
            .any(|t| t.contains("patience"))
    })
    .await?;
    let calls = fake.calls("sendMessage");
    let refused = &calls[before];
    let retried = calls.last().ok_or_else(|| anyhow::anyhow!("no retry"))?;
    assert!(
        retried.at - refused.at >= Duration::from_millis(1_900),
        "retried too early"
    );
    assert_eq!(calls.len(), before + 2, "one refused, one delivered");

    // Reading clears it; then the user blocks the bot: the next notification unlinks the chat.
    let conversation = alice.send_to("bob", "one more").await?["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    bob.call(
        reqwest::Method::POST,
        &format!("/api/v1/conversations/{conversation}/read"),
        Some(json!({"up_to": 99})),
    )
    .await?;
    fake.until(WAIT, "the notification deleted", |f| {
        f.visible_in(BOB_CHAT)
            .iter()
            .all(|t| !t.contains("patience"))
    })
    .await?;
    fake.fail_next("sendMessage", Failure::Blocked);
    alice.send_to("bob", "are you there?").await?;
    let deadline = std::time::Instant::now() + WAIT;
    while bob.telegram_linked().await? && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !bob.telegram_linked().await?,
        "a blocked bot unlinks the chat"
    );
    Ok(())
}

#[tokio::test]
async fn a_notifier_restarted_mid_burst_sends_nothing_twice_and_loses_nothing() -> anyhow::Result<()>
{
    let fake = FakeTelegram::start().await?;
    // The service without a notifier; notifiers come and go as separate instances.
    let app = telegram_app(&fake, &[Role::Api, Role::Publisher, Role::Projector]).await?;
    let first = app.replica(&[Role::Notifier]).await?;
    let alice = Client::new(&app, "alice").await?;
    let bob = Client::new(&app, "bob").await?;
    bob.link_telegram(&fake, BOB_CHAT).await?;
    let before = fake.sent_to(BOB_CHAT).len();

    for n in 1..=5 {
        alice.send_to("bob", &format!("part {n}")).await?;
    }
    fake.until(WAIT, "the first notification", |f| {
        f.sent_to(BOB_CHAT).len() > before
    })
    .await?;
    let mut first = first;
    first.shutdown.cancel();
    (&mut first.handle).await??;

    for n in 6..=10 {
        alice.send_to("bob", &format!("part {n}")).await?;
    }
    let _second = app.replica(&[Role::Notifier]).await?;
    fake.until(WAIT, "all ten counted", |f| {
        f.visible_in(BOB_CHAT)
            .iter()
            .any(|t| t.contains("10 new messages from alice") && t.contains("part 10"))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        fake.sent_to(BOB_CHAT).len(),
        before + 1,
        "{:?}",
        fake.sent_to(BOB_CHAT)
    );
    Ok(())
}
