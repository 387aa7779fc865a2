//! Custom fields in the app: the team's definitions (loaded from the signed settings,
//! see `shared::custom`), their inputs in the customer form, their values as shown, and
//! the admins' editor (on the Team page).

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::custom::{self, FieldDef, Kind, Problem};
use shared::record::{RecordDoc, Value};

use crate::i18n::{self, t, tf};
use crate::use_ws;

/// The team's custom fields, kept current as the records change.
pub fn use_custom_fields() -> RwSignal<Vec<FieldDef>> {
    let ws = use_ws();
    let defs = RwSignal::new(Vec::new());
    let index = ws.index;
    Effect::new(move |_| {
        index.track();
        let ws = use_ws();
        spawn_local(async move {
            let new = ws.custom_fields().await;
            // The view that asked may be gone by now, and its signal with it.
            if defs.try_with_untracked(|d| *d != new) == Some(true) {
                defs.set(new);
            }
        });
    });
    defs
}

pub fn kind_label(k: Kind) -> &'static str {
    match k {
        Kind::Text => t("custom.kind_text"),
        Kind::Number => t("custom.kind_number"),
        Kind::Money => t("custom.kind_money"),
        Kind::Date => t("custom.kind_date"),
        Kind::Choice => t("custom.kind_choice"),
        Kind::Multi => t("custom.kind_multi"),
        Kind::Phone => t("custom.kind_phone"),
        Kind::Email => t("custom.kind_email"),
    }
}

pub fn problem_text(p: Problem) -> &'static str {
    match p {
        Problem::NotANumber => t("custom.not_number"),
        Problem::NotAmount => t("custom.not_amount"),
        Problem::NotADate => t("custom.not_date"),
        Problem::NotAChoice => t("custom.not_choice"),
        Problem::NotAPhone => t("customer.bad_phone"),
        Problem::NotAnEmail => t("customer.bad_email"),
    }
}

/// A custom field's value as the customer card and the list show it.
pub fn shown(def: &FieldDef, doc: &RecordDoc) -> Option<String> {
    Some(match doc.get(&def.field_name())? {
        Value::Int(minor) if def.kind == Kind::Money => i18n::money(*minor),
        Value::List(l) if l.is_empty() => return None,
        v => def.input_of(Some(v)),
    })
}

