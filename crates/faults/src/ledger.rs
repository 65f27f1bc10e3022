//! What the clients saw, written down as it happens: every send with its attempts and whether it
//! was acknowledged, every message each device received, and how requests failed.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One message a client set out to send (one `client_id`, however many attempts).
#[derive(Debug, Clone)]
pub struct Send {
    pub sender: String,
    pub conversation: String,
    pub client_id: String,
    pub via: Via,
    pub started: Instant,
    /// When and at which `seq` the service acknowledged it.
    pub acked: Option<(Instant, i64)>,
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Rest,
    Ws,
}

/// A `message.new` frame as a device received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub conversation: String,
    pub seq: i64,
    pub client_id: String,
}

/// A send answered 503.
#[derive(Debug, Clone, Copy)]
pub struct Unavailable {
    pub answered: Instant,
    pub took: Duration,
}

/// A client told that its session had ended.
#[derive(Debug, Clone, Copy)]
pub struct Logout {
    pub at: Instant,
    /// When the login that made the session was sent.
    pub session_asked: Instant,
}

#[derive(Default)]
struct Inner {
    sends: Vec<Send>,
    deliveries: HashMap<String, Vec<Delivery>>,
    /// How attempts ended: `201`, `503`, `timeout`, `ws closed`, ...
    outcomes: BTreeMap<String, u64>,
    /// Each 503, and how long it took to come back.
    unavailable: Vec<Unavailable>,
    /// REST 503s timed by the server itself (`Server-Timing`).
    served_unavailable: Vec<Unavailable>,
    reconnects: u64,
    /// Each time a client was told its session had ended (401, or a socket closed with 4001).
    logged_out: Vec<Logout>,
    /// What each device is doing (`connecting`, `open on <api>`, `logging in`), and since when.
    phases: HashMap<String, (String, Instant)>,
}

#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

impl Ledger {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut inner)
    }

    /// Notes a new send; its index for [`attempted`](Self::attempted) and [`acked`](Self::acked).
    pub fn begin(&self, sender: &str, conversation: &str, client_id: &str, via: Via) -> usize {
        self.with(|inner| {
            inner.sends.push(Send {
                sender: sender.to_owned(),
                conversation: conversation.to_owned(),
                client_id: client_id.to_owned(),
                via,
                started: Instant::now(),
                acked: None,
                attempts: 0,
            });
            inner.sends.len() - 1
        })
    }

    /// Notes how one attempt ended and how long it took.
    pub fn attempted(&self, send: usize, outcome: &str, took: Duration) {
        self.with(|inner| {
            if let Some(send) = inner.sends.get_mut(send) {
                send.attempts += 1;
            }
            *inner.outcomes.entry(outcome.to_owned()).or_default() += 1;
            if outcome == "503" {
                inner.unavailable.push(Unavailable {
                    answered: Instant::now(),
                    took,
                });
            }
        });
    }

    /// Notes the server's own time for a 503 answer.
    pub fn server_took_503(&self, took: Duration) {
        self.with(|inner| {
            inner.served_unavailable.push(Unavailable {
                answered: Instant::now(),
                took,
            });
        });
    }

    pub fn acked(&self, send: usize, seq: i64) {
        self.with(|inner| {
            if let Some(send) = inner.sends.get_mut(send) {
                send.acked.get_or_insert((Instant::now(), seq));
            }
        });
    }

    pub fn delivered(&self, device: &str, delivery: Delivery) {
        self.with(|inner| {
            inner
                .deliveries
                .entry(device.to_owned())
                .or_default()
                .push(delivery)
        });
    }

    /// A client was told that `session` had ended.
    pub fn logged_out(&self, session_asked: Instant) {
        let logout = Logout {
            at: Instant::now(),
            session_asked,
        };
        self.with(|inner| inner.logged_out.push(logout));
    }

    pub fn logouts(&self) -> Vec<Logout> {
        self.with(|inner| inner.logged_out.clone())
    }

    /// Notes what `device` is doing now.
    pub fn phase(&self, device: &str, phase: String) {
        self.with(|inner| {
            inner
                .phases
                .insert(device.to_owned(), (phase, Instant::now()))
        });
    }

    /// What `device` is doing, and for how long it has been.
    pub fn phase_of(&self, device: &str) -> Option<(String, Duration)> {
        self.with(|inner| {
            inner
                .phases
                .get(device)
                .map(|(phase, since)| (phase.clone(), since.elapsed()))
        })
    }

    pub fn reconnected(&self) {
        self.with(|inner| inner.reconnects += 1);
    }

    pub fn sends(&self) -> Vec<Send> {
        self.with(|inner| inner.sends.clone())
    }

    /// How many messages `device` has received so far.
    pub fn received(&self, device: &str) -> usize {
        self.with(|inner| inner.deliveries.get(device).map_or(0, Vec::len))
    }

    pub fn deliveries(&self) -> HashMap<String, Vec<Delivery>> {
        self.with(|inner| inner.deliveries.clone())
    }

    pub fn outcomes(&self) -> BTreeMap<String, u64> {
        self.with(|inner| inner.outcomes.clone())
    }

    pub fn unavailable(&self) -> Vec<Unavailable> {
        self.with(|inner| inner.unavailable.clone())
    }

    pub fn served_unavailable(&self) -> Vec<Unavailable> {
        self.with(|inner| inner.served_unavailable.clone())
    }

    pub fn reconnects(&self) -> u64 {
        self.with(|inner| inner.reconnects)
    }
}
