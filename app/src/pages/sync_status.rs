//! The always-visible sync status: online or offline, pending edits, last synced.

use leptos::prelude::*;

use crate::api::Download;
use crate::i18n::{number, t, tf};
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
        // Already a sentence in the user's language (`error::sync_error` adds the
        // "sync error:" prefix where the error is not one of its own sentences).
        parts.extend(s.error);
        parts.extend(s.notice);
        parts.join(" · ")
    };
    let sync = move |_| {
        let ws = use_ws();
        leptos::task::spawn_local(async move { ws.sync_now().await });
    };
    let download = ws.download;
    view! {
        <Show when=move || download.with(Option::is_some)>
            <DownloadProgress download />
        </Show>
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

/// A large download (a new device's first sync): how much has arrived and, once there
/// is a rate to go by, about how long is left.
#[component]
fn DownloadProgress(download: RwSignal<Option<Download>>) -> impl IntoView {
    let of = move |f: fn(&Download) -> u64| download.with(|d| d.as_ref().map(f).unwrap_or(0));
    let detail = move || {
        download.with(|d| {
            let Some(d) = d else { return String::new() };
            let counted =
                tf("sync.download_count", &[("done", &number(d.done as i64)), ("total", &number(d.total as i64))]);
            let left = match d.left_ms() {
                None => t("sync.download_estimating").to_owned(),
                Some(ms) if ms < 90_000.0 => {
                    tf("sync.download_left_s", &[("n", &((ms / 1000.0).ceil().max(1.0) as u64))])
                }
                Some(ms) => tf("sync.download_left_min", &[("n", &((ms / 60_000.0).round() as u64))]),
            };
            format!("{counted} · {left}")
        })
    };
    view! {
        <div class="download">
            <label for="sync-download">{t("sync.download")}</label>
            <progress id="sync-download" max=move || of(|d| d.total) value=move || of(|d| d.done)></progress>
            <p class="hint">{detail}</p>
        </div>
    }
}
