//! The web pages over plain HTTP, without a browser: the security headers of every page, fragment
//! and API answer, the favicon, and the page's own answer to a cross-site form.
//! (`tests/browser/` checks in a real browser that the pages work under their policy.)

mod common;

use common::cases::{expect, expect_eq, expect_none_of, Cases};
use common::{answer, spawn_app, ApiUser, TestApp};
use reqwest::header::{self, HeaderMap};
use serde_json::json;
use std::collections::HashMap;

const PASSWORD: &str = "correct horse battery";

/// A Content-Security-Policy as directive -> its sources.
fn directives(policy: &str) -> HashMap<String, Vec<String>> {
    policy
        .split(';')
        .filter_map(|directive| {
            let mut words = directive.split_whitespace();
            let name = words.next()?.to_ascii_lowercase();
            Some((name, words.map(str::to_owned).collect()))
        })
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> anyhow::Result<&'a str> {
    let value = headers
        .get(name)
        .ok_or_else(|| anyhow::anyhow!("no {name} header"))?;
    Ok(value.to_str()?)
}

/// Which Content-Security-Policy a page has.
#[derive(Clone, Copy, Debug)]
enum Policy {
    /// Our pages: nothing from anywhere but this origin, nothing inline.
    Page,
    /// Swagger UI: also inline styles and `data:` images; scripts as strict as a page's.
    SwaggerUi,
}

impl Policy {
    /// The sources it may allow besides 'self' and 'none', by directive.
    fn extras(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Policy::Page => &[],
            Policy::SwaggerUi => &[("style-src", "'unsafe-inline'"), ("img-src", "data:")],
        }
    }
}

/// The headers every HTML page carries: a strict CSP, no framing, no sniffing, no referrer to
/// other sites; and, when `signed_in`, never stored.
fn expect_page_headers(headers: &HeaderMap, kind: Policy, signed_in: bool) -> anyhow::Result<()> {
    let policy = header(headers, "content-security-policy")?;
    let csp = directives(policy);
    for (name, want) in [
        ("default-src", "'self'"),
        ("connect-src", "'self'"),
        ("object-src", "'none'"),
        ("base-uri", "'none'"),
        ("frame-ancestors", "'none'"),
        ("form-action", "'self'"),
    ] {
        expect(
            csp.get(name) == Some(&vec![want.to_owned()]),
            format!("{name} is not just {want}: {policy:?}"),
        )?;
    }
    // No 'unsafe-inline' (but where listed), 'unsafe-eval', other hosts or whole schemes.
    for (name, sources) in &csp {
        for source in sources {
            expect(
                source == "'self'"
                    || source == "'none'"
                    || kind.extras().contains(&(name.as_str(), source.as_str())),
                format!("{name} allows {source}: {policy:?}"),
            )?;
        }
    }
    expect_eq(header(headers, "x-frame-options")?, "DENY")?;
    expect_eq(header(headers, "x-content-type-options")?, "nosniff")?;
    let referrer = header(headers, "referrer-policy")?;
    expect(
        matches!(referrer, "same-origin" | "no-referrer"),
        format!("Referrer-Policy is {referrer:?}"),
    )?;
    if signed_in {
        let cache = header(headers, "cache-control")?;
        expect(
            cache.split(',').any(|d| d.trim() == "no-store"),
            format!("a signed-in page with Cache-Control {cache:?}"),
        )?;
    }
    Ok(())
}

/// A client that keeps cookies, as a browser tab, and shows redirects instead of following them.
fn browser_tab() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Alice, signed in through the login form's API (a cookie, as a browser), in a conversation with
/// Bob that holds one message: (her tab, conversation id, message id).
async fn alice_with_a_message(app: &TestApp) -> anyhow::Result<(reqwest::Client, String, String)> {
    let alice = ApiUser::new(app, "alice").await?;
    ApiUser::new(app, "bob").await?;
    let (status, started) = alice
        .post("/api/v1/conversations", json!({"with": "bob"}))
        .await?;
    anyhow::ensure!(status == 201 || status == 200, "start: {status} {started}");
    let conversation = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, sent) = alice
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"body": "hello", "client_id": "c1"}),
        )
        .await?;
    anyhow::ensure!(status == 201, "send: {status} {sent}");
    let message = sent["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let tab = browser_tab();
    let login = app.login_with(&tab, "alice", PASSWORD).await?;
    anyhow::ensure!(login.status() == 200, "login: {}", login.status());
    Ok((tab, conversation, message))
}

