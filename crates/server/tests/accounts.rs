//! Accounts and sessions over HTTP, against the app on port 0 with real Postgres and Redis.

mod common;

use common::{spawn_app, TestApp};
use reqwest::header;
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery";

async fn body(response: reqwest::Response) -> anyhow::Result<(u16, Value)> {
    let status = response.status().as_u16();
    let text = response.text().await?;
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("not JSON ({e}): {text}"))?
    };
    Ok((status, value))
}

async fn me(app: &TestApp, client: &reqwest::Client, token: Option<&str>) -> anyhow::Result<u16> {
    let mut request = client.get(app.url("/api/v1/me"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?.status().as_u16())
}

#[tokio::test]
async fn a_user_registers_logs_in_with_cookie_or_token_and_logs_out() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"username": "Alice", "password": PASSWORD, "display_name": " Alice L. "}))
        .send()
        .await?;
    let (status, registered) = body(response).await?;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["user"]["username"], "alice");
    assert_eq!(registered["user"]["display_name"], "Alice L.");
    assert!(registered["user"]["id"].as_str().is_some());

    let tab = app.browser();
    let response = app.login_with(&tab, "ALICE", PASSWORD).await?;
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (status, login) = body(response).await?;
    assert_eq!(status, 200, "{login}");
    assert!(cookie.starts_with("session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http must not get a Secure cookie"
    );
    assert_eq!(login["user"], registered["user"]);
    let token = login["token"].as_str().unwrap_or_default().to_owned();
    assert!(token.len() >= 43, "a 256-bit token");

    // The cookie alone, and the bearer token alone, both authenticate.
    let (status, me_body) = body(tab.get(app.url("/api/v1/me")).send().await?).await?;
    assert_eq!(status, 200);
    assert_eq!(me_body["user"]["username"], "alice");
    assert_eq!(me(&app, &reqwest::Client::new(), Some(&token)).await?, 200);
    assert_eq!(me(&app, &reqwest::Client::new(), None).await?, 401);

    let (status, profile) = body(
        reqwest::Client::new()
            .get(app.url("/api/v1/users/ALICE"))
            .bearer_auth(&token)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(
        (status, &profile["user"]["display_name"]),
        (200, &json!("Alice L."))
    );
    let (status, missing) = body(
        reqwest::Client::new()
            .get(app.url("/api/v1/users/nobody_here"))
            .bearer_auth(&token)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(
        (status, &missing["error"]["code"]),
        (404, &json!("not_found"))
    );

    // Logging out through the cookie ends the session, also for its bearer token.
    let response = tab.post(app.url("/api/v1/auth/logout")).send().await?;
    assert_eq!(response.status(), 204);
    assert_eq!(me(&app, &tab, None).await?, 401);
    assert_eq!(me(&app, &reqwest::Client::new(), Some(&token)).await?, 401);
    Ok(())
}

#[tokio::test]
async fn logout_with_a_token_kills_that_token_at_once() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let token = app.signed_up("bob").await?;
    let other = app.signed_up_again("bob").await?;
    let client = reqwest::Client::new();
    assert_eq!(me(&app, &client, Some(&token)).await?, 200);
    let response = client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(response.status(), 204);
    assert_eq!(me(&app, &client, Some(&token)).await?, 401);
    // Another session of the same user is untouched.
    assert_eq!(me(&app, &client, Some(&other)).await?, 200);
    let response = client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    Ok(())
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_let_exactly_one_succeed() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..8 {
        let url = app.url("/api/v1/auth/register");
        // Different spellings of the same case-insensitive name.
        let name = if i % 2 == 0 { "carol" } else { "Carol" };
        attempts.spawn(async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&json!({"username": name, "password": format!("password-{i}")}))
                .send()
                .await?;
            body(response).await
        });
    }
    let mut created = 0;
    let mut taken = 0;
    while let Some(outcome) = attempts.join_next().await {
        let (status, value) = outcome??;
        match status {
            201 => created += 1,
            409 => {
                assert_eq!(value["error"]["code"], "username_taken");
                assert_eq!(value["error"]["field"], "username");
                taken += 1;
            }
            other => anyhow::bail!("unexpected {other}: {value}"),
        }
    }
    assert_eq!((created, taken), (1, 7));
    Ok(())
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_indistinguishable() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    app.register("dave", PASSWORD).await?;
    let client = reqwest::Client::new();
    let wrong_password = body(app.login_with(&client, "dave", "not the password").await?).await?;
    let unknown_user = body(
        app.login_with(&client, "nobody", "not the password")
            .await?,
    )
    .await?;
    let malformed_user = body(app.login_with(&client, "x", "not the password").await?).await?;
    assert_eq!(wrong_password.0, 401);
    assert_eq!(wrong_password.1["error"]["code"], "invalid_credentials");
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password, malformed_user);
    Ok(())
}

