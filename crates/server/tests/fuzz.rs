//! The API against its own OpenAPI document, fuzzed by schemathesis (`scripts/fuzz`, a short
//! budget here; run the script by hand for a longer one): no 5xx, no status or body the document
//! does not describe, every error in the error shape, following the document's links.

mod common;

use common::spawn_app;

#[tokio::test]
async fn the_api_keeps_to_its_document_under_fuzzing() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/fuzz");
    let output = tokio::process::Command::new(script)
        .args(["--examples", "15", &app.base])
        .output()
        .await?;
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(" passed"), "no test case ran:\n{report}");
    Ok(())
}
