//! Accounts and sessions over HTTP, against the app on port 0 with real Postgres and Redis.

mod common;

use common::cases::{expect, expect_answer, expect_eq, Cases};
use common::{answer, spawn_app, ApiUser, TestApp};
use reqwest::header;
use serde_json::json;
use std::time::Duration;

const PASSWORD: &str = "correct horse battery";

/// Checks, case by case, whether each credential (a client with its cookies, a bearer token or
/// neither) still authenticates: the status `/api/v1/me` answers it.
async fn expect_me(
    app: &TestApp,
    credentials: &[(&str, &reqwest::Client, Option<&str>, u16)],
) -> anyhow::Result<()> {
    let mut cases = Cases::new();
    for (case, client, token, status) in credentials {
        cases
            .run(case, async {
                expect_eq(app.me_status(client, *token).await?, *status)
            })
            .await;
    }
    cases.finish()
}

/// Logs out the session of `client`'s cookie, or of `token`; the status.
async fn logout(
    app: &TestApp,
    client: &reqwest::Client,
    token: Option<&str>,
) -> anyhow::Result<u16> {
    let mut request = client.post(app.url("/api/v1/auth/logout"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?.status().as_u16())
}

#[tokio::test]
async fn a_user_registers_logs_in_with_cookie_or_token_and_logs_out() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let plain = reqwest::Client::new();
    let response = plain
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"username": "Alice", "password": PASSWORD, "display_name": " Alice L. "}))
        .send()
        .await?;
    let (status, registered) = answer(response).await?;
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
    let (status, login) = answer(response).await?;
    assert_eq!(status, 200, "{login}");
    assert!(cookie.starts_with("session="), "{cookie}");
    let mut cases = Cases::new();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        cases.record(
            format!("cookie attribute {attribute}"),
            expect(cookie.contains(attribute), format!("missing in {cookie}")),
        );
    }
    cases.record(
        "no Secure cookie over plain http",
        expect(!cookie.contains("Secure"), &cookie),
    );
    cases.finish()?;
    assert_eq!(login["user"], registered["user"]);
    let token = login["token"].as_str().unwrap_or_default().to_owned();
    assert!(token.len() >= 43, "a 256-bit token");

    // The cookie alone, and the bearer token alone, both authenticate.
    let (status, me) = answer(tab.get(app.url("/api/v1/me")).send().await?).await?;
    assert_eq!((status, &me["user"]["username"]), (200, &json!("alice")));
    expect_me(
        &app,
        &[
            ("the cookie alone", &tab, None, 200),
            ("the bearer token alone", &plain, Some(&token), 200),
            ("neither", &plain, None, 401),
        ],
    )
    .await?;

    let alice = ApiUser::with_token(&app, &token);
    let mut cases = Cases::new();
    for (case, name, status, field, value) in [
        (
            "a profile, by name in any case",
            "ALICE",
            200,
            "/user/display_name",
            "Alice L.",
        ),
        (
            "an unknown name",
            "nobody_here",
            404,
            "/error/code",
            "not_found",
        ),
    ] {
        cases
            .run(case, async {
                let got = alice.get(&format!("/api/v1/users/{name}")).await?;
                expect_answer(&got, status, &[(field, json!(value))])
            })
            .await;
    }
    cases.finish()?;

    // Logging out through the cookie ends the session, also for its bearer token.
    assert_eq!(logout(&app, &tab, None).await?, 204);
    expect_me(
        &app,
        &[
            ("the cookie after logout", &tab, None, 401),
            ("its bearer token after logout", &plain, Some(&token), 401),
        ],
    )
    .await
}

