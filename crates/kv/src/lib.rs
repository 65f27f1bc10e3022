//! Redis, shared by the API (sessions, limits, profiles' presence) and the gateways (presence).

mod connection;
pub mod link_tokens;
pub mod presence;

pub use connection::Kv;
pub use presence::{Presence, PresenceStatus};
