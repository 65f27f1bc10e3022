//! Answering in time while the database is failing or coming back.
//!
//! While Postgres restarts, each wait for a connection lasts up to the pool's acquire timeout, and
//! one request can queue behind several: a look-up, then its conversation's group in progress,
//! then its own append. Without a bound on the whole, such a request answers 503 after seconds
//! instead of at once. So during an outage (an operation found the database unreachable in the
//! last few seconds) a request or a command gets its outcome within a deadline, or `TimedOut`.
//! A busy but healthy database is waited for, however long: nothing fails for load alone.
//!
//! The faces apply it, each once around what its caller waits for as a whole: the HTTP layer
//! around an API or page request, the socket around a send's look-up and its ack. Bounds nested
//! inside would each arm a timer per send and could only fire later than the outer one.
//!
//! Work cut short may still complete (a command handed to the appender is stored after all): the
//! error says so, and a send resent with the same client id is answered with the stored message.

use crate::AppError;
use eventstore::EventStore;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How long a caller waits during an outage unless configured otherwise: well under a second, so
/// that a client sees its 503 within a second however many database waits it queued behind. The
/// margin is for timers that fire late: during Postgres's crash recovery on two cores, a 10-minute
/// fault run with 0.9 s saw deadline answers leave at 1.0-1.6 s, in bunches.
pub const DEFAULT_ANSWER_WITHIN: Duration = Duration::from_millis(650);
/// A database found unreachable this recently may still be coming back: slow answers are its.
const OUTAGE_MEMORY: Duration = Duration::from_secs(5);

/// Cheap to clone: the store's handle and a duration.
#[derive(Clone, Debug)]
pub struct Deadline {
    store: EventStore,
    within: Duration,
}

impl Deadline {
    pub fn new(store: EventStore, within: Duration) -> Self {
        Self { store, within }
    }

    /// When work started now stops being waited for (during an outage).
    pub fn from_now(&self) -> Instant {
        Instant::now() + self.within
    }

    /// `work`'s outcome, or `TimedOut` if it has none by `self.within` from now during an outage.
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, AppError> {
        self.run_until(self.from_now(), work).await
    }

    /// [`Self::run`] with a deadline fixed earlier (a request's, shared by its steps).
    ///
    /// Decided once, at the deadline: work that is still waiting then on a database not known to
    /// be failing is waited for to the end, even if an outage is found meanwhile. Its own waits
    /// end within the pool's acquire timeout then, and cutting it later would only turn answers
    /// that were coming (slow successes while Postgres recovers) into late 503s: a fault run that
    /// looked again every 100 ms had 38 of 1,782 503s over a second, against 8 of 2,173 in the
    /// run before, with no deadline at all.
    pub async fn run_until<T>(
        &self,
        deadline: Instant,
        work: impl Future<Output = T>,
    ) -> Result<T, AppError> {
        tokio::pin!(work);
        match tokio::time::timeout_at(deadline, &mut work).await {
            Ok(done) => Ok(done),
            Err(_) if self.store.unreachable_within(OUTAGE_MEMORY) => {
                metrics::counter!("deadlines_passed_in_outage_total").increment(1);
                Err(AppError::TimedOut(self.within))
            }
            Err(_) => Ok(work.await),
        }
    }
}
