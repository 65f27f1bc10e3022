//! Settings read as people talk ("Chrome on Linux, just now"), with headings in order; an error
//! page is a page of the site: its language, its header, a heading, a way back.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::page::*;
use fantoccini::Locator;
use serde_json::json;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let alice = &lab.browsers[0];
    let base = lab.base();
    register(alice, base, "alice", "Alice").await?;
    // She is also logged in on her phone.
    let phone = reqwest::Client::builder().user_agent(IPHONE).build()?;
    let login = lab.app.login_with(&phone, "alice", PASSWORD).await?;
    anyhow::ensure!(login.status() == 200, "login: {}", login.status());

    click(alice, "nav a[href='/settings']").await?;
    wait_for_path(alice, "Alice to open her settings", |p| p == "/settings").await?;
    let sessions: Vec<String> = serde_json::from_value(
        alice
            .execute(
                "return Array.from(document.querySelectorAll('ul.sessions li'), li => li.textContent.trim());",
                vec![],
            )
            .await?,
    )?;
    let mut sorted = sessions.clone();
    sorted.sort();
    anyhow::ensure!(
        sorted
            == [
                "Safari on iPhone, just now",
                "This device: Chrome on Linux, just now"
            ],
        "the sessions read {sessions:?}"
    );
    let time = alice
        .find(Locator::Css("ul.sessions li time"))
        .await?
        .attr("datetime")
        .await?
        .unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(&time)
        .map_err(|e| anyhow::anyhow!("<time datetime={time:?}>: {e}"))?;
    let sizes = alice
        .execute(
            "return ['h1', 'h2'].map(h => parseFloat(getComputedStyle(document.querySelector(h)).fontSize));",
            vec![],
        )
        .await?;
    let (h1, h2) = (sizes[0].as_f64(), sizes[1].as_f64());
    anyhow::ensure!(
        h2 < h1,
        "a subheading of {h2:?} px under a heading of {h1:?} px"
    );
    lab.snap(alice, "settings").await?;
    expect_accessible(alice, "the settings").await?;

    // A conversation that is not there: a page of the site that says so and leads back.
    let missing = uuid::Uuid::new_v4();
    alice
        .goto(&format!("{base}/conversations/{missing}"))
        .await?;
    wait_for_text(alice, "h1", "Page not found").await?;
    let frame = alice
        .execute(
            "return {
               lang: document.documentElement.lang,
               header: !!document.querySelector('header.top a.brand'),
               title: document.title,
             };",
            vec![],
        )
        .await?;
    anyhow::ensure!(
        frame == json!({"lang": "en", "header": true, "title": "Page not found · chat"}),
        "the error page: {frame}"
    );
    lab.snap(alice, "not-found").await?;
    expect_accessible(alice, "the not-found page").await?;
    click(alice, "a#way-back").await?;
    wait_for_path(alice, "the way back to lead to the list", |p| {
        p == "/conversations"
    })
    .await?;
    expect_logged(
        alice,
        "Alice",
        &[&refused(&format!("/conversations/{missing}"), 404)],
    )
    .await
}
