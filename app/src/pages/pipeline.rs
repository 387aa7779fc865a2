//! The deal pipeline: a column per stage with its total; deals move by buttons.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::domain::{field, Deal, Entity, EntityKind, Stage};
use shared::ids::RecordId;
use shared::record::Value;

use crate::i18n::{self, stage_label, t, tf};
use crate::use_ws;

/// `"1,234.5"` → `123450`.
fn parse_money(s: &str) -> Option<i64> {
    let clean: String = s.chars().filter(|c| !matches!(c, ',' | ' ')).collect();
    let v: f64 = clean.parse().ok()?;
    (v.is_finite() && v.abs() < 1e15).then(|| (v * 100.0).round() as i64)
}

#[component]
pub fn Pipeline() -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let deals = Memo::new(move |_| {
        let idx = index.get();
        let names: std::collections::HashMap<String, String> = idx
            .of_kind(EntityKind::Customer.as_str())
            .map(|(id, d)| (id.to_string(), d.text(field::NAME).unwrap_or_default().to_owned()))
            .collect();
        let mut v: Vec<(RecordId, Deal, String)> = idx
            .of_kind(EntityKind::Deal.as_str())
            .filter_map(|(id, d)| {
                let deal = Deal::from_doc(d)?;
                let who = names.get(&deal.customer).cloned().unwrap_or_default();
                Some((*id, deal, who))
            })
            .collect();
        v.sort_unstable_by(|a, b| b.1.amount.cmp(&a.1.amount));
        v
    });
    let customers = Memo::new(move |_| {
        let idx = index.get();
        let mut v: Vec<(String, String)> = idx
            .of_kind(EntityKind::Customer.as_str())
            .map(|(id, d)| (id.to_string(), d.text(field::NAME).unwrap_or_default().to_owned()))
            .collect();
        v.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        v
    });
    let title = RwSignal::new(String::new());
    let customer = RwSignal::new(String::new());
    let amount = RwSignal::new(String::new());
    let currency = RwSignal::new("CNY".to_owned());
    let message = RwSignal::new(None::<String>);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(minor) = parse_money(&amount.get_untracked()) else {
            message.set(Some(t("pipeline.bad_amount").into()));
            return;
        };
        if title.get_untracked().trim().is_empty() {
            message.set(Some(t("pipeline.needs_title").into()));
            return;
        }
        let deal = Deal {
            customer: customer.get_untracked(),
            title: title.get_untracked().trim().to_owned(),
            stage: Stage::Lead,
            amount: minor,
            currency: currency.get_untracked(),
        };
        let ws = use_ws();
        spawn_local(async move {
            match ws.edit(RecordId::random(), deal.to_fields()).await {
                Ok(()) => {
                    title.set(String::new());
                    amount.set(String::new());
                    message.set(None);
                }
                Err(e) => message.set(Some(e)),
            }
        });
    };
    view! {
        <section class="page">
            <h2>{t("nav.pipeline")}</h2>
            <form class="card form inline" on:submit=add aria-label=t("pipeline.new_deal")>
                <div class="field grow">
                    <label for="d-title">{t("pipeline.deal")}</label>
                    <input id="d-title" prop:value=title on:input=move |ev| title.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="d-customer">{t("customer.form")}</label>
                    <select id="d-customer" on:change=move |ev| customer.set(event_target_value(&ev))>
                        <option value="">"—"</option>
                        {move || customers.get().into_iter().map(|(id, name)| view! {
                            <option value=id>{name}</option>
                        }.into_any()).collect::<Vec<AnyView>>()}
                    </select>
                </div>
                <div class="field">
                    <label for="d-amount">{t("pipeline.amount")}</label>
                    <input id="d-amount" inputmode="decimal" prop:value=amount on:input=move |ev| amount.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="d-currency">{t("pipeline.currency")}</label>
                    <input id="d-currency" size="4" prop:value=currency on:input=move |ev| currency.set(event_target_value(&ev)) />
                </div>
                <button type="submit">{t("pipeline.add_deal")}</button>
                <span role="status" class="message">{move || message.get()}</span>
            </form>
            <div class="board">
                {Stage::ALL.iter().enumerate().map(|(i, stage)| {
                    let stage = *stage;
                    let in_stage = move || deals.get().into_iter().filter(|(_, d, _)| d.stage == stage).collect::<Vec<_>>();
                    let total = move || {
                        let mut by_cur: std::collections::BTreeMap<String, i64> = Default::default();
                        for (_, d, _) in in_stage() {
                            *by_cur.entry(d.currency.clone()).or_default() += d.amount;
                        }
                        if by_cur.is_empty() { "0".to_owned() } else {
                            by_cur.into_iter().map(|(c, v)| i18n::amount(v, &c)).collect::<Vec<_>>().join(" + ")
                        }
                    };
                    let prev = i.checked_sub(1).map(|j| Stage::ALL[j]);
                    let next = Stage::ALL.get(i + 1).copied();
                    view! {
                        <section class="column card" aria-label=tf("pipeline.stage_region", &[("stage", &stage_label(stage))])>
                            <h3>{stage_label(stage)}</h3>
                            <p class="total">{t("pipeline.total")} " " {total}</p>
                            <ul class="deals">
                                {move || in_stage().into_iter().map(|(id, d, who)| view! {
                                    <li class="deal">
                                        <strong>{d.title.clone()}</strong>
                                        <span class="list__meta">{who}</span>
                                        <span>{i18n::amount(d.amount, &d.currency)}</span>
                                        <div class="actions">
                                            {prev.map(|p| view! { <MoveButton id=id to=p /> })}
                                            {next.map(|n| view! { <MoveButton id=id to=n /> })}
                                        </div>
                                    </li>
                                }).collect_view()}
                            </ul>
                        </section>
                    }
                }).collect_view()}
            </div>
        </section>
    }
}

#[component]
fn MoveButton(id: RecordId, to: Stage) -> impl IntoView {
    let go = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            let _ = ws.edit(id, vec![(field::STAGE.into(), Some(Value::Text(to.as_str().into())))]).await;
        });
    };
    view! { <button type="button" on:click=go>{tf("pipeline.move_to", &[("stage", &stage_label(to))])}</button> }
}
