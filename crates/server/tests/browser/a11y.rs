//! Beyond axe: form errors tied to their fields with focus on the first, the composer focused when
//! a conversation opens, presence in words, and what happens said to screen readers.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::common::ApiUser;
use crate::page::*;
use fantoccini::Client;
use serde_json::{json, Value};

/// The focused element's name or id, and the ARIA attributes tying it to an error.
async fn focused(client: &Client) -> anyhow::Result<Value> {
    Ok(client
        .execute(
            "const e = document.activeElement;
             return {
               field: e.id || e.name || e.tagName,
               invalid: e.getAttribute('aria-invalid'),
               described_by: e.getAttribute('aria-describedby'),
             };",
            vec![],
        )
        .await?)
}

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let alice = &lab.browsers[0];
    let base = lab.base();
    let bob = ApiUser::new(&lab.app, "bob").await?;

    // A refused registration: the field at fault says so, names its error, and has the focus.
    alice.goto(&format!("{base}/register")).await?;
    type_into(alice, "form#register input[name=username]", "alice").await?;
    type_into(alice, "form#register input[name=password]", "short").await?;
    click(alice, "form#register button[type=submit]").await?;
    wait_for_text(
        alice,
        "#password-error",
        "Must be at least 8 characters long.",
    )
    .await?;
    let field = focused(alice).await?;
    anyhow::ensure!(
        field == json!({"field": "password", "invalid": "true", "described_by": "password-error"}),
        "after a refused password the focus is on {field}"
    );
    expect_logged(alice, "Alice", &[&refused("/register", 422)]).await?;
    expect_accessible(alice, "the registration page with an error").await?;
    fill_registration(alice, "alice", "Alice").await?;
    wait_for_path(alice, "Alice to land on her list", |p| {
        p == "/conversations"
    })
    .await?;

    type_into(alice, "form#start input#start-with", "nobody_here").await?;
    click(alice, "form#start button[type=submit]").await?;
    eventually("#with-error", || async {
        text_of(alice, "#with-error").await
    })
    .await?;
    let field = focused(alice).await?;
    anyhow::ensure!(
        field == json!({"field": "start-with", "invalid": "true", "described_by": "with-error"}),
        "after an unknown name the focus is on {field}"
    );
    expect_logged(alice, "Alice", &[&refused("/conversations", 422)]).await?;

    // A conversation opens ready to write; Bob's presence is said in words, not colour alone.
    let (_, conversation) = start_conversation(alice, "bob").await?;
    eventually("the composer to have the focus", || async {
        let field = focused(alice).await?;
        anyhow::ensure!(
            field["field"] == json!("compose"),
            "the focus is on {field}"
        );
        Ok(())
    })
    .await?;
    wait_for_text(alice, "#presence-text", "offline").await?;

    // Bob writes: a screen reader hears who wrote what.
    bob.sent(&conversation, "hello alice", "hello").await?;
    eventually("the new message to be announced", || async {
        let said = alice
            .execute(
                "const live = document.getElementById('announce');
                 return [live.getAttribute('aria-live'), live.textContent];",
                vec![],
            )
            .await?;
        anyhow::ensure!(
            said == json!(["polite", "bob: hello alice"]),
            "announced {said}"
        );
        Ok(())
    })
    .await?;

    // A refused send is an alert tied to the box.
    alice
        .execute(
            "document.getElementById('compose').value = '   '; return null;",
            vec![],
        )
        .await?;
    click(alice, "form#send button[type=submit]").await?;
    eventually("the refusal to be shown", || async {
        let error = text_of(alice, "#send-error").await?;
        anyhow::ensure!(
            error.contains("must not be empty"),
            "#send-error reads {error:?}"
        );
        Ok(())
    })
    .await?;
    let tied = alice
        .execute(
            "return [document.getElementById('send-error').getAttribute('role'),
                     document.getElementById('compose').getAttribute('aria-describedby'),
                     document.getElementById('receipt').getAttribute('aria-live')];",
            vec![],
        )
        .await?;
    anyhow::ensure!(
        tied == json!(["alert", "send-error", "polite"]),
        "the refusal, the box and the receipt: {tied}"
    );
    expect_logged(alice, "Alice", &[&refused("/send", 422)]).await?;
    expect_accessible(alice, "a conversation with a refused send").await
}
