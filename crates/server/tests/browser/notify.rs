//! Browser notifications: turned on in the settings (the browser asks then), shown for a new
//! message only while the tab is in the background.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::common::ApiUser;
use crate::devtools::{allow_notifications, tab_titles};
use crate::page::*;
use fantoccini::wd::WindowHandle;
use fantoccini::Client;
use serde_json::{json, Value};

/// Records every notification the page shows (and still shows it).
async fn watch_notifications(client: &Client) -> anyhow::Result<()> {
    client
        .execute(
            "const Real = window.Notification;
             window.shownNotifications = [];
             window.Notification = function (title, options) {
               window.shownNotifications.push([title, options.body, document.visibilityState]);
               return new Real(title, options);
             };
             window.Notification.permission = Real.permission;
             window.Notification.requestPermission = Real.requestPermission.bind(Real);
             return null;",
            vec![],
        )
        .await?;
    Ok(())
}

async fn shown(client: &Client) -> anyhow::Result<Value> {
    Ok(client
        .execute("return window.shownNotifications;", vec![])
        .await?)
}

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let alice = &lab.browsers[0];
    let base = lab.base();
    let bob = ApiUser::new(&lab.app, "bob").await?;
    register(alice, base, "alice", "Alice").await?;
    allow_notifications(alice, base).await?;

    alice.goto(&format!("{base}/settings")).await?;
    wait_for_text(alice, "#notify-status", "Off.").await?;
    click(alice, "#notify-toggle").await?;
    wait_for_text(
        alice,
        "#notify-status",
        "On: a new message shows a notification while this tab is in the background.",
    )
    .await?;
    wait_for_text(alice, "#notify-toggle", "Turn off notifications").await?;
    expect_accessible(alice, "the settings with notifications on").await?;

    alice.goto(&format!("{base}/conversations")).await?;
    let (_, conversation) = start_conversation(alice, "bob").await?;
    watch_notifications(alice).await?;
    let say = |body: &'static str| bob.sent(&conversation, body, body);

    // Looking at the conversation: no notification.
    say("you are here").await?;
    wait_for_transcript(alice, true, &vec![(false, "you are here")]).await?;
    anyhow::ensure!(shown(alice).await? == json!([]), "notified while looking");

    // Another tab in front: Bob's next message is a notification.
    let conversation_tab: WindowHandle = alice.window().await?;
    let other = alice.new_window(true).await?;
    alice.switch_to_window(other.handle.clone()).await?;
    // The new tab is in front once it is visible (the conversation's tab is hidden then).
    eventually("the new tab to be in front", || async {
        let state = alice
            .execute("return document.visibilityState;", vec![])
            .await?;
        anyhow::ensure!(state == json!("visible"), "it is {state}");
        Ok(())
    })
    .await?;
    say("are you there?").await?;
    // It has arrived in the tab behind when that tab's title counts it.
    eventually("the tab behind to count the message", || async {
        let titles = tab_titles(alice).await?;
        anyhow::ensure!(
            titles.iter().any(|t| t == "(1) bob · chat"),
            "the tabs are {titles:?}"
        );
        Ok(())
    })
    .await?;
    alice.switch_to_window(conversation_tab.clone()).await?;
    eventually("the notification", || async {
        let notes = shown(alice).await?;
        anyhow::ensure!(
            notes == json!([["bob", "are you there?", "hidden"]]),
            "notifications: {notes}"
        );
        Ok(())
    })
    .await?;
    alice.switch_to_window(other.handle.clone()).await?;
    alice.close_window().await?;
    alice.switch_to_window(conversation_tab).await?;
    expect_logged(alice, "Alice", &[]).await
}
