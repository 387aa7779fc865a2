//! # Quietdesk app
//!
//! The browser client, rendered client-side with Leptos. `main.rs` only mounts [`App`].
//! The app moves through [`Phase`]s: locked (create account / log in / unlock), no team
//! yet, and ready — where a [`workspace::Workspace`] holds the keys in memory, the sync
//! engine over IndexedDB, and the decrypted index the pages read.

pub mod account;
pub mod api;
pub mod compute;
pub mod drag;
pub mod error;
pub mod i18n;
pub mod icons;
pub mod nav;
pub mod pages;
pub mod qr;
pub mod route;
pub mod security;
pub mod store;
pub mod tabs;
pub mod webcrypto;
pub mod workers;
pub mod workspace;

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;

use crate::account::Unlocked;
use crate::i18n::t;
use crate::icons::icon;
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

#[component]
pub fn App() -> impl IntoView {
    let phase: PhaseSignal = RwSignal::new_local(Phase::Locked { error: None });
    provide_context(phase);
    nav::install();
    tabs::install(phase);
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
                Phase::Ready(ws) => shell(ws),
            }}}
    }
}

thread_local! {
    // The toast on screen, if any, and a counter so a newer toast is not cleared by an
    // older one's timer. Not owned by any view (see `i18n::LANG`).
    static TOAST: ArcRwSignal<Option<(u32, String)>> = ArcRwSignal::new(None);
}

/// Say briefly that something is done ("Saved.", "Copied."): a toast for 3 seconds.
pub fn toast(message: &str) {
    let signal = TOAST.with(Clone::clone);
    let n = signal.with_untracked(|t| t.as_ref().map_or(0, |t| t.0)).wrapping_add(1);
    signal.set(Some((n, message.to_owned())));
    set_timeout(
        move || {
            if signal.with_untracked(|t| t.as_ref().map(|t| t.0)) == Some(n) {
                signal.set(None);
            }
        },
        std::time::Duration::from_secs(3),
    );
}

/// Where toasts appear (announced politely to screen readers).
#[component]
fn Toasts() -> impl IntoView {
    let signal = TOAST.with(Clone::clone);
    view! {
        <div class="toasts" role="status" aria-live="polite" aria-label=t("shell.notifications")>
            {move || signal.get().map(|(_, m)| view! { <div class="toast">{m}</div> })}
        </div>
    }
}

/// Lock this tab and the account's other tabs on this device.
fn lock() {
    tabs::lock_all(expect_context::<PhaseSignal>());
}

