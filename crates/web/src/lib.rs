//! The web page: register, log in, conversations with live updates, settings.
//!
//! Server-rendered with askama; htmx for partial updates, and a few lines of our own
//! (`web/static/app.js`) that follow the JSON WebSocket and ask the server for rendered fragments.
//! Every page goes through the same command handlers and read models as the JSON API.

mod chat;
mod cross_site;
mod device;
mod groups;
mod links;
mod members;
mod pages;
mod receipts;
mod render;
mod sending;
mod settings;
mod timeline;
mod views;

use axum::http::{header, HeaderValue};
use axum::middleware::{from_fn_with_state, map_response};
use axum::routing::{get, post};
use axum::Router;
use http_api::outage::{self, Outage};
use http_api::ApiState;
use tower_cookies::CookieManagerLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// The page for an address that is nothing (the server's fallback answers browsers with it), with
/// every page's headers.
pub async fn not_found_page() -> axum::response::Response {
    http_api::headers::page(render::not_found().await).await
}

pub fn router(state: ApiState) -> Router {
    let web_dir = state.settings.web_dir.clone();
    let cache = SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    let pages = Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/register", get(pages::register_form).post(pages::register))
        .route("/logout", post(pages::logout))
        .route("/conversations", get(chat::list_page).post(chat::start))
        .route("/conversations/list", get(chat::list_fragment))
        .route("/conversations/{id}", get(chat::conversation_page))
        .route("/conversations/{id}/older", get(chat::older))
        .route(
            "/conversations/{id}/messages/{message_id}",
            get(chat::message_fragment),
        )
        .route("/conversations/{id}/send", post(sending::send))
        .route("/groups", post(groups::create))
        .route(
            "/conversations/{id}/members",
            get(members::members).post(members::add),
        )
        .route(
            "/conversations/{id}/members/{username}/remove",
            post(members::remove),
        )
        .route(
            "/conversations/{id}/members/{username}/role",
            post(members::set_role),
        )
        .route("/conversations/{id}/rename", post(members::rename))
        .route("/conversations/{id}/leave", post(groups::leave))
        .route(
            "/conversations/{id}/messages/{message_id}/readers",
            get(receipts::readers),
        )
        .route("/conversations/{id}/read", post(sending::read))
        .route("/settings", get(settings::page))
        .route("/settings/telegram", post(settings::link_telegram))
        .route("/settings/telegram/unlink", post(settings::unlink_telegram))
        .route(
            "/settings/sessions/revoke-others",
            post(settings::revoke_others),
        )
        .layer(from_fn_with_state(
            Outage::new(state.conversations.deadline().clone(), render::error),
            outage::answer_in_time,
        ))
        .layer(from_fn_with_state(state.clone(), cross_site::reject))
        .layer(CookieManagerLayer::new())
        .layer(map_response(http_api::headers::page))
        .with_state(state);
    let assets = Router::new()
        .nest_service("/static", ServeDir::new(web_dir.join("static")))
        // Asked for by pages that link no icon (the API docs), and by some browsers regardless.
        .route_service(
            "/favicon.ico",
            tower_http::services::ServeFile::new(web_dir.join("static/favicon.svg")),
        )
        .nest_service(
            "/vendor/htmx.min.js",
            tower_http::services::ServeFile::new(
                web_dir.join("node_modules/htmx.org/dist/htmx.min.js"),
            ),
        )
        .layer(cache);
    pages.merge(assets)
}

#[cfg(test)]
mod tests {
    /// What a strict Content-Security-Policy blocks, or htmx with allowEval off refuses to run.
    const INLINE_CODE: [&str; 4] = [
        "hx-on",  // hx-on:*, hx-on::*
        "js:",    // hx-vals="js:...", and "javascript:" too
        "style=", // inline style attributes
        "<style", // inline style elements
    ];

    /// Whether `line` has an event handler attribute (` onclick=`, ` onload=` ...).
    fn has_handler_attribute(line: &str) -> bool {
        line.match_indices(" on").any(|(at, _)| {
            let rest = &line[at + 3..];
            let name_length = rest.chars().take_while(char::is_ascii_lowercase).count();
            name_length > 0 && rest[name_length..].starts_with('=')
        })
    }

    #[test]
    fn templates_hold_no_inline_code() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/templates");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("web/templates") {
            let path = entry.expect("a template").path();
            let html = std::fs::read_to_string(&path).expect("a readable template");
            for (number, line) in html.lines().enumerate() {
                let place = format!("{}:{}", path.display(), number + 1);
                for pattern in INLINE_CODE {
                    assert!(!line.contains(pattern), "{place}: {pattern:?} in {line:?}");
                }
                assert!(
                    !has_handler_attribute(line),
                    "{place}: a handler in {line:?}"
                );
                if line.contains("<script") {
                    assert!(line.contains(" src="), "{place}: an inline script");
                }
            }
            checked += 1;
        }
        assert!(
            checked >= 5,
            "only {checked} templates in {}",
            dir.display()
        );
    }

    #[test]
    fn handler_attributes_are_told_from_words() {
        assert!(has_handler_attribute(r#"<button onclick="go()">"#));
        assert!(has_handler_attribute("<img src=x onerror=alert(1)>"));
        assert!(!has_handler_attribute("(valid once, for 10 minutes)"));
        assert!(!has_handler_attribute("log on = sign in"));
    }
}
