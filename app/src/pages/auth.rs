//! Create account, log in on a new device, unlock offline; and the "no team yet" step.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::account::{self, Unlocked};
use crate::i18n::{t, tf, LanguagePicker};
use crate::workspace::{OpenError, Workspace};
use crate::{enter, Phase, PhaseSignal};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Create,
    LogIn,
    Unlock,
    /// A forgotten passphrase, reset with the recovery key.
    Recover,
}

/// [`crate::enter`]'s last step, the first code of the engine's module (see `crate::split`):
/// open the workspace and move the app to the right phase.
pub async fn open_workspace(phase: PhaseSignal, unlocked: Unlocked, create_team: bool) {
    match Workspace::open(unlocked, create_team).await {
        Ok(ws) => {
            // The account's other open tabs on this device unlock too.
            crate::tabs::share(&ws);
            phase.set(Phase::Ready(ws.clone()));
            crate::tabs::keep_key(&ws).await;
        }
        Err(OpenError::NoTeam(u)) => phase.set(Phase::NoTeam(Rc::new(RefCell::new(Some(u))), None)),
        Err(OpenError::Failed(e, Some(u))) => phase.set(Phase::NoTeam(Rc::new(RefCell::new(Some(u))), Some(e))),
        Err(OpenError::Failed(e, None)) => phase.set(Phase::Locked { error: Some(e) }),
    }
}

thread_local! {
    /// The mode and username of the last submitted form: after a failure the page
    /// comes back as it was (a mistyped passphrase at log-in is not a new account).
    static LAST_FORM: RefCell<Option<(Mode, String)>> = const { RefCell::new(None) };
}