#[tokio::test]
async fn repeated_login_failures_are_throttled_then_released() -> anyhow::Result<()> {
    let app = spawn_app(&[
        ("LOGIN_FAILURES_PER_USERNAME", "3"),
        ("LOGIN_FAILURES_PER_ADDRESS", "100"),
        ("LOGIN_FAILURE_WINDOW_SECS", "2"),
    ])
    .await?;
    app.register("erin", PASSWORD).await?;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let response = app.login_with(&client, "erin", "guess-guess").await?;
        assert_eq!(response.status(), 401);
    }
    // Even the right password is refused while the limit holds.
    let response = app.login_with(&client, "erin", PASSWORD).await?;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    let (_, limited) = body(response).await?;
    assert_eq!(limited["error"]["code"], "too_many_requests");
    // Another username from the same address is not affected.
    app.register("frank", PASSWORD).await?;
    assert_eq!(
        app.login_with(&client, "frank", PASSWORD).await?.status(),
        200
    );

    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let response = app.login_with(&client, "erin", PASSWORD).await?;
    assert_eq!(response.status(), 200);
    Ok(())
}

#[tokio::test]
async fn too_many_failures_from_one_address_are_throttled_across_usernames() -> anyhow::Result<()> {
    let app = spawn_app(&[
        ("LOGIN_FAILURES_PER_USERNAME", "100"),
        ("LOGIN_FAILURES_PER_ADDRESS", "4"),
    ])
    .await?;
    let client = reqwest::Client::new();
    for i in 0..4 {
        let response = app
            .login_with(&client, &format!("user{i}"), "nope-nope")
            .await?;
        assert_eq!(response.status(), 401);
    }
    let response = app.login_with(&client, "someone_else", "nope-nope").await?;
    assert_eq!(response.status(), 429);
    Ok(())
}

#[tokio::test]
async fn cross_site_cookie_requests_are_refused_but_bearer_requests_are_not() -> anyhow::Result<()>
{
    let app = spawn_app(&[]).await?;
    app.register("grace", PASSWORD).await?;
    let tab = app.browser();
    assert_eq!(app.login_with(&tab, "grace", PASSWORD).await?.status(), 200);

    let (status, refused) = body(
        tab.post(app.url("/api/v1/auth/logout"))
            .header(header::ORIGIN, "http://evil.example")
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, 403);
    assert_eq!(refused["error"]["code"], "cross_site_request");
    let response = tab
        .delete(app.url("/api/v1/sessions"))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await?;
    assert_eq!(response.status(), 403);
    assert_eq!(me(&app, &tab, None).await?, 200, "the session survived");

    // A bearer token is never attached by a browser on its own, so it needs no origin check.
    let token = app.signed_up_again("grace").await?;
    let response = reqwest::Client::new()
        .delete(app.url("/api/v1/sessions"))
        .bearer_auth(&token)
        .header(header::ORIGIN, "http://evil.example")
        .send()
        .await?;
    assert_eq!(response.status(), 200);

    // The service's own origin may. (The bearer call above ended this tab's session, so log in.)
    assert_eq!(app.login_with(&tab, "grace", PASSWORD).await?.status(), 200);
    let response = tab
        .post(app.url("/api/v1/auth/logout"))
        .header(header::ORIGIN, "http://chat.test")
        .send()
        .await?;
    assert_eq!(response.status(), 204);
    Ok(())
}

