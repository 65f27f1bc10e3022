//! The pages on a phone (390x844): one compact header row, a conversation that fills the screen
//! with the composer at the bottom (not pushed by the typing line), and tap targets of 44 px.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::page::*;
use fantoccini::Client;
use serde_json::{json, Value};

/// The smallest tap target people can hit reliably (WCAG 2.5.5, Apple's and Google's guides).
const TAP: f64 = 44.0;

/// Where `css`'s element is: `{top, bottom, height, width}` in CSS pixels.
async fn rect(client: &Client, css: &str) -> anyhow::Result<Value> {
    let rect = client
        .execute(
            "const e = document.querySelector(arguments[0]);
             if (!e) return null;
             const r = e.getBoundingClientRect();
             return {top: r.top, bottom: r.bottom, height: r.height, width: r.width};",
            vec![json!(css)],
        )
        .await?;
    anyhow::ensure!(!rect.is_null(), "nothing matches {css}");
    Ok(rect)
}

fn px(rect: &Value, side: &str) -> f64 {
    rect[side].as_f64().unwrap_or(f64::NAN)
}

/// Every link, button and field on the page that is shown, smaller than `TAP` either way (but
/// links inside a message's text, which WCAG 2.5.8 exempts as inline).
async fn small_targets(client: &Client) -> anyhow::Result<Vec<String>> {
    let small = client
        .execute(
            "return Array.from(document.querySelectorAll('a[href]:not(.body a), button, input, textarea, select'))
               .filter(e => e.getClientRects().length > 0)
               .map(e => [e, e.getBoundingClientRect()])
               .filter(([e, r]) => r.width < arguments[0] || r.height < arguments[0])
               .map(([e, r]) => `${e.outerHTML.slice(0, 80)} is ${Math.round(r.width)}x${Math.round(r.height)}`);",
            vec![json!(TAP)],
        )
        .await?;
    Ok(serde_json::from_value(small)?)
}

/// Nothing is wider than the screen (no sideways scrolling).
async fn expect_no_sideways_scroll(client: &Client, what: &str) -> anyhow::Result<()> {
    let width = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await?;
    anyhow::ensure!(
        width[0].as_f64() <= width[1].as_f64(),
        "{what} is wider than the screen: {width}"
    );
    Ok(())
}

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let (alice, bob) = (&lab.browsers[0], &lab.browsers[1]);
    let base = lab.base();
    register(alice, base, "alice", "Alice").await?;
    register(bob, base, "bob", "Bob").await?;

    // The list: one header row, every target big enough.
    let header = rect(alice, "header.top").await?;
    anyhow::ensure!(
        px(&header, "height") <= 60.0,
        "the header is {} px high (more than one row)",
        px(&header, "height")
    );
    let small = small_targets(alice).await?;
    anyhow::ensure!(
        small.is_empty(),
        "small tap targets on the list:\n{}",
        small.join("\n")
    );
    expect_no_sideways_scroll(alice, "the list").await?;
    expect_accessible(alice, "the list on a phone").await?;
    lab.snap(alice, "list").await?;

    let (path, _) = start_conversation(alice, "bob").await?;
    bob.goto(&format!("{base}{path}")).await?;
    let mut transcript: Transcript = vec![];
    for (by_alice, text) in [
        (true, "hi bob, on my phone"),
        (false, "hi alice"),
        (true, "the screen is small, but the chat fits"),
    ] {
        send(if by_alice { alice } else { bob }, text).await?;
        transcript.push((by_alice, text));
        wait_for_transcript(alice, true, &transcript).await?;
    }
    wait_for_transcript(bob, false, &transcript).await?;

    // The conversation fills the screen: a compact header, the list, the composer at the bottom.
    let height = 844.0;
    let messages = rect(alice, "#messages").await?;
    let composer = rect(alice, "form#send").await?;
    anyhow::ensure!(
        px(&messages, "top") <= 64.0,
        "the message list starts {} px down (the header is not compact)",
        px(&messages, "top")
    );
    anyhow::ensure!(
        px(&messages, "height") >= 0.7 * height,
        "the message list is {} px of {height}",
        px(&messages, "height")
    );
    anyhow::ensure!(
        (height - 12.0..=height).contains(&px(&composer, "bottom")),
        "the composer ends at {} px, not at the bottom ({height})",
        px(&composer, "bottom")
    );
    let scroll = alice
        .execute("return document.scrollingElement.scrollHeight;", vec![])
        .await?;
    anyhow::ensure!(
        scroll.as_f64() <= Some(height),
        "the page itself scrolls ({scroll} px): the composer can leave the screen"
    );
    let small = small_targets(alice).await?;
    anyhow::ensure!(
        small.is_empty(),
        "small tap targets in the conversation:\n{}",
        small.join("\n")
    );
    expect_no_sideways_scroll(alice, "the conversation").await?;
    lab.snap(alice, "conversation").await?;
    expect_accessible(alice, "a conversation on a phone").await?;

    // Bob types: the line says so, and nothing moves.
    let compose = bob
        .find(fantoccini::Locator::Css("textarea#compose"))
        .await?;
    // Typing notices go out at most once per 2 s and Bob typed moments ago: he types this over
    // more than 2 s, as people do.
    let mut seen_typing = false;
    for key in "let me think".chars() {
        compose.send_keys(&key.to_string()).await?;
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        seen_typing = seen_typing || text_of(alice, "#typing").await? == "Bob is typing…";
        if seen_typing {
            break;
        }
    }
    if !seen_typing {
        wait_for_text(alice, "#typing", "Bob is typing…").await?;
    }
    let (composer_now, messages_now) = (
        rect(alice, "form#send").await?,
        rect(alice, "#messages").await?,
    );
    anyhow::ensure!(
        composer_now == composer && messages_now == messages,
        "the typing line moved the page: the composer from {composer} to {composer_now}, the \
         list from {messages} to {messages_now}"
    );
    lab.snap(alice, "typing").await?;

    // The back arrow leads to the list.
    click(alice, "a.back").await?;
    wait_for_path(alice, "Alice to be back on her list", |p| {
        p == "/conversations"
    })
    .await?;
    for (client, who) in [(alice, "Alice"), (bob, "Bob")] {
        expect_logged(client, who, &[]).await?;
    }
    Ok(())
}
