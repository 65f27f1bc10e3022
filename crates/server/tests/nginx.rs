//! The nginx front (nginx/nginx.conf.template, rendered by scripts/lib/nginx.sh) in front of two
//! real chatd processes, against the real Postgres, Redis and NATS: sessions, WebSockets across
//! replicas, static files, gzip, the auth rate limit, the body limit and failover, all through nginx.
//!
//! Needs /usr/sbin/nginx (`scripts/test` installs it); without it this test fails, it does not skip.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use testkit::ws::Connect;
use testkit::{free_port, TestDb};
use tokio::process::{Child, Command};

const NGINX: &str = "/usr/sbin/nginx";
const PASSWORD: &str = "correct horse battery";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// nginx and two chatd processes sharing one database, Redis prefix and NATS stream. Dropping it
/// stops nginx, kills the replicas, drops the database and deletes the stream.
struct Front {
    /// Through nginx.
    base: String,
    /// Replica A (every role) and replica B (api only), directly.
    replica_a: String,
    replica_b: String,
    nginx: Nginx,
    chatd_a: Child,
    chatd_b: Option<Child>,
    stream: String,
    _db: TestDb,
}

struct Nginx {
    dir: PathBuf,
    conf: PathBuf,
    child: Child,
}

impl Nginx {
    fn control_args(&self) -> Vec<std::ffi::OsString> {
        vec![
            "-c".into(),
            self.conf.clone().into(),
            "-p".into(),
            self.dir.clone().into(),
            "-e".into(),
            self.dir.join("error.log").into(),
        ]
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master must stop its workers: killing only the master would leave them listening.
        let _ = std::process::Command::new(NGINX)
            .args(self.control_args())
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.chatd_a.start_kill();
        if let Some(child) = self.chatd_b.as_mut() {
            let _ = child.start_kill();
        }
        testkit::delete_stream(&self.stream);
        // The database goes last (`_db` is dropped after this), with `WITH (FORCE)`.
    }
}

