//! The people of a run: users registered and logged in (a few at a time: every registration and
//! login is an argon2 hash on the server's two cores), paired up, each pair with its conversation.
//!
//! Names carry a random tag, so runs against a long-lived service (`--url`) never collide.

use crate::api::{self, Session};
use futures_util::{StreamExt, TryStreamExt};
use std::sync::Arc;

/// Sign-ups in flight at once: more only queue behind the server's password hashing.
const SIGN_UPS_IN_FLIGHT: usize = 4;

/// Two users and their conversation.
#[derive(Debug, Clone)]
pub struct Pair {
    /// Indices into the users.
    pub members: [usize; 2],
    pub conversation: Arc<str>,
    /// `POST` here to send into the conversation.
    pub messages_url: reqwest::Url,
}

/// Registers and logs in `count` users named `lg<tag>_<n>`.
pub async fn sign_up(
    http: &reqwest::Client,
    base: &str,
    count: usize,
) -> anyhow::Result<Vec<Session>> {
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    let tag = &uuid[..8];
    futures_util::stream::iter(0..count)
        .map(|n| {
            let username = format!("lg{tag}_{n}");
            async move { api::sign_up(http, base, &username).await }
        })
        .buffered(SIGN_UPS_IN_FLIGHT)
        .try_collect()
        .await
}

/// Users `2k` and `2k + 1` become pair `k`, with their conversation started.
pub async fn pair_up(
    http: &reqwest::Client,
    base: &str,
    users: &[Session],
) -> anyhow::Result<Vec<Pair>> {
    futures_util::stream::iter(users.chunks_exact(2).enumerate())
        .map(|(k, two)| async move {
            let conversation =
                api::start_conversation(http, base, &two[0], &two[1].username).await?;
            let messages_url = reqwest::Url::parse(&format!(
                "{base}/api/v1/conversations/{conversation}/messages"
            ))?;
            anyhow::Ok(Pair {
                members: [2 * k, 2 * k + 1],
                conversation: conversation.into(),
                messages_url,
            })
        })
        .buffered(SIGN_UPS_IN_FLIGHT)
        .try_collect()
        .await
}

/// Members named in the request that creates a group; the rest are added one request each.
/// (The API takes up to `MAX_GROUP_MEMBERS`, 1,000 by default, at once; 999 of this tool's
/// names are 17 KB of the 64 KiB body limit.)
const FIRST_MEMBERS: usize = 999;

/// All `users` in one group owned by the first; returned as a pair whose members are the owner
/// and the last user (senders in a group go round all users instead, see [`group_sender`]).
pub async fn group_up(
    http: &reqwest::Client,
    base: &str,
    users: &[Session],
) -> anyhow::Result<Pair> {
    let (owner, others) = users
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("a group needs users"))?;
    let names: Vec<&str> = others.iter().map(|u| u.username.as_str()).collect();
    let (first, rest) = names.split_at(names.len().min(FIRST_MEMBERS));
    let group = api::create_group(http, base, owner, "loadgen fan-out", first).await?;
    for name in rest {
        api::add_member(http, base, owner, &group, name).await?;
    }
    let messages_url =
        reqwest::Url::parse(&format!("{base}/api/v1/conversations/{group}/messages"))?;
    Ok(Pair {
        members: [0, users.len() - 1],
        conversation: group.into(),
        messages_url,
    })
}

/// The member sender `lane` sends as, in a group of `members`: one member per sender while
/// there are enough, so that no one socket carries every `send` frame.
pub fn group_sender(lane: usize, members: usize) -> usize {
    lane % members.max(1)
}

/// Which pair sender `lane` sends into, and as which of its two members (0 or 1).
///
/// One conversation: every sender in pair 0, alternating members. Spread: senders go round the
/// pairs, so `2 * pairs` senders give each pair one sender per direction.
pub fn seat(lane: usize, pairs: usize, one_conversation: bool) -> (usize, usize) {
    if one_conversation || pairs <= 1 {
        (0, lane % 2)
    } else {
        (lane % pairs, (lane / pairs) % 2)
    }
}

#[cfg(test)]
mod tests {
    use super::seat;

    #[test]
    fn spread_senders_cover_every_pair_both_ways_before_doubling_up() {
        let seats: Vec<_> = (0..6).map(|lane| seat(lane, 3, false)).collect();
        assert_eq!(seats, [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]);
    }

    #[test]
    fn one_conversation_puts_every_sender_in_the_first_pair_alternating_members() {
        let seats: Vec<_> = (0..4).map(|lane| seat(lane, 32, true)).collect();
        assert_eq!(seats, [(0, 0), (0, 1), (0, 0), (0, 1)]);
    }
}
