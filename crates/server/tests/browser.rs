//! The web page in a real browser: two headless Chromium windows (two users, two cookie jars)
//! driven through chromedriver with fantoccini, against the app with real Postgres, Redis and NATS.
//!
//! Whatever the browsers log at warning level or above fails the test unless the scenario caused it
//! on purpose: a Content-Security-Policy violation, a script error, a failed load (a missing favicon).
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`;
//! `scripts/test` installs them). `CHROMIUM` and `CHROMEDRIVER` override their paths.
//! Screenshots of both windows are saved to `target/screenshots/{alice,bob}.png`.

mod common;

use common::spawn_app;
use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "correct horse battery";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `name` as given if it is a path, else the first match on `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let given = Path::new(name);
    if given.components().count() > 1 {
        return given.is_file().then(|| given.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn required_program(variable: &str, default: &str) -> PathBuf {
    let name = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    find_program(&name).unwrap_or_else(|| {
        panic!(
            "`{name}` was not found: this browser test needs Chromium and chromedriver. Install \
             them with `apt-get install -y chromium chromium-driver` (scripts/test does it), or \
             set {variable} to the program's path."
        )
    })
}

/// A chromedriver of our own on a free port; killed when dropped.
struct Driver {
    url: String,
    _child: Child,
}

impl Driver {
    async fn start(program: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut child = Command::new(program)
            .arg(format!("--port={port}"))
            // Not UTC, and not a whole hour off it: times on the page must be the viewer's.
            .env("TZ", "Asia/Kolkata")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {}: {e}", program.display()))?;
        let deadline = Instant::now() + WAIT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("chromedriver exited at start: {status}");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            _child: child,
        })
    }

    /// A new browser (its own profile, so its own cookies) with a phone-sized window.
    async fn browser(&self, chromium: &Path, profile: &Path) -> anyhow::Result<Client> {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=420,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            // Console messages, CSP violations and failed loads, for `BrowserLog`.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        // chromedriver speaks plain HTTP on loopback: no TLS connector needed.
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .map_err(|e| anyhow::anyhow!("starting a Chromium session: {e}"))?;
        Ok(client)
    }
}

/// Takes what the browser logged since the last take (chromedriver's log endpoint). It holds what
/// every page logged, also before any of our scripts ran and on pages without them (the API docs).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// The warnings and errors `client`'s browser logged since the last look, as "LEVEL message".
async fn logged_problems(client: &Client) -> anyhow::Result<Vec<String>> {
    let entries = client.issue_cmd(BrowserLog).await?;
    let entries = entries
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("the browser log is not a list: {entries}"))?;
    Ok(entries
        .iter()
        .filter(|entry| matches!(entry["level"].as_str(), Some("WARNING" | "SEVERE")))
        .map(|entry| {
            format!(
                "{} {}",
                entry["level"].as_str().unwrap_or_default(),
                entry["message"].as_str().unwrap_or_default()
            )
        })
        .collect())
}

/// Fails unless the warnings and errors `who`'s browser logged since the last look are exactly
/// `expected` (each a part of one entry): what the scenario provoked on purpose. Waits for the
/// expected ones, which may arrive after the page showed its result.
async fn expect_logged(client: &Client, who: &str, expected: &[&str]) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut logged = logged_problems(client).await?;
    loop {
        let missing: Vec<&&str> = expected
            .iter()
            .filter(|want| !logged.iter().any(|entry| entry.contains(*want)))
            .collect();
        if missing.is_empty() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{who}'s browser did not log {missing:?}; it logged:\n{}",
            logged.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        logged.extend(logged_problems(client).await?);
    }
    let unexpected: Vec<&str> = logged
        .iter()
        .map(String::as_str)
        .filter(|entry| !expected.iter().any(|want| entry.contains(want)))
        .collect();
    anyhow::ensure!(
        unexpected.is_empty(),
        "{who}'s browser logged:\n{}",
        unexpected.join("\n")
    );
    Ok(())
}

