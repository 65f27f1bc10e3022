//! The API's endpoints, one module per resource.

pub mod accounts;
pub mod conversations;
pub mod groups;
pub mod receipts;
pub mod sessions;
pub mod telegram;
pub mod users;
