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
    /// A group's title; `None` for a pair.
    pub title: Option<String>,
    pub member_count: i64,
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
    pub group: NewGroupForm,
    pub conversations: Vec<ConversationItem>,
}

/// The "new group" form as it was sent back: what was typed, and what is wrong with it.
#[derive(Default)]
pub struct NewGroupForm {
    pub title: String,
    pub members: String,
    pub title_error: Option<String>,
    pub members_error: Option<String>,
    /// Open the form (it starts folded) because it has something to show.
    pub open: bool,
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
    /// In a group, others' messages name their sender.
    pub show_sender: bool,
    /// A group's system entry as a sentence ("Ann added Ben"); `None` for a message.
    pub system_text: Option<String>,
}

impl MessageView {
    pub fn new(message: impl Into<Message>, me: Uuid) -> Self {
        let message = message.into();
        let system_text = message
            .system
            .as_ref()
            .map(|entry| crate::timeline::sentence(entry, &message.sender, me));
        Self {
            own: message.sender.id == me,
            show_sender: false,
            system_text,
            message,
        }
    }

    /// As shown in a group (`true`): others' messages say who wrote them.
    pub fn in_group(mut self, group: bool) -> Self {
        self.show_sender = group && !self.own;
        self
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

/// A group member as the members panel shows them.
pub struct MemberView {
    pub username: String,
    pub display_name: String,
    /// `owner`, `admin` or `member`.
    pub role: &'static str,
    /// The viewer.
    pub me: bool,
    /// The viewer may remove them (the button shows only then).
    pub removable: bool,
}

/// The members panel of a group: who is in it, and the controls the viewer may use.
#[derive(Template)]
#[template(path = "members.html")]
pub struct MembersPanel {
    pub id: Uuid,
    pub title: String,
    /// The viewer adds members and renames (owner or admin).
    pub manages: bool,
    /// The viewer makes and unmakes admins and may hand the group over.
    pub owner: bool,
    /// Why a role change was refused (someone else changed the group meanwhile, say).
    pub role_error: Option<String>,
    pub members: Vec<MemberView>,
    /// "add a member" as typed, and why it was refused.
    pub add: String,
    pub add_error: Option<String>,
    /// "rename" as typed, and why it was refused.
    pub rename: String,
    pub rename_error: Option<String>,
    /// What just happened, read to screen readers ("Ben was added").
    pub notice: String,
}

/// What a conversation page knows of a group besides its messages.
pub struct GroupView {
    pub title: String,
    pub member_count: usize,
    /// The other members' read marks as JSON, `{"<user id>": [read_up_to, joined_after]}`: the
    /// page counts "seen by" from them and moves them as receipts arrive.
    pub marks: String,
    /// The members panel, rendered (and escaped) by its own template.
    pub panel_html: String,
}

#[derive(Template)]
#[template(path = "readers.html")]
pub struct ReadersFragment {
    /// Display names, in order.
    pub names: Vec<String>,
}

#[derive(Template)]
#[template(path = "conversation.html")]
pub struct ConversationPage {
    pub me: Option<MeView>,
    pub me_id: Uuid,
    pub id: Uuid,
    pub cursor: i64,
    /// Set for a group (then the peer fields are empty).
    pub group: Option<GroupView>,
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
