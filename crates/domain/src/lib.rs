//! The messenger's domain: events, commands and aggregates, decided by pure functions.
//!
//! Nothing here does IO, spawns tasks or knows about Postgres: command handlers load an aggregate's
//! events, fold them with [`Aggregate::evolve`], ask [`Aggregate::decide`] what happened, and append the
//! answer to the event store. That keeps every business rule testable as given/when/then tables.

pub mod aggregate;
pub mod conversation;
pub mod ids;
pub mod message;
pub mod reservation;
pub mod user;
pub mod username;

pub use aggregate::Aggregate;
pub use conversation::{
    Conversation, ConversationCommand, ConversationError, ConversationEvent, ConversationId,
    ConversationKind, GroupTitle, Member, RemovalReason, Role, Roster,
};
pub use ids::UserId;
pub use message::{ClientId, MessageBody};
pub use reservation::{Reservation, ReservationError, ReservationEvent, Reserve};
pub use user::{PasswordHash, UnlinkReason, User, UserCommand, UserError, UserEvent};
pub use username::{DisplayName, Username, ValidationError};
