//! Ids taken from request paths. Anything that is not one is simply "not found": a malformed id
//! and an id the caller may not see get the same answer.

use crate::error::ApiError;
use domain::ConversationId;
use uuid::Uuid;

/// A conversation id from a path; anything that is not one is simply not found.
pub fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    Uuid::parse_str(raw)
        .map(ConversationId::from_uuid)
        .map_err(|_| ApiError::not_found("conversation"))
}

/// A message id from a path; anything that is not one is simply not found.
pub fn message_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("message"))
}