#[tokio::test]
async fn every_validation_error_names_its_field() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let cases = [
        (json!({"password": PASSWORD}), "username"),
        (json!({"username": "ab", "password": PASSWORD}), "username"),
        (
            json!({"username": "has space", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "x".repeat(33), "password": PASSWORD}),
            "username",
        ),
        (json!({"username": 42, "password": PASSWORD}), "username"),
        (json!({"username": "heidi"}), "password"),
        (
            json!({"username": "heidi", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "heidi", "password": "p".repeat(129)}),
            "password",
        ),
        (
            json!({"username": "heidi", "password": PASSWORD, "display_name": "  "}),
            "display_name",
        ),
        (
            json!({"username": "heidi", "password": PASSWORD, "display_name": "d".repeat(65)}),
            "display_name",
        ),
    ];
    for (request, field) in cases {
        let response = reqwest::Client::new()
            .post(app.url("/api/v1/auth/register"))
            .json(&request)
            .send()
            .await?;
        let (status, error) = body(response).await?;
        assert_eq!(status, 422, "{request} -> {error}");
        assert_eq!(error["error"]["code"], "validation_failed", "{request}");
        assert_eq!(error["error"]["field"], field, "{request} -> {error}");
        assert!(error["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "heidi"}))
        .send()
        .await?;
    let (status, error) = body(response).await?;
    assert_eq!(
        (status, &error["error"]["field"]),
        (422, &json!("password"))
    );
    // Nothing was registered by any of the refused requests.
    assert_eq!(app.register("heidi", PASSWORD).await?.status(), 201);
    Ok(())
}

#[tokio::test]
async fn malformed_bodies_get_json_errors_with_the_right_status() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let client = reqwest::Client::new();
    let url = app.url("/api/v1/auth/register");

    let (status, error) = body(
        client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body("{\"username\": ")
            .send()
            .await?,
    )
    .await?;
    assert_eq!(
        (status, &error["error"]["code"]),
        (400, &json!("invalid_json"))
    );

    let (status, error) = body(
        client
            .post(&url)
            .header(header::CONTENT_TYPE, "text/plain")
            .body("username=alice")
            .send()
            .await?,
    )
    .await?;
    assert_eq!(
        (status, &error["error"]["code"]),
        (415, &json!("unsupported_media_type"))
    );

    let huge = json!({"username": "ivan", "password": "x".repeat(100 * 1024)});
    let (status, error) = body(client.post(&url).json(&huge).send().await?).await?;
    assert_eq!(
        (status, &error["error"]["code"]),
        (413, &json!("payload_too_large"))
    );

    let (status, error) = body(client.get(&url).send().await?).await?;
    assert_eq!(
        (status, &error["error"]["code"]),
        (405, &json!("method_not_allowed"))
    );
    Ok(())
}

#[tokio::test]
async fn a_user_lists_sessions_and_logs_out_everywhere_else() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let laptop = app.signed_up("judy").await?;
    let phone = app.signed_up_again("judy").await?;
    let client = reqwest::Client::new();

    let (status, list) = body(
        client
            .get(app.url("/api/v1/sessions"))
            .bearer_auth(&laptop)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, 200);
    let sessions = list["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let text = list.to_string();
    assert!(
        !text.contains(&laptop) && !text.contains(&phone),
        "tokens are never listed"
    );

    let (status, revoked) = body(
        client
            .delete(app.url("/api/v1/sessions"))
            .bearer_auth(&laptop)
            .send()
            .await?,
    )
    .await?;
    assert_eq!((status, &revoked["revoked"]), (200, &json!(1)));
    assert_eq!(me(&app, &client, Some(&phone)).await?, 401);
    assert_eq!(me(&app, &client, Some(&laptop)).await?, 200);

    // Revoking one session by id; someone else's id is not found.
    let tablet = app.signed_up_again("judy").await?;
    let (_, list) = body(
        client
            .get(app.url("/api/v1/sessions"))
            .bearer_auth(&laptop)
            .send()
            .await?,
    )
    .await?;
    let tablet_id = list["sessions"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["current"] == false))
        .and_then(|s| s["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let mallory = app.signed_up("mallory").await?;
    let response = client
        .delete(app.url(&format!("/api/v1/sessions/{tablet_id}")))
        .bearer_auth(&mallory)
        .send()
        .await?;
    assert_eq!(response.status(), 404);
    assert_eq!(me(&app, &client, Some(&tablet)).await?, 200);
    let response = client
        .delete(app.url(&format!("/api/v1/sessions/{tablet_id}")))
        .bearer_auth(&laptop)
        .send()
        .await?;
    assert_eq!(response.status(), 204);
    assert_eq!(me(&app, &client, Some(&tablet)).await?, 401);
    Ok(())
}

#[tokio::test]
async fn the_api_is_described_by_openapi_with_a_local_docs_page() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (status, document) = body(reqwest::get(app.url("/api/v1/openapi.json")).await?).await?;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/users/{username}",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
    ] {
        assert!(
            document["paths"][path].is_object(),
            "{path} is not documented"
        );
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());

    let page = reqwest::get(app.url("/api/docs")).await?.text().await?;
    assert!(page.contains("/api/docs/swagger-ui/swagger-ui-bundle.js"));
    assert!(!page.contains("https://"), "no CDN");
    let script = reqwest::get(app.url("/api/docs/swagger-ui/swagger-ui-bundle.js")).await?;
    assert_eq!(
        script.status(),
        200,
        "run scripts/test, which installs web/node_modules"
    );
    Ok(())
}

