//! The shapes clients see, defined once and typed end to end.
//!
//! The REST API answers with [`Message`]; the publisher renders durable events into
//! [`ServerFrame`]s, the gateway answers sends, typing and presence with them, the notifier reads
//! them back from the bus, and the web page renders [`Message`]s. A renamed field is a compile
//! error in every one of those places instead of a silent `null` in one of them.

mod frames;
mod message;

pub use frames::{ClientFrame, ErrorFrame, ServerFrame};
pub use message::{Message, Sent, SystemEntry, SystemKind, UserRef};
