//! Template structs (askama) and the small view models they show. Every value is escaped by
//! askama when rendered: message bodies are text, never markup.

use askama::Template;
use projections::history::queries::MessageRow;
use uuid::Uuid;

#[derive(Clone)]
pub struct MeView {
    pub username: String,
    pub display_name: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub me: Option<MeView>,
    pub username: String,
    pub form_error: Option<String>,
    pub username_error: Option<String>,
    pub password_error: Option<String>,
}

#[derive(Template, Default)]
#[template(path = "register.html")]
pub struct RegisterPage {
    pub me: Option<MeView>,
    pub username: String,
    pub display_name: String,
    pub form_error: Option<String>,
    pub username_error: Option<String>,
    pub display_name_error: Option<String>,
    pub password_error: Option<String>,
}

pub struct ConversationItem {
    pub id: Uuid,
    pub peer_name: String,
    pub peer_username: String,
    pub unread: i64,
    pub online: bool,
    pub last_line: String,
}

#[derive(Template)]
#[template(path = "conversations.html")]
pub struct ConversationsPage {
    pub me: Option<MeView>,
    pub me_id: Uuid,
    pub cursor: i64,
    pub with: String,
    pub with_error: Option<String>,
    pub conversations: Vec<ConversationItem>,
}

#[derive(Template)]
#[template(path = "conversation_list.html")]
pub struct ConversationList {
    pub conversations: Vec<ConversationItem>,
}

pub struct MessageView {
    pub id: Uuid,
    pub seq: i64,
    pub own: bool,
    pub body: String,
    pub time: String,
    pub edited: bool,
    pub deleted: bool,
}

impl MessageView {
    pub fn new(row: MessageRow, me: Uuid) -> Self {
        Self {
            id: row.message_id,
            seq: row.seq,
            own: row.sender_id == me,
            deleted: row.deleted_at.is_some(),
            edited: row.edited_at.is_some(),
            body: row.body.unwrap_or_default(),
            time: row.sent_at.format("%H:%M").to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "conversation.html")]
pub struct ConversationPage {
    pub me: Option<MeView>,
    pub me_id: Uuid,
    pub id: Uuid,
    pub cursor: i64,
    pub peer_id: Uuid,
    pub peer_name: String,
    pub peer_username: String,
    pub online: bool,
    pub peer_read_up_to: i64,
    /// The peer has read the caller's latest message.
    pub seen: bool,
    pub next_before: Option<i64>,
    pub messages: Vec<MessageView>,
}

#[derive(Template)]
#[template(path = "older.html")]
pub struct OlderMessages {
    pub id: Uuid,
    pub next_before: Option<i64>,
    pub messages: Vec<MessageView>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessageFragment {
    pub m: MessageView,
}

pub struct SessionView {
    pub current: bool,
    pub user_agent: String,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub me: Option<MeView>,
    pub telegram_available: bool,
    pub telegram_linked: bool,
    pub sessions: Vec<SessionView>,
}

#[derive(Template)]
#[template(path = "telegram_link.html")]
pub struct TelegramLinkFragment {
    pub url: String,
}