/// Log out, which wipes this device: never with edits the server has not acknowledged.
fn log_out() {
    let (ws, phase) = (use_ws(), expect_context::<PhaseSignal>());
    leptos::task::spawn_local(async move {
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
}

/// A navigation link with its icon, marked while its page is shown.
fn nav_link(path: RwSignal<String>, page: &route::Page) -> impl IntoView {
    let href = page.path;
    view! {
        <a href=href aria-current=move || (path.get() == href).then_some("page")>
            {icon(page.icon)}<span>{t(page.label)}</span>
        </a>
    }
}

/// The unlocked app. On a desk: a sidebar with every section, the account and the
/// language at its foot. On a phone (≤ 600 px): a bottom tab bar with the main
/// sections and "More" for the rest. On both, a compact top bar that stays in view
/// with the sync state (online or offline, pending edits, last sync).
#[component]
fn Shell(ws: Ws) -> impl IntoView {
    provide_context(StoredValue::new_local(ws.clone()));
    let me = ws.me.to_string();
    let path = nav::current();
    let team = ws.team;
    view! {
        <div class="app">
            <aside class="sidebar">
                <p class="brand">"Quietdesk"</p>
                <nav aria-label=t("nav.main") class="sidebar__nav">
                    {move || route::listed(team.with(|t| t.me_admin)).map(|p| nav_link(path, p)).collect_view()}
                </nav>
                <div class="sidebar__foot">
                    <AccountControls me=me where_="side" />
                </div>
            </aside>
            <div class="app__main">
                <header class="topbar">
                    <span class="brand brand--bar">"Quietdesk"</span>
                    <pages::sync_status::SyncStatusBar />
                </header>
                <main class="shell">
                    {move || page_for(path.get())}
                </main>
            </div>
            <Toasts />
            <nav aria-label=t("nav.main") class="tabbar">
                {route::tabs().map(|p| nav_link(path, p)).collect_view()}
            </nav>
        </div>
    }
}

/// Who is signed in, this device's language and lock settings, lock and log out: at
/// the foot of the desk's sidebar (`where_ = "side"`) and on the phone's "More" page.
#[component]
fn AccountControls(me: String, where_: &'static str) -> impl IntoView {
    let (language, lock_id) =
        if where_ == "side" { ("language-side", "lock-side") } else { ("language-more", "lock-more") };
    view! {
        <span class="whoami">{me}</span>
        <i18n::LanguagePicker id=language />
        <tabs::LockPicker id=lock_id />
        <div class="actions">
            <button type="button" on:click=|_| lock()>{t("shell.lock")}</button>
            <button type="button" on:click=|_| log_out()>{t("shell.log_out")}</button>
        </div>
    }
}

/// "More" on a phone: the sections the tab bar has no room for, the language, and the
/// account's lock and log-out.
#[component]
fn MorePage() -> impl IntoView {
    let ws = use_ws();
    let path = nav::current();
    let admin = ws.team.with_untracked(|t| t.me_admin);
    // What the tab bar has no room for.
    let rest: Vec<&route::Page> = route::listed(admin).filter(|p| route::tabs().all(|t| t.path != p.path)).collect();
    view! {
        <section class="page">
            <h1>{t("nav.more")}</h1>
            <nav aria-label=t("nav.more") class="more__nav card">
                {rest.into_iter().map(|p| nav_link(path, p)).collect_view()}
            </nav>
            <section class="card form">
                <AccountControls me=ws.me.to_string() where_="more" />
            </section>
        </section>
    }
}

/// The page at `path` (the routes of [`route`]). In the built app each group of pages
/// ([`route::Group`]) is
/// a module of its own, fetched the first time one of its pages opens (see [`split`]);
/// the first visit downloads only the log-in, the shell and the engine.
fn page_for(path: String) -> AnyView {
    #[cfg(feature = "split")]
    return split::page(path);
    #[cfg(not(feature = "split"))]
    if route::group(&path) == route::Group::Occasional {
        occasional_page(&path)
    } else {
        daily_page(&path)
    }
}

/// Fetch what the first page after unlocking needs — the engine's and the daily pages'
/// modules (without the module split, there are none) and the pinyin table — while
/// the passphrase is checked, instead of after.
pub fn prepare_unlock() {
    #[cfg(feature = "split")]
    split::preload_engine_and_daily();
    leptos::task::spawn_local(load_pinyin());
}

/// Open the workspace for an unlocked account, moving the app to the right phase (from
/// the log-in screen, and from another tab that hands over the key).
pub async fn enter(phase: PhaseSignal, unlocked: account::Unlocked, create_team: bool) {
    phase.set(Phase::Busy(t("auth.opening").into()));
    // Every text, not only the log-in screen's (see `crate::i18n`).
    i18n::load_all(i18n::starting()).await;
    // The pinyin table, before the search index is built (cached after the first time).
    load_pinyin().await;
    open_workspace(phase, unlocked, create_team).await;
}

/// Open the workspace (see [`pages::auth::open_workspace`]). In the built app the engine
/// — the workspace, the sync engine and the shell around the pages — is a module of its
/// own (see [`split`]): the log-in screen does not wait for it, and it is fetched while
/// the passphrase is checked.
pub async fn open_workspace(phase: PhaseSignal, unlocked: account::Unlocked, create_team: bool) {
    #[cfg(feature = "split")]
    match split::load_engine().await {
        // The shell is drawn (and a tab closed) from a loaded module at once.
        Ok(()) => match split::engine_enter(phase, unlocked, create_team).await {
            Ok(open) => open.await,
            Err(_) => phase.set(Phase::Locked { error: Some(t("shell.page_failed").into()) }),
        },
        Err(_) => phase.set(Phase::Locked { error: Some(t("shell.page_failed").into()) }),
    }
    #[cfg(not(feature = "split"))]
    pages::auth::open_workspace(phase, unlocked, create_team).await
}

/// The unlocked app's shell, from the engine's module (loaded: the workspace came from it).
fn shell(ws: Ws) -> AnyView {
    #[cfg(feature = "split")]
    {
        use futures::FutureExt;
        match split::engine_shell(ws).now_or_never() {
            Some(Ok(view)) => view,
            _ => view! { <main class="shell"><p role="alert">{t("shell.page_failed")}</p></main> }.into_any(),
        }
    }
    #[cfg(not(feature = "split"))]
    view! { <Shell ws=ws /> }.into_any()
}

/// Keep the replica cache current (one quick write) and stop the workspace: a tab that
/// locks.
pub async fn close_workspace(ws: Ws) {
    #[cfg(feature = "split")]
    if let Ok(close) = split::engine_close(ws).await {
        close.await
    }
    #[cfg(not(feature = "split"))]
    {
        ws.save_cache().await;
        ws.stop();
    }
}

/// The split points `cargo xtask build-app` cuts the app's wasm at (xtask/src/wasm.rs).
/// Only the built app has them (the `split` feature): the wasm tests link the app as a
/// library, with the pages in one piece.
#[cfg(feature = "split")]
mod split {
    use futures::future::LocalBoxFuture;
    use futures::FutureExt;
    use leptos::prelude::*;
    use leptos::wasm_split::{wasm_split, SplitLoaderError};

    use crate::i18n::t;

    #[derive(Clone, Copy, PartialEq)]
    enum Module {
        Loading,
        Loaded,
        Failed,
    }

    thread_local! {
        /// The daily and the occasional pages' modules. Not owned by any view.
        static MODULES: ArcRwSignal<[Module; 2]> = ArcRwSignal::new([Module::Loading; 2]);
    }

    #[wasm_split(daily, wasm_split_path = ::leptos::wasm_split, preload(load_daily), fallible)]
    fn daily(path: String) -> Result<AnyView, SplitLoaderError> {
        Ok(super::daily_page(&path))
    }

    #[wasm_split(occasional, wasm_split_path = ::leptos::wasm_split, preload(load_occasional), fallible)]
    fn occasional(path: String) -> Result<AnyView, SplitLoaderError> {
        Ok(super::occasional_page(&path))
    }

    /// The engine: what opens the workspace, the shell around the pages, and what
    /// closes it. Everything they reach (the workspace, the sync engine, the shell's
    /// sync bar) leaves the first visit's module.
    #[wasm_split(engine, wasm_split_path = ::leptos::wasm_split, preload(load_engine_enter), fallible)]
    pub fn engine_enter(
        phase: crate::PhaseSignal,
        unlocked: crate::account::Unlocked,
        create_team: bool,
    ) -> Result<LocalBoxFuture<'static, ()>, SplitLoaderError> {
        Ok(Box::pin(crate::pages::auth::open_workspace(phase, unlocked, create_team)))
    }

    #[wasm_split(engine, wasm_split_path = ::leptos::wasm_split, preload(load_engine_shell), fallible)]
    pub fn engine_shell(ws: crate::Ws) -> Result<AnyView, SplitLoaderError> {
        Ok(view! { <super::Shell ws=ws /> }.into_any())
    }

    #[wasm_split(engine, wasm_split_path = ::leptos::wasm_split, preload(load_engine_close), fallible)]
    pub fn engine_close(ws: crate::Ws) -> Result<LocalBoxFuture<'static, ()>, SplitLoaderError> {
        Ok(Box::pin(async move {
            ws.save_cache().await;
            ws.stop();
        }))
    }

    /// The engine's module, ready for each of its entry points (each split function
    /// keeps its own "loaded" mark: one not asked yet would wait a turn even with the
    /// module there, and the shell is drawn at once).
    pub async fn load_engine() -> Result<(), SplitLoaderError> {
        load_engine_enter().await?;
        load_engine_shell().await?;
        load_engine_close().await
    }

    pub fn preload_engine_and_daily() {
        leptos::task::spawn_local(async {
            let _ = load_engine().await;
        });
        let modules = MODULES.with(Clone::clone);
        if modules.with_untracked(|m| m[0]) == Module::Loading {
            load(modules, 0);
        }
    }

    /// Fetch module `which` (0 daily, 1 occasional) and record how that went.
    fn load(modules: ArcRwSignal<[Module; 2]>, which: usize) {
        leptos::task::spawn_local(async move {
            let loaded = if which == 1 { load_occasional().await } else { load_daily().await };
            let state = if loaded.is_ok() { Module::Loaded } else { Module::Failed };
            modules.update(|m| m[which] = state);
        });
    }

    /// The page, at once when its module is loaded; otherwise "Opening…" while it loads
    /// (then the page), or a sentence and "Try again" when it cannot be fetched.
    pub fn page(path: String) -> AnyView {
        let which = usize::from(crate::route::group(&path) == crate::route::Group::Occasional);
        let modules = MODULES.with(Clone::clone);
        match modules.with(|m| m[which]) {
            Module::Loaded | Module::Loading => {
                if modules.with(|m| m[which]) == Module::Loaded {
                    // Ready on the first poll: the module is there.
                    let page = if which == 1 { occasional(path).now_or_never() } else { daily(path).now_or_never() };
                    if let Some(Ok(view)) = page {
                        return view;
                    }
                }
                load(modules.clone(), which);
                view! { <p role="status" class="busy">{t("shell.page_loading")}</p> }.into_any()
            }
            Module::Failed => view! {
                <div role="alert" class="card">
                    <p>{t("shell.page_failed")}</p>
                    <button type="button" on:click=move |_| modules.update(|m| m[which] = Module::Loading)>
                        {t("shell.retry")}
                    </button>
                </div>
            }
            .into_any(),
        }
    }
}

