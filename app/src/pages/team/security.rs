//! The Team page's security group: this account's 2FA, devices, recovery kit and
//! passphrase; the team's alerts, membership confirmation (beacon lease) and the
//! confirmation of a server restore.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::i18n::{t, tf};
use crate::qr::QrCode;
use crate::use_ws;

/// Two-factor authentication: set-up with a QR code (or the key typed in), a first
/// code to confirm, then the recovery codes once; admins can require it of the team.
/// One fixed layout with reactive text (each alternative view costs .wasm size).
#[component]
pub(super) fn TwoFactor() -> impl IntoView {
    // The key of an enrolment in progress (base32); empty otherwise. The QR code is
    // drawn here from it, never taken from the server as markup.
    let key = RwSignal::new(String::new());
    let me = use_ws().me.to_string();
    let (code, note) = (RwSignal::new(String::new()), RwSignal::new(None::<String>));
    // The recovery codes, shown once as a list until the user says they saved them.
    let codes = RwSignal::new(Vec::<String>::new());
    let SecurityChanged(security, devices) = expect_context::<SecurityChanged>();
    // Whether 2FA is on for this account (read again when it is turned on): once it is,
    // the card says so instead of offering to set it up.
    let is_on = move || devices.get().flatten().is_some_and(|l| l.two_factor);
    let start = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            match ws.totp_setup().await {
                Ok(s) if crate::qr::is_totp_secret(&s.secret) => key.set(s.secret),
                Ok(_) => note.set(Some(t("twofa.bad_secret").into())),
                Err(e) => note.set(Some(e)),
            }
        });
    };
    let confirm = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            note.set(Some(match ws.totp_enable(code.get_untracked()).await {
                Ok(list) => {
                    key.set(String::new());
                    codes.set(list);
                    security.update(|n| *n += 1);
                    t("twofa.on").to_owned()
                }
                Err(e) => e,
            }));
        });
    };
    let require = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            note.set(Some(match ws.require_2fa(true).await {
                Ok(()) => t("twofa.required").into(),
                Err(e) => e,
            }));
        });
    };
    view! {
        <section class="card">
            <h3>{t("twofa.title")}</h3>
            {move || {
                let secret = key.get();
                (!secret.is_empty()).then(|| view! {
                    <div class="qr"><QrCode text=crate::qr::otpauth_uri(&me, &secret) label=t("twofa.qr_label") /></div>
                })
            }}
            {move || (!key.get().is_empty()).then(|| view! { <p class="hint">{t("twofa.scan")} " " <code>{key}</code></p> })}
            {move || (!codes.with(Vec::is_empty)).then(|| {
                let text = codes.get().join("\n");
                let href = text_file_href(&text);
                view! {
                    <div class="recovery" role="group" aria-label=t("twofa.codes_title")>
                        <h4>{t("twofa.codes_title")}</h4>
                        <p class="hint">{t("twofa.codes_hint")}</p>
                        <ol class="codes" aria-label=t("twofa.codes_title")>
                            {codes.get().into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                        </ol>
                        <div class="actions">
                            <a class="button" href=href download="quietdesk-recovery-codes.txt">{t("twofa.download_codes")}</a>
                            <button type="button" class="primary" on:click=move |_| codes.set(Vec::new())>{t("twofa.saved_codes")}</button>
                        </div>
                    </div>
                }
            })}
            <Show when=move || !is_on() fallback=move || note.with(Option::is_none).then(|| view! { <p>{t("twofa.is_on")}</p> })>
                <label for="totp-code">{t("twofa.code")}</label>
                <input id="totp-code" inputmode="numeric" autocomplete="one-time-code"
                    on:input=move |ev| code.set(event_target_value(&ev)) />
            </Show>
            <div class="actions">
                <Show when=move || !is_on()>
                    <button type="button" on:click=start>{t("twofa.set_up")}</button>
                    <button type="button" on:click=confirm>{t("twofa.turn_on")}</button>
                </Show>
                // Shown to everyone (a member who presses it is told only admins may).
                <button type="button" on:click=require>{t("twofa.require")}</button>
            </div>
            <p role="status" aria-label=t("twofa.status")>{move || note.get()}</p>
        </section>
    }
}

