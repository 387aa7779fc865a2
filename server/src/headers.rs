//! Security headers on every answer. The app's pages get a strict Content-Security-
//! Policy: script only from the app's own files (and WebAssembly compiled from them),
//! no plug-ins, no `<base>`, never framed, connections only back to this origin. With
//! it, markup that reached a page anyway could not run script; the app also never turns
//! text into markup (`xtask/tests/no_markup.rs`). API answers are JSON that no browser
//! should ever render: their policy allows nothing at all.
//!
//! A static host that serves the app from another origin sets the same policy with the
//! API's origin added to `connect-src` (docs/OPERATIONS.md has the lines for nginx and
//! Caddy).

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;

/// The policy on every page and file of the app this server serves.
pub const APP_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy on API answers: nothing may load or run, nothing may frame it.
pub const API_CSP: &str = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn common(h: &mut HeaderMap, csp: &'static str) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    h.insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin"));
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("geolocation=(), microphone=(), payment=(), usb=(), interest-cohort=()"),
    );
}

/// For the app's files (`map_response` on the static router).
pub async fn app(mut resp: Response) -> Response {
    common(resp.headers_mut(), APP_CSP);
    resp
}

/// For the API's answers, the websocket's upgrade included.
pub async fn api(mut resp: Response) -> Response {
    common(resp.headers_mut(), API_CSP);
    // Cross-origin deployments call the API from the app's origin: CORS decides who may
    // read an answer, so the resource policy must not refuse it first.
    resp.headers_mut()
        .insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("cross-origin"));
    resp
}