#[component]
pub fn AuthPage(error: Option<String>) -> impl IntoView {
    let phase = expect_context::<PhaseSignal>();
    let last = account::last_user();
    let (first_mode, first_name) = match LAST_FORM.with_borrow_mut(Option::take).filter(|_| error.is_some()) {
        Some(form) => form,
        None => (if last.is_some() { Mode::Unlock } else { Mode::Create }, last.unwrap_or_default()),
    };
    // Another open tab of this account may be unlocked: it hands over the key.
    if first_mode == Mode::Unlock && !first_name.is_empty() {
        crate::tabs::ask(&first_name);
        // The workers derive the passphrase's keys: they load the module while the
        // passphrase is typed (on a first visit, once a field is used, so they cost
        // nothing before the screen is drawn).
        crate::workers::warm();
    }
    let (mode, set_mode) = signal(first_mode);
    let (username, set_username) = signal(first_name);
    let (passphrase, set_passphrase) = signal(String::new());
    let totp = RwSignal::new(String::new());
    let recovery_key = RwSignal::new(String::new());

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        crate::prepare_unlock();
        // Read every field now: setting the phase below disposes this page's signals.
        let (name, pass, m) = (username.get_untracked(), passphrase.get_untracked(), mode.get_untracked());
        let code = Some(totp.get_untracked()).filter(|c| !c.trim().is_empty());
        let kit = recovery_key.get_untracked();
        LAST_FORM.set(Some((m, name.clone())));
        phase.set(Phase::Busy(match m {
            Mode::Create => t("auth.creating").into(),
            Mode::LogIn => t("auth.logging_in").into(),
            Mode::Unlock => t("auth.unlocking").into(),
            Mode::Recover => t("recovery.resetting").into(),
        }));
        spawn_local(async move {
            let t0 = js_sys::Date::now();
            let result = match m {
                Mode::Create => account::create_account(&name, &pass).await,
                Mode::LogIn => account::log_in(&name, &pass, code).await,
                Mode::Unlock => account::unlock(&name, &pass).await,
                Mode::Recover => match account::recover(&name, &kit, &pass).await {
                    Ok(()) => account::log_in(&name, &pass, code).await,
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(u) => {
                    let t1 = js_sys::Date::now();
                    enter(phase, u, false).await;
                    // Timings only (never names or keys): what benchmarks and users can read.
                    web_sys::console::info_1(
                        &format!(
                            "quietdesk timing: passphrase check {} ms, workspace open {} ms",
                            (t1 - t0) as u64,
                            (js_sys::Date::now() - t1) as u64
                        )
                        .into(),
                    );
                }
                Err(e) => phase.set(Phase::Locked { error: Some(e) }),
            }
        });
    };
    let title = move || match mode.get() {
        Mode::Create => t("auth.create_account"),
        Mode::LogIn => t("auth.log_in"),
        Mode::Unlock => t("auth.unlock"),
        Mode::Recover => t("recovery.reset"),
    };
    view! {
        <main class="shell auth">
            <h1 class="brand">"Quietdesk"</h1>
            <p class="tagline">{t("auth.tagline")}</p>
            <LanguagePicker />
            // Opened from an invitation link: say so before the account exists, and what
            // happens next (the invitation is answered once the account is open).
            {invitation_in_address().map(|l| view! {
                <p class="invited" role="note">
                    {tf("auth.invited_signup", &[("role", &crate::i18n::role_label(l.role))])}
                </p>
            })}
            <div class="tabs" role="group" aria-label=t("auth.account")>
                <button type="button" aria-pressed=move || (mode.get() == Mode::Create).to_string() on:click=move |_| set_mode.set(Mode::Create)>{t("auth.new_account")}</button>
                <button type="button" aria-pressed=move || (mode.get() == Mode::LogIn).to_string() on:click=move |_| set_mode.set(Mode::LogIn)>{t("auth.log_in_here")}</button>
                <button type="button" aria-pressed=move || (mode.get() == Mode::Unlock).to_string() on:click=move |_| set_mode.set(Mode::Unlock)>{t("auth.unlock_here")}</button>
            </div>
            <form class="card form" on:submit=submit on:focusin=|_| crate::workers::warm()>
                <h2>{title}</h2>
                {error.map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <label for="username">{t("auth.username")}</label>
                <input id="username" name="username" autocomplete="username" required
                    prop:value=username on:input=move |ev| set_username.set(event_target_value(&ev)) />
                <div hidden=move || mode.get() != Mode::Recover>
                    <label for="recovery-key">{t("recovery.key")}</label>
                    <input id="recovery-key" autocomplete="off" spellcheck="false"
                        prop:value=recovery_key on:input=move |ev| recovery_key.set(event_target_value(&ev)) />
                </div>
                <label for="passphrase">{move || if mode.get() == Mode::Recover { t("passphrase.new") } else { t("auth.passphrase") }}</label>
                <input id="passphrase" name="passphrase" type="password" required
                    autocomplete=move || if matches!(mode.get(), Mode::Create | Mode::Recover) { "new-password" } else { "current-password" }
                    prop:value=passphrase on:input=move |ev| set_passphrase.set(event_target_value(&ev)) />
                <div hidden=move || !matches!(mode.get(), Mode::LogIn | Mode::Recover)>
                    <label for="totp">{t("auth.totp")}</label>
                    <input id="totp" name="totp" autocomplete="one-time-code" inputmode="numeric"
                        prop:value=totp on:input=move |ev| totp.set(event_target_value(&ev)) />
                </div>
                <p class="hint">
                    {move || if mode.get() == Mode::Recover { t("recovery.hint") } else { t("auth.passphrase_hint") }}
                </p>
                <button type="submit" class="primary">{title}</button>
                <button type="button" class="link" hidden=move || mode.get() == Mode::Recover
                    on:click=move |_| set_mode.set(Mode::Recover)>{t("recovery.forgot")}</button>
            </form>
        </main>
    }
}

#[component]
pub fn NoTeamPage(unlocked: Rc<RefCell<Option<Unlocked>>>, error: Option<String>) -> impl IntoView {
    let phase = expect_context::<PhaseSignal>();
    let name = unlocked.borrow().as_ref().map(|u| u.account.username.to_string()).unwrap_or_default();
    let accept_cell = unlocked.clone();
    let go = move |create: bool| {
        let cell = unlocked.clone();
        move |_| {
            if let Some(u) = cell.borrow_mut().take() {
                spawn_local(enter(phase, u, create));
            }
        }
    };
    // Opened from an invitation link: joining is the one obvious thing to do here.
    let invited = invitation_in_address().map(|l| l.role);
    view! {
        <main class="shell">
            <h1 class="brand">"Quietdesk"</h1>
            <section class="card">
                <h2>{t("auth.join_or_start")}</h2>
                {error.map(|e| view! { <p class="error" role="alert">{e}</p> })}
                {invited.map(|role| view! {
                    <p class="invited">{tf("auth.invited_as", &[("role", &crate::i18n::role_label(role))])}</p>
                })}
                <p>{t("auth.no_team_before")} <strong>{name}</strong> {t("auth.no_team_after")}</p>
                <div class="actions">
                    <button type="button" on:click=go(false)>{t("auth.check_again")}</button>
                    <button type="button" class=if invited.is_some() { "" } else { "primary" } on:click=go(true)>{t("auth.create_team")}</button>
                </div>
            </section>
            <AcceptInvitation unlocked=accept_cell primary=invited.is_some() />
        </main>
    }
}

/// The invitation in the address bar's fragment, if the page was opened from a link.
fn invitation_in_address() -> Option<shared::invite::InviteLink> {
    let hash = web_sys::window()?.location().hash().ok()?;
    shared::invite::decode_fragment(&hash)
}

/// Answer an invitation link: this account's public keys go to the server with a MAC
/// made from the link's secret, for the admin's device to verify.
#[component]
fn AcceptInvitation(unlocked: Rc<RefCell<Option<Unlocked>>>, primary: bool) -> impl IntoView {
    // A link opened directly lands here with its fragment still in the address bar.
    let from_url = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .filter(|h| h.starts_with("#join="))
        .unwrap_or_default();
    let link = RwSignal::new(from_url);
    let message = RwSignal::new(None::<String>);
    let phase = expect_context::<PhaseSignal>();
    // Stop waiting when this page goes (the user chose something else).
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gone_flag = gone.clone();
    on_cleanup(move || gone_flag.store(true, std::sync::atomic::Ordering::Relaxed));
    let accept = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (cell, gone) = (unlocked.clone(), gone.clone());
        let l = link.get_untracked();
        spawn_local(async move {
            // Take the account out for the request and put it back (no borrow across await).
            let Some(u) = cell.borrow_mut().take() else { return };
            let r = u.accept_invite(&l).await;
            *cell.borrow_mut() = Some(u);
            let team = match r {
                Ok(()) => shared::invite::decode_fragment(&l).map(|link| link.team),
                Err(e) => {
                    message.set(Some(e));
                    return;
                }
            };
            message.set(Some(t("auth.invitation_answered").into()));
            // The inviting admin's device adds us as soon as it hears of the answer;
            // look every few seconds and go in once it has.
            let Some(team) = team else { return };
            while !gone.load(std::sync::atomic::Ordering::Relaxed) {
                gloo_timers::future::sleep(std::time::Duration::from_secs(2)).await;
                let Some(api) = cell.borrow().as_ref().map(|u| u.api.clone()) else { return };
                if account::admitted(&api, team).await {
                    let taken = cell.borrow_mut().take();
                    if let Some(u) = taken {
                        enter(phase, u, false).await;
                    }
                    return;
                }
            }
        });
    };
    view! {
        <form class="card form" on:submit=accept aria-label=t("auth.accept_invitation")>
            <div class="field">
                <label for="invite-link">{t("auth.invitation_link")}</label>
                <input id="invite-link" prop:value=link on:input=move |ev| link.set(event_target_value(&ev)) />
            </div>
            <button type="submit" class=if primary { "primary" } else { "" }>{t("auth.accept_invitation")}</button>
            <p role="status" aria-label=t("auth.invitation_status") class="message">{move || message.get()}</p>
        </form>
    }
}