#[tokio::test]
async fn logout_with_a_token_kills_that_token_at_once() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let token = app.signed_up("bob").await?;
    let other = app.signed_up_again("bob").await?;
    let client = reqwest::Client::new();
    assert_eq!(app.me_status(&client, Some(&token)).await?, 200);
    assert_eq!(logout(&app, &client, Some(&token)).await?, 204);
    expect_me(
        &app,
        &[
            ("the token logged out", &client, Some(&token), 401),
            // Another session of the same user is untouched.
            ("another session of bob", &client, Some(&other), 200),
        ],
    )
    .await?;
    assert_eq!(
        logout(&app, &client, Some(&token)).await?,
        401,
        "logging out twice"
    );
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
            answer(response).await
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
    let mut answers = Vec::new();
    for (case, username) in [
        ("a wrong password", "dave"),
        ("an unknown user", "nobody"),
        ("a malformed username", "x"),
    ] {
        let response = app
            .login_with(&client, username, "not the password")
            .await?;
        answers.push((case, answer(response).await?));
    }
    let mut cases = Cases::new();
    for (case, got) in &answers {
        cases.record(
            case,
            expect_answer(got, 401, &[("/error/code", json!("invalid_credentials"))])
                .and_then(|()| expect_eq(got, &answers[0].1)),
        );
    }
    cases.finish()
}

