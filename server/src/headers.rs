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

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of the app's pages (and of its scripts, which a worker runs under its
/// own response's policy). `worker-src`, `font-src` and `manifest-src` fall back to
/// `default-src 'self'`.
pub const APP_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The policy on API answers: nothing may load or run, nothing may frame it.
pub const API_CSP: &str = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What a document (or a worker's script) needs: the policy, never framed, no referrer,
/// its own browsing context group, no powerful features it does not use.
fn document(h: &mut HeaderMap, csp: &'static str) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("geolocation=(), microphone=(), payment=(), usb=()"),
    );
}

/// Whether a response is a page or a script a worker runs (`/sw.js`, the app's
/// `worker.js`): those are the responses whose own policy a browser applies. The rest
/// (the page's modules, the wasm, the style, images, JSON) is used under the page's
/// policy, and the headers would only add bytes to the first visit.
fn runs(path: &str, resp: &Response) -> bool {
    let ty = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    ty.starts_with("text/html") || path.ends_with("sw.js") || path.ends_with("worker.js") || !resp.status().is_success()
}

/// For the app's files (a middleware on the static router).
pub async fn app(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    if runs(&path, &resp) {
        document(resp.headers_mut(), APP_CSP);
    }
    resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// For the API's answers, the websocket's upgrade included. Cross-origin deployments
/// call the API from the app's origin: CORS decides who may read an answer.
pub async fn api(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(API_CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}
