//! The security headers both faces send: a strict Content-Security-Policy and its companions on
//! every HTML page (the web pages and the API docs), and no sniffing or storing of API answers.
//!
//! The pages hold no inline script, style or handler (`web/static/app.js` has them all, and htmx
//! runs with `allowEval` off), so their policy allows only this origin. `'self'` covers the
//! page's WebSocket to this origin too (`ws:`/`wss:`, CSP level 3; checked by the browser test).

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

/// The policy of the web pages and their htmx fragments.
pub const PAGE_POLICY: &str = "default-src 'self'; connect-src 'self'; object-src 'none'; \
                               base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The policy of the Swagger UI page: scripts as strict as the pages', but Swagger UI sets inline
/// styles and draws its icons from `data:` SVG images.
pub const DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; \
                               style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                               connect-src 'self'; object-src 'none'; base-uri 'none'; \
                               frame-ancestors 'none'; form-action 'self'";

/// Marks a web page or fragment: [`PAGE_POLICY`], not framed, not sniffed, referrers only to
/// this origin, never stored (signed-in pages hold messages; caching the others gains nothing).
pub async fn page(mut response: Response) -> Response {
    protect_html(response.headers_mut(), PAGE_POLICY);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Marks the API docs page: [`DOCS_POLICY`] and the same companions as a page's.
pub async fn docs(mut response: Response) -> Response {
    protect_html(response.headers_mut(), DOCS_POLICY);
    response
}

/// Marks an API answer: not stored unless its route says otherwise (the docs' static files may be
/// cached). Not sniffed either, as every answer ([`every_answer`]).
pub async fn api(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // A JSON answer opened directly in a browser is a download, never a page (ASVS 14.4.2).
    let json = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        headers
            .entry(header::CONTENT_DISPOSITION)
            .or_insert(HeaderValue::from_static(
                "attachment; filename=\"api.json\"",
            ));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// What every answer of the service gets, whichever face or refusal made it, applied once by the
/// server around everything: not sniffed (a JSON body is never run as a script, a text never shown
/// as HTML; ASVS 14.4.4), and text without a charset gets `charset=utf-8` (everything we serve is
/// UTF-8, and `ServeDir` names none; ASVS 14.4.1).
pub async fn every_answer(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let Some(kind) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return response;
    };
    let textual = kind.starts_with("text/") || kind.starts_with("application/javascript");
    if textual && !kind.contains("charset") {
        if let Ok(value) = HeaderValue::from_str(&format!("{kind}; charset=utf-8")) {
            headers.insert(header::CONTENT_TYPE, value);
        }
    }
    response
}

fn protect_html(headers: &mut HeaderMap, policy: &'static str) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    // For browsers without CSP's frame-ancestors.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}
