//! Redis, shared by the API (sessions, limits, profiles' presence) and the gateways (presence).

mod connection;
pub mod link_tokens;
pub mod presence;
pub mod rate_limit;
pub mod session_ends;

pub use connection::Kv;

/// The Redis key of a session, by its id (the SHA-256 of its token): written by the API's session
/// store, checked by the gateways so a revoked session's sockets close.
pub fn session_key(kv: &Kv, session_id: &str) -> String {
    kv.key(format_args!("session:{session_id}"))
}
pub use presence::{Presence, PresenceStatus};
pub use rate_limit::{Limit, Rate, RateLimiter, RateLimits};
