//! The engine's compute in the browser ([`BrowserCompute`]) and the page's cooperative
//! scheduler: the engine's long work yields to the event loop every few milliseconds
//! ([`breathe`]) and waits for a pause in the user's typing; signatures go to Web
//! Workers and AES to WebCrypto, off the page's thread. Platform code: the rest of the
//! app reaches the browser's scheduler only through [`breathe`] and [`yield_now`].

use shared::crypto::envelope::{Decryption, Encryption, SignatureCheck};
use shared::crypto::identity::IdentityKeys;
use shared::crypto::CryptoError;
use shared::sync::Compute;

use crate::workers;

/// The sync engine's batch work in a browser: breaths through the page's scheduler,
/// signatures in the worker pool (from [`workers::MIN_BATCH`] items), AES in WebCrypto;
/// each falls back to this thread where the browser offers no way.
#[derive(Clone, Copy, Default)]
pub struct BrowserCompute;

impl Compute for BrowserCompute {
    async fn breathe(&self) {
        breathe().await;
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
}

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

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::*;

    use super::*;

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
