//! Editing and deleting one's own message from its menu, by keyboard alone; the other person
//! sees both live.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::page::*;
use fantoccini::key::Key;
use fantoccini::Client;
use serde_json::json;

/// Presses `keys` on whatever has the focus, as a keyboard user does.
async fn press(client: &Client, keys: &str) -> anyhow::Result<()> {
    client.active_element().await?.send_keys(keys).await?;
    Ok(())
}

/// The focused element, as "tag.class" or "tag#id".
async fn focus(client: &Client) -> anyhow::Result<String> {
    let focused = client
        .execute(
            "const e = document.activeElement;
             return e.tagName.toLowerCase() + (e.id ? '#' + e.id : e.className ? '.' + e.className : '');",
            vec![],
        )
        .await?;
    Ok(focused.as_str().unwrap_or_default().to_owned())
}

async fn expect_focus(client: &Client, wanted: &str) -> anyhow::Result<()> {
    eventually(&format!("the focus to be on {wanted}"), || async {
        let focused = focus(client).await?;
        anyhow::ensure!(focused == wanted, "it is on {focused}");
        Ok(())
    })
    .await
}

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let (alice, bob) = (&lab.browsers[0], &lab.browsers[1]);
    let base = lab.base();
    register(alice, base, "alice", "Alice").await?;
    register(bob, base, "bob", "Bob").await?;
    let (path, _) = start_conversation(alice, "bob").await?;
    bob.goto(&format!("{base}{path}")).await?;
    send(alice, "helo bob").await?;
    wait_for_transcript(bob, false, &vec![(true, "helo bob")]).await?;
    anyhow::ensure!(
        bob.find_all(fantoccini::Locator::Css("#messages .actions"))
            .await?
            .is_empty(),
        "Bob's page offers to change Alice's message"
    );

    // A typo: Alice reaches the message's menu by keyboard (Shift+Tab from the box) and edits it.
    expect_focus(alice, "textarea#compose").await?;
    let menu = "summary";
    let mut steps = 0;
    while focus(alice).await? != menu {
        press(alice, &format!("{}{}", Key::Shift, Key::Tab)).await?;
        steps += 1;
        anyhow::ensure!(
            steps <= 4,
            "the message's menu is not within 4 Shift+Tabs of the box"
        );
    }
    press(alice, &Key::Enter.to_string()).await?;
    press(alice, &Key::Tab.to_string()).await?;
    expect_focus(alice, "button.edit").await?;
    expect_accessible(alice, "a conversation with a message's menu open").await?;
    lab.snap(alice, "menu").await?;
    press(alice, &Key::Enter.to_string()).await?;
    expect_focus(alice, "textarea").await?;
    alice
        .execute("document.activeElement.select(); return null;", vec![])
        .await?;
    press(alice, "hello bob").await?;
    expect_accessible(alice, "a conversation with a message being edited").await?;
    press(alice, &Key::Enter.to_string()).await?;
    let edited = vec![(true, "hello bob")];
    wait_for_transcript(alice, true, &edited).await?;
    wait_for_transcript(bob, false, &edited).await?;
    for (client, who) in [(alice, "Alice"), (bob, "Bob")] {
        wait_for_text(client, "#messages .message .edited", "edited")
            .await
            .map_err(|e| anyhow::anyhow!("{who}: {e}"))?;
    }

    // Then she deletes it, confirming in place; both pages say it was deleted.
    click(alice, "#messages .message.own summary").await?;
    click(alice, "#messages .message.own button.delete").await?;
    expect_focus(alice, "button.confirm-delete").await?;
    press(alice, &Key::Enter.to_string()).await?;
    for (client, who) in [(alice, "Alice"), (bob, "Bob")] {
        eventually(
            &format!("{who}'s page to show the message deleted"),
            || async {
                let shown = client
                    .execute(
                        "const m = document.querySelector('#messages .message');
                     return [m.classList.contains('deleted'), m.querySelector('.body').textContent,
                             m.querySelectorAll('.actions').length];",
                        vec![],
                    )
                    .await?;
                anyhow::ensure!(
                    shown == json!([true, "message deleted", 0]),
                    "it shows {shown}"
                );
                Ok(())
            },
        )
        .await?;
    }
    for (client, who) in [(alice, "Alice"), (bob, "Bob")] {
        expect_logged(client, who, &[]).await?;
    }
    Ok(())
}
