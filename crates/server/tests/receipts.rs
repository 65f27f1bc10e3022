//! "Seen by" over HTTP, against the app with real Postgres, Redis and NATS: a group message's
//! `seen_by` count in history pages and the names behind it
//! (`GET /conversations/{id}/messages/{message_id}/readers`), as members read, write, leave and
//! join.

mod common;

use common::spawn_app;
use common::ApiUser as User;
use serde_json::{json, Value};

impl User {
    /// `(body, seen_by)` of every entry of `conversation`'s latest page (a system entry's body is
    /// its kind); `seen_by` is `None` where the page leaves it out.
    async fn seen(&self, conversation: &str) -> anyhow::Result<Vec<(String, Option<i64>)>> {
        let (status, page) = self
            .get(&format!("/api/v1/conversations/{conversation}/messages"))
            .await?;
        anyhow::ensure!(status == 200, "history: {status} {page}");
        Ok(page["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let label = m["body"]
                    .as_str()
                    .or_else(|| m["system"]["kind"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                (label, m["seen_by"].as_i64())
            })
            .collect())
    }

    /// The usernames `readers` names for `message`, or the refusal's status.
    async fn readers(
        &self,
        conversation: &str,
        message: &str,
    ) -> anyhow::Result<Result<Vec<String>, u16>> {
        let (status, body) = self
            .get(&format!(
                "/api/v1/conversations/{conversation}/messages/{message}/readers"
            ))
            .await?;
        if status != 200 {
            anyhow::ensure!(
                body["error"]["code"].is_string(),
                "a refusal without the error shape: {status} {body}"
            );
            return Ok(Err(status));
        }
        Ok(Ok(body["readers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                r["user"]["username"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()))
    }
}

fn id_of(sent: &Value) -> String {
    sent["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn entries(list: &[(&str, Option<i64>)]) -> Vec<(String, Option<i64>)> {
    list.iter().map(|(b, n)| ((*b).to_owned(), *n)).collect()
}

#[tokio::test]
async fn a_group_message_is_seen_by_the_members_who_read_it_and_no_longer_by_one_removed(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let ann = User::new(&app, "ann").await?;
    let ben = User::new(&app, "ben").await?;
    let cat = User::new(&app, "cat").await?;
    let dan = User::new(&app, "dan").await?;
    let eve = User::new(&app, "eve").await?;
    let group = ann.group("Climbing", &["ben", "cat"]).await?;

    let hello = id_of(&ann.sent(&group, "hello", "a1").await?);
    assert_eq!(ann.seen(&group).await?, entries(&[("hello", Some(0))]));
    assert_eq!(ann.readers(&group, &hello).await?, Ok(vec![]));

    // Ben reads it; Cat answers, and writing counts as reading what came before.
    ben.read_up_to(&group, 1).await?;
    assert_eq!(ann.seen(&group).await?, entries(&[("hello", Some(1))]));
    assert_eq!(
        ann.readers(&group, &hello).await?,
        Ok(vec!["ben".to_owned()])
    );
    let hi = id_of(&cat.sent(&group, "hi", "c1").await?);
    assert_eq!(
        ann.seen(&group).await?,
        entries(&[("hello", Some(2)), ("hi", Some(0))]),
        "Ann has not read Cat's answer yet, and Ben's mark stops at 1"
    );
    assert_eq!(
        ben.readers(&group, &hello).await?,
        Ok(vec!["ben".to_owned(), "cat".to_owned()]),
        "every member may ask, the sender is never among the readers"
    );
    assert_eq!(cat.readers(&group, &hi).await?, Ok(vec![]));

    // Ben is removed: he no longer counts, and he is an outsider to the route.
    let (status, body) = ann.remove(&group, "ben").await?;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        ann.seen(&group).await?,
        entries(&[
            ("hello", Some(1)),
            ("hi", Some(0)),
            ("member_removed", None)
        ])
    );
    assert_eq!(
        ann.readers(&group, &hello).await?,
        Ok(vec!["cat".to_owned()])
    );
    assert_eq!(ben.readers(&group, &hello).await?, Err(404));
    assert_eq!(eve.readers(&group, &hello).await?, Err(404), "an outsider");

    // Dan joins and reads everything he can see: what came before he joined is not his to
    // have seen, nor to ask about.
    let (status, body) = ann.add(&group, "dan").await?;
    assert_eq!(status, 201, "{body}");
    dan.read_up_to(&group, 4).await?;
    assert_eq!(
        ann.readers(&group, &hello).await?,
        Ok(vec!["cat".to_owned()])
    );
    assert_eq!(dan.readers(&group, &hello).await?, Err(404));
    let welcome = id_of(&ann.sent(&group, "welcome dan", "a2").await?);
    cat.read_up_to(&group, 5).await?;
    dan.read_up_to(&group, 5).await?;
    assert_eq!(
        ann.readers(&group, &welcome).await?,
        Ok(vec!["cat".to_owned(), "dan".to_owned()])
    );
    assert_eq!(
        dan.seen(&group).await?,
        entries(&[("member_added", None), ("welcome dan", Some(2))])
    );

    // A message of another conversation, and no message at all, are not found here.
    let (_, pair) = ann
        .post("/api/v1/conversations", json!({"with": "eve"}))
        .await?;
    let pair = pair["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let elsewhere = id_of(&ann.sent(&pair, "psst", "p1").await?);
    assert_eq!(ann.readers(&group, &elsewhere).await?, Err(404));
    assert_eq!(ann.readers(&group, "not-a-message").await?, Err(404));
    // In a pair the route names the peer once they read it; pages keep `peer_read_up_to`.
    assert_eq!(ann.readers(&pair, &elsewhere).await?, Ok(vec![]));
    eve.read_up_to(&pair, 1).await?;
    assert_eq!(
        ann.readers(&pair, &elsewhere).await?,
        Ok(vec!["eve".to_owned()])
    );
    assert_eq!(ann.seen(&pair).await?, entries(&[("psst", None)]));
    Ok(())
}
