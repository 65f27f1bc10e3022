//! Web addresses in a message body become links: only `http://` and `https://` ones (never
//! `javascript:` or any other scheme), opened without telling the site where the reader came
//! from (`rel="noopener noreferrer"`), and never previewed (a preview would fetch the address
//! and tell its site who reads the conversation). The template escapes every part.

/// A piece of a message body: text as written, or an address to link.
#[derive(Debug, PartialEq, Eq)]
pub enum Part<'a> {
    Text(&'a str),
    Link(&'a str),
}

/// Splits `body` into text and links; joined back, the parts are `body` exactly.
pub fn parts(body: &str) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(start) = next_address(rest) {
        let candidate = &rest[start..];
        let length = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(candidate.len());
        // Punctuation that ends a sentence or closes a bracket is not part of the address.
        let address = candidate[..length]
            .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}', '\'']);
        let scheme = if address.starts_with("https://") {
            8
        } else {
            7
        };
        if address.len() <= scheme {
            // "https://" alone: text.
            parts.push(Part::Text(&rest[..start + scheme]));
            rest = &rest[start + scheme..];
            continue;
        }
        if start > 0 {
            parts.push(Part::Text(&rest[..start]));
        }
        parts.push(Part::Link(address));
        rest = &rest[start + address.len()..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest));
    }
    parts
}

/// Where the first `http://` or `https://` starts (case-insensitive), at a word's start.
fn next_address(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("http") {
        let at = from + found;
        let tail = &lower[at..];
        let at_word_start = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if at_word_start && (tail.starts_with("http://") || tail.starts_with("https://")) {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use Part::{Link, Text};

    #[test]
    fn http_and_https_addresses_become_links_and_nothing_else_does() {
        let cases: Vec<(&str, Vec<Part>)> = vec![
            ("no links here", vec![Text("no links here")]),
            (
                "see https://example.com/a?b=1&c=2#d now",
                vec![
                    Text("see "),
                    Link("https://example.com/a?b=1&c=2#d"),
                    Text(" now"),
                ],
            ),
            ("http://x.org", vec![Link("http://x.org")]),
            (
                "(at https://example.com/path).",
                vec![Text("(at "), Link("https://example.com/path"), Text(").")],
            ),
            (
                "two: http://a.io, https://b.io!",
                vec![
                    Text("two: "),
                    Link("http://a.io"),
                    Text(", "),
                    Link("https://b.io"),
                    Text("!"),
                ],
            ),
            ("javascript:alert(1)", vec![Text("javascript:alert(1)")]),
            ("ftp://files.example", vec![Text("ftp://files.example")]),
            ("xhttps://evil.example", vec![Text("xhttps://evil.example")]),
            (
                "just https:// then",
                vec![Text("just https://"), Text(" then")],
            ),
            ("HTTPS://Example.com", vec![Link("HTTPS://Example.com")]),
            (
                "https://a.io/<script>",
                vec![Link("https://a.io/"), Text("<script>")],
            ),
        ];
        for (body, want) in cases {
            let got = parts(body);
            assert_eq!(got, want, "{body:?}");
            let joined: String = got
                .iter()
                .map(|p| match p {
                    Text(t) | Link(t) => *t,
                })
                .collect();
            assert_eq!(joined, body, "the parts of {body:?} do not join back");
        }
    }
}