#[tokio::test]
async fn every_page_and_fragment_carries_the_security_headers() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (tab, conversation, message) = alice_with_a_message(&app).await?;
    let anonymous = browser_tab();
    let mut cases = Cases::new();
    for (path, signed_in, policy) in [
        ("/login".to_owned(), false, Policy::Page),
        ("/register".to_owned(), false, Policy::Page),
        ("/conversations".to_owned(), true, Policy::Page),
        ("/conversations/list".to_owned(), true, Policy::Page),
        (format!("/conversations/{conversation}"), true, Policy::Page),
        (
            format!("/conversations/{conversation}/older?before=2"),
            true,
            Policy::Page,
        ),
        (
            format!("/conversations/{conversation}/messages/{message}"),
            true,
            Policy::Page,
        ),
        ("/settings".to_owned(), true, Policy::Page),
        ("/api/docs".to_owned(), false, Policy::SwaggerUi),
    ] {
        let client = if signed_in { &tab } else { &anonymous };
        cases
            .run(&path, async {
                let response = client.get(app.url(&path)).send().await?;
                expect_eq(response.status().as_u16(), 200)?;
                let html = header(response.headers(), "content-type")?.starts_with("text/html");
                expect(html, "not text/html")?;
                expect_page_headers(response.headers(), policy, signed_in)
            })
            .await;
    }
    // A page that sends a signed-out visitor away, and an error page, are pages too.
    for (path, status) in [("/settings", 303), ("/conversations/not-an-id", 404)] {
        let client = if status == 303 { &anonymous } else { &tab };
        cases
            .run(path, async {
                let response = client.get(app.url(path)).send().await?;
                expect_eq(response.status().as_u16(), status)?;
                expect_page_headers(response.headers(), Policy::Page, true)
            })
            .await;
    }
    cases.finish()
}

#[tokio::test]
async fn api_answers_are_never_sniffed_nor_stored() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let token = app.signed_up("carol").await?;
    let http = reqwest::Client::new();
    let mut cases = Cases::new();
    for (case, request, status) in [
        (
            "a signed-in read",
            http.get(app.url("/api/v1/me")).bearer_auth(&token),
            200,
        ),
        ("a refusal", http.get(app.url("/api/v1/me")), 401),
        (
            "a malformed body",
            http.post(app.url("/api/v1/auth/login"))
                .header(header::CONTENT_TYPE, "application/json")
                .body("{"),
            400,
        ),
        (
            "a method the route does not take",
            http.put(app.url("/api/v1/me")).bearer_auth(&token),
            405,
        ),
        (
            "the OpenAPI document",
            http.get(app.url("/api/v1/openapi.json")),
            200,
        ),
    ] {
        cases
            .run(case, async {
                let response = request.send().await?;
                expect_eq(response.status().as_u16(), status)?;
                let headers = response.headers();
                expect_eq(header(headers, "x-content-type-options")?, "nosniff")?;
                let cache = header(headers, "cache-control")?;
                expect(
                    cache.split(',').any(|d| d.trim() == "no-store"),
                    format!("Cache-Control {cache:?}"),
                )
            })
            .await;
    }
    cases.finish()
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

