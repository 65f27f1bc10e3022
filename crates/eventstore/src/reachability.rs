//! Whether the database answered lately: a breaker shared by every handle on one store.
//!
//! While Postgres is down, each store operation waits out the pool's acquire timeout before it
//! fails, and one request can make several in a row (the account of a name, the conversation's
//! stream, the append). Without memory each of them waits again, and a request that should fail
//! fast (503) takes seconds. So once an operation finds the database unreachable, the others are
//! refused at once for a short hold; the first ones after it probe whether it is back.

use crate::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long operations are refused after one found the database unreachable. Short, so that a
/// database back within it costs its clients at most this much more; long enough that requests
/// arriving during an outage fail at once rather than each after a timeout.
pub(crate) const UNREACHABLE_HOLD: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(crate) struct Reachability {
    hold: Duration,
    /// Set with `down` and cleared once its hold is over, so that the common case (the database
    /// answering) takes no lock.
    maybe_down: AtomicBool,
    /// What the last failure to reach the database said, and when. Kept past the hold, for
    /// callers that treat a slow answer differently while the database is failing or coming back.
    down: Mutex<Option<(Arc<str>, Instant)>>,
}

impl Reachability {
    pub(crate) fn new(hold: Duration) -> Self {
        Self {
            hold,
            maybe_down: AtomicBool::new(false),
            down: Mutex::new(None),
        }
    }

    /// Whether an operation found the database unreachable within the last `window`.
    pub(crate) fn unreachable_within(&self, window: Duration) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() < window)
    }

    /// Refuses at once while the last unreachable failure is younger than the hold.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if !self.maybe_down.load(Ordering::Acquire) {
            return Ok(());
        }
        match &*self.lock() {
            Some((cause, at)) if at.elapsed() < self.hold => {
                Err(Error::Unreachable(Arc::clone(cause)))
            }
            _ => {
                self.maybe_down.store(false, Ordering::Release);
                Ok(())
            }
        }
    }

    /// Opens the breaker if `error` says the database could not be reached.
    pub(crate) fn note(&self, error: &Error) {
        if !error.is_unavailable() || matches!(error, Error::Unreachable(_) | Error::Stopped) {
            return;
        }
        *self.lock() = Some((error.to_string().into(), Instant::now()));
        self.maybe_down.store(true, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Arc<str>, Instant)>> {
        match self.down.lock() {
            Ok(down) => down,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable() -> Error {
        Error::Database(sqlx::Error::PoolTimedOut)
    }

    #[test]
    fn an_unreachable_database_is_refused_at_once_until_the_hold_ends() {
        let breaker = Reachability::new(Duration::from_millis(50));
        assert!(breaker.check().is_ok());
        assert!(!breaker.unreachable_within(Duration::from_secs(60)));
        breaker.note(&unreachable());
        let refused = breaker.check().expect_err("refused during the hold");
        assert!(matches!(refused, Error::Unreachable(_)) && refused.is_unavailable());
        std::thread::sleep(Duration::from_millis(60));
        assert!(breaker.check().is_ok(), "the next operation probes again");
        assert!(
            breaker.unreachable_within(Duration::from_secs(60)),
            "remembered"
        );
        assert!(!breaker.unreachable_within(Duration::from_millis(10)));
    }

    #[test]
    fn a_refused_statement_or_a_conflict_leaves_the_breaker_closed() {
        let breaker = Reachability::new(Duration::from_secs(60));
        breaker.note(&Error::Database(sqlx::Error::RowNotFound));
        breaker.note(&Error::Invalid("bad".into()));
        assert!(breaker.check().is_ok());
        assert!(!breaker.unreachable_within(Duration::from_secs(60)));
    }
}