fn occasional_page(path: &str) -> AnyView {
    use pages::*;
    match path {
        route::TEAM => view! { <team::TeamPage /> }.into_any(),
        route::AUDIT => view! { <audit::AuditPage /> }.into_any(),
        route::LIFECYCLE => view! { <lifecycle::Lifecycle /> }.into_any(),
        _ => view! { <import::ImportExport /> }.into_any(),
    }
}

fn daily_page(path: &str) -> AnyView {
    use pages::*;
    match path {
        route::HOME => view! { <home::Home /> }.into_any(),
        route::CUSTOMERS => view! { <customers::CustomerList /> }.into_any(),
        route::NEW_CUSTOMER => view! { <customer::NewCustomer /> }.into_any(),
        route::TASKS => view! { <tasks::TaskList /> }.into_any(),
        route::CALENDAR => view! { <calendar::Calendar /> }.into_any(),
        route::POOL => view! { <pool::Pool /> }.into_any(),
        route::PIPELINE => view! { <pipeline::Pipeline /> }.into_any(),
        route::MORE => view! { <MorePage /> }.into_any(),
        route::DUPLICATES => view! { <duplicates::FindDuplicates /> }.into_any(),
        p if p.starts_with("/customers/merge/") => {
            let mut ids =
                p.trim_start_matches("/customers/merge/").split('/').map(|s| s.parse::<shared::ids::RecordId>());
            match (ids.next(), ids.next()) {
                (Some(Ok(survivor)), Some(Ok(other))) => {
                    view! { <duplicates::Merge survivor=survivor other=other /> }.into_any()
                }
                _ => view! { <p>{t("shell.not_found")}</p> }.into_any(),
            }
        }
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

/// Fetch the pinyin table (`/pinyin_table.txt`, next to the app) and hand it to search,
/// once. Without it (offline on a first visit), names are searched as written only.
pub async fn load_pinyin() {
    use futures::future::{FutureExt, LocalBoxFuture, Shared};
    thread_local! {
        // The fetch under way, which every caller awaits (the first caller starts it).
        static FETCH: RefCell<Option<Shared<LocalBoxFuture<'static, ()>>>> = const { RefCell::new(None) };
    }
    if shared::pinyin::loaded() {
        return;
    }
    let fetch = FETCH.with_borrow_mut(|f| f.get_or_insert_with(|| fetch_pinyin().boxed_local().shared()).clone());
    fetch.await;
    if !shared::pinyin::loaded() {
        FETCH.set(None); // failed (offline?): the next caller tries again
    }
}

async fn fetch_pinyin() {
    let Ok(resp) = gloo_net::http::Request::get("/pinyin_table.txt").send().await else { return };
    if !resp.ok() {
        return;
    }
    if let Ok(text) = resp.text().await {
        // Kept for the life of the page, as a compiled-in table would be.
        shared::pinyin::load(Box::leak(text.into_boxed_str()));
    }
}

/// The last second of today, local time, in Unix milliseconds ("due today" ends there).
pub fn end_of_today_ms() -> i64 {
    let d = js_sys::Date::new_0();
    d.set_hours(23);
    d.set_minutes(59);
    d.set_seconds(59);
    d.get_time() as i64
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}
