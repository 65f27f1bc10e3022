//! Register, log in, log out.

use crate::render::{self, Visitor};
use crate::views::{LoginPage, RegisterPage};
use app::{AppError, Password};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use domain::{DisplayName, Username};
use http_api::limits::within;
use http_api::login::{log_in, log_out};
use http_api::ApiState;
use kv::Limit;
use serde::Deserialize;
use std::net::SocketAddr;
use tower_cookies::Cookies;

pub async fn home(State(state): State<ApiState>, cookies: Cookies) -> Redirect {
    let logged_in = match http_api::auth::session_cookie(&cookies, state.settings.cookie_secure) {
        Some(token) => matches!(state.sessions.authenticate(&token).await, Ok(Some(_))),
        None => false,
    };
    Redirect::to(if logged_in {
        "/conversations"
    } else {
        "/login"
    })
}

pub async fn login_form() -> Response {
    render::ok(&LoginPage {
        me: None,
        username: String::new(),
        form_error: None,
        username_error: None,
        password_error: None,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
}

pub async fn login(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    cookies: Cookies,
    Form(form): Form<LoginForm>,
) -> Response {
    let mut page = LoginPage {
        me: None,
        username: form.username.clone(),
        form_error: None,
        username_error: None,
        password_error: None,
    };
    if form.username.trim().is_empty() {
        page.username_error = Some("Enter your username.".into());
    }
    if form.password.is_empty() {
        page.password_error = Some("Enter your password.".into());
    }
    if page.username_error.is_some() || page.password_error.is_some() {
        return render::page(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    match log_in(
        &state,
        peer,
        &headers,
        &cookies,
        form.username.trim(),
        &form.password,
    )
    .await
    {
        Ok(_) => Redirect::to("/conversations").into_response(),
        Err(error) => {
            let status = error.status();
            page.form_error = Some(match status {
                StatusCode::UNAUTHORIZED => "Wrong username or password.".into(),
                StatusCode::TOO_MANY_REQUESTS => {
                    "Too many failed attempts. Wait a few minutes and try again.".into()
                }
                _ => return render::error(error),
            });
            render::page(status, &page)
        }
    }
}

pub async fn register_form() -> Response {
    render::ok(&RegisterPage::default())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RegisterForm {
    username: String,
    password: String,
    display_name: String,
}

pub async fn register(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    cookies: Cookies,
    Form(form): Form<RegisterForm>,
) -> Response {
    let mut page = RegisterPage {
        username: form.username.clone(),
        display_name: form.display_name.clone(),
        ..RegisterPage::default()
    };
    let username = Username::parse(&form.username)
        .map_err(|e| page.username_error = Some(sentence(&e.message)));
    let password = Password::parse(&form.password)
        .map_err(|e| page.password_error = Some(sentence(&e.message)));
    let display_name = if form.display_name.trim().is_empty() {
        Ok(None)
    } else {
        DisplayName::parse(&form.display_name)
            .map(Some)
            .map_err(|e| page.display_name_error = Some(sentence(&e.message)))
    };
    let (Ok(username), Ok(password), Ok(display_name)) = (username, password, display_name) else {
        return render::page(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let address = http_api::client::client_ip(peer.ip(), &headers, &state.settings.trusted_proxies);
    if let Err(error) = within(&state.rate, Limit::Register, address).await {
        return render::error(error);
    }
    match state
        .accounts
        .register(username.clone(), password, display_name)
        .await
    {
        Ok(_) => {}
        Err(AppError::UsernameTaken) => {
            page.username_error = Some("This username is taken.".into());
            return render::page(StatusCode::CONFLICT, &page);
        }
        Err(other) => return render::error(other.into()),
    }
    match log_in(
        &state,
        peer,
        &headers,
        &cookies,
        username.as_str(),
        &form.password,
    )
    .await
    {
        Ok(_) => Redirect::to("/conversations").into_response(),
        Err(_) => Redirect::to("/login").into_response(),
    }
}

pub async fn logout(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    cookies: Cookies,
) -> Response {
    match log_out(&state, &auth, &cookies).await {
        Ok(()) => Redirect::to("/login").into_response(),
        Err(error) => render::error(error),
    }
}

/// "must be at least 8 characters long" -> "Must be at least 8 characters long."
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}