/// The recovery kit: a key, shown once, that resets a forgotten passphrase on any
/// device. Making a new one replaces the old; the key is never shown again.
#[component]
pub(super) fn RecoveryKit() -> impl IntoView {
    let (pass, key) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let (note, busy) = (RwSignal::new(None::<String>), RwSignal::new(false));
    let me = use_ws().me.to_string();
    let create = move |_| {
        let (ws, p) = (use_ws(), pass.get_untracked());
        busy.set(true);
        spawn_local(async move {
            match ws.unlocked.create_recovery_kit(&p).await {
                Ok(k) => {
                    pass.set(String::new());
                    key.set(k);
                    note.set(None);
                }
                Err(e) => note.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card">
            <h3>{t("recovery.title")}</h3>
            <p class="hint">{t("recovery.explain")}</p>
            {move || if key.with(String::is_empty) {
                view! {
                    <label for="kit-pass">{t("recovery.confirm_pass")}</label>
                    <input id="kit-pass" type="password" autocomplete="current-password" prop:value=pass
                        on:input=move |ev| pass.set(event_target_value(&ev)) />
                    <div class="actions">
                        <button type="button" on:click=create prop:disabled=busy>{t("recovery.create")}</button>
                    </div>
                }.into_any()
            } else {
                let text = tf("recovery.file", &[("user", &me), ("key", &key.get())]);
                let href = text_file_href(&text);
                view! {
                    <div class="recovery" role="group" aria-label=t("recovery.title")>
                        <p>{t("recovery.shown_once")}</p>
                        <p><code class="kit-key" aria-label=t("recovery.key")>{key}</code></p>
                        <div class="actions">
                            <a class="button" href=href download="quietdesk-recovery-kit.txt">{t("recovery.download")}</a>
                            <button type="button" class="primary" on:click=move |_| key.set(String::new())>{t("recovery.saved")}</button>
                        </div>
                    </div>
                }.into_any()
            }}
            <p role="status" aria-label=t("recovery.status")>{move || note.get()}</p>
        </section>
    }
}

/// Change the passphrase (the current one proves it is you). Keys derived from the new
/// one use a fresh salt bound to the username; the identity keys and every team key stay.
#[component]
pub(super) fn ChangePassphrase() -> impl IntoView {
    let (current, new, repeat) =
        (RwSignal::new(String::new()), RwSignal::new(String::new()), RwSignal::new(String::new()));
    let (note, busy) = (RwSignal::new(None::<String>), RwSignal::new(false));
    let change = move |_| {
        let (c, n) = (current.get_untracked(), new.get_untracked());
        if n.chars().count() < 10 {
            note.set(Some(t("passphrase.too_short").into()));
            return;
        }
        if n != repeat.get_untracked() {
            note.set(Some(t("passphrase.differ").into()));
            return;
        }
        let ws = use_ws();
        busy.set(true);
        note.set(Some(t("passphrase.changing").into()));
        spawn_local(async move {
            note.set(Some(match ws.unlocked.change_passphrase(&c, &n).await {
                Ok(_) => {
                    current.set(String::new());
                    new.set(String::new());
                    repeat.set(String::new());
                    t("passphrase.changed").into()
                }
                Err(e) => e,
            }));
            busy.set(false);
        });
    };
    view! {
        <section class="card">
            <h3>{t("auth.passphrase")}</h3>
            <label for="pass-current">{t("passphrase.current")}</label>
            <input id="pass-current" type="password" autocomplete="current-password" prop:value=current
                on:input=move |ev| current.set(event_target_value(&ev)) />
            <label for="pass-new">{t("passphrase.new")}</label>
            <input id="pass-new" type="password" autocomplete="new-password" prop:value=new
                on:input=move |ev| new.set(event_target_value(&ev)) />
            <label for="pass-repeat">{t("passphrase.repeat")}</label>
            <input id="pass-repeat" type="password" autocomplete="new-password" prop:value=repeat
                on:input=move |ev| repeat.set(event_target_value(&ev)) />
            <div class="actions">
                <button type="button" on:click=change prop:disabled=busy>{t("passphrase.change")}</button>
            </div>
            <p role="status" aria-label=t("passphrase.status")>{move || note.get()}</p>
        </section>
    }
}

/// A link target that downloads `text` as a plain-text file (built here, nothing sent).
fn text_file_href(text: &str) -> String {
    format!("data:text/plain;charset=utf-8,{}", String::from(js_sys::encode_uri_component(text)))
}

/// Bumped when this account's security settings change (2FA turned on), so the cards
/// that show them read them again; and this account's devices with its 2FA state, read
/// once for those cards.
#[derive(Clone, Copy)]
pub(super) struct SecurityChanged(
    pub(super) RwSignal<u32>,
    pub(super) LocalResource<Option<crate::workspace::DeviceLines>>,
);

/// This account's signed-in devices; any other one can be signed out, and then erases
/// its local data at its next contact (a lost phone).
#[component]
pub(super) fn Devices() -> impl IntoView {
    let note = RwSignal::new(None::<String>);
    let devices = expect_context::<SecurityChanged>().1;
    view! {
        <section class="card">
            <h3>{t("devices.title")}</h3>
            <p>{move || devices.get().flatten().map(|l| {
                if l.two_factor { t("twofa.is_on") } else { t("twofa.is_off") }
            })}</p>
            <ul aria-label=t("devices.title")>
                {move || devices.get().flatten().map(|l| l.devices).unwrap_or_default().into_iter().map(|d| {
                    let when = crate::pages::format::format_date(d.last_seen_ms);
                    let text = tf("devices.line", &[("device", &d.device), ("when", &when)]);
                    let revoke = move |_| {
                        let (ws, id) = (use_ws(), d.id.clone());
                        spawn_local(async move {
                            note.set(Some(match ws.revoke_device(&id).await {
                                Ok(()) => t("devices.signed_out").into(),
                                Err(e) => tf("devices.not_signed_out", &[("error", &e)]),
                            }));
                            devices.refetch();
                        });
                    };
                    view! {
                        <li>{text}{if d.current {
                            view! { " " {t("devices.this_device")} }.into_any()
                        } else {
                            view! { <button type="button" class="danger" on:click=revoke>{t("devices.sign_out_erase")}</button> }.into_any()
                        }}</li>
                    }
                }).collect_view()}
            </ul>
            <p role="status" aria-label=t("devices.status")>{move || note.get()}</p>
        </section>
    }
}

/// Security alerts the server raised (e.g. a member pulling far more than usual, an
/// incident), read when the page opens.
#[component]
pub(super) fn Alerts() -> impl IntoView {
    let alerts = LocalResource::new(move || {
        let ws = use_ws();
        async move { ws.alerts().await.unwrap_or_default() }
    });
    view! {
        <section class="card">
            <h3>{t("alerts.title")}</h3>
            <ul aria-label=t("alerts.title")>
                {move || alerts.get().unwrap_or_default().into_iter().map(|a| view! {
                    <li>{a.line}</li>
                }).collect_view()}
            </ul>
        </section>
    }
}

/// How long a member's client keeps sealing new edits after an admin last confirmed
/// its chain (the beacon lease, `shared::team::BEACON_LEASE_HOURS`): set by admins,
/// shown read-only to everyone else. Honoured only under an admin's signature (a
/// member's version of the settings is refused whole), as the engine reads it.
#[component]
pub(super) fn BeaconLease() -> impl IntoView {
    let ws = use_ws();
    let (index, team, settings) = (ws.index, ws.team, shared::team::settings_record(ws.team_id));
    let current = Memo::new(move |_| {
        let set =
            index.with(|i| i.records.get(&settings).and_then(|d| d.get(shared::team::BEACON_LEASE_HOURS)?.as_int()));
        set.map_or(i64::from(shared::team::DEFAULT_BEACON_LEASE_HOURS), |h| h.clamp(1, MAX_LEASE_HOURS))
    });
    let hours = RwSignal::new(current.get_untracked().to_string());
    Effect::new(move |_| hours.set(current.get().to_string()));
    let message = RwSignal::new(None::<String>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let wanted = hours.get_untracked().trim().parse::<i64>().ok().filter(|h| (1..=MAX_LEASE_HOURS).contains(h));
        let Some(wanted) = wanted else {
            message.set(Some(t("lease.bad").into()));
            return;
        };
        let ws = use_ws();
        spawn_local(async move {
            let fields = vec![(shared::team::BEACON_LEASE_HOURS.to_owned(), Some(shared::record::Value::Int(wanted)))];
            message.set(Some(match ws.edit_settings(fields).await {
                Ok(()) => tf("lease.saved", &[("n", &wanted)]),
                Err(e) => tf("lease.not_saved", &[("error", &e)]),
            }));
        });
    };
    view! {
        <section class="card">
            <h3>{t("lease.title")}</h3>
            <p class="hint">{t("lease.hint")}</p>
            {move || if team.with(|t| t.me_admin) {
                view! {
                    <form class="form inline" on:submit=save aria-label=t("lease.title")>
                        <div class="field">
                            <label for="lease-hours">{t("lease.hours")}</label>
                            <input id="lease-hours" type="number" min="1" max=MAX_LEASE_HOURS.to_string() step="1"
                                required prop:value=hours on:input=move |ev| hours.set(event_target_value(&ev)) />
                        </div>
                        <button type="submit">{t("common.save")}</button>
                    </form>
                }
                .into_any()
            } else {
                view! { <p class="lease-now">{move || tf("lease.now", &[("n", &current.get())])}</p> }.into_any()
            }}
            <p role="status" class="message">{move || message.get()}</p>
        </section>
    }
}

/// Whether the team's server was restored from a backup, and whether an admin confirmed
/// it (issue 31, item 7): shown only on a restored server. Devices act on a restore
/// only under an admin's signed notice, so an admin confirms it here; the notice counts
/// for 30 days, after which a device that was away asks for a new one.
#[component]
pub(super) fn ServerRestore() -> impl IntoView {
    let team = use_ws().team;
    let changed = RwSignal::new(0);
    let status = LocalResource::new(move || {
        changed.track();
        let ws = use_ws();
        async move { ws.restore_status().await.ok() }
    });
    let message = RwSignal::new(None::<String>);
    let confirm = move |generation: u64| {
        let ws = use_ws();
        spawn_local(async move {
            let said = match ws.confirm_restore(generation).await {
                Ok(()) => t("restore_notice.confirmed").to_owned(),
                Err(e) => tf("restore_notice.not_confirmed", &[("error", &e)]),
            };
            message.set(Some(said));
            changed.update(|n| *n += 1);
        });
    };
    move || {
        let status = status.get().flatten().filter(|s| s.generation > 0)?;
        let generation = status.generation;
        let now = crate::now_ms();
        let stale = |n: &shared::restore::RestoreNotice| now - n.at_ms > shared::restore::MAX_NOTICE_AGE_MS;
        let said = match &status.notice {
            Some(n) if !stale(n) => {
                tf("restore_notice.by", &[("admin", &n.admin), ("when", &crate::pages::format::format_date(n.at_ms))])
            }
            Some(_) => t("restore_notice.expired").to_owned(),
            None => t("restore_notice.unconfirmed").to_owned(),
        };
        let needed = status.notice.as_ref().is_none_or(stale);
        let button = (needed && team.with(|t| t.me_admin)).then(|| {
            view! {
                <p class="hint">{t("restore_notice.admin_hint")}</p>
                <button type="button" on:click=move |_| confirm(generation)>{t("restore_notice.confirm")}</button>
            }
        });
        Some(view! {
            <section class="card" aria-labelledby="restore-notice-title">
                <h3 id="restore-notice-title">{t("restore_notice.title")}</h3>
                <p>{said}</p>
                {button}
                <p role="status" class="message">{move || message.get()}</p>
            </section>
        })
    }
}

/// The longest beacon lease an admin can set: 30 days (what `shared::team::beacon_lease_ms`
/// honours).
const MAX_LEASE_HOURS: i64 = 720;
