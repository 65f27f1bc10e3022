//! Losing the network: a banner says so without moving the page, what is sent meanwhile waits on
//! the page as pending, and goes out (once) as soon as the network is back, also when the page
//! was reloaded in between.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::common::ApiUser;
use crate::devtools::{block_urls, set_offline};
use crate::page::*;
use fantoccini::{Client, Locator};
use serde_json::Value;

/// Where the conversation's parts are on the page: what must not move when the banner shows.
async fn layout(client: &Client) -> anyhow::Result<Value> {
    Ok(client
        .execute(
            "return ['header.top', '.chat-head', '#messages', '#send']
               .map(css => { const r = document.querySelector(css).getBoundingClientRect();
                             return [css, r.top, r.height]; });",
            vec![],
        )
        .await?)
}

/// The bodies of the messages waiting to be sent, in page order.
async fn pending(client: &Client) -> anyhow::Result<Vec<String>> {
    let bodies = client
        .execute(
            "return Array.from(document.querySelectorAll('#messages .message.pending .body'))
               .map(b => b.textContent);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(bodies)?)
}

/// The bodies of the conversation's messages as the server has them, oldest first.
async fn stored(bob: &ApiUser, conversation: &str) -> anyhow::Result<Vec<String>> {
    let (status, body) = bob
        .get(&format!("/api/v1/conversations/{conversation}/messages"))
        .await?;
    anyhow::ensure!(status == 200, "history: {status} {body}");
    Ok(body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect())
}

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let alice = &lab.browsers[0];
    let base = lab.base();
    let bob = ApiUser::new(&lab.app, "bob").await?;
    register(alice, base, "alice", "Alice").await?;
    let (_, conversation) = start_conversation(alice, "bob").await?;
    let mut transcript: Transcript = vec![];
    send(alice, "still online").await?;
    transcript.push((true, "still online"));
    wait_for_transcript(alice, true, &transcript).await?;
    wait_for_text(alice, "#offline", "").await?;
    let before = layout(alice).await?;

    // The network goes: a banner says so, and nothing moves.
    set_offline(alice, true).await?;
    eventually("the offline banner", || async {
        let banner = alice.find(Locator::Css("#offline")).await?;
        anyhow::ensure!(banner.is_displayed().await?, "#offline is hidden");
        let text = banner.text().await?;
        anyhow::ensure!(text.contains("offline"), "#offline reads {text:?}");
        Ok(())
    })
    .await?;
    let during = layout(alice).await?;
    anyhow::ensure!(
        before == during,
        "the banner moved the page: {before} became {during}"
    );
    lab.snap(alice, "banner").await?;

    // Two messages written offline wait on the page, in order; the box is free for the next.
    send(alice, "written offline").await?;
    send(alice, "and another").await?;
    eventually("the messages to wait as pending", || async {
        let waiting = pending(alice).await?;
        anyhow::ensure!(
            waiting == ["written offline", "and another"],
            "pending: {waiting:?}"
        );
        Ok(())
    })
    .await?;
    anyhow::ensure!(
        value_of(alice, "textarea#compose").await?.is_empty(),
        "#compose still holds a message kept as pending"
    );
    anyhow::ensure!(text_of(alice, "#send-error").await?.is_empty());
    expect_accessible(alice, "a conversation offline, with pending messages").await?;
    anyhow::ensure!(stored(&bob, &conversation).await? == ["still online"]);

    // The network is back: the banner goes, and each message is sent once, in order.
    set_offline(alice, false).await?;
    transcript.push((true, "written offline"));
    transcript.push((true, "and another"));
    wait_for_transcript(alice, true, &transcript).await?;
    anyhow::ensure!(pending(alice).await?.is_empty());
    wait_for_text(alice, "#offline", "").await?;
    eventually("the server to store each message once", || async {
        let bodies = stored(&bob, &conversation).await?;
        anyhow::ensure!(
            bodies == ["still online", "written offline", "and another"],
            "stored: {bodies:?}"
        );
        Ok(())
    })
    .await?;
    // Bob answers: the page is live again.
    bob.sent(&conversation, "welcome back", "welcome-back")
        .await?;
    transcript.push((false, "welcome back"));
    wait_for_transcript(alice, true, &transcript).await?;
    expect_logged(alice, "Alice", &[]).await
}

