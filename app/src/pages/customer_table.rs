//! The customer list's desk layout: a table with sortable, choosable columns (custom
//! fields included), rows to select, bulk actions on the selection (owner, status, a
//! tag, delete, export), and saved views (filters, sort, columns) synced encrypted per
//! user (`shared::views`).

use std::collections::HashSet;

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::custom::FieldDef;
use shared::domain::{field, Status};
use shared::fields::{Column, CUSTOMER_FIELDS};
use shared::ids::RecordId;
use shared::record::{RecordDoc, Value};
use shared::views::{self, SavedView};

use crate::i18n::{field_label, status_label, t, tf};
use crate::{route, use_ws};

/// A bulk action's field writes for one record.
type MakeEdits = dyn Fn(&RecordDoc) -> Vec<crate::pages::custom_fields::FieldWrite>;

/// Columns the table can show besides the name: built-in fields the registry offers
/// (`shared::fields::CUSTOMER_FIELDS`), then custom fields (by their stored name).
pub fn built_in_columns() -> impl Iterator<Item = &'static str> {
    CUSTOMER_FIELDS.iter().filter(|f| f.column != Column::No).map(|f| f.name)
}

/// The columns a list shows until its user chooses others.
pub fn default_columns() -> Vec<String> {
    CUSTOMER_FIELDS.iter().filter(|f| f.column == Column::Shown).map(|f| f.name.to_owned()).collect()
}

pub fn column_label(col: &str, defs: &[FieldDef]) -> String {
    match defs.iter().find(|d| d.field_name() == col) {
        Some(d) => d.label.clone(),
        None => field_label(col).to_owned(),
    }
}

/// A cell as shown.
pub fn cell(d: &RecordDoc, col: &str, defs: &[FieldDef]) -> String {
    if let Some(def) = defs.iter().find(|x| x.field_name() == col) {
        return crate::pages::custom_fields::shown(def, d).unwrap_or_default();
    }
    match col {
        field::STATUS => Status::of(d).map(status_label).unwrap_or_default().to_owned(),
        c => match d.get(c) {
            Some(Value::List(l)) => l.join(", "),
            Some(Value::Text(t)) => t.clone(),
            // Without the sensitive key: the mask (the phone's), where the field has one.
            _ => shared::fields::spec(c).and_then(|f| d.text(f.mask?)).unwrap_or_default().to_owned(),
        },
    }
}

/// What a column sorts by: numbers by value, text case-insensitively.
pub fn sort_key(d: &RecordDoc, col: &str, defs: &[FieldDef]) -> String {
    match d.get(col) {
        Some(Value::Int(n)) => format!("{:020}", i128::from(*n) + i128::from(i64::MAX)),
        _ => cell(d, col, defs).to_lowercase(),
    }
}

/// The list's state a view saves.
#[derive(Clone, Copy)]
pub struct ListState {
    pub status: RwSignal<String>,
    pub tag: RwSignal<String>,
    pub owner: RwSignal<String>,
    pub custom: RwSignal<Vec<(String, String)>>,
    /// Column and descending.
    pub sort: RwSignal<(String, bool)>,
    pub columns: RwSignal<Vec<String>>,
    pub table: RwSignal<bool>,
}

impl ListState {
    fn save(&self) -> Vec<(String, String)> {
        let mut s = vec![
            ("status".to_owned(), self.status.get_untracked()),
            ("tag".to_owned(), self.tag.get_untracked()),
            ("owner".to_owned(), self.owner.get_untracked()),
            ("sort".to_owned(), self.sort.get_untracked().0),
            ("desc".to_owned(), self.sort.get_untracked().1.to_string()),
            ("columns".to_owned(), self.columns.get_untracked().join(",")),
            ("layout".to_owned(), if self.table.get_untracked() { "table" } else { "cards" }.to_owned()),
        ];
        s.extend(
            self.custom.get_untracked().into_iter().filter(|(_, v)| !v.is_empty()).map(|(f, v)| (format!("f:{f}"), v)),
        );
        s
    }

    pub fn apply(&self, v: &SavedView) {
        self.status.set(v.get("status").unwrap_or_default().to_owned());
        self.tag.set(v.get("tag").unwrap_or_default().to_owned());
        self.owner.set(v.get("owner").unwrap_or_default().to_owned());
        self.sort.set((v.get("sort").unwrap_or("name").to_owned(), v.get("desc") == Some("true")));
        if let Some(c) = v.get("columns") {
            self.columns.set(c.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect());
        }
        if let Some(l) = v.get("layout") {
            self.table.set(l == "table");
        }
        self.custom
            .set(v.state.iter().filter_map(|(k, val)| Some((k.strip_prefix("f:")?.to_owned(), val.clone()))).collect());
    }
}

