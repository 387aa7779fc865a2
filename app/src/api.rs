//! The typed HTTP client. Paths and shapes come from `shared::api`; each request type
//! names its response type, so the pairing is checked at compile time.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_net::http::{Request, RequestBuilder};
use shared::api::{path, Cursor, Endpoint, Method, PullResponse, PushRequest, MAX_PULL_LIMIT};
use shared::ids::TeamId;
use shared::sync::{PushOutcome, Transport, TransportError};

/// Where the API is: the `quietdesk-api` meta tag of the page (`https://api.example.com`),
/// or, without one, the origin the app was served from. Serving the app from a static
/// host and the API from another origin is the recommended deployment (SECURITY.md).
pub fn api_base() -> String {
    thread_local! {
        static BASE: String = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector("meta[name=quietdesk-api]").ok().flatten())
            .and_then(|m| m.get_attribute("content"))
            .map(|c| c.trim().trim_end_matches('/').to_owned())
            .unwrap_or_default();
    }
    BASE.with(Clone::clone)
}

/// The server, reached over `fetch`. Cloning shares the session token.
#[derive(Clone, Default)]
pub struct Api {
    token: Rc<RefCell<Option<String>>>,
}

/// A request body as a `Blob`: `fetch` with a typed array holds the page for tens of
/// milliseconds per megabyte (a push of 1,000 records is about 2 MB), with a `Blob` for
/// a few.
fn blob_of(bytes: &[u8]) -> Option<web_sys::Blob> {
    let array = js_sys::Uint8Array::from(bytes);
    web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&array)).ok()
}

impl Api {
    pub fn set_token(&self, token: Option<String>) {
        *self.token.borrow_mut() = token;
    }

    pub fn token(&self) -> Option<String> {
        self.token.borrow().clone()
    }

    fn builder(&self, method: Method, url: &str) -> RequestBuilder {
        let url = format!("{}{url}", api_base());
        let b = match method {
            Method::Get => Request::get(&url),
            Method::Post => Request::post(&url),
            Method::Put => Request::put(&url),
        };
        match self.token.borrow().as_deref() {
            Some(t) => b.header("Authorization", &format!("Bearer {t}")),
            None => b,
        }
    }

    /// One request, not generic: the body is already JSON bytes, the answer comes back
    /// as status and bytes. Every typed call is a thin wrapper around it, so each new
    /// request/response pair adds its serde code to the .wasm and little else.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), TransportError> {
        let b = self.builder(method, url);
        let req = match body {
            Some(bytes) => b
                .header("Content-Type", "application/json")
                .body(blob_of(&bytes).ok_or_else(|| TransportError::Protocol("request body".into()))?)
                .map_err(|e| TransportError::Protocol(e.to_string()))?,
            None => b.build().map_err(|e| TransportError::Protocol(e.to_string()))?,
        };
        let resp = req.send().await.map_err(|_| TransportError::Offline)?;
        let status = resp.status();
        let bytes = resp.binary().await.map_err(|_| TransportError::Offline)?;
        Ok((status, bytes))
    }

    /// Bytes, then `serde_json::from_slice`: every JSON read in the app goes through the
    /// one slice reader (a `&str` reader beside it would compile every `Deserialize`
    /// impl twice into the .wasm).
    fn decode<R: serde::de::DeserializeOwned>((status, body): (u16, Vec<u8>)) -> Result<R, TransportError> {
        if (200..300).contains(&status) {
            serde_json::from_slice(&body).map_err(|e| TransportError::Protocol(e.to_string()))
        } else {
            Err(error_of(status, &body))
        }
    }

    fn json<B: serde::Serialize>(body: &B) -> Result<Vec<u8>, TransportError> {
        serde_json::to_vec(body).map_err(|e| TransportError::Protocol(e.to_string()))
    }

    pub async fn call<E: Endpoint>(&self, req: &E) -> Result<E::Response, TransportError> {
        Self::decode(self.exchange(E::METHOD, E::PATH, Some(Self::json(req)?)).await?)
    }

    pub async fn get<R: serde::de::DeserializeOwned>(&self, url: &str) -> Result<R, TransportError> {
        Self::decode(self.exchange(Method::Get, url, None).await?)
    }

    pub async fn post<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        body: &B,
    ) -> Result<R, TransportError> {
        Self::decode(self.exchange(Method::Post, url, Some(Self::json(body)?)).await?)
    }

    pub async fn put<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        body: &B,
    ) -> Result<R, TransportError> {
        Self::decode(self.exchange(Method::Put, url, Some(Self::json(body)?)).await?)
    }
}

/// What the server answered, as an error. The transport only reports: what to do about
/// an answer (a `device_wiped`, say) is decided by the account layer, never here.
fn error_of(status: u16, body: &[u8]) -> TransportError {
    shared::sync::decode_error(status, body)
}

/// The sync engine's view of the server for one team.
#[derive(Clone)]
pub struct HttpTransport {
    pub api: Api,
    pub team: TeamId,
    /// A large download under way (a new device's first sync), for its progress bar.
    pub download: leptos::prelude::RwSignal<Option<Download>>,
}

/// How far a large download has come: the server's count of what it will send (only
/// an estimate: nothing is decided by it) and how many changes have arrived.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Download {
    pub done: u64,
    pub total: u64,
    /// `Date.now()` when it began, and at the last page.
    pub started_ms: f64,
    pub now_ms: f64,
}

