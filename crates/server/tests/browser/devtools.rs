//! What plain WebDriver cannot do, through chromedriver's own endpoints: cut the network, run
//! Chrome DevTools Protocol commands (dark mode, permissions, the list of tabs).

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::Client;
use serde_json::{json, Value};

/// A POST to one of chromedriver's own endpoints for the session (`session/<id>/<path>`).
#[derive(Debug)]
struct Chromedriver {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for Chromedriver {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/{}",
            session.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(self.body.to_string()))
    }
}

/// Cuts `client`'s browser off the network, or connects it again (chromedriver's network
/// emulation: requests fail as offline and the page gets its `offline` and `online` events).
pub async fn set_offline(client: &Client, offline: bool) -> anyhow::Result<()> {
    let body = json!({"network_conditions": {
        "offline": offline,
        "latency": 0,
        "download_throughput": -1,
        "upload_throughput": -1,
    }});
    client
        .issue_cmd(Chromedriver {
            path: "chromium/network_conditions",
            body,
        })
        .await?;
    Ok(())
}

/// A Chrome DevTools Protocol command run in `client`'s page (chromedriver's CDP endpoint).
fn cdp(command: &'static str, params: Value) -> Chromedriver {
    Chromedriver {
        path: "goog/cdp/execute",
        body: json!({"cmd": command, "params": params}),
    }
}

/// Makes `client`'s pages see a system in dark mode (`prefers-color-scheme: dark`), or light.
pub async fn prefer_dark(client: &Client, dark: bool) -> anyhow::Result<()> {
    let scheme = if dark { "dark" } else { "light" };
    client
        .issue_cmd(cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        ))
        .await?;
    Ok(())
}

/// Lets `client`'s pages at `origin` show notifications, as if the person had allowed them when
/// the browser asked.
pub async fn allow_notifications(client: &Client, origin: &str) -> anyhow::Result<()> {
    client
        .issue_cmd(cdp(
            "Browser.grantPermissions",
            json!({"permissions": ["notifications"], "origin": origin}),
        ))
        .await?;
    Ok(())
}

/// The titles of every tab of `client`'s browser, the ones behind too.
pub async fn tab_titles(client: &Client) -> anyhow::Result<Vec<String>> {
    let targets = client
        .issue_cmd(cdp("Target.getTargets", json!({})))
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

/// Makes `client`'s page fail every request whose URL matches one of `patterns` (`*` wildcards),
/// as a network that lets nothing of them through; an empty list lets everything through again.
pub async fn block_urls(client: &Client, patterns: &[&str]) -> anyhow::Result<()> {
    client.issue_cmd(cdp("Network.enable", json!({}))).await?;
    client
        .issue_cmd(cdp("Network.setBlockedURLs", json!({"urls": patterns})))
        .await?;
    Ok(())
}
