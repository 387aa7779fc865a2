//! Data lifecycle (admins): customers with no interaction for N months are dormant;
//! after M months an admin may anonymise or delete them, after a preview of exactly
//! which. Deleting more records than the server takes unapproved (20 an hour by
//! default) waits for an admin's approval at the next sync (see
//! `Workspace::approve_deletions`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::audit::AuditAction;
use shared::domain::field;
use shared::ids::RecordId;
use shared::lifecycle::{anonymise, inactive_for, last_activity, DORMANT_MONTHS, PURGE_MONTHS};
use shared::record::{Value, DELETED};

use crate::i18n::{t, tf};
use crate::pages::format::format_date;
use crate::use_ws;

#[component]
pub fn Lifecycle() -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let dormant_months = RwSignal::new(DORMANT_MONTHS.to_string());
    let purge_months = RwSignal::new(PURGE_MONTHS.to_string());
    let status = RwSignal::new(String::new());
    let progress = RwSignal::new(None::<(usize, usize)>);
    let last = Memo::new(move |_| index.with(|i| last_activity(i.records.iter().map(|(id, d)| (id, &**d)))));
    let months = |s: RwSignal<String>, default: u32| s.get().trim().parse::<u32>().unwrap_or(default).max(1);
    let dormant =
        Memo::new(move |_| last.with(|l| inactive_for(l, crate::now_ms(), months(dormant_months, DORMANT_MONTHS))));
    let eligible =
        Memo::new(move |_| last.with(|l| inactive_for(l, crate::now_ms(), months(purge_months, PURGE_MONTHS))));
    let name = move |id: &RecordId| {
        index.with_untracked(|i| i.doc(id).and_then(|d| d.text(field::NAME).map(str::to_owned))).unwrap_or_default()
    };
    // Anonymise or delete exactly the previewed customers (with what links to them).
    let run = move |delete: bool| {
        let ws = use_ws();
        let ids: Vec<RecordId> = eligible.get_untracked().into_iter().map(|(id, _)| id).collect();
        if ids.is_empty() {
            return;
        }
        let ask = tf(if delete { "lifecycle.ask_delete" } else { "lifecycle.ask_anonymise" }, &[("n", &ids.len())]);
        if !window().confirm_with_message(&ask).unwrap_or(false) {
            return;
        }
        // Read now: the user may leave the page while it runs (its signals go with it).
        let months = purge_months.get_untracked();
        spawn_local(async move {
            let idx = ws.index.get_untracked();
            let total = ids.len();
            for (done, chunk) in ids.chunks(100).enumerate() {
                let mut edits = Vec::new();
                for id in chunk {
                    let Some(doc) = idx.doc(id) else { continue };
                    let key = id.to_string();
                    let linked: Vec<(RecordId, &shared::record::RecordDoc)> = idx
                        .records
                        .iter()
                        .filter(|(_, d)| d.text(field::CUSTOMER) == Some(key.as_str()))
                        .map(|(rid, d)| (*rid, &**d))
                        .collect();
                    if delete {
                        let gone = Some(Value::Bool(true));
                        edits.push((*id, vec![(DELETED.to_owned(), gone.clone())]));
                        edits.extend(linked.iter().map(|(rid, _)| (*rid, vec![(DELETED.to_owned(), gone.clone())])));
                    } else {
                        edits.extend(anonymise(*id, &doc, &linked));
                    }
                }
                if let Err(e) = ws.edit_many(edits).await {
                    status.set(tf("lifecycle.stopped", &[("error", &e)]));
                    return;
                }
                progress.set(Some(((done * 100 + chunk.len()).min(total), total)));
            }
            ws.request_sync();
            let past = if delete { "deleted" } else { "anonymised" };
            let detail = format!("{past} {total} customers with no interaction for {months} months");
            ws.audit(AuditAction::Lifecycle, None, None, detail).await;
            status.set(tf(if delete { "lifecycle.deleted" } else { "lifecycle.anonymised" }, &[("n", &total)]));
            progress.set(None);
        });
    };
    let number = |id: &'static str, label: &'static str, sig: RwSignal<String>| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id type="number" min="1" prop:value=sig on:input=move |ev| sig.set(event_target_value(&ev)) />
            </div>
        }
    };
    let list = move |rows: Vec<(RecordId, i64)>, label: &'static str| {
        view! {
            <ul aria-label=label class="plain">
                {rows.into_iter().map(|(id, at)| view! {
                    <li><a href=crate::route::customer(&id.to_string())>{name(&id)}</a>" — " {tf("lifecycle.last_activity", &[("when", &format_date(at))])}</li>
                }).collect_view()}
            </ul>
        }
    };
    view! {
        <section class="page">
            <h1>{t("nav.lifecycle")}</h1>
            <section class="card form">
                <h3>{t("lifecycle.rules")}</h3>
                {number("dormant-months", t("lifecycle.dormant_after"), dormant_months)}
                {number("purge-months", t("lifecycle.purge_after"), purge_months)}
            </section>
            <section class="card">
                <h3>{move || tf("lifecycle.dormant", &[("n", &dormant.with(Vec::len))])}</h3>
            </section>
            <section class="card">
                <h3>{move || tf("lifecycle.eligible", &[("n", &eligible.with(Vec::len))])}</h3>
                <p>{t("lifecycle.exactly")}</p>
                {move || list(eligible.get(), t("lifecycle.eligible_list"))}
                <div class="actions">
                    <button type="button" on:click=move |_| run(false)>{move || tf("lifecycle.anonymise", &[("n", &eligible.with(Vec::len))])}</button>
                    <button type="button" class="danger" on:click=move |_| run(true)>{move || tf("lifecycle.delete", &[("n", &eligible.with(Vec::len))])}</button>
                </div>
                {move || progress.get().map(|(done, total)| view! {
                    <label for="lifecycle-progress">{tf("lifecycle.progress", &[("done", &done), ("total", &total)])}</label>
                    <progress id="lifecycle-progress" max=total.to_string() value=done.to_string()></progress>
                })}
                <p role="status" aria-label=t("lifecycle.status")>{move || status.get()}</p>
            </section>
        </section>
    }
}
