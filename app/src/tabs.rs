//! Tabs of one account on one device act as one: unlocking a tab unlocks the other
//! open tabs that were unlocked before, and locking one locks them all. They talk over
//! a same-origin `BroadcastChannel` (never the network).
//!
//! Any script of the origin can listen and post on that channel, so nothing on it opens
//! anything by itself. An unlocked tab sends the key that opens the account bundle only
//! sealed (AES-256-GCM) under the account's *tabs key*, which is derived from that same
//! key (`WrapKey::tabs_key`) and kept in memory only by tabs that have held it: a tab
//! unlocked before, now locked, opens the message; a listening script, or a tab opened
//! since (which a script can open too), has nothing to open it with and gets ciphertext.
//! Each message carries the time it was sent inside its authenticated data, and a tab
//! takes none older than [`FRESH_MS`] or older than the last it took, so a recorded
//! message cannot unlock tabs later. A tab opened while another is unlocked therefore
//! asks for the passphrase once; from then on it unlocks and locks with the others.
//!
//! Also here: locking after a chosen time without activity (this device's setting), or
//! never: the key that opens the account bundle is then kept on this device (in the
//! account's own IndexedDB database) and the app opens unlocked, like a password
//! manager set never to lock. Locking by hand, choosing another setting, logging out or
//! a wipe forgets it.

use std::cell::{Cell, RefCell};

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use shared::crypto::aead::{open_blob, seal_blob};
use shared::crypto::{label, SymmetricKey};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::i18n::t;
use crate::{account, Phase, PhaseSignal};

const CHANNEL: &str = "quietdesk-tabs";
const LOCK_SETTING: &str = "quietdesk-lock-minutes";
/// The lock setting's "never on this device".
pub const NEVER: u32 = u32::MAX;
/// Where "never" keeps the account's unlock key (the account's own database).
const KEPT_KEY: &str = "device-unlock-key";

/// How old a sealed key may be when a tab takes it.
const FRESH_MS: f64 = 30_000.0;

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Message {
    /// A locked tab asks whether another tab of `user` is unlocked.
    Ask { user: String },
    /// An unlocked tab of `user` hands over its key, sealed under the tabs key with
    /// `at` (ms since the epoch, when sent) bound in.
    Key { user: String, at: u64, sealed: Vec<u8> },
    /// A tab of `user` locked: lock every tab.
    Lock { user: String },
}

thread_local! {
    static CHANNEL_HANDLE: Option<web_sys::BroadcastChannel> = web_sys::BroadcastChannel::new(CHANNEL).ok();
    static LAST_ACTIVE: Cell<f64> = Cell::new(js_sys::Date::now());
    /// The tabs key of the account this tab last held unlocked, and the newest `at` it
    /// took; kept while locked, in this tab's memory only.
    static TABS_KEY: RefCell<Option<(String, SymmetricKey, u64)>> = const { RefCell::new(None) };
}

fn message_context(user: &str, at: u64) -> Vec<u8> {
    [label::TABS_MESSAGE, user.as_bytes(), b"\0", &at.to_be_bytes()].concat()
}

/// The wrap key in a `Key` message, if this tab holds the tabs key of `user` and the
/// message is fresh and newer than the last one taken.
fn open_key(user: &str, at: u64, sealed: &[u8]) -> Option<[u8; 32]> {
    let now = js_sys::Date::now();
    TABS_KEY.with_borrow_mut(|held| {
        let (who, key, last) = held.as_mut()?;
        let fresh = (at as f64) > now - FRESH_MS && (at as f64) < now + FRESH_MS && at > *last;
        if who != user || !fresh {
            return None;
        }
        let mut plain = open_blob(key, &message_context(user, at), sealed).ok()?;
        let wrap = <[u8; 32]>::try_from(plain.as_slice()).ok();
        zeroize::Zeroize::zeroize(&mut plain);
        *last = at;
        wrap
    })
}

fn post(m: &Message) {
    let Ok(text) = serde_json::to_string(m) else { return };
    CHANNEL_HANDLE.with(|c| {
        if let Some(c) = c {
            let _ = c.post_message(&text.into());
        }
    });
}

/// Minutes without activity after which this device locks; 0: only when the user
/// locks or closes the browser; [`NEVER`]: never.
pub fn lock_minutes() -> u32 {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(LOCK_SETTING).ok().flatten())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn set_lock_minutes(m: u32, phase: PhaseSignal) {
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = s.set_item(LOCK_SETTING, &m.to_string());
    }
    if let Phase::Ready(ws) = phase.get_untracked() {
        leptos::task::spawn_local(async move { keep_key(&ws).await });
    }
}

/// Keep (when the setting is "never") or forget this account's unlock key on this device.
pub async fn keep_key(ws: &crate::workspace::Ws) {
    let value: &[u8] = if lock_minutes() == NEVER { ws.unlocked.wrap.expose_secret() } else { &[] };
    let _ = ws.unlocked.store.set_meta(KEPT_KEY, value).await;
}

