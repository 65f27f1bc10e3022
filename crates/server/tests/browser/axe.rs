//! Accessibility checks with axe-core on the page a browser shows.

use fantoccini::Client;
use serde_json::json;
use std::path::Path;

/// axe-core's rules for WCAG 2.0, 2.1 and 2.2 at levels A and AA, and its best practices (a
/// level-one heading on every page, landmarks).
const AXE_RULES: [&str; 7] = [
    "wcag2a",
    "wcag2aa",
    "wcag21a",
    "wcag21aa",
    "wcag22a",
    "wcag22aa",
    "best-practice",
];

/// Runs axe-core (the npm package in web/package.json, injected from web/node_modules: never
/// fetched from anywhere) on the page `client` shows, and fails with every violation of WCAG 2.2
/// AA (and of axe's best practices) it finds, each with the elements at fault.
pub async fn expect_accessible(client: &Client, what: &str) -> anyhow::Result<()> {
    expect_accessible_but(client, what, &[]).await
}

/// As [`expect_accessible`], without the axe rules `skipped` (each caller says why).
pub async fn expect_accessible_but(
    client: &Client,
    what: &str,
    skipped: &[&str],
) -> anyhow::Result<()> {
    static AXE: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let axe = AXE
        .get_or_init(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../web/node_modules/axe-core/axe.min.js");
            std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "{}: {e} (scripts/test installs web/package.json's packages)",
                    path.display()
                )
            })
        })
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Scripts run through WebDriver are the browser's own, not the page's: its CSP allows them.
    client
        .execute(&format!("{axe}\nreturn typeof axe;"), vec![])
        .await?;
    let violations = client
        .execute_async(
            r"const done = arguments[arguments.length - 1];
              const rules = Object.fromEntries(arguments[1].map(rule => [rule, {enabled: false}]));
              axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, rules, resultTypes: ['violations']})
                .then(result => done(result.violations.map(v =>
                  `${v.id} (${v.impact}): ${v.help}\n` +
                  v.nodes.map(n => `    ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`).join('\n'))))
                .catch(error => done([`axe failed: ${error}`]));",
            vec![json!(AXE_RULES), json!(skipped)],
        )
        .await?;
    let violations: Vec<String> = serde_json::from_value(violations)?;
    anyhow::ensure!(
        violations.is_empty(),
        "{what} breaks WCAG 2.2 AA:\n{}",
        violations.join("\n")
    );
    Ok(())
}
