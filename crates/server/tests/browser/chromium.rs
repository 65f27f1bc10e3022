//! Driving headless Chromium through chromedriver (fantoccini), and what every browser test
//! needs: waiting for conditions, reading the browser's log, screenshots, a [`Lab`] of windows.

use crate::common::{spawn_app, TestApp};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use testkit::free_port;
use tokio::process::{Child, Command};

pub const WAIT: Duration = Duration::from_secs(10);
pub const PASSWORD: &str = "correct horse battery";
pub const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// `name` as given if it is a path, else the first match on `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let given = Path::new(name);
    if given.components().count() > 1 {
        return given.is_file().then(|| given.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

pub fn required_program(variable: &str, default: &str) -> PathBuf {
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
pub struct Driver {
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

    /// A new browser (its own profile, so its own cookies) with a window of `size`.
    async fn browser(
        &self,
        chromium: &Path,
        profile: &Path,
        size: Window,
    ) -> anyhow::Result<Client> {
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
                    format!("--window-size={},{}", size.width, size.height),
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
pub struct BrowserLog;

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
pub async fn logged_problems(client: &Client) -> anyhow::Result<Vec<String>> {
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
pub async fn expect_logged(client: &Client, who: &str, expected: &[&str]) -> anyhow::Result<()> {
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

/// A refused form: the browser logs the page's status as a failed load.
pub fn refused(path: &str, status: u16) -> String {
    format!("{path} - Failed to load resource: the server responded with a status of {status}")
}

/// Polls `probe` until it succeeds (up to `WAIT`); fails with `what` and the last reason.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> anyhow::Result<T>
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
pub async fn text_of(client: &Client, css: &str) -> anyhow::Result<String> {
    Ok(client.find(Locator::Css(css)).await?.text().await?)
}

pub async fn wait_for_path(
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

pub async fn wait_for_text(client: &Client, css: &str, wanted: &str) -> anyhow::Result<()> {
    eventually(&format!("{css} to read {wanted:?}"), || async {
        let text = text_of(client, css).await?;
        anyhow::ensure!(text == wanted, "it reads {text:?}");
        Ok(())
    })
    .await
}

/// Types into the field `css` selects, as a user would.
pub async fn type_into(client: &Client, css: &str, text: &str) -> anyhow::Result<()> {
    let field = client.find(Locator::Css(css)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

pub async fn click(client: &Client, css: &str) -> anyhow::Result<()> {
    client.find(Locator::Css(css)).await?.click().await?;
    Ok(())
}

pub async fn value_of(client: &Client, css: &str) -> anyhow::Result<String> {
    Ok(client
        .find(Locator::Css(css))
        .await?
        .prop("value")
        .await?
        .unwrap_or_default())
}

/// Marks the current document, to tell later whether the page has been reloaded or left.
pub async fn mark_document(client: &Client) -> anyhow::Result<()> {
    client
        .execute("window.__stillHere = 'yes'; return null;", vec![])
        .await?;
    Ok(())
}

pub async fn assert_not_reloaded(client: &Client, who: &str) -> anyhow::Result<()> {
    let marker = client
        .execute("return window.__stillHere || null;", vec![])
        .await?;
    anyhow::ensure!(
        marker == json!("yes"),
        "{who}'s page was reloaded or left (the update was not live)"
    );
    Ok(())
}

/// A browser window's size in CSS pixels.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub width: u32,
    pub height: u32,
}

/// A laptop's window.
pub const DESKTOP: Window = Window {
    width: 1280,
    height: 800,
};
/// A phone held upright (an iPhone 14's viewport).
pub const PHONE: Window = Window {
    width: 390,
    height: 844,
};

/// The app on a real port (the page's forms post with Origin = the address the browser sees,
/// which must be `PUBLIC_URL`), a chromedriver and one browser per person, each with its own
/// profile: what one browser test runs against.
pub struct Lab {
    pub app: TestApp,
    /// One browser per name given to [`Lab::start`], in that order.
    pub browsers: Vec<Client>,
    names: Vec<String>,
    /// Names the screenshots: `target/screenshots/{label}-{name}.png`.
    label: String,
    profiles: PathBuf,
    _driver: Driver,
}

impl Lab {
    pub async fn start(label: &str, names: &[&str], size: Window) -> anyhow::Result<Self> {
        let chromium = required_program("CHROMIUM", "chromium");
        let chromedriver = required_program("CHROMEDRIVER", "chromedriver");
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
        let mut browsers = Vec::new();
        for name in names {
            match driver.browser(&chromium, &profiles.join(name), size).await {
                Ok(browser) => {
                    let fitted = fit_viewport(&browser, size).await;
                    browsers.push(browser);
                    if let Err(error) = fitted {
                        for browser in browsers {
                            let _ = browser.close().await;
                        }
                        return Err(error);
                    }
                }
                Err(error) => {
                    for browser in browsers {
                        let _ = browser.close().await;
                    }
                    return Err(error);
                }
            }
        }
        Ok(Self {
            app,
            browsers,
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            label: label.to_owned(),
            profiles,
            _driver: driver,
        })
    }

    pub fn base(&self) -> &str {
        &self.app.base
    }

    /// Keeps what `client` shows as `target/screenshots/{label}-{state}.png`.
    pub async fn snap(&self, client: &Client, state: &str) -> anyhow::Result<PathBuf> {
        let path = screenshot_dir()?.join(format!("{}-{state}.png", self.label));
        std::fs::write(&path, client.screenshot().await?)?;
        Ok(path)
    }

    /// Screenshots every window whatever happened (on a failure they show where), closes the
    /// browsers, and returns the scenario's outcome.
    pub async fn finish(self, outcome: anyhow::Result<()>) -> anyhow::Result<()> {
        for (client, name) in self.browsers.iter().zip(&self.names) {
            match self.snap(client, name).await {
                Ok(path) => eprintln!("saved {}", path.display()),
                Err(error) => eprintln!("no screenshot of {name}'s window: {error}"),
            }
        }
        let mut closed = Ok(());
        for client in self.browsers {
            if let Err(error) = client.close().await {
                closed = Err(error);
            }
        }
        let _ = std::fs::remove_dir_all(&self.profiles);
        outcome?;
        closed?;
        Ok(())
    }
}

/// Sizes `client`'s window so that the page itself (the viewport) is `size`: a window's size
/// counts the browser's own frame too.
async fn fit_viewport(client: &Client, size: Window) -> anyhow::Result<()> {
    let frame = client
        .execute(
            "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
            vec![],
        )
        .await?;
    let extra = |i: usize| u32::try_from(frame[i].as_u64().unwrap_or_default()).unwrap_or_default();
    client
        .set_window_size(size.width + extra(0), size.height + extra(1))
        .await?;
    let inner = client
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await?;
    anyhow::ensure!(
        inner == json!([size.width, size.height]),
        "the viewport is {inner}, not {size:?}"
    );
    Ok(())
}

fn screenshot_dir() -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.canonicalize()?)
}