/// The form's inputs for the custom fields; `values` holds what was typed, by key
/// (untouched fields follow the record).
#[component]
pub fn CustomInputs(
    defs: RwSignal<Vec<FieldDef>>,
    base: RwSignal<RecordDoc>,
    values: RwSignal<HashMap<String, String>>,
    problems: RwSignal<HashMap<String, &'static str>>,
) -> impl IntoView {
    let sensitive_ok = use_ws().team.with_untracked(|t| t.me_sensitive);
    move || {
        defs.get()
            .into_iter()
            .map(|def| {
                let id = format!("cf-{}", def.key);
                let key = def.key.clone();
                let current = {
                    let (def, key) = (def.clone(), key.clone());
                    move || {
                        values.with(|v| v.get(&key).cloned()).unwrap_or_else(|| base.with(|b| def.input_of(b.get(&def.field_name()))))
                    }
                };
                let set = {
                    let key = key.clone();
                    move |v: String| {
                        values.update(|m| {
                            m.insert(key.clone(), v);
                        });
                        problems.update(|p| {
                            p.remove(&key);
                        });
                    }
                };
                let locked = def.sensitive && !sensitive_ok;
                let problem = {
                    let key = key.clone();
                    move || problems.with(|p| p.get(&key).copied())
                };
                let label = if def.sensitive { format!("{} 🔒", def.label) } else { def.label.clone() };
                let input = match def.kind {
                    Kind::Choice => {
                        let (set, current) = (set.clone(), current.clone());
                        view! {
                            <select id=id.clone() disabled=locked prop:value=current on:change=move |ev| set(event_target_value(&ev))>
                                <option value="">"—"</option>
                                {def.options.iter().map(|o| view! { <option value=o.clone()>{o.clone()}</option> }.into_any()).collect::<Vec<AnyView>>()}
                            </select>
                        }
                        .into_any()
                    }
                    Kind::Multi => {
                        let options = def.options.clone();
                        view! {
                            <fieldset id=id.clone() class="choices" disabled=locked>
                                <legend class="sr-only">{def.label.clone()}</legend>
                                {options.into_iter().enumerate().map(|(i, o)| {
                                    let cid = format!("{id}-{i}");
                                    let (set, current, o2) = (set.clone(), current.clone(), o.clone());
                                    let checked = {
                                        let current = current.clone();
                                        let o = o.clone();
                                        move || current().split(';').any(|p| p.trim() == o)
                                    };
                                    let toggle = move |ev: leptos::ev::Event| {
                                        let on = event_target_checked(&ev);
                                        let mut picked: Vec<String> = current().split(';').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty() && *p != o2).collect();
                                        if on {
                                            picked.push(o2.clone());
                                        }
                                        set(picked.join("; "));
                                    };
                                    view! {
                                        <span class="field--check">
                                            <input id=cid.clone() type="checkbox" prop:checked=checked on:change=toggle />
                                            <label for=cid>{o}</label>
                                        </span>
                                    }.into_any()
                                }).collect::<Vec<AnyView>>()}
                            </fieldset>
                        }
                        .into_any()
                    }
                    kind => {
                        let problem = problem.clone();
                        let (ty, mode) = match kind {
                            Kind::Date => ("date", "text"),
                            Kind::Phone => ("tel", "tel"),
                            Kind::Email => ("email", "email"),
                            Kind::Number | Kind::Money => ("text", "decimal"),
                            _ => ("text", "text"),
                        };
                        view! {
                            <input id=id.clone() type=ty inputmode=mode maxlength="1000" disabled=locked
                                aria-invalid=move || problem().is_some().then_some("true")
                                prop:value=current on:input=move |ev| set(event_target_value(&ev)) />
                        }
                        .into_any()
                    }
                };
                view! {
                    <div class="field">
                        <label for=id>{label}</label>
                        {input}
                        {locked.then(|| view! { <p class="hint">{t("custom.sensitive_hidden")}</p> })}
                        {move || problem().map(|p| view! { <p class="error" role="alert">{p}</p> })}
                    </div>
                }
                .into_any()
            })
            .collect::<Vec<AnyView>>()
    }
}

/// One field's new value (`None` clears it).
pub type FieldWrite = (String, Option<Value>);
/// Why a field's value was refused, by field.
pub type Problems = HashMap<String, &'static str>;

