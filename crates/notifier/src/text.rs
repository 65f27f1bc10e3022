//! What the bot says: notification texts (HTML parse mode, escaped) and command replies.

/// Longest preview of a message, in characters.
pub const PREVIEW_CHARS: usize = 200;

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
    out
}

/// The start of a message, cut on a character boundary with an ellipsis.
pub fn preview(body: &str) -> String {
    let body = body.trim();
    if body.chars().count() <= PREVIEW_CHARS {
        return body.to_owned();
    }
    let mut cut: String = body.chars().take(PREVIEW_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The notification for `unread` messages from `sender`, the latest previewed.
pub fn notification(sender: &str, unread: i32, latest_preview: &str, link: &str) -> String {
    let head = if unread <= 1 {
        format!("<b>{}</b>: {}", escape(sender), escape(latest_preview))
    } else {
        format!(
            "<b>{unread} new messages from {}</b>\n{}",
            escape(sender),
            escape(latest_preview)
        )
    };
    format!(
        "{head}\n\n<a href=\"{}\">Open the conversation</a>",
        escape(link)
    )
}

/// Senders a group notification names; more are "and others".
pub const SENDERS_NAMED: usize = 3;

/// The notification of a group with `unread` new messages: the group's title, who wrote them
/// (`senders`, the latest distinct ones, newest first) and the latest previewed with its sender.
pub fn group_notification(
    title: &str,
    senders: &[String],
    unread: i32,
    latest_sender: &str,
    latest_preview: &str,
    link: &str,
) -> String {
    let head = if unread <= 1 {
        format!("<b>{}</b>", escape(title))
    } else {
        let mut names = senders
            .iter()
            .take(SENDERS_NAMED)
            .map(|name| escape(name))
            .collect::<Vec<_>>()
            .join(", ");
        if senders.len() > SENDERS_NAMED {
            names.push_str(" and others");
        }
        format!(
            "<b>{}</b>: {unread} new messages from {names}",
            escape(title)
        )
    };
    format!(
        "{head}\n<b>{}</b>: {}\n\n<a href=\"{}\">Open the group</a>",
        escape(latest_sender),
        escape(latest_preview),
        escape(link)
    )
}

pub const START_WITHOUT_TOKEN: &str = "Hi! I tell you about new messages while you are offline.\n\n\
To link this chat to your account, open Settings on the web, choose \"Link Telegram\" and follow the link it shows.";

pub const INVALID_TOKEN: &str = "This link is invalid, already used or expired. \
Open Settings on the web and get a new one.";

pub const PRIVATE_ONLY: &str = "I only work in a private chat: open a chat with me directly.";

pub const NOT_LINKED: &str = "This chat is not linked to any account.";

pub const HELP: &str = "Commands:\n/start &lt;code&gt; - link this chat (use the link from Settings on the web)\n/stop - unlink this chat";

pub fn linked(username: &str, display_name: &str) -> String {
    format!(
        "Linked to <b>@{}</b> ({}). You'll get a message here when someone writes to you while you are offline. Send /stop to unlink.",
        escape(username),
        escape(display_name)
    )
}

pub fn unlinked(username: &str) -> String {
    format!(
        "Unlinked from <b>@{}</b>. You won't get notifications here any more.",
        escape(username)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why Telegram would refuse `text` in HTML parse mode, if it would: only the tags it
    /// supports, each closed in order, and only the entities it knows.
    fn telegram_html_error(text: &str) -> Option<String> {
        const TAGS: [&str; 14] = [
            "b",
            "strong",
            "i",
            "em",
            "u",
            "ins",
            "s",
            "strike",
            "del",
            "a",
            "code",
            "pre",
            "tg-spoiler",
            "blockquote",
        ];
        let mut open: Vec<String> = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find(['<', '&', '>']) {
            let tail = &rest[at..];
            if tail.starts_with('>') {
                return Some(format!("a bare '>' at {tail:?}"));
            }
            if tail.starts_with('&') {
                let entity = tail.split_once(';').map(|(e, _)| e)?;
                let known =
                    ["&lt", "&gt", "&amp", "&quot"].contains(&entity) || entity.starts_with("&#");
                if !known {
                    return Some(format!("unknown entity {entity};"));
                }
                rest = &tail[entity.len() + 1..];
                continue;
            }
            let Some((tag, after)) = tail[1..].split_once('>') else {
                return Some(format!("an unclosed '<' at {tail:?}"));
            };
            if let Some(name) = tag.strip_prefix('/') {
                if open.pop().as_deref() != Some(name) {
                    return Some(format!("</{name}> closes nothing open"));
                }
            } else {
                let name = tag.split_whitespace().next().unwrap_or_default();
                if !TAGS.contains(&name) {
                    return Some(format!("<{name}> is not a tag Telegram supports"));
                }
                open.push(name.to_owned());
            }
            rest = after;
        }
        open.last().map(|name| format!("<{name}> is never closed"))
    }

    #[test]
    fn every_text_the_bot_sends_is_html_telegram_accepts() {
        let nasty = "<Eve> & \"co\" </b>";
        let texts = [
            ("start", START_WITHOUT_TOKEN.to_owned()),
            ("invalid token", INVALID_TOKEN.to_owned()),
            ("private only", PRIVATE_ONLY.to_owned()),
            ("not linked", NOT_LINKED.to_owned()),
            ("help", HELP.to_owned()),
            ("linked", linked("eve", nasty)),
            ("unlinked", unlinked(nasty)),
            (
                "one message",
                notification(nasty, 1, nasty, "https://c/x?a=1&b=<2>"),
            ),
            (
                "several",
                notification(nasty, 7, &preview(nasty), "https://c"),
            ),
            (
                "a group's first",
                group_notification(nasty, &[nasty.to_owned()], 1, nasty, nasty, "https://c"),
            ),
            (
                "a group's several",
                group_notification(
                    nasty,
                    &[nasty.to_owned(), "b".into(), "c".into(), "d".into()],
                    5,
                    nasty,
                    nasty,
                    "https://c/?a&b",
                ),
            ),
        ];
        for (name, text) in texts {
            assert_eq!(telegram_html_error(&text), None, "{name}: {text}");
        }
        // The checker itself catches what Telegram refuses.
        for bad in [
            "/start <code> - link",
            "<b>open",
            "a &nbsp; b",
            "<div>x</div>",
            "x > y",
        ] {
            assert!(telegram_html_error(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn markup_in_names_and_bodies_is_escaped() {
        let text = notification(
            "<Eve & co>",
            1,
            "<img src=x onerror=alert(1)>",
            "https://c/x?a=1&b=2",
        );
        assert!(text.starts_with("<b>&lt;Eve &amp; co&gt;</b>: &lt;img src=x onerror=alert(1)&gt;"));
        assert!(text.contains("href=\"https://c/x?a=1&amp;b=2\""));
    }

    #[test]
    fn several_unread_messages_are_counted() {
        let text = notification("Alice", 3, "latest", "https://c");
        assert!(text.starts_with("<b>3 new messages from Alice</b>\nlatest"));
    }

    #[test]
    fn a_group_notification_names_the_group_and_its_latest_senders() {
        let one = group_notification(
            "Climbing",
            &["Ann".into()],
            1,
            "Ann",
            "rope?",
            "https://c/g",
        );
        assert!(
            one.starts_with("<b>Climbing</b>\n<b>Ann</b>: rope?\n"),
            "{one}"
        );
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let two = group_notification("Climbing", &names(&["Ben", "Ann"]), 3, "Ben", "yes", "u");
        assert!(
            two.starts_with("<b>Climbing</b>: 3 new messages from Ben, Ann\n<b>Ben</b>: yes"),
            "{two}"
        );
        let many = group_notification(
            "Climbing",
            &names(&["Dan", "Cat", "Ben", "Ann"]),
            9,
            "Dan",
            "x",
            "u",
        );
        assert!(many.contains("from Dan, Cat, Ben and others\n"), "{many}");
    }

    #[test]
    fn previews_are_cut_on_character_boundaries() {
        assert_eq!(preview("  short  "), "short");
        let long = "ж".repeat(500);
        let cut = preview(&long);
        assert_eq!(cut.chars().count(), PREVIEW_CHARS);
        assert!(cut.ends_with('…'));
    }
}
