//! "Seen by": who has read a message, derived from the members' read marks.
//!
//! The model keeps one read mark per current member (`members.read_up_to`, which sending and the
//! member's own "added" entry also move), never a row per message per member: a group of 1,000
//! writing all day would otherwise write 1,000 rows per message. A message is seen by a member
//! when their mark reaches its `seq` and they joined before it; its sender does not count, and a
//! removed member has no row left, so they stop counting at once. What a mark cannot say is
//! *when* that member read a given message, so there is no read time per reader.

use crate::ProjectionError;
use sqlx::PgPool;
use uuid::Uuid;

/// One current member's read mark, with their names as the model knows them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReadMark {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    /// The highest seq they have read.
    pub read_up_to: i64,
    /// The last seq before they joined: they never saw the entries up to it.
    pub joined_after: i64,
}

impl ReadMark {
    /// Whether this member has read the entry `seq` written by `sender`.
    pub fn has_seen(&self, seq: i64, sender: Uuid) -> bool {
        self.user_id != sender && self.joined_after < seq && self.read_up_to >= seq
    }
}

/// How many members other than `sender` have read the entry `seq`.
pub fn seen_by(marks: &[ReadMark], seq: i64, sender: Uuid) -> i64 {
    marks.iter().filter(|m| m.has_seen(seq, sender)).count() as i64
}

/// The members other than `sender` who have read the entry `seq`, by display name.
pub fn readers(marks: &[ReadMark], seq: i64, sender: Uuid) -> Vec<ReadMark> {
    let mut readers: Vec<ReadMark> = marks
        .iter()
        .filter(|m| m.has_seen(seq, sender))
        .cloned()
        .collect();
    readers.sort_by(|a, b| {
        a.display_name
            .to_lowercase()
            .cmp(&b.display_name.to_lowercase())
            .then_with(|| a.username.cmp(&b.username))
    });
    readers
}

/// Every current member's read mark in `conversation_id`. A group member's names are kept on
/// their own row; a pair's are on the other member's row (as its peer).
pub async fn read_marks(
    pool: &PgPool,
    conversation_id: Uuid,
) -> Result<Vec<ReadMark>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT m.user_id,
                COALESCE(m.username, o.peer_username, '') AS username,
                COALESCE(m.display_name, o.peer_display_name, '') AS display_name,
                m.read_up_to, m.joined_after
           FROM history.members m
           LEFT JOIN history.members o
                  ON o.conversation_id = m.conversation_id AND o.peer_id = m.user_id
          WHERE m.conversation_id = $1",
    )
    .bind(conversation_id)
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(name: &str, read_up_to: i64, joined_after: i64) -> ReadMark {
        ReadMark {
            user_id: Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()),
            username: name.to_owned(),
            display_name: name.to_uppercase(),
            read_up_to,
            joined_after,
        }
    }

    #[test]
    fn a_message_is_seen_by_the_others_whose_mark_reaches_it() {
        let ann = mark("ann", 5, 0);
        let ben = mark("ben", 4, 0);
        let cat = mark("cat", 3, 0);
        let marks = [ann.clone(), ben, cat];
        // Ann wrote seq 4: her own mark does not count, Ben's reaches it, Cat's does not.
        assert_eq!(seen_by(&marks, 4, ann.user_id), 1);
        let names: Vec<_> = readers(&marks, 4, ann.user_id)
            .into_iter()
            .map(|m| m.username)
            .collect();
        assert_eq!(names, ["ben"]);
        // Seq 3, written by Ben: Ann and Cat read it, in name order.
        let names: Vec<_> = readers(&marks, 3, marks[1].user_id)
            .into_iter()
            .map(|m| m.username)
            .collect();
        assert_eq!(names, ["ann", "cat"]);
        assert_eq!(seen_by(&marks, 6, ann.user_id), 0);
    }

    #[test]
    fn a_member_added_after_a_message_never_counts_as_having_seen_it() {
        let ann = mark("ann", 9, 0);
        // Dan was added at seq 8 (joined after 7), and has read his own "added" entry and on.
        let dan = mark("dan", 9, 7);
        let marks = [ann.clone(), dan];
        assert_eq!(seen_by(&marks, 7, ann.user_id), 0);
        assert_eq!(seen_by(&marks, 9, ann.user_id), 1);
    }

    #[test]
    fn a_removed_member_is_simply_not_among_the_marks() {
        let ann = mark("ann", 2, 0);
        let ben = mark("ben", 2, 0);
        let cat = mark("cat", 2, 0);
        assert_eq!(seen_by(&[ann.clone(), ben, cat.clone()], 1, ann.user_id), 2);
        // Ben's row goes when he is removed.
        assert_eq!(seen_by(&[ann.clone(), cat], 1, ann.user_id), 1);
    }
}
