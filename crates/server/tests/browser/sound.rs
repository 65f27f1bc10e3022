//! The optional sound: off until turned on in the settings (remembered by the browser), then
//! played for a new message only while the tab is in the background. The page counts what it
//! played in `data-sounds-played`, so the test reads it instead of listening.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::common::ApiUser;
use crate::devtools::tab_titles;
use crate::page::*;
use fantoccini::wd::WindowHandle;
use fantoccini::Client;
use serde_json::{json, Value};

async fn sounds_played(client: &Client) -> anyhow::Result<Value> {
    Ok(client
        .execute("return document.body.dataset.soundsPlayed || '0';", vec![])
        .await?)
}

/// Bob writes `body` while Alice looks at another tab; back in the conversation's tab, once it has
/// counted the message.
async fn message_while_away(
    alice: &Client,
    bob: &ApiUser,
    conversation: &str,
    body: &str,
    unread: usize,
) -> anyhow::Result<()> {
    // Using the page (a click) is what lets a browser play sound at all.
    click(alice, "#compose").await?;
    let conversation_tab: WindowHandle = alice.window().await?;
    let other = alice.new_window(true).await?;
    alice.switch_to_window(other.handle.clone()).await?;
    eventually("the new tab to be in front", || async {
        let state = alice
            .execute("return document.visibilityState;", vec![])
            .await?;
        anyhow::ensure!(state == json!("visible"), "it is {state}");
        Ok(())
    })
    .await?;
    bob.sent(conversation, body, body).await?;
    let title = format!("({unread}) bob · chat");
    eventually("the tab behind to count the message", || async {
        let titles = tab_titles(alice).await?;
        anyhow::ensure!(titles.contains(&title), "the tabs are {titles:?}");
        Ok(())
    })
    .await?;
    alice.close_window().await?;
    alice.switch_to_window(conversation_tab).await?;
    Ok(())
}

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let alice = &lab.browsers[0];
    let base = lab.base();
    let bob = ApiUser::new(&lab.app, "bob").await?;
    register(alice, base, "alice", "Alice").await?;

    // Off by default; one click turns it on, and the browser remembers it.
    alice.goto(&format!("{base}/settings")).await?;
    wait_for_text(alice, "#sound-status", "Off.").await?;
    click(alice, "#sound-toggle").await?;
    wait_for_text(
        alice,
        "#sound-status",
        "On: a new message plays a sound while this tab is in the background.",
    )
    .await?;
    alice.refresh().await?;
    wait_for_text(alice, "#sound-toggle", "Turn off the sound").await?;
    lab.snap(alice, "settings-on").await?;
    expect_accessible(alice, "the settings with the sound on").await?;

    alice.goto(&format!("{base}/conversations")).await?;
    let (path, conversation) = start_conversation(alice, "bob").await?;

    // Looking at the conversation: no sound.
    bob.sent(&conversation, "you are here", "here").await?;
    wait_for_transcript(alice, true, &vec![(false, "you are here")]).await?;
    anyhow::ensure!(
        sounds_played(alice).await? == json!("0"),
        "a sound while looking"
    );

    // In the background: Bob's message plays it, once.
    message_while_away(alice, &bob, &conversation, "are you there?", 1).await?;
    eventually("the sound to have played", || async {
        let played = sounds_played(alice).await?;
        anyhow::ensure!(played == json!("1"), "played {played}");
        Ok(())
    })
    .await?;

    // Turned off: a message in the background plays nothing.
    alice.goto(&format!("{base}/settings")).await?;
    click(alice, "#sound-toggle").await?;
    wait_for_text(alice, "#sound-status", "Off.").await?;
    alice.goto(&format!("{base}{path}")).await?;
    wait_for_text(
        alice,
        "#messages .message:last-child .body",
        "are you there?",
    )
    .await?;
    message_while_away(alice, &bob, &conversation, "hello?", 1).await?;
    wait_for_text(alice, "#messages .message:last-child .body", "hello?").await?;
    anyhow::ensure!(
        sounds_played(alice).await? == json!("0"),
        "a sound with the sound off"
    );
    expect_logged(alice, "Alice", &[]).await
}
