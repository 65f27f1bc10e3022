//! The fake Bot API lives in testkit, shared with the fault suite.

pub use testkit::telegram::*;
