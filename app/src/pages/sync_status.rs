//! The always-visible sync status: online or offline, pending edits, last synced.

use leptos::prelude::*;

use crate::i18n::{t, tf};
use crate::use_ws;

fn clock(ms: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    format!("{:02}:{:02}:{:02}", d.get_hours(), d.get_minutes(), d.get_seconds())
}

#[component]
pub fn SyncStatusBar() -> impl IntoView {
    let ws = use_ws();
    let status = ws.status;
    let text = move || {
        let s = status.get();
        let mut parts = vec![if s.online { t("sync.online").to_string() } else { t("sync.offline").to_string() }];
        parts.push(tf("sync.pending", &[("n", &s.pending)]));
        if s.syncing {
            parts.push(t("sync.syncing").into());
        } else if let Some(at) = s.last_synced {
            parts.push(tf("sync.synced_at", &[("time", &clock(at))]));
        }
        if let Some(e) = s.error {
            parts.push(tf("sync.error", &[("error", &e)]));
        }
        parts.extend(s.notice);
        parts.join(" · ")
    };
    let sync = move |_| {
        let ws = use_ws();
        leptos::task::spawn_local(async move { ws.sync_now().await });
    };
    view! {
        <div class="sync">
            <span role="status" aria-label=t("sync.status") class=move || if status.get().online { "sync__text online" } else { "sync__text offline" }>{text}</span>
            <button type="button" on:click=sync>{t("sync.now")}</button>
            <Show when=move || !status.with(|s| s.refused.is_empty())>
                <p role="alert" class="sync__refused">
                    {move || status.with(|s| s.refused.join(" "))}
                </p>
            </Show>
        </div>
    }
}
