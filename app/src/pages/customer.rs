// Long: the customer page's components (card, form, timeline, tasks, history, kept versions), which share its helpers.
//! A customer's page: every field (edit and save, writing only what changed so
//! concurrent edits of other fields survive), the interaction timeline with quick add,
//! and the customer's tasks.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::domain::{field, mask_phone, Change, Channel, Entity, EntityKind, Interaction, Status, Task};
use shared::fields::{Input, CUSTOMER_FIELDS};
use shared::ids::RecordId;
use shared::record::{RecordDoc, Value};

use crate::i18n::{channel_label, status_label, t, tf};
use crate::{now_ms, route, use_ws};

use super::format::{format_date, parse_date, shown_value};

/// The form's one-line fields, from the built-in field registry: (field, label's
/// translation key, input type, most characters).
fn line_fields() -> impl Iterator<Item = (&'static str, &'static str, &'static str, u32)> {
    CUSTOMER_FIELDS.iter().filter_map(|f| Some((f.name, f.label, f.input.line_type()?, f.max_len)))
}

/// The form's text areas, from the registry: (field, label's translation key).
fn area_fields() -> impl Iterator<Item = (&'static str, &'static str)> {
    CUSTOMER_FIELDS.iter().filter(|f| f.input == Input::Area).map(|f| (f.name, f.label))
}

/// Most characters a built-in field takes (its row in the registry).
fn max_len(f: &str) -> u32 {
    shared::fields::spec(f).map_or(0, |s| s.max_len)
}

/// Why a phone is not valid (see `shared::domain::valid_phone`), in the user's language.
pub fn phone_problem(phone: &str) -> Option<&'static str> {
    (!shared::domain::valid_phone(phone)).then(|| t("customer.bad_phone"))
}

/// Why an email is not valid, in the user's language.
pub fn email_problem(email: &str) -> Option<&'static str> {
    (!shared::domain::valid_email(email)).then(|| t("customer.bad_email"))
}

fn text_of(d: &RecordDoc, f: &str) -> String {
    d.text(f).unwrap_or_default().to_owned()
}

/// The consent date as a date input holds it (`YYYY-MM-DD`), or empty.
fn consent_date_of(d: &RecordDoc) -> String {
    d.get(field::CONSENT_AT)
        .and_then(Value::as_int)
        .and_then(|ms| format_date(ms).get(..10).map(str::to_owned))
        .unwrap_or_default()
}

fn withdrawn_of(d: &RecordDoc) -> bool {
    d.get(field::CONSENT_WITHDRAWN).and_then(Value::as_bool).unwrap_or(false)
}

fn tags_of(d: &RecordDoc) -> String {
    d.get(field::TAGS).and_then(Value::as_list).map(|t| t.join(", ")).unwrap_or_default()
}

#[component]
pub fn NewCustomer() -> impl IntoView {
    view! { <CustomerForm id=RecordId::random() is_new=true /> }
}

#[component]
pub fn CustomerDetail(id: RecordId) -> impl IntoView {
    let index = use_ws().index;
    // Re-render only when the record appears or disappears (first sync after a fresh
    // log-in, a delete elsewhere), never on other edits: the form keeps what is typed.
    let exists = Memo::new(move |_| index.with(|i| i.records.contains_key(&id)));
    // Opening a customer shows its sensitive fields (to those who hold the key).
    if let Some(doc) = index.get_untracked().doc(&id) {
        use_ws().audit_reveal(id, &doc);
    }
    let editing = RwSignal::new(false);
    view! {
        {move || match exists.get() {
            true => view! {
                <CustomerCard id=id editing=editing />
                <Replaced customer=id />
                {move || editing.get().then(|| view! { <CustomerForm id=id is_new=false /> })}
                <Timeline customer=id />
                <CustomerTasks customer=id />
                <History customer=id />
                <EarlierVersions customer=id />
            }.into_any(),
            _ => view! { <p role="status">{t("customer.not_here_yet")}</p> }.into_any(),
        }}
    }
}

