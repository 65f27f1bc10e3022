//! The gateway's local registry: which sockets of which users are open on this process.
//!
//! Delivery never waits: each socket has a bounded queue, and a socket whose queue is full is told
//! to close (its client resumes from its last cursor), so one slow reader cannot hold up the others.

use axum::extract::ws::Utf8Bytes;
use domain::UserId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames waiting for one socket. 256 covers a burst from many conversations at once; a client
/// further behind than that is faster served by a resume than by a growing buffer.
pub const QUEUE_FRAMES: usize = 256;

#[derive(Debug, Clone)]
pub enum Outbound {
    /// A stored event's frame, with its global position.
    /// The bus payload itself, shared by every recipient socket: no copy, no re-encoding.
    Durable { cursor: i64, json: Utf8Bytes },
    /// Typing and presence: not stored, no cursor.
    Ephemeral(Utf8Bytes),
}

struct Socket {
    id: u64,
    /// The page is visible (the client says so); hidden tabs are online but not attentive.
    visible: Arc<AtomicBool>,
    queue: mpsc::Sender<Outbound>,
    /// Cancelled when the queue overflowed: the socket closes with the "resume" code.
    overflowed: CancellationToken,
}

#[derive(Default)]
pub struct Hub {
    sockets: Mutex<HashMap<UserId, Vec<Socket>>>,
    next_id: AtomicU64,
}

/// A socket's end of the hub; dropping it does not unregister (call [`Hub::unregister`]).
pub struct Registration {
    pub id: u64,
    pub visible: Arc<AtomicBool>,
    pub queue: mpsc::Receiver<Outbound>,
    pub overflowed: CancellationToken,
}

impl Hub {
    pub fn register(&self, user: UserId) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel(QUEUE_FRAMES);
        let overflowed = CancellationToken::new();
        let visible = Arc::new(AtomicBool::new(true));
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.entry(user).or_default().push(Socket {
                id,
                visible: visible.clone(),
                queue: sender,
                overflowed: overflowed.clone(),
            });
        }
        Registration {
            id,
            visible,
            queue: receiver,
            overflowed,
        }
    }

    pub fn unregister(&self, user: UserId, id: u64) {
        if let Ok(mut sockets) = self.sockets.lock() {
            if let Some(list) = sockets.get_mut(&user) {
                list.retain(|s| s.id != id);
                if list.is_empty() {
                    sockets.remove(&user);
                }
            }
        }
    }

    /// Queues a frame on every socket of `user` here; returns how many sockets took it.
    pub fn deliver(&self, user: UserId, frame: &Outbound) -> usize {
        let Ok(sockets) = self.sockets.lock() else {
            return 0;
        };
        let Some(list) = sockets.get(&user) else {
            return 0;
        };
        let mut delivered = 0;
        for socket in list {
            match socket.queue.try_send(frame.clone()) {
                Ok(()) => delivered += 1,
                Err(mpsc::error::TrySendError::Full(_)) => socket.overflowed.cancel(),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        delivered
    }

    /// Every open socket here with whether it is visible, for presence heartbeats.
    pub fn sockets(&self) -> Vec<(UserId, u64, bool)> {
        self.sockets
            .lock()
            .map(|sockets| {
                sockets
                    .iter()
                    .flat_map(|(user, list)| {
                        list.iter()
                            .map(|s| (*user, s.id, s.visible.load(Ordering::Relaxed)))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_reach_every_socket_of_the_user_and_no_other() {
        let hub = Hub::default();
        let alice = UserId::new();
        let bob = UserId::new();
        let mut a1 = hub.register(alice);
        let mut a2 = hub.register(alice);
        let mut b1 = hub.register(bob);
        let frame = Outbound::Ephemeral("hi".into());
        assert_eq!(hub.deliver(alice, &frame), 2);
        assert!(a1.queue.try_recv().is_ok());
        assert!(a2.queue.try_recv().is_ok());
        assert!(b1.queue.try_recv().is_err());
        hub.unregister(alice, a1.id);
        assert_eq!(hub.deliver(alice, &frame), 1);
    }

    #[tokio::test]
    async fn a_full_queue_flags_only_that_socket() {
        let hub = Hub::default();
        let user = UserId::new();
        let slow = hub.register(user);
        let mut fast = hub.register(user);
        for n in 0..=QUEUE_FRAMES {
            hub.deliver(user, &Outbound::Ephemeral(n.to_string().into()));
            while fast.queue.try_recv().is_ok() {}
        }
        assert!(slow.overflowed.is_cancelled());
        assert!(!fast.overflowed.is_cancelled());
    }
}