async fn start_chatd(
    vars: &[(String, String)],
    port: u16,
    roles: &[&str],
) -> anyhow::Result<(Child, String)> {
    let child = Command::new(env!("CARGO_BIN_EXE_chatd"))
        .arg("serve")
        .args(roles)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("METRICS_BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = reqwest::get(format!("{base}/readyz")).await {
            if response.status() == 200 {
                return Ok((child, base));
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "chatd serve {roles:?} on {port} is not ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_nginx(upstreams: [&str; 2], port: u16) -> anyhow::Result<Nginx> {
    let dir = std::env::temp_dir().join(format!("chat-nginx-{}", uuid::Uuid::new_v4().simple()));
    let static_root = dir.join("static");
    std::fs::create_dir_all(&static_root)?;
    std::fs::write(static_root.join("hello.css"), "body { color: teal; }\n")?;
    // Started as root, nginx's workers run as an unprivileged user: they must be able to read.
    {
        use std::os::unix::fs::PermissionsExt;
        for path in [&dir, &static_root] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::set_permissions(
            static_root.join("hello.css"),
            std::fs::Permissions::from_mode(0o644),
        )?;
    }
    let conf = dir.join("nginx.conf");
    let rendered = Command::new("bash")
        .args([
            "-c",
            r#"set -euo pipefail; source "$1"; render_nginx_conf "$2" "$3""#,
            "render",
        ])
        .arg(repo_path("scripts/lib/nginx.sh"))
        .arg(repo_path("nginx/nginx.conf.template"))
        .arg(&conf)
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .env("UPSTREAM_1", upstreams[0])
        .env("UPSTREAM_2", upstreams[1])
        .env("STATIC_ROOT", &static_root)
        .env("PID_FILE", dir.join("nginx.pid"))
        .env("TEMP_DIR", &dir)
        .env("ERROR_LOG", dir.join("error.log"))
        .env("ACCESS_LOG", dir.join("access.log"))
        .output()
        .await?;
    anyhow::ensure!(
        rendered.status.success(),
        "render_nginx_conf failed: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let text = std::fs::read_to_string(&conf)?;
    anyhow::ensure!(!text.contains("${"), "a placeholder is left:\n{text}");
    anyhow::ensure!(
        text.contains("map $http_upgrade $connection_upgrade"),
        "nginx's own variables were substituted:\n{text}"
    );

    let mut nginx = Nginx {
        child: Command::new(NGINX)
            .args(["-c".as_ref(), conf.as_os_str()])
            .args(["-p".as_ref(), dir.as_os_str()])
            .args(["-e".as_ref(), dir.join("error.log").as_os_str()])
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?,
        dir,
        conf,
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(nginx);
        }
        if let Some(status) = nginx.child.try_wait()? {
            anyhow::bail!("nginx exited ({status}): {}", nginx.error_log());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "nginx did not listen on {port}: {}",
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start() -> anyhow::Result<Front> {
    anyhow::ensure!(
        Path::new(NGINX).exists(),
        "{NGINX} is missing: this test runs the real nginx front. Install it with scripts/test \
         (which installs the Debian package nginx) or `apt-get install -y nginx gettext-base`"
    );
    let db = TestDb::create().await?;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("T{unique}");
    let (port_nginx, port_a, port_b) = (free_port()?, free_port()?, free_port()?);
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), db.url.clone()),
        ("REDIS_KEY_PREFIX".into(), format!("test:{unique}:")),
        ("NATS_STREAM".into(), stream.clone()),
        ("NATS_SUBJECT_PREFIX".into(), format!("t{unique}")),
        // Browsers reach the service through nginx: that is the origin cookies are checked against.
        (
            "PUBLIC_URL".into(),
            format!("http://127.0.0.1:{port_nginx}"),
        ),
        ("SESSION_IDLE_TIMEOUT_SECS".into(), "600".into()),
        ("SHUTDOWN_GRACE_SECS".into(), "1".into()),
        ("RUST_LOG".into(), "warn".into()),
    ];
    for name in ["REDIS_URL", "NATS_URL"] {
        if let Ok(value) = std::env::var(name) {
            vars.push((name.into(), value));
        }
    }
    // One at a time: the first applies the migrations and creates the stream.
    let (chatd_a, replica_a) = start_chatd(&vars, port_a, &["all"]).await?;
    let (chatd_b, replica_b) = start_chatd(&vars, port_b, &["api"]).await?;
    let upstream_a = format!("127.0.0.1:{port_a}");
    let upstream_b = format!("127.0.0.1:{port_b}");
    let nginx = start_nginx([&upstream_a, &upstream_b], port_nginx).await?;
    Ok(Front {
        base: format!("http://127.0.0.1:{port_nginx}"),
        replica_a,
        replica_b,
        nginx,
        chatd_a,
        chatd_b: Some(chatd_b),
        stream,
        _db: db,
    })
}

async fn send(base: &str, token: &str, to: &str, body: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/messages"))
        .bearer_auth(token)
        .json(&json!({"to": to, "body": body, "client_id": uuid::Uuid::new_v4().to_string()}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "send via {base}: {} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
    Ok(())
}

async fn login(client: &reqwest::Client, base: &str, username: &str) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "login: {}", response.status());
    let body: Value = response.json().await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_front_proxies_two_replicas() -> anyhow::Result<()> {
    let mut front = start().await?;
    let base = front.base.clone();
    let http = reqwest::Client::new();

    // Accounts and sessions through nginx; the cookie works through the proxy.
    for name in ["alice", "bob"] {
        let response = http
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
            .await?;
        assert_eq!(response.status(), 201, "register {name}");
    }
    let browser = reqwest::Client::builder().cookie_store(true).build()?;
    let alice = login(&browser, &base, "alice").await?;
    let me: Value = browser
        .get(format!("{base}/api/v1/me"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["user"]["username"], "alice");
    // A cookie request that changes state needs PUBLIC_URL's origin, which is nginx's.
    let start_conversation = |origin: &str| {
        browser
            .post(format!("{base}/api/v1/conversations"))
            .header("Origin", origin)
            .json(&json!({"with": "bob"}))
            .send()
    };
    assert_eq!(
        start_conversation("http://evil.example").await?.status(),
        403
    );
    assert_eq!(start_conversation(&base).await?.status(), 201);
    let bob = login(&http, &base, "bob").await?;
    // A client-supplied X-Forwarded-For changes nothing for the client.
    let response = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&bob)
        .header("X-Forwarded-For", "203.0.113.7")
        .send()
        .await?;
    assert_eq!(response.status(), 200);

    // Real time across replicas: a socket on A gets what is sent through B, and so does a socket
    // through nginx; a message sent through nginx reaches both.
    let mut on_a = Connect::new(&front.replica_a).bearer(&bob).open().await?;
    let mut via_nginx = Connect::new(&base).bearer(&bob).open().await?;
    send(&front.replica_b, &alice, "bob", "through B").await?;
    assert_eq!(on_a.bodies(1).await?, ["through B"]);
    assert_eq!(via_nginx.bodies(1).await?, ["through B"]);
    send(&base, &alice, "bob", "through nginx").await?;
    assert_eq!(on_a.bodies(1).await?, ["through nginx"]);
    assert_eq!(via_nginx.bodies(1).await?, ["through nginx"]);

    // Static files come from nginx itself, cacheable.
    let response = http.get(format!("{base}/static/hello.css")).send().await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/css");
    let cache_control: Vec<&str> = response
        .headers()
        .get_all("cache-control")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let cache_control = cache_control.join(", ");
    assert!(
        cache_control.contains("public") && cache_control.contains("max-age=604800"),
        "{cache_control}"
    );
    assert_eq!(response.text().await?, "body { color: teal; }\n");
    let missing = http.get(format!("{base}/static/nope.css")).send().await?;
    assert_eq!(missing.status(), 404);

    // JSON is compressed for clients that accept gzip (reqwest here does not decode it).
    let response = http
        .get(format!("{base}/api/v1/openapi.json"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await?;
    assert_eq!(&compressed[..2], [0x1f, 0x8b], "not a gzip stream");
    let plain = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await?;
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await?;
    assert!(
        compressed.len() * 3 < plain.len(),
        "{} vs {}",
        compressed.len(),
        plain.len()
    );

    // The body limit matches the app's 64 KiB: nginx refuses more, in the API's error shape.
    let too_big = json!({"to": "bob", "body": "x".repeat(100_000), "client_id": "big"});
    let response = http
        .post(format!("{base}/api/v1/messages"))
        .bearer_auth(&alice)
        .json(&too_big)
        .send()
        .await?;
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await?;
    assert_eq!(error["error"]["code"], "payload_too_large");
    // Refused by nginx itself (the app answers 413 the same way, but the body never reached it).
    assert!(
        front
            .nginx
            .error_log()
            .contains("client intended to send too large body"),
        "the 413 did not come from nginx"
    );
    let under = json!({"to": "bob", "body": "x".repeat(60_000), "client_id": "under"});
    let response = http
        .post(format!("{base}/api/v1/messages"))
        .bearer_auth(&alice)
        .json(&under)
        .send()
        .await?;
    assert_ne!(response.status(), 413, "60 KB must reach the app");

    // A burst at the auth endpoints is cut by nginx, per address, before any password is checked
    // (the requests lack a password: the app would answer 422 and count nothing). Other endpoints
    // are not limited.
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (http, url) = (http.clone(), format!("{base}/api/v1/auth/login"));
        burst.spawn(async move {
            let response = http
                .post(url)
                .json(&json!({"username": "alice"}))
                .send()
                .await?;
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let body: Value = response.json().await.unwrap_or_default();
            anyhow::Ok((status, retry_after, body))
        });
    }
    let (mut limited, mut passed) = (0, 0);
    while let Some(result) = burst.join_next().await {
        let (status, retry_after, body) = result??;
        if status == 429 {
            limited += 1;
            assert!(retry_after, "429 without Retry-After");
            assert_eq!(body["error"]["code"], "too_many_requests");
        } else {
            passed += 1;
            assert_eq!(status, 422, "{body}");
        }
    }
    // 5 requests/s with a burst of 10: about 11 pass when the 30 arrive at once; a slow machine
    // spreading them out lets a few more through.
    assert!(passed >= 1, "{passed} passed");
    assert!(limited >= 10, "{limited} limited, {passed} passed");
    let response = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&alice)
        .send()
        .await?;
    assert_eq!(response.status(), 200);

    // Both replicas took requests (the access log is one JSON object per request).
    let upstreams: std::collections::HashSet<String> = front
        .nginx
        .access_log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|entry| entry["upstream"].as_str().map(str::to_owned))
        .collect();
    for replica in [&front.replica_a, &front.replica_b] {
        let address = replica.trim_start_matches("http://");
        assert!(
            upstreams.contains(address),
            "{address} not in {upstreams:?}"
        );
    }

    // One replica gone: nginx keeps serving through the other, new sockets included.
    if let Some(mut b) = front.chatd_b.take() {
        b.kill().await?;
    }
    for _ in 0..6 {
        let response = http
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(&alice)
            .send()
            .await?;
        assert_eq!(response.status(), 200);
    }
    send(&base, &alice, "bob", "after B died").await?;
    assert_eq!(on_a.bodies(1).await?, ["after B died"]);
    let mut again = Connect::new(&base).bearer(&bob).open().await?;
    send(&base, &alice, "bob", "on a new socket").await?;
    assert_eq!(again.bodies(1).await?, ["on a new socket"]);

    let errors: Vec<String> = front
        .nginx
        .error_log()
        .lines()
        .filter(|line| line.contains("[emerg]") || line.contains("[alert]"))
        .map(str::to_owned)
        .collect();
    assert!(errors.is_empty(), "nginx: {errors:?}");
    drop(front);
    Ok(())
}