/// The table of the first rows of the sorted matches.
#[component]
pub fn CustomerTable(
    ids: Signal<Vec<RecordId>>,
    state: ListState,
    defs: RwSignal<Vec<FieldDef>>,
    selected: RwSignal<HashSet<RecordId>>,
) -> impl IntoView {
    let index = use_ws().index;
    let header = move |col: String| {
        let label = if col == "name" { t("customer.name").to_owned() } else { defs.with(|d| column_label(&col, d)) };
        let (c1, c2) = (col.clone(), col.clone());
        let aria = move || {
            let (s, desc) = state.sort.get();
            if s == c1 {
                if desc {
                    "descending"
                } else {
                    "ascending"
                }
            } else {
                "none"
            }
        };
        let click = move |_| {
            state.sort.update(|(s, desc)| {
                if *s == c2 {
                    *desc = !*desc;
                } else {
                    *s = c2.clone();
                    *desc = false;
                }
            })
        };
        view! {
            <th scope="col" aria-sort=aria>
                <button type="button" class="th-sort" on:click=click>{tf("table.sort_by", &[("column", &label)])}</button>
            </th>
        }
        .into_any()
    };
    let all_on_page = move || {
        let ids = ids.get();
        !ids.is_empty() && selected.with(|s| ids.iter().all(|i| s.contains(i)))
    };
    let toggle_all = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        let ids = ids.get_untracked();
        selected.update(|s| {
            for i in ids {
                if on {
                    s.insert(i);
                } else {
                    s.remove(&i);
                }
            }
        });
    };
    view! {
        <div class="table-wrap">
            <table class="customer-table" aria-label=t("nav.customers")>
                <thead>
                    <tr>
                        <th scope="col">
                            <input id="select-page" type="checkbox" prop:checked=all_on_page on:change=toggle_all />
                            <label for="select-page" class="list__meta">{t("table.select_page")}</label>
                        </th>
                        {move || header("name".into())}
                        {move || state.columns.get().into_iter().map(header).collect::<Vec<AnyView>>()}
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let cols = state.columns.get();
                        let d = defs.get();
                        index.with(|idx| ids.get().into_iter().filter_map(|id| {
                            let doc = idx.records.get(&id)?;
                            let name = doc.text(field::NAME).unwrap_or_default().to_owned();
                            let check_id = format!("sel-{id}");
                            let cells: Vec<AnyView> = cols.iter().map(|c| view! { <td>{cell(doc, c, &d)}</td> }.into_any()).collect();
                            Some(view! {
                                <tr class:selected=move || selected.with(|s| s.contains(&id))>
                                    <td>
                                        <input id=check_id.clone() type="checkbox"
                                            prop:checked=move || selected.with(|s| s.contains(&id))
                                            on:change=move |ev| {
                                                let on = event_target_checked(&ev);
                                                selected.update(|s| { if on { s.insert(id); } else { s.remove(&id); } });
                                            } />
                                        <label for=check_id class="sr-only">{tf("table.select", &[("name", &name)])}</label>
                                    </td>
                                    <th scope="row"><a href=route::customer(&id.to_string())>{name.clone()}</a></th>
                                    {cells}
                                </tr>
                            }.into_any())
                        }).collect::<Vec<AnyView>>())
                    }}
                </tbody>
            </table>
        </div>
    }
}

/// Which columns the table shows.
#[component]
pub fn ColumnPicker(state: ListState, defs: RwSignal<Vec<FieldDef>>) -> impl IntoView {
    let all = move || {
        let mut cols: Vec<String> = built_in_columns().map(str::to_owned).collect();
        cols.extend(defs.get().iter().map(FieldDef::field_name));
        cols
    };
    view! {
        <details class="columns">
            <summary>{t("table.columns")}</summary>
            <fieldset>
                <legend class="sr-only">{t("table.columns")}</legend>
                {move || all().into_iter().map(|c| {
                    let id = format!("col-{}", c.replace('.', "-"));
                    let label = defs.with(|d| column_label(&c, d));
                    let (c1, c2) = (c.clone(), c.clone());
                    view! {
                        <span class="field--check">
                            <input id=id.clone() type="checkbox" prop:checked=move || state.columns.with(|cs| cs.contains(&c1))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    state.columns.update(|cs| {
                                        cs.retain(|x| *x != c2);
                                        if on { cs.push(c2.clone()); }
                                    });
                                } />
                            <label for=id>{label}</label>
                        </span>
                    }.into_any()
                }).collect::<Vec<AnyView>>()}
            </fieldset>
        </details>
    }
}

