//! Three people in a group, in real browsers: one creates it with the two others (after a refusal
//! that keeps what was typed), messages reach everyone live with their sender's name, "seen by"
//! counts the members who read and names them on request, typing shows who, a fourth person is
//! added and sees the entry, one is removed and the group leaves their page, a plain member gets
//! no controls they may not use, one made an admin gets the controls an admin may use, and one
//! leaves.

use crate::axe::expect_accessible;
use crate::chromium::*;
use crate::page::*;
use fantoccini::{Client, Locator};

/// `(sender's name as shown, body)` of each message, and the text of each system entry (with an
/// empty sender), in page order.
async fn timeline(client: &Client) -> anyhow::Result<Vec<(String, String)>> {
    let rows = client
        .execute(
            "return Array.from(document.querySelectorAll('#messages div.message')).map(m => [
                 m.classList.contains('system') ? '' :
                     (m.querySelector('.sender') ? m.querySelector('.sender').textContent : 'me'),
                 m.querySelector('.body').textContent]);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(rows)?)
}

async fn wait_for_timeline(
    client: &Client,
    who: &str,
    wanted: &[(&str, &str)],
) -> anyhow::Result<()> {
    let wanted: Vec<(String, String)> = wanted
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    eventually(&format!("{who}'s page to show {wanted:?}"), || async {
        let shown = timeline(client).await?;
        anyhow::ensure!(shown == wanted, "it shows {shown:?}");
        Ok(())
    })
    .await
}

/// The usernames in the members panel, in order, with their role when not a plain member.
async fn members(client: &Client) -> anyhow::Result<Vec<String>> {
    let rows = client
        .execute(
            "return Array.from(document.querySelectorAll('#members .member')).map(m =>
                 m.dataset.username + (m.querySelector('.role') ? ' ' + m.querySelector('.role').textContent : ''));",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(rows)?)
}

/// Clicks what `css` selects once it is there and stays long enough to be clicked: the members
/// panel is swapped anew whenever a membership entry arrives, and a click on the panel before is
/// tried again on the new one (a click that hit nothing changed nothing).
async fn click_in_panel(client: &Client, css: &str) -> anyhow::Result<()> {
    eventually(&format!("a click on {css}"), || async {
        click(client, css).await
    })
    .await
}

/// Types `value` into the panel's field `input` and presses `button`, once no request is in flight
/// (a panel swapped in between would drop what was typed).
async fn fill_in_panel(
    client: &Client,
    input: &str,
    value: &str,
    button: &str,
) -> anyhow::Result<()> {
    eventually("the page to settle", || async {
        let busy = client
            .execute(
                "return document.querySelectorAll('.htmx-request').length;",
                vec![],
            )
            .await?;
        anyhow::ensure!(busy == serde_json::json!(0), "{busy} requests in flight");
        Ok(())
    })
    .await?;
    eventually(&format!("{value:?} sent from {input}"), || async {
        type_into(client, input, value).await?;
        click(client, button).await
    })
    .await
}

async fn open_group(client: &Client, who: &str, item: &str, path: &str) -> anyhow::Result<()> {
    // The list is swapped anew as frames arrive (someone else reading, say): a click can find
    // the link of the list before, and is tried again on the new one.
    eventually(&format!("{who}'s click on the group"), || async {
        click(client, &format!("{item} a")).await
    })
    .await?;
    wait_for_path(client, &format!("{who} to open the group"), |p| p == path).await?;
    Ok(())
}

