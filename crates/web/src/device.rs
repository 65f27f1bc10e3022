//! How the settings page names a session: the browser and system its user agent says ("Chrome on
//! Linux"), and how long ago it was last used ("5 minutes ago"), instead of the raw header and an
//! ISO timestamp. Guesses from well-known tokens; anything else is "an unknown browser".

/// "Chrome on Linux", "Safari on iPhone", "an app (curl)", or "an unknown browser".
pub fn describe(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.map(str::trim).filter(|a| !a.is_empty()) else {
        return "an unknown browser".to_owned();
    };
    let has = |token: &str| agent.contains(token);
    // Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", and so on.
    let browser = if has("Edg/") || has("Edge/") {
        "Edge"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("Firefox/") || has("FxiOS/") {
        "Firefox"
    } else if has("SamsungBrowser/") {
        "Samsung Internet"
    } else if has("Chrome/") || has("Chromium/") || has("CriOS/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else {
        let program = agent
            .split(['/', ' '])
            .next()
            .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        return match program {
            Some(program) => format!("an app ({program})"),
            None => "an unknown browser".to_owned(),
        };
    };
    // Android says "Linux" too, and iPhones say "like Mac OS X".
    let system = if has("Android") {
        Some("Android")
    } else if has("iPhone") {
        Some("iPhone")
    } else if has("iPad") {
        Some("iPad")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Mac OS X") || has("Macintosh") {
        Some("macOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    };
    match system {
        Some(system) => format!("{browser} on {system}"),
        None => browser.to_owned(),
    }
}

/// "just now", "1 minute ago", "5 hours ago", "3 days ago": `seconds` ago, in the largest whole
/// unit. A time in the future (clocks of two servers) reads as "just now".
pub fn ago(seconds: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (365 * 24 * 3600, "year"),
        (30 * 24 * 3600, "month"),
        (24 * 3600, "day"),
        (3600, "hour"),
        (60, "minute"),
    ];
    for (size, unit) in UNITS {
        let count = seconds / size;
        if count >= 1 {
            let plural = if count == 1 { "" } else { "s" };
            return format!("{count} {unit}{plural} ago");
        }
    }
    "just now".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_named_as_people_say_them() {
        for (agent, named) in [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 OPR/110.0.0.0",
                "Opera on macOS",
            ),
            ("curl/8.5.0", "an app (curl)"),
            ("", "an unknown browser"),
            ("(((", "an unknown browser"),
        ] {
            assert_eq!(describe(Some(agent)), named, "{agent}");
        }
        assert_eq!(describe(None), "an unknown browser");
    }

    #[test]
    fn times_ago_use_the_largest_whole_unit() {
        for (seconds, said) in [
            (-5, "just now"),
            (0, "just now"),
            (59, "just now"),
            (60, "1 minute ago"),
            (5 * 60 + 59, "5 minutes ago"),
            (3600, "1 hour ago"),
            (25 * 3600, "1 day ago"),
            (3 * 24 * 3600, "3 days ago"),
            (45 * 24 * 3600, "1 month ago"),
            (800 * 24 * 3600, "2 years ago"),
        ] {
            assert_eq!(ago(seconds), said, "{seconds} s");
        }
    }
}
