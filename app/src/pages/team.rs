//! The team: members with their role and safety number; admins invite members by link,
//! change roles, offboard in one action, and rotate the team keys. There is no "add by
//! username": that would trust the server for the newcomer's public keys.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::chain::Role;

use crate::account::InviteCheck;
use crate::use_ws;

/// The four roles as `<option>`s, `selected` chosen.
fn role_options(selected: &str) -> impl IntoView {
    [Role::Member, Role::Manager, Role::Support, Role::Admin]
        .map(|r| r.as_str())
        .into_iter()
        .map(|r| view! { <option value=r selected=r == selected>{r}</option> })
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
            <h2>"Team"</h2>
            <section class="card">
                <h3>"Members"</h3>
                <p class="hint">{move || format!("Key epoch {}", team.with(|t| t.epoch))}</p>
                <p class="hint fingerprint" title="Compare it with your colleagues: the same number means you all see the same team">
                    {move || format!("Team fingerprint: {}", team.with(|t| t.fingerprint.clone()))}
                </p>
                <ul class="members" aria-label="Members">
                    <For each=move || team.with(|t| t.members.clone()) key=|m| m.clone() let:m>
                        <MemberRow name=m.0 role=m.1 fingerprint=m.2 message=message me=me.clone() activity=activity />
                    </For>
                </ul>
                <p role="status" class="message" aria-label="Team status">{move || message.get()}</p>
            </section>
            <TwoFactor />
            <ChangePassphrase />
            <Devices />
            {move || is_admin.get().then(|| view! {
                <Alerts />
                <Reencryption />
                <RotationSchedule message=message />
                <Invitations message=message />
                <RotateKeys message=message />
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
        message.set(Some(format!("Removing {who} and rotating the team keys…")));
        spawn_local(async move {
            match ws.remove_member(&who).await {
                Ok(()) => message.set(Some(format!("Removed {who}. New keys were shared with everyone else."))),
                Err(e) => message.set(Some(format!("{who} was not removed: {e}"))),
            }
        });
    };
    let seen_name = name.clone();
    let seen = move || {
        activity.get().and_then(|list| {
            let a = list.into_iter().find(|a| a.username.as_str() == seen_name)?;
            Some(match (a.last_seen_ms, a.device) {
                (Some(t), Some(d)) => format!(
                    "Last seen {} on {d} ({} device{})",
                    crate::pages::customer::format_date(t),
                    a.sessions,
                    if a.sessions == 1 { "" } else { "s" }
                ),
                _ => "No device logged in".to_owned(),
            })
        })
    };
    let label = format!("Remove {name}");
    let confirm_label = format!("Confirm removing {name}");
    view! {
        <li>
            <strong>{name.clone()}</strong> " " <span class="badge">{role.clone()}</span>
            <span class="fingerprint" title="Safety number: compare it with this member in person or by phone">
                {if not_me { "Safety number with you: " } else { "Your key fingerprint: " }}{fingerprint}
            </span>
            <span class="seen">{seen}</span>
            {move || can_remove().then(|| {
                let (label, confirm_label, remove) = (label.clone(), confirm_label.clone(), remove.clone());
                let (who, wipe_label) = (name.clone(), format!("Wipe devices of {name}"));
                let wipe = move |_| {
                    let (ws, who) = (use_ws(), who.clone());
                    spawn_local(async move {
                        message.set(Some(match ws.wipe_member(&who).await {
                            Ok(_) => "Signed out; their devices erase their data on next contact.".into(),
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
                            <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
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
        let asked = web_sys::window().and_then(|w| w.prompt_with_message("Incident: what happened?").ok());
        let Some(Some(reason)) = asked else { return };
        spawn_local(async move {
            message.set(Some(match ws.declare_incident(reason).await {
                Ok(()) => "Incident declared.".into(),
                Err(e) => e,
            }));
        });
    };
    let rotate = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            match ws.rotate_keys().await {
                Ok(()) => message.set(Some("Started a new key epoch; new writes use it now.".into())),
                Err(e) => message.set(Some(format!("Keys were not rotated: {e}"))),
            }
        });
    };
    view! {
        <section class="card">
            <h3>"Keys"</h3>
            <p class="hint">"Rotating starts a new key epoch shared with the current members only."</p>
            <button type="button" on:click=rotate>"Rotate keys now"</button>
            <button type="button" class="danger" on:click=incident>"Declare an incident"</button>
        </section>
    }
}

/// Two-factor authentication: set-up with a QR code (or the key typed in), a first
/// code to confirm, then the recovery codes once; admins can require it of the team.
/// One fixed layout with reactive text (each alternative view costs .wasm size).
#[component]
fn TwoFactor() -> impl IntoView {
    // The QR code (SVG) and the key of an enrolment in progress; empty otherwise.
    let (qr, key) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let (code, note) = (RwSignal::new(String::new()), RwSignal::new(None::<String>));
    let start = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            match ws.totp_setup().await {
                Ok(s) => {
                    qr.set(s.qr_svg);
                    key.set(s.secret);
                }
                Err(e) => note.set(Some(e)),
            }
        });
    };
    let confirm = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            note.set(Some(match ws.totp_enable(code.get_untracked()).await {
                Ok(codes) => {
                    qr.set(String::new());
                    key.set(String::new());
                    format!("Two-factor authentication is on. Recovery codes (single use): {}", codes.join(" "))
                }
                Err(e) => e,
            }));
        });
    };
    let require = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            note.set(Some(match ws.require_2fa(true).await {
                Ok(()) => "The team now requires two-factor authentication.".into(),
                Err(e) => e,
            }));
        });
    };
    view! {
        <section class="card">
            <h3>"Two-factor authentication"</h3>
            <div class="qr" inner_html=qr></div>
            <p class="hint">"Scan it with an authenticator app or type: " <code>{key}</code></p>
            <label for="totp-code">"Code from your authenticator app"</label>
            <input id="totp-code" inputmode="numeric" autocomplete="one-time-code"
                on:input=move |ev| code.set(event_target_value(&ev)) />
            <div class="actions">
                <button type="button" on:click=start>"Set up two-factor authentication"</button>
                <button type="button" on:click=confirm>"Turn on"</button>
                // Shown to everyone (a member who presses it is told only admins may).
                <button type="button" on:click=require>"Require it in this team"</button>
            </div>
            <p role="status" aria-label="Two-factor status">{move || note.get()}</p>
        </section>
    }
}

