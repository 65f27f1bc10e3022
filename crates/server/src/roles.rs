//! Process roles: one binary, any subset of roles per process.
//!
//! Development runs all of them in one process; deployment runs one per container so each scales on
//! its own. Every role's process also serves `/healthz` and `/readyz` for its orchestrator.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The JSON API, the web pages and the WebSocket gateway.
    Api,
    /// Publishes committed events to JetStream in the event store's order.
    Publisher,
    /// Builds the read models from the event log.
    Projector,
    /// The Telegram bot and the offline notifications.
    Notifier,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Api, Role::Publisher, Role::Projector, Role::Notifier];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Publisher => "publisher",
            Self::Projector => "projector",
            Self::Notifier => "notifier",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}; expected one of api, publisher, projector, notifier, all"
                )
            })
    }
}

/// Parses role names (`all` meaning every role); no names at all also means every role.
pub fn parse_roles<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Role>, String> {
    let mut roles = Vec::new();
    for name in names {
        let add: Vec<Role> = if name == "all" {
            Role::ALL.to_vec()
        } else {
            vec![name.parse()?]
        };
        for role in add {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    if roles.is_empty() {
        roles = Role::ALL.to_vec();
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_alone_together_or_as_all() {
        assert_eq!(parse_roles([]).unwrap(), Role::ALL.to_vec());
        assert_eq!(parse_roles(["all"]).unwrap(), Role::ALL.to_vec());
        assert_eq!(parse_roles(["api"]).unwrap(), vec![Role::Api]);
        assert_eq!(
            parse_roles(["projector", "api", "projector"]).unwrap(),
            vec![Role::Projector, Role::Api]
        );
        assert!(parse_roles(["gateway"]).unwrap_err().contains("gateway"));
    }
}
