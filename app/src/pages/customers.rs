//! The customer list with instant search and filters. Search runs over the in-memory
//! index of decrypted records; nothing about it reaches the server.

use std::collections::HashSet;

use leptos::prelude::*;
use shared::domain::{field, Entity, EntityKind, Interaction, Status, Task};
use shared::record::Value;
use shared::search::normalize_query;

use crate::i18n::{number, status_label, t, tf};
use crate::pages::customer_table::{
    default_columns, sort_key, BulkActions, ColumnPicker, CustomerTable, ListState, SavedViews,
};
use crate::workspace::Index;
use crate::{now_ms, route, use_ws};
use shared::ids::RecordId;

/// Where this device remembers the list's layout.
const LAYOUT_KEY: &str = "quietdesk-list-layout";
/// Rows rendered at a time; "Show more" adds another page.
const PAGE: usize = 50;
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Row {
    id: String,
    name: String,
    company: String,
    phone: String,
    status: String,
}

/// What the list is narrowed to, besides the search text.
#[derive(Clone, Copy)]
struct Filters {
    status: RwSignal<String>,
    tag: RwSignal<String>,
    owner: RwSignal<String>,
    overdue: RwSignal<bool>,
    /// Days without an interaction; 0 = any.
    quiet_days: RwSignal<i64>,
    /// No consent on record, or consent withdrawn.
    no_consent: RwSignal<bool>,
    /// Choice custom fields narrowed to a value: (stored field name, value).
    custom: RwSignal<Vec<(String, String)>>,
}

/// A parameter of the address's query (`?quiet=30`).
fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    search.trim_start_matches('?').split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// Customers (by id) with an open task past its due time.
fn with_overdue_task(idx: &Index, now: i64) -> HashSet<String> {
    idx.of_kind(EntityKind::Task.as_str())
        .filter_map(|(_, d)| Task::from_doc(d))
        .filter(|t| !t.done && t.due_ms < now)
        .map(|t| t.customer)
        .collect()
}

/// Customers (by id) with an interaction at or after `since`.
fn contacted_since(idx: &Index, since: i64) -> HashSet<String> {
    idx.of_kind(EntityKind::Interaction.as_str())
        .filter_map(|(_, d)| Interaction::from_doc(d))
        .filter(|i| i.at_ms >= since)
        .map(|i| i.customer)
        .collect()
}