/// At start, with "never": open the last account with the key kept on this device.
async fn open_with_kept_key(phase: PhaseSignal) {
    let Some(user) = account::last_user() else { return };
    let Ok(store) = crate::store::open(&crate::store::db_name(&user)).await else { return };
    let Ok(Some(kept)) = store.meta(KEPT_KEY).await else { return };
    let Ok(wrap) = <[u8; 32]>::try_from(kept.as_slice()) else { return };
    crate::prepare_unlock();
    if let Ok(u) = account::unlock_with_wrap(&user, wrap).await {
        crate::enter(phase, u, false).await;
    }
}

/// Lock this tab: keep the replica cache current (one quick write), drop the keys.
fn lock_here(phase: PhaseSignal) {
    if let Phase::Ready(ws) = phase.get_untracked() {
        leptos::task::spawn_local(crate::close_workspace(ws));
        phase.set(Phase::Locked { error: None });
    }
}

/// Lock this tab and every other tab of the account. A device set never to lock forgets
/// its kept key: locking by hand means the passphrase is needed again.
pub fn lock_all(phase: PhaseSignal) {
    if let Phase::Ready(ws) = phase.get_untracked() {
        post(&Message::Lock { user: ws.me.to_string() });
        let ws = ws.clone();
        leptos::task::spawn_local(async move {
            let _ = ws.unlocked.store.set_meta(KEPT_KEY, &[]).await;
        });
    }
    lock_here(phase);
}

/// Tell the other tabs this one is unlocked: those that held this account unlocked
/// before unlock too. This tab keeps the tabs key from now on.
pub fn share(ws: &crate::workspace::Ws) {
    let user = ws.me.to_string();
    let key = ws.unlocked.wrap.tabs_key(&user);
    let at = js_sys::Date::now() as u64;
    let sealed = seal_blob(&key, &message_context(&user, at), ws.unlocked.wrap.expose_secret());
    TABS_KEY.with_borrow_mut(|held| {
        let last = held.as_ref().filter(|(who, _, _)| *who == user).map_or(0, |h| h.2);
        *held = Some((user.clone(), key, last.max(at)));
    });
    post(&Message::Key { user, at, sealed });
}

/// A locked tab asks the others for the key of `user`.
pub fn ask(user: &str) {
    post(&Message::Ask { user: user.to_owned() });
}

/// Listen to the other tabs, and lock after the chosen idle time. Once, at the root.
pub fn install(phase: PhaseSignal) {
    let on_message = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
        let Some(text) = e.data().as_string() else { return };
        let Ok(m) = serde_json::from_str::<Message>(&text) else { return };
        match (m, phase.get_untracked()) {
            (Message::Ask { user }, Phase::Ready(ws)) if ws.me.as_str() == user => share(&ws),
            (Message::Lock { user }, Phase::Ready(ws)) if ws.me.as_str() == user => lock_here(phase),
            (Message::Key { user, at, sealed }, Phase::Locked { .. })
                if account::last_user().as_deref() == Some(user.as_str()) =>
            {
                let Some(wrap) = open_key(&user, at, &sealed) else { return };
                leptos::task::spawn_local(async move {
                    if let Ok(u) = account::unlock_with_wrap(&user, wrap).await {
                        crate::enter(phase, u, false).await;
                    }
                });
            }
            _ => {}
        }
    });
    CHANNEL_HANDLE.with(|c| {
        if let Some(c) = c {
            c.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        }
    });
    on_message.forget();

    if lock_minutes() == NEVER {
        leptos::task::spawn_local(open_with_kept_key(phase));
    }

    // Activity: any key or pointer press.
    let touch = Closure::<dyn Fn()>::new(|| LAST_ACTIVE.with(|t| t.set(js_sys::Date::now())));
    if let Some(w) = web_sys::window() {
        for event in ["keydown", "pointerdown", "wheel"] {
            let _ = w.add_event_listener_with_callback(event, touch.as_ref().unchecked_ref());
        }
    }
    touch.forget();
    set_interval(
        move || {
            let minutes = lock_minutes();
            let idle = js_sys::Date::now() - LAST_ACTIVE.with(Cell::get);
            if minutes > 0 && minutes != NEVER && idle > f64::from(minutes) * 60_000.0 {
                lock_all(phase);
            }
        },
        std::time::Duration::from_secs(15),
    );
}

/// This device's lock setting, a labelled select (`id` tells apart two on one page).
#[component]
pub fn LockPicker(id: &'static str) -> impl IntoView {
    let current = lock_minutes();
    let phase = expect_context::<PhaseSignal>();
    let chosen = RwSignal::new(current);
    let options = [
        (0, t("lock.on_close")),
        (5, t("lock.after_5")),
        (15, t("lock.after_15")),
        (60, t("lock.after_60")),
        (NEVER, t("lock.never")),
    ];
    view! {
        <div class="language">
            <label for=id>{t("lock.label")}</label>
            <select id=id on:change=move |ev| {
                let m = event_target_value(&ev).parse().unwrap_or(0);
                chosen.set(m);
                set_lock_minutes(m, phase);
            }>
                {options.into_iter().map(|(m, label)| view! {
                    <option value=m.to_string() selected=m == current>{label}</option>
                }).collect_view()}
            </select>
            {move || (chosen.get() == NEVER).then(|| view! { <p class="hint">{t("lock.never_hint")}</p> })}
        </div>
    }
}
