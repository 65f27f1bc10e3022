//! The served OpenAPI document is valid OpenAPI 3.1 (checked by a real validator, so generators
//! and fuzzers can use it), and every operation it describes is served.

mod common;

use common::spawn_app;
use std::path::PathBuf;
use std::process::Command;

fn validator() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../web/node_modules/@seriousme/openapi-schema-validator/bin/validate-api-cli.js")
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_and_describes_served_routes() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let text = reqwest::get(app.url("/api/v1/openapi.json"))
        .await?
        .text()
        .await?;
    let document: serde_json::Value = serde_json::from_str(&text)?;
    assert_eq!(document["openapi"].as_str().map(|v| &v[..4]), Some("3.1."));

    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("openapi-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, &text)?;
    let validator = validator();
    anyhow::ensure!(
        validator.exists(),
        "run scripts/test, which installs web/node_modules (the validator is a dev dependency)"
    );
    let outcome = Command::new("node").arg(&validator).arg(&file).output()?;
    let _ = std::fs::remove_file(&file);
    assert!(
        outcome.status.success(),
        "the OpenAPI document does not validate:\n{}",
        String::from_utf8_lossy(&outcome.stdout)
    );

    // Every documented operation is routed: unauthenticated, each answers 401 or a
    // validation error, never "no such route" (404 with not_found, or 405).
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    assert!(
        paths.contains_key("/api/v1/ws"),
        "the WebSocket route is described too"
    );
    let client = reqwest::Client::new();
    let mut checked = 0;
    for (path, item) in &paths {
        let concrete = path
            .replace("{id}", &uuid::Uuid::new_v4().to_string())
            .replace("{message_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{username}", "nobody");
        for method in ["get", "post", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let response = client
                .request(method.to_uppercase().parse()?, app.url(&concrete))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await?;
            let status = response.status().as_u16();
            assert!(
                status != 404 && status != 405,
                "{method} {path} is documented but answers {status}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} operations documented");
    Ok(())
}
