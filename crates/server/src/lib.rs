//! The `chatd` service: configuration, process roles, startup, health and shutdown.
//!
//! `main.rs` only parses the command line; everything here can be built by tests on port 0.

pub mod config;
pub mod health;
pub mod metrics;
pub mod roles;
pub mod serve;
pub mod shutdown;
mod stall;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod ws;

pub use config::Config;
pub use roles::Role;
pub use startup::Application;
