//! The gateway's local registry: which sockets of which users are open on this process.
//!
//! Delivery never waits: each socket has a bounded queue, and a socket whose queue is full is told
//! to close (its client resumes from its last cursor), so one slow reader cannot hold up the others.

use axum::extract::ws::Utf8Bytes;
use domain::UserId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
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

/// Why the hub told a socket to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Its queue overflowed: it closes with the "resume" code.
    Overflow,
    /// Its session ended (logout, revoked): it closes with "session ended" and sends nothing more.
    SessionEnded,
}

/// What the hub and the socket's tasks share; one allocation per socket.
#[derive(Debug)]
pub struct SocketState {
    /// The page is visible (the client says so); hidden tabs are online but not attentive.
    pub visible: AtomicBool,
    /// A [`Stop`] once the hub stopped it (0 until then).
    stop: AtomicU8,
    /// The session the socket was opened with (the SHA-256 of its token).
    pub session_id: Box<str>,
}

impl SocketState {
    pub fn stop_reason(&self) -> Option<Stop> {
        match self.stop.load(Ordering::Acquire) {
            1 => Some(Stop::Overflow),
            2 => Some(Stop::SessionEnded),
            _ => None,
        }
    }

    fn stop(&self, reason: Stop, token: &CancellationToken) {
        let code = match reason {
            Stop::Overflow => 1,
            Stop::SessionEnded => 2,
        };
        // The first reason stays: a socket already closing for one does not change its mind.
        let _ = self
            .stop
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        token.cancel();
    }
}

struct Socket {
    id: u64,
    state: Arc<SocketState>,
    queue: mpsc::Sender<Outbound>,
    /// Cancelled when the hub stops the socket (see [`SocketState::stop_reason`]).
    stop: CancellationToken,
}

#[derive(Default)]
pub struct Hub {
    sockets: Mutex<HashMap<UserId, Vec<Socket>>>,
    next_id: AtomicU64,
}

/// A socket's end of the hub; dropping it does not unregister (call [`Hub::unregister`]).
pub struct Registration {
    pub id: u64,
    pub state: Arc<SocketState>,
    pub queue: mpsc::Receiver<Outbound>,
    pub stop: CancellationToken,
}

impl Hub {
    pub fn register(&self, user: UserId, session_id: &str) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel(QUEUE_FRAMES);
        let stop = CancellationToken::new();
        let state = Arc::new(SocketState {
            visible: AtomicBool::new(true),
            stop: AtomicU8::new(0),
            session_id: session_id.into(),
        });
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.entry(user).or_default().push(Socket {
                id,
                state: state.clone(),
                queue: sender,
                stop: stop.clone(),
            });
        }
        Registration {
            id,
            state,
            queue: receiver,
            stop,
        }
    }

    /// Stops every socket of `user` here that was opened with `session_id`; returns how many.
    pub fn end_session(&self, user: UserId, session_id: &str) -> usize {
        let Ok(sockets) = self.sockets.lock() else {
            return 0;
        };
        let mut ended = 0;
        for socket in sockets.get(&user).into_iter().flatten() {
            if &*socket.state.session_id == session_id {
                socket.state.stop(Stop::SessionEnded, &socket.stop);
                ended += 1;
            }
        }
        ended
    }

    /// Every open socket's user and session, to check which sessions still exist.
    pub fn sessions(&self) -> Vec<(UserId, Box<str>)> {
        self.each_socket(|user, s| (user, s.state.session_id.clone()))
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
        self.deliver_to(&[user], frame)
    }

    /// Queues a frame on every socket here of each of `users` (one lock for all of them); returns
    /// how many sockets took it.
    pub fn deliver_to(&self, users: &[UserId], frame: &Outbound) -> usize {
        let Ok(sockets) = self.sockets.lock() else {
            return 0;
        };
        let mut delivered = 0;
        for socket in users.iter().filter_map(|u| sockets.get(u)).flatten() {
            match socket.queue.try_send(frame.clone()) {
                Ok(()) => delivered += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    socket.state.stop(Stop::Overflow, &socket.stop);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        delivered
    }

    /// Every open socket here with whether it is visible, for presence heartbeats.
    pub fn sockets(&self) -> Vec<(UserId, u64, bool)> {
        self.each_socket(|user, s| (user, s.id, s.state.visible.load(Ordering::Relaxed)))
    }

    /// What `pick` takes from each open socket, copied out so the lock is not held by the caller.
    fn each_socket<T>(&self, pick: impl Fn(UserId, &Socket) -> T) -> Vec<T> {
        self.sockets
            .lock()
            .map(|sockets| {
                sockets
                    .iter()
                    .flat_map(|(user, list)| list.iter().map(|s| pick(*user, s)))
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
        let mut a1 = hub.register(alice, "s1");
        let mut a2 = hub.register(alice, "s2");
        let mut b1 = hub.register(bob, "s3");
        let frame = Outbound::Ephemeral("hi".into());
        assert_eq!(hub.deliver(alice, &frame), 2);
        assert!(a1.queue.try_recv().is_ok());
        assert!(a2.queue.try_recv().is_ok());
        assert!(b1.queue.try_recv().is_err());
        assert_eq!(hub.deliver_to(&[bob, UserId::new(), alice], &frame), 3);
        assert!(b1.queue.try_recv().is_ok());
        hub.unregister(alice, a1.id);
        assert_eq!(hub.deliver(alice, &frame), 1);
    }

    #[tokio::test]
    async fn a_full_queue_flags_only_that_socket() {
        let hub = Hub::default();
        let user = UserId::new();
        let slow = hub.register(user, "s1");
        let mut fast = hub.register(user, "s2");
        for n in 0..=QUEUE_FRAMES {
            hub.deliver(user, &Outbound::Ephemeral(n.to_string().into()));
            while fast.queue.try_recv().is_ok() {}
        }
        assert!(slow.stop.is_cancelled());
        assert_eq!(slow.state.stop_reason(), Some(Stop::Overflow));
        assert!(!fast.stop.is_cancelled());
    }

    #[tokio::test]
    async fn an_ended_session_stops_its_sockets_and_no_others() {
        let hub = Hub::default();
        let (alice, bob) = (UserId::new(), UserId::new());
        let phone = hub.register(alice, "phone");
        let laptop = hub.register(alice, "laptop");
        let tablet = hub.register(alice, "phone");
        // Session ids are per user; another user's same id is not this session.
        let other = hub.register(bob, "phone");
        assert_eq!(hub.end_session(alice, "phone"), 2);
        for (socket, ended) in [
            (&phone, true),
            (&tablet, true),
            (&laptop, false),
            (&other, false),
        ] {
            assert_eq!(socket.stop.is_cancelled(), ended);
            assert_eq!(
                socket.state.stop_reason(),
                ended.then_some(Stop::SessionEnded)
            );
        }
        assert_eq!(
            hub.sessions().len(),
            4,
            "stopped sockets stay until they unregister"
        );
    }
}