/// What the browser keeps for the conversation's outbox (`null` when nothing waits).
async fn kept(client: &Client, conversation: &str) -> anyhow::Result<Value> {
    Ok(client
        .execute(
            "return JSON.parse(localStorage.getItem('chat.outbox.' + arguments[0]));",
            vec![serde_json::json!(conversation)],
        )
        .await?)
}

/// Messages written offline survive a reload: the page shows them as pending again and sends
/// them, with the client_id they were given, once the network is back, each exactly once.
pub async fn survives_a_reload(lab: &Lab) -> anyhow::Result<()> {
    let alice = &lab.browsers[0];
    let base = lab.base();
    let bob = ApiUser::new(&lab.app, "bob").await?;
    register(alice, base, "alice", "Alice").await?;
    let (_, conversation) = start_conversation(alice, "bob").await?;
    let mut transcript: Transcript = vec![(true, "before")];
    send(alice, "before").await?;
    wait_for_transcript(alice, true, &transcript).await?;

    set_offline(alice, true).await?;
    wait_for_text(
        alice,
        "#offline",
        "You are offline. Reconnecting… Messages you send now are kept and go out when you are back online.",
    )
    .await?;
    send(alice, "kept over a reload").await?;
    send(alice, "and this one").await?;
    eventually("the messages to wait as pending", || async {
        let waiting = pending(alice).await?;
        anyhow::ensure!(
            waiting == ["kept over a reload", "and this one"],
            "pending: {waiting:?}"
        );
        Ok(())
    })
    .await?;
    let before_reload = kept(alice, &conversation).await?;
    let ids: Vec<&str> = before_reload
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["clientId"].as_str())
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(ids.len() == 2, "the browser keeps {before_reload}");

    // The page is reloaded while its messages still cannot get through (the network is back for
    // the page itself, not yet for sends and the socket): they are still there, still pending.
    block_urls(alice, &["*/send", "*/api/v1/ws*"]).await?;
    set_offline(alice, false).await?;
    alice.refresh().await?;
    eventually("the reloaded page to show what waits", || async {
        let waiting = pending(alice).await?;
        anyhow::ensure!(
            waiting == ["kept over a reload", "and this one"],
            "pending: {waiting:?}"
        );
        Ok(())
    })
    .await?;
    anyhow::ensure!(
        kept(alice, &conversation).await? == before_reload,
        "the kept messages changed over the reload"
    );
    anyhow::ensure!(stored(&bob, &conversation).await? == ["before"]);
    lab.snap(alice, "reloaded-pending").await?;
    expect_accessible(alice, "a reloaded conversation with pending messages").await?;

    // Through again: each goes out once, in order, and nothing is kept any more.
    block_urls(alice, &[]).await?;
    transcript.push((true, "kept over a reload"));
    transcript.push((true, "and this one"));
    wait_for_transcript(alice, true, &transcript).await?;
    eventually("the server to store each message once", || async {
        let bodies = stored(&bob, &conversation).await?;
        anyhow::ensure!(
            bodies == ["before", "kept over a reload", "and this one"],
            "stored: {bodies:?}"
        );
        Ok(())
    })
    .await?;
    let (_, history) = bob
        .get(&format!("/api/v1/conversations/{conversation}/messages"))
        .await?;
    let sent_ids: Vec<&str> = history["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .skip(1)
                .filter_map(|m| m["client_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(
        sent_ids == ids,
        "sent with client ids {sent_ids:?}, kept as {ids:?}"
    );
    anyhow::ensure!(kept(alice, &conversation).await?.is_null());
    // Another reload sends nothing again.
    alice.refresh().await?;
    wait_for_transcript(alice, true, &transcript).await?;
    anyhow::ensure!(pending(alice).await?.is_empty());
    anyhow::ensure!(stored(&bob, &conversation).await?.len() == 3);
    expect_logged(alice, "Alice", &[]).await
}