/// The custom fields' writes for a save: what changed, or the problems by key.
pub fn changes(
    defs: &[FieldDef],
    base: &RecordDoc,
    values: &HashMap<String, String>,
) -> Result<Vec<FieldWrite>, Problems> {
    let (mut out, mut problems) = (Vec::new(), HashMap::new());
    for def in defs {
        let Some(typed) = values.get(&def.key) else { continue };
        match def.value_of(typed) {
            Ok(v) => {
                if base.get(&def.field_name()) != v.as_ref() {
                    out.push((def.field_name(), v));
                }
            }
            Err(p) => {
                problems.insert(def.key.clone(), problem_text(p));
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Admins: add custom fields (label, type, choices, sensitive) and remove them. A
/// removed field's values stay in the records (and in their history) but are no longer
/// shown; its key is not reused.
#[component]
pub fn CustomFieldsEditor() -> impl IntoView {
    let defs = use_custom_fields();
    let label = RwSignal::new(String::new());
    let kind = RwSignal::new("text".to_owned());
    let options = RwSignal::new(String::new());
    let sensitive = RwSignal::new(false);
    let message = RwSignal::new(None::<String>);
    let save = move |list: Vec<FieldDef>, done: String| {
        let ws = use_ws();
        spawn_local(async move {
            let fields = vec![(custom::CUSTOM_FIELDS.to_owned(), Some(custom::to_value(&list)))];
            match ws.edit_settings(fields).await {
                Ok(()) => {
                    defs.set(list);
                    crate::toast(&done);
                }
                Err(e) => message.set(Some(e)),
            }
        });
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name: String = label.get_untracked().trim().chars().take(custom::MAX_LABEL).collect();
        if name.is_empty() {
            message.set(Some(t("custom.needs_label").into()));
            return;
        }
        let Some(k) = Kind::parse(&kind.get_untracked()) else { return };
        let opts: Vec<String> = options
            .get_untracked()
            .lines()
            .map(|l| l.trim().chars().take(custom::MAX_LABEL).collect::<String>())
            .filter(|l| !l.is_empty())
            .take(custom::MAX_OPTIONS)
            .collect();
        if k.has_options() && opts.is_empty() {
            message.set(Some(t("custom.needs_options").into()));
            return;
        }
        let mut list = defs.get_untracked();
        if list.len() >= custom::MAX_FIELDS {
            message.set(Some(t("custom.too_many").into()));
            return;
        }
        let key = custom::new_key(&name, &list);
        let done = tf("custom.added", &[("label", &name)]);
        list.push(FieldDef {
            key,
            label: name,
            kind: k,
            sensitive: sensitive.get_untracked(),
            options: if k.has_options() { opts } else { Vec::new() },
        });
        label.set(String::new());
        options.set(String::new());
        message.set(None);
        save(list, done);
    };
    view! {
        <section class="card form" aria-labelledby="custom-title">
            <h3 id="custom-title">{t("custom.title")}</h3>
            <p class="hint">{t("custom.explain")}</p>
            <ul class="list" aria-label=t("custom.title")>
                {move || defs.get().into_iter().map(|d| {
                    let key = d.key.clone();
                    let remove = move |_| {
                        let list: Vec<FieldDef> = defs.get_untracked().into_iter().filter(|x| x.key != key).collect();
                        save(list, t("custom.removed").into());
                    };
                    let what = format!(
                        "{} · {}{}",
                        kind_label(d.kind),
                        if d.sensitive { t("custom.sensitive_short") } else { t("custom.ordinary") },
                        if d.options.is_empty() { String::new() } else { format!(" · {}", d.options.join(", ")) }
                    );
                    view! {
                        <li>
                            <strong>{d.label.clone()}</strong>
                            <span class="list__meta">{what}</span>
                            <button type="button" class="danger" on:click=remove>{tf("custom.remove", &[("label", &d.label)])}</button>
                        </li>
                    }.into_any()
                }).collect::<Vec<AnyView>>()}
            </ul>
            <form class="form" on:submit=add aria-label=t("custom.add")>
                <div class="field">
                    <label for="cf-new-label">{t("custom.label")}</label>
                    <input id="cf-new-label" maxlength="60" prop:value=label on:input=move |ev| label.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="cf-new-kind">{t("custom.kind")}</label>
                    <select id="cf-new-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                        {Kind::ALL.iter().map(|k| view! { <option value=k.as_str()>{kind_label(*k)}</option> }.into_any()).collect::<Vec<AnyView>>()}
                    </select>
                </div>
                {move || Kind::parse(&kind.get()).is_some_and(Kind::has_options).then(|| view! {
                    <div class="field">
                        <label for="cf-new-options">{t("custom.options")}</label>
                        <textarea id="cf-new-options" rows="4" prop:value=options on:input=move |ev| options.set(event_target_value(&ev))></textarea>
                    </div>
                })}
                <div class="field--check">
                    <input id="cf-new-sensitive" type="checkbox" prop:checked=sensitive on:change=move |ev| sensitive.set(event_target_checked(&ev)) />
                    <label for="cf-new-sensitive">{t("custom.sensitive")}</label>
                </div>
                <button type="submit">{t("custom.add")}</button>
                <p role="status" class="message">{move || message.get()}</p>
            </form>
        </section>
    }
}