/// The customer at a glance: who, where in the pipeline, who owns them, when they
/// were last contacted and what is next; one tap to call, message, email or copy the
/// WeChat ID; "Edit" opens the form. Support sees the masked phone where the phone is.
#[component]
fn CustomerCard(id: RecordId, editing: RwSignal<bool>) -> impl IntoView {
    let index = use_ws().index;
    let doc = Memo::new(move |_| index.with(|i| i.doc(&id)).unwrap_or_default());
    let cid = id.to_string();
    let (cid_last, cid_next) = (cid.clone(), cid);
    let last_contact = Memo::new(move |_| {
        index.with(|i| {
            i.linked(EntityKind::Interaction.as_str(), &cid_last)
                .filter_map(|(_, d)| Interaction::from_doc(d))
                .map(|x| x.at_ms)
                .max()
        })
    });
    let next_task = Memo::new(move |_| {
        index.with(|i| {
            i.linked(EntityKind::Task.as_str(), &cid_next)
                .filter_map(|(_, d)| Task::from_doc(d))
                .filter(|t| !t.done)
                .min_by_key(|t| t.due_ms)
                .map(|t| format!("{} · {}", t.title, format_date(t.due_ms)))
        })
    });
    let text = move |f: &'static str| doc.with(|d| text_of(d, f));
    let phone = move || text(field::PHONE);
    let shown_phone = move || {
        let p = phone();
        if p.is_empty() {
            text(field::PHONE_MASKED)
        } else {
            p
        }
    };
    let dial = move || phone().chars().filter(|c| c.is_ascii_digit() || *c == '+').collect::<String>();
    let copy_wechat = move |_| {
        let wechat = text(field::WECHAT);
        let clipboard = web_sys::window()
            .map(|w| w.navigator())
            .and_then(|n| js_sys::Reflect::get(&n, &"clipboard".into()).ok().filter(|c| !c.is_undefined()));
        let written = clipboard.and_then(|c| {
            let write = js_sys::Reflect::get(&c, &"writeText".into()).ok()?;
            js_sys::Function::from(write).call1(&c, &wechat.into()).ok()
        });
        crate::toast(if written.is_some() { t("customer.wechat_copied") } else { t("customer.copy_failed") });
    };
    let custom_defs = crate::pages::custom_fields::use_custom_fields();
    let fact = move |key: &'static str, value: String| {
        (!value.is_empty()).then(|| view! { <div class="fact"><dt>{t(key)}</dt><dd>{value}</dd></div> })
    };
    view! {
        <section class="card profile" aria-label=t("customer.profile")>
            <div class="profile__head">
                <span class="avatar" aria-hidden="true">
                    {move || text(field::NAME).chars().next().map(String::from).unwrap_or_default()}
                </span>
                <div class="profile__who">
                    <h1>{move || text(field::NAME)}</h1>
                    <p class="muted">{move || text(field::COMPANY)}</p>
                </div>
                {move || {
                    let status = doc.with(shared::domain::Status::of);
                    status.map(|s| view! { <span class="badge">{crate::i18n::status_label(s)}</span> })
                }}
            </div>
            <div class="actions quick">
                {move || (!phone().is_empty()).then(|| view! {
                    <a class="button" href=format!("tel:{}", dial())>{t("customer.call")}</a>
                    <a class="button" href=format!("sms:{}", dial())>{t("customer.message")}</a>
                })}
                {move || shared::domain::mailto(&text(field::EMAIL)).map(|href| view! {
                    <a class="button" href=href>{t("customer.send_email")}</a>
                })}
                {move || (!text(field::WECHAT).is_empty()).then(|| view! {
                    <button type="button" on:click=copy_wechat>{t("customer.copy_wechat")}</button>
                })}
                <button type="button" class="primary" aria-expanded=move || editing.get().to_string()
                    on:click=move |_| editing.update(|e| *e = !*e)>
                    {move || if editing.get() { t("customer.close_edit") } else { t("customer.edit") }}
                </button>
            </div>
            <dl class="facts">
                {move || fact("customer.phone", shown_phone())}
                {move || fact("customer.wechat", text(field::WECHAT))}
                {move || fact("customer.email", text(field::EMAIL))}
                {move || fact("customer.owner", text(field::OWNER))}
                {move || fact("customer.tags", tags_of(&doc.get()))}
                {move || custom_defs.get().into_iter().filter_map(|def| {
                    let value = doc.with(|d| crate::pages::custom_fields::shown(&def, d))?;
                    Some(view! { <div class="fact"><dt>{def.label.clone()}</dt><dd>{value}</dd></div> }.into_any())
                }).collect::<Vec<AnyView>>()}
                <div class="fact">
                    <dt>{t("customer.last_contact")}</dt>
                    <dd>{move || last_contact.get().map(format_date).unwrap_or_else(|| t("customer.never").to_owned())}</dd>
                </div>
                <div class="fact">
                    <dt>{t("customer.next_task")}</dt>
                    <dd>{move || next_task.get().unwrap_or_else(|| t("customer.none").to_owned())}</dd>
                </div>
            </dl>
        </section>
    }
}

