//! Progress of long replays on stderr: a bar with events/s and ETA on a terminal, plain periodic
//! lines otherwise (logs, CI).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use projections::Progress;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often a plain progress line is written.
const LINE_EVERY: Duration = Duration::from_secs(2);

pub struct Reporter {
    label: String,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    /// Where this run started (a continued rebuild does not start at 0).
    first_position: Option<i64>,
}

impl Reporter {
    pub fn new(label: impl Into<String>) -> Self {
        let label = label.into();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(label.clone());
            bar
        });
        let now = Instant::now();
        Self {
            label,
            bar,
            started: now,
            last_line: now,
            first_position: None,
        }
    }

    pub fn update(&mut self, progress: Progress) {
        let first = *self
            .first_position
            .get_or_insert(progress.position - progress.applied as i64);
        let done = (progress.position - first).max(0) as u64;
        let total = (progress.head - first).max(0) as u64;
        if let Some(bar) = &self.bar {
            bar.set_length(total.max(done));
            bar.set_position(done);
            return;
        }
        if self.last_line.elapsed() < LINE_EVERY {
            return;
        }
        self.last_line = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = progress.applied as f64 / elapsed;
        let percent = if total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        let eta = if rate > 0.0 {
            total.saturating_sub(done) as f64 / (done as f64 / elapsed).max(1.0)
        } else {
            0.0
        };
        eprintln!(
            "{}: position {} of {} ({percent:.0}%), {} events, {rate:.0} events/s, ETA {eta:.0}s",
            self.label, progress.position, progress.head, progress.applied
        );
    }

    /// Ends the bar; returns the elapsed time.
    pub fn finish(&self) -> Duration {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.started.elapsed()
    }
}
