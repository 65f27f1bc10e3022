//! Secrets stay out of the logs, whatever the log level.

mod common;

use common::spawn_app;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// A current-thread runtime: the app's tasks run on this thread and log into `captured`.
#[tokio::test(flavor = "current_thread")]
async fn passwords_tokens_and_session_ids_never_reach_the_logs() -> anyhow::Result<()> {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace,hyper=info,h2=info,tokio=info,runtime=info,async_nats=info")
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = spawn_app(&[]).await?;
    let password = "SuperSecretPassw0rd";
    let response = app.register("kim", password).await?;
    assert_eq!(response.status(), 201);
    let wrong = app
        .login_with(&reqwest::Client::new(), "kim", "AnotherSecretGuess")
        .await?;
    assert_eq!(wrong.status(), 401);
    let login: serde_json::Value = app
        .login_with(&reqwest::Client::new(), "kim", password)
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().unwrap_or_default().to_owned();
    let sessions: serde_json::Value = reqwest::Client::new()
        .get(app.url("/api/v1/sessions"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let session_id = sessions["sessions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!token.is_empty() && !session_id.is_empty());
    drop(app);

    let logs =
        String::from_utf8_lossy(&captured.0.lock().map_err(|_| anyhow::anyhow!("poisoned"))?)
            .into_owned();
    assert!(
        logs.contains("logged in"),
        "the capture works: {} bytes",
        logs.len()
    );
    for secret in [
        password,
        "AnotherSecretGuess",
        &token,
        &session_id,
        "$argon2id$",
    ] {
        assert!(!logs.contains(secret), "{secret:?} appears in the logs");
    }
    Ok(())
}
