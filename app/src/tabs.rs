//! Tabs of one account on one device act as one: unlocking a tab unlocks the other
//! open tabs, locking one locks them all, and a tab opened while another is unlocked
//! starts unlocked. They talk over a same-origin `BroadcastChannel` (never the network):
//! the unlocked tab hands over the passphrase-derived key that opens the account bundle
//! this device already stores, so no tab holds more than one that typed the passphrase.
//!
//! Also here: locking after a chosen time without activity (this device's setting), or
//! never: the key that opens the account bundle is then kept on this device (in the
//! account's own IndexedDB database) and the app opens unlocked, like a password
//! manager set never to lock. Locking by hand, choosing another setting, logging out or
//! a wipe forgets it.

use std::cell::Cell;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
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

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Message {
    /// A locked tab asks whether another tab of `user` is unlocked.
    Ask { user: String },
    /// An unlocked tab of `user` hands over its key.
    Key { user: String, wrap: Vec<u8> },
    /// A tab of `user` locked: lock every tab.
    Lock { user: String },
}

thread_local! {
    static CHANNEL_HANDLE: Option<web_sys::BroadcastChannel> = web_sys::BroadcastChannel::new(CHANNEL).ok();
    static LAST_ACTIVE: Cell<f64> = Cell::new(js_sys::Date::now());
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
        crate::pages::auth::enter(phase, u, false).await;
    }
}

/// Lock this tab: keep the replica cache current (one quick write), drop the keys.
fn lock_here(phase: PhaseSignal) {
    if let Phase::Ready(ws) = phase.get_untracked() {
        leptos::task::spawn_local(async move {
            ws.save_cache().await;
            ws.stop();
        });
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

/// Tell the other tabs this one is unlocked (they unlock too).
pub fn share(ws: &crate::workspace::Ws) {
    post(&Message::Key { user: ws.me.to_string(), wrap: ws.unlocked.wrap.expose_secret().to_vec() });
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
            (Message::Key { user, wrap }, Phase::Locked { .. })
                if account::last_user().as_deref() == Some(user.as_str()) =>
            {
                let Ok(wrap) = <[u8; 32]>::try_from(wrap.as_slice()) else { return };
                leptos::task::spawn_local(async move {
                    if let Ok(u) = account::unlock_with_wrap(&user, wrap).await {
                        crate::pages::auth::enter(phase, u, false).await;
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
