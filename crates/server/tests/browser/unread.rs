//! Coming back to many unread messages: the page opens at the first of them under an "Unread
//! messages" line, and only what has been on screen counts as read.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::common::ApiUser;
use crate::page::*;
use fantoccini::Client;
use serde_json::json;

/// How many messages Bob sends while Alice is away: more than a screen, and more than a page.
const AWAY: i64 = 70;

/// The highest seq of a message at least half of which is inside the list's box.
async fn last_on_screen(client: &Client) -> anyhow::Result<i64> {
    let seq = client
        .execute(
            "const box = document.getElementById('messages').getBoundingClientRect();
             let last = 0;
             document.querySelectorAll('#messages .message').forEach(m => {
               const r = m.getBoundingClientRect();
               const inside = Math.min(r.bottom, box.bottom) - Math.max(r.top, box.top);
               if (inside >= r.height / 2) last = Math.max(last, Number(m.dataset.seq));
             });
             return last;",
            vec![],
        )
        .await?;
    seq.as_i64()
        .ok_or_else(|| anyhow::anyhow!("not a seq: {seq}"))
}

/// Alice's unread count for the conversation, as the API tells her.
async fn unread(alice: &ApiUser, conversation: &str) -> anyhow::Result<i64> {
    let (status, body) = alice
        .get(&format!("/api/v1/conversations/{conversation}"))
        .await?;
    anyhow::ensure!(status == 200, "GET the conversation: {status} {body}");
    body["conversation"]["unread"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no unread in {body}"))
}

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let page = &lab.browsers[0];
    let base = lab.base();
    let bob = ApiUser::new(&lab.app, "bob").await?;
    register(page, base, "alice", "Alice").await?;
    let alice = ApiUser::with_token(&lab.app, &lab.app.signed_up_again("alice").await?);

    // Bob writes three lines; Alice opens the conversation and reads them.
    let (status, body) = bob
        .post("/api/v1/conversations", json!({"with": "alice"}))
        .await?;
    anyhow::ensure!(status == 201, "start: {status} {body}");
    let conversation = body["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let say = |body: String, client_id: String| {
        let (bob, conversation) = (&bob, &conversation);
        async move { bob.sent(conversation, &body, &client_id).await }
    };
    for n in 0..3 {
        say(format!("read {n}"), format!("read-{n}")).await?;
    }
    let path = format!("/conversations/{conversation}");
    page.goto(&format!("{base}{path}")).await?;
    eventually("Alice to have read the first three", || async {
        let left = unread(&alice, &conversation).await?;
        anyhow::ensure!(left == 0, "{left} unread");
        Ok(())
    })
    .await?;
    // Opened again with nothing unread: no unread line.
    page.refresh().await?;
    wait_for_text(page, "#messages .message:last-child .body", "read 2").await?;
    anyhow::ensure!(
        page.find_all(fantoccini::Locator::Css("#unread"))
            .await?
            .is_empty(),
        "an unread line with nothing unread"
    );

    // Alice goes to her list; Bob writes a lot.
    page.goto(&format!("{base}/conversations")).await?;
    for n in 0..AWAY {
        say(format!("away {n}"), format!("away-{n}")).await?;
    }
    let last = 3 + AWAY;
    eventually("the list to count every unread message", || async {
        let left = unread(&alice, &conversation).await?;
        anyhow::ensure!(left == AWAY, "{left} unread");
        Ok(())
    })
    .await?;

    // The tab's title counts them.
    page.refresh().await?;
    wait_for_text(page, "#conversation-list .unread.badge", &AWAY.to_string()).await?;
    let title = page.title().await?;
    anyhow::ensure!(
        title == format!("({AWAY}) Conversations · chat"),
        "the list's title is {title:?}"
    );

    // And the list says when the conversation last moved, in her time (Asia/Kolkata).
    let when = page
        .find(fantoccini::Locator::Css("#conversation-list time.when"))
        .await?;
    let instant =
        chrono::DateTime::parse_from_rfc3339(&when.attr("datetime").await?.unwrap_or_default())?;
    let kolkata = chrono::FixedOffset::east_opt(5 * 3600 + 30 * 60)
        .ok_or_else(|| anyhow::anyhow!("offset"))?;
    let shown = when.text().await?;
    anyhow::ensure!(
        shown == instant.with_timezone(&kolkata).format("%H:%M").to_string(),
        "the last activity at {instant} is shown as {shown:?}"
    );

    // She opens it: at the first unread message, under the unread line, not at the bottom.
    page.goto(&format!("{base}{path}")).await?;
    let opened = page
        .execute(
            "const line = document.getElementById('unread');
             if (!line) return null;
             const next = line.nextElementSibling;
             const box = document.getElementById('messages');
             const top = box.getBoundingClientRect().top;
             return {
               next: next && next.querySelector('.body') ? next.querySelector('.body').textContent : null,
               text: line.textContent.trim(),
               offset: line.getBoundingClientRect().top - top,
               at_bottom: box.scrollHeight - box.scrollTop - box.clientHeight < 80,
             };",
            vec![],
        )
        .await?;
    anyhow::ensure!(!opened.is_null(), "no #unread line in the page");
    anyhow::ensure!(
        opened["next"] == json!("away 0"),
        "the unread line is followed by {}",
        opened["next"]
    );
    anyhow::ensure!(
        opened["text"] == json!("Unread messages"),
        "the line reads {}",
        opened["text"]
    );
    let offset = opened["offset"].as_f64().unwrap_or(f64::MAX);
    anyhow::ensure!(
        (0.0..120.0).contains(&offset),
        "the unread line is {offset} px below the list's top"
    );
    anyhow::ensure!(opened["at_bottom"] == json!(false), "opened at the bottom");
    lab.snap(page, "opened").await?;
    expect_accessible(page, "a conversation opened at its unread line").await?;

    // What has been on screen is read; what has not stays unread.
    let read = eventually("what was on screen to be marked read", || async {
        let (status, body) = alice
            .get(&format!("/api/v1/conversations/{conversation}"))
            .await?;
        anyhow::ensure!(status == 200, "GET the conversation: {status} {body}");
        let read = body["conversation"]["read_up_to"]
            .as_i64()
            .unwrap_or_default();
        anyhow::ensure!(read > 3, "read up to {read}");
        Ok(read)
    })
    .await?;
    anyhow::ensure!(
        read < last,
        "all {last} marked read, though most were never on screen"
    );
    let seen = last_on_screen(page).await?;
    anyhow::ensure!(
        read == seen,
        "marked read up to {read}; the last message half on screen is {seen}"
    );
    anyhow::ensure!(unread(&alice, &conversation).await? == last - read);
    let title = page.title().await?;
    anyhow::ensure!(
        title == format!("({}) bob · chat", last - read),
        "with {} unread the title is {title:?}",
        last - read
    );

    // The button takes her down; now everything has been seen.
    click(page, "#new-messages").await?;
    eventually("everything to be read", || async {
        let left = unread(&alice, &conversation).await?;
        anyhow::ensure!(left == 0, "{left} unread");
        Ok(())
    })
    .await?;
    let title = page.title().await?;
    anyhow::ensure!(
        title == "bob · chat",
        "with nothing unread the title is {title:?}"
    );
    expect_logged(page, "Alice", &[]).await
}

