//! What people expect of a messenger's page: addresses in messages are links (and only web
//! addresses), and the page follows the system's dark mode, still readable.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::common::ApiUser;
use crate::devtools::prefer_dark;
use crate::page::*;
use serde_json::json;

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let alice = &lab.browsers[0];
    let base = lab.base();
    let bob = ApiUser::new(&lab.app, "bob").await?;
    register(alice, base, "alice", "Alice").await?;
    let (_, conversation) = start_conversation(alice, "bob").await?;

    // Bob sends an address (a link) and a script URL (text); Alice sends one too.
    bob.sent(
        &conversation,
        "docs at https://example.com/a?b=1&c=2. not javascript:alert(1)",
        "links",
    )
    .await?;
    send(alice, "mine: http://example.org/x").await?;
    let transcript: Transcript = vec![
        (
            false,
            "docs at https://example.com/a?b=1&c=2. not javascript:alert(1)",
        ),
        (true, "mine: http://example.org/x"),
    ];
    wait_for_transcript(alice, true, &transcript).await?;
    let links = alice
        .execute(
            "return Array.from(document.querySelectorAll('#messages .message .body a'), a =>
               [a.getAttribute('href'), a.textContent, a.getAttribute('rel'), a.getAttribute('target')]);",
            vec![],
        )
        .await?;
    anyhow::ensure!(
        links
            == json!([
                [
                    "https://example.com/a?b=1&c=2",
                    "https://example.com/a?b=1&c=2",
                    "noopener noreferrer",
                    "_blank"
                ],
                [
                    "http://example.org/x",
                    "http://example.org/x",
                    "noopener noreferrer",
                    "_blank"
                ],
            ]),
        "the links: {links}"
    );

    // The system turns dark: so does the page, and everything stays readable.
    prefer_dark(alice, true).await?;
    eventually("the page to turn dark", || async {
        let background = alice
            .execute(
                "return getComputedStyle(document.body).backgroundColor;",
                vec![],
            )
            .await?;
        anyhow::ensure!(
            background == json!("rgb(15, 20, 28)"),
            "the background is {background}"
        );
        Ok(())
    })
    .await?;
    lab.snap(alice, "dark").await?;
    expect_accessible(alice, "a conversation in dark mode").await?;
    alice.goto(&format!("{base}/settings")).await?;
    expect_accessible(alice, "the settings in dark mode").await?;
    alice.goto(&format!("{base}/conversations")).await?;
    expect_accessible(alice, "the list in dark mode").await?;
    lab.snap(alice, "dark-list").await?;
    prefer_dark(alice, false).await?;
    expect_logged(alice, "Alice", &[]).await
}
