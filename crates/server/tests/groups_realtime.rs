//! A group's ephemeral news and its resume, against the app with real Postgres, Redis and NATS:
//! members hear of each other's presence (in groups up to `PRESENCE_MAX_GROUP_MEMBERS`), typing
//! reaches every other member once per interval, and a socket that was away while its user was
//! removed learns it on resume, and nothing after.

mod common;

use common::{spawn_app, ApiUser};
use serde_json::{json, Value};
use std::time::Duration;

async fn user_id(user: &ApiUser) -> anyhow::Result<Value> {
    let (status, me) = user.get("/api/v1/me").await?;
    anyhow::ensure!(status == 200, "me: {status} {me}");
    Ok(me["user"]["id"].clone())
}

#[tokio::test]
async fn group_members_hear_of_each_others_presence_up_to_the_size_bound() -> anyhow::Result<()> {
    let app = spawn_app(&[("PRESENCE_MAX_GROUP_MEMBERS", "3")]).await?;
    let [ann, ben, cat, dan, eve, fay] = [
        ApiUser::new(&app, "ann").await?,
        ApiUser::new(&app, "ben").await?,
        ApiUser::new(&app, "cat").await?,
        ApiUser::new(&app, "dan").await?,
        ApiUser::new(&app, "eve").await?,
        ApiUser::new(&app, "fay").await?,
    ];
    // Ben shares a group of three with Cat, and a group of four (over the bound) with Dan;
    // nobody here has a pair with anyone.
    ann.group("Three", &["ben", "cat"]).await?;
    ben.group("Four", &["dan", "eve", "fay"]).await?;
    let (cat_id, dan_id) = (user_id(&cat).await?, user_id(&dan).await?);

    let mut ben_socket = ben.socket(None).await?;
    let cat_socket = cat.socket(None).await?;
    let online = ben_socket.next_of("presence").await?;
    assert_eq!(
        (&online["user_id"], &online["online"]),
        (&cat_id, &json!(true))
    );

    // Dan comes and goes in the big group only: Ben is not told. Cat then leaves, which Ben
    // hears; had Dan been announced, that would have come first.
    let dan_socket = dan.socket(None).await?;
    drop(dan_socket);
    drop(cat_socket);
    let next = ben_socket.next_of("presence").await?;
    assert_eq!(
        (&next["user_id"], &next["online"]),
        (&cat_id, &json!(false)),
        "Dan ({dan_id}) is in no group of at most 3 with Ben: {next}"
    );
    drop((eve, fay));
    Ok(())
}

#[tokio::test]
async fn typing_in_a_group_reaches_every_other_member_once_per_interval() -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let [ann, ben, cat] = [
        ApiUser::new(&app, "ann").await?,
        ApiUser::new(&app, "ben").await?,
        ApiUser::new(&app, "cat").await?,
    ];
    let id = ann.group("Climbing", &["ben", "cat"]).await?;
    let mut ann_socket = ann.socket(None).await?;
    let mut ann_other = ann.socket(None).await?;
    let mut ben_socket = ben.socket(None).await?;
    let mut cat_socket = cat.socket(None).await?;

    for _ in 0..3 {
        ann_socket
            .send(json!({"type": "typing", "conversation_id": id}))
            .await?;
    }
    for member in [&mut ben_socket, &mut cat_socket] {
        let typing = member.next_of("typing").await?;
        assert_eq!(typing["conversation_id"], id.as_str());
        assert_eq!(typing["user"]["username"], "ann");
    }
    // The two repeats within the interval reached nobody: a message sent after them comes next.
    ann.sent(&id, "after typing", "a1").await?;
    for member in [&mut ben_socket, &mut cat_socket] {
        assert_eq!(member.bodies(1).await?, ["after typing"]);
        member
            .assert_no("typing", Duration::from_millis(300))
            .await?;
    }
    // The typist's own devices are not told.
    assert_eq!(ann_other.bodies(1).await?, ["after typing"]);
    ann_other
        .assert_no("typing", Duration::from_millis(300))
        .await?;
    ann_socket
        .assert_no("typing", Duration::from_millis(100))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_socket_away_during_its_removal_gets_the_removal_on_resume_and_nothing_after(
) -> anyhow::Result<()> {
    let app = spawn_app(&[]).await?;
    let [ann, ben] = [
        ApiUser::new(&app, "ann").await?,
        ApiUser::new(&app, "ben").await?,
    ];
    let id = ann.group("Climbing", &["ben"]).await?;
    ann.sent(&id, "before", "a1").await?;
    let away = ben.socket(None).await?;
    let cursor = away.hello()["cursor"].as_i64().unwrap_or_default();
    drop(away);

    let (status, body) = ann.remove(&id, "ben").await?;
    assert_eq!(status, 204, "{body}");
    ann.sent(&id, "after ben left", "a2").await?;
    // A pair message after all that: the last frame of Ben's backlog.
    let (status, body) = ann
        .post(
            "/api/v1/messages",
            json!({"to": "ben", "body": "see you", "client_id": "p1"}),
        )
        .await?;
    assert_eq!(status, 201, "{body}");

    let mut back = ben.socket(Some(cursor)).await?;
    let removal = back.next_of("message.new").await?;
    assert_eq!(removal["conversation_id"], id.as_str(), "{removal}");
    assert_eq!(removal["message"]["system"]["kind"], "member_removed");
    assert_eq!(removal["message"]["system"]["member"]["username"], "ben");
    let next = back.next_of("message.new").await?;
    assert_eq!(
        next["message"]["body"], "see you",
        "nothing of the group after the removal: {next}"
    );

    // The same from a cursor past the removal: the group is not replayed at all.
    let mut later = ben
        .socket(Some(removal["cursor"].as_i64().unwrap_or_default()))
        .await?;
    assert_eq!(later.bodies(1).await?, ["see you"]);
    Ok(())
}
