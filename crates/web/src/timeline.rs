//! A group's system entries as the sentences the page shows in the timeline ("Ann added Ben",
//! "You left"): the viewer is "You"/"you", everyone else their display name.

use uuid::Uuid;
use wire::{SystemEntry, SystemKind, UserRef};

fn subject(person: &UserRef, me: Uuid) -> &str {
    if person.id == me {
        "You"
    } else {
        &person.display_name
    }
}

fn object(person: &UserRef, me: Uuid) -> &str {
    if person.id == me {
        "you"
    } else {
        &person.display_name
    }
}

/// What happened, said of `by` (who did it) and the member concerned, for the viewer `me`.
pub fn sentence(entry: &SystemEntry, by: &UserRef, me: Uuid) -> String {
    let who = subject(by, me);
    let member = entry.member.as_ref();
    let whom = member.map_or("someone", |m| object(m, me));
    match entry.kind {
        SystemKind::MemberAdded => format!("{who} added {whom}"),
        SystemKind::MemberLeft => {
            format!("{} left", member.map_or(who, |m| subject(m, me)))
        }
        SystemKind::MemberRemoved => format!("{who} removed {whom}"),
        SystemKind::Renamed => format!(
            "{who} renamed the group to “{}”",
            entry.title.as_deref().unwrap_or_default()
        ),
        SystemKind::OwnershipTransferred => format!("{who} made {whom} the owner"),
        SystemKind::RoleChanged => match entry.role.as_deref() {
            Some("admin") => format!("{who} made {whom} an admin"),
            _ => format!("{who} took {whom} off the admins"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str) -> UserRef {
        UserRef {
            id: Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()),
            username: name.to_lowercase(),
            display_name: name.to_owned(),
        }
    }

    fn entry(kind: SystemKind, member: Option<&UserRef>) -> SystemEntry {
        SystemEntry {
            kind,
            member: member.cloned(),
            title: None,
            role: None,
        }
    }

    #[test]
    fn entries_read_as_sentences_with_the_viewer_as_you() {
        let (ann, ben, cat) = (person("Ann"), person("Ben"), person("Cat"));
        let added = entry(SystemKind::MemberAdded, Some(&ben));
        assert_eq!(sentence(&added, &ann, cat.id), "Ann added Ben");
        assert_eq!(sentence(&added, &ann, ann.id), "You added Ben");
        assert_eq!(sentence(&added, &ann, ben.id), "Ann added you");
        let left = entry(SystemKind::MemberLeft, Some(&cat));
        assert_eq!(sentence(&left, &cat, ann.id), "Cat left");
        assert_eq!(sentence(&left, &cat, cat.id), "You left");
        let removed = entry(SystemKind::MemberRemoved, Some(&cat));
        assert_eq!(sentence(&removed, &ann, ben.id), "Ann removed Cat");
        let renamed = SystemEntry {
            title: Some("Bouldering".into()),
            ..entry(SystemKind::Renamed, None)
        };
        assert_eq!(
            sentence(&renamed, &ben, ann.id),
            "Ben renamed the group to “Bouldering”"
        );
        let handed = entry(SystemKind::OwnershipTransferred, Some(&ben));
        assert_eq!(sentence(&handed, &ann, ben.id), "Ann made you the owner");
        let admin = SystemEntry {
            role: Some("admin".into()),
            ..entry(SystemKind::RoleChanged, Some(&ben))
        };
        assert_eq!(sentence(&admin, &ann, cat.id), "Ann made Ben an admin");
        let plain = SystemEntry {
            role: Some("member".into()),
            ..entry(SystemKind::RoleChanged, Some(&ben))
        };
        assert_eq!(
            sentence(&plain, &ann, cat.id),
            "Ann took Ben off the admins"
        );
    }
}