async fn login_from(app: &TestApp, client_address: &str, username: &str) -> anyhow::Result<u16> {
    Ok(reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .header("X-Real-IP", client_address)
        .json(&json!({"username": username, "password": "wrong-password"}))
        .send()
        .await?
        .status()
        .as_u16())
}

#[tokio::test]
async fn per_address_limits_use_forwarded_addresses_only_from_trusted_proxies() -> anyhow::Result<()>
{
    let limits = [
        ("LOGIN_FAILURES_PER_USERNAME", "100"),
        ("LOGIN_FAILURES_PER_ADDRESS", "2"),
    ];
    let behind_proxy =
        spawn_app(&[limits[0], limits[1], ("TRUSTED_PROXIES", "127.0.0.1/32")]).await?;
    for name in ["u1", "u2"] {
        assert_eq!(login_from(&behind_proxy, "198.51.100.1", name).await?, 401);
    }
    assert_eq!(login_from(&behind_proxy, "198.51.100.1", "u3").await?, 429);
    // Another client behind the same proxy has a budget of its own.
    assert_eq!(login_from(&behind_proxy, "198.51.100.2", "u4").await?, 401);

    // Without a trusted proxy, the header is ignored: everyone here is 127.0.0.1.
    let direct = spawn_app(&[limits[0], limits[1]]).await?;
    assert_eq!(login_from(&direct, "198.51.100.1", "u1").await?, 401);
    assert_eq!(login_from(&direct, "198.51.100.2", "u2").await?, 401);
    assert_eq!(login_from(&direct, "198.51.100.3", "u3").await?, 429);
    Ok(())
}

#[tokio::test]
async fn parallel_guesses_cannot_all_slip_past_the_limit() -> anyhow::Result<()> {
    let app = spawn_app(&[("LOGIN_FAILURES_PER_USERNAME", "5")]).await?;
    app.register("olga", PASSWORD).await?;
    let mut guesses = tokio::task::JoinSet::new();
    for n in 0..20 {
        let url = app.url("/api/v1/auth/login");
        guesses.spawn(async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&json!({"username": "olga", "password": format!("guess-{n}")}))
                .send()
                .await?;
            anyhow::Ok(response.status().as_u16())
        });
    }
    let mut checked = 0;
    let mut limited = 0;
    while let Some(status) = guesses.join_next().await {
        match status?? {
            401 => checked += 1,
            429 => limited += 1,
            other => anyhow::bail!("unexpected {other}"),
        }
    }
    assert_eq!((checked, limited), (5, 15), "only 5 guesses were checked");
    Ok(())
}

#[tokio::test]
async fn a_session_ends_when_idle_too_long_or_too_old_however_active() -> anyhow::Result<()> {
    let app = spawn_app(&[
        ("SESSION_IDLE_TIMEOUT_SECS", "2"),
        ("SESSION_MAX_AGE_SECS", "6"),
    ])
    .await?;
    let active = common::ApiUser::new(&app, "active").await?;
    let idle = common::ApiUser::new(&app, "idle").await?;
    let started = std::time::Instant::now();
    // Used every half second, a session outlives its idle timeout many times over...
    while started.elapsed() < Duration::from_secs(4) {
        let (status, _) = active.get("/api/v1/me").await?;
        assert_eq!(status, 200, "at {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // ...one left unused for longer than that has ended,
    assert_eq!(idle.get("/api/v1/me").await?.0, 401);
    // and none outlives its absolute lifetime, however active.
    let ended = loop {
        if active.get("/api/v1/me").await?.0 == 401 {
            break started.elapsed();
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "the session still works {:?} after its 6 s lifetime began",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(ended >= Duration::from_secs(4), "ended at {ended:?}");
    Ok(())
}
