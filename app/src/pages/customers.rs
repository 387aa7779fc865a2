//! The customer list with instant search and filters. Search runs over the in-memory
//! index of decrypted records; nothing about it reaches the server.

use leptos::prelude::*;
use leptos_router::components::A;
use shared::domain::{field, EntityKind, Stage};
use shared::record::{RecordDoc, Value};

use crate::{route, use_ws};

/// Lower-cased text of the fields search looks at.
fn haystack(d: &RecordDoc) -> String {
    let mut s = String::new();
    for f in [field::NAME, field::COMPANY, field::PHONE, field::PHONE_MASKED, field::EMAIL, field::NOTES] {
        if let Some(t) = d.text(f) {
            s.push_str(t);
            s.push('\u{1}');
        }
    }
    if let Some(tags) = d.get(field::TAGS).and_then(Value::as_list) {
        s.push_str(&tags.join(" "));
    }
    s.to_lowercase()
}

#[derive(Clone, PartialEq)]
struct Row {
    id: String,
    name: String,
    company: String,
    phone: String,
    stage: String,
}

#[component]
pub fn CustomerList() -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let (query, set_query) = signal(String::new());
    let (stage, set_stage) = signal(String::new());
    let rows = Memo::new(move |_| {
        let q = query.get().to_lowercase();
        let st = stage.get();
        let idx = index.get();
        let mut rows: Vec<Row> = idx
            .of_kind(EntityKind::Customer.as_str())
            .filter(|(_, d)| st.is_empty() || d.text(field::STAGE) == Some(st.as_str()))
            .filter(|(_, d)| q.is_empty() || haystack(d).contains(&q))
            .map(|(id, d)| Row {
                id: id.to_string(),
                name: d.text(field::NAME).unwrap_or_default().to_owned(),
                company: d.text(field::COMPANY).unwrap_or_default().to_owned(),
                phone: d.text(field::PHONE).or(d.text(field::PHONE_MASKED)).unwrap_or_default().to_owned(),
                stage: d.text(field::STAGE).unwrap_or_default().to_owned(),
            })
            .collect();
        rows.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()));
        rows
    });
    let total = move || index.get().of_kind(EntityKind::Customer.as_str()).count();
    view! {
        <section class="page">
            <div class="page__head">
                <h2>"Customers"</h2>
                <A href=route::NEW_CUSTOMER attr:class="button primary">"New customer"</A>
            </div>
            <div class="filters">
                <div class="field">
                    <label for="search">"Search"</label>
                    <input id="search" type="search" placeholder="Name, company, phone, email, tag, notes"
                        prop:value=query on:input=move |ev| set_query.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="stage-filter">"Stage"</label>
                    <select id="stage-filter" on:change=move |ev| set_stage.set(event_target_value(&ev))>
                        <option value="">"All stages"</option>
                        {Stage::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
                    </select>
                </div>
            </div>
            <p class="count">{move || format!("{} of {} customers", rows.get().len(), total())}</p>
            <ul class="list" aria-label="Customers">
                <For each=move || rows.get() key=|r| r.id.clone() let:row>
                    <li class="list__item">
                        <A href=route::customer(&row.id)>
                            <span class="list__name">{row.name.clone()}</span>
                            <span class="list__meta">{row.company.clone()}</span>
                            <span class="list__meta">{row.phone.clone()}</span>
                            {(!row.stage.is_empty()).then(|| view! { <span class="badge">{row.stage.clone()}</span> })}
                        </A>
                    </li>
                </For>
            </ul>
        </section>
    }
}
