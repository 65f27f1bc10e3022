//! Validated values of messages: the body and the client's idempotency key.

use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// A message's text: at most 4,000 characters as sent, not empty once surrounding whitespace is
/// trimmed.
///
/// Line breaks are stored as `\n` (a browser's form sends `\r\n`); other control characters than
/// newline and tab are refused, NUL included, which Postgres cannot store in JSON text. Stored
/// exactly as given otherwise (markup characters, emoji, any script): it is text, and every
/// renderer escapes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageBody(String);

fn too_long() -> ValidationError {
    ValidationError::new(
        "body",
        format!("must be at most {} characters long", MessageBody::MAX_CHARS),
    )
}

impl MessageBody {
    pub const MAX_CHARS: usize = 4_000;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        // The limit holds for the text as sent, as the API documents it (`maxLength`), not only
        // for what is left after trimming.
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(too_long());
        }
        let body = raw.trim();
        if body.is_empty() {
            return Err(ValidationError::new("body", "must not be empty"));
        }
        if body
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
        {
            return Err(ValidationError::new(
                "body",
                "must not contain control characters other than newline and tab",
            ));
        }
        let body = if body.contains('\r') {
            body.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            body.to_owned()
        };
        Ok(Self(body))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MessageBody {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MessageBody> for String {
    fn from(value: MessageBody) -> Self {
        value.0
    }
}

/// Chosen by the sending client, 1-64 characters: a resend with the same one is the same message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let len = raw.chars().count();
        if len == 0 || len > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "client_id",
                format!("must be 1 to {} characters long", Self::MAX_CHARS),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "client_id",
                "must not contain control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ClientId> for String {
    fn from(value: ClientId) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_trimmed_bounded_and_otherwise_kept_verbatim() {
        let cases: &[(&str, Option<&str>)] = &[
            ("hello", Some("hello")),
            ("  hi there \n", Some("hi there")),
            (
                "<img src=x onerror=alert(1)>",
                Some("<img src=x onerror=alert(1)>"),
            ),
            ("Привет 👋 & <b>", Some("Привет 👋 & <b>")),
            ("line one\nline two", Some("line one\nline two")),
            (
                "a form's\r\nlines\rand\ttabs",
                Some("a form's\nlines\nand\ttabs"),
            ),
            ("nul \0 inside", None),
            ("bell \u{7}", None),
            ("escape \u{1b}[31m", None),
            ("next \u{85} line", None),
            ("", None),
            (" \n\t ", None),
        ];
        for (raw, expected) in cases {
            match expected {
                Some(body) => assert_eq!(MessageBody::parse(raw).unwrap().as_str(), *body),
                None => assert_eq!(MessageBody::parse(raw).unwrap_err().field, "body"),
            }
        }
        assert!(MessageBody::parse(&"é".repeat(4_000)).is_ok());
        assert!(MessageBody::parse(&"é".repeat(4_001)).is_err());
        // The documented limit is on the text as sent: whitespace around it counts.
        assert!(MessageBody::parse(&format!(" {}", "é".repeat(4_000))).is_err());
    }

    #[test]
    fn client_ids_are_one_to_sixty_four_characters() {
        assert!(ClientId::parse("a").is_ok());
        assert!(ClientId::parse(&"x".repeat(64)).is_ok());
        assert_eq!(ClientId::parse("").unwrap_err().field, "client_id");
        assert!(ClientId::parse(&"x".repeat(65)).is_err());
        assert!(ClientId::parse("a\nb").is_err());
    }
}
