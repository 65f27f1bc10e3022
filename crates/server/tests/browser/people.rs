//! Finding someone to write to: "start a conversation" suggests people as one types the start of
//! their username or name, as a listbox one walks with the arrow keys (or taps, on a phone).

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::page::*;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

/// Registers `username` (shown as `display_name`) over the API.
async fn someone(lab: &Lab, username: &str, display_name: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/register", lab.base()))
        .json(&json!({"username": username, "password": PASSWORD, "display_name": display_name}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "register {username}: {}",
        response.status()
    );
    Ok(())
}

/// What the suggestions show: whether the list is open (and the box says so), each option's
/// text, which one is chosen, and what the box names as its active option.
async fn suggestions(client: &Client) -> anyhow::Result<Value> {
    Ok(client
        .execute(
            "const input = document.getElementById('start-with');
             const list = document.getElementById('start-suggestions');
             const options = Array.from(list.querySelectorAll('[role=option]'));
             return {
               open: !list.hidden && input.getAttribute('aria-expanded') === 'true',
               options: options.map(o => o.querySelector('.name').textContent + ' ' + o.querySelector('.handle').textContent),
               selected: options.filter(o => o.getAttribute('aria-selected') === 'true').map(o => o.id),
               active: input.getAttribute('aria-activedescendant'),
             };",
            vec![],
        )
        .await?)
}

/// Types `text` into the start box and waits until the list offers exactly `wanted`.
async fn type_and_wait(client: &Client, text: &str, wanted: &[&str]) -> anyhow::Result<()> {
    type_into(client, "form#start input#start-with", text).await?;
    eventually(&format!("{text:?} to suggest {wanted:?}"), || async {
        let shown = suggestions(client).await?;
        anyhow::ensure!(
            shown["open"] == json!(true) && shown["options"] == json!(wanted),
            "it shows {shown}"
        );
        Ok(())
    })
    .await
}

async fn keys(client: &Client, keys: &str) -> anyhow::Result<()> {
    client
        .find(Locator::Css("form#start input#start-with"))
        .await?
        .send_keys(keys)
        .await?;
    Ok(())
}

/// Whose conversation is open: the header's name.
async fn opened_with(client: &Client, name: &str) -> anyhow::Result<()> {
    wait_for_path(client, "a conversation to open", |p| {
        p.starts_with("/conversations/") && p.len() > "/conversations/".len()
    })
    .await?;
    wait_for_text(client, "#peer-name", name).await
}

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let alice = &lab.browsers[0];
    let base = lab.base();
    someone(lab, "bob", "Bob Builder").await?;
    someone(lab, "bobby", "Robin").await?;
    someone(lab, "carol", "Bobbie Carol").await?;
    someone(lab, "dave", "Dave").await?;
    register(alice, base, "alice", "Alice").await?;

    // The start of a username or of a name, whatever the case: the exact username first.
    type_and_wait(
        alice,
        "Bob",
        &["Bob Builder @bob", "Robin @bobby", "Bobbie Carol @carol"],
    )
    .await?;
    let shown = suggestions(alice).await?;
    anyhow::ensure!(
        shown["selected"] == json!([]) && shown["active"].is_null(),
        "something is chosen before the arrows moved: {shown}"
    );
    lab.snap(alice, "suggested").await?;
    expect_accessible(alice, "the conversation list suggesting people").await?;

    // The arrows walk the list (and wrap); the box keeps the focus and names the option.
    keys(alice, &format!("{}{}", Key::Down, Key::Down)).await?;
    let shown = suggestions(alice).await?;
    anyhow::ensure!(
        shown["selected"] == json!(["suggestion-1"]) && shown["active"] == json!("suggestion-1"),
        "after two downs: {shown}"
    );
    keys(alice, &format!("{}{}", Key::Up, Key::Up)).await?;
    let shown = suggestions(alice).await?;
    anyhow::ensure!(
        shown["selected"] == json!(["suggestion-2"]) && shown["active"] == json!("suggestion-2"),
        "two ups from the second wrap to the last: {shown}"
    );
    let focused = alice
        .execute("return document.activeElement.id;", vec![])
        .await?;
    anyhow::ensure!(
        focused == json!("start-with"),
        "the focus moved to {focused}"
    );
    lab.snap(alice, "chosen").await?;
    expect_accessible(alice, "a suggestion chosen with the arrows").await?;

    // Escape closes the list; typing again opens it; Enter on the chosen one starts with them.
    keys(alice, &Key::Escape.to_string()).await?;
    eventually("Escape to close the list", || async {
        let shown = suggestions(alice).await?;
        anyhow::ensure!(shown["open"] == json!(false), "{shown}");
        Ok(())
    })
    .await?;
    type_and_wait(alice, "rob", &["Robin @bobby"]).await?;
    keys(alice, &format!("{}{}", Key::Down, Key::Enter)).await?;
    opened_with(alice, "Robin").await?;

    // Nobody else matches: no list (and the form still takes a whole username).
    alice.goto(&format!("{base}/conversations")).await?;
    type_into(alice, "form#start input#start-with", "zz").await?;
    eventually("nobody to be found", || async {
        let said = alice
            .execute(
                "return document.getElementById('suggestions-status').textContent;",
                vec![],
            )
            .await?;
        let shown = suggestions(alice).await?;
        anyhow::ensure!(
            said == json!("Nobody found.") && shown["open"] == json!(false),
            "it says {said} and shows {shown}"
        );
        Ok(())
    })
    .await?;
    type_and_wait(alice, "bobbie", &["Bobbie Carol @carol"]).await?;
    click(alice, "#suggestion-0").await?;
    opened_with(alice, "Bobbie Carol").await?;
    expect_logged(alice, "Alice", &[]).await
}

/// On a phone the list fits the screen, its options are big enough to tap, and a tap starts.
pub async fn on_a_phone(lab: &Lab) -> anyhow::Result<()> {
    let alice = &lab.browsers[0];
    let base = lab.base();
    for n in 0..6 {
        someone(
            lab,
            &format!("bob{n}"),
            &format!("Bob number {n} with a rather long name"),
        )
        .await?;
    }
    register(alice, base, "alice", "Alice").await?;
    let wanted: Vec<String> = (0..6)
        .map(|n| format!("Bob number {n} with a rather long name @bob{n}"))
        .collect();
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    type_and_wait(alice, "bob", &wanted).await?;
    let fit = alice
        .execute(
            "const list = document.getElementById('start-suggestions').getBoundingClientRect();
             const sizes = Array.from(document.querySelectorAll('#start-suggestions [role=option]'))
               .map(o => o.getBoundingClientRect().height);
             return {
               left: list.left, right: list.right, width: window.innerWidth,
               smallest: Math.min(...sizes),
               wide: document.documentElement.scrollWidth <= window.innerWidth,
             };",
            vec![],
        )
        .await?;
    anyhow::ensure!(
        fit["left"].as_f64().unwrap_or(-1.0) >= 0.0
            && fit["right"].as_f64().unwrap_or(f64::MAX) <= fit["width"].as_f64().unwrap_or(0.0)
            && fit["wide"] == json!(true),
        "the list does not fit the screen: {fit}"
    );
    anyhow::ensure!(
        fit["smallest"].as_f64().unwrap_or(0.0) >= 44.0,
        "an option is smaller than a finger: {fit}"
    );
    lab.snap(alice, "phone-suggested").await?;
    expect_accessible(alice, "suggestions on a phone").await?;
    click(alice, "#suggestion-3").await?;
    opened_with(alice, "Bob number 3 with a rather long name").await?;
    expect_logged(alice, "Alice", &[]).await
}
