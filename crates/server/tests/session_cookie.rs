//! The session cookie per transport: its name and attributes as set at login and cleared at
//! logout, and that every door which reads it (the API, the web pages, the WebSocket upgrade)
//! takes that name and no other.
//!
//! Over plain http (local development) it is `session`; with COOKIE_SECURE it is `__Host-session`,
//! which browsers accept only when `Secure`, with `Path=/` and no `Domain` (ASVS 3.4.1-3.4.5).

mod common;

use common::cases::{expect, expect_eq, Cases};
use common::{spawn_app, TestApp};
use reqwest::header;
use testkit::ws::Connect;

const PASSWORD: &str = "correct horse battery";

/// A `Set-Cookie` value taken apart: the cookie's name and value, and its attributes as written
/// (`HttpOnly`, `Path=/` ...).
struct SetCookie {
    name: String,
    value: String,
    attributes: Vec<String>,
}

impl SetCookie {
    fn parse(header: &str) -> anyhow::Result<Self> {
        let mut parts = header.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|pair| pair.split_once('='))
            .ok_or_else(|| anyhow::anyhow!("not a cookie: {header}"))?;
        Ok(Self {
            name: name.to_owned(),
            value: value.to_owned(),
            attributes: parts.map(str::to_owned).collect(),
        })
    }

    /// Whether attribute `name` (case-insensitive, with or without a value) is present.
    fn has(&self, name: &str) -> bool {
        self.attributes.iter().any(|attribute| {
            let key = attribute.split('=').next().unwrap_or_default();
            key.eq_ignore_ascii_case(name)
        })
    }

    fn has_exactly(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attribute))
    }
}

/// The one `Set-Cookie` of `response`.
fn set_cookie(response: &reqwest::Response) -> anyhow::Result<SetCookie> {
    let all: Vec<&str> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    anyhow::ensure!(all.len() == 1, "Set-Cookie headers: {all:?}");
    SetCookie::parse(all[0])
}

/// Where a cookie goes, as a session cookie on a server whose COOKIE_SECURE is `secure` must
/// say it: `Path=/`, no `Domain` (which would send it to every subdomain, and makes browsers drop
/// a `__Host-` cookie), and `Secure` exactly when the server is.
fn expect_scope(cookie: &SetCookie, secure: bool) -> anyhow::Result<()> {
    let mut cases = Cases::new();
    cases.record("Path=/", expect(cookie.has_exactly("Path=/"), "missing"));
    cases.record("no Domain", expect(!cookie.has("Domain"), "a Domain"));
    cases.record(
        format!("Secure is {secure}"),
        expect_eq(cookie.has("Secure"), secure),
    );
    cases.finish()
}

/// [`expect_scope`], and out of scripts' reach and of cross-site requests but top-level links.
fn expect_session_attributes(cookie: &SetCookie, secure: bool) -> anyhow::Result<()> {
    let mut cases = Cases::new();
    cases.record("scope", expect_scope(cookie, secure));
    for attribute in ["HttpOnly", "SameSite=Lax"] {
        cases.record(attribute, expect(cookie.has_exactly(attribute), "missing"));
    }
    cases.finish()
}

/// What each door answers a request carrying only `cookie` (`name=value`): the API's
/// `/api/v1/me`, the home page (a redirect to the conversations when signed in, else to the
/// login page), and a WebSocket upgrade from the service's own origin.
async fn doors(app: &TestApp, cookie: &str) -> anyhow::Result<(u16, String, u16)> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let me = http
        .get(app.url("/api/v1/me"))
        .header(header::COOKIE, cookie)
        .send()
        .await?
        .status()
        .as_u16();
    let home = http
        .get(app.url("/"))
        .header(header::COOKIE, cookie)
        .send()
        .await?;
    let home = home
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let socket = Connect::new(&app.base)
        .cookie(cookie)
        .origin("http://chat.test")
        .status()
        .await?;
    Ok((me, home, socket))
}

const SIGNED_IN: (u16, &str, u16) = (200, "/conversations", 101);
const SIGNED_OUT: (u16, &str, u16) = (401, "/login", 401);

fn expect_doors(got: (u16, String, u16), want: (u16, &str, u16)) -> anyhow::Result<()> {
    expect_eq((got.0, got.1.as_str(), got.2), want)
}

#[tokio::test]
async fn the_session_cookie_is_a_host_cookie_when_secure_and_a_plain_one_over_http(
) -> anyhow::Result<()> {
    let mut cases = Cases::new();
    for (secure, name, other_name) in [
        (true, "__Host-session", "session"),
        (false, "session", "__Host-session"),
    ] {
        let case = format!("COOKIE_SECURE={secure}");
        cases
            .run(&case, async {
                let flag = if secure { "true" } else { "false" };
                let app = spawn_app(&[("COOKIE_SECURE", flag)]).await?;
                anyhow::ensure!(app.register("alice", PASSWORD).await?.status() == 201);
                let login = app
                    .login_with(&reqwest::Client::new(), "alice", PASSWORD)
                    .await?;
                anyhow::ensure!(login.status() == 200, "login: {}", login.status());
                let cookie = set_cookie(&login)?;
                expect_eq(cookie.name.as_str(), name)?;
                expect_session_attributes(&cookie, secure)?;
                let token = cookie.value.clone();

                // Every door takes the cookie by its name, and the same token under the other
                // name is no session at all.
                let mine = format!("{name}={token}");
                expect_doors(doors(&app, &mine).await?, SIGNED_IN)
                    .map_err(|e| e.context(format!("with {name}")))?;
                expect_doors(
                    doors(&app, &format!("{other_name}={token}")).await?,
                    SIGNED_OUT,
                )
                .map_err(|e| e.context(format!("with {other_name}")))?;

                // Logging out clears the cookie with the same name and attributes (a browser
                // ignores a `__Host-` removal without `Secure` and `Path=/`), and ends it.
                let logout = reqwest::Client::new()
                    .post(app.url("/api/v1/auth/logout"))
                    .header(header::COOKIE, &mine)
                    .send()
                    .await?;
                expect_eq(logout.status().as_u16(), 204)?;
                let removal = set_cookie(&logout)?;
                expect_eq((removal.name.as_str(), removal.value.as_str()), (name, ""))?;
                expect_scope(&removal, secure).map_err(|e| e.context("the removal"))?;
                expect(
                    removal.has_exactly("Max-Age=0"),
                    format!("not expired: {:?}", removal.attributes),
                )?;
                expect_doors(doors(&app, &mine).await?, SIGNED_OUT)
                    .map_err(|e| e.context("after logout"))
            })
            .await;
    }
    cases.finish()
}

#[tokio::test]
async fn a_host_cookie_from_a_foreign_origin_cannot_open_a_socket() -> anyhow::Result<()> {
    let app = spawn_app(&[("COOKIE_SECURE", "true")]).await?;
    app.register("bob", PASSWORD).await?;
    let login = app
        .login_with(&reqwest::Client::new(), "bob", PASSWORD)
        .await?;
    let cookie = set_cookie(&login)?;
    let cookie = format!("{}={}", cookie.name, cookie.value);
    let mut cases = Cases::new();
    for (origin, status) in [("http://evil.example", 403), ("http://chat.test", 101)] {
        cases
            .run(origin, async {
                let got = Connect::new(&app.base)
                    .cookie(&cookie)
                    .origin(origin)
                    .status()
                    .await?;
                expect_eq(got, status)
            })
            .await;
    }
    cases.finish()
}
