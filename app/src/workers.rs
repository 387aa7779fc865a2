//! The page's workers (see `shared::sync::offload`): the app's own wasm module,
//! started without the page in Web Workers by `worker.js` (which `cargo xtask
//! build-app` writes beside `app.js`), so a batch's signatures are made and checked on
//! every core instead of on the page's thread, and Argon2id runs beside the page.
//!
//! Where there are no workers (no `Worker` in this browser, no worker script: the
//! wasm tests link the app without one), or a worker fails, the engine does the same
//! work on the page, between breaths, as before.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use shared::crypto::envelope::SignatureCheck;
use shared::crypto::identity::IdentityKeys;
use shared::crypto::passphrase::{AuthKey, KdfParams, Passphrase, WrapKey};
use shared::crypto::CryptoError;
use shared::ids::Username;
use shared::sync::offload;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use zeroize::Zeroizing;

/// A batch smaller than this is not worth the round trip.
pub const MIN_BATCH: usize = 16;
/// Workers beyond the fourth add memory (each holds a copy of the module) more than speed.
const MAX_WORKERS: usize = 4;

thread_local! {
    /// In a worker: what it holds between requests.
    static WORKER: RefCell<offload::Worker> = RefCell::default();
    /// On the page: the pool, once started (`None` inside when workers are unavailable).
    static POOL: RefCell<Option<Option<Rc<Pool>>>> = const { RefCell::new(None) };
}

/// A worker's entry point: `worker.js` hands it each request (and wipes it after). A
/// request or an answer may hold a secret (a signing key, a passphrase, derived keys):
/// the module's copies are wiped too. Signature requests and answers are public, and
/// the module does not wipe them (see [`offload::holds_secret`]).
#[wasm_bindgen]
pub fn worker_answer(request: Vec<u8>) -> js_sys::Uint8Array {
    if !offload::holds_secret(&request) {
        return js_sys::Uint8Array::from(&WORKER.with(|w| w.borrow_mut().handle(&request))[..]);
    }
    let request = Zeroizing::new(request);
    let answer = Zeroizing::new(WORKER.with(|w| w.borrow_mut().handle(&request)));
    js_sys::Uint8Array::from(&answer[..])
}

/// Start the workers ahead of their first request (on the log-in and unlock screens,
/// so the key derivation does not wait for them to load the module).
pub fn warm() {
    let _ = pool();
}

/// The account keys of `passphrase`: Argon2id in a worker, so the page keeps drawing
/// while it runs (0.3–1 s of a core); on the page where there are no workers.
pub async fn derive_account_keys(
    passphrase: &Passphrase,
    username: &Username,
    salt: &[u8; 16],
    kdf: KdfParams,
) -> Result<(AuthKey, WrapKey), CryptoError> {
    kdf.validate()?;
    if let Some(pool) = pool() {
        let request = offload::derive_request(passphrase, username, salt, kdf);
        let answer = pool.call(0, &request).await.map(Zeroizing::new);
        if let Some(keys) = answer.and_then(|a| offload::derive_answer(&a)) {
            return Ok(keys);
        }
    }
    shared::crypto::passphrase::derive_account_keys(passphrase, username, salt, kdf)
}

/// The page's workers, started on first use; `None` where there are none (or one failed).
pub fn pool() -> Option<Rc<Pool>> {
    let pool = POOL.with(|p| p.borrow_mut().get_or_insert_with(|| Pool::start().map(Rc::new)).clone());
    pool.filter(|p| !p.broken.get())
}

/// End the workers, and the signing key they hold (on lock and log-out). A batch still
/// in their hands gets no answer, and the page does it; the next batch starts new ones.
pub fn stop() {
    if let Some(Some(pool)) = POOL.with(|p| p.borrow_mut().take()) {
        for worker in &pool.workers {
            worker.terminate();
        }
        pool.broken.set(true);
        pool.waiting.borrow_mut().clear();
    }
}

type Waiting = Rc<RefCell<HashMap<u32, oneshot::Sender<Vec<u8>>>>>;

