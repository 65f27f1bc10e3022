//! Who is calling: the session cookie or an `Authorization: Bearer` token, and the cross-site guard.

use crate::error::ApiError;
use crate::session::Session;
use crate::state::ApiState;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tower_cookies::Cookies;

/// The session cookie's name over plain http (local development).
pub const SESSION_COOKIE: &str = "session";

/// The session cookie's name when it is `Secure` (COOKIE_SECURE). Browsers accept a `__Host-`
/// cookie only over https, with `Secure`, `Path=/` and no `Domain`, and only from this host: no
/// sibling subdomain and no plain-http page can set or shadow it (ASVS 3.4.4).
pub const SECURE_SESSION_COOKIE: &str = "__Host-session";

/// The name the session cookie has on this server: [`SECURE_SESSION_COOKIE`] when it is marked
/// `Secure`, else [`SESSION_COOKIE`]. Only that name is read: a plain `session` cookie is not a
/// session on a secure server (anyone who could set it there could pick its value).
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The session token the request's cookie carries, if any.
pub fn session_cookie(cookies: &Cookies, secure: bool) -> Option<String> {
    cookies
        .get(session_cookie_name(secure))
        .map(|cookie| cookie.value().to_owned())
}

/// An authenticated caller. Extracting it answers 401 when there is no live session.
pub struct Authenticated {
    pub session: Session,
    /// True when the session came from the cookie (a browser): such requests need the
    /// cross-site checks that bearer requests do not.
    pub via_cookie: bool,
}

impl<S> FromRequestParts<S> for Authenticated
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = ApiState::from_ref(state);
        let bearer = bearer_token(&parts.headers)?;
        let cookies = Cookies::from_request_parts(parts, &state)
            .await
            .map_err(|(_, msg)| ApiError::bug(msg))?;
        let name = session_cookie_name(state.settings.cookie_secure);
        let cookie = match session_cookie(&cookies, state.settings.cookie_secure) {
            Some(cookie) => Some(cookie),
            // Named but unreadable (e.g. `session` with no value): presented, and it fails.
            None if names_cookie(&parts.headers, name) => return Err(ApiError::unauthorized()),
            None => None,
        };
        let (token, via_cookie) = match (bearer, cookie) {
            (Some(bearer), Some(cookie)) => {
                // Every credential presented must hold: a valid token does not excuse a dead
                // or forged cookie beside it, nor the other way round.
                session_of(&state, &cookie).await?;
                (bearer, false)
            }
            (Some(bearer), None) => (bearer, false),
            (None, Some(cookie)) => (cookie, true),
            (None, None) => return Err(ApiError::unauthorized()),
        };
        Ok(Self {
            session: session_of(&state, &token).await?,
            via_cookie,
        })
    }
}

/// Whether the request's `Cookie` headers name `name`, with or without a value.
fn names_cookie(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .any(|pair| pair.split('=').next().unwrap_or_default().trim() == name)
}

async fn session_of(state: &ApiState, token: &str) -> Result<Session, ApiError> {
    match state.sessions.authenticate(token).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(ApiError::unauthorized()),
        Err(e) => Err(ApiError::unavailable(&e)),
    }
}

/// The bearer token, if the request carries one; a malformed Authorization header is a 401.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::unauthorized())?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(ApiError::unauthorized()),
    }
}

/// Whether a request's `Origin` (or `Sec-Fetch-Site`) says it comes from another site.
pub fn is_cross_site(headers: &HeaderMap, allowed_origins: &[String]) -> bool {
    match headers.get(header::ORIGIN) {
        Some(origin) => origin
            .to_str()
            .ok()
            .and_then(origin_of)
            .is_none_or(|origin| !allowed_origins.contains(&origin)),
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes() == b"cross-site"),
    }
}

/// Whether both faces refuse `request` as cross-site: it changes state, a browser says it comes
/// from another site, and it is not a bearer request.
///
/// The session cookie is SameSite=Lax, and this checks `Origin` (or, without it, `Sec-Fetch-Site`)
/// against PUBLIC_URL as a second line. Bearer requests are exempt: a browser never attaches a
/// bearer token by itself. Requests with neither header come from non-browser clients.
pub fn is_cross_site_request(request: &Request, allowed_origins: &[String]) -> bool {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let headers = request.headers();
    let bearer = matches!(bearer_token(headers), Ok(Some(_)));
    !safe && !bearer && is_cross_site(headers, allowed_origins)
}

/// Refuses cross-site requests ([`is_cross_site_request`]) with the API's JSON error.
pub async fn reject_cross_site(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if is_cross_site_request(&request, &state.settings.allowed_origins) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            "requests from other sites are not allowed",
        ));
    }
    Ok(next.run(request).await)
}

/// The origin a browser sends for a page at `url` (`scheme://host[:port]`, lowercase, default port
/// left out), so a configured URL and an `Origin` header compare equal when they name one site.
pub fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    Some(url.origin().ascii_serialization()).filter(|origin| origin != "null")
}

#[cfg(test)]
mod tests {
    use super::{is_cross_site, origin_of};
    use axum::http::{header, HeaderMap, HeaderValue};

    #[test]
    fn origins_drop_the_path_the_case_and_the_default_port() {
        assert_eq!(
            origin_of("https://Chat.example.org/app/").as_deref(),
            Some("https://chat.example.org")
        );
        assert_eq!(
            origin_of("https://chat.example.org:443").as_deref(),
            Some("https://chat.example.org")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("chat.example.org"), None);
    }

    #[test]
    fn only_the_allowed_origin_is_same_site() {
        let allowed = vec!["https://chat.example.org".to_owned()];
        let from = |origin: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
            is_cross_site(&headers, &allowed)
        };
        assert!(!from("https://chat.example.org"));
        assert!(!from("https://CHAT.example.org:443"));
        assert!(from("https://evil.example.org"));
        assert!(from("http://chat.example.org"));
        assert!(from("null"));
    }
}
