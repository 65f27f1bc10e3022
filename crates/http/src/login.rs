//! Logging a person in and out, the same way through both faces: the JSON API's `/auth` routes and
//! the web page's forms enforce the same login limits and set the same session cookie.

use crate::auth::{session_cookie_name, Authenticated};
use crate::dto::rfc3339;
use crate::error::ApiError;
use crate::ratelimit::{Attempt, LoginLimiter};
use crate::state::ApiState;
use app::{AppError, Password, UserProfile};
use axum::http::{header, HeaderMap};
use std::net::SocketAddr;
use tower_cookies::cookie::{time, SameSite};
use tower_cookies::{Cookie, Cookies};

/// A successful login: the session's token (also set as the cookie) and who logged in.
pub struct LoggedIn {
    pub token: String,
    pub profile: UserProfile,
    pub expires_at: String,
}

/// Checks the login limits and the password, starts a session and sets its cookie. Shared by the
/// JSON API and the web page's form, so both doors enforce the same rules.
pub async fn log_in(
    state: &ApiState,
    peer: SocketAddr,
    headers: &HeaderMap,
    cookies: &Cookies,
    username: &str,
    password: &str,
) -> Result<LoggedIn, ApiError> {
    let address =
        crate::client::client_ip(peer.ip(), headers, &state.settings.trusted_proxies).to_string();
    let limiter = &state.limiter;
    let delay = match limiter
        .begin_attempt(username, &address)
        .await
        .map_err(|e| ApiError::unavailable(&e))?
    {
        Attempt::Refused { retry_after_secs } => {
            return Err(ApiError::too_many_requests(retry_after_secs));
        }
        Attempt::Proceed { delay } => delay,
    };
    // Until decided, the attempt is taken back however this ends, a request cut short by the
    // outage deadline included.
    let undecided = Undecided {
        limiter: Some(limiter.clone()),
        username: username.to_owned(),
        address: address.clone(),
    };
    if !delay.is_zero() {
        tracing::info!(?delay, "login slowed: this username failed often");
        tokio::time::sleep(delay).await;
    }
    let profile = match state
        .accounts
        .authenticate(username, Password::unchecked(password))
        .await
    {
        Ok(profile) => profile,
        // The attempt was counted before checking: a failure needs nothing more.
        Err(AppError::InvalidCredentials) => {
            undecided.decided();
            return Err(AppError::InvalidCredentials.into());
        }
        Err(other) => {
            // Undecided, not failed (the fault suite found retries through a database outage
            // locking every client of one address out for the whole window). Taken back before
            // answering, so the client's retry finds it gone.
            undecided.take_back().await;
            return Err(other.into());
        }
    };
    limiter
        .record_success(username, &address)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    undecided.decided();

    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let (token, session) = state
        .sessions
        .create(profile.id, user_agent, Some(&address))
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    let lifetime = state.sessions.policy().absolute_lifetime;
    let mut cookie = session_cookie(state, token.as_str().to_owned());
    cookie.set_max_age(time::Duration::seconds(lifetime.as_secs() as i64));
    cookies.add(cookie);
    tracing::info!(user_id = %profile.id, "logged in");
    Ok(LoggedIn {
        token: token.as_str().to_owned(),
        profile,
        expires_at: rfc3339(session.created_at + lifetime.as_secs() as i64),
    })
}

/// A counted login attempt not yet known to have failed or succeeded. Dropped undecided (the
/// request was cut short: the deadline during an outage, a client gone), it is taken back in
/// the background: a login that was never checked is no failed login.
struct Undecided {
    /// `None` once decided.
    limiter: Option<LoginLimiter>,
    username: String,
    address: String,
}

impl Undecided {
    /// It failed (it stays counted) or succeeded (recorded as such).
    fn decided(mut self) {
        self.limiter = None;
    }

    /// Neither: takes it back now, before answering.
    async fn take_back(mut self) {
        if let Some(limiter) = self.limiter.take() {
            take_back(&limiter, &self.username, &self.address).await;
        }
    }
}

impl Drop for Undecided {
    fn drop(&mut self) {
        let Some(limiter) = self.limiter.take() else {
            return;
        };
        let username = std::mem::take(&mut self.username);
        let address = std::mem::take(&mut self.address);
        tokio::spawn(async move { take_back(&limiter, &username, &address).await });
    }
}

async fn take_back(limiter: &LoginLimiter, username: &str, address: &str) {
    if let Err(error) = limiter.take_back(username, address).await {
        tracing::warn!(%error, "cannot take back an undecided login attempt");
    }
}

/// Ends the session and removes the cookie.
pub async fn log_out(
    state: &ApiState,
    auth: &Authenticated,
    cookies: &Cookies,
) -> Result<(), ApiError> {
    state
        .sessions
        .revoke(auth.session.user_id, &auth.session.id)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    // The removal carries the cookie's attributes: a browser ignores a `__Host-` cookie, even an
    // expired one, that is not `Secure` with `Path=/`.
    cookies.remove(session_cookie(state, String::new()));
    Ok(())
}

/// The session cookie with `value`: HttpOnly, SameSite=Lax, `Path=/`, no `Domain`, and `Secure`
/// (named `__Host-session`) when COOKIE_SECURE is set.
fn session_cookie(state: &ApiState, value: String) -> Cookie<'static> {
    let secure = state.settings.cookie_secure;
    let mut cookie = Cookie::new(session_cookie_name(secure), value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(secure);
    cookie
}
