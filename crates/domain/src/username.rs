//! Validated user-facing names: they can only be built valid, so code past the edge never re-checks.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused, with the field it belongs to so the API can name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A login name: 3-32 characters of `a-z`, `0-9` and `_`, compared case-insensitively.
///
/// Stored lower-case, so `Alice` and `alice` are the same account and one reservation stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim().to_ascii_lowercase();
        let len = name.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(ValidationError::new(
                "username",
                format!(
                    "must be {} to {} characters long",
                    Self::MIN_LEN,
                    Self::MAX_LEN
                ),
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(ValidationError::new(
                "username",
                "may contain only letters a-z, digits and underscores",
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The reservation stream whose first event makes this name taken.
    pub fn reservation_stream_id(&self) -> String {
        format!("username-{}", self.0)
    }
}

impl TryFrom<String> for Username {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name shown to other people: at most 64 characters as sent, not empty once trimmed, no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ValidationError::new("display_name", "must not be empty"));
        }
        // As sent, as the API documents it (`maxLength`).
        if raw.chars().count() > Self::MAX_LEN {
            return Err(ValidationError::new(
                "display_name",
                format!("must be at most {} characters long", Self::MAX_LEN),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "display_name",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// Without a chosen display name, people are shown by their username.
    pub fn from_username(username: &Username) -> Self {
        Self(username.as_str().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DisplayName {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DisplayName> for String {
    fn from(value: DisplayName) -> Self {
        value.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_validated_and_lowercased() {
        let cases: &[(&str, Option<&str>)] = &[
            ("alice", Some("alice")),
            ("Alice_01", Some("alice_01")),
            ("  bob  ", Some("bob")),
            ("abc", Some("abc")),
            (&"a".repeat(32), Some(&"a".repeat(32))),
            ("ab", None),
            (&"a".repeat(33), None),
            ("al ice", None),
            ("al-ice", None),
            ("алиса", None),
            ("", None),
        ];
        for (raw, expected) in cases {
            let parsed = Username::parse(raw);
            match expected {
                Some(name) => assert_eq!(parsed.as_ref().map(Username::as_str), Ok(*name), "{raw}"),
                None => assert_eq!(parsed.map_err(|e| e.field), Err("username"), "{raw}"),
            }
        }
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Alice  ").unwrap().as_str(), "Alice");
        assert_eq!(DisplayName::parse("Алиса 🌸").unwrap().as_str(), "Алиса 🌸");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(DisplayName::parse("a\u{0007}b").is_err());
        assert_eq!(DisplayName::parse("").unwrap_err().field, "display_name");
    }

    #[test]
    fn deserializing_an_invalid_username_fails() {
        let bad: Result<Username, _> = serde_json::from_str("\"no way\"");
        assert!(bad.is_err());
        let good: Username = serde_json::from_str("\"Carol\"").unwrap();
        assert_eq!(good.as_str(), "carol");
    }
}
