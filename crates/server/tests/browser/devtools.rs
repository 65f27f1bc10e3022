//! What plain WebDriver cannot do, through chromedriver's own endpoints: cut the network, run
//! Chrome DevTools Protocol commands (dark mode, permissions, the list of tabs).

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::Client;
use serde_json::{json, Value};

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
