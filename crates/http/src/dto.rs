//! Shapes of the API's request and response bodies. A message and a person are `wire` types, the
//! same on the WebSocket and in the web page.

use app::UserProfile;
use chrono::{DateTime, Utc};
use projections::history::queries::ConversationSummary;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
pub use wire::{Message, UserRef};

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

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageEnvelope {
    pub message: Message,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDto {
    pub id: Uuid,
    pub members: Vec<UserRef>,
    pub peer: UserRef,
    pub last_message: Option<Message>,
    /// The peer's messages the caller has not read.
    pub unread: i64,
    /// How far the caller has read.
    pub read_up_to: i64,
    /// How far the peer has read (read receipt): the caller's messages up to this seq were seen.
    pub peer_read_up_to: i64,
    pub last_activity_at: DateTime<Utc>,
}

impl ConversationDto {
    /// `me`'s view of a conversation, from the history read model.
    pub fn new(me: &UserRef, summary: ConversationSummary) -> Self {
        let c = summary.conversation;
        let peer = UserRef {
            id: c.peer_id,
            username: c.peer_username,
            display_name: c.peer_display_name,
        };
        Self {
            id: c.conversation_id,
            members: vec![me.clone(), peer.clone()],
            peer,
            last_message: summary.last_message.map(Message::from),
            unread: c.unread,
            read_up_to: c.read_up_to,
            peer_read_up_to: c.peer_read_up_to,
            last_activity_at: c.last_activity_at,
        }
    }

    /// A conversation the history model does not show yet (it lags behind the start): what the
    /// start itself knows, with nothing sent or read.
    pub fn not_yet_projected(me: &UserRef, id: Uuid, peer: UserRef) -> Self {
        Self {
            id,
            members: vec![me.clone(), peer.clone()],
            peer,
            last_message: None,
            unread: 0,
            read_up_to: 0,
            peer_read_up_to: 0,
            last_activity_at: Utc::now(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationEnvelope {
    pub conversation: ConversationDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationList {
    pub conversations: Vec<ConversationDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StartRequest {
    /// The other person's username.
    #[schema(required = true, nullable = false, example = "bob")]
    pub with: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendRequest {
    /// At most 4,000 characters, not only whitespace.
    #[schema(required = true, nullable = false, example = "Hello!")]
    pub body: Option<String>,
    /// 1-64 characters chosen by the client; resending with the same one stores nothing new.
    #[schema(required = true, nullable = false, example = "9f1c2e")]
    pub client_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendToRequest {
    /// The recipient's username; the conversation is started if needed.
    #[schema(required = true, nullable = false, example = "bob")]
    pub to: Option<String>,
    #[schema(required = true, nullable = false, example = "Hello!")]
    pub body: Option<String>,
    #[schema(required = true, nullable = false, example = "9f1c2e")]
    pub client_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearchParams {
    /// The start of a username or display name, case-insensitive: 1-64 characters, not only spaces.
    #[param(value_type = String, required = true, nullable = false, min_length = 1, max_length = 64, pattern = r"\S", example = "an")]
    pub prefix: Option<String>,
    /// 1-20, default 10.
    #[param(value_type = Option<i64>, nullable = false, minimum = 1, maximum = 20)]
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserSearchResult {
    /// The username that equals the prefix first, then by username; never the caller.
    pub users: Vec<UserDto>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only messages with a smaller seq (use the previous page's `next_before`).
    #[param(value_type = Option<i64>, nullable = false, minimum = 1)]
    pub before: Option<String>,
    /// 1-100, default 50.
    #[param(value_type = Option<i64>, nullable = false, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Pass as `before` for older messages; `null` when this page reaches the first message.
    pub next_before: Option<i64>,
    /// How far the peer has read (read receipt).
    pub peer_read_up_to: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReadRequest {
    /// The seq of the newest message read; beyond the last message means all.
    #[schema(required = true, nullable = false, minimum = 0, example = 42)]
    #[serde(default, deserialize_with = "integral")]
    pub up_to: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EditRequest {
    #[schema(required = true, nullable = false, example = "Hello, corrected")]
    pub body: Option<String>,
}

/// A whole number however JSON wrote it: JSON Schema's `integer` (what the API documents) counts
/// `42.0` as one, and serde's `i64` would refuse it.
fn integral<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_i64() {
        return Ok(Some(whole));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= 9.0e15 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "must be a whole number, got {number}"
        ))),
    }
}
