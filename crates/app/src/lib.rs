//! Command handlers: the one place where a request becomes events.
//!
//! Each handler loads the streams it needs, folds them into aggregate state, asks the pure domain to
//! decide, and appends the result. HTTP handlers, the WebSocket gateway and the Telegram bot all call
//! these, so a rule is enforced the same way whichever door a command came through.

pub mod accounts;
mod command_queue;
pub mod conversations;
mod deadline;
pub mod error;
pub mod membership;
pub mod passwords;

pub use accounts::{Accounts, UserProfile};
pub use conversations::{Conversations, SentMessage, DEFAULT_MAX_GROUP_MEMBERS};
pub use deadline::{Deadline, DEFAULT_ANSWER_WITHIN};
pub use error::{AppError, Chain};
pub use membership::Membership;
pub use passwords::{HashCost, Password, PasswordHasher};