#[tokio::test]
async fn repeated_login_failures_are_throttled_then_released() -> anyhow::Result<()> {
    let app = spawn_app(&[
        ("LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS", "3"),
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
    let (_, limited) = answer(response).await?;
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
        ("LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS", "100"),
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

    let mut cases = Cases::new();
    for (case, request) in [
        (
            "a logout from another site's origin",
            tab.post(app.url("/api/v1/auth/logout"))
                .header(header::ORIGIN, "http://evil.example"),
        ),
        (
            "revoking sessions from a cross-site fetch",
            tab.delete(app.url("/api/v1/sessions"))
                .header("Sec-Fetch-Site", "cross-site"),
        ),
    ] {
        cases
            .run(case, async {
                let got = answer(request.send().await?).await?;
                expect_answer(&got, 403, &[("/error/code", json!("cross_site_request"))])
            })
            .await;
    }
    cases.finish()?;
    assert_eq!(
        app.me_status(&tab, None).await?,
        200,
        "the session survived"
    );

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
    let register = "/api/v1/auth/register";
    let cases = [
        (
            "register without a username",
            register,
            json!({"password": PASSWORD}),
            "username",
        ),
        (
            "a username too short",
            register,
            json!({"username": "ab", "password": PASSWORD}),
            "username",
        ),
        (
            "a username with a space",
            register,
            json!({"username": "has space", "password": PASSWORD}),
            "username",
        ),
        (
            "a username too long",
            register,
            json!({"username": "x".repeat(33), "password": PASSWORD}),
            "username",
        ),
        (
            "a username that is a number",
            register,
            json!({"username": 42, "password": PASSWORD}),
            "username",
        ),
        (
            "register without a password",
            register,
            json!({"username": "heidi"}),
            "password",
        ),
        (
            "a password too short",
            register,
            json!({"username": "heidi", "password": "short"}),
            "password",
        ),
        (
            "a password too long",
            register,
            json!({"username": "heidi", "password": "p".repeat(129)}),
            "password",
        ),
        (
            "a blank display name",
            register,
            json!({"username": "heidi", "password": PASSWORD, "display_name": "  "}),
            "display_name",
        ),
        (
            "a display name too long",
            register,
            json!({"username": "heidi", "password": PASSWORD, "display_name": "d".repeat(65)}),
            "display_name",
        ),
        (
            "log in without a password",
            "/api/v1/auth/login",
            json!({"username": "heidi"}),
            "password",
        ),
    ];
    let client = reqwest::Client::new();
    let mut table = Cases::new();
    for (case, path, request, field) in cases {
        table
            .run(case, async {
                let response = client.post(app.url(path)).json(&request).send().await?;
                let got = answer(response).await?;
                expect_answer(
                    &got,
                    422,
                    &[
                        ("/error/code", json!("validation_failed")),
                        ("/error/field", json!(field)),
                    ],
                )?;
                expect(
                    got.1["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty()),
                    format!("no message: {}", got.1),
                )
            })
            .await;
    }
    table.finish()?;
    // Nothing was registered by any of the refused requests.
    assert_eq!(app.register("heidi", PASSWORD).await?.status(), 201);
    Ok(())
}

#[tokio::test]
async fn malformed_bodies_get_json_errors_with_the_right_status() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let client = reqwest::Client::new();
    let url = app.url("/api/v1/auth/register");
    let huge = json!({"username": "ivan", "password": "x".repeat(100 * 1024)});
    let mut cases = Cases::new();
    for (case, request, status, code) in [
        (
            "truncated JSON",
            client
                .post(&url)
                .header(header::CONTENT_TYPE, "application/json")
                .body("{\"username\": "),
            400,
            "invalid_json",
        ),
        (
            "a form instead of JSON",
            client
                .post(&url)
                .header(header::CONTENT_TYPE, "text/plain")
                .body("username=alice"),
            415,
            "unsupported_media_type",
        ),
        (
            "a body over the limit",
            client.post(&url).json(&huge),
            413,
            "payload_too_large",
        ),
        (
            "GET on a POST route",
            client.get(&url),
            405,
            "method_not_allowed",
        ),
    ] {
        cases
            .run(case, async {
                let got = answer(request.send().await?).await?;
                expect_answer(&got, status, &[("/error/code", json!(code))])
            })
            .await;
    }
    cases.finish()
}

#[tokio::test]
async fn a_user_lists_sessions_and_logs_out_everywhere_else() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let laptop = app.signed_up("judy").await?;
    let phone = app.signed_up_again("judy").await?;
    let client = reqwest::Client::new();
    let on_laptop = ApiUser::with_token(&app, &laptop);

    let (status, list) = on_laptop.get("/api/v1/sessions").await?;
    assert_eq!(status, 200);
    let sessions = list["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let text = list.to_string();
    assert!(
        !text.contains(&laptop) && !text.contains(&phone),
        "tokens are never listed"
    );

    let revoked = on_laptop
        .call(reqwest::Method::DELETE, "/api/v1/sessions", None)
        .await?;
    expect_answer(&revoked, 200, &[("/revoked", json!(1))])?;
    expect_me(
        &app,
        &[
            (
                "the phone, logged out elsewhere",
                &client,
                Some(&phone),
                401,
            ),
            ("the laptop that did it", &client, Some(&laptop), 200),
        ],
    )
    .await?;

    // Revoking one session by id; someone else's id is not found.
    let tablet = app.signed_up_again("judy").await?;
    let (_, list) = on_laptop.get("/api/v1/sessions").await?;
    let tablet_id = list["sessions"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["current"] == false))
        .and_then(|s| s["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let revoke_tablet = format!("/api/v1/sessions/{tablet_id}");
    let mallory = ApiUser::new(&app, "mallory").await?;
    let (status, _) = mallory
        .call(reqwest::Method::DELETE, &revoke_tablet, None)
        .await?;
    assert_eq!(status, 404, "someone else's session");
    assert_eq!(app.me_status(&client, Some(&tablet)).await?, 200);
    let (status, _) = on_laptop
        .call(reqwest::Method::DELETE, &revoke_tablet, None)
        .await?;
    assert_eq!(status, 204);
    assert_eq!(app.me_status(&client, Some(&tablet)).await?, 401);
    Ok(())
}

#[tokio::test]
async fn the_api_is_described_by_openapi_with_a_local_docs_page() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (status, document) = answer(reqwest::get(app.url("/api/v1/openapi.json")).await?).await?;
    assert_eq!(status, 200);
    let undocumented: Vec<&str> = [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/users/{username}",
        "/api/v1/users",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
    ]
    .into_iter()
    .filter(|path| !document["paths"][path].is_object())
    .collect();
    assert!(undocumented.is_empty(), "not documented: {undocumented:?}");
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

/// A failed login as `username` from `client_address` (given to the service as `X-Real-IP`).
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

/// Failed logins in order, each `(case, address, username, expected status)`; every one is tried
/// and checked, and each wrong one named.
async fn expect_logins_from(
    app: &TestApp,
    steps: &[(&str, &str, &str, u16)],
) -> anyhow::Result<()> {
    let mut cases = Cases::new();
    for (case, address, username, status) in steps {
        cases
            .run(case, async {
                expect_eq(login_from(app, address, username).await?, *status)
            })
            .await;
    }
    cases.finish()
}

#[tokio::test]
async fn per_address_limits_use_forwarded_addresses_only_from_trusted_proxies() -> anyhow::Result<()>
{
    let limits = [
        ("LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS", "100"),
        ("LOGIN_FAILURES_PER_ADDRESS", "2"),
    ];
    let behind_proxy =
        spawn_app(&[limits[0], limits[1], ("TRUSTED_PROXIES", "127.0.0.1/32")]).await?;
    expect_logins_from(
        &behind_proxy,
        &[
            (
                "behind a proxy, the first failure of .1",
                "198.51.100.1",
                "u1",
                401,
            ),
            (
                "behind a proxy, the second failure of .1",
                "198.51.100.1",
                "u2",
                401,
            ),
            (
                "behind a proxy, .1 over its budget",
                "198.51.100.1",
                "u3",
                429,
            ),
            // Another client behind the same proxy has a budget of its own.
            (
                "behind a proxy, .2 with a budget of its own",
                "198.51.100.2",
                "u4",
                401,
            ),
        ],
    )
    .await?;

    // Without a trusted proxy, the header is ignored: everyone here is 127.0.0.1.
    let direct = spawn_app(&[limits[0], limits[1]]).await?;
    expect_logins_from(
        &direct,
        &[
            ("direct, the first failure", "198.51.100.1", "u1", 401),
            (
                "direct, the second failure, another header",
                "198.51.100.2",
                "u2",
                401,
            ),
            (
                "direct, over the budget whatever the header",
                "198.51.100.3",
                "u3",
                429,
            ),
        ],
    )
    .await
}

#[tokio::test]
async fn parallel_guesses_cannot_all_slip_past_the_limit() -> anyhow::Result<()> {
    let app = spawn_app(&[("LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS", "5")]).await?;
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
    // The idle one signs up first: a sign-up (argon2) on a loaded machine can outlast the 2 s
    // idle timeout, and the active session must be used from its first moment.
    let idle = ApiUser::new(&app, "idle").await?;
    let active = ApiUser::new(&app, "active").await?;
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

#[tokio::test]
async fn guesses_from_everywhere_slow_a_username_down_but_never_lock_its_owner_out(
) -> anyhow::Result<()> {
    let app = spawn_app(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("LOGIN_SLOWDOWN_AFTER", "2"),
    ])
    .await?;
    app.register("vera", PASSWORD).await?;
    // A botnet: every guess from another address, so no address or pair reaches its limit.
    for n in 1..=6 {
        let status = login_from(&app, &format!("203.0.113.{n}"), "vera").await?;
        assert_eq!(status, 401, "guess {n} is checked, not refused");
    }
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .header("X-Real-IP", "198.51.100.7")
        .json(&json!({"username": "vera", "password": PASSWORD}))
        .send()
        .await?;
    assert_eq!(response.status(), 200, "the owner gets in");
    // Six failures, two free: the seventh attempt waits 250 ms doubled three times.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "slowed: {:?}",
        started.elapsed()
    );
    // A success clears the slowdown.
    let started = std::time::Instant::now();
    assert_eq!(login_from(&app, "203.0.113.9", "vera").await?, 401);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_session_token_in_the_url_authenticates_nothing() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let token = app.signed_up("kim").await?;
    let client = reqwest::Client::new();
    let mut cases = Cases::new();
    for path in [
        "/api/v1/me?token={t}",
        "/api/v1/me?access_token={t}",
        "/api/v1/me?session={t}",
        "/api/v1/ws?token={t}",
        "/api/v1/ws?access_token={t}",
    ] {
        let url = app.url(&path.replace("{t}", &token));
        cases
            .run(path, async {
                let got = answer(client.get(&url).send().await?).await?;
                expect_answer(&got, 401, &[("/error/code", json!("unauthorized"))])
            })
            .await;
    }
    cases.finish()
}

#[tokio::test]
async fn every_login_issues_a_fresh_token_and_a_planted_one_is_never_adopted() -> anyhow::Result<()>
{
    let app = spawn_app(&[]).await?;
    app.register("lena", PASSWORD).await?;
    // A value someone else chose and planted in the victim's browser before she logs in.
    let planted = "planted-by-someone-else-0123456789abcdefghijklmno";
    let login = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .header(header::COOKIE, format!("session={planted}"))
        .json(&json!({"username": "lena", "password": PASSWORD}))
        .send()
        .await?;
    let cookie = login
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .and_then(|pair| pair.strip_prefix("session="))
        .unwrap_or_default()
        .to_owned();
    let (status, body) = answer(login).await?;
    assert_eq!(status, 200, "{body}");
    let first = body["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(cookie, first, "the cookie carries the issued token");
    assert_ne!(first, planted, "the planted value was adopted");
    let second = app.signed_up_again("lena").await?;
    assert_ne!(first, second, "a second login reused the first token");
    let client = reqwest::Client::new();
    let planted_cookie = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .header(header::COOKIE, format!("session={planted}"))
        .send()
        .await?
        .status();
    assert_eq!(planted_cookie, 401, "the planted value became a session");
    expect_me(
        &app,
        &[
            ("the first login's token", &client, Some(&first), 200),
            ("the second login's token", &client, Some(&second), 200),
        ],
    )
    .await
}

#[tokio::test]
async fn every_route_but_register_and_login_refuses_a_caller_without_a_session(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let (status, document) = answer(reqwest::get(app.url("/api/v1/openapi.json")).await?).await?;
    assert_eq!(status, 200);
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    let client = reqwest::Client::new();
    let mut public = Vec::new();
    let mut cases = Cases::new();
    for (path, item) in &paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            if operation.get("security").is_none() {
                public.push(format!("{method} {path}"));
                continue;
            }
            // Any id will do: the session is checked before anything is looked up.
            let mut concrete = path.clone();
            while let (Some(open), Some(close)) = (concrete.find('{'), concrete.find('}')) {
                concrete.replace_range(open..=close, "00000000-0000-0000-0000-000000000000");
            }
            let url = app.url(&concrete);
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
            for (credential, header_value) in [
                ("no credential", None),
                (
                    "an unknown bearer token",
                    Some((header::AUTHORIZATION, "Bearer not-a-session")),
                ),
                (
                    "an unknown session cookie",
                    Some((header::COOKIE, "session=not-a-session")),
                ),
            ] {
                let mut request = client.request(method.clone(), &url).json(&json!({}));
                if let Some((name, value)) = header_value {
                    request = request.header(name, value);
                }
                cases
                    .run(format!("{method} {path} with {credential}"), async {
                        let got = answer(request.send().await?).await?;
                        expect_answer(&got, 401, &[("/error/code", json!("unauthorized"))])
                    })
                    .await;
            }
        }
    }
    cases.record(
        "only registration and login are public",
        expect_eq(
            public,
            vec![
                "post /api/v1/auth/login".to_owned(),
                "post /api/v1/auth/register".to_owned(),
            ],
        ),
    );
    cases.record(
        "every route was tried",
        expect(paths.len() >= 12, format!("only {} paths", paths.len())),
    );
    cases.finish()
}

#[tokio::test]
async fn without_the_session_store_nobody_gets_in() -> anyhow::Result<()> {
    // Redis (sessions, login counters) unreachable: every door that needs it refuses with 503,
    // none lets a caller through.
    let app = spawn_app(&[("REDIS_URL", "redis://127.0.0.1:1")]).await?;
    let client = reqwest::Client::new();
    let mut cases = Cases::new();
    for (case, request) in [
        (
            "a bearer token",
            client
                .get(app.url("/api/v1/me"))
                .bearer_auth("some-token-0123456789abcdefghijklmnopqrstuv"),
        ),
        (
            "a session cookie",
            client.get(app.url("/api/v1/conversations")).header(
                header::COOKIE,
                "session=some-token-0123456789abcdefghijklmnop",
            ),
        ),
        (
            "a login",
            client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"username": "nobody", "password": PASSWORD})),
        ),
        (
            "a WebSocket upgrade",
            client
                .get(app.url("/api/v1/ws"))
                .bearer_auth("some-token-0123456789abcdefghijklmnopqrstuv"),
        ),
    ] {
        cases
            .run(case, async {
                let got = answer(request.send().await?).await?;
                expect_answer(&got, 503, &[("/error/code", json!("unavailable"))])
            })
            .await;
    }
    cases.finish()
}

