//! The mute switch over HTTP and WebSockets: `PUT`/`DELETE /conversations/{id}/mute`, what the
//! conversation list and the conversation show, who hears of it, and the errors.

mod common;

use common::cases::{expect_eq, Cases};
use common::{spawn_app, ApiUser};
use serde_json::{json, Value};
use std::time::Duration;
use testkit::ws::Connect;

async fn mute(who: &ApiUser, id: &str, method: reqwest::Method) -> anyhow::Result<(u16, Value)> {
    who.call(method, &format!("/api/v1/conversations/{id}/mute"), None)
        .await
}

async fn listed_muted(who: &ApiUser, id: &str) -> anyhow::Result<Value> {
    let (status, list) = who.get("/api/v1/conversations").await?;
    anyhow::ensure!(status == 200, "list: {status} {list}");
    Ok(list["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == id)
        .map(|c| c["muted"].clone())
        .unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_member_mutes_a_conversation_for_themself_and_their_devices_hear_of_it(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let [ann, ben, cat] = [
        ApiUser::new(&app, "ann").await?,
        ApiUser::new(&app, "ben").await?,
        ApiUser::new(&app, "cat").await?,
    ];
    let (status, started) = ann
        .post("/api/v1/conversations", json!({"with": "ben"}))
        .await?;
    assert_eq!(status, 201, "{started}");
    let pair = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, created) = ann.create_group("Climbing", &["ben", "cat"]).await?;
    assert_eq!(status, 201, "{created}");
    let group = created["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(created["conversation"]["muted"], false);

    let mut ben_other = Connect::new(&app.base).bearer(&ben.token).open().await?;
    let mut ann_socket = Connect::new(&app.base).bearer(&ann.token).open().await?;
    for id in [&pair, &group] {
        let (status, body) = mute(&ben, id, reqwest::Method::PUT).await?;
        assert_eq!(
            (status, &body["conversation"]["muted"]),
            (200, &json!(true)),
            "{body}"
        );
        let frame = ben_other.next_of("conversation.muted").await?;
        assert_eq!(
            (&frame["conversation_id"], &frame["muted"]),
            (&json!(id), &json!(true))
        );
        assert!(frame["cursor"].as_i64().is_some_and(|c| c > 0), "{frame}");
        // Again: nothing changes, still 200.
        let (status, body) = mute(&ben, id, reqwest::Method::PUT).await?;
        assert_eq!(
            (status, &body["conversation"]["muted"]),
            (200, &json!(true))
        );
        assert_eq!(listed_muted(&ben, id).await?, true);
        let (_, one) = ben.get(&format!("/api/v1/conversations/{id}")).await?;
        assert_eq!(one["conversation"]["muted"], true);
        // The others' view is theirs alone.
        assert_eq!(listed_muted(&ann, id).await?, false);
    }
    assert_eq!(listed_muted(&cat, &group).await?, false);
    ann_socket
        .assert_no("conversation.muted", Duration::from_millis(300))
        .await?;

    let (status, body) = mute(&ben, &group, reqwest::Method::DELETE).await?;
    assert_eq!(
        (status, &body["conversation"]["muted"]),
        (200, &json!(false))
    );
    assert_eq!(
        ben_other.next_of("conversation.muted").await?["muted"],
        false
    );
    assert_eq!(listed_muted(&ben, &group).await?, false);
    assert_eq!(
        listed_muted(&ben, &pair).await?,
        true,
        "the pair stays muted"
    );

    // A resume replays the switch like any durable frame.
    let mut resumed = Connect::new(&app.base)
        .bearer(&ben.token)
        .after(Some(0))
        .open()
        .await?;
    let mut switches = Vec::new();
    for _ in 0..3 {
        let frame = resumed.next_of("conversation.muted").await?;
        switches.push((frame["conversation_id"].clone(), frame["muted"].clone()));
    }
    assert_eq!(
        switches,
        [
            (json!(pair), json!(true)),
            (json!(group), json!(true)),
            (json!(group), json!(false))
        ]
    );
    Ok(())
}

#[tokio::test]
async fn muting_what_one_is_not_in_or_what_does_not_exist_is_not_found() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let [ann, ben, eve] = [
        ApiUser::new(&app, "ann").await?,
        ApiUser::new(&app, "ben").await?,
        ApiUser::new(&app, "eve").await?,
    ];
    let group = ann.group("Climbing", &["ben"]).await?;
    let (status, _) = ann.remove(&group, "ben").await?;
    assert_eq!(status, 204);

    let mut cases = Cases::new();
    for (case, who, id, method) in [
        ("an outsider", &eve, group.clone(), reqwest::Method::PUT),
        (
            "a removed member",
            &ben,
            group.clone(),
            reqwest::Method::PUT,
        ),
        (
            "a removed member unmuting",
            &ben,
            group.clone(),
            reqwest::Method::DELETE,
        ),
        (
            "an unknown conversation",
            &ann,
            uuid::Uuid::new_v4().to_string(),
            reqwest::Method::PUT,
        ),
        (
            "not an id",
            &ann,
            "not-a-uuid".to_owned(),
            reqwest::Method::PUT,
        ),
    ] {
        cases
            .run(case, async {
                let (status, body) = mute(who, &id, method).await?;
                expect_eq(status, 404)?;
                expect_eq(&body["error"]["code"], &json!("not_found"))
            })
            .await;
    }
    cases.finish()?;
    let (status, _) = ann
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{group}/mute"),
            None,
        )
        .await?;
    assert_eq!(status, 405, "only PUT and DELETE");
    Ok(())
}