/// Change the passphrase (the current one proves it is you). Keys derived from the new
/// one use a fresh salt bound to the username; the identity keys and every team key stay.
#[component]
fn ChangePassphrase() -> impl IntoView {
    let (current, new, repeat) =
        (RwSignal::new(String::new()), RwSignal::new(String::new()), RwSignal::new(String::new()));
    let (note, busy) = (RwSignal::new(None::<String>), RwSignal::new(false));
    let change = move |_| {
        let (c, n) = (current.get_untracked(), new.get_untracked());
        if n.chars().count() < 10 {
            note.set(Some("Use a new passphrase of at least 10 characters.".into()));
            return;
        }
        if n != repeat.get_untracked() {
            note.set(Some("The two new passphrases differ.".into()));
            return;
        }
        let ws = use_ws();
        busy.set(true);
        note.set(Some("Changing the passphrase…".into()));
        spawn_local(async move {
            note.set(Some(match ws.unlocked.change_passphrase(&c, &n).await {
                Ok(_) => {
                    current.set(String::new());
                    new.set(String::new());
                    repeat.set(String::new());
                    "Passphrase changed. Use the new one from now on, on every device.".into()
                }
                Err(e) => e,
            }));
            busy.set(false);
        });
    };
    view! {
        <section class="card">
            <h3>"Passphrase"</h3>
            <label for="pass-current">"Current passphrase"</label>
            <input id="pass-current" type="password" autocomplete="current-password" prop:value=current
                on:input=move |ev| current.set(event_target_value(&ev)) />
            <label for="pass-new">"New passphrase"</label>
            <input id="pass-new" type="password" autocomplete="new-password" prop:value=new
                on:input=move |ev| new.set(event_target_value(&ev)) />
            <label for="pass-repeat">"New passphrase again"</label>
            <input id="pass-repeat" type="password" autocomplete="new-password" prop:value=repeat
                on:input=move |ev| repeat.set(event_target_value(&ev)) />
            <div class="actions">
                <button type="button" on:click=change prop:disabled=busy>"Change passphrase"</button>
            </div>
            <p role="status" aria-label="Passphrase status">{move || note.get()}</p>
        </section>
    }
}