impl Download {
    /// Milliseconds left at the rate so far, once there is a rate to go by.
    pub fn left_ms(&self) -> Option<f64> {
        let elapsed = self.now_ms - self.started_ms;
        (self.done >= 2 * MAX_PULL_LIMIT as u64 && elapsed > 0.0)
            .then(|| elapsed * self.total.saturating_sub(self.done) as f64 / self.done as f64)
    }
}

/// A download is shown once the server says it holds more than this many changes.
const SHOW_DOWNLOAD_FROM: u64 = 2 * MAX_PULL_LIMIT as u64;

/// A push's JSON (what `serde_json::to_vec` makes of it), an item at a time with
/// breaths between: 1,000 sealed records are 2 MB of base64, written in one go a task
/// of tens of milliseconds.
async fn push_json(req: &PushRequest) -> Result<Vec<u8>, TransportError> {
    let json = |e: serde_json::Error| TransportError::Protocol(e.to_string());
    let size: usize = req.items.iter().map(|i| i.sealed.0.len() / 3 * 4 + 200).sum();
    let mut out = Vec::with_capacity(size + 100);
    out.extend_from_slice(b"{\"items\":[");
    for (i, item) in req.items.iter().enumerate() {
        crate::compute::breathe().await;
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, item).map_err(json)?;
    }
    out.push(b']');
    if let Some(approval) = &req.approval {
        out.extend_from_slice(b",\"approval\":");
        serde_json::to_writer(&mut out, approval).map_err(json)?;
    }
    out.push(b'}');
    Ok(out)
}

impl Transport for HttpTransport {
    async fn push(&self, req: &PushRequest) -> Result<PushOutcome, TransportError> {
        let url = path::fill(path::PUSH, &self.team.to_string());
        let body = push_json(req).await?;
        crate::compute::breathe().await;
        let (status, body) = self.api.exchange(Method::Post, &url, Some(body)).await?;
        if !matches!(status, 200 | 409) {
            return Err(error_of(status, &body));
        }
        shared::sync::decode_push_response(status, &body)
    }

    async fn pull(&self, since: Cursor, limit: u32) -> Result<PullResponse, TransportError> {
        use leptos::prelude::{GetUntracked, Set};
        // The first pull of a sync asks how much there is; later pages count up to it.
        let going = self.download.get_untracked();
        let count = if going.is_none() { "&count=true" } else { "" };
        let url = format!("{}?since={since}&limit={limit}{count}", path::fill(path::PULL, &self.team.to_string()));
        let page: Result<PullResponse, TransportError> = self.api.get(&url).await;
        let now = js_sys::Date::now();
        let next = match (&page, going) {
            (Ok(p), _) if !p.more => None,
            (Ok(p), Some(d)) => {
                let done = d.done + p.changes.len() as u64;
                Some(Download { done, total: d.total.max(done), now_ms: now, ..d })
            }
            (Ok(p), None) => p.remaining.filter(|&r| r > SHOW_DOWNLOAD_FROM).map(|total| Download {
                done: p.changes.len() as u64,
                total,
                started_ms: now,
                now_ms: now,
            }),
            (Err(_), _) => None,
        };
        if next != going {
            self.download.set(next);
        }
        page
    }

    async fn beacons(&self) -> Option<Result<Vec<shared::beacon::Beacon>, TransportError>> {
        let answer: Result<shared::api::BeaconsResponse, _> =
            self.api.get(&path::fill(path::BEACONS, &self.team.to_string())).await;
        Some(answer.map(|a| a.beacons))
    }

    async fn kept_versions(&self, record: shared::ids::RecordId) -> Result<shared::api::KeptVersions, TransportError> {
        self.api.get(&kept_url(self.team, record)).await
    }

    async fn kept_version(
        &self,
        record: shared::ids::RecordId,
        version: u64,
    ) -> Result<shared::api::KeptVersion, TransportError> {
        self.api.get(&format!("{}/{version}", kept_url(self.team, record))).await
    }
}

/// Where the server lists `record`'s kept versions (`path::KEPT_VERSIONS`); one version
/// is at `/{version}` below it (`path::KEPT_VERSION`).
fn kept_url(team: TeamId, record: shared::ids::RecordId) -> String {
    path::fill(&path::fill(path::KEPT_VERSIONS, &team.to_string()), &record.to_string())
}

#[cfg(test)]
mod tests {
    use shared::api::PushItem;
    use shared::crypto::envelope::SealedRecord;
    use shared::ids::RecordId;
    use wasm_bindgen_test::*;

    use super::*;

    /// A push's body written an item at a time is the JSON of the request as a whole
    /// (a new field of `PushRequest` fails to build here until `push_json` writes it).
    #[wasm_bindgen_test]
    async fn a_push_body_written_in_pieces_is_the_requests_json() {
        let item = |n: u8| PushItem {
            record: RecordId::random(),
            base_version: n as u64,
            sealed: SealedRecord(vec![n; 100 + n as usize]),
            tombstone: n % 2 == 1,
        };
        for req in [
            PushRequest { items: vec![], approval: None },
            PushRequest { items: vec![item(1)], approval: None },
            PushRequest { items: (0..5).map(item).collect(), approval: Some(RecordId::random()) },
        ] {
            let body = push_json(&req).await.unwrap();
            assert_eq!(body, serde_json::to_vec(&req).unwrap());
        }
    }
}