#[component]
pub fn CustomerList() -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let (query, set_query) = signal(String::new());
    let filters = Filters {
        status: RwSignal::new(String::new()),
        tag: RwSignal::new(String::new()),
        owner: RwSignal::new(String::new()),
        overdue: RwSignal::new(false),
        // A link may open the list narrowed (the home page's "forgotten customers").
        quiet_days: RwSignal::new(query_param("quiet").and_then(|v| v.parse().ok()).unwrap_or(0)),
        no_consent: RwSignal::new(false),
        custom: RwSignal::new(Vec::new()),
    };
    let custom_defs = crate::pages::custom_fields::use_custom_fields();
    // Cards or the table, as last chosen on this device (a saved view may choose too).
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    let table_chosen =
        storage.as_ref().and_then(|s| s.get_item(LAYOUT_KEY).ok().flatten()).is_some_and(|v| v == "table");
    let state = ListState {
        status: filters.status,
        tag: filters.tag,
        owner: filters.owner,
        custom: filters.custom,
        sort: RwSignal::new(("name".to_owned(), false)),
        columns: RwSignal::new(default_columns()),
        table: RwSignal::new(table_chosen),
    };
    Effect::new(move |_| {
        let layout = if state.table.get() { "table" } else { "cards" };
        if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = s.set_item(LAYOUT_KEY, layout);
        }
    });
    let selected = RwSignal::new(HashSet::<RecordId>::new());
    // The task and interaction sets are only built while their filter is on.
    let overdue_set = Memo::new(move |_| filters.overdue.get().then(|| index.with(|i| with_overdue_task(i, now_ms()))));
    let recent_set = Memo::new(move |_| match filters.quiet_days.get() {
        0 => None,
        days => Some(index.with(|i| contacted_since(i, now_ms() - days * DAY_MS))),
    });
    // Positions in the name-ordered customer list of every match: one pass over the
    // search buffer, then the other filters on the survivors only.
    // The last search's hits: a query that extends it (typing on) looks only at those
    // when they are few, instead of at every customer's text.
    let last_found: StoredValue<Option<(Index, String, Vec<u32>)>> = StoredValue::new(None);
    let matches = Memo::new(move |_| {
        let q = normalize_query(&query.get());
        let (st, tag, owner) = (filters.status.get(), filters.tag.get(), filters.owner.get());
        let no_consent = filters.no_consent.get();
        let custom: Vec<(String, String)> = filters.custom.get().into_iter().filter(|(_, v)| !v.is_empty()).collect();
        index.with(|idx| {
            // Every customer without a query: the search buffer is not built for that
            // (it is built once the list is on screen, below).
            let found = if q.is_empty() {
                (0..idx.customers.len() as u32).collect()
            } else {
                let narrower = last_found.with_value(|last| {
                    last.as_ref()
                        .filter(|(i, p, hits)| {
                            i.is(idx) && q.contains(p.as_str()) && hits.len() * 4 < idx.customers.len()
                        })
                        .map(|(_, _, hits)| idx.search().find_within(&q, hits))
                });
                let found = narrower.unwrap_or_else(|| idx.search().find(&q));
                last_found.set_value(Some((idx.clone(), q.clone(), found.clone())));
                found
            };
            let narrowed = !st.is_empty() || !tag.is_empty() || !owner.is_empty() || no_consent || !custom.is_empty();
            let (overdue, recent) = (overdue_set.read(), recent_set.read());
            if !narrowed && overdue.is_none() && recent.is_none() {
                return found;
            }
            found
                .into_iter()
                .filter(|&i| {
                    let c = &idx.customers[i as usize];
                    let id = c.id.to_string();
                    let d = &c.doc;
                    (st.is_empty() || Status::of(d).is_some_and(|s| s.as_str() == st))
                        && (owner.is_empty() || d.text(field::OWNER) == Some(owner.as_str()))
                        && (tag.is_empty()
                            || d.get(field::TAGS).and_then(Value::as_list).is_some_and(|t| t.contains(&tag)))
                        && (!no_consent
                            || d.get(field::CONSENT_AT).is_none()
                            || d.get(field::CONSENT_WITHDRAWN) == Some(&Value::Bool(true)))
                        && custom.iter().all(|(f, v)| match d.get(f) {
                            Some(Value::Text(t)) => t == v,
                            Some(Value::List(l)) => l.contains(v),
                            _ => false,
                        })
                        && overdue.as_ref().is_none_or(|s| s.contains(&id))
                        && recent.as_ref().is_none_or(|s| !s.contains(&id))
                })
                .collect()
        })
    });
    // The matches in the chosen order: by name as the index keeps them (reversed for
    // descending), else by the column's values.
    let sorted = Memo::new(move |_| {
        let (col, desc) = state.sort.get();
        let defs = custom_defs.get();
        let mut v = matches.get();
        if col != "name" {
            index.with(|idx| {
                let mut keyed: Vec<(String, u32)> = v
                    .iter()
                    .map(|&i| {
                        let key = idx
                            .customers
                            .get(i as usize)
                            .map(|c| &c.doc)
                            .map(|d| sort_key(d, &col, &defs))
                            .unwrap_or_default();
                        (key, i)
                    })
                    .collect();
                keyed.sort();
                v = keyed.into_iter().map(|(_, i)| i).collect();
            });
        }
        if desc {
            v.reverse();
        }
        v
    });
    let shown = RwSignal::new(PAGE);
    let shown_ids = Signal::derive(move || {
        let n = shown.get();
        index.with(|idx| {
            sorted.with(|s| s.iter().take(n).filter_map(|&i| Some(idx.customers.get(i as usize)?.id)).collect())
        })
    });
    let rows = Memo::new(move |_| {
        let n = shown.get();
        index.with(|idx| {
            sorted.with(|found| {
                found
                    .iter()
                    .take(n)
                    .filter_map(|&i| {
                        let id = idx.customers.get(i as usize)?.id;
                        let d = idx.records.get(&id)?;
                        Some(Row {
                            id: id.to_string(),
                            name: d.text(field::NAME).unwrap_or_default().to_owned(),
                            company: d.text(field::COMPANY).unwrap_or_default().to_owned(),
                            phone: d.text(field::PHONE).or(d.text(field::PHONE_MASKED)).unwrap_or_default().to_owned(),
                            status: Status::of(d).map(status_label).unwrap_or_default().to_owned(),
                        })
                    })
                    .collect::<Vec<_>>()
            })
        })
    });
    let total = move || index.with(|i| i.customers.len());
    // Build the search buffer once the list is on screen, not on the first keystroke.
    Effect::new(move |_| {
        let idx = index.get();
        leptos::task::spawn_local(async move {
            crate::workspace::after_next_frame().await;
            idx.prepare_search(|idx| index.try_with_untracked(|shown| shown.is(idx)).unwrap_or(false)).await;
        });
    });
    view! {
        <section class="page" class:page--board=move || state.table.get()>
            <div class="page__head">
                <h1>{t("nav.customers")}</h1>
                <a href=route::DUPLICATES class="button">{t("duplicates.find")}</a>
                <a href=route::NEW_CUSTOMER class="button primary">{t("customers.new")}</a>
            </div>
            <div class="filters">
                <div class="field">
                    <label for="search">{t("customers.search")}</label>
                    <input id="search" type="search" placeholder=t("customers.search_placeholder")
                        prop:value=query on:input=move |ev| set_query.set(event_target_value(&ev)) />
                </div>
                <FilterControls filters=filters />
            </div>
            <div class="list-tools">
                <div class="toolbar" role="group" aria-label=t("table.layout")>
                    <button type="button" aria-pressed=move || (!state.table.get()).to_string() on:click=move |_| state.table.set(false)>{t("table.cards")}</button>
                    <button type="button" aria-pressed=move || state.table.get().to_string() on:click=move |_| state.table.set(true)>{t("table.table")}</button>
                </div>
                {move || state.table.get().then(|| view! { <ColumnPicker state=state defs=custom_defs /> })}
                <SavedViews state=state />
            </div>
            {move || state.table.get().then(|| view! { <BulkActions selected=selected defs=custom_defs /> })}
            <p class="count" role="status" aria-label=t("customers.matching")>
                {move || tf("customers.count", &[("n", &number(matches.with(Vec::len) as i64)), ("total", &number(total() as i64))])}
            </p>
            // Gmail's "select all that match": a bulk action can reach every match, not
            // only the rows drawn so far.
            {move || {
                let all = matches.with(Vec::len);
                (state.table.get() && all > 0 && selected.with(HashSet::len) < all).then(|| {
                    let select_all = move |_| {
                        let ids: HashSet<RecordId> = index.with_untracked(|idx| {
                            matches.with_untracked(|m| m.iter().filter_map(|&i| Some(idx.customers.get(i as usize)?.id)).collect())
                        });
                        selected.set(ids);
                    };
                    view! {
                        <button type="button" class="select-matching" on:click=select_all>
                            {tf("table.select_matching", &[("n", &number(all as i64))])}
                        </button>
                    }
                })
            }}
            {move || state.table.get().then(|| view! { <CustomerTable ids=shown_ids state=state defs=custom_defs selected=selected /> })}
            <ul class="list" aria-label=t("nav.customers") hidden=move || state.table.get()>
                // Plain anchors (the router still handles their clicks): a router `<A>`
                // per row costs reactive work on every keystroke that changes the rows.
                // Keyed by the whole row, so a row whose text changed (an edit synced in,
                // a key that now opens the phone) is rendered again.
                <For each=move || rows.get() key=|r| r.clone() let:row>
                    <li class="list__item">
                        <a href=route::customer(&row.id)>
                            <span class="list__name">{row.name.clone()}</span>
                            <span class="list__meta">{row.company.clone()}</span>
                            <span class="list__meta">{row.phone.clone()}</span>
                            {(!row.status.is_empty()).then(|| view! { <span class="badge">{row.status.clone()}</span> })}
                        </a>
                    </li>
                </For>
            </ul>
            {move || (matches.with(Vec::len) > shown.get()).then(|| view! {
                <button type="button" on:click=move |_| shown.update(|n| *n += PAGE)>{t("customers.show_more")}</button>
            })}
        </section>
    }
}

