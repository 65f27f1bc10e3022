//! The API's documentation page (Swagger UI, from the npm package) read by axe-core like every
//! page of ours: WCAG 2.2 AA and axe's best practices, closed and with an operation open.

use crate::axe::expect_accessible_but;
use crate::chromium::*;
use fantoccini::Locator;

/// The rules Swagger UI's own markup breaks, which no stylesheet or option of ours can change
/// (our page is an empty `<div>` that Swagger UI's React components fill):
/// - `heading-order` (best practice): its title is an `<h1>` and each tag's heading an `<h3>`,
///   with no `<h2>` between;
/// - `region` (best practice): it renders its own `<main>` around the operations only, so the
///   document's title and description above them sit outside any landmark (wrapping the page in
///   another landmark would nest its `<main>`, which axe refuses too).
///
/// Every WCAG 2.2 A/AA rule runs; the contrast failures of its colours are fixed by our
/// stylesheet (`/api/docs/docs.css`), the unlabelled URL box by leaving out its top bar.
const SWAGGER_UI_MARKUP: [&str; 2] = ["heading-order", "region"];

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let reader = &lab.browsers[0];
    let base = lab.base();
    reader.goto(&format!("{base}/api/docs")).await?;
    eventually("the API docs to list the operations", || async {
        let operations = reader.find_all(Locator::Css(".opblock-summary")).await?;
        anyhow::ensure!(operations.len() >= 8, "{} shown", operations.len());
        Ok(())
    })
    .await?;
    lab.snap(reader, "closed").await?;
    expect_accessible_but(reader, "the API docs", &SWAGGER_UI_MARKUP).await?;
    click(reader, ".opblock-summary").await?;
    eventually("an operation to open", || async {
        reader
            .find(Locator::Css(".opblock.is-open .opblock-body"))
            .await?;
        Ok(())
    })
    .await?;
    lab.snap(reader, "open").await?;
    expect_accessible_but(
        reader,
        "the API docs with an operation open",
        &SWAGGER_UI_MARKUP,
    )
    .await?;
    expect_logged(reader, "the reader", &[]).await
}
