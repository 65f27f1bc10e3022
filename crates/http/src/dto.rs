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

/// Which kind of conversation: a pair of people, or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Direct,
    Group,
}

impl Kind {
    fn parse(stored: &str) -> Self {
        if stored == "group" {
            Self::Group
        } else {
            Self::Direct
        }
    }
}

/// A group member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleDto {
    Owner,
    Admin,
    Member,
}

impl From<domain::Role> for RoleDto {
    fn from(role: domain::Role) -> Self {
        match role {
            domain::Role::Owner => Self::Owner,
            domain::Role::Admin => Self::Admin,
            domain::Role::Member => Self::Member,
        }
    }
}

impl From<RoleDto> for domain::Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::Owner => Self::Owner,
            RoleDto::Admin => Self::Admin,
            RoleDto::Member => Self::Member,
        }
    }
}

impl RoleDto {
    fn parse(stored: &str) -> Option<Self> {
        match stored {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDto {
    pub id: Uuid,
    pub kind: Kind,
    /// A group's title; absent for a pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A pair's two people; empty for a group (its members: `GET /conversations/{id}/members`).
    pub members: Vec<UserRef>,
    pub member_count: i64,
    /// The other person of a pair; absent for a group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<UserRef>,
    /// The caller's role in a group; absent for a pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleDto>,
    pub last_message: Option<Message>,
    /// In a pair, the peer's messages the caller has not read; in a group, every entry after
    /// what the caller read or wrote last (system entries and deleted messages count).
    pub unread: i64,
    /// How far the caller has read.
    pub read_up_to: i64,
    /// How far the peer has read (read receipt): the caller's messages up to this seq were seen.
    /// 0 in a group.
    pub peer_read_up_to: i64,
    pub last_activity_at: DateTime<Utc>,
    /// The caller turned this conversation's Telegram notifications off
    /// (`PUT`/`DELETE /conversations/{id}/mute`).
    pub muted: bool,
}

impl ConversationDto {
    /// `me`'s view of a conversation, from the history read model.
    pub fn new(me: &UserRef, summary: ConversationSummary) -> Self {
        let c = summary.conversation;
        let peer = match (c.peer_id, c.peer_username, c.peer_display_name) {
            (Some(id), Some(username), Some(display_name)) => Some(UserRef {
                id,
                username,
                display_name,
            }),
            _ => None,
        };
        let members = match &peer {
            Some(peer) => vec![me.clone(), peer.clone()],
            None => vec![],
        };
        Self {
            id: c.conversation_id,
            kind: Kind::parse(&c.kind),
            title: c.title,
            members,
            member_count: c.member_count,
            peer,
            role: c.role.as_deref().and_then(RoleDto::parse),
            last_message: summary.last_message.map(Message::from),
            unread: c.unread,
            read_up_to: c.read_up_to,
            peer_read_up_to: c.peer_read_up_to,
            last_activity_at: c.last_activity_at,
            muted: c.muted,
        }
    }

    /// A conversation the history model does not show yet (it lags behind the start): what the
    /// start itself knows, with nothing sent or read.
    pub fn not_yet_projected(me: &UserRef, id: Uuid, peer: UserRef) -> Self {
        Self {
            id,
            kind: Kind::Direct,
            title: None,
            members: vec![me.clone(), peer.clone()],
            member_count: 2,
            peer: Some(peer),
            role: None,
            last_message: None,
            unread: 0,
            read_up_to: 0,
            peer_read_up_to: 0,
            last_activity_at: Utc::now(),
            muted: false,
        }
    }

    /// A group the history model does not show yet: what its creation knows.
    pub fn new_group(id: Uuid, title: String, member_count: usize) -> Self {
        Self {
            id,
            kind: Kind::Group,
            title: Some(title),
            members: vec![],
            member_count: member_count as i64,
            peer: None,
            role: Some(RoleDto::Owner),
            last_message: None,
            unread: 0,
            read_up_to: 0,
            peer_read_up_to: 0,
            last_activity_at: Utc::now(),
            muted: false,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateGroupRequest {
    /// 1-100 characters, not only whitespace.
    #[schema(required = true, nullable = false, example = "Climbing")]
    pub title: Option<String>,
    /// Usernames of the first members besides the caller (the owner); may be empty.
    #[schema(required = true, nullable = false, example = json!(["bob", "carol"]))]
    pub members: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RenameRequest {
    /// The group's new title: 1-100 characters, not only whitespace.
    #[schema(required = true, nullable = false, example = "Bouldering")]
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddMemberRequest {
    #[schema(required = true, nullable = false, example = "dave")]
    pub username: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    /// `owner` hands the group over (the caller stays as an admin); `admin` or `member` makes or
    /// unmakes an admin. The owner only.
    #[schema(required = true, nullable = false)]
    pub role: Option<RoleDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    pub user: UserDto,
    /// A pair's two people are both `member`.
    pub role: RoleDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// In the order they joined.
    pub members: Vec<MemberDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberEnvelope {
    pub member: MemberDto,
}

/// Someone who has read a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reader {
    pub user: UserDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReaderList {
    /// By display name. There is no time per reader: the model keeps one read mark per member,
    /// not a row per message per member.
    pub readers: Vec<Reader>,
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
    /// How far the peer has read (read receipt); 0 in a group, whose messages carry `seen_by`.
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
