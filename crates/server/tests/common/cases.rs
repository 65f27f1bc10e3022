//! Table-driven cases that report on their own: every case runs even after one has failed, and the
//! failure names each case that failed with its reason, so one broken case neither hides the
//! others nor reads as a failure of the whole table.

use serde_json::Value;
use std::fmt::{Debug, Display};
use std::future::Future;

/// The outcomes of a table's cases so far.
#[derive(Default)]
pub struct Cases {
    failures: Vec<String>,
    ran: usize,
}

impl Cases {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs case `name` and records how it went.
    pub async fn run(
        &mut self,
        name: impl Display,
        case: impl Future<Output = anyhow::Result<()>>,
    ) {
        self.record(name, case.await);
    }

    /// Records the outcome of case `name`.
    pub fn record(&mut self, name: impl Display, outcome: anyhow::Result<()>) {
        self.ran += 1;
        if let Err(error) = outcome {
            self.failures.push(format!("{name}: {error:#}"));
        }
    }

    /// Fails with every failed case, by name.
    pub fn finish(self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.failures.is_empty(),
            "{} of {} cases failed:\n  {}",
            self.failures.len(),
            self.ran,
            self.failures.join("\n  ")
        );
        Ok(())
    }
}

/// `Ok` if `holds`, else an error saying so: for a case's checks that are not comparisons.
pub fn expect(holds: bool, otherwise: impl Display) -> anyhow::Result<()> {
    anyhow::ensure!(holds, "{otherwise}");
    Ok(())
}

/// `text` names none of `secrets` (an answer to an outsider leaks nothing), or an error showing it.
pub fn expect_none_of(text: &str, secrets: &[&str]) -> anyhow::Result<()> {
    expect(
        secrets.iter().all(|secret| !text.contains(secret)),
        format!("leaks: {text}"),
    )
}

/// `got == want`, or an error showing both.
pub fn expect_eq<T: PartialEq + Debug>(got: T, want: T) -> anyhow::Result<()> {
    anyhow::ensure!(got == want, "got {got:?}, want {want:?}");
    Ok(())
}

/// Checks an answer of the API: its status, and the value at each JSON pointer
/// (`"/error/code"`) of its body.
pub fn expect_answer(
    (status, body): &(u16, Value),
    want_status: u16,
    fields: &[(&str, Value)],
) -> anyhow::Result<()> {
    anyhow::ensure!(
        *status == want_status,
        "status {status}, want {want_status}: {body}"
    );
    for (pointer, want) in fields {
        let got = body.pointer(pointer).unwrap_or(&Value::Null);
        anyhow::ensure!(got == want, "{pointer} is {got}, want {want}: {body}");
    }
    Ok(())
}