/// What can be done to the selected customers at once.
#[component]
pub fn BulkActions(selected: RwSignal<HashSet<RecordId>>, defs: RwSignal<Vec<FieldDef>>) -> impl IntoView {
    let owner = RwSignal::new(String::new());
    let status = RwSignal::new(String::new());
    let tag = RwSignal::new(String::new());
    let confirming = RwSignal::new(false);
    let n = move || selected.with(HashSet::len);
    let apply = move |what: &'static str, make: Box<MakeEdits>| {
        let ws = use_ws();
        let ids: Vec<RecordId> = selected.get_untracked().into_iter().collect();
        spawn_local(async move {
            let index = ws.index.get_untracked();
            let edits: Vec<shared::sync::RecordEdit> = ids
                .iter()
                .filter_map(|id| {
                    let writes = make(index.records.get(id)?);
                    (!writes.is_empty()).then_some((*id, writes))
                })
                .collect();
            let count = edits.len();
            match ws.edit_existing(edits).await {
                Ok(()) => {
                    crate::toast(&tf("table.done", &[("n", &count)]));
                    let detail = format!("{what} on {count} customers at once");
                    let action = if what == "deleted" {
                        shared::audit::AuditAction::Delete
                    } else {
                        shared::audit::AuditAction::Edit
                    };
                    ws.audit(action, None, None, detail).await;
                    if what == "deleted" {
                        selected.set(HashSet::new());
                    }
                }
                Err(e) => crate::toast(&e),
            }
        });
    };
    let export = move |_| {
        let ws = use_ws();
        let index = ws.index.get_untracked();
        let ids = selected.get_untracked();
        // The columns of the import page's export (the import maps them back).
        let docs: Vec<&RecordDoc> = ids.iter().filter_map(|id| index.records.get(id).map(|d| &**d)).collect();
        let rows = shared::fields::export_table(&docs, &defs.get_untracked());
        let csv = format!("\u{feff}{}", shared::csv::write(&rows));
        if let Err(e) = crate::pages::import::download("quietdesk-selection.csv", &csv.into(), "text/csv;charset=utf-8")
        {
            crate::toast(&e);
            return;
        }
        let count = ids.len();
        spawn_local(async move {
            let detail = format!("exported {count} selected customers as a CSV file");
            ws.audit(shared::audit::AuditAction::Export, None, None, detail).await;
        });
    };
    move || {
        (n() > 0).then(|| {
            view! {
                <section class="card bulk" aria-label=t("table.bulk")>
                    <strong role="status">{move || tf("table.selected", &[("n", &n())])}</strong>
                    <form class="form inline" on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        let o = owner.get_untracked().trim().to_owned();
                        apply("owner set", Box::new(move |_| vec![(field::OWNER.into(), Some(Value::Text(o.clone())))]));
                    }>
                        <div class="field">
                            <label for="bulk-owner">{t("table.owner")}</label>
                            <input id="bulk-owner" maxlength="100" prop:value=owner on:input=move |ev| owner.set(event_target_value(&ev)) />
                        </div>
                        <button type="submit">{t("table.set_owner")}</button>
                    </form>
                    <form class="form inline" on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        let s = status.get_untracked();
                        if Status::parse(&s).is_none() { return; }
                        apply("status set", Box::new(move |d| {
                            let mut w = vec![(field::STATUS.into(), Some(Value::Text(s.clone())))];
                            if d.text(field::STAGE).is_some() { w.push((field::STAGE.into(), None)); }
                            w
                        }));
                    }>
                        <div class="field">
                            <label for="bulk-status">{t("customer.status")}</label>
                            <select id="bulk-status" on:change=move |ev| status.set(event_target_value(&ev))>
                                <option value="">"—"</option>
                                {Status::ALL.iter().map(|s| view! { <option value=s.as_str()>{status_label(*s)}</option> }.into_any()).collect::<Vec<AnyView>>()}
                            </select>
                        </div>
                        <button type="submit">{t("table.set_status")}</button>
                    </form>
                    <form class="form inline" on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        let new_tag = tag.get_untracked().trim().to_owned();
                        if new_tag.is_empty() { return; }
                        apply("tag added", Box::new(move |d| {
                            let mut tags = d.get(field::TAGS).and_then(Value::as_list).map(<[String]>::to_vec).unwrap_or_default();
                            if tags.contains(&new_tag) { return Vec::new(); }
                            tags.push(new_tag.clone());
                            vec![(field::TAGS.into(), Some(Value::List(tags)))]
                        }));
                    }>
                        <div class="field">
                            <label for="bulk-tag">{t("table.tag")}</label>
                            <input id="bulk-tag" maxlength="50" prop:value=tag on:input=move |ev| tag.set(event_target_value(&ev)) />
                        </div>
                        <button type="submit">{t("table.add_tag")}</button>
                    </form>
                    <div class="actions">
                        <button type="button" on:click=export>{t("table.export")}</button>
                        {move || if confirming.get() {
                            view! {
                                <button type="button" class="danger" on:click=move |_| {
                                    confirming.set(false);
                                    apply("deleted", Box::new(|_| vec![(shared::record::DELETED.into(), Some(Value::Bool(true)))]));
                                }>{move || tf("table.confirm_delete", &[("n", &n())])}</button>
                                <button type="button" on:click=move |_| confirming.set(false)>{t("common.cancel")}</button>
                            }.into_any()
                        } else {
                            view! { <button type="button" class="danger" on:click=move |_| confirming.set(true)>{t("table.delete")}</button> }.into_any()
                        }}
                        <button type="button" on:click=move |_| selected.set(HashSet::new())>{t("table.clear")}</button>
                    </div>
                </section>
            }
        })
    }
}

