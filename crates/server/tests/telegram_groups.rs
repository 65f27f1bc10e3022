//! Telegram notifications of groups, and muting, through the production bot pointed at the
//! local fake Bot API: one notification per group for an offline member, naming the group and
//! its latest senders, kept current by edits, withdrawn when read (writing in the group counts),
//! when muted or when the member leaves; a muted conversation (pair or group) notifies nothing.

mod common;

use common::telegram::{notifier_outcome, Linked, BOB_CHAT, WAIT};
use common::ApiUser;
use serde_json::{json, Value};
use server::Role;

/// `who` sends `body` into conversation `id`; the stored message.
async fn say(who: &ApiUser, id: &str, body: &str) -> anyhow::Result<Value> {
    let sent = who
        .sent(id, body, &uuid::Uuid::new_v4().to_string())
        .await?;
    Ok(sent["message"].clone())
}

async fn set_muted(who: &ApiUser, id: &str, muted: bool) -> anyhow::Result<(u16, Value)> {
    let method = if muted {
        reqwest::Method::PUT
    } else {
        reqwest::Method::DELETE
    };
    who.call(method, &format!("/api/v1/conversations/{id}/mute"), None)
        .await
}

impl Linked {
    /// What bob's chat shows now (the bot's messages, as last edited, minus deleted ones).
    fn visible(&self) -> Vec<String> {
        self.fake.visible_in(BOB_CHAT)
    }

    async fn until_visible(&self, what: &str, wanted: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        self.fake
            .until(WAIT, what, |f| {
                f.visible_in(BOB_CHAT).iter().any(|t| wanted(t))
            })
            .await
    }

    async fn until_gone(&self, what: &str, gone: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        self.fake
            .until(WAIT, what, |f| {
                !f.visible_in(BOB_CHAT).iter().any(|t| gone(t))
            })
            .await
    }
}

