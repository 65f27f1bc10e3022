//! Telegram notifications through the production bot, pointed at a local fake Bot API server.

mod common;

use common::cases::Cases;
use common::fake_telegram::{Failure, FakeTelegram};
use common::telegram::{notifier_outcome, telegram_app, Linked, BOB_CHAT, WAIT};
use common::ApiUser;
use serde_json::json;
use server::Role;
use std::time::Duration;
use testkit::ws::Connect;

/// A chat of someone who never linked anything.
const STRANGER_CHAT: i64 = 777;

#[tokio::test]
async fn a_chat_is_linked_with_a_one_time_start_token() -> anyhow::Result<()> {
    let fake = FakeTelegram::start().await?;
    let app = telegram_app(&fake, &Role::ALL).await?;
    let bob = ApiUser::new(&app, "bob").await?;
    assert!(!bob.telegram_linked().await?);

    let token = bob.telegram_start_token().await?;
    let answer = fake
        .answer_to(BOB_CHAT, &format!("/start {token}"), WAIT)
        .await?;
    assert!(answer.contains("Linked to <b>@bob</b>"), "{answer}");
    assert!(bob.telegram_linked().await?);

    // In a chat that is not linked, nothing links it: not the used token, not a made-up one.
    let mut cases = Cases::new();
    for (case, text, answer) in [
        (
            "the used token again, from another chat",
            format!("/start {token}"),
            "invalid",
        ),
        ("/start without a token", "/start".to_owned(), "Settings"),
        (
            "/start with a made-up token",
            "/start not-a-token".to_owned(),
            "invalid",
        ),
        (
            "/stop in a chat that is not linked",
            "/stop".to_owned(),
            "not linked",
        ),
    ] {
        cases
            .run(case, async {
                let got = fake.answer_to(STRANGER_CHAT, &text, WAIT).await?;
                anyhow::ensure!(got.contains(answer), "answered {got:?}, want {answer:?}");
                Ok(())
            })
            .await;
    }
    cases.finish()?;

    // /stop in the linked chat unlinks; so does DELETE on the web after relinking.
    let answer = fake.answer_to(BOB_CHAT, "/stop", WAIT).await?;
    assert!(answer.contains("Unlinked"), "{answer}");
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
    let linked = Linked::start(&Role::ALL).await?;
    let Linked {
        fake, alice, bob, ..
    } = &linked;

    let message = alice.send_to("bob", "<b>lunch</b> & coffee?").await?;
    linked.until_notified("a notification").await?;
    assert_eq!(
        linked.handled(std::slice::from_ref(&message)).await?,
        ["sent"]
    );
    let sent = linked.notifications();
    assert_eq!(sent.len(), 1, "exactly one notification: {sent:?}");
    let text = &sent[0];
    assert!(
        text.contains("<b>alice</b>: &lt;b&gt;lunch&lt;/b&gt; &amp; coffee?"),
        "{text}"
    );
    let conversation = message["conversation_id"].as_str().unwrap_or_default();
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
    bob.read(&message, 1).await?;
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
    let linked = Linked::start(&Role::ALL).await?;
    let Linked {
        app, alice, bob, ..
    } = &linked;
    // Presence is recorded before the hello: from here on bob is online with a visible page.
    let mut page = Connect::new(&app.base).bearer(&bob.token).open().await?;

    // Visible: the notifier looks at the message and skips it because bob is there to see it.
    let seen = alice.send_to("bob", "you are here").await?;
    assert_eq!(notifier_outcome(app, &seen).await?, "skipped_online");
    assert_eq!(linked.notifications(), Vec::<String>::new());

    // Hidden (a background tab): online, but the next message is notified.
    page.send(json!({"type": "visibility", "hidden": true}))
        .await?;
    // The gateway handles a socket's frames one after the other, so once a later frame is
    // answered (an unknown type gets an error), the page's visibility has been recorded.
    page.send(json!({"type": "marker"})).await?;
    assert_eq!(page.next_of("error").await?["code"], "unknown_type");
    let missed = alice.send_to("bob", "are you looking?").await?;
    linked
        .until_notified("a notification for the hidden page")
        .await?;
    assert_eq!(notifier_outcome(app, &missed).await?, "sent");
    let sent = linked.notifications();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("are you looking?") && !sent[0].contains("you are here"),
        "{sent:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_burst_of_ten_messages_gives_one_notification_that_is_edited() -> anyhow::Result<()> {
    let linked = Linked::start(&Role::ALL).await?;
    let Linked { fake, alice, .. } = &linked;
    let mut burst = Vec::new();
    for n in 1..=10 {
        burst.push(alice.send_to("bob", &format!("burst {n}")).await?);
    }
    fake.until(WAIT, "the notification to say 10", |f| {
        f.visible_in(BOB_CHAT)
            .iter()
            .any(|t| t.contains("10 new messages from alice") && t.contains("burst 10"))
    })
    .await?;
    let mut outcomes = linked.handled(&burst).await?;
    outcomes.sort();
    let mut expected = vec!["coalesced"; 9];
    expected.push("sent");
    assert_eq!(outcomes, expected, "one message, never ten");
    assert_eq!(linked.notifications().len(), 1, "one message, never ten");
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
    let linked = Linked::start(&Role::ALL).await?;
    let Linked {
        fake, alice, bob, ..
    } = &linked;
    let before = fake.calls("sendMessage").len();

    fake.fail_next("sendMessage", Failure::RetryAfter(2));
    let patience = alice.send_to("bob", "patience").await?;
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
    bob.read(&patience, 99).await?;
    fake.until(WAIT, "the notification deleted", |f| {
        f.visible_in(BOB_CHAT)
            .iter()
            .all(|t| !t.contains("patience"))
    })
    .await?;
    fake.fail_next("sendMessage", Failure::Blocked);
    alice.send_to("bob", "are you there?").await?;
    common::until(WAIT, "a blocked bot to unlink the chat", async || {
        Ok(!bob.telegram_linked().await?)
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_notifier_restarted_mid_burst_sends_nothing_twice_and_loses_nothing() -> anyhow::Result<()>
{
    // The service without a notifier; notifiers come and go as separate instances.
    let fake = FakeTelegram::start().await?;
    let app = telegram_app(&fake, &[Role::Api, Role::Publisher, Role::Projector]).await?;
    let mut first = app.replica(&[Role::Notifier]).await?;
    let linked = Linked::on(fake, app).await?;
    let Linked {
        fake, app, alice, ..
    } = &linked;
    let mut burst = Vec::new();
    for n in 1..=5 {
        burst.push(alice.send_to("bob", &format!("part {n}")).await?);
    }
    linked.until_notified("the first notification").await?;
    first.shutdown.cancel();
    (&mut first.handle).await??;

    for n in 6..=10 {
        burst.push(alice.send_to("bob", &format!("part {n}")).await?);
    }
    let _second = app.replica(&[Role::Notifier]).await?;
    fake.until(WAIT, "all ten counted", |f| {
        f.visible_in(BOB_CHAT)
            .iter()
            .any(|t| t.contains("10 new messages from alice") && t.contains("part 10"))
    })
    .await?;
    let outcomes = linked.handled(&burst).await?;
    assert_eq!(
        outcomes.iter().filter(|o| *o == "sent").count(),
        1,
        "{outcomes:?}"
    );
    let sent = linked.notifications();
    assert_eq!(sent.len(), 1, "{sent:?}");
    Ok(())
}

#[tokio::test]
async fn linking_turns_on_by_itself_once_the_bot_api_answers_after_failing_at_start(
) -> anyhow::Result<()> {
    let fake = FakeTelegram::start().await?;
    for _ in 0..3 {
        fake.fail_next("getMe", Failure::RetryAfter(1));
    }
    let app = telegram_app(&fake, &[Role::Api]).await?;
    let alice = ApiUser::new(&app, "alice").await?;
    let (status, body) = alice.post("/api/v1/telegram/link", json!({})).await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("telegram_unavailable")),
        "{body}"
    );
    common::until(WAIT, "linking to turn on", async || {
        let (status, body) = alice.post("/api/v1/telegram/link", json!({})).await?;
        Ok(status == 200 && body["url"].as_str().is_some_and(|u| u.contains("t.me/")))
    })
    .await?;
    assert!(fake.calls("getMe").len() >= 4, "asked again after failing");
    Ok(())
}

#[tokio::test]
async fn a_server_without_telegram_says_linking_is_not_set_up_rather_than_down(
) -> anyhow::Result<()> {
    let app = common::spawn_app(&[]).await?;
    let alice = ApiUser::new(&app, "alice").await?;
    let (status, body) = alice.post("/api/v1/telegram/link", json!({})).await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("telegram_not_configured")),
        "{body}"
    );
    Ok(())
}
