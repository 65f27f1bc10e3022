//! What the chat's pages show, read the way a person would: messages, presence, local times;
//! and what a person does there: register, type, send.

use crate::chromium::{click, eventually, text_of, type_into, wait_for_path, PASSWORD};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};

/// Starts a conversation with `username` from the home page's form and waits until it is open:
/// its path and its id.
pub async fn start_conversation(
    client: &Client,
    username: &str,
) -> anyhow::Result<(String, String)> {
    type_into(client, "form#start input#start-with", username).await?;
    click(client, "form#start button[type=submit]").await?;
    let path = wait_for_path(client, "the conversation to open", |p| {
        p.starts_with("/conversations/") && p.len() > "/conversations/".len()
    })
    .await?;
    let conversation = path.trim_start_matches("/conversations/").to_owned();
    Ok((path, conversation))
}

/// A new session of `username` over the API (another device), as its bearer token.
pub async fn api_token(base: &str, username: &str) -> anyhow::Result<String> {
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    login["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token for {username}: {login}"))
}

/// Every message time is the viewer's local time (the browser runs in Asia/Kolkata, UTC+05:30),
/// the first message of a day is preceded by a day line, and today's says "Today".
pub async fn expect_local_times(client: &Client) -> anyhow::Result<()> {
    let times = client
        .find_all(Locator::Css("#messages .message time"))
        .await?;
    anyhow::ensure!(!times.is_empty(), "no <time> in the messages");
    let kolkata = chrono::FixedOffset::east_opt(5 * 3600 + 30 * 60)
        .ok_or_else(|| anyhow::anyhow!("offset"))?;
    for time in times {
        let datetime = time.attr("datetime").await?.unwrap_or_default();
        let instant = chrono::DateTime::parse_from_rfc3339(&datetime)?;
        let expected = instant.with_timezone(&kolkata).format("%H:%M").to_string();
        let shown = time.text().await?;
        anyhow::ensure!(
            shown == expected,
            "{datetime} shown as {shown:?}, not {expected:?}"
        );
    }
    let first_line = text_of(client, "#messages .day").await?;
    anyhow::ensure!(first_line == "Today", "the day line reads {first_line:?}");
    Ok(())
}

/// Fills in and submits the registration form (the page must be open).
pub async fn fill_registration(
    client: &Client,
    username: &str,
    display_name: &str,
) -> anyhow::Result<()> {
    type_into(client, "form#register input[name=username]", username).await?;
    type_into(
        client,
        "form#register input[name=display_name]",
        display_name,
    )
    .await?;
    type_into(client, "form#register input[name=password]", PASSWORD).await?;
    click(client, "form#register button[type=submit]").await
}

pub async fn register(
    client: &Client,
    base: &str,
    username: &str,
    display_name: &str,
) -> anyhow::Result<()> {
    client.goto(&format!("{base}/register")).await?;
    fill_registration(client, username, display_name).await?;
    wait_for_path(
        client,
        &format!("{username} to land on /conversations"),
        |p| p == "/conversations",
    )
    .await?;
    Ok(())
}

/// One message as a page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub seq: i64,
    pub own: bool,
    pub body: String,
}

/// The messages in `#messages`, in page order.
pub async fn messages(client: &Client) -> anyhow::Result<Vec<Shown>> {
    let rows = client
        .execute(
            "return Array.from(document.querySelectorAll('#messages div.message')).map(m => ({
                 seq: Number(m.dataset.seq),
                 own: m.classList.contains('own'),
                 peer: m.classList.contains('peer'),
                 body: m.querySelector('.body').textContent,
             }));",
            vec![],
        )
        .await?;
    let rows = rows.as_array().cloned().unwrap_or_default();
    rows.iter()
        .map(|row| {
            let own = row["own"].as_bool().unwrap_or(false);
            anyhow::ensure!(
                own != row["peer"].as_bool().unwrap_or(false),
                "a message is neither or both .own and .peer: {row}"
            );
            Ok(Shown {
                seq: row["seq"]
                    .as_i64()
                    .ok_or_else(|| anyhow::anyhow!("no data-seq: {row}"))?,
                own,
                body: row["body"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// Who wrote what, in order: `true` for Alice.
pub type Transcript = Vec<(bool, &'static str)>;

/// Waits until `client`'s `#messages` shows exactly `transcript` (each message once, in order,
/// `.own` on the writer's side); `alice` says whose page it is.
pub async fn wait_for_transcript(
    client: &Client,
    alice: bool,
    transcript: &Transcript,
) -> anyhow::Result<Vec<Shown>> {
    let who = if alice { "Alice" } else { "Bob" };
    let wanted: Vec<(bool, &str)> = transcript
        .iter()
        .map(|(by_alice, body)| (*by_alice == alice, *body))
        .collect();
    eventually(
        &format!("{who}'s page to show each message once, in order, as (own, body): {wanted:?}"),
        || async {
            let shown = messages(client).await?;
            let got: Vec<(bool, &str)> = shown.iter().map(|m| (m.own, m.body.as_str())).collect();
            anyhow::ensure!(
                got == wanted && shown.windows(2).all(|w| w[0].seq < w[1].seq),
                "it shows {shown:?}"
            );
            Ok(shown)
        },
    )
    .await
}

/// Types `text` into `#compose` (Shift+Enter for each newline) and presses Enter.
pub async fn send(client: &Client, text: &str) -> anyhow::Result<()> {
    let compose = client
        .find(Locator::Css("form#send textarea#compose"))
        .await?;
    // Modifiers stay down until the end of a send_keys call: Shift+Enter gets a call of its own.
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            compose
                .send_keys(&format!("{}{}", Key::Shift, Key::Enter))
                .await?;
        }
        compose.send_keys(line).await?;
    }
    compose.send_keys(&Key::Enter.to_string()).await?;
    Ok(())
}

/// Waits until the presence dot on `client`'s conversation page says the peer is `online` (or not).
pub async fn wait_for_presence(client: &Client, who: &str, online: bool) -> anyhow::Result<()> {
    let state = if online { "online" } else { "offline" };
    eventually(
        &format!("{who}'s page to show the peer {state}"),
        || async {
            let dot = client.find(Locator::Css("#presence")).await?;
            let class = dot.attr("class").await?.unwrap_or_default();
            let title = dot.attr("title").await?.unwrap_or_default();
            anyhow::ensure!(
                class.split_whitespace().any(|c| c == "online") == online && title == state,
                "#presence has class {class:?} and title {title:?}"
            );
            Ok(())
        },
    )
    .await
}

/// What `client`'s page says of its last own message: its tick's label ("sent", "seen"; empty
/// without one) and the receipt read to screen readers ("Seen" or nothing).
pub async fn last_status(client: &Client) -> anyhow::Result<(String, String)> {
    let status = client
        .execute(
            "const own = document.querySelectorAll('#messages .message.own .tick');
             const tick = own.length ? own[own.length - 1].getAttribute('aria-label') : '';
             return [tick, document.getElementById('receipt').textContent];",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(status)?)
}

/// Waits until `client`'s last own message shows as seen by the peer (two ticks, and "Seen" for
/// screen readers), or as only sent.
pub async fn wait_for_seen(client: &Client, who: &str, seen: bool) -> anyhow::Result<()> {
    let want = if seen {
        ("seen".to_owned(), "Seen".to_owned())
    } else {
        ("sent".to_owned(), String::new())
    };
    eventually(
        &format!("{who}'s last message to show {want:?}"),
        || async {
            let status = last_status(client).await?;
            anyhow::ensure!(status == want, "it shows {status:?}");
            Ok(())
        },
    )
    .await
}