pub struct Pool {
    workers: Vec<web_sys::Worker>,
    waiting: Waiting,
    next_id: Cell<u32>,
    /// The public key of the signing key the workers hold, once given.
    key: RefCell<Option<[u8; 32]>>,
    broken: Rc<Cell<bool>>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl Pool {
    fn start() -> Option<Self> {
        let has_workers = js_sys::Reflect::has(&js_sys::global(), &"Worker".into()).unwrap_or(false);
        let script = web_sys::window()?.document()?.get_element_by_id("app-worker")?.text_content()?;
        let url: String = serde_json::from_str(&script).ok()?;
        if !has_workers {
            return None;
        }
        let cores = web_sys::window()?.navigator().hardware_concurrency() as usize;
        let count = cores.clamp(1, MAX_WORKERS);

        let waiting: Waiting = Rc::default();
        let broken = Rc::new(Cell::new(false));
        let on_message = {
            let waiting = waiting.clone();
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let data = e.data();
                let id = js_sys::Reflect::get(&data, &"id".into()).ok().and_then(|v| v.as_f64());
                let bytes = js_sys::Reflect::get(&data, &"bytes".into()).ok();
                let answer = bytes.and_then(|b| b.dyn_into::<js_sys::Uint8Array>().ok()).map(|b| {
                    let copy = b.to_vec();
                    b.fill(0, 0, b.length());
                    copy
                });
                if let (Some(id), Some(answer)) = (id, answer) {
                    if let Some(tx) = waiting.borrow_mut().remove(&(id as u32)) {
                        let _ = tx.send(answer);
                    }
                }
            })
        };
        // A worker that fails (its script or module did not load, say) fails the pool:
        // every request still waiting gets no answer, and the page does the work.
        let on_error = {
            let (waiting, broken) = (waiting.clone(), broken.clone());
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                broken.set(true);
                waiting.borrow_mut().clear();
            })
        };
        let options = web_sys::WorkerOptions::new();
        options.set_type(web_sys::WorkerType::Module);
        let mut workers = Vec::with_capacity(count);
        for _ in 0..count {
            let worker = web_sys::Worker::new_with_options(&url, &options).ok()?;
            worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            workers.push(worker);
        }
        Some(Self {
            workers,
            waiting,
            next_id: Cell::new(0),
            key: RefCell::new(None),
            broken,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    /// Send `request` to worker `i`; `None` if it gives no answer.
    async fn call(&self, i: usize, request: &[u8]) -> Option<Vec<u8>> {
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        let (tx, rx) = oneshot::channel();
        self.waiting.borrow_mut().insert(id, tx);
        let bytes = js_sys::Uint8Array::from(request);
        let message = js_sys::Object::new();
        js_sys::Reflect::set(&message, &"id".into(), &id.into()).ok()?;
        js_sys::Reflect::set(&message, &"bytes".into(), &bytes).ok()?;
        let sent = self.workers[i].post_message_with_transfer(&message, &js_sys::Array::of1(&bytes.buffer()));
        if sent.is_err() {
            self.waiting.borrow_mut().remove(&id);
            return None;
        }
        rx.await.ok().filter(|a| !a.is_empty())
    }

    /// Split `items` among the workers, one request each, all at once.
    async fn spread<I, O>(
        &self,
        items: &[I],
        request: impl Fn(&[I]) -> Vec<u8>,
        answer: impl Fn(&[u8], usize) -> Option<Vec<O>>,
    ) -> Option<Vec<O>> {
        let share = items.len().div_ceil(self.workers.len()).max(1);
        let calls = items.chunks(share).enumerate().map(|(i, part)| {
            let req = request(part);
            let answer = &answer;
            async move { answer(&self.call(i, &req).await?, part.len()) }
        });
        let parts: Option<Vec<Vec<O>>> = futures::future::join_all(calls).await.into_iter().collect();
        Some(parts?.into_iter().flatten().collect())
    }

    /// Check `checks` in the workers: one answer per check, or `None` if they failed.
    pub async fn verify(&self, checks: &[&SignatureCheck]) -> Option<Vec<bool>> {
        self.spread(checks, offload::verify_request, offload::verify_answer).await
    }

    /// Sign `messages` as `identity` in the workers (giving them its signing key
    /// first if they hold another), or `None` if they failed.
    pub async fn sign(&self, identity: &IdentityKeys, messages: &[&[u8]]) -> Option<Vec<[u8; 64]>> {
        let public = identity.public().sign_pk;
        if *self.key.borrow() != Some(public) {
            let request = zeroize::Zeroizing::new(offload::key_request(&identity.signer()));
            let given = (0..self.workers.len()).map(|i| self.call(i, &request));
            let answers = futures::future::join_all(given).await;
            if !answers.iter().all(|a| a.as_deref() == Some(&public[..])) {
                return None;
            }
            *self.key.borrow_mut() = Some(public);
        }
        self.spread(messages, |part| offload::sign_request(&public, part), offload::sign_answer).await
    }
}
