//! "Find duplicates": groups of customers that share a phone, an email, or a name at
//! the same company, across everything this user can open; and the merge of two of
//! them, field by field, side by side.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::domain::field;
use shared::duplicates::{default_side, merge_fields, Reason, Side};
use shared::ids::RecordId;
use shared::record::RecordDoc;

use crate::i18n::{field_label, t, tf};
use crate::{route, use_ws};

/// Why two customers look alike, as shown.
pub fn reason_text(r: Reason) -> &'static str {
    match r {
        Reason::Phone => t("duplicates.same_phone"),
        Reason::Email => t("duplicates.same_email"),
        Reason::NameAndCompany => t("duplicates.same_name"),
    }
}

/// One group: each customer linked, and every one after the first (the oldest) with
/// a link to merge it into the first.
fn group_view(group: Vec<(RecordId, String)>) -> AnyView {
    let (survivor, first) = (group[0].0.to_string(), group[0].1.clone());
    let rows = group
        .into_iter()
        .enumerate()
        .map(|(i, (id, label))| {
            let id = id.to_string();
            let merge = (i > 0).then(|| {
                view! { <a class="button" href=route::merge(&survivor, &id)>{tf("duplicates.merge_into", &[("name", &first)])}</a> }
            });
            view! { <li><a href=route::customer(&id)>{label}</a>{merge}</li> }.into_any()
        })
        .collect::<Vec<AnyView>>();
    view! { <li class="card"><ul class="dup-group">{rows}</ul></li> }.into_any()
}

fn who(doc: &RecordDoc) -> String {
    let (name, company) = (doc.text(field::NAME).unwrap_or_default(), doc.text(field::COMPANY).unwrap_or_default());
    if company.is_empty() {
        name.to_owned()
    } else {
        format!("{name} · {company}")
    }
}

#[component]
pub fn FindDuplicates() -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let groups = Memo::new(move |_| {
        index.track();
        let dup = use_ws().duplicate_index();
        let idx = index.get_untracked();
        dup.groups()
            .into_iter()
            .map(|g| {
                // The customer created first is the one others merge into by default.
                let mut g: Vec<(u64, RecordId, String)> = g
                    .into_iter()
                    .filter_map(|id| {
                        let d = idx.records.get(&id)?;
                        Some((d.fields.get(field::KIND).map_or(0, |k| k.stamp.hlc.wall_ms), id, who(d)))
                    })
                    .collect();
                g.sort();
                g.into_iter().map(|(_, id, label)| (id, label)).collect::<Vec<(RecordId, String)>>()
            })
            .filter(|g| g.len() > 1)
            .collect::<Vec<_>>()
    });
    view! {
        <section class="page">
            <div class="page__head">
                <h1>{t("duplicates.heading")}</h1>
                <a href=route::CUSTOMERS class="button">{t("duplicates.back")}</a>
            </div>
            <p class="muted">{move || tf("duplicates.count", &[("n", &groups.with(Vec::len))])}</p>
            <ul class="dup-groups" aria-label=t("duplicates.heading")>
                {move || groups.get().into_iter().map(group_view).collect::<Vec<AnyView>>()}
            </ul>
            {move || groups.with(Vec::is_empty).then(|| view! { <p class="card">{t("duplicates.none")}</p> })}
        </section>
    }
}

/// Merge `other` into `survivor`: each field's value chosen side by side (the
/// survivor's by default, the other's where the survivor has none); the other's
/// contacts, interactions, tasks and deals move to the survivor.
#[component]
pub fn Merge(survivor: RecordId, other: RecordId) -> impl IntoView {
    let ws = use_ws();
    let idx = ws.index.get_untracked();
    let (Some(s_doc), Some(o_doc)) = (idx.doc(&survivor), idx.doc(&other)) else {
        return view! { <p class="card">{t("merge.gone")}</p> }.into_any();
    };
    let names = merge_fields(&s_doc, &o_doc);
    let choices: BTreeMap<String, RwSignal<Side>> =
        names.iter().map(|f| (f.clone(), RwSignal::new(default_side(&s_doc, f)))).collect();
    let other_id = other.to_string();
    let moved = idx.records.values().filter(|d| d.text(field::CUSTOMER) == Some(other_id.as_str())).count();
    let message = RwSignal::new(None::<String>);
    let navigate = crate::nav::navigator();
    let chosen = choices.clone();
    let merge = move |_| {
        let picked: BTreeMap<String, Side> = chosen.iter().map(|(f, s)| (f.clone(), s.get_untracked())).collect();
        let ws = use_ws();
        spawn_local(async move {
            match ws.merge(survivor, other, &picked).await {
                Ok(()) => {
                    crate::toast(t("merge.done"));
                    navigate(&route::customer(&survivor.to_string()));
                }
                Err(e) => message.set(Some(e)),
            }
        });
    };
    view! {
        <section class="page">
            <h1>{t("merge.heading")}</h1>
            <p>{tf("merge.explain", &[("survivor", &who(&s_doc)), ("other", &who(&o_doc)), ("n", &moved)])}</p>
            <table class="card merge">
                <caption class="sr-only">{t("merge.heading")}</caption>
                <thead>
                    <tr><th scope="col">{t("merge.field")}</th><th scope="col">{who(&s_doc)}</th><th scope="col">{who(&o_doc)}</th></tr>
                </thead>
                <tbody>
                    {names.iter().map(|f| {
                        let side = choices[f];
                        let label = field_label(f);
                        let group = format!("m-{f}");
                        let shown = |d: &RecordDoc| crate::pages::format::shown_value(f, &d.get(f).cloned());
                        let (mine, theirs) = (shown(&s_doc), shown(&o_doc));
                        view! {
                            <tr>
                                <th scope="row">{label}</th>
                                <td><label><input type="radio" name=group.clone() prop:checked=move || side.get() == Side::Survivor
                                    on:change=move |_| side.set(Side::Survivor) />" "{mine}</label></td>
                                <td><label><input type="radio" name=group prop:checked=move || side.get() == Side::Other
                                    on:change=move |_| side.set(Side::Other) />" "{theirs}</label></td>
                            </tr>
                        }.into_any()
                    }).collect::<Vec<AnyView>>()}
                </tbody>
            </table>
            <p><a href=route::merge(&other.to_string(), &survivor.to_string())>{tf("merge.swap", &[("name", &who(&o_doc))])}</a></p>
            <div class="actions">
                <button type="button" class="primary" on:click=merge>{t("merge.confirm")}</button>
                <a class="button" href=route::DUPLICATES>{t("common.cancel")}</a>
                <span role="status" class="message">{move || message.get()}</span>
            </div>
        </section>
    }
    .into_any()
}
