//! The typed HTTP client. Paths and shapes come from `shared::api`; each request type
//! names its response type, so the pairing is checked at compile time.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_net::http::{Request, RequestBuilder};
use shared::api::{path, Cursor, Endpoint, Method, PullResponse, PushRequest, MAX_PULL_LIMIT};
use shared::crypto::envelope::{Decryption, Encryption, SignatureCheck};
use shared::crypto::identity::IdentityKeys;
use shared::crypto::CryptoError;
use shared::ids::TeamId;
use shared::sync::{PushOutcome, Transport, TransportError};

use crate::workers;

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

thread_local! {
    /// When the page last yielded to its event loop from the engine's long work.
    static LAST_BREATH: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// The longest the engine's batch work keeps the page's thread before yielding: short
/// enough that a keystroke waits less than a frame (16 ms).
const BREATH_MS: f64 = 8.0;

/// Yield to the page's event loop: what the engine's long work (and the index's)
/// calls between slices. Where the browser has prioritised tasks
/// (`scheduler.postTask`), the rest runs as a `background` task: input, drawing and
/// every other task the page has queued go first, so a keystroke never waits behind
/// several slices of sync work queued before it. Elsewhere, a message to ourselves,
/// which (unlike `setTimeout(0)`, clamped to 4 ms when nested, and throttled in hidden
/// tabs) comes back as soon as the tasks queued before it have run.
pub async fn yield_now() {
    if let Some(task) = background_task() {
        let _ = wasm_bindgen_futures::JsFuture::from(task).await;
        return;
    }
    let Ok(channel) = web_sys::MessageChannel::new() else { return };
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        channel.port1().set_onmessage(Some(&resolve));
    });
    if channel.port2().post_message(&wasm_bindgen::JsValue::UNDEFINED).is_ok() {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
    channel.port1().set_onmessage(None);
}

type PostTask = (wasm_bindgen::JsValue, js_sys::Function, js_sys::Object, wasm_bindgen::closure::Closure<dyn Fn()>);

thread_local! {
    /// The page's `scheduler`, its `postTask`, the options it is called with, and the
    /// task it runs (nothing: the promise it returns is what is awaited); `None` where
    /// the browser has no prioritised tasks.
    static POST_TASK: Option<PostTask> = {
        use wasm_bindgen::JsCast;
        let scheduler = js_sys::Reflect::get(&js_sys::global(), &"scheduler".into()).ok().filter(|s| s.is_object());
        scheduler.and_then(|scheduler| {
            let post: js_sys::Function = js_sys::Reflect::get(&scheduler, &"postTask".into()).ok()?.dyn_into().ok()?;
            let options = js_sys::Object::new();
            js_sys::Reflect::set(&options, &"priority".into(), &"background".into()).ok()?;
            Some((scheduler, post, options, wasm_bindgen::closure::Closure::new(|| {})))
        })
    };
}

/// A `background` task posted, as the promise of its end.
fn background_task() -> Option<js_sys::Promise> {
    use wasm_bindgen::JsCast;
    POST_TASK.with(|post| {
        let (scheduler, post, options, nothing) = post.as_ref()?;
        post.call2(scheduler, nothing.as_ref(), options).ok()?.dyn_into().ok()
    })
}

/// Yield to the page if the engine's work has held it for [`BREATH_MS`]. While the
/// user types, long work (an upload, an import, a re-encryption: breaths for more than
/// [`LONG_WORK_MS`] without a quarter second's gap) waits for a pause in their typing
/// ([`INPUT_QUIET_MS`], at most [`INPUT_WAIT_MS`] at a breath): each keystroke then has
/// the page's thread, and the device's other cores, to itself, instead of sharing them
/// with a batch's sealing, signing and storing (on two cores a search took twice as
/// long meanwhile). A short sync (an edit going out, a colleague's coming in) never
/// waits: it is done before a keystroke would notice it.
pub async fn breathe() {
    let now = js_sys::Date::now();
    if now - LAST_BREATH.get() >= BREATH_MS {
        pause().await;
    }
}

