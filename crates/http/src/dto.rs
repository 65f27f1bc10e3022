//! Shapes of request and response bodies that several endpoints share.

use app::UserProfile;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    /// Lower-case login name, unique.
    pub username: String,
    pub display_name: String,
}

impl From<UserProfile> for UserDto {
    fn from(profile: UserProfile) -> Self {
        Self {
            id: profile.id.as_uuid(),
            username: profile.username.to_string(),
            display_name: profile.display_name.to_string(),
        }
    }
}

/// A person as shown next to a message or conversation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserRef {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
}

impl From<&domain::Member> for UserRef {
    fn from(member: &domain::Member) -> Self {
        Self {
            id: member.id.as_uuid(),
            username: member.username.to_string(),
            display_name: member.display_name.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserEnvelope {
    pub user: UserDto,
}

/// Unix seconds as RFC 3339.
pub fn rfc3339(unix_secs: i64) -> String {
    chrono::DateTime::from_timestamp(unix_secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
