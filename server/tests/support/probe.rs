//! Sending a request that must be refused, and checking the answer is a clean 4xx
//! with the JSON error body (`bad_input.rs`, `bad_input_more.rs`).
#![allow(dead_code)]

use reqwest::StatusCode;
use shared::api::{path, ErrorBody};

pub struct Probe {
    pub http: reqwest::Client,
    pub base: String,
}

/// A body as sent: its content type and bytes.
pub type Body = Option<(&'static str, Vec<u8>)>;

impl Probe {
    pub fn new(base: &str) -> Self {
        Self { http: reqwest::Client::new(), base: base.to_owned() }
    }

    /// Send a request that must be refused: its status (asserted 4xx) and its JSON
    /// error body (asserted to have a code and a message).
    pub async fn refused(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> (StatusCode, ErrorBody) {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some((ct, b)) = body {
            req = req.header("content-type", ct).body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let short = &text[..text.len().min(200)];
        assert!(status.is_client_error(), "{method} {}: {status} {short}", &path[..path.len().min(80)]);
        let body: ErrorBody =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} non-JSON error body {short:?}: {e}"));
        assert!(!body.code.is_empty() && !body.message.is_empty(), "{body:?}");
        (status, body)
    }

    pub async fn healthy(&self) {
        let r = self.http.get(format!("{}{}", self.base, path::HEALTH)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "server stopped serving");
    }
}

pub fn json(v: &serde_json::Value) -> Body {
    Some(("application/json", serde_json::to_vec(v).unwrap()))
}

/// Bodies that are not `{ "<wrapper>": good }`: `good` (an object) without each of its
/// `fields` in turn, then shapes no endpoint takes (an empty object, an array, cut-off
/// JSON, another content type, a body over the size limit).
pub fn malformed(wrapper: &str, good: &serde_json::Value, fields: &[&str]) -> Vec<Body> {
    let mut bodies: Vec<Body> = fields
        .iter()
        .map(|field| {
            let mut without = good.clone();
            without.as_object_mut().expect("an object").remove(*field);
            json(&serde_json::json!({ wrapper: without }))
        })
        .collect();
    let mut oversized = b"{\"pad\":\"".to_vec();
    oversized.resize(shared::api::MAX_BODY_BYTES + 16, b'x');
    oversized.extend(b"\"}");
    bodies.extend([
        json(&serde_json::json!({})),
        json(&serde_json::json!([])),
        Some(("application/json", format!("{{\"{wrapper}\":").into_bytes())),
        Some(("text/plain", b"{}".to_vec())),
        Some(("application/json", oversized)),
    ]);
    bodies
}
