//! Two people register and chat: refusals that keep what was typed, live messages, typing,
//! receipts, presence, hostile bodies, older history, ending a session from elsewhere.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::page::*;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::json;
use std::time::Duration;

pub async fn scenario(alice: &Client, bob: &Client, base: &str) -> anyhow::Result<()> {
    // Alice registers; Bob first tries her name, which is taken, and keeps what he typed.
    register(alice, base, "alice", "Alice").await?;
    bob.goto(&format!("{base}/register")).await?;
    fill_registration(bob, "alice", "Bob").await?;
    let error = eventually("#username-error for a taken name", || async {
        text_of(bob, "#username-error").await
    })
    .await?;
    anyhow::ensure!(error.contains("taken"), "#username-error reads {error:?}");
    expect_logged(bob, "Bob", &[&refused("/register", 409)]).await?;
    expect_accessible(bob, "the registration page with an error").await?;
    anyhow::ensure!(
        bob.current_url().await?.path() == "/register",
        "a refused registration left /register"
    );
    anyhow::ensure!(value_of(bob, "form#register input[name=username]").await? == "alice");
    anyhow::ensure!(value_of(bob, "form#register input[name=display_name]").await? == "Bob");
    anyhow::ensure!(
        value_of(bob, "form#register input[name=password]")
            .await?
            .is_empty(),
        "the password was sent back into the page"
    );
    fill_registration(bob, "bob", "Bob").await?;
    wait_for_path(bob, "bob to land on /conversations", |p| {
        p == "/conversations"
    })
    .await?;
    mark_document(bob).await?;

    // Alice looks for someone who does not exist, then starts a conversation with Bob.
    type_into(alice, "form#start input#start-with", "nobody_here").await?;
    click(alice, "form#start button[type=submit]").await?;
    let error = eventually("#with-error for an unknown user", || async {
        text_of(alice, "#with-error").await
    })
    .await?;
    anyhow::ensure!(error.contains("nobody_here"), "#with-error reads {error:?}");
    expect_logged(alice, "Alice", &[&refused("/conversations", 422)]).await?;
    expect_accessible(alice, "the conversation list with an error").await?;
    anyhow::ensure!(value_of(alice, "input#start-with").await? == "nobody_here");
    let (path, conversation) = start_conversation(alice, "bob").await?;
    anyhow::ensure!(
        messages(alice).await?.is_empty(),
        "a new conversation has messages"
    );
    anyhow::ensure!(text_of(alice, "#peer-name").await? == "Bob");
    anyhow::ensure!(last_status(alice).await? == (String::new(), String::new()));

    // Bob has been on /conversations since he registered: the new conversation shows up in his
    // list live, then Alice's first message does, unread.
    wait_for_presence(alice, "Alice", true).await?;
    let item = format!("#conversation-list li.conversation[data-id='{conversation}']");
    let peer = eventually("the new conversation in Bob's list", || async {
        text_of(bob, &format!("{item} .peer")).await
    })
    .await?;
    anyhow::ensure!(peer.contains("Alice"), "Bob's list names the peer {peer:?}");
    // A refused send shows why and keeps what was typed (it used to wipe both at once).
    alice
        .execute(
            "document.getElementById('compose').value = '   '; return null;",
            vec![],
        )
        .await?;
    click(alice, "form#send button[type=submit]").await?;
    let error = eventually("#send-error for an empty message", || async {
        let text = text_of(alice, "#send-error").await?;
        anyhow::ensure!(!text.is_empty(), "#send-error is empty");
        Ok(text)
    })
    .await?;
    anyhow::ensure!(
        error.contains("must not be empty"),
        "#send-error reads {error:?}"
    );
    anyhow::ensure!(
        value_of(alice, "textarea#compose").await? == "   ",
        "a refused send emptied #compose"
    );
    expect_logged(alice, "Alice", &[&refused("/send", 422)]).await?;
    alice
        .execute(
            "document.getElementById('compose').value = ''; return null;",
            vec![],
        )
        .await?;
    let mut transcript: Transcript = vec![];
    send(alice, "hello bob").await?;
    transcript.push((true, "hello bob"));
    wait_for_transcript(alice, true, &transcript).await?;
    anyhow::ensure!(
        value_of(alice, "textarea#compose").await?.is_empty(),
        "#compose was not emptied after sending"
    );
    expect_local_times(alice).await?;
    // Right-to-left text lays itself out: bodies, previews and inputs take their direction from it.
    for css in ["#messages .message .body", "textarea#compose"] {
        let dir = alice.find(Locator::Css(css)).await?.attr("dir").await?;
        anyhow::ensure!(dir.as_deref() == Some("auto"), "{css} has dir {dir:?}");
    }
    wait_for_text(bob, &format!("{item} .unread.badge"), "1").await?;
    wait_for_text(bob, &format!("{item} .last"), "hello bob").await?;
    assert_not_reloaded(bob, "Bob").await?;
    anyhow::ensure!(
        last_status(alice).await? == ("sent".to_owned(), String::new()),
        "Alice's message shows as seen before Bob opened the conversation"
    );

    // Bob opens it: he has read it, and Alice is told so live.
    click(bob, &format!("{item} a")).await?;
    wait_for_path(bob, "Bob to open the conversation", |p| p == path).await?;
    wait_for_transcript(bob, false, &transcript).await?;
    wait_for_seen(alice, "Alice", true).await?;
    // Alice has been there all along (the page tells from the server's presence model).
    wait_for_presence(bob, "Bob", true).await?;

    // With both pages open: Alice types (Bob sees it), sends, and it appears without a reload.
    mark_document(alice).await?;
    mark_document(bob).await?;
    // Typing notices go out at most once per 2 s (the page and, by Redis, the gateway both
    // throttle; one can drop the other's notice near the boundary), and Alice typed her last
    // message moments ago: she types this one over more than 4 s, as people do.
    let compose = alice.find(Locator::Css("textarea#compose")).await?;
    let mut seen_typing = false;
    for key in "are you there?".chars() {
        compose.send_keys(&key.to_string()).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        seen_typing = seen_typing || text_of(bob, "#typing").await? == "Alice is typing…";
    }
    if !seen_typing {
        wait_for_text(bob, "#typing", "Alice is typing…").await?;
    }
    compose.send_keys(&Key::Enter.to_string()).await?;
    transcript.push((true, "are you there?"));
    wait_for_transcript(alice, true, &transcript).await?;
    wait_for_transcript(bob, false, &transcript).await?;
    wait_for_text(bob, "#typing", "").await?;
    wait_for_seen(alice, "Alice", true).await?;

    // Bob answers; Alice sees it live, and Bob sees that she has read it.
    send(bob, "hi alice").await?;
    transcript.push((false, "hi alice"));
    wait_for_transcript(bob, false, &transcript).await?;
    wait_for_transcript(alice, true, &transcript).await?;
    wait_for_seen(bob, "Bob", true).await?;

    // A hostile body is shown as text on both sides, and nothing runs.
    send(alice, HOSTILE).await?;
    transcript.push((true, HOSTILE));
    wait_for_transcript(alice, true, &transcript).await?;
    wait_for_transcript(bob, false, &transcript).await?;
    for (client, who) in [(alice, "Alice"), (bob, "Bob")] {
        let images = client.find_all(Locator::Css("#messages img")).await?;
        anyhow::ensure!(images.is_empty(), "{who}'s #messages holds an <img>");
        if let Ok(text) = client.get_alert_text().await {
            anyhow::bail!("{who}'s page opened an alert: {text:?}");
        }
    }

    // Shift+Enter is a new line inside one message.
    send(alice, "two\nlines").await?;
    transcript.push((true, "two\nlines"));
    wait_for_transcript(alice, true, &transcript).await?;
    wait_for_transcript(bob, false, &transcript).await?;
    wait_for_seen(alice, "Alice", true).await?;
    expect_accessible(alice, "a conversation").await?;
    expect_accessible(bob, "a conversation").await?;
    assert_not_reloaded(alice, "Alice").await?;
    assert_not_reloaded(bob, "Bob").await?;

    // A reload keeps the whole history, in order, with the receipt.
    alice.refresh().await?;
    wait_for_transcript(alice, true, &transcript).await?;
    anyhow::ensure!(
        alice
            .find_all(Locator::Css("#messages img"))
            .await?
            .is_empty(),
        "Alice's reloaded #messages holds an <img>"
    );
    wait_for_seen(alice, "Alice", true).await?;
    mark_document(alice).await?;

    // Bob leaves for the list: Alice's next message is unread there and not "Seen" on her side
    // until Bob opens the conversation again.
    bob.goto(&format!("{base}/conversations")).await?;
    wait_for_text(bob, &format!("{item} .last"), "two lines").await?;
    anyhow::ensure!(
        bob.find_all(Locator::Css(&format!("{item} .unread.badge")))
            .await?
            .is_empty(),
        "Bob's list shows an unread badge though he has read everything"
    );
    mark_document(bob).await?;
    send(alice, "bye").await?;
    transcript.push((true, "bye"));
    wait_for_transcript(alice, true, &transcript).await?;
    wait_for_text(bob, &format!("{item} .unread.badge"), "1").await?;
    wait_for_text(bob, &format!("{item} .last"), "bye").await?;
    assert_not_reloaded(bob, "Bob").await?;
    wait_for_seen(alice, "Alice", false).await?;
    click(bob, &format!("{item} a")).await?;
    wait_for_transcript(bob, false, &transcript).await?;
    wait_for_seen(alice, "Alice", true).await?;

    // Presence, live: Bob closes the page (offline), and comes back (online).
    bob.goto("about:blank").await?;
    wait_for_presence(alice, "Alice", false).await?;
    bob.goto(&format!("{base}{path}")).await?;
    wait_for_presence(alice, "Alice", true).await?;
    wait_for_transcript(bob, false, &transcript).await?;
    assert_not_reloaded(alice, "Alice").await?;

    // Alice goes back to her list (on a phone a conversation has no other header), looks at her
    // settings and at the API's docs (Swagger UI); Bob logs out.
    click(alice, "a.back").await?;
    wait_for_path(alice, "Alice to be back on her list", |p| {
        p == "/conversations"
    })
    .await?;
    click(alice, "nav a[href='/settings']").await?;
    wait_for_path(alice, "Alice to open her settings", |p| p == "/settings").await?;
    wait_for_text(alice, "ul.sessions li strong", "This device").await?;
    expect_accessible(alice, "the settings").await?;
    alice.goto(&format!("{base}/api/docs")).await?;
    eventually("the API docs to list the operations", || async {
        let operations = alice.find_all(Locator::Css(".opblock-summary")).await?;
        anyhow::ensure!(operations.len() >= 8, "{} shown", operations.len());
        Ok(())
    })
    .await?;
    // axe reads this page in docs.rs.
    click(alice, ".opblock-summary").await?;
    eventually("an operation to open", || async {
        alice
            .find(Locator::Css(".opblock.is-open .opblock-body"))
            .await?;
        Ok(())
    })
    .await?;
    click(bob, "a.back").await?;
    wait_for_path(bob, "Bob to be back on his list", |p| p == "/conversations").await?;
    click(bob, "button#logout").await?;
    wait_for_path(bob, "Bob to land on /login", |p| p == "/login").await?;
    expect_accessible(bob, "the login page").await?;

    // Older history: past one page (50), scrolling the list to its top loads the earlier
    // messages, a page at a time, and the reader stays where they were.
    let http = reqwest::Client::new();
    let bob_token = api_token(base, "bob").await?;
    // Written by Alice on another device: nothing unread, so her page opens at the newest page.
    let alice_token = api_token(base, "alice").await?;
    for n in 0..60 {
        let sent = http
            .post(format!("{base}/api/v1/conversations/{conversation}/messages"))
            .bearer_auth(&alice_token)
            .json(&serde_json::json!({"body": format!("later {n}"), "client_id": format!("later-{n}")}))
            .send()
            .await?;
        anyhow::ensure!(sent.status() == 201, "send {n}: {}", sent.status());
    }
    let all = transcript.len() + 60;
    alice.goto(&format!("{base}{path}")).await?;
    eventually("the newest page of messages", || async {
        let shown = messages(alice).await?.len();
        anyhow::ensure!(shown == 50, "{shown} shown");
        Ok(())
    })
    .await?;
    let mut loaded = 50;
    while loaded < all {
        let top = messages(alice)
            .await?
            .first()
            .map(|m| m.seq)
            .unwrap_or_default();
        alice
            .execute(
                "document.getElementById('messages').scrollTop = 0; return null;",
                vec![],
            )
            .await?;
        loaded = eventually("an older page to load", || async {
            let shown = messages(alice).await?.len();
            anyhow::ensure!(shown > loaded, "still {shown}");
            Ok(shown)
        })
        .await?;
        // The place is restored once the swap settles, a moment after the messages appear.
        eventually("the reader's place to be kept", || async {
            let in_view = alice
                .execute(
                    "const box = document.getElementById('messages').getBoundingClientRect();
                     const m = document.querySelector(`#messages .message[data-seq='${arguments[0]}']`)
                       .getBoundingClientRect();
                     return m.bottom > box.top && m.top < box.bottom;",
                    vec![json!(top)],
                )
                .await?;
            anyhow::ensure!(in_view == json!(true), "message {top} is out of view");
            Ok(())
        })
        .await?;
    }
    anyhow::ensure!(loaded == all, "{loaded} of {all} shown");

    // Scrolled up, Alice is not pulled down by a new message; a button offers to go there.
    let scroll_top = "return document.getElementById('messages').scrollTop;";
    let before = alice.execute(scroll_top, vec![]).await?;
    let sent = http
        .post(format!(
            "{base}/api/v1/conversations/{conversation}/messages"
        ))
        .bearer_auth(&bob_token)
        .json(&serde_json::json!({"body": "while you read", "client_id": "while-you-read"}))
        .send()
        .await?;
    anyhow::ensure!(sent.status() == 201, "send: {}", sent.status());
    eventually("the new message and the button", || async {
        let shown = messages(alice).await?.len();
        anyhow::ensure!(shown == all + 1, "{shown} shown");
        let button = alice.find(Locator::Css("#new-messages")).await?;
        anyhow::ensure!(button.is_displayed().await?, "#new-messages is hidden");
        Ok(())
    })
    .await?;
    let after = alice.execute(scroll_top, vec![]).await?;
    anyhow::ensure!(before == after, "the list moved from {before} to {after}");
    click(alice, "#new-messages").await?;
    eventually("the list to reach the new message", || async {
        let bottom = alice
            .execute(
                "const b = document.getElementById('messages');
                 return b.scrollHeight - b.scrollTop - b.clientHeight < 80;",
                vec![],
            )
            .await?;
        anyhow::ensure!(bottom == json!(true), "not at the bottom");
        let button = alice.find(Locator::Css("#new-messages")).await?;
        anyhow::ensure!(!button.is_displayed().await?, "#new-messages still shown");
        Ok(())
    })
    .await?;

    // Alice ends her browser's session from elsewhere ("log out everywhere else" from another
    // device): the open conversation page goes to /login by itself, at once.
    let token = api_token(base, "alice").await?;
    let ended = http
        .delete(format!("{base}/api/v1/sessions"))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(
        ended.status() == 200,
        "log out elsewhere: {}",
        ended.status()
    );
    wait_for_path(alice, "Alice's ended session to land on /login", |p| {
        p == "/login"
    })
    .await?;
    for (client, who) in [(alice, "Alice"), (bob, "Bob")] {
        expect_logged(client, who, &[]).await?;
    }
    Ok(())
}