/// Stage, tag, owner, overdue task and "no recent contact" filters.
#[component]
fn FilterControls(filters: Filters) -> impl IntoView {
    let index = use_ws().index;
    let custom_defs = crate::pages::custom_fields::use_custom_fields();
    let set_custom = move |field: String, value: String| {
        filters.custom.update(|c| {
            c.retain(|(f, _)| *f != field);
            c.push((field, value));
        })
    };
    let custom_filters = move || {
        custom_defs
            .get()
            .into_iter()
            .filter(|d| d.kind.has_options())
            .map(|d| {
                let (id, name) = (format!("cf-filter-{}", d.key), d.field_name());
                let shown_name = name.clone();
                let value = move || filters.custom.with(|c| c.iter().find(|(f, _)| *f == shown_name).map(|(_, v)| v.clone()).unwrap_or_default());
                view! {
                    <div class="field">
                        <label for=id.clone()>{d.label.clone()}</label>
                        <select id=id prop:value=value on:change=move |ev| set_custom(name.clone(), event_target_value(&ev))>
                            <option value="">{t("customers.any")}</option>
                            {d.options.iter().map(|o| view! { <option value=o.clone()>{o.clone()}</option> }.into_any()).collect::<Vec<AnyView>>()}
                        </select>
                    </div>
                }
                .into_any()
            })
            .collect::<Vec<AnyView>>()
    };
    // Tags and owners in use, for the pickers (only customers, each once, sorted).
    let choices = Memo::new(move |_| index.with(|idx| idx.choices.sorted()));
    let options = |items: Vec<String>| {
        items.into_iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()
    };
    view! {
        {custom_filters}
        <div class="field">
            <label for="status-filter">{t("customer.status")}</label>
            <select id="status-filter" prop:value=move || filters.status.get() on:change=move |ev| filters.status.set(event_target_value(&ev))>
                <option value="">{t("customers.all_statuses")}</option>
                {Status::ALL.iter().map(|s| view! { <option value=s.as_str()>{status_label(*s)}</option> }).collect_view()}
            </select>
        </div>
        <div class="field">
            <label for="tag-filter">{t("customers.tag")}</label>
            <select id="tag-filter" prop:value=move || filters.tag.get() on:change=move |ev| filters.tag.set(event_target_value(&ev))>
                <option value="">{t("customers.all_tags")}</option>
                {move || options(choices.with(|c| c.0.clone()))}
            </select>
        </div>
        <div class="field">
            <label for="owner-filter">{t("customer.owner")}</label>
            <select id="owner-filter" prop:value=move || filters.owner.get() on:change=move |ev| filters.owner.set(event_target_value(&ev))>
                <option value="">{t("customers.all_owners")}</option>
                {move || options(choices.with(|c| c.1.clone()))}
            </select>
        </div>
        <div class="field">
            <label for="quiet-filter">{t("customers.last_contact")}</label>
            <select id="quiet-filter" prop:value=move || filters.quiet_days.get().to_string()
                on:change=move |ev| filters.quiet_days.set(event_target_value(&ev).parse().unwrap_or(0))>
                <option value="0">{t("customers.any_time")}</option>
                <option value="30">{tf("customers.none_in_days", &[("n", &30)])}</option>
                <option value="90">{tf("customers.none_in_days", &[("n", &90)])}</option>
                <option value="180">{tf("customers.none_in_days", &[("n", &180)])}</option>
                <option value="1096">{t("customers.dormant")}</option>
            </select>
        </div>
        <div class="field field--check">
            <input id="overdue-filter" type="checkbox" on:change=move |ev| filters.overdue.set(event_target_checked(&ev)) />
            <label for="overdue-filter">{t("customers.has_overdue")}</label>
        </div>
        <div class="field field--check">
            <input id="consent-filter" type="checkbox" on:change=move |ev| filters.no_consent.set(event_target_checked(&ev)) />
            <label for="consent-filter">{t("customers.consent_missing")}</label>
        </div>
    }
}