/// This account's signed-in devices; any other one can be signed out, and then erases
/// its local data at its next contact (a lost phone).
#[component]
fn Devices() -> impl IntoView {
    let note = RwSignal::new(None::<String>);
    let devices = LocalResource::new(move || {
        let ws = use_ws();
        async move { ws.devices().await.ok() }
    });
    view! {
        <section class="card">
            <h3>"Your devices"</h3>
            <p>{move || devices.get().flatten().map(|l| {
                if l.two_factor { "Two-factor authentication is on." } else { "Two-factor authentication is off." }
            })}</p>
            <ul aria-label="Your devices">
                {move || devices.get().flatten().map(|l| l.devices).unwrap_or_default().into_iter().map(|d| {
                    let text = format!("{}, last seen {}", d.device, crate::pages::customer::format_date(d.last_seen_ms));
                    let revoke = move |_| {
                        let (ws, id) = (use_ws(), d.id.clone());
                        spawn_local(async move {
                            note.set(Some(match ws.revoke_device(&id).await {
                                Ok(()) => "Signed out; it erases its data on next contact.".into(),
                                Err(e) => format!("Not signed out: {e}"),
                            }));
                            devices.refetch();
                        });
                    };
                    view! {
                        <li>{text}{if d.current {
                            view! { " (this device)" }.into_any()
                        } else {
                            view! { <button type="button" class="danger" on:click=revoke>"Sign out and erase"</button> }.into_any()
                        }}</li>
                    }
                }).collect_view()}
            </ul>
            <p role="status" aria-label="Devices status">{move || note.get()}</p>
        </section>
    }
}