#[tokio::test]
async fn a_503_says_how_long_the_server_tried_before_giving_up() -> anyhow::Result<()> {
    let app = spawn_app(&[("REDIS_URL", "redis://127.0.0.1:1")]).await?;
    let client = reqwest::Client::new();
    let refused = client
        .get(app.url("/api/v1/me"))
        .bearer_auth("some-token-0123456789abcdefghijklmnopqrstuv")
        .send()
        .await?;
    assert_eq!(refused.status(), 503);
    let timing = refused
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let parts: Vec<&str> = timing.split(';').collect();
    let ms = parts
        .iter()
        .find_map(|part| part.strip_prefix("dur="))
        .and_then(|ms| ms.parse::<f64>().ok());
    assert_eq!(parts.first(), Some(&"app"), "Server-Timing: {timing:?}");
    assert!(ms.is_some_and(|ms| ms >= 0.0), "Server-Timing: {timing:?}");
    // It names the error's code, so a client log tells an outage from a deadline.
    assert!(
        parts.contains(&"desc=unavailable"),
        "Server-Timing: {timing:?}"
    );
    // Only a 503 tells it.
    let served = client.get(app.url("/healthz")).send().await?;
    assert_eq!(served.status(), 200);
    assert!(served.headers().get("server-timing").is_none());
    Ok(())
}

