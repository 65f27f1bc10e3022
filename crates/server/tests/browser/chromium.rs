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
use tokio::process::{Child, Command};

pub const WAIT: Duration = Duration::from_secs(10);
pub const PASSWORD: &str = "correct horse battery";
pub const HOSTILE: &str = "<img src=x onerror=alert(1)>";

pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

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

/// Cuts `client`'s browser off the network, or connects it again (chromedriver's network
/// emulation: requests fail as offline and the page gets its `offline` and `online` events).
#[derive(Debug)]
struct NetworkConditions {
    offline: bool,
}

impl WebDriverCompatibleCommand for NetworkConditions {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/chromium/network_conditions",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let conditions = json!({"network_conditions": {
            "offline": self.offline,
            "latency": 0,
            "download_throughput": -1,
            "upload_throughput": -1,
        }});
        (axum::http::Method::POST, Some(conditions.to_string()))
    }
}

pub async fn set_offline(client: &Client, offline: bool) -> anyhow::Result<()> {
    client.issue_cmd(NetworkConditions { offline }).await?;
    Ok(())
}

/// axe-core's rules for WCAG 2.0, 2.1 and 2.2 at levels A and AA, and its best practices (a
/// level-one heading on every page, landmarks).
const AXE_RULES: [&str; 7] = [
    "wcag2a",
    "wcag2aa",
    "wcag21a",
    "wcag21aa",
    "wcag22a",
    "wcag22aa",
    "best-practice",
];

/// Runs axe-core (the npm package in web/package.json, injected from web/node_modules: never
/// fetched from anywhere) on the page `client` shows, and fails with every violation of WCAG 2.2
/// AA (and of axe's best practices) it finds, each with the elements at fault.
pub async fn expect_accessible(client: &Client, what: &str) -> anyhow::Result<()> {
    static AXE: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let axe = AXE
        .get_or_init(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../web/node_modules/axe-core/axe.min.js");
            std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "{}: {e} (scripts/test installs web/package.json's packages)",
                    path.display()
                )
            })
        })
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Scripts run through WebDriver are the browser's own, not the page's: its CSP allows them.
    client
        .execute(&format!("{axe}\nreturn typeof axe;"), vec![])
        .await?;
    let violations = client
        .execute_async(
            r"const done = arguments[arguments.length - 1];
              axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
                .then(result => done(result.violations.map(v =>
                  `${v.id} (${v.impact}): ${v.help}\n` +
                  v.nodes.map(n => `    ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`).join('\n'))))
                .catch(error => done([`axe failed: ${error}`]));",
            vec![json!(AXE_RULES)],
        )
        .await?;
    let violations: Vec<String> = serde_json::from_value(violations)?;
    anyhow::ensure!(
        violations.is_empty(),
        "{what} breaks WCAG 2.2 AA:\n{}",
        violations.join("\n")
    );
    Ok(())
}

/// Runs a Chrome DevTools Protocol command in `client`'s page (chromedriver's CDP endpoint).
#[derive(Debug)]
struct Cdp {
    command: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({"cmd": self.command, "params": self.params});
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// Makes `client`'s pages see a system in dark mode (`prefers-color-scheme: dark`), or light.
pub async fn prefer_dark(client: &Client, dark: bool) -> anyhow::Result<()> {
    let scheme = if dark { "dark" } else { "light" };
    client
        .issue_cmd(Cdp {
            command: "Emulation.setEmulatedMedia",
            params: json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        })
        .await?;
    Ok(())
}

/// Lets `client`'s pages at `origin` show notifications, as if the person had allowed them when
/// the browser asked.
pub async fn allow_notifications(client: &Client, origin: &str) -> anyhow::Result<()> {
    client
        .issue_cmd(Cdp {
            command: "Browser.grantPermissions",
            params: json!({"permissions": ["notifications"], "origin": origin}),
        })
        .await?;
    Ok(())
}

/// The titles of every tab of `client`'s browser, the ones behind too.
pub async fn tab_titles(client: &Client) -> anyhow::Result<Vec<String>> {
    let targets = client
        .issue_cmd(Cdp {
            command: "Target.getTargets",
            params: json!({}),
        })
        .await?;
    Ok(targets["targetInfos"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["type"] == "page")
        .map(|t| t["title"].as_str().unwrap_or_default().to_owned())
        .collect())
}
