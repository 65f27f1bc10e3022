//! The messenger's domain: events, commands and aggregates, decided by pure functions.
//!
//! Nothing here does IO, spawns tasks or knows about Postgres: command handlers load an aggregate's
//! events, fold them with [`Aggregate::evolve`], ask [`Aggregate::decide`] what happened, and append the
//! answer to the event store. That keeps every business rule testable as given/when/then tables.

pub mod aggregate;
pub mod ids;
pub mod user;
pub mod username;

pub use aggregate::Aggregate;
pub use ids::UserId;
pub use user::{
    PasswordHash, Reservation, ReservationError, ReservationEvent, Reserve, User, UserCommand,
    UserError, UserEvent,
};
pub use username::{DisplayName, Username, ValidationError};