#[tokio::test]
async fn every_credential_presented_must_hold() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let ann = ApiUser::new(&app, "ann").await?;
    let me = app.url("/api/v1/me");
    let http = reqwest::Client::new();
    let cookie = |token: &str| format!("session={token}");
    let cases = [
        ("a valid token alone", Some(ann.token.as_str()), None, 200),
        ("a valid cookie alone", None, Some(cookie(&ann.token)), 200),
        (
            "both valid",
            Some(ann.token.as_str()),
            Some(cookie(&ann.token)),
            200,
        ),
        (
            "a valid token beside a forged cookie",
            Some(ann.token.as_str()),
            Some(cookie("forged")),
            401,
        ),
        (
            "a valid cookie beside a forged token",
            Some("forged"),
            Some(cookie(&ann.token)),
            401,
        ),
        (
            "a valid token beside a session cookie without a value",
            Some(ann.token.as_str()),
            Some("session".to_owned()),
            401,
        ),
        (
            "a valid token beside other cookies",
            Some(ann.token.as_str()),
            Some("theme=dark".to_owned()),
            200,
        ),
    ];
    for (what, bearer, session, expected) in cases {
        let mut request = http.get(&me);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(session) = session {
            request = request.header(reqwest::header::COOKIE, session);
        }
        let status = request.send().await?.status().as_u16();
        assert_eq!(status, expected, "{what}");
    }
    Ok(())
}

