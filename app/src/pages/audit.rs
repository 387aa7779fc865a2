//! The admins' security page: approval requests to decide, and the audit log —
//! verified on every load (a clear warning if any entry is missing or altered), with
//! filters by user, action, customer and date.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::Approval;
use shared::domain::field;

use crate::i18n::{t, tf};
use crate::pages::format::{format_date, parse_date};
use crate::security::AuditLine;
use crate::use_ws;

/// The most lines the table shows at once (the filters narrow the rest).
const SHOWN: usize = 500;

#[component]
pub fn AuditPage() -> impl IntoView {
    view! {
        <section class="page">
            <h1>{t("nav.audit")}</h1>
            <Approvals />
            <AuditLog />
        </section>
    }
}

/// Requests for risky actions: admins approve or refuse; others see their own.
#[component]
pub fn Approvals() -> impl IntoView {
    let ws = use_ws();
    let admin = ws.team.with_untracked(|t| t.me_admin);
    let changed = ws.approvals_changed;
    let note = RwSignal::new(String::new());
    let list = LocalResource::new(move || {
        changed.track();
        let ws = use_ws();
        async move { ws.approvals().await.unwrap_or_default() }
    });
    let decide = move |a: Approval, approve: bool| {
        let ws = use_ws();
        spawn_local(async move {
            match ws.decide(&a, approve).await {
                Ok(()) => note.set(tf(
                    if approve { "approvals.approved" } else { "approvals.refused" },
                    &[("who", &a.requester)],
                )),
                Err(e) => note.set(e),
            }
            ws.approvals_changed.update(|n| *n += 1);
        });
    };
    view! {
        <section class="card">
            <h3>{t("approvals.title")}</h3>
            <ul aria-label=t("approvals.requests") class="plain">
                {move || list.get().unwrap_or_default().into_iter().map(|a| {
                    let line = tf("approvals.line", &[
                        ("who", &a.requester),
                        ("what", &crate::i18n::approval_what(&a)),
                        ("state", &crate::i18n::approval_state(&a.state)),
                        ("when", &format_date(a.created_ms)),
                    ]);
                    let pending = admin && a.state == "pending";
                    let b = a.clone();
                    view! {
                        <li>
                            <span>{line}</span>
                            {pending.then(|| view! {
                                <button type="button" class="primary" on:click=move |_| decide(a.clone(), true)>{t("approvals.approve")}</button>
                                <button type="button" on:click=move |_| decide(b.clone(), false)>{t("approvals.refuse")}</button>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ul>
            <p role="status" aria-label=t("approvals.status")>{move || note.get()}</p>
        </section>
    }
}

#[component]
fn AuditLog() -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let loaded = LocalResource::new(move || {
        let ws = use_ws();
        async move { ws.audit_view().await.map(std::rc::Rc::new) }
    });
    let (who, action, customer, from, to) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let name_of = move |l: &AuditLine| {
        l.customer.map(|c| {
            index
                .with_untracked(|i| i.doc(&c))
                .and_then(|d| d.text(field::NAME).map(str::to_owned))
                .unwrap_or_else(|| c.to_string()[..8].to_owned())
        })
    };
    let rows = move || {
        let Some(Ok(v)) = loaded.get() else { return Vec::new() };
        let (w, a, c) = (who.get().trim().to_lowercase(), action.get(), customer.get().to_lowercase());
        let from = parse_date(&from.get()).map(|ms| ms - 9 * 3_600_000);
        let to = parse_date(&to.get()).map(|ms| ms + 15 * 3_600_000);
        v.lines
            .iter()
            .filter(|l| w.is_empty() || l.who.contains(&w))
            .filter(|l| a.is_empty() || l.action == a)
            .filter(|l| from.is_none_or(|f| l.at_ms >= f) && to.is_none_or(|t| l.at_ms < t))
            .map(|l| (l.clone(), name_of(l).unwrap_or_default()))
            .filter(|(_, name)| c.is_empty() || name.to_lowercase().contains(&c))
            .fold(Vec::<(AuditLine, String, usize, i64)>::new(), |mut rows, (l, name)| {
                // Repeats of one person opening one customer within a day are one row
                // ("×3, since …"); every entry is still in the log, verified above.
                match rows.last_mut() {
                    Some(last)
                        if l.action == "reveal"
                            && last.0.action == l.action
                            && last.0.who == l.who
                            && last.0.customer == l.customer
                            && last.0.detail == l.detail
                            && last.3 - l.at_ms < 86_400_000 =>
                    {
                        last.2 += 1;
                        last.3 = l.at_ms;
                    }
                    _ => {
                        let at = l.at_ms;
                        rows.push((l, name, 1, at));
                    }
                }
                rows
            })
    };
    let filter_text = |id: &'static str, label: &'static str, ty: &'static str, sig: RwSignal<String>| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id type=ty prop:value=sig on:input=move |ev| sig.set(event_target_value(&ev)) />
            </div>
        }
    };
    view! {
        <section class="card">
            <h3>{t("audit.log")}</h3>
            {move || match loaded.get() {
                None => view! { <p role="status">{t("audit.loading")}</p> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="error">{e}</p> }.into_any(),
                Some(Ok(v)) if !v.problems.is_empty() => view! {
                    <div role="alert" class="error">
                        <strong>{t("audit.tampered")} " "</strong>
                        {v.problems.join("; ")}
                    </div>
                }.into_any(),
                Some(Ok(v)) => view! {
                    <p role="status">{tf("audit.verified", &[("n", &v.entries)])}</p>
                }.into_any(),
            }}
            <form class="filters" aria-label=t("audit.filters") on:submit=|ev| ev.prevent_default()>
                {filter_text("audit-who", t("audit.user"), "search", who)}
                <div class="field">
                    <label for="audit-action">{t("audit.action")}</label>
                    <select id="audit-action" on:change=move |ev| action.set(event_target_value(&ev))>
                        <option value="">{t("audit.all")}</option>
                        {shared::audit::AuditAction::ALL.iter().map(|a| a.as_str()).chain(["team", "server", "incident"]).map(|a| {
                            view! { <option value=a>{a}</option> }
                        }).collect_view()}
                    </select>
                </div>
                {filter_text("audit-customer", t("customer.form"), "search", customer)}
                {filter_text("audit-from", t("audit.from"), "date", from)}
                {filter_text("audit-to", t("audit.to"), "date", to)}
            </form>
            <div class="table-wrap">
                <table aria-label=t("audit.entries")>
                    <thead><tr><th>{t("audit.when")}</th><th>{t("audit.user")}</th><th>{t("audit.action")}</th><th>{t("customer.form")}</th><th>{t("audit.detail")}</th></tr></thead>
                    <tbody>
                        {move || rows().into_iter().take(SHOWN).map(|(l, name, times, first)| view! {
                            <tr>
                                <td>{format_date(l.at_ms)}</td>
                                <td>{l.who}</td>
                                <td>{l.action}</td>
                                <td>{name}</td>
                                <td>
                                    {l.detail}
                                    {(times > 1).then(|| view! {
                                        " " <span class="badge">{tf("audit.repeated", &[("n", &times), ("since", &format_date(first))])}</span>
                                    })}
                                </td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <p class="hint">{move || tf("audit.matching", &[("n", &rows().iter().map(|r| r.2).sum::<usize>()), ("shown", &SHOWN)])}</p>
        </section>
    }
}
