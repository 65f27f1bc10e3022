//! What the sender tasks and the socket tasks of a run share: the ledger, and one wake-up per
//! sender for answers that arrive on a socket (WebSocket `ack` and `error` frames).

use crate::ledger::Ledger;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Notify;

pub struct Shared {
    /// Every message and the current run's tally. Held only for a few field updates, never across
    /// an `.await`.
    ledger: Mutex<Ledger>,
    /// One per sender: a socket that reads the answer to the sender's message wakes it.
    wakers: Vec<Notify>,
}

impl Shared {
    pub fn new(origin: Instant, senders: usize) -> Self {
        Self {
            ledger: Mutex::new(Ledger::new(origin)),
            wakers: (0..senders).map(|_| Notify::new()).collect(),
        }
    }

    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding it leaves counters, not broken invariants: keep going.
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The wake-up of sender `lane` (absent for lanes this run does not have).
    pub fn waker(&self, lane: usize) -> Option<&Notify> {
        self.wakers.get(lane)
    }
}