/// Registers `username` with `display_name` over the API.
async fn register_named(app: &TestApp, username: &str, display_name: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"username": username, "password": PASSWORD, "display_name": display_name}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "register {username}: {}",
        response.status()
    );
    Ok(())
}

/// The usernames a search finds, in order.
fn usernames(body: &serde_json::Value) -> Vec<&str> {
    body["users"]
        .as_array()
        .map(|users| {
            users
                .iter()
                .filter_map(|u| u["username"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn people_are_found_by_the_start_of_their_username_or_display_name() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let anton = ApiUser::new(&app, "anton").await?;
    for (username, display_name) in [
        ("anna", "Anna"),
        ("andrew", "Andy"),
        ("ann", "Ann Lee"),
        ("bob", "Annette"),
        ("carol", "Carol"),
    ] {
        register_named(&app, username, display_name).await?;
    }
    // The directory is a read model: it has everyone once its projector has caught up.
    let mut found = json!(null);
    common::until(
        Duration::from_secs(10),
        "the directory to list everyone",
        async || {
            found = anton.get("/api/v1/users?prefix=An").await?.1;
            Ok(usernames(&found).len() == 4)
        },
    )
    .await?;
    // Case-insensitive, by username or display name, never the caller, ordered by username.
    assert_eq!(usernames(&found), ["andrew", "ann", "anna", "bob"]);
    let bob = &found["users"][3];
    assert_eq!(bob["display_name"], "Annette");
    assert!(bob["id"].as_str().is_some_and(|id| id.len() == 36), "{bob}");
    // The exact username first.
    let (status, exact) = anton.get("/api/v1/users?prefix=ann").await?;
    assert_eq!(status, 200);
    assert_eq!(usernames(&exact), ["ann", "anna", "bob"]);
    let (_, two) = anton.get("/api/v1/users?prefix=an&limit=2").await?;
    assert_eq!(usernames(&two), ["andrew", "ann"]);
    let (_, nobody) = anton.get("/api/v1/users?prefix=anton").await?;
    assert_eq!(
        usernames(&nobody),
        Vec::<&str>::new(),
        "the caller is never listed"
    );
    let (_, odd) = anton.get("/api/v1/users?prefix=%25").await?;
    assert_eq!(
        usernames(&odd),
        Vec::<&str>::new(),
        "% is a character, not a pattern"
    );

    let mut cases = Cases::new();
    for (query, field) in [
        ("", "prefix"),
        ("?prefix=", "prefix"),
        ("?prefix=%20%20", "prefix"),
        ("?limit=5", "prefix"),
        ("?prefix=an&limit=0", "limit"),
        ("?prefix=an&limit=21", "limit"),
        ("?prefix=an&limit=many", "limit"),
        ("?prefix=a&prefix=b", "prefix"),
    ] {
        cases
            .run(format!("GET /api/v1/users{query}"), async {
                let got = anton.get(&format!("/api/v1/users{query}")).await?;
                expect_answer(&got, 422, &[("/error/field", json!(field))])
            })
            .await;
    }
    cases.finish()
}

#[tokio::test]
async fn searching_people_is_rate_limited_per_user() -> anyhow::Result<()> {
    let app = spawn_app(&[("RATE_LIMIT_SEARCH", "2/min")]).await?;
    let (alice, bob) = (
        ApiUser::new(&app, "alice").await?,
        ApiUser::new(&app, "bob").await?,
    );
    for _ in 0..2 {
        assert_eq!(alice.get("/api/v1/users?prefix=b").await?.0, 200);
    }
    let response = alice
        .http
        .get(app.url("/api/v1/users?prefix=b"))
        .bearer_auth(&alice.token)
        .send()
        .await?;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    // Another person's budget is their own.
    assert_eq!(bob.get("/api/v1/users?prefix=a").await?.0, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_from_one_address_does_not_lock_it_out() -> anyhow::Result<()> {
    // Many people behind one address log in at once (e.g. every session was lost with Redis):
    // attempts in flight count until they succeed, so some of the burst is refused, but once it
    // is over the address logs in again.
    let app = spawn_app(&[("LOGIN_FAILURES_PER_ADDRESS", "2")]).await?;
    let names: Vec<String> = (0..12).map(|i| format!("burst{i}")).collect();
    for name in &names {
        let response = app.register(name, "correct horse battery").await?;
        anyhow::ensure!(response.status() == 201, "register {name}");
    }
    let http = reqwest::Client::new();
    let login = |name: String| {
        let (http, url) = (http.clone(), app.url("/api/v1/auth/login"));
        async move {
            let response = http
                .post(url)
                .json(&json!({"username": name, "password": "correct horse battery"}))
                .send()
                .await?;
            anyhow::Ok(response.status().as_u16())
        }
    };
    let mut statuses = Vec::new();
    for _round in 0..3 {
        let burst = names.iter().cloned().map(&login);
        statuses.extend(futures_util::future::join_all(burst).await);
    }
    let statuses = statuses.into_iter().collect::<anyhow::Result<Vec<u16>>>()?;
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "the burst went over the limit: {statuses:?}"
    );
    for name in &names {
        assert_eq!(login(name.clone()).await?, 200, "{name} after the burst");
    }
    Ok(())
}
