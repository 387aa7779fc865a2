//! The team: members with their role and safety number; admins invite members by link,
//! change roles, offboard in one action, and rotate the team keys. There is no "add by
//! username": that would trust the server for the newcomer's public keys.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::chain::Role;

use crate::account::InviteCheck;
use crate::i18n::{role_label, t, tf};
use crate::use_ws;

mod security;
use security::{
    Alerts, BeaconLease, ChangePassphrase, Devices, RecoveryKit, SecurityChanged, ServerRestore, TwoFactor,
};

/// The four roles as `<option>`s, `selected` chosen.
fn role_options(selected: &str) -> impl IntoView {
    [Role::Member, Role::Manager, Role::Support, Role::Admin]
        .into_iter()
        .map(|r| view! { <option value=r.as_str() selected=r.as_str() == selected>{role_label(r)}</option> })
        .collect_view()
}

fn parse_role(s: &str) -> Role {
    match s {
        "admin" => Role::Admin,
        "manager" => Role::Manager,
        "support" => Role::Support,
        _ => Role::Member,
    }
}

#[component]
pub fn TeamPage() -> impl IntoView {
    let changed = RwSignal::new(0);
    // This account's devices and 2FA state, read once for the cards that show them.
    let devices = LocalResource::new(move || {
        changed.track();
        let ws = use_ws();
        async move { ws.devices().await.ok() }
    });
    provide_context(SecurityChanged(changed, devices));
    let team = use_ws().team;
    let message = RwSignal::new(None::<String>);
    let me = use_ws().me.to_string();
    // Re-render the admin cards only when admin-ness changes, not on every team change.
    let is_admin = Memo::new(move |_| team.with(|t| t.me_admin));
    // Admins see when and on what each member was last active.
    let activity = LocalResource::new(move || {
        let ws = use_ws();
        let admin = team.with(|t| t.me_admin);
        async move {
            if admin {
                ws.activity().await.unwrap_or_default()
            } else {
                Vec::new()
            }
        }
    });
    view! {
        <section class="page">
            <h1>{t("nav.team")}</h1>
            // Four groups, each with its own heading: who is in the team, this account's
            // and the team's security, the keys, and the team's settings.
            <section class="group" aria-labelledby="team-people">
                <h2 id="team-people" class="group__title">{t("team.group_people")}</h2>
                <section class="card">
                    <h3>{t("team.members")}</h3>
                    <p class="hint">{move || tf("team.epoch", &[("n", &team.with(|t| t.epoch))])}</p>
                    <p class="hint fingerprint" title=t("team.fingerprint_hint")>
                        {move || tf("team.fingerprint", &[("fingerprint", &team.with(|t| t.fingerprint.clone()))])}
                    </p>
                    <ul class="members" aria-label=t("team.members")>
                        <For each=move || team.with(|t| t.members.clone()) key=|m| m.clone() let:m>
                            <MemberRow name=m.0 role=m.1 fingerprint=m.2 message=message me=me.clone() activity=activity />
                        </For>
                    </ul>
                    <p role="status" class="message" aria-label=t("team.status")>{move || message.get()}</p>
                </section>
                {move || is_admin.get().then(|| view! { <Invitations message=message /> })}
            </section>
            <section class="group" aria-labelledby="team-security">
                <h2 id="team-security" class="group__title">{t("team.group_security")}</h2>
                <TwoFactor />
                <Devices />
                <RecoveryKit />
                <ChangePassphrase />
                {move || is_admin.get().then(|| view! { <Alerts /> })}
                <BeaconLease />
                <ServerRestore />
            </section>
            {move || is_admin.get().then(|| view! {
                <section class="group" aria-labelledby="team-keys">
                    <h2 id="team-keys" class="group__title">{t("team.group_keys")}</h2>
                    <RotateKeys message=message />
                    <Reencryption />
                    <RotationSchedule message=message />
                </section>
                <section class="group" aria-labelledby="team-settings">
                    <h2 id="team-settings" class="group__title">{t("team.group_settings")}</h2>
                    <crate::pages::custom_fields::CustomFieldsEditor />
                    <Retention />
                    <section class="card">
                        <h3>{t("team.elsewhere")}</h3>
                        <p class="hint">{t("team.elsewhere_hint")}</p>
                        <div class="actions">
                            <a class="button" href=crate::route::PIPELINE>{t("team.edit_pipelines")}</a>
                            <a class="button" href=crate::route::POOL>{t("team.edit_pool")}</a>
                        </div>
                    </section>
                </section>
            })}
        </section>
    }
}

