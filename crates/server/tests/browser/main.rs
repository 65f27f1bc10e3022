//! The web page in real browsers: headless Chromium windows (one per person, each with its own
//! cookie jar) driven through chromedriver with fantoccini, against the app with real Postgres,
//! Redis and NATS.
//!
//! Whatever the browsers log at warning level or above fails the test unless the scenario caused it
//! on purpose: a Content-Security-Policy violation, a script error, a failed load (a missing favicon).
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`;
//! `scripts/test` installs them). `CHROMIUM` and `CHROMEDRIVER` override their paths.
//! Screenshots of every window are saved to `target/screenshots/{test}-{person}.png`, and of
//! chosen states to `target/screenshots/{test}-{state}.png`.

#[path = "../common/mod.rs"]
mod common;

mod a11y;
mod axe;
mod chromium;
mod devtools;
mod docs;
mod edit;
mod expected;
mod group;
mod notify;
mod offline;
mod page;
mod people;
mod phone;
mod settings;
mod sound;
mod two_people;
mod unread;

use chromium::{Lab, DESKTOP, PHONE};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_in_real_browsers() -> anyhow::Result<()> {
    let lab = Lab::start("chat", &["alice", "bob"], PHONE).await?;
    let started = Instant::now();
    let outcome = two_people::scenario(&lab.browsers[0], &lab.browsers[1], lab.base()).await;
    eprintln!("browser scenario took {:?}", started.elapsed());
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_people_chat_in_a_group_and_see_who_read_what() -> anyhow::Result<()> {
    let lab = Lab::start("group", &["ann", "ben", "cat", "dan"], DESKTOP).await?;
    let started = Instant::now();
    let outcome = group::scenario(&lab).await;
    eprintln!("group scenario took {:?}", started.elapsed());
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_opens_at_the_first_unread_message() -> anyhow::Result<()> {
    let lab = Lab::start("unread", &["alice"], DESKTOP).await?;
    let outcome = unread::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_written_offline_wait_and_go_out_when_back() -> anyhow::Result<()> {
    let lab = Lab::start("offline", &["alice"], DESKTOP).await?;
    let outcome = offline::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_chat_fills_the_screen() -> anyhow::Result<()> {
    let lab = Lab::start("phone", &["alice", "bob"], PHONE).await?;
    let outcome = phone::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_error_pages_read_as_people_talk() -> anyhow::Result<()> {
    let lab = Lab::start("settings", &["alice"], DESKTOP).await?;
    let outcome = settings::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_focus_and_news_reach_screen_readers() -> anyhow::Result<()> {
    let lab = Lab::start("a11y", &["alice"], DESKTOP).await?;
    let outcome = a11y::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_work_and_dark_mode_follows_the_system() -> anyhow::Result<()> {
    let lab = Lab::start("expected", &["alice"], DESKTOP).await?;
    let outcome = expected::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_messages_are_edited_and_deleted_by_keyboard() -> anyhow::Result<()> {
    let lab = Lab::start("edit", &["alice", "bob"], DESKTOP).await?;
    let outcome = edit::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_show_only_while_the_tab_is_in_the_background() -> anyhow::Result<()> {
    let lab = Lab::start("notify", &["alice"], DESKTOP).await?;
    let outcome = notify::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_suggested_as_one_types_and_chosen_by_keyboard() -> anyhow::Result<()> {
    let lab = Lab::start("people", &["alice"], DESKTOP).await?;
    let outcome = people::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_suggested_people_fit_and_are_tapped() -> anyhow::Result<()> {
    let lab = Lab::start("people-phone", &["alice"], PHONE).await?;
    let outcome = people::on_a_phone(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sound_plays_only_when_turned_on_and_the_tab_is_in_the_background() -> anyhow::Result<()>
{
    let lab = Lab::start("sound", &["alice"], DESKTOP).await?;
    let outcome = sound::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_written_offline_survive_a_reload_and_go_out_once() -> anyhow::Result<()> {
    let lab = Lab::start("offline-reload", &["alice"], DESKTOP).await?;
    let outcome = offline::survives_a_reload(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_docs_page_passes_axe() -> anyhow::Result<()> {
    let lab = Lab::start("docs", &["reader"], DESKTOP).await?;
    let outcome = docs::scenario(&lab).await;
    lab.finish(outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_unread_messages_than_a_page_open_at_the_first_of_them() -> anyhow::Result<()> {
    let lab = Lab::start("unread-many", &["alice"], DESKTOP).await?;
    let outcome = unread::more_than_a_page(&lab).await;
    lab.finish(outcome).await
}
