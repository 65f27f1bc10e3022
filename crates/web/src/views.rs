//! Template structs (askama) and the small view models they show. Every value is escaped by
//! askama when rendered: message bodies are text, never markup.

use crate::links::Part;
use askama::Template;
use uuid::Uuid;
use wire::Message;

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
    /// When the last thing happened in it (RFC 3339): shown in the viewer's time by the script.
    pub last_activity_at: String,
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

/// A message in the page: the message as every face shows it, and whether the viewer sent it.
pub struct MessageView {
    pub message: Message,
    pub own: bool,
}

impl MessageView {
    pub fn new(message: impl Into<Message>, me: Uuid) -> Self {
        let message = message.into();
        Self {
            own: message.sender.id == me,
            message,
        }
    }

    pub fn body(&self) -> &str {
        self.message.body.as_deref().unwrap_or_default()
    }

    /// The body as text and links, for the template (which escapes both).
    pub fn body_parts(&self) -> Vec<crate::links::Part<'_>> {
        crate::links::parts(self.body())
    }

    /// The UTC time, shown until the page's script puts it in the viewer's time zone.
    pub fn time(&self) -> String {
        self.message.sent_at.format("%H:%M").to_string()
    }

    /// The instant, for `<time datetime>`: the script reads it to show local time and dates.
    pub fn datetime(&self) -> String {
        self.message
            .sent_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

/// The templates read the message's own fields (`m.id`, `m.seq`, `m.edited`, ...).
impl std::ops::Deref for MessageView {
    type Target = Message;

    fn deref(&self) -> &Message {
        &self.message
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
    /// How far the viewer had read when the page was made.
    pub read_up_to: i64,
    /// The seq of the first message from the peer that the viewer has not read (0: none, or not
    /// on this page; seqs start at 1): the "Unread messages" line goes above it, and the page
    /// opens there.
    pub first_unread: i64,
    /// Unread messages older than this page's: the page loads older pages until it shows the
    /// first of them, and opens there.
    pub unread_above: bool,
    /// The peer has read the caller's latest message.
    pub seen: bool,
    pub next_before: Option<i64>,
    pub messages: Vec<MessageView>,
}

#[derive(Template)]
#[template(path = "older.html")]
pub struct OlderMessages {
    pub id: Uuid,
    /// The first unread message, when this page holds it (as [`ConversationPage::first_unread`]):
    /// a conversation opened with more unread messages than it shows at once finds its unread
    /// line in an older page.
    pub first_unread: i64,
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
    /// "Chrome on Linux".
    pub device: String,
    /// "5 minutes ago".
    pub last_active: String,
    /// The instant, for `<time datetime>` and the tooltip.
    pub last_active_at: String,
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

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Always `None`: an error page shows no one's name (it may answer someone else's link).
    pub me: Option<MeView>,
    pub heading: &'static str,
    pub message: &'static str,
}
