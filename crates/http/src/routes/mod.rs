//! The API's endpoints, one module per resource.

pub mod accounts;
pub mod sessions;
pub mod users;
