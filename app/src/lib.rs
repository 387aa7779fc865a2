//! # Quietdesk app
//!
//! The browser client, rendered client-side with Leptos. `main.rs` only mounts [`App`].
//! The app moves through [`Phase`]s: locked (create account / log in / unlock), no team
//! yet, and ready — where a [`workspace::Workspace`] holds the keys in memory, the sync
//! engine over IndexedDB, and the decrypted index the pages read.

pub mod account;
pub mod api;
pub mod i18n;
pub mod nav;
pub mod pages;
pub mod security;
pub mod store;
pub mod workspace;

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;

use crate::account::Unlocked;
use crate::i18n::t;
use crate::workspace::Ws;

/// Where the app is.
#[derive(Clone)]
pub enum Phase {
    Locked {
        error: Option<String>,
    },
    Busy(String),
    /// Unlocked, but not in any team yet.
    NoTeam(Rc<RefCell<Option<Unlocked>>>, Option<String>),
    Ready(Ws),
}

pub type PhaseSignal = RwSignal<Phase, LocalStorage>;

/// Client-side routes; no path string is repeated elsewhere.
pub mod route {
    pub const CUSTOMERS: &str = "/";
    pub const NEW_CUSTOMER: &str = "/customers/new";
    pub const TASKS: &str = "/tasks";
    pub const TEAM: &str = "/team";
    pub const PIPELINE: &str = "/pipeline";
    pub const IMPORT: &str = "/import";
    pub const AUDIT: &str = "/audit";
    pub const LIFECYCLE: &str = "/lifecycle";
    pub fn customer(id: &str) -> String {
        format!("/customers/{id}")
    }
}

#[component]
pub fn App() -> impl IntoView {
    let phase: PhaseSignal = RwSignal::new_local(Phase::Locked { error: None });
    provide_context(phase);
    nav::install();
    leptos::task::spawn_local(async move {
        if account::finish_wipe().await {
            let error = Some(t("auth.wiped_erased").into());
            phase.set(Phase::Locked { error });
        }
    });
    view! {
            {move || { let _language = i18n::lang(); match phase.get() {
                Phase::Locked { error } => view! { <pages::auth::AuthPage error=error /> }.into_any(),
                Phase::Busy(msg) => view! {
                    <main class="shell">
                        <h1 class="brand">"Quietdesk"</h1>
                        <p role="status" class="busy">{msg}</p>
                    </main>
                }.into_any(),
                Phase::NoTeam(unlocked, error) => view! { <pages::auth::NoTeamPage unlocked=unlocked error=error /> }.into_any(),
                Phase::Ready(ws) => view! { <Shell ws=ws /> }.into_any(),
            }}}
    }
}

/// The unlocked app: header with sync status, navigation, and the pages.
#[component]
fn Shell(ws: Ws) -> impl IntoView {
    provide_context(StoredValue::new_local(ws.clone()));
    let phase = expect_context::<PhaseSignal>();
    let me = ws.me.to_string();
    let ws_lock = ws.clone();
    let lock = move |_| {
        // Keep the replica cache current (one quick write), then drop the keys.
        let ws = ws_lock.clone();
        leptos::task::spawn_local(async move {
            ws.save_cache().await;
            ws.stop();
        });
        phase.set(Phase::Locked { error: None });
    };
    let ws_out = ws.clone();
    let log_out = move |_| {
        let ws = ws_out.clone();
        leptos::task::spawn_local(async move {
            // Log-out wipes this device: never with edits the server has not acknowledged.
            ws.sync_now().await;
            let pending = ws.status.get_untracked().pending;
            if pending > 0 {
                ws.status.update(|s| s.error = Some(i18n::tf("shell.unsent_before_logout", &[("n", &pending)])));
                return;
            }
            ws.stop();
            phase.set(Phase::Busy(t("shell.logging_out").into()));
            phase.set(Phase::Locked { error: None });
            ws.unlocked.log_out().await;
        });
    };
    // Plain anchors (`nav` handles their clicks), marked while their page is shown.
    let path = nav::current();
    let team = ws.team;
    let link = move |href: &'static str, key: &'static str| {
        let label = t(key);
        view! { <a href=href aria-current=move || (path.get() == href).then_some("page")>{label}</a> }
    };
    view! {
        <header class="topbar">
            <h1 class="brand">"Quietdesk"</h1>
            <nav aria-label=t("nav.main")>
                {link(route::CUSTOMERS, "nav.customers")}
                {link(route::PIPELINE, "nav.pipeline")}
                {link(route::TASKS, "nav.tasks")}
                {link(route::IMPORT, "nav.import")}
                {link(route::TEAM, "nav.team")}
                {move || team.with(|t| t.me_admin).then(|| view! {
                    {link(route::AUDIT, "nav.audit")}
                    {link(route::LIFECYCLE, "nav.lifecycle")}
                })}
            </nav>
            <pages::sync_status::SyncStatusBar />
            <div class="account">
                <span class="whoami">{me}</span>
                <i18n::LanguagePicker />
                <button type="button" on:click=lock>{t("shell.lock")}</button>
                <button type="button" on:click=log_out>{t("shell.log_out")}</button>
            </div>
        </header>
        <main class="shell">
            {move || page_for(&path.get())}
        </main>
    }
}

/// The page at `path` (the routes of [`route`]).
fn page_for(path: &str) -> AnyView {
    use pages::*;
    match path {
        route::CUSTOMERS => view! { <customers::CustomerList /> }.into_any(),
        route::NEW_CUSTOMER => view! { <customer::NewCustomer /> }.into_any(),
        route::TASKS => view! { <tasks::TaskList /> }.into_any(),
        route::TEAM => view! { <team::TeamPage /> }.into_any(),
        route::PIPELINE => view! { <pipeline::Pipeline /> }.into_any(),
        route::IMPORT => view! { <import::ImportExport /> }.into_any(),
        route::AUDIT => view! { <audit::AuditPage /> }.into_any(),
        route::LIFECYCLE => view! { <lifecycle::Lifecycle /> }.into_any(),
        p => match p.strip_prefix("/customers/").and_then(|id| id.parse().ok()) {
            Some(id) => view! { <customer::CustomerDetail id=id /> }.into_any(),
            None => view! { <p>{t("shell.not_found")}</p> }.into_any(),
        },
    }
}

/// The workspace, for pages.
pub fn use_ws() -> Ws {
    expect_context::<StoredValue<Ws, LocalStorage>>().get_value()
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}
