//! A hostile server for tests: the real `quietdesk-server` behind a proxy that a test
//! programs to rewrite any answer — another or an older chain, withheld key wraps, a
//! changed invitation role, downgraded key-derivation settings, a forged
//! `device_wiped`, a `reset` with old records, injected records. Clients under test
//! talk to [`HostileServer::base`]; the honest parties of a scenario may talk to the
//! real server directly.
//!
//! A rewrite sees the request (method, path with query, body) and the real server's
//! answer, and returns the answer to give instead (or `None` to pass it on). Rules are
//! tried in the order they were added; the first that answers wins. The proxy also
//! records every request path, so a test can assert what a client did *not* send.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request and the real server's answer to it.
pub struct Exchange {
    pub method: Method,
    /// Path and query, as the client sent them.
    pub path: String,
    pub request: Bytes,
    pub status: u16,
    pub body: Bytes,
}

impl Exchange {
    /// The answer as JSON (panics on a non-JSON answer: rules pick what they rewrite).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON answer")
    }
}

/// What the hostile server answers instead.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(status: u16, value: &serde_json::Value) -> Option<Answer> {
        Some(Answer { status, body: serde_json::to_vec(value).expect("JSON") })
    }
}

type Rule = Arc<dyn Fn(&Exchange) -> Option<Answer> + Send + Sync>;

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    rules: Arc<Mutex<Vec<Rule>>>,
    seen: Arc<Mutex<Vec<(Method, String)>>>,
}

pub struct HostileServer {
    pub base: String,
    proxy: Proxy,
    task: tokio::task::JoinHandle<()>,
}

impl HostileServer {
    /// A proxy on 127.0.0.1 in front of the server at `upstream`; honest until told.
    pub async fn start(upstream: &str) -> Self {
        let proxy = Proxy {
            upstream: upstream.to_owned(),
            http: reqwest::Client::new(),
            rules: Arc::default(),
            seen: Arc::default(),
        };
        let app = axum::Router::new().fallback(forward).with_state(proxy.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("proxy serves");
        });
        Self { base, proxy, task }
    }

    /// Add a rewrite rule (tried after the ones already added).
    pub fn rewrite(&self, rule: impl Fn(&Exchange) -> Option<Answer> + Send + Sync + 'static) {
        self.proxy.rules.lock().expect("rules").push(Arc::new(rule));
    }

    /// Be honest again.
    pub fn honest(&self) {
        self.proxy.rules.lock().expect("rules").clear();
    }

    /// Every request the proxy has seen so far (method and path), and forget them.
    pub fn take_seen(&self) -> Vec<(Method, String)> {
        std::mem::take(&mut *self.proxy.seen.lock().expect("seen"))
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(p): State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    p.seen.lock().expect("seen").push((method.clone(), path.clone()));
    let mut req = p.http.request(method.clone(), format!("{}{}", p.upstream, path)).body(body.clone());
    for name in ["authorization", "content-type"] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v.as_bytes());
        }
    }
    let Ok(resp) = req.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = resp.status().as_u16();
    let answer = resp.bytes().await.unwrap_or_default();
    let exchange = Exchange { method, path, request: body, status, body: answer };
    let rules: Vec<Rule> = p.rules.lock().expect("rules").clone();
    let (status, body) = match rules.iter().find_map(|r| r(&exchange)) {
        Some(a) => (a.status, Bytes::from(a.body)),
        None => (exchange.status, exchange.body),
    };
    (StatusCode::from_u16(status).expect("a status"), [("content-type", "application/json")], body).into_response()
}