#[component]
fn CustomerForm(id: RecordId, is_new: bool) -> impl IntoView {
    let ws = use_ws();
    let navigate = crate::nav::navigator();
    let initial = ws.index.get_untracked().doc(&id).unwrap_or_default();
    if !is_new && initial.fields.is_empty() {
        return view! { <p>{t("customer.gone")}</p> }.into_any();
    }
    let texts: Vec<(&'static str, &'static str, &'static str, u32, RwSignal<String>)> =
        line_fields().map(|(f, l, t, max)| (f, l, t, max, RwSignal::new(text_of(&initial, f)))).collect();
    let areas: Vec<(&'static str, &'static str, RwSignal<String>)> =
        area_fields().map(|(f, l)| (f, l, RwSignal::new(text_of(&initial, f)))).collect();
    let status_of = |d: &RecordDoc| shared::domain::Status::of(d).map(|s| s.as_str().to_owned()).unwrap_or_default();
    let status = RwSignal::new(status_of(&initial));
    let tags = RwSignal::new(tags_of(&initial));
    let consent_date = RwSignal::new(consent_date_of(&initial));
    let withdrawn = RwSignal::new(withdrawn_of(&initial));
    let message = RwSignal::new(None::<String>);
    let custom_defs = crate::pages::custom_fields::use_custom_fields();
    let custom_values = RwSignal::new(std::collections::HashMap::new());
    let custom_problems = RwSignal::new(std::collections::HashMap::new());
    // Customers the new one looks like, found when it is first saved; "Create anyway"
    // saves past them.
    let dupes = RwSignal::new(Vec::<(RecordId, String, String)>::new());
    let create_anyway = RwSignal::new(false);
    // The last state of the record seen from the store: saves write only fields that
    // differ from it, and fields the user has not touched follow it live (edits
    // merged in from other devices show up without a reload).
    let base = RwSignal::new(initial.clone());
    let masked = Memo::new(move |_| {
        let b = base.get();
        b.text(field::PHONE_MASKED).filter(|_| b.text(field::PHONE).is_none()).map(str::to_owned)
    });
    {
        let (texts, areas) = (texts.clone(), areas.clone());
        let index = ws.index;
        Effect::new(move |_| {
            let Some(new) = index.get().doc(&id) else {
                return;
            };
            let old = base.get_untracked();
            if new == old {
                return;
            }
            let follow = |sig: RwSignal<String>, before: String, after: String| {
                if sig.get_untracked() == before {
                    sig.set(after);
                }
            };
            for (f, _, _, _, sig) in &texts {
                follow(*sig, text_of(&old, f), text_of(&new, f));
            }
            for (f, _, sig) in &areas {
                follow(*sig, text_of(&old, f), text_of(&new, f));
            }
            follow(status, status_of(&old), status_of(&new));
            follow(tags, tags_of(&old), tags_of(&new));
            follow(consent_date, consent_date_of(&old), consent_date_of(&new));
            if withdrawn.get_untracked() == withdrawn_of(&old) {
                withdrawn.set(withdrawn_of(&new));
            }
            base.set(new);
        });
    }

    let (texts_s, areas_s) = (texts.clone(), areas.clone());
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let initial_s = base.get_untracked();
        let mut changes: Vec<(String, Option<Value>)> = Vec::new();
        if is_new {
            changes.push((field::KIND.into(), Some(Value::Text(EntityKind::Customer.as_str().into()))));
        }
        let mut put = |f: &str, v: String| {
            if initial_s.text(f).unwrap_or_default() != v {
                changes.push((f.to_owned(), Some(Value::Text(v))));
            }
        };
        for (f, _, _, _, sig) in &texts_s {
            put(f, sig.get_untracked().trim().to_owned());
        }
        for (f, _, sig) in &areas_s {
            put(f, sig.get_untracked());
        }
        if status_of(&initial_s) != status.get_untracked() {
            // Also drops a customer's old `stage` (see `shared::domain::Status::of`).
            changes.push((field::STATUS.into(), Some(Value::Text(status.get_untracked()))));
            if initial_s.text(field::STAGE).is_some() {
                changes.push((field::STAGE.into(), None));
            }
        }
        let value_of = |f: &str| texts_s.iter().find(|t| t.0 == f).map(|t| t.4.get_untracked()).unwrap_or_default();
        let phone = value_of(field::PHONE);
        if let Some(problem) = phone_problem(&phone).or_else(|| email_problem(&value_of(field::EMAIL))) {
            message.set(Some(problem.into()));
            return;
        }
        if changes.iter().any(|(f, _)| f == field::PHONE) {
            changes.push((field::PHONE_MASKED.into(), Some(Value::Text(mask_phone(phone.trim())))));
        }
        let new_tags: Vec<String> =
            tags.get_untracked().split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
        if tags_of(&initial_s) != new_tags.join(", ") {
            changes.push((field::TAGS.into(), Some(Value::List(new_tags))));
        }
        let date = consent_date.get_untracked();
        if date != consent_date_of(&initial_s) {
            let at = match date.trim() {
                "" => None,
                d => match parse_date(d) {
                    Some(ms) => Some(Value::Int(ms)),
                    None => {
                        message.set(Some(t("customer.bad_consent_date").into()));
                        return;
                    }
                },
            };
            changes.push((field::CONSENT_AT.into(), at));
        }
        if withdrawn.get_untracked() != withdrawn_of(&initial_s) {
            changes.push((field::CONSENT_WITHDRAWN.into(), Some(Value::Bool(withdrawn.get_untracked()))));
        }
        match crate::pages::custom_fields::changes(
            &custom_defs.get_untracked(),
            &initial_s,
            &custom_values.get_untracked(),
        ) {
            Ok(c) => changes.extend(c),
            Err(problems) => {
                custom_problems.set(problems);
                message.set(Some(t("custom.fix_fields").into()));
                return;
            }
        }
        let name_ok = !value_of(field::NAME).trim().is_empty();
        if !name_ok {
            message.set(Some(t("customer.needs_name").into()));
            return;
        }
        let ws = use_ws();
        if is_new && !create_anyway.get_untracked() {
            let found = duplicates_of(&ws, &changes);
            if !found.is_empty() {
                dupes.set(found);
                message.set(Some(t("duplicates.found").into()));
                return;
            }
        }
        spawn_local(async move {
            if changes.is_empty() {
                message.set(Some(t("customer.nothing_changed").into()));
                return;
            }
            match ws.edit(id, changes).await {
                Ok(()) if is_new => navigate(&route::customer(&id.to_string())),
                Ok(()) => message.set(Some(t("customer.saved").into())),
                Err(e) => message.set(Some(tf("customer.not_saved", &[("error", &e)]))),
            }
        });
    };
    let confirming = RwSignal::new(false);
    let delete = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            if ws.delete(id).await.is_ok() {
                crate::toast(t("customer.deleted"));
                navigate(route::CUSTOMERS);
            }
        });
    };
    view! {
        <section class="page">
            {if is_new {
                view! { <h1>{t("customers.new")}</h1> }.into_any()
            } else {
                view! { <h3>{t("customer.edit_details")}</h3> }.into_any()
            }}
            <form class="card form grid" on:submit=save aria-label=t("customer.form")>
                {texts.into_iter().map(|(f, label, ty, max, sig)| {
                    let id_attr = format!("f-{f}");
                    let error_id = format!("f-{f}-error");
                    // Checked as typed; the message goes as soon as the value is fixed.
                    let problem = move || match f {
                        field::PHONE => phone_problem(&sig.get()),
                        field::EMAIL => email_problem(&sig.get()),
                        _ => None,
                    };
                    view! {
                        <div class="field">
                            <label for=id_attr.clone()>{t(label)}</label>
                            // Support holds no key to the phone: the mask, read-only, where it would be.
                            <input id=id_attr type=ty maxlength=max.to_string() prop:value=sig
                                readonly=move || f == field::PHONE && masked.get().is_some()
                                placeholder=move || if f == field::PHONE { masked.get().unwrap_or_default() } else { String::new() }
                                aria-invalid=move || problem().is_some().then_some("true")
                                aria-describedby=error_id.clone()
                                on:input=move |ev| {
                                    sig.set(event_target_value(&ev));
                                    message.set(None);
                                } />
                            <span id=error_id class="field__error">{problem}</span>
                        </div>
                    }
                }).collect_view()}
                {move || masked.get().map(|m| view! { <p class="hint">{t("customer.phone_masked")} " " <span class="masked">{m}</span></p> })}
                <div class="field">
                    <label for="f-status">{t("customer.status")}</label>
                    <select id="f-status" prop:value=status on:change=move |ev| status.set(event_target_value(&ev))>
                        <option value="">"—"</option>
                        {Status::ALL.iter().map(|s| view! { <option value=s.as_str()>{status_label(*s)}</option> }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="f-tags">{t("customer.tags")}</label>
                    <input id="f-tags" maxlength=max_len(field::TAGS).to_string() prop:value=tags on:input=move |ev| tags.set(event_target_value(&ev)) placeholder="vip, steel" />
                </div>
                <crate::pages::custom_fields::CustomInputs defs=custom_defs base=base values=custom_values problems=custom_problems />
                <ConsentFields date=consent_date withdrawn=withdrawn />
                {areas.into_iter().map(|(f, label, sig)| {
                    let id_attr = format!("f-{f}");
                    view! {
                        <div class="field wide">
                            <label for=id_attr.clone()>{t(label)}</label>
                            <textarea id=id_attr rows="3" maxlength=max_len(f).to_string() prop:value=sig on:input=move |ev| sig.set(event_target_value(&ev))></textarea>
                        </div>
                    }
                }).collect_view()}
                <Show when=move || !dupes.with(Vec::is_empty)>
                    <div class="wide dupes" role="region" aria-label=t("duplicates.possible")>
                        <h3>{t("duplicates.possible")}</h3>
                        <ul>
                            {move || dupes.get().into_iter().map(|(id, label, why)| view! {
                                <li><a href=route::customer(&id.to_string())>{label}</a>" — "{why}</li>
                            }).collect_view()}
                        </ul>
                        <button type="submit" on:click=move |_| create_anyway.set(true)>{t("duplicates.create_anyway")}</button>
                    </div>
                </Show>
                <div class="actions wide">
                    <button type="submit" class="primary">{if is_new { t("customer.create") } else { t("common.save") }}</button>
                    {(!is_new).then(|| view! {
                        {move || if confirming.get() {
                            view! {
                                <button type="button" class="danger" on:click=delete>{t("customer.confirm_delete")}</button>
                                <button type="button" on:click=move |_| confirming.set(false)>{t("common.cancel")}</button>
                            }.into_any()
                        } else {
                            view! { <button type="button" class="danger" on:click=move |_| confirming.set(true)>{t("customer.delete")}</button> }.into_any()
                        }}
                    })}
                    <span role="status" class="message">{move || message.get()}</span>
                </div>
            </form>
        </section>
    }
    .into_any()
}

/// When consent was given, and whether it was withdrawn since.
#[component]
fn ConsentFields(date: RwSignal<String>, withdrawn: RwSignal<bool>) -> impl IntoView {
    view! {
        <div class="field">
            <label for="f-consent-at">{t("customer.consent_date")}</label>
            <input id="f-consent-at" type="date" prop:value=date on:input=move |ev| date.set(event_target_value(&ev)) />
        </div>
        <div class="field field--check">
            <input id="f-consent-withdrawn" type="checkbox" prop:checked=withdrawn
                on:change=move |ev| withdrawn.set(event_target_checked(&ev)) />
            <label for="f-consent-withdrawn">{t("customer.consent_withdrawn")}</label>
        </div>
    }
}

#[component]
fn Timeline(customer: RecordId) -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let cid = customer.to_string();
    let items = Memo::new(move |_| {
        let idx = index.get();
        let mut v: Vec<(String, Interaction)> = idx
            .linked(EntityKind::Interaction.as_str(), &cid)
            .filter_map(|(id, d)| Some((id.to_string(), Interaction::from_doc(d)?)))
            .collect();
        v.sort_unstable_by_key(|e| std::cmp::Reverse(e.1.at_ms));
        v
    });
    let channel = RwSignal::new(Channel::Call.as_str().to_owned());
    let summary = RwSignal::new(String::new());
    let when = RwSignal::new(String::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = summary.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        let i = Interaction {
            customer: customer.to_string(),
            channel: Channel::parse(&channel.get_untracked()).unwrap_or(Channel::Note),
            // A past call can be logged with its day; empty means now.
            at_ms: parse_date(&when.get_untracked()).unwrap_or_else(now_ms),
            summary: text,
        };
        let ws = use_ws();
        spawn_local(async move {
            if ws.edit(RecordId::random(), i.to_fields()).await.is_ok() {
                summary.set(String::new());
                when.set(String::new());
            }
        });
    };
    view! {
        <section class="page card">
            <h3>{t("customer.interactions")}</h3>
            <form class="form inline" on:submit=add aria-label=t("customer.add_interaction")>
                <div class="field">
                    <label for="i-channel">{t("customer.channel")}</label>
                    <select id="i-channel" on:change=move |ev| channel.set(event_target_value(&ev))>
                        {Channel::ALL.iter().map(|c| view! { <option value=c.as_str()>{channel_label(*c)}</option> }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="i-when">{t("customer.interaction_day")}</label>
                    <input id="i-when" type="date" prop:value=when on:input=move |ev| when.set(event_target_value(&ev)) />
                </div>
                <div class="field grow">
                    <label for="i-summary">{t("customer.summary")}</label>
                    <input id="i-summary" prop:value=summary on:input=move |ev| summary.set(event_target_value(&ev)) />
                </div>
                <button type="submit">{t("customer.add_interaction")}</button>
            </form>
            <ol class="timeline" aria-label=t("customer.timeline")>
                {move || items.get().into_iter().map(|(_, i)| view! {
                    <li>
                        <span class="badge">{channel_label(i.channel)}</span>
                        <time>{format_date(i.at_ms)}</time>
                        <span class="summary">{i.summary}</span>
                    </li>
                }.into_any()).collect::<Vec<AnyView>>()}
            </ol>
        </section>
    }
}

#[component]
fn CustomerTasks(customer: RecordId) -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let cid = customer.to_string();
    let tasks = Memo::new(move |_| {
        let idx = index.get();
        let mut v: Vec<(RecordId, Task)> =
            idx.linked(EntityKind::Task.as_str(), &cid).filter_map(|(id, d)| Some((*id, Task::from_doc(d)?))).collect();
        v.sort_unstable_by_key(|(_, t)| (t.done, t.due_ms));
        v
    });
    let title = RwSignal::new(String::new());
    let due = RwSignal::new(String::new());
    let me = ws.me.to_string();
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = title.get_untracked();
        if t.trim().is_empty() {
            return;
        }
        let task = Task {
            customer: customer.to_string(),
            title: t,
            due_ms: parse_date(&due.get_untracked()).unwrap_or_else(|| now_ms() + 24 * 3600 * 1000),
            assignee: me.clone(),
            done: false,
        };
        let ws = use_ws();
        spawn_local(async move {
            if ws.edit(RecordId::random(), task.to_fields()).await.is_ok() {
                title.set(String::new());
            }
        });
    };
    view! {
        <section class="page card">
            <h3>{t("nav.tasks")}</h3>
            <form class="form inline" on:submit=add aria-label=t("tasks.add")>
                <div class="field grow">
                    <label for="t-title">{t("tasks.task")}</label>
                    <input id="t-title" prop:value=title on:input=move |ev| title.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="t-due">{t("tasks.due_date")}</label>
                    <input id="t-due" type="date" prop:value=due on:input=move |ev| due.set(event_target_value(&ev)) />
                </div>
                <button type="submit">{t("tasks.add")}</button>
            </form>
            <ul class="tasks" aria-label=t("customer.tasks")>
                {move || tasks.get().into_iter().map(|(id, task)| view! {
                    <crate::pages::tasks::TaskItem id=id task=task />
                }.into_any()).collect::<Vec<AnyView>>()}
            </ul>
        </section>
    }
}