/// Every message time is the viewer's local time (the browser runs in Asia/Kolkata, UTC+05:30),
/// the first message of a day is preceded by a day line, and today's says "Today".
async fn expect_local_times(client: &Client) -> anyhow::Result<()> {
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

/// A refused form: the browser logs the page's status as a failed load.
fn refused(path: &str, status: u16) -> String {
    format!("{path} - Failed to load resource: the server responded with a status of {status}")
}

/// Polls `probe` until it succeeds (up to `WAIT`); fails with `what` and the last reason.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() >= deadline => {
                anyhow::bail!("timed out after {WAIT:?} waiting for {what}; last: {error:#}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The text of the element `css` selects, if there is one.
async fn text_of(client: &Client, css: &str) -> anyhow::Result<String> {
    Ok(client.find(Locator::Css(css)).await?.text().await?)
}

async fn wait_for_path(
    client: &Client,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    eventually(what, || async {
        let url = client.current_url().await?;
        anyhow::ensure!(wanted(url.path()), "at {url}");
        Ok(url.path().to_owned())
    })
    .await
}

async fn wait_for_text(client: &Client, css: &str, wanted: &str) -> anyhow::Result<()> {
    eventually(&format!("{css} to read {wanted:?}"), || async {
        let text = text_of(client, css).await?;
        anyhow::ensure!(text == wanted, "it reads {text:?}");
        Ok(())
    })
    .await
}

/// Types into the field `css` selects, as a user would.
async fn type_into(client: &Client, css: &str, text: &str) -> anyhow::Result<()> {
    let field = client.find(Locator::Css(css)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

async fn click(client: &Client, css: &str) -> anyhow::Result<()> {
    client.find(Locator::Css(css)).await?.click().await?;
    Ok(())
}

async fn value_of(client: &Client, css: &str) -> anyhow::Result<String> {
    Ok(client
        .find(Locator::Css(css))
        .await?
        .prop("value")
        .await?
        .unwrap_or_default())
}

/// Fills in and submits the registration form (the page must be open).
async fn fill_registration(
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

async fn register(
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
struct Shown {
    seq: i64,
    own: bool,
    body: String,
}

/// The messages in `#messages`, in page order.
async fn messages(client: &Client) -> anyhow::Result<Vec<Shown>> {
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
type Transcript = Vec<(bool, &'static str)>;

/// Waits until `client`'s `#messages` shows exactly `transcript` (each message once, in order,
/// `.own` on the writer's side); `alice` says whose page it is.
async fn wait_for_transcript(
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
async fn send(client: &Client, text: &str) -> anyhow::Result<()> {
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
async fn wait_for_presence(client: &Client, who: &str, online: bool) -> anyhow::Result<()> {
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

/// Marks the current document, to tell later whether the page has been reloaded or left.
async fn mark_document(client: &Client) -> anyhow::Result<()> {
    client
        .execute("window.__stillHere = 'yes'; return null;", vec![])
        .await?;
    Ok(())
}

async fn assert_not_reloaded(client: &Client, who: &str) -> anyhow::Result<()> {
    let marker = client
        .execute("return window.__stillHere || null;", vec![])
        .await?;
    anyhow::ensure!(
        marker == json!("yes"),
        "{who}'s page was reloaded or left (the update was not live)"
    );
    Ok(())
}

async fn scenario(alice: &Client, bob: &Client, base: &str) -> anyhow::Result<()> {
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
    anyhow::ensure!(value_of(alice, "input#start-with").await? == "nobody_here");
    type_into(alice, "form#start input#start-with", "bob").await?;
    click(alice, "form#start button[type=submit]").await?;
    let path = wait_for_path(alice, "alice to open the conversation", |p| {
        p.starts_with("/conversations/") && p.len() > "/conversations/".len()
    })
    .await?;
    let conversation = path.trim_start_matches("/conversations/").to_owned();
    anyhow::ensure!(
        messages(alice).await?.is_empty(),
        "a new conversation has messages"
    );
    anyhow::ensure!(text_of(alice, "#peer-name").await? == "Bob");
    anyhow::ensure!(text_of(alice, "#receipt").await?.is_empty());

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
        text_of(alice, "#receipt").await?.is_empty(),
        "Alice's #receipt says Seen before Bob opened the conversation"
    );

    // Bob opens it: he has read it, and Alice is told so live.
    click(bob, &format!("{item} a")).await?;
    wait_for_path(bob, "Bob to open the conversation", |p| p == path).await?;
    wait_for_transcript(bob, false, &transcript).await?;
    wait_for_text(alice, "#receipt", "Seen").await?;
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
    wait_for_text(alice, "#receipt", "Seen").await?;

    // Bob answers; Alice sees it live, and Bob sees that she has read it.
    send(bob, "hi alice").await?;
    transcript.push((false, "hi alice"));
    wait_for_transcript(bob, false, &transcript).await?;
    wait_for_transcript(alice, true, &transcript).await?;
    wait_for_text(bob, "#receipt", "Seen").await?;

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
    wait_for_text(alice, "#receipt", "Seen").await?;
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
    wait_for_text(alice, "#receipt", "Seen").await?;
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
    wait_for_text(alice, "#receipt", "").await?;
    click(bob, &format!("{item} a")).await?;
    wait_for_transcript(bob, false, &transcript).await?;
    wait_for_text(alice, "#receipt", "Seen").await?;

    // Presence, live: Bob closes the page (offline), and comes back (online).
    bob.goto("about:blank").await?;
    wait_for_presence(alice, "Alice", false).await?;
    bob.goto(&format!("{base}{path}")).await?;
    wait_for_presence(alice, "Alice", true).await?;
    wait_for_transcript(bob, false, &transcript).await?;
    assert_not_reloaded(alice, "Alice").await?;

    // Alice looks at her settings and at the API's docs (Swagger UI); Bob logs out.
    click(alice, "nav a[href='/settings']").await?;
    wait_for_path(alice, "Alice to open her settings", |p| p == "/settings").await?;
    wait_for_text(alice, "ul.sessions li strong", "This device").await?;
    alice.goto(&format!("{base}/api/docs")).await?;
    eventually("the API docs to list the operations", || async {
        let operations = alice.find_all(Locator::Css(".opblock-summary")).await?;
        anyhow::ensure!(operations.len() >= 8, "{} shown", operations.len());
        Ok(())
    })
    .await?;
    click(alice, ".opblock-summary").await?;
    eventually("an operation to open", || async {
        alice
            .find(Locator::Css(".opblock.is-open .opblock-body"))
            .await?;
        Ok(())
    })
    .await?;
    click(bob, "button#logout").await?;
    wait_for_path(bob, "Bob to land on /login", |p| p == "/login").await?;

    // Older history: past one page (50), scrolling the list to its top loads the earlier
    // messages, a page at a time, and the reader stays where they were.
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "bob", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let bob_token = login["token"].as_str().unwrap_or_default().to_owned();
    for n in 0..60 {
        let sent = http
            .post(format!("{base}/api/v1/conversations/{conversation}/messages"))
            .bearer_auth(&bob_token)
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
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().unwrap_or_default();
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

fn screenshot_dir() -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.canonicalize()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_in_real_browsers() -> anyhow::Result<()> {
    let chromium = required_program("CHROMIUM", "chromium");
    let chromedriver = required_program("CHROMEDRIVER", "chromedriver");

    // The page's forms post with Origin = the address the browser sees, which must be PUBLIC_URL.
    let port = free_port()?;
    let bind = format!("127.0.0.1:{port}");
    let public = format!("http://{bind}");
    let app = spawn_app(&[("BIND", bind.as_str()), ("PUBLIC_URL", public.as_str())]).await?;
    anyhow::ensure!(
        app.base == public,
        "the app is at {}, not {public}",
        app.base
    );

    let profiles = std::env::temp_dir().join(format!("chat-browser-{}", uuid::Uuid::new_v4()));
    let driver = Driver::start(&chromedriver).await?;
    let alice = driver.browser(&chromium, &profiles.join("alice")).await?;
    let bob = match driver.browser(&chromium, &profiles.join("bob")).await {
        Ok(bob) => bob,
        Err(error) => {
            let _ = alice.close().await;
            return Err(error);
        }
    };

    let started = Instant::now();
    let outcome = scenario(&alice, &bob, &app.base).await;
    eprintln!("browser scenario took {:?}", started.elapsed());

    // Screenshots whatever happened: on a failure they show where.
    let dir = screenshot_dir()?;
    for (client, name) in [(&alice, "alice"), (&bob, "bob")] {
        match client.screenshot().await {
            Ok(png) => {
                let path = dir.join(format!("{name}.png"));
                std::fs::write(&path, png)?;
                eprintln!("saved {}", path.display());
            }
            Err(error) => eprintln!("no screenshot of {name}'s window: {error}"),
        }
    }
    let closed = (alice.close().await, bob.close().await);
    drop(driver);
    let _ = std::fs::remove_dir_all(&profiles);
    outcome?;
    closed.0?;
    closed.1?;
    Ok(())
}