/// One member; an admin can remove anyone but themselves, after a confirmation.
#[component]
fn MemberRow(
    name: String,
    role: String,
    fingerprint: String,
    me: String,
    message: RwSignal<Option<String>>,
    activity: LocalResource<Vec<shared::api::MemberActivity>>,
) -> impl IntoView {
    let team = use_ws().team;
    let confirming = RwSignal::new(false);
    let not_me = name != me;
    let can_remove = move || not_me && team.with(|t| t.me_admin);
    let who = name.clone();
    let remove = move |_| {
        let (ws, who) = (use_ws(), who.clone());
        message.set(Some(tf("team.removing", &[("who", &who)])));
        spawn_local(async move {
            match ws.remove_member(&who).await {
                Ok(()) => message.set(Some(tf("team.removed", &[("who", &who)]))),
                Err(e) => message.set(Some(tf("team.not_removed", &[("who", &who), ("error", &e)]))),
            }
        });
    };
    let seen_name = name.clone();
    let seen = move || {
        activity.get().and_then(|list| {
            let a = list.into_iter().find(|a| a.username.as_str() == seen_name)?;
            Some(match (a.last_seen_ms, a.device) {
                (Some(at), Some(d)) => {
                    let devices = crate::i18n::tn("team.devices_one", "team.devices_other", a.sessions as usize);
                    let when = crate::pages::format::format_date(at);
                    tf("team.last_seen", &[("when", &when), ("device", &d), ("devices", &devices)])
                }
                _ => t("team.no_device").to_owned(),
            })
        })
    };
    let label = tf("team.remove", &[("who", &name)]);
    let confirm_label = tf("team.confirm_remove", &[("who", &name)]);
    view! {
        <li>
            <strong>{name.clone()}</strong> " " <span class="badge">{crate::i18n::role_text(&role)}</span>
            <span class="fingerprint" title=t("team.safety_hint")>
                {if not_me { t("team.safety_number") } else { t("team.your_fingerprint") }} " " {fingerprint}
            </span>
            <span class="seen">{seen}</span>
            {move || can_remove().then(|| {
                let (label, confirm_label, remove) = (label.clone(), confirm_label.clone(), remove.clone());
                let (who, wipe_label) = (name.clone(), tf("team.wipe", &[("who", &name)]));
                let wipe = move |_| {
                    let (ws, who) = (use_ws(), who.clone());
                    spawn_local(async move {
                        message.set(Some(match ws.wipe_member(&who).await {
                            Ok(_) => t("team.wiped").into(),
                            Err(e) => e,
                        }));
                    });
                };
                view! {
                    <RoleSelect name=name.clone() role=role.clone() message=message />
                    <button type="button" on:click=wipe>{wipe_label}</button>
                    {move || if confirming.get() {
                        view! {
                            <button type="button" class="danger" on:click=remove.clone()>{confirm_label.clone()}</button>
                            <button type="button" on:click=move |_| confirming.set(false)>{t("common.cancel")}</button>
                        }.into_any()
                    } else {
                        view! { <button type="button" on:click=move |_| confirming.set(true)>{label.clone()}</button> }.into_any()
                    }}
                }
            })}
        </li>
    }
}

/// "Rotate keys now": a new epoch for every collection; new writes use it at once.
#[component]
fn RotateKeys(message: RwSignal<Option<String>>) -> impl IntoView {
    // Incident mode: everyone is signed out and every key rotated; the reason is asked
    // in the browser's own dialog and kept with the server's alert.
    let incident = move |_| {
        let ws = use_ws();
        let asked = web_sys::window().and_then(|w| w.prompt_with_message(t("team.incident_prompt")).ok());
        let Some(Some(reason)) = asked else { return };
        spawn_local(async move {
            message.set(Some(match ws.declare_incident(reason).await {
                Ok(()) => t("team.incident_declared").into(),
                Err(e) => e,
            }));
        });
    };
    let rotate = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            match ws.rotate_keys().await {
                Ok(()) => message.set(Some(t("team.rotated").into())),
                Err(e) => message.set(Some(tf("team.not_rotated", &[("error", &e)]))),
            }
        });
    };
    view! {
        <section class="card">
            <h3>{t("team.keys")}</h3>
            <p class="hint">{t("team.rotate_hint")}</p>
            <button type="button" on:click=rotate>{t("team.rotate_now")}</button>
            <button type="button" class="danger" on:click=incident>{t("team.declare_incident")}</button>
        </section>
    }
}

