//! The customer list with instant search and filters. Search runs over the in-memory
//! index of decrypted records; nothing about it reaches the server.

use leptos::prelude::*;
use leptos_router::components::A;
use shared::domain::{field, Stage};
use shared::ids::RecordId;

use crate::{route, use_ws};

/// Rows rendered at a time; "Show more" adds another page.
const PAGE: usize = 200;

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
    // Matches in name order: the count of all of them, and the first `shown` as rows.
    // Search scans pre-lowered text in the index; only the visible rows are built.
    let shown = RwSignal::new(PAGE);
    let matches = Memo::new(move |_| {
        let q = query.get().to_lowercase();
        let st = stage.get();
        let idx = index.get();
        let ids: Vec<RecordId> = idx
            .customers
            .iter()
            .filter(|c| q.is_empty() || c.text.contains(&q))
            .filter(|c| st.is_empty() || idx.records.get(&c.id).and_then(|d| d.text(field::STAGE)) == Some(st.as_str()))
            .map(|c| c.id)
            .collect();
        ids
    });
    let rows = Memo::new(move |_| {
        let idx = index.get();
        matches.with(|ids| {
            ids.iter()
                .take(shown.get())
                .filter_map(|id| {
                    let d = idx.records.get(id)?;
                    Some(Row {
                        id: id.to_string(),
                        name: d.text(field::NAME).unwrap_or_default().to_owned(),
                        company: d.text(field::COMPANY).unwrap_or_default().to_owned(),
                        phone: d.text(field::PHONE).or(d.text(field::PHONE_MASKED)).unwrap_or_default().to_owned(),
                        stage: d.text(field::STAGE).unwrap_or_default().to_owned(),
                    })
                })
                .collect::<Vec<_>>()
        })
    });
    let total = move || index.with(|i| i.customers.len());
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
            <p class="count">{move || format!("{} of {} customers", matches.with(Vec::len), total())}</p>
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
            <Show when=move || { matches.with(Vec::len) > shown.get() }>
                <button type="button" on:click=move |_| shown.update(|n| *n += PAGE)>"Show more"</button>
            </Show>
        </section>
    }
}