/// [`breathe`]'s yield, one boxed future: `breathe` is awaited in dozens of places,
/// and each would otherwise carry a copy of this state machine in its own.
#[inline(never)]
fn pause() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    Box::pin(async {
        let start = js_sys::Date::now();
        // A breath a quarter second or more after the last one starts a new stretch.
        if !(0.0..250.0).contains(&(start - LAST_BREATH.get())) {
            WORK_FROM.set(start);
        }
        yield_now().await;
        let long = start - WORK_FROM.get() >= LONG_WORK_MS;
        let since = js_sys::Date::now();
        while long && typing() && (0.0..INPUT_WAIT_MS).contains(&(js_sys::Date::now() - since)) {
            // A timer's promise, resolved by the browser: no callback of ours.
            let slept = js_sys::Promise::new(&mut |resolve, _| {
                if let Some(window) = web_sys::window() {
                    let wait = INPUT_QUIET_MS as i32 / 4;
                    let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, wait);
                }
            });
            let _ = wasm_bindgen_futures::JsFuture::from(slept).await;
        }
        LAST_BREATH.set(js_sys::Date::now());
    })
}

/// How long the engine's work has gone on before it counts as long work.
const LONG_WORK_MS: f64 = 500.0;

thread_local! {
    /// When the engine's current stretch of work began (see [`pause`]).
    static WORK_FROM: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// How long after a keystroke the user counts as typing.
const INPUT_QUIET_MS: f64 = 200.0;
/// The longest the engine's work waits at one breath for the user to pause.
const INPUT_WAIT_MS: f64 = 1_000.0;

thread_local! {
    /// When the user last typed (`Date.now()`), kept by a listener on the document
    /// added the first time it is asked.
    static LAST_INPUT: std::rc::Rc<std::cell::Cell<f64>> = {
        use wasm_bindgen::JsCast;
        let last = std::rc::Rc::new(std::cell::Cell::new(0.0));
        let seen = last.clone();
        let on_input = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            seen.set(js_sys::Date::now())
        });
        // A click or a tap ends the typing: what it asks for (saving the form, say)
        // may need the engine, which then does not wait.
        let acted = last.clone();
        let on_act = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            acted.set(0.0)
        });
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            for (event, listener) in [("input", &on_input), ("keydown", &on_input), ("pointerdown", &on_act)] {
                // Capturing: seen before any handler can stop it.
                let _ = document.add_event_listener_with_callback_and_bool(event, listener.as_ref().unchecked_ref(), true);
            }
        }
        on_act.forget();
        on_input.forget(); // listens for the page's life
        last
    };
}

/// Whether the user typed in the last [`INPUT_QUIET_MS`] (a clock set back since
/// does not make it longer).
fn typing() -> bool {
    (0.0..INPUT_QUIET_MS).contains(&(js_sys::Date::now() - LAST_INPUT.with(|l| l.get())))
}

