//! # Quietdesk app
//!
//! The browser client, rendered client-side with Leptos. This is the foundation
//! shell: it proves the build, the shared crypto core on wasm32, and the serving path
//! through the one server process. The CRM screens (accounts, customers, sync over
//! IndexedDB) are built on this in the next milestone.

pub mod store;

use leptos::prelude::*;
use shared::api::{path, Health};

/// Whether the server answered its health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerStatus {
    Online,
    Offline,
}

async fn check_server() -> ServerStatus {
    let ok = async {
        let resp = gloo_net::http::Request::get(path::HEALTH)
            .send()
            .await
            .ok()?;
        let health: Health = resp.json().await.ok()?;
        (resp.ok() && health.status == "ok").then_some(())
    };
    match ok.await {
        Some(()) => ServerStatus::Online,
        None => ServerStatus::Offline,
    }
}

#[component]
pub fn App() -> impl IntoView {
    let status = LocalResource::new(check_server);
    let label = move || match status.get() {
        None => "Server: checking…",
        Some(ServerStatus::Online) => "Server: online",
        Some(ServerStatus::Offline) => "Server: offline",
    };
    view! {
        <main class="shell">
            <header class="shell__header">
                <h1>"Quietdesk"</h1>
                <p class="shell__tagline">"The CRM whose server cannot read your customers."</p>
            </header>
            <section class="card" aria-labelledby="status-heading">
                <h2 id="status-heading">"Status"</h2>
                <p role="status" class="status">{label}</p>
                <p>
                    "Records are encrypted in this browser before they leave it. "
                    "The server stores and relays ciphertext only."
                </p>
            </section>
        </main>
    }
}