/// This user's edits of the customer (or of its deals, tasks…) that a later change by
/// a colleague replaced: each says what and by whom, with one action to put theirs
/// back and one to let it go.
#[component]
fn Replaced(customer: RecordId) -> impl IntoView {
    let ws = use_ws();
    let (index, superseded) = (ws.index, ws.superseded);
    let cid = customer.to_string();
    let notes = Memo::new(move |_| {
        let idx = index.get();
        superseded.with(|all| {
            all.iter()
                .filter(|n| {
                    n.record == customer
                        || idx.records.get(&n.record).and_then(|d| d.text(field::CUSTOMER)) == Some(&cid)
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let section = move |former: bool| {
        let mine = move || notes.get().into_iter().filter(|n| n.former == former).collect::<Vec<_>>();
        let title = if former { "history.left_title" } else { "history.replaced_title" };
        move || {
            (!mine().is_empty()).then(|| {
                view! {
                    <section class="card replaced" aria-label=t(title)>
                        <h3>{t(title)}</h3>
                        <ul>{move || mine().into_iter().map(replaced_view).collect::<Vec<AnyView>>()}</ul>
                    </section>
                }
            })
        }
    };
    view! { {section(false)} {section(true)} }
}

/// One replaced edit, with "Put mine back" and "Keep theirs".
fn replaced_view(n: shared::sync::Superseded) -> AnyView {
    let what = crate::i18n::field_label(&n.field);
    let (line_key, put_key, keep_key) = match n.former {
        true => ("history.left_line", "history.put_previous", "history.keep_it"),
        false => ("history.replaced_line", "history.put_back", "history.keep_theirs"),
    };
    let line = tf(
        line_key,
        &[
            ("field", &what),
            ("who", &n.by.to_string()),
            ("mine", &shown_value(&n.field, &n.mine)),
            ("theirs", &shown_value(&n.field, &n.theirs)),
        ],
    );
    let note = std::rc::Rc::new(n);
    let act = move |put_back: bool| {
        let note = note.clone();
        move |_| {
            let (ws, note) = (use_ws(), note.clone());
            spawn_local(async move {
                if !put_back {
                    return ws.dismiss_superseded(&note).await;
                }
                match ws.put_back(&note).await {
                    Ok(()) => crate::toast(t("history.put_back_done")),
                    Err(e) => crate::toast(&e),
                }
            });
        }
    };
    view! {
        <li>
            <p>{line}</p>
            <div class="actions">
                <button type="button" class="primary" on:click=act(true)>{t(put_key)}</button>
                <button type="button" on:click=act(false)>{t(keep_key)}</button>
            </div>
        </li>
    }
    .into_any()
}

/// Who changed which field of the customer (and of its deals, tasks…), when, from
/// what to what: the history entries written beside every edit, newest first, as far
/// as this user's keys open them. Who is the entry's creator as signatures prove it
/// (`Index::creator`), and an entry that came back through a put-back after a server
/// restore names who put it back (the signer of the version held).
#[component]
fn History(customer: RecordId) -> impl IntoView {
    let index = use_ws().index;
    let cid = customer.to_string();
    let entries = Memo::new(move |_| {
        let idx = index.get();
        let mut v: Vec<(String, String, Change, String)> = idx
            .linked(EntityKind::Change.as_str(), &cid)
            .filter_map(|(id, d)| {
                let mut who = idx.creator(id, d).map(ToString::to_string).unwrap_or_default();
                // The put-back's mark names who signed it: shown while they signed what is held.
                let mark = d.fields.get(shared::record::REPAIRED).map(|m| &m.stamp.author);
                if let Some(by) = idx.signer(id, d).filter(|by| mark == Some(*by) && by.as_str() != who) {
                    who = tf("history.put_back_by", &[("who", &who), ("by", by)]);
                }
                let c = Change::from_doc(d)?;
                // A deal's or a task's change names the record it is about.
                let about = match c.record.parse::<RecordId>() {
                    Ok(r) if r != customer => idx
                        .records
                        .get(&r)
                        .and_then(|d| d.text(field::TITLE).or(d.text(field::NAME)).map(str::to_owned))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                Some((id.to_string(), who, c, about))
            })
            .collect();
        v.sort_unstable_by_key(|e| std::cmp::Reverse(e.2.at_ms));
        v
    });
    view! {
        <section class="page card">
            <h3>{t("history.heading")}</h3>
            <ol class="history" aria-label=t("history.heading")>
                {move || entries.get().into_iter().map(history_view).collect::<Vec<AnyView>>()}
            </ol>
            {move || entries.with(Vec::is_empty).then(|| view! { <p class="muted">{t("history.empty")}</p> })}
        </section>
    }
}

/// The earlier versions of the customer the server keeps (issue 31, item 12), fetched
/// only when asked: each opened and verified on this device (who signed it is who the
/// verified chain and their signature say), with what reads differently from now, and
/// "Put this version back", which writes it on top as this user's edit. Sensitive
/// fields this user holds no key for are neither shown nor put back: where the phone
/// is, they see its masked form, as on the card.
#[component]
fn EarlierVersions(customer: RecordId) -> impl IntoView {
    type Loaded = Result<(Vec<crate::workspace::KeptLine>, u32), String>;
    let open = RwSignal::new(false);
    let loaded = RwSignal::new(None::<Loaded>);
    let busy = RwSignal::new(false);
    let load = move || {
        loaded.set(None);
        let ws = use_ws();
        spawn_local(async move { loaded.set(Some(ws.kept_versions(customer).await)) });
    };
    let toggle = move |_| {
        let now = !open.get_untracked();
        open.set(now);
        if now {
            load();
        }
    };
    let put_back = move |version: u64| {
        busy.set(true);
        let ws = use_ws();
        spawn_local(async move {
            match ws.put_back_version(customer, version).await {
                Ok(0) => crate::toast(t("versions.nothing_changed")),
                Ok(_) => {
                    crate::toast(&tf("versions.put_back_done", &[("version", &version)]));
                    // Read again with this task's workspace (`use_ws` needs the view's
                    // owner, which a task no longer runs under).
                    loaded.set(None);
                    loaded.set(Some(ws.kept_versions(customer).await));
                }
                Err(e) => crate::toast(&tf("versions.not_put_back", &[("error", &e)])),
            }
            busy.set(false);
        });
    };
    let line = move |k: crate::workspace::KeptLine| {
        let version = k.version;
        let when = format_date(k.written_ms);
        match k.opened {
            Ok((who, fields)) => {
                let head = tf("versions.line", &[("version", &version), ("who", &who), ("when", &when)]);
                let same = fields.is_empty();
                let phone_too = fields.iter().any(|f| f.name == field::PHONE);
                let changes = fields
                    .into_iter()
                    .filter(|f| !(phone_too && f.name == field::PHONE_MASKED))
                    .map(|f| {
                        let shown = if f.name == field::PHONE_MASKED { field::PHONE } else { &f.name };
                        let text = tf(
                            "versions.change",
                            &[
                                ("field", &crate::i18n::field_label(shown)),
                                ("now", &shown_value(&f.name, &f.now)),
                                ("then", &shown_value(&f.name, &f.then)),
                            ],
                        );
                        view! { <li>{text}</li> }.into_any()
                    })
                    .collect::<Vec<AnyView>>();
                view! {
                    <li>
                        <p><strong>{head}</strong></p>
                        {if same {
                            view! { <p class="muted">{t("versions.same")}</p> }.into_any()
                        } else {
                            view! { <ul>{changes}</ul> }.into_any()
                        }}
                        <button type="button" disabled=move || busy.get() || same on:click=move |_| put_back(version)>
                            {t("versions.put_back")}
                        </button>
                    </li>
                }
                .into_any()
            }
            Err(why) => view! {
                <li>
                    <p><strong>{tf("versions.line_refused", &[("version", &version), ("when", &when)])}</strong></p>
                    <p role="alert">{why}</p>
                </li>
            }
            .into_any(),
        }
    };
    view! {
        <section class="page card versions" aria-label=t("versions.title")>
            <h3>{t("versions.title")}</h3>
            <button type="button" aria-expanded=move || open.get().to_string() on:click=toggle>
                {move || if open.get() { t("versions.hide") } else { t("versions.show") }}
            </button>
            {move || open.get().then(|| match loaded.get() {
                None => view! { <p role="status">{t("versions.loading")}</p> }.into_any(),
                Some(Err(e)) => view! { <p role="alert">{e}</p> }.into_any(),
                Some(Ok((lines, days))) => view! {
                    <p class="hint">{tf("versions.kept_for", &[("days", &days)])}</p>
                    {lines.is_empty().then(|| view! { <p role="status">{t("versions.none")}</p> })}
                    <ol class="history" aria-label=t("versions.title")>
                        {lines.into_iter().map(line).collect::<Vec<AnyView>>()}
                    </ol>
                }.into_any(),
            })}
        </section>
    }
}

/// Existing customers a new one with `fields` looks like: (id, "name · company", why).
fn duplicates_of(ws: &crate::workspace::Ws, fields: &[(String, Option<Value>)]) -> Vec<(RecordId, String, String)> {
    let stamp = shared::hlc::Stamp { hlc: Default::default(), author: ws.me.clone() };
    let mut doc = RecordDoc::new();
    for (f, v) in fields {
        doc.apply(f, shared::record::FieldState { value: v.clone(), stamp: stamp.clone() });
    }
    let index = ws.index.get_untracked();
    ws.duplicate_index()
        .matches(&doc, None)
        .into_iter()
        .filter_map(|(id, reasons)| {
            let d = index.records.get(&id)?;
            let (name, company) = (text_of(d, field::NAME), text_of(d, field::COMPANY));
            let label = if company.is_empty() { name } else { format!("{name} · {company}") };
            let why: Vec<&str> = reasons.into_iter().map(crate::pages::duplicates::reason_text).collect();
            Some((id, label, why.join(", ")))
        })
        .collect()
}

/// One history entry: who, when, about which record, and each field's change.
fn history_view((_, who, change, about): (String, String, Change, String)) -> AnyView {
    let lines = change
        .changes
        .iter()
        .map(|c| {
            let line = tf(
                "history.change",
                &[
                    ("field", &crate::i18n::field_label(&c.field)),
                    ("from", &shown_value(&c.field, &c.from)),
                    ("to", &shown_value(&c.field, &c.to)),
                ],
            );
            view! { <li>{line}</li> }.into_any()
        })
        .collect::<Vec<AnyView>>();
    let about = (!about.is_empty()).then(|| format!(" · {about}"));
    view! {
        <li>
            <p class="muted"><strong>{who}</strong>" · "<time>{format_date(change.at_ms)}</time>{about}</p>
            <ul>{lines}</ul>
        </li>
    }
    .into_any()
}
