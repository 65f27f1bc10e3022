//! The web pages over plain HTTP, without a browser: the favicon.

mod common;

use common::spawn_app;
use reqwest::header::HeaderMap;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> anyhow::Result<&'a str> {
    let value = headers
        .get(name)
        .ok_or_else(|| anyhow::anyhow!("no {name} header"))?;
    Ok(value.to_str()?)
}

#[tokio::test]
async fn pages_have_a_favicon() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let page = reqwest::get(app.url("/login")).await?.text().await?;
    let link = r#"<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">"#;
    assert!(page.contains(link), "the page does not link its icon");
    // Pages that do not link one (the API docs) make the browser ask for /favicon.ico.
    for path in ["/static/favicon.svg", "/favicon.ico"] {
        let response = reqwest::get(app.url(path)).await?;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(response.headers(), "content-type")?,
            "image/svg+xml",
            "{path}"
        );
        let body = response.text().await?;
        assert!(body.contains("<svg"), "{path} is not an SVG: {body}");
    }
    Ok(())
}