#[tokio::test]
async fn a_cross_site_form_is_refused_with_a_page_not_json() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (tab, conversation, _) = alice_with_a_message(&app).await?;
    let mut cases = Cases::new();
    for (case, request) in [
        (
            "a logout posted from another site's page",
            tab.post(app.url("/logout"))
                .header(header::ORIGIN, "http://evil.example"),
        ),
        (
            "a message sent by a cross-site fetch",
            tab.post(app.url(&format!("/conversations/{conversation}/send")))
                .header("Sec-Fetch-Site", "cross-site")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("body=not+from+me&client_id=evil"),
        ),
    ] {
        cases
            .run(case, async {
                let response = request.send().await?;
                expect_eq(response.status().as_u16(), 403)?;
                let headers = response.headers().clone();
                let kind = header(&headers, "content-type")?.to_owned();
                let body = response.text().await?;
                expect(
                    kind.starts_with("text/html"),
                    format!("answered as {kind}: {body}"),
                )?;
                expect(
                    body.contains("another site")
                        && serde_json::from_str::<serde_json::Value>(&body).is_err(),
                    format!("not a page that says why: {body}"),
                )?;
                expect_page_headers(&headers, Policy::Page, true)
            })
            .await;
    }
    cases.finish()?;
    // Nothing happened: the session lives and no message was added.
    let me = tab.get(app.url("/api/v1/me")).send().await?;
    assert_eq!(me.status(), 200, "the session survived");
    let (status, history) = answer(
        tab.get(app.url(&format!("/api/v1/conversations/{conversation}/messages")))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(1));

    // The same form from the service's own origin goes through.
    let response = tab
        .post(app.url("/logout"))
        .header(header::ORIGIN, "http://chat.test")
        .send()
        .await?;
    assert_eq!(response.status(), 303);
    assert_eq!(header(response.headers(), "location")?, "/login");
    Ok(())
}

#[tokio::test]
async fn an_outsider_gets_not_found_pages_for_a_conversation_and_changes_nothing(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (_, conversation, message) = alice_with_a_message(&app).await?;
    anyhow::ensure!(app.register("eve", PASSWORD).await?.status() == 201);
    let eve = browser_tab();
    anyhow::ensure!(app.login_with(&eve, "eve", PASSWORD).await?.status() == 200);
    let form = |body: &'static str| {
        move |request: reqwest::RequestBuilder| {
            request
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body)
        }
    };
    let c = &conversation;
    let mut cases = Cases::new();
    for (case, method, path, with_body) in [
        (
            "the conversation page",
            reqwest::Method::GET,
            format!("/conversations/{c}"),
            None,
        ),
        (
            "older messages",
            reqwest::Method::GET,
            format!("/conversations/{c}/older?before=2"),
            None,
        ),
        (
            "one message",
            reqwest::Method::GET,
            format!("/conversations/{c}/messages/{message}"),
            None,
        ),
        (
            "a send",
            reqwest::Method::POST,
            format!("/conversations/{c}/send"),
            Some(form("body=let+me+in&client_id=e1")),
        ),
        (
            "a read",
            reqwest::Method::POST,
            format!("/conversations/{c}/read"),
            Some(form("up_to=1")),
        ),
    ] {
        cases
            .run(case, async {
                let mut request = eve.request(method, app.url(&path));
                if let Some(with_body) = with_body {
                    request = with_body(request);
                }
                let response = request.send().await?;
                expect_eq(response.status().as_u16(), 404)?;
                let text = response.text().await?;
                expect_none_of(&text, &["hello", "alice", "bob"])
            })
            .await;
    }
    cases.finish()?;
    // Nothing changed: still one message, unread by bob (eve's read counted for nobody).
    let bob = ApiUser::with_token(&app, &app.signed_up_again("bob").await?);
    let (status, history) = bob
        .get(&format!("/api/v1/conversations/{conversation}/messages"))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(1));
    let (_, listed) = bob.get("/api/v1/conversations").await?;
    assert_eq!(listed["conversations"][0]["unread"], 1);
    Ok(())
}