/// Re-encryption onto the newest epoch: a progress bar while records remain on older
/// epochs (it resumes after a reload), then a plain statement.
#[component]
fn Reencryption() -> impl IntoView {
    let ws = use_ws();
    let (progress, team) = (ws.reencryption, ws.team);
    let done = move || progress.with(|p| p.total - p.old);
    view! {
        <section class="card">
            <h3>{t("reencrypt.title")}</h3>
            {move || if progress.with(|p| p.old > 0) {
                view! {
                    <label for="reencrypt-progress">
                        {move || tf("reencrypt.moving", &[("n", &team.with(|t| t.epoch))])}
                    </label>
                    <progress id="reencrypt-progress" max=move || progress.with(|p| p.total) value=done></progress>
                    <p class="hint">{move || tf("reencrypt.progress", &[("done", &done()), ("total", &progress.with(|p| p.total))])}</p>
                }.into_any()
            } else {
                view! {
                    <p role="status" aria-label=t("reencrypt.status")>
                        {move || tf("reencrypt.done", &[("total", &progress.with(|p| p.total)), ("n", &team.with(|t| t.epoch))])}
                    </p>
                }.into_any()
            }}
        </section>
    }
}

/// Invitation links: the secret rides in the link's fragment, never to the server. The
/// joiner's answer is verified here before anyone is added.
#[component]
fn Invitations(message: RwSignal<Option<String>>) -> impl IntoView {
    let role = RwSignal::new("member".to_owned());
    let link = RwSignal::new(String::new());
    let invites = LocalResource::new(move || {
        let ws = use_ws();
        // Re-read when the team changes (an answer arrives as a Chain event).
        ws.team.track();
        async move { ws.invitations().await.unwrap_or_default() }
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (ws, r) = (use_ws(), parse_role(&role.get_untracked()));
        spawn_local(async move {
            match ws.create_invite(r).await {
                Ok(l) => {
                    link.set(l);
                    invites.refetch();
                }
                Err(e) => message.set(Some(tf("invite.not_made", &[("error", &e)]))),
            }
        });
    };
    let admit = move |info: shared::api::InviteInfo| {
        let ws = use_ws();
        spawn_local(async move {
            let who = info.accepted.as_ref().map(|a| a.username.to_string()).unwrap_or_default();
            match ws.admit(&info, &|m| message.set(Some(m))).await {
                Ok(()) => message.set(Some(tf("invite.added", &[("who", &who)]))),
                Err(e) => message.set(Some(e)),
            }
            invites.refetch();
        });
    };
    view! {
        <section class="card">
            <h3>{t("invite.title")}</h3>
            <form class="form inline" on:submit=create aria-label=t("invite.create_form")>
                <div class="field">
                    <label for="inv-role">{t("invite.as")}</label>
                    <select id="inv-role" on:change=move |ev| role.set(event_target_value(&ev))>
                        {role_options("member")}
                    </select>
                </div>
                <button type="submit">{t("invite.create")}</button>
            </form>
            {move || (!link.with(String::is_empty)).then(|| view! {
                <div class="field">
                    <label for="inv-link">{t("invite.link")}</label>
                    <input id="inv-link" readonly prop:value=link />
                </div>
            })}
            <h4>{t("invite.open")}</h4>
            <button type="button" on:click=move |_| invites.refetch()>{t("invite.check")}</button>
            <ul class="members" aria-label=t("invite.open")>
                {move || invites.get().map(|list| list.into_iter().map(|(info, check)| {
                    let who = info.accepted.as_ref().map(|a| a.username.to_string());
                    let text = match (&who, check) {
                        (_, InviteCheck::Waiting) => tf("invite.waiting", &[("role", &role_label(info.role))]),
                        (_, InviteCheck::OtherDevice) => tf("invite.other_device", &[("role", &role_label(info.role))]),
                        (Some(w), InviteCheck::Verified) => tf("invite.verified", &[("who", w), ("role", &role_label(info.role))]),
                        (_, InviteCheck::RoleChanged) => tf("invite.role_changed", &[("role", &role_label(info.role))]),
                        (w, _) => tf("invite.keys_mismatch", &[("who", &w.clone().unwrap_or_default())]),
                    };
                    let button = (check == InviteCheck::Verified).then(|| {
                        let label = tf("invite.add", &[("who", &who.clone().unwrap_or_default())]);
                        let info = info.clone();
                        view! { <button type="button" on:click=move |_| admit(info.clone())>{label}</button> }
                    });
                    view! { <li class=if matches!(check, InviteCheck::Refused | InviteCheck::RoleChanged) { "warn" } else { "" }>{text} {button}</li> }
                }).collect_view())}
            </ul>
        </section>
    }
}

/// An admin changes a member's role; losing access rotates the keys.
#[component]
fn RoleSelect(name: String, role: String, message: RwSignal<Option<String>>) -> impl IntoView {
    let id = format!("role-{name}");
    let label = tf("team.role_of", &[("who", &name)]);
    let current = role.clone();
    let change = move |ev: leptos::ev::Event| {
        let (ws, who, new) = (use_ws(), name.clone(), event_target_value(&ev));
        spawn_local(async move {
            match ws.change_role(&who, parse_role(&new), &|m| message.set(Some(m))).await {
                Ok(()) => message
                    .set(Some(tf("team.role_changed", &[("who", &who), ("role", &crate::i18n::role_text(&new))]))),
                Err(e) => message.set(Some(tf("team.role_not_changed", &[("error", &e)]))),
            }
        });
    };
    view! {
        <label for=id.clone() class="inline-label">{label}</label>
        <select id=id on:change=change>{role_options(&current)}</select>
    }
}

/// How often the team keys rotate on their own (any admin's client does it when due).
#[component]
fn RotationSchedule(message: RwSignal<Option<String>>) -> impl IntoView {
    let ws = use_ws();
    let (index, team, settings) = (ws.index, ws.team, shared::team::settings_record(ws.team_id));
    let current = Memo::new(move |_| {
        let id = settings;
        index.with(|i| i.records.get(&id).and_then(|d| d.get(shared::team::ROTATION_DAYS)?.as_int()).unwrap_or(0))
    });
    let change = move |ev: leptos::ev::Event| {
        let days: i64 = event_target_value(&ev).parse().unwrap_or(0);
        let ws = use_ws();
        spawn_local(async move {
            let fields = vec![(shared::team::ROTATION_DAYS.to_owned(), Some(shared::record::Value::Int(days)))];
            match ws.edit_settings(fields).await {
                Ok(()) if days == 0 => message.set(Some(t("rotation.never_set").into())),
                Ok(()) => message.set(Some(tf("rotation.set", &[("n", &days)]))),
                Err(e) => message.set(Some(tf("rotation.not_saved", &[("error", &e)]))),
            }
        });
    };
    view! {
        <section class="card">
            <h3>{t("rotation.title")}</h3>
            <p class="hint">{move || tf("rotation.began", &[
                ("n", &team.with(|t| t.epoch)),
                ("when", &crate::pages::format::format_date(team.with(|t| t.epoch_started_ms))),
            ])}</p>
            <div class="field">
                <label for="rotation-days">{t("rotation.auto")}</label>
                <select id="rotation-days" on:change=change>
                    {[(0, t("rotation.never")), (30, t("rotation.every_30")), (90, t("rotation.every_90")), (180, t("rotation.every_180")), (365, t("rotation.every_year"))]
                        .into_iter()
                        .map(|(d, label)| view! { <option value=d.to_string() selected=move || current.get() == d>{label}</option> })
                        .collect_view()}
                </select>
            </div>
        </section>
    }
}

/// How many days the server keeps replaced versions of records (issue 31, item 12):
/// read when the page opens, set with Save (the server refuses anyone but an admin).
#[component]
fn Retention() -> impl IntoView {
    let days = RwSignal::new(String::new());
    let message = RwSignal::new(None::<String>);
    {
        let ws = use_ws();
        spawn_local(async move {
            match ws.retention().await {
                Ok(d) => days.set(d.to_string()),
                Err(e) => message.set(Some(e)),
            }
        });
    }
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let wanted = days.get_untracked().trim().parse::<u32>().ok().filter(|d| *d <= shared::api::MAX_RETENTION_DAYS);
        let Some(wanted) = wanted else {
            message.set(Some(t("retention.bad").into()));
            return;
        };
        let ws = use_ws();
        spawn_local(async move {
            message.set(Some(match ws.set_retention(wanted).await {
                Ok(d) => {
                    days.set(d.to_string());
                    tf("retention.saved", &[("n", &d)])
                }
                Err(e) => tf("retention.not_saved", &[("error", &e)]),
            }));
        });
    };
    view! {
        <section class="card">
            <h3>{t("retention.title")}</h3>
            <p class="hint">{t("retention.hint")}</p>
            <form class="form inline" on:submit=save aria-label=t("retention.title")>
                <div class="field">
                    <label for="retention-days">{t("retention.days")}</label>
                    <input id="retention-days" type="number" min="0" max=shared::api::MAX_RETENTION_DAYS.to_string()
                        step="1" required prop:value=days on:input=move |ev| days.set(event_target_value(&ev)) />
                </div>
                <button type="submit">{t("common.save")}</button>
            </form>
            <p role="status" class="message">{move || message.get()}</p>
        </section>
    }
}