/// This user's saved views: open one, save the current state as one, make one the
/// default (it opens with the list), delete one.
#[component]
pub fn SavedViews(state: ListState) -> impl IntoView {
    let ws = use_ws();
    let record = views::views_record(ws.team_id, &ws.me);
    let index = ws.index;
    let list =
        Memo::new(move |_| index.with(|i| views::from_value(i.records.get(&record).and_then(|d| d.get(views::VIEWS)))));
    let name = RwSignal::new(String::new());
    let current = RwSignal::new(String::new());
    // The default view opens with the list, once.
    let opened = StoredValue::new(false);
    Effect::new(move |_| {
        if opened.get_value() {
            return;
        }
        if let Some(v) = list.get().into_iter().find(|v| v.default) {
            opened.set_value(true);
            current.set(v.name.clone());
            state.apply(&v);
        }
    });
    let store = move |views: Vec<SavedView>, done: String| {
        let ws = use_ws();
        spawn_local(async move {
            let fields = vec![
                (field::KIND.to_owned(), Some(Value::Text("views".into()))),
                (views::VIEWS.to_owned(), Some(views::to_value(&views))),
            ];
            match ws.edit(record, fields).await {
                Ok(()) => crate::toast(&done),
                Err(e) => crate::toast(&e),
            }
        });
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n: String = name.get_untracked().trim().chars().take(60).collect();
        if n.is_empty() {
            return;
        }
        let mut all = list.get_untracked();
        let default = all.iter().find(|v| v.name == n).is_some_and(|v| v.default);
        all.retain(|v| v.name != n);
        all.push(SavedView { name: n.clone(), default, state: state.save() });
        current.set(n.clone());
        name.set(String::new());
        store(all, tf("views.saved", &[("name", &n)]));
    };
    let open = move |ev: leptos::ev::Event| {
        let n = event_target_value(&ev);
        current.set(n.clone());
        if let Some(v) = list.get_untracked().into_iter().find(|v| v.name == n) {
            state.apply(&v);
        }
    };
    let make_default = move |_| {
        let n = current.get_untracked();
        let all: Vec<SavedView> = list
            .get_untracked()
            .into_iter()
            .map(|mut v| {
                v.default = v.name == n;
                v
            })
            .collect();
        store(all, tf("views.default_set", &[("name", &n)]));
    };
    let delete = move |_| {
        let n = current.get_untracked();
        let all: Vec<SavedView> = list.get_untracked().into_iter().filter(|v| v.name != n).collect();
        current.set(String::new());
        store(all, tf("views.deleted", &[("name", &n)]));
    };
    view! {
        <div class="views">
            <div class="field field--inline">
                <label for="view-picker">{t("views.view")}</label>
                <select id="view-picker" on:change=open>
                    <option value="" selected=move || current.get().is_empty()>{t("views.none")}</option>
                    {move || list.get().into_iter().map(|v| {
                        let label = if v.default { tf("views.default_label", &[("name", &v.name)]) } else { v.name.clone() };
                        let name = v.name.clone();
                        view! { <option value=v.name.clone() selected=move || current.get() == name>{label}</option> }.into_any()
                    }).collect::<Vec<AnyView>>()}
                </select>
                {move || (!current.get().is_empty()).then(|| view! {
                    <button type="button" on:click=make_default>{t("views.make_default")}</button>
                    <button type="button" class="danger" on:click=delete>{t("views.delete")}</button>
                })}
            </div>
            <form class="form inline" on:submit=save aria-label=t("views.save")>
                <div class="field">
                    <label for="view-name">{t("views.name")}</label>
                    <input id="view-name" maxlength="60" prop:value=name on:input=move |ev| name.set(event_target_value(&ev)) />
                </div>
                <button type="submit">{t("views.save")}</button>
            </form>
        </div>
    }
}