#[tokio::test]
async fn text_names_its_charset_json_downloads_and_package_pages_are_protected(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    for path in ["/static/app.js", "/static/app.css", "/api/docs/init.js"] {
        let response = reqwest::get(app.url(path)).await?;
        assert_eq!(response.status(), 200, "{path}");
        let kind = header(&response, "content-type");
        assert!(kind.contains("charset=utf-8"), "{path}: {kind}");
    }
    let response = reqwest::get(app.url("/api/v1/me")).await?;
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "content-disposition"),
        r#"attachment; filename="api.json""#
    );
    for path in [
        "/api/docs/swagger-ui/index.html",
        "/api/docs/swagger-ui/oauth2-redirect.html",
    ] {
        let response = reqwest::get(app.url(path)).await?;
        assert!(
            header(&response, "content-security-policy").contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(header(&response, "x-frame-options"), "DENY", "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn browsers_are_told_to_stay_on_https_only_when_served_over_https() -> anyhow::Result<()> {
    for (secure, expected) in [("true", true), ("false", false)] {
        let app = spawn_app(&[("COOKIE_SECURE", secure)]).await?;
        for path in ["/login", "/api/v1/me", "/healthz"] {
            let response = reqwest::get(app.url(path)).await?;
            let hsts = response
                .headers()
                .get("strict-transport-security")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            assert_eq!(
                hsts.as_deref()
                    .is_some_and(|v| v.starts_with("max-age=31536000")),
                expected,
                "COOKIE_SECURE={secure} {path}: {hsts:?}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn an_htmx_request_without_a_session_takes_the_page_to_login() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let path = format!("/conversations/{}/send", uuid::Uuid::new_v4());
    let send = |htmx: bool| {
        let mut request = client
            .post(app.url(&path))
            .header("origin", "http://chat.test")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("body=hello&client_id=c1");
        if htmx {
            request = request.header("hx-request", "true");
        }
        request.send()
    };
    // htmx: a 401 whose HX-Redirect takes the whole page to /login (not the login page pasted
    // into the conversation).
    let response = send(true).await?;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response
            .headers()
            .get("hx-redirect")
            .and_then(|v| v.to_str().ok()),
        Some("/login")
    );
    // A plain form post: redirected, as before.
    let response = send(false).await?;
    assert!(response.status().is_redirection(), "{}", response.status());
    Ok(())
}

#[tokio::test]
async fn error_pages_have_a_language_a_header_a_heading_and_a_way_back() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (alice, _, _) = alice_with_a_message(&app).await?;
    let nobody = browser_tab();
    let missing = uuid::Uuid::new_v4();
    let mut cases = Cases::new();
    for (case, tab, path, status, heading) in [
        (
            "a conversation that is not there",
            &alice,
            format!("/conversations/{missing}"),
            404,
            "Page not found",
        ),
        (
            "a conversation id that is no id",
            &alice,
            "/conversations/not-an-id".to_owned(),
            404,
            "Page not found",
        ),
        (
            "an address that is no page",
            &nobody,
            "/no/such/page".to_owned(),
            404,
            "Page not found",
        ),
    ] {
        cases
            .run(case, async {
                let response = tab
                    .get(app.url(&path))
                    .header(header::ACCEPT, "text/html,application/xhtml+xml")
                    .send()
                    .await?;
                expect_eq(response.status().as_u16(), status)?;
                expect_page_headers(response.headers(), Policy::Page, false)?;
                let html = response.text().await?;
                for part in [
                    "<html lang=\"en\">".to_owned(),
                    "<header class=\"top\">".to_owned(),
                    format!("<h1>{heading}</h1>"),
                    format!("<title>{heading} · chat</title>"),
                    "<a href=\"/\" id=\"way-back\">".to_owned(),
                    "<link rel=\"stylesheet\" href=\"/static/app.css\">".to_owned(),
                ] {
                    expect(html.contains(&part), format!("no {part} in {html}"))?;
                }
                Ok(())
            })
            .await;
    }
    cases.finish()?;
    // Outside the browser's way (no text/html asked for, or under /api/), unknown paths stay JSON.
    let (status, body) = answer(
        nobody
            .get(app.url("/api/v1/nothing"))
            .header(header::ACCEPT, "text/html")
            .send()
            .await?,
    )
    .await?;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    Ok(())
}

#[tokio::test]
async fn a_groups_pages_refuse_outsiders_and_the_controls_a_member_may_not_use(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let alice = ApiUser::new(&app, "alice").await?;
    ApiUser::new(&app, "bob").await?;
    ApiUser::new(&app, "eve").await?;
    let g = alice.group("Climbing", &["bob"]).await?;
    let sent = alice.sent(&g, "hello", "c1").await?;
    let message = sent["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let tab = |who: &'static str| {
        let app = &app;
        async move {
            let tab = browser_tab();
            let login = app.login_with(&tab, who, PASSWORD).await?;
            anyhow::ensure!(login.status() == 200, "login: {}", login.status());
            Ok::<_, anyhow::Error>(tab)
        }
    };
    let (eve, bob) = (tab("eve").await?, tab("bob").await?);
    let form = |body: &'static str| {
        move |request: reqwest::RequestBuilder| {
            request
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body)
        }
    };
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    // (case, who, method, path, body, status): an outsider learns nothing (404, no names); a
    // plain member is refused what only the owner and admins may do (403, the panel back).
    let mut cases = Cases::new();
    for (case, who, method, path, with_body, wanted) in [
        (
            "the members panel",
            &eve,
            get.clone(),
            format!("/conversations/{g}/members"),
            None,
            404,
        ),
        (
            "adding",
            &eve,
            post.clone(),
            format!("/conversations/{g}/members"),
            Some(form("username=eve")),
            404,
        ),
        (
            "removing",
            &eve,
            post.clone(),
            format!("/conversations/{g}/members/bob/remove"),
            None,
            404,
        ),
        (
            "renaming",
            &eve,
            post.clone(),
            format!("/conversations/{g}/rename"),
            Some(form("title=Mine")),
            404,
        ),
        (
            "leaving",
            &eve,
            post.clone(),
            format!("/conversations/{g}/leave"),
            None,
            404,
        ),
        (
            "who read it",
            &eve,
            get.clone(),
            format!("/conversations/{g}/messages/{message}/readers"),
            None,
            404,
        ),
        (
            "a member renaming",
            &bob,
            post.clone(),
            format!("/conversations/{g}/rename"),
            Some(form("title=Mine")),
            403,
        ),
        (
            "a member adding",
            &bob,
            post.clone(),
            format!("/conversations/{g}/members"),
            Some(form("username=eve")),
            403,
        ),
        (
            "a member removing the owner",
            &bob,
            post.clone(),
            format!("/conversations/{g}/members/alice/remove"),
            None,
            403,
        ),
    ] {
        cases
            .run(case, async {
                let mut request = who
                    .request(method, app.url(&path))
                    .header("hx-request", "true");
                if let Some(with_body) = with_body {
                    request = with_body(request);
                }
                let response = request.send().await?;
                expect_eq(response.status().as_u16(), wanted)?;
                let text = response.text().await?;
                if wanted == 404 {
                    expect_none_of(&text, &["hello", "Climbing", "alice", "bob"])?;
                }
                Ok(())
            })
            .await;
    }
    cases.finish()?;
    // Nothing changed: the same two members, the same name.
    let (_, members) = alice
        .get(&format!("/api/v1/conversations/{g}/members"))
        .await?;
    assert_eq!(
        members["members"].as_array().map(Vec::len),
        Some(2),
        "{members}"
    );
    let (_, conversation) = alice.get(&format!("/api/v1/conversations/{g}")).await?;
    assert_eq!(conversation["conversation"]["title"], "Climbing");
    Ok(())
}

#[tokio::test]
async fn the_new_group_form_says_what_is_wrong_beside_the_field_and_keeps_what_was_typed(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (alice, _, _) = alice_with_a_message(&app).await?;
    let create = |body: &'static str| {
        alice
            .post(app.url("/groups"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let mut cases = Cases::new();
    for (case, body, field, message, kept) in [
        (
            "a blank name",
            "title=+++&members=bob",
            "title-error",
            "The name must not be empty.",
            r#"name="members" value="bob""#,
        ),
        (
            "a name too long",
            "title=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx&members=bob",
            "title-error",
            "The name must be at most 100 characters long.",
            r#"name="members" value="bob""#,
        ),
        (
            "an unknown username",
            "title=Climbing&members=bob%2C+zed",
            "members-error",
            "There is no user named zed.",
            r#"name="title" maxlength="100" value="Climbing""#,
        ),
    ] {
        cases
            .run(case, async {
                let response = create(body).await?;
                expect_eq(response.status().as_u16(), 422)?;
                let page = response.text().await?;
                expect(
                    page.contains(&format!(r#"id="{field}">{message}"#)),
                    format!("no {message:?} in #{field}"),
                )?;
                expect(page.contains(kept), format!("{kept:?} was not kept"))?;
                expect(
                    page.contains(r#"id="new-group" class="new-group" open"#),
                    "the form is folded away",
                )
            })
            .await;
    }
    cases.finish()?;
    let response = create("title=Climbing&members=%40bob").await?;
    assert_eq!(response.status().as_u16(), 303);
    let to = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(to.starts_with("/conversations/"), "sent to {to:?}");
    let page = alice.get(app.url(&to)).send().await?.text().await?;
    assert!(
        page.contains(r#"<h1 id="peer-name">Climbing</h1>"#),
        "{page}"
    );
    assert!(page.contains("2 members"));
    Ok(())
}