pub async fn scenario(lab: &Lab) -> anyhow::Result<()> {
    let base = lab.base();
    let [ann, ben, cat, dan] = &lab.browsers[..] else {
        anyhow::bail!("four browsers expected");
    };
    for (client, username, name) in [
        (ann, "ann", "Ann"),
        (ben, "ben", "Ben"),
        (cat, "cat", "Cat"),
        (dan, "dan", "Dan"),
    ] {
        register(client, base, username, name).await?;
        mark_document(client).await?;
    }

    // Ann names someone who does not exist: the form says who, and keeps what she typed.
    click(ann, "#new-group summary").await?;
    type_into(ann, "form#create-group input[name=title]", "Climbing").await?;
    type_into(
        ann,
        "form#create-group input[name=members]",
        "ben, nobody_here",
    )
    .await?;
    click(ann, "form#create-group button[type=submit]").await?;
    let error = eventually("#members-error for an unknown username", || async {
        text_of(ann, "#members-error").await
    })
    .await?;
    anyhow::ensure!(
        error.contains("nobody_here"),
        "#members-error reads {error:?}"
    );
    expect_logged(ann, "Ann", &[&refused("/groups", 422)]).await?;
    anyhow::ensure!(value_of(ann, "form#create-group input[name=title]").await? == "Climbing");
    expect_accessible(ann, "the new group form with an error").await?;
    type_into(ann, "form#create-group input[name=members]", "ben cat").await?;
    click(ann, "form#create-group button[type=submit]").await?;
    let path = wait_for_path(ann, "the group to open", |p| {
        p.starts_with("/conversations/") && p.len() > "/conversations/".len()
    })
    .await?;
    let group = path.trim_start_matches("/conversations/").to_owned();
    wait_for_text(ann, "#peer-name", "Climbing").await?;
    wait_for_text(ann, "#member-count", "3 members").await?;
    mark_document(ann).await?;

    // The group shows up in Ben's and Cat's lists live, with its name and size; Ann writes, and
    // it is unread there.
    let item = format!("#conversation-list li.conversation[data-id='{group}']");
    for (client, who) in [(ben, "Ben"), (cat, "Cat")] {
        let shown = eventually(&format!("the group in {who}'s list"), || async {
            text_of(client, &format!("{item} .peer")).await
        })
        .await?;
        anyhow::ensure!(
            shown.contains("Climbing") && shown.contains("3 members"),
            "{who}'s list shows {shown:?}"
        );
    }
    send(ann, "hello all").await?;
    wait_for_timeline(ann, "Ann", &[("me", "hello all")]).await?;
    for (client, who) in [(ben, "Ben"), (cat, "Cat")] {
        wait_for_text(client, &format!("{item} .unread.badge"), "1").await?;
        wait_for_text(client, &format!("{item} .last"), "Ann: hello all").await?;
        assert_not_reloaded(client, who).await?;
    }
    // Nobody has read it yet.
    anyhow::ensure!(
        ann.find_all(Locator::Css(".seen-by")).await?.is_empty(),
        "\"seen by\" shows before anyone opened the group"
    );

    // Ben opens it: it is seen by 1; Cat opens it: seen by 2, live on Ann's page.
    open_group(ben, "Ben", &item, &path).await?;
    wait_for_timeline(ben, "Ben", &[("Ann", "hello all")]).await?;
    wait_for_text(ann, ".seen-by", "Seen by 1").await?;
    open_group(cat, "Cat", &item, &path).await?;
    wait_for_timeline(cat, "Cat", &[("Ann", "hello all")]).await?;
    mark_document(ben).await?;
    mark_document(cat).await?;
    wait_for_text(ann, ".seen-by", "Seen by 2").await?;
    wait_for_text(ann, "#receipt", "Seen by 2").await?;
    click(ann, ".seen-by").await?;
    eventually("the names of who read it", || async {
        let names = text_of(ann, ".readers").await?;
        anyhow::ensure!(names.contains("Ben") && names.contains("Cat"), "{names:?}");
        Ok(())
    })
    .await?;

    // Ben and Cat both type: Ann sees both names; then they answer, named, on every page.
    for client in [ben, cat] {
        client
            .find(Locator::Css("textarea#compose"))
            .await?
            .send_keys("typing")
            .await?;
    }
    eventually("Ann to see both typing", || async {
        let typing = text_of(ann, "#typing").await?;
        anyhow::ensure!(
            typing == "Ben and Cat are typing…" || typing == "Cat and Ben are typing…",
            "#typing reads {typing:?}"
        );
        Ok(())
    })
    .await?;
    for client in [ben, cat] {
        client
            .execute(
                "document.getElementById('compose').value = ''; return null;",
                vec![],
            )
            .await?;
    }
    send(ben, "hi from ben").await?;
    wait_for_timeline(ben, "Ben", &[("Ann", "hello all"), ("me", "hi from ben")]).await?;
    send(cat, "cat here").await?;
    let everyone = [
        ("Ann", "hello all"),
        ("Ben", "hi from ben"),
        ("Cat", "cat here"),
    ];
    wait_for_timeline(ann, "Ann", &[("me", "hello all"), everyone[1], everyone[2]]).await?;
    wait_for_timeline(
        ben,
        "Ben",
        &[everyone[0], ("me", "hi from ben"), everyone[2]],
    )
    .await?;
    wait_for_timeline(cat, "Cat", &[everyone[0], everyone[1], ("me", "cat here")]).await?;
    for (client, who) in [(ann, "Ann"), (ben, "Ben"), (cat, "Cat")] {
        assert_not_reloaded(client, who).await?;
    }

    // Ben is a plain member: he sees the members, no control he may not use, and may leave.
    click(ben, "#members-panel summary").await?;
    anyhow::ensure!(
        members(ben).await? == ["ann owner", "ben", "cat"],
        "Ben's panel lists {:?}",
        members(ben).await?
    );
    for css in ["#add-member", "#rename", "#members .remove-member"] {
        anyhow::ensure!(
            ben.find_all(Locator::Css(css)).await?.is_empty(),
            "a plain member is shown {css}"
        );
    }
    anyhow::ensure!(!ben.find_all(Locator::Css("form#leave")).await?.is_empty());

    // Ann adds someone unknown (refused beside the field), then Dan, who is on his list: the
    // group comes to him live and opens on the entry that added him.
    click(ann, "#members-panel summary").await?;
    fill_in_panel(
        ann,
        "#add-username",
        "nobody_here",
        "form#add-member button[type=submit]",
    )
    .await?;
    let error = eventually("#add-error", || async { text_of(ann, "#add-error").await }).await?;
    anyhow::ensure!(error.contains("nobody_here"), "#add-error reads {error:?}");
    expect_logged(ann, "Ann", &[&refused("/members", 422)]).await?;
    fill_in_panel(
        ann,
        "#add-username",
        "dan",
        "form#add-member button[type=submit]",
    )
    .await?;
    eventually("Dan in Ann's panel", || async {
        let shown = members(ann).await?;
        anyhow::ensure!(shown == ["ann owner", "ben", "cat", "dan"], "{shown:?}");
        Ok(())
    })
    .await?;
    wait_for_text(ann, "#member-count", "4 members").await?;
    expect_accessible(ann, "a group with its members panel open").await?;
    for (client, who) in [(ben, "Ben"), (cat, "Cat")] {
        eventually(&format!("the entry on {who}'s page"), || async {
            let shown = timeline(client).await?;
            anyhow::ensure!(
                shown.last() == Some(&("".to_owned(), "Ann added Dan".to_owned())),
                "{shown:?}"
            );
            Ok(())
        })
        .await?;
    }
    wait_for_text(ben, "#member-count", "4 members").await?;
    eventually("the group in Dan's list", || async {
        text_of(dan, &format!("{item} .peer")).await
    })
    .await?;
    assert_not_reloaded(dan, "Dan").await?;
    open_group(dan, "Dan", &item, &path).await?;
    mark_document(dan).await?;
    wait_for_timeline(dan, "Dan", &[("", "Ann added you")]).await?;
    send(dan, "thanks ann").await?;
    wait_for_timeline(
        ann,
        "Ann",
        &[
            ("me", "hello all"),
            everyone[1],
            everyone[2],
            ("", "You added Dan"),
            ("Dan", "thanks ann"),
        ],
    )
    .await?;

    // Cat goes back to her list; Ann removes her: the group leaves Cat's list live, and the
    // others see why.
    cat.goto(&format!("{base}/conversations")).await?;
    eventually("the group in Cat's list", || async {
        text_of(cat, &format!("{item} .peer")).await
    })
    .await?;
    mark_document(cat).await?;
    click(
        ann,
        "#members li[data-username='cat'] .remove-member button",
    )
    .await?;
    eventually("the group to leave Cat's list", || async {
        anyhow::ensure!(
            cat.find_all(Locator::Css(&item)).await?.is_empty(),
            "it is still there"
        );
        Ok(())
    })
    .await?;
    assert_not_reloaded(cat, "Cat").await?;
    eventually("the removal on Ben's page", || async {
        let shown = timeline(ben).await?;
        anyhow::ensure!(
            shown.last() == Some(&("".to_owned(), "Ann removed Cat".to_owned())),
            "{shown:?}"
        );
        Ok(())
    })
    .await?;
    cat.goto(&format!("{base}{path}")).await?;
    expect_logged(cat, "Cat", &[&refused(&path, 404)]).await?;

    // Ann renames the group: Ben's header follows.
    eventually("the removal on Ann's page", || async {
        let shown = timeline(ann).await?;
        anyhow::ensure!(
            shown.last() == Some(&("".to_owned(), "You removed Cat".to_owned())),
            "{shown:?}"
        );
        Ok(())
    })
    .await?;
    fill_in_panel(
        ann,
        "#rename-title",
        "Bouldering",
        "form#rename button[type=submit]",
    )
    .await?;
    wait_for_text(ben, "#peer-name", "Bouldering").await?;

    // Ann makes Ben an admin: his panel follows live, with the controls an admin may use (he
    // may remove Dan, not Ann), and everyone sees the entry.
    click_in_panel(ann, "#members li[data-username='ben'] .set-role button").await?;
    eventually("the admin controls on Ben's page", || async {
        anyhow::ensure!(
            !ben.find_all(Locator::Css("form#add-member"))
                .await?
                .is_empty(),
            "no add form"
        );
        Ok(())
    })
    .await?;
    anyhow::ensure!(
        members(ben).await? == ["ann owner", "ben admin", "dan"],
        "Ben's panel lists {:?}",
        members(ben).await?
    );
    anyhow::ensure!(
        ben.find_all(Locator::Css(
            "#members li[data-username='ann'] .remove-member"
        ))
        .await?
        .is_empty()
            && !ben
                .find_all(Locator::Css(
                    "#members li[data-username='dan'] .remove-member"
                ))
                .await?
                .is_empty(),
        "an admin removes plain members only"
    );
    eventually("the role entry on Dan's page", || async {
        let shown = timeline(dan).await?;
        anyhow::ensure!(
            shown.last() == Some(&("".to_owned(), "Ann made Ben an admin".to_owned())),
            "{shown:?}"
        );
        Ok(())
    })
    .await?;

    // Three and more typing are counted, not named (the page's own words, from its module).
    let said = ann
        .execute_async(
            "const done = arguments[arguments.length - 1];
             import('/static/group.js').then(m => done([
                 m.typingText([]), m.typingText(['Ann']), m.typingText(['Ann', 'Ben']),
                 m.typingText(['Ann', 'Ben', 'Cat'])]));",
            vec![],
        )
        .await?;
    anyhow::ensure!(
        said == serde_json::json!([
            "",
            "Ann is typing…",
            "Ann and Ben are typing…",
            "3 people are typing…"
        ]),
        "typing reads {said}"
    );

    // Screen readers hear the entries as the page words them.
    wait_for_text(dan, "#announce", "Ann made Ben an admin").await?;

    // Dan leaves (a second click confirms): he is back on his list without the group, and the
    // others see him go.
    for (client, who) in [(ann, "Ann"), (ben, "Ben"), (dan, "Dan")] {
        assert_not_reloaded(client, who).await?;
        expect_logged(client, who, &[]).await?;
    }
    click(dan, "#members-panel summary").await?;
    click_in_panel(dan, "details.leave summary").await?;
    click_in_panel(dan, "form#leave button[type=submit]").await?;
    wait_for_path(dan, "Dan back on his list", |p| p == "/conversations").await?;
    anyhow::ensure!(
        dan.find_all(Locator::Css(&item)).await?.is_empty(),
        "the group Dan left is still in his list"
    );
    eventually("Dan's leaving on Ben's page", || async {
        let shown = timeline(ben).await?;
        anyhow::ensure!(
            shown.last() == Some(&("".to_owned(), "Dan left".to_owned())),
            "{shown:?}"
        );
        Ok(())
    })
    .await?;
    wait_for_text(ann, "#member-count", "2 members").await?;

    // Three messages at once (Ann's phone, over the API): Ben's page shows every one of them.
    let token = api_token(base, "ann").await?;
    let http = reqwest::Client::new();
    let sends = ["one", "two", "three"].map(|body| {
        http.post(format!("{base}/api/v1/conversations/{group}/messages"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"body": body, "client_id": body}))
            .send()
    });
    for answer in futures_util::future::join_all(sends).await {
        anyhow::ensure!(answer?.status() == 201, "a burst send was refused");
    }
    eventually("the burst on Ben's page", || async {
        let shown = timeline(ben).await?;
        let bodies: Vec<&str> = shown
            .iter()
            .rev()
            .take(3)
            .map(|(_, b)| b.as_str())
            .collect();
        let mut sorted = bodies.clone();
        sorted.sort_unstable();
        anyhow::ensure!(sorted == ["one", "three", "two"], "{shown:?}");
        let seqs = ben
            .execute(
                "return Array.from(document.querySelectorAll('#messages .message[data-seq]'))
                     .map(m => Number(m.dataset.seq));",
                vec![],
            )
            .await?;
        let seqs: Vec<i64> = serde_json::from_value(seqs)?;
        anyhow::ensure!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "out of order: {seqs:?}"
        );
        Ok(())
    })
    .await?;
    for (client, who) in [(ann, "Ann"), (ben, "Ben"), (dan, "Dan")] {
        expect_logged(client, who, &[]).await?;
    }
    lab.snap(ann, "ann-group").await?;
    Ok(())
}
