//! A 200-member group end to end: every linked offline member gets exactly one Telegram
//! notification for a message, and a member coming online is announced to every other member's
//! socket. Each prints how long it took (`--nocapture`), the figures in the README.

mod common;

use common::fake_telegram::FakeTelegram;
use common::telegram::WAIT;
use common::{spawn_app_with_roles, ApiUser};
use server::Role;
use std::time::{Duration, Instant};
use testkit::ws::Connect;

/// Telegram chat ids of the linked members: 1000, 1001, ...
const FIRST_CHAT: i64 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_member_group_notifies_each_linked_member_once_and_announces_presence_to_all(
) -> anyhow::Result<()> {
    fan_out(200, 20, 40).await
}

/// The same with 1,000 members: a measurement (a minute of sign-ups), ignored by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn a_1000_member_group_notifies_each_linked_member_once_and_announces_presence_to_all(
) -> anyhow::Result<()> {
    fan_out(1_000, 50, 100).await
}

/// `members` in one group, `linked` of them with Telegram, `socket_count` of them online.
async fn fan_out(members: usize, linked: usize, socket_count: usize) -> anyhow::Result<()> {
    let fake = FakeTelegram::start().await?;
    let presence_bound = members.to_string();
    let app = spawn_app_with_roles(
        &[
            ("TELEGRAM_BOT_TOKEN", "123456:TEST"),
            ("TELEGRAM_API_URL", fake.url.as_str()),
            ("TELEGRAM_POLL_TIMEOUT_SECS", "1"),
            ("NOTIFY_GRACE_MS", "300"),
            ("NOTIFY_EDIT_INTERVAL_MS", "1000"),
            ("PRESENCE_MAX_GROUP_MEMBERS", presence_bound.as_str()),
        ],
        &Role::ALL,
    )
    .await?;
    let names: Vec<String> = (0..members).map(|n| format!("u{n:03}")).collect();
    let mut people = Vec::with_capacity(members);
    for chunk in names.chunks(8) {
        let signed =
            futures_util::future::try_join_all(chunk.iter().map(|name| ApiUser::new(&app, name)))
                .await?;
        people.extend(signed);
    }
    // Members 1..=linked link their chats (the owner, member 0, writes).
    for chunk in people[1..=linked].chunks(5).enumerate() {
        let (n, chunk) = chunk;
        futures_util::future::try_join_all(
            chunk
                .iter()
                .enumerate()
                .map(|(k, person)| person.link_telegram(&fake, FIRST_CHAT + (n * 5 + k) as i64)),
        )
        .await?;
    }
    let answers: Vec<usize> = (0..linked)
        .map(|n| fake.sent_to(FIRST_CHAT + n as i64).len())
        .collect();
    let others: Vec<&str> = names[1..].iter().map(String::as_str).collect();
    let group = people[0].group("Everyone", &others).await?;

    let sent_at = Instant::now();
    people[0].sent(&group, "hello everyone", "m1").await?;
    let notified =
        |f: &FakeTelegram| (0..linked).all(|n| f.sent_to(FIRST_CHAT + n as i64).len() > answers[n]);
    fake.until(WAIT, "every linked member notified", notified)
        .await?;
    let notify_took = sent_at.elapsed();
    for (n, answered) in answers.iter().enumerate() {
        let sent: Vec<String> = fake
            .sent_to(FIRST_CHAT + n as i64)
            .into_iter()
            .skip(*answered)
            .collect();
        assert_eq!(sent.len(), 1, "chat {n}: {sent:?}");
        assert!(
            sent[0].starts_with("<b>Everyone</b>\n<b>u000</b>: hello everyone"),
            "{sent:?}"
        );
    }

    // Presence: socket_count members online; one more comes online, and each of them hears it.
    let mut sockets = Vec::with_capacity(socket_count);
    for person in people.iter().skip(1).take(socket_count) {
        sockets.push(Connect::new(&app.base).bearer(&person.token).open().await?);
    }
    let newcomer = &people[members - 1];
    let (_, me) = newcomer.get("/api/v1/me").await?;
    let newcomer_id = me["user"]["id"].clone();
    // The sockets opened above announced each other: read those first.
    let opened_at = Instant::now();
    let _late = Connect::new(&app.base)
        .bearer(&newcomer.token)
        .open()
        .await?;
    for socket in &mut sockets {
        loop {
            let frame = socket.next_of("presence").await?;
            if frame["user_id"] == newcomer_id {
                assert_eq!(frame["online"], true);
                break;
            }
        }
    }
    let presence_took = opened_at.elapsed();
    println!(
        "{members}-member group: {linked} linked offline members notified {notify_took:?} after \
         the send (grace 300 ms); a member coming online reached {socket_count} sockets in \
         {presence_took:?}"
    );
    assert!(notify_took < Duration::from_secs(10));
    Ok(())
}