/// A push's JSON (what `serde_json::to_vec` makes of it), an item at a time with
/// breaths between: 1,000 sealed records are 2 MB of base64, written in one go a task
/// of tens of milliseconds.
async fn push_json(req: &PushRequest) -> Result<Vec<u8>, TransportError> {
    let json = |e: serde_json::Error| TransportError::Protocol(e.to_string());
    let size: usize = req.items.iter().map(|i| i.sealed.0.len() / 3 * 4 + 200).sum();
    let mut out = Vec::with_capacity(size + 100);
    out.extend_from_slice(b"{\"items\":[");
    for (i, item) in req.items.iter().enumerate() {
        breathe().await;
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
    async fn breathe(&self) {
        breathe().await;
    }

    async fn push(&self, req: &PushRequest) -> Result<PushOutcome, TransportError> {
        let url = path::fill(path::PUSH, &self.team.to_string());
        let body = push_json(req).await?;
        breathe().await;
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

    async fn verify_signatures(&self, checks: &[&SignatureCheck]) -> Vec<bool> {
        let pool = (checks.len() >= workers::MIN_BATCH).then(workers::pool).flatten();
        if let Some(pool) = pool {
            if let Some(holds) = pool.verify(checks).await {
                return holds;
            }
        }
        shared::sync::verify_here(self, checks).await
    }

    async fn decrypt(&self, decryptions: &[&Decryption<'_>]) -> Vec<Result<Vec<u8>, CryptoError>> {
        if let Some(decrypted) = crate::webcrypto::decrypt_many(decryptions).await {
            return decrypted;
        }
        shared::sync::decrypt_here(self, decryptions).await
    }

    async fn encrypt(&self, encryptions: &[&Encryption]) -> Vec<Vec<u8>> {
        if let Some(sealed) = crate::webcrypto::encrypt_many(encryptions).await {
            return sealed;
        }
        shared::sync::encrypt_here(self, encryptions).await
    }

    async fn sign(&self, identity: &IdentityKeys, messages: &[&[u8]]) -> Vec<[u8; 64]> {
        let pool = (messages.len() >= workers::MIN_BATCH).then(workers::pool).flatten();
        if let Some(pool) = pool {
            if let Some(signatures) = pool.sign(identity, messages).await {
                return signatures;
            }
        }
        shared::sync::sign_here(self, identity, messages).await
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

    /// Long work waits at its breaths while the user types, and goes on once they
    /// pause (or after a second at most); otherwise, and for short work, a breath is
    /// one yield.
    #[wasm_bindgen_test]
    async fn background_work_waits_while_the_user_types() {
        let document = web_sys::window().unwrap().document().unwrap();
        let input = document.create_element("input").unwrap();
        document.body().unwrap().append_child(&input).unwrap();
        // A breath of long work: the engine has breathed, without a second's gap, for
        // more than LONG_WORK_MS.
        let breath = || async {
            let t0 = js_sys::Date::now();
            WORK_FROM.set(t0 - LONG_WORK_MS - 1.0);
            LAST_BREATH.set(t0 - BREATH_MS);
            breathe().await;
            js_sys::Date::now() - t0
        };
        let _ = typing(); // the listener is added
        assert!(breath().await < INPUT_QUIET_MS, "no typing: one yield");
        // Short work (its first breath after a quiet spell) never waits.
        input.dispatch_event(&web_sys::Event::new("input").unwrap()).unwrap();
        LAST_BREATH.set(0.0);
        let t0 = js_sys::Date::now();
        breathe().await;
        assert!(js_sys::Date::now() - t0 < INPUT_QUIET_MS / 2.0, "a short sync goes straight on");
        gloo_timers::future::TimeoutFuture::new(INPUT_QUIET_MS as u32 + 50).await;

        input.dispatch_event(&web_sys::Event::new("input").unwrap()).unwrap();
        let waited = breath().await;
        assert!((INPUT_QUIET_MS * 0.75..INPUT_WAIT_MS).contains(&waited), "waited {waited} ms for a pause");

        // A click or tap ends the typing: the work goes on at once.
        input.dispatch_event(&web_sys::Event::new("input").unwrap()).unwrap();
        input.dispatch_event(&web_sys::Event::new("pointerdown").unwrap()).unwrap();
        assert!(breath().await < INPUT_QUIET_MS / 2.0, "a click: no waiting");

        // Typing without a pause: the work goes on after a second.
        let keys = {
            let input = input.clone();
            gloo_timers::callback::Interval::new(50, move || {
                let _ = input.dispatch_event(&web_sys::Event::new("input").unwrap());
            })
        };
        input.dispatch_event(&web_sys::Event::new("input").unwrap()).unwrap();
        let waited = breath().await;
        drop(keys);
        assert!((INPUT_WAIT_MS..INPUT_WAIT_MS * 1.5).contains(&waited), "waited {waited} ms while typing went on");
        input.remove();
    }
}