/// More unread messages than the page shows at once (100, two pages of 50): older pages are
/// loaded until the first unread one is on the page, which opens there; only what has been on
/// screen is marked read.
pub async fn more_than_a_page(lab: &Lab) -> anyhow::Result<()> {
    const MANY: i64 = 120;
    let page = &lab.browsers[0];
    let base = lab.base();
    let bob = ApiUser::new(&lab.app, "bob").await?;
    register(page, base, "alice", "Alice").await?;
    let alice = ApiUser::with_token(&lab.app, &lab.app.signed_up_again("alice").await?);
    let (status, body) = bob
        .post("/api/v1/conversations", json!({"with": "alice"}))
        .await?;
    anyhow::ensure!(status == 201, "start: {status} {body}");
    let conversation = body["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for n in 0..3 {
        bob.sent(&conversation, &format!("read {n}"), &format!("read-{n}"))
            .await?;
    }
    let path = format!("/conversations/{conversation}");
    page.goto(&format!("{base}{path}")).await?;
    eventually("Alice to have read the first three", || async {
        let left = unread(&alice, &conversation).await?;
        anyhow::ensure!(left == 0, "{left} unread");
        Ok(())
    })
    .await?;
    page.goto(&format!("{base}/conversations")).await?;
    for n in 0..MANY {
        bob.sent(&conversation, &format!("away {n}"), &format!("away-{n}"))
            .await?;
    }
    let last = 3 + MANY;
    eventually("the list to count every unread message", || async {
        let left = unread(&alice, &conversation).await?;
        anyhow::ensure!(left == MANY, "{left} unread");
        Ok(())
    })
    .await?;

    page.goto(&format!("{base}{path}")).await?;
    let opened = eventually("the page to open at its unread line", || async {
        let opened = page
            .execute(
                "const line = document.getElementById('unread');
                 if (!line) return null;
                 const next = line.nextElementSibling;
                 const box = document.getElementById('messages');
                 const seqs = Array.from(box.querySelectorAll('.message')).map(m => Number(m.dataset.seq));
                 return {
                   next: next && next.querySelector('.body') ? next.querySelector('.body').textContent : null,
                   lines: document.querySelectorAll('.unread-line').length,
                   offset: line.getBoundingClientRect().top - box.getBoundingClientRect().top,
                   at_bottom: box.scrollHeight - box.scrollTop - box.clientHeight < 80,
                   seqs: seqs,
                 };",
                vec![],
            )
            .await?;
        anyhow::ensure!(!opened.is_null(), "no #unread line yet");
        let offset = opened["offset"].as_f64().unwrap_or(f64::MAX);
        anyhow::ensure!(
            (0.0..120.0).contains(&offset),
            "the unread line is {offset} px below the list's top"
        );
        Ok(opened)
    })
    .await?;
    anyhow::ensure!(
        opened["next"] == json!("away 0"),
        "the unread line is followed by {}",
        opened["next"]
    );
    anyhow::ensure!(
        opened["lines"] == json!(1),
        "{} unread lines",
        opened["lines"]
    );
    anyhow::ensure!(opened["at_bottom"] == json!(false), "opened at the bottom");
    let seqs: Vec<i64> = serde_json::from_value(opened["seqs"].clone())?;
    anyhow::ensure!(
        seqs == (1..=last).collect::<Vec<_>>(),
        "the page shows seqs {seqs:?}, not each of 1..={last} once"
    );
    lab.snap(page, "many-opened").await?;
    expect_accessible(page, "a conversation opened at an unread line pages back").await?;

    // Marked read: what has been on screen, not the pages loaded below it.
    let read = eventually("what was on screen to be marked read", || async {
        let (status, body) = alice
            .get(&format!("/api/v1/conversations/{conversation}"))
            .await?;
        anyhow::ensure!(status == 200, "GET the conversation: {status} {body}");
        let read = body["conversation"]["read_up_to"]
            .as_i64()
            .unwrap_or_default();
        anyhow::ensure!(read > 3, "read up to {read}");
        Ok(read)
    })
    .await?;
    let seen = last_on_screen(page).await?;
    anyhow::ensure!(
        read == seen && read < 3 + 50,
        "marked read up to {read}; the last message half on screen is {seen}"
    );
    anyhow::ensure!(unread(&alice, &conversation).await? == last - read);
    expect_logged(page, "Alice", &[]).await
}