/// Security alerts the server raised (e.g. a member pulling far more than usual, an
/// incident), read when the page opens.
#[component]
fn Alerts() -> impl IntoView {
    let alerts = LocalResource::new(move || {
        let ws = use_ws();
        async move { ws.alerts().await.unwrap_or_default() }
    });
    view! {
        <section class="card">
            <h3>"Security alerts"</h3>
            <ul aria-label="Security alerts">
                {move || alerts.get().unwrap_or_default().into_iter().map(|a| view! {
                    <li>{a.line}</li>
                }).collect_view()}
            </ul>
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
            <h3>"Re-encryption"</h3>
            {move || if progress.with(|p| p.old > 0) {
                view! {
                    <label for="reencrypt-progress">
                        {move || format!("Moving records to key epoch {}", team.with(|t| t.epoch))}
                    </label>
                    <progress id="reencrypt-progress" max=move || progress.with(|p| p.total) value=done></progress>
                    <p class="hint">{move || format!("{} of {} records re-encrypted", done(), progress.with(|p| p.total))}</p>
                }.into_any()
            } else {
                view! {
                    <p role="status" aria-label="Re-encryption status">
                        {move || format!("All records ({}) are on key epoch {}.", progress.with(|p| p.total), team.with(|t| t.epoch))}
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
                Err(e) => message.set(Some(format!("No invitation made: {e}"))),
            }
        });
    };
    let admit = move |info: shared::api::InviteInfo| {
        let ws = use_ws();
        spawn_local(async move {
            let who = info.accepted.as_ref().map(|a| a.username.to_string()).unwrap_or_default();
            match ws.admit(&info, &|m| message.set(Some(m))).await {
                Ok(()) => message.set(Some(format!("Added {who}."))),
                Err(e) => message.set(Some(e)),
            }
            invites.refetch();
        });
    };
    view! {
        <section class="card">
            <h3>"Invite someone"</h3>
            <form class="form inline" on:submit=create aria-label="Create invitation">
                <div class="field">
                    <label for="inv-role">"Invite as"</label>
                    <select id="inv-role" on:change=move |ev| role.set(event_target_value(&ev))>
                        {role_options("member")}
                    </select>
                </div>
                <button type="submit">"Create invitation link"</button>
            </form>
            {move || (!link.with(String::is_empty)).then(|| view! {
                <div class="field">
                    <label for="inv-link">"Invitation link (send it privately; it works once)"</label>
                    <input id="inv-link" readonly prop:value=link />
                </div>
            })}
            <h4>"Open invitations"</h4>
            <button type="button" on:click=move |_| invites.refetch()>"Check invitations"</button>
            <ul class="members" aria-label="Open invitations">
                {move || invites.get().map(|list| list.into_iter().map(|(info, check)| {
                    let who = info.accepted.as_ref().map(|a| a.username.to_string());
                    let text = match (&who, check) {
                        (_, InviteCheck::Waiting) => format!("{} invitation: waiting for an answer", info.role.as_str()),
                        (_, InviteCheck::OtherDevice) => format!("{} invitation made on another device", info.role.as_str()),
                        (Some(w), InviteCheck::Verified) => format!("{w} answered as {}: keys verified", info.role.as_str()),
                        (_, InviteCheck::RoleChanged) => format!(
                            "Refused: the server lists this invitation as {}, but it was made for another role",
                            info.role.as_str()
                        ),
                        (w, _) => format!(
                            "Refused: the keys relayed for {} do not match the invitation",
                            w.clone().unwrap_or_default()
                        ),
                    };
                    let button = (check == InviteCheck::Verified).then(|| {
                        let label = format!("Add {}", who.clone().unwrap_or_default());
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
    let label = format!("Role of {name}");
    let current = role.clone();
    let change = move |ev: leptos::ev::Event| {
        let (ws, who, new) = (use_ws(), name.clone(), event_target_value(&ev));
        spawn_local(async move {
            match ws.change_role(&who, parse_role(&new), &|m| message.set(Some(m))).await {
                Ok(()) => message.set(Some(format!("{who} is now {new}."))),
                Err(e) => message.set(Some(format!("Role not changed: {e}"))),
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
            let id = settings;
            let fields = vec![
                (shared::domain::field::KIND.to_owned(), Some(shared::record::Value::Text("settings".into()))),
                (shared::team::ROTATION_DAYS.to_owned(), Some(shared::record::Value::Int(days))),
            ];
            match ws.edit(id, fields).await {
                Ok(()) if days == 0 => message.set(Some("Keys rotate only when someone leaves or on demand.".into())),
                Ok(()) => message.set(Some(format!("Keys will rotate every {days} days."))),
                Err(e) => message.set(Some(format!("Schedule not saved: {e}"))),
            }
        });
    };
    view! {
        <section class="card">
            <h3>"Rotation schedule"</h3>
            <p class="hint">{move || format!(
                "Key epoch {} began {}.",
                team.with(|t| t.epoch),
                crate::pages::customer::format_date(team.with(|t| t.epoch_started_ms))
            )}</p>
            <div class="field">
                <label for="rotation-days">"Rotate keys automatically"</label>
                <select id="rotation-days" on:change=change>
                    {[(0, "Never"), (30, "Every 30 days"), (90, "Every 90 days"), (180, "Every 180 days"), (365, "Every year")]
                        .into_iter()
                        .map(|(d, label)| view! { <option value=d.to_string() selected=move || current.get() == d>{label}</option> })
                        .collect_view()}
                </select>
            </div>
        </section>
    }
}
