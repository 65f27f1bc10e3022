//! The served OpenAPI document is valid OpenAPI 3.1 (checked by a real validator, so generators
//! and fuzzers can use it), and every operation it describes is served.

mod common;

use common::spawn_app;
use serde_json::{json, Value};
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
    let document: Value = serde_json::from_str(&text)?;
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

/// `schema` with its `$ref` (or a lone `allOf` member) followed to the component it names.
fn resolved<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    for _ in 0..8 {
        if let Some(reference) = schema["$ref"].as_str() {
            let pointer = reference.trim_start_matches('#');
            schema = document.pointer(pointer).unwrap_or(&Value::Null);
        } else if let Some([only]) = schema["allOf"].as_array().map(Vec::as_slice) {
            schema = only;
        } else {
            break;
        }
    }
    schema
}

#[tokio::test]
async fn a_conversations_kind_is_described_as_direct_or_group() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let document: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await?
        .json()
        .await?;
    // Every answer that carries a conversation, walked from the operation to the object.
    for (path, method, status, to_conversation) in [
        (
            "/api/v1/conversations/{id}",
            "get",
            "200",
            &["conversation"][..],
        ),
        ("/api/v1/groups", "post", "201", &["conversation"][..]),
        (
            "/api/v1/conversations",
            "get",
            "200",
            &["conversations", "items"][..],
        ),
    ] {
        let operation = format!("{method} {path} {status}");
        let mut schema = resolved(
            &document,
            &document["paths"][path][method]["responses"][status]["content"]["application/json"]
                ["schema"],
        );
        for (n, key) in to_conversation.iter().enumerate() {
            // A property's name, then (for a list) its items.
            let next = if n == 0 {
                &schema["properties"][key]
            } else {
                &schema[key]
            };
            schema = resolved(&document, next);
        }
        anyhow::ensure!(
            schema["properties"].is_object(),
            "{operation}: no conversation at {to_conversation:?}"
        );
        let kind = resolved(&document, &schema["properties"]["kind"]);
        assert_eq!(
            (&kind["type"], &kind["enum"]),
            (&json!("string"), &json!(["direct", "group"])),
            "{operation}: kind is {kind}"
        );
        assert!(
            schema["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!("kind"))),
            "{operation}: every conversation has a kind"
        );
    }
    Ok(())
}