#[tokio::test]
async fn an_offline_member_gets_one_notification_per_group_naming_it_and_its_latest_senders(
) -> anyhow::Result<()> {
    let linked = Linked::start(&Role::ALL).await?;
    let Linked {
        app, alice, bob, ..
    } = &linked;
    let carol = ApiUser::new(app, "carol").await?;
    let id = alice.group("Climbing <Tue>", &["bob", "carol"]).await?;

    let burst = [
        say(alice, &id, "rope?").await?,
        say(&carol, &id, "mine").await?,
        say(alice, &id, "at 6 & not later").await?,
    ];
    linked
        .until_visible("one notification naming the group and both senders", |t| {
            t.contains("<b>Climbing &lt;Tue&gt;</b>: 3 new messages from alice, carol")
                && t.contains("<b>alice</b>: at 6 &amp; not later")
        })
        .await?;
    let mut outcomes = linked.handled(&burst).await?;
    outcomes.sort();
    assert_eq!(outcomes, ["coalesced", "coalesced", "sent"]);
    assert_eq!(
        linked.notifications().len(),
        1,
        "one per group, not per message"
    );
    let sent = &linked.notifications()[0];
    assert!(
        sent.contains(&format!("/conversations/{id}")) && sent.contains("Open the group"),
        "{sent}"
    );

    // A timeline entry (the rename) notifies nobody and counts for nothing; the next message
    // brings the new title, and carol (the latest sender) first.
    let (status, body) = alice.rename(&id, "Bouldering").await?;
    assert_eq!(status, 200, "{body}");
    let fourth = say(&carol, &id, "ok").await?;
    linked
        .until_visible("the edit with the new title", |t| {
            t.contains("<b>Bouldering</b>: 4 new messages from carol, alice")
                && t.contains("<b>carol</b>: ok")
        })
        .await?;
    assert_eq!(notifier_outcome(app, &fourth).await?, "coalesced");
    assert_eq!(
        linked.notifications().len(),
        1,
        "still one Telegram message"
    );

    // Reading the group anywhere withdraws it.
    bob.read(&fourth, fourth["seq"].as_i64().unwrap_or_default())
        .await?;
    linked
        .until_gone("the notification deleted once read", |t| {
            t.contains("Bouldering")
        })
        .await?;

    // In a group writing is reading: bob's own message withdraws his notification.
    let again = say(&carol, &id, "later then").await?;
    linked
        .until_visible("a new notification", |t| t.contains("later then"))
        .await?;
    assert_eq!(notifier_outcome(app, &again).await?, "sent");
    say(bob, &id, "coming").await?;
    linked
        .until_gone("the notification deleted once bob wrote", |t| {
            t.contains("later then")
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_member_removed_from_a_group_loses_its_notification_and_gets_no_more(
) -> anyhow::Result<()> {
    let linked = Linked::start(&Role::ALL).await?;
    let Linked { app, alice, .. } = &linked;
    let id = alice.group("Climbing", &["bob"]).await?;
    let first = say(alice, &id, "first").await?;
    linked.until_notified("the group's notification").await?;
    assert_eq!(notifier_outcome(app, &first).await?, "sent");

    let (status, body) = alice.remove(&id, "bob").await?;
    assert_eq!(status, 204, "{body}");
    linked
        .until_gone("the notification withdrawn on removal", |t| {
            t.contains("Climbing")
        })
        .await?;

    // After the removal bob is no recipient of the group: a pair message sent after it is the
    // only thing he is told.
    let after = say(alice, &id, "after bob left").await?;
    let pair = alice.send_to("bob", "just you and me").await?;
    linked
        .until_visible("the pair's notification", |t| t.contains("just you and me"))
        .await?;
    assert_eq!(notifier_outcome(app, &pair).await?, "sent");
    let handled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifier_handled WHERE message_id = $1")
            .bind(uuid::Uuid::parse_str(
                after["id"].as_str().unwrap_or_default(),
            )?)
            .fetch_one(&app.db.pool)
            .await?;
    assert_eq!(handled, 0, "nothing was decided for bob about the group");
    let sent = linked.notifications();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(!linked
        .visible()
        .iter()
        .any(|t| t.contains("after bob left")));
    Ok(())
}

#[tokio::test]
async fn a_muted_conversation_notifies_nothing_and_muting_withdraws_a_pending_notification(
) -> anyhow::Result<()> {
    let linked = Linked::start(&Role::ALL).await?;
    let Linked {
        app, alice, bob, ..
    } = &linked;

    // A pair: notified, then muted (the notification goes), then silent until unmuted.
    let one = alice.send_to("bob", "pair-one").await?;
    linked.until_notified("the pair's notification").await?;
    assert_eq!(notifier_outcome(app, &one).await?, "sent");
    let pair = one["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, muted) = set_muted(bob, &pair, true).await?;
    assert_eq!(status, 200, "{muted}");
    assert_eq!(muted["conversation"]["muted"], true);
    linked
        .until_gone("the notification withdrawn on mute", |t| {
            t.contains("pair-one")
        })
        .await?;
    let two = alice.send_to("bob", "pair-two").await?;
    assert_eq!(notifier_outcome(app, &two).await?, "skipped_muted");
    let (status, unmuted) = set_muted(bob, &pair, false).await?;
    assert_eq!(
        (status, &unmuted["conversation"]["muted"]),
        (200, &json!(false))
    );
    let three = alice.send_to("bob", "pair-three").await?;
    linked
        .until_visible("notified again once unmuted", |t| t.contains("pair-three"))
        .await?;
    assert_eq!(notifier_outcome(app, &three).await?, "sent");

    // A group: muted by bob, for bob only.
    let id = alice.group("Climbing", &["bob"]).await?;
    let (status, body) = set_muted(bob, &id, true).await?;
    assert_eq!(
        (status, &body["conversation"]["muted"]),
        (200, &json!(true))
    );
    let quiet = say(alice, &id, "anyone?").await?;
    assert_eq!(notifier_outcome(app, &quiet).await?, "skipped_muted");
    assert!(!linked.visible().iter().any(|t| t.contains("anyone?")));
    let sent = linked.notifications();
    assert_eq!(sent.len(), 2, "one, three: {sent:?}");
    Ok(())
}
