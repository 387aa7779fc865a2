//! The customer pool (公海): customers without an owner, for any member to claim up to
//! the admin's limit; the owner's customers about to return (a reminder); and, for
//! admins, the rules and the return of customers with no follow-up, after a preview of
//! exactly which. Claims and returns are audited. See `shared::pool`.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::domain::{field, Entity, EntityKind, Interaction};
use shared::ids::RecordId;
use shared::pool::{self, Rules};
use shared::record::Value;

use crate::i18n::{t, tf};
use crate::pages::format::format_date;
use crate::workspace::Index;
use crate::{route, use_ws};

/// Each customer's newest interaction, by customer id.
pub fn last_interactions(idx: &Index) -> HashMap<String, i64> {
    let mut last: HashMap<String, i64> = HashMap::new();
    for (_, d) in idx.of_kind(EntityKind::Interaction.as_str()) {
        if let Some(i) = Interaction::from_doc(d) {
            let e = last.entry(i.customer).or_insert(i.at_ms);
            *e = (*e).max(i.at_ms);
        }
    }
    last
}

fn name_of(idx: &Index, id: &RecordId) -> (String, String) {
    idx.records.get(id).map_or_else(Default::default, |d| {
        (d.text(field::NAME).unwrap_or_default().to_owned(), d.text(field::COMPANY).unwrap_or_default().to_owned())
    })
}

/// The pool's rules, kept current as the records change.
pub fn use_pool_rules() -> RwSignal<Rules> {
    let rules = RwSignal::new(Rules::default());
    let index = use_ws().index;
    Effect::new(move |_| {
        index.track();
        let ws = use_ws();
        spawn_local(async move {
            let fresh = ws.pool_rules().await;
            // (The page may be gone by now, and its signal with it.)
            if rules.try_with_untracked(|r| *r != fresh) == Some(true) {
                rules.set(fresh); // not on every sync: it would redraw a form being typed in
            }
        });
    });
    rules
}

/// My customers returning to the pool within the reminder window (for Home too).
pub fn mine_returning_soon(idx: &Index, me: &str, rules: Rules, now: i64) -> Vec<(RecordId, i64)> {
    let last = last_interactions(idx);
    let mine = idx.of_kind(EntityKind::Customer.as_str()).filter(|(_, d)| pool::owner(d) == me);
    pool::soon(&pool::return_dates(mine, &last, rules), now)
}

#[component]
pub fn Pool() -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let me = ws.me.to_string();
    let admin = ws.team.with_untracked(|t| t.me_admin);
    let rules = use_pool_rules();
    let pooled = Memo::new(move |_| {
        index.with(|idx| {
            let mut v: Vec<(RecordId, String, String)> = idx
                .of_kind(EntityKind::Customer.as_str())
                .filter(|(_, d)| pool::in_pool(d))
                .map(|(id, _)| {
                    let (n, c) = name_of(idx, id);
                    (*id, n, c)
                })
                .collect();
            v.sort_by(|a, b| a.1.cmp(&b.1));
            v
        })
    });
    let me2 = me.clone();
    let held = Memo::new(move |_| {
        index.with(|idx| idx.of_kind(EntityKind::Customer.as_str()).filter(|(_, d)| pool::owner(d) == me2).count())
    });
    let me3 = me.clone();
    let soon = Memo::new(move |_| index.with(|idx| mine_returning_soon(idx, &me3, rules.get(), crate::now_ms())));
    let claim = move |id: RecordId, name: String| {
        if !pool::may_claim(rules.get_untracked(), held.get_untracked()) {
            crate::toast(&tf("pool.at_limit", &[("n", &rules.get_untracked().limit)]));
            return;
        }
        let ws = use_ws();
        spawn_local(async move {
            match ws.edit(id, pool::claim(&ws.me, crate::now_ms())).await {
                Ok(()) => {
                    crate::toast(&tf("pool.claimed", &[("name", &name)]));
                    ws.audit(shared::audit::AuditAction::Edit, Some(id), None, "claimed from the pool".into()).await;
                }
                Err(e) => crate::toast(&e),
            }
        });
    };
    view! {
        <section class="page">
            <h1>{t("nav.pool")}</h1>
            <p class="hint">{t("pool.explain")}</p>
            <p role="status" aria-label=t("pool.holding")>{move || {
                let r = rules.get();
                if r.limit == 0 {
                    tf("pool.held_no_limit", &[("n", &held.get())])
                } else {
                    tf("pool.held", &[("n", &held.get()), ("limit", &r.limit)])
                }
            }}</p>
            {move || {
                let soon = soon.get();
                (!soon.is_empty()).then(|| view! {
                    <section class="card notice" aria-labelledby="pool-soon">
                        <h3 id="pool-soon">{tf("pool.soon_title", &[("n", &soon.len())])}</h3>
                        <ul class="list">
                            {index.with_untracked(|idx| soon.iter().map(|(id, at)| {
                                let (n, _) = name_of(idx, id);
                                view! {
                                    <li><a href=route::customer(&id.to_string())>{n}</a>
                                    " " <span class="list__meta">{tf("pool.returns_on", &[("date", &format_date(*at))])}</span></li>
                                }.into_any()
                            }).collect::<Vec<AnyView>>())}
                        </ul>
                    </section>
                })
            }}
            <section class="card">
                <h3>{move || tf("pool.in_pool", &[("n", &pooled.with(Vec::len))])}</h3>
                {move || pooled.with(Vec::is_empty).then(|| view! { <p class="empty">{t("pool.empty")}</p> })}
                <ul class="list" aria-label=t("nav.pool")>
                    {move || pooled.get().into_iter().map(|(id, name, company)| {
                        let n2 = name.clone();
                        view! {
                            <li class="list__item pool__item">
                                <a href=route::customer(&id.to_string())>
                                    <span class="list__name">{name.clone()}</span>
                                    <span class="list__meta">{company}</span>
                                </a>
                                <button type="button" aria-label=tf("pool.claim", &[("name", &name)]) on:click=move |_| claim(id, n2.clone())>{t("pool.claim_short")}</button>
                            </li>
                        }.into_any()
                    }).collect::<Vec<AnyView>>()}
                </ul>
            </section>
            {admin.then(|| view! { <PoolRules rules=rules /> })}
        </section>
    }
}

/// Admins: the limit and the return rule, and the return itself after a preview.
#[component]
fn PoolRules(rules: RwSignal<Rules>) -> impl IntoView {
    let index = use_ws().index;
    let limit = RwSignal::new(String::new());
    let days = RwSignal::new(String::new());
    Effect::new(move |_| {
        let r = rules.get();
        limit.set(r.limit.to_string());
        days.set(r.return_days.to_string());
    });
    // Who holds more than the limit: the limit is checked by the claimer's client, so
    // a modified one can claim past it; the owners' signed fields show it here.
    let over = Memo::new(move |_| {
        let r = rules.get();
        index.with(|idx| pool::over_limit(idx.of_kind(EntityKind::Customer.as_str()).map(|(_, d)| d), r))
    });
    let preview = RwSignal::new(None::<Vec<(RecordId, String, String, i64)>>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (Ok(l), Ok(d)) = (limit.get_untracked().trim().parse::<i64>(), days.get_untracked().trim().parse::<i64>())
        else {
            crate::toast(t("pool.bad_rules"));
            return;
        };
        let ws = use_ws();
        spawn_local(async move {
            let fields = vec![
                (pool::LIMIT.to_owned(), Some(Value::Int(l.clamp(0, 100_000)))),
                (pool::RETURN_DAYS.to_owned(), Some(Value::Int(d.clamp(0, 3650)))),
            ];
            match ws.edit_settings(fields).await {
                Ok(()) => crate::toast(t("pool.rules_saved")),
                Err(e) => crate::toast(&e),
            }
        });
    };
    let look = move |_| {
        let r = rules.get_untracked();
        let now = crate::now_ms();
        preview.set(Some(index.with_untracked(|idx| {
            let last = last_interactions(idx);
            let dates = pool::return_dates(idx.of_kind(EntityKind::Customer.as_str()), &last, r);
            pool::due(&dates, now)
                .into_iter()
                .filter_map(|id| {
                    let d = idx.records.get(&id)?;
                    let (n, _) = name_of(idx, &id);
                    let since = pool::last_activity(d, last.get(&id.to_string()).copied());
                    Some((id, n, pool::owner(d).to_owned(), since))
                })
                .collect()
        })));
    };
    let give_back = move |_| {
        let Some(list) = preview.get_untracked() else { return };
        let ws = use_ws();
        let n = list.len();
        let days = rules.get_untracked().return_days;
        spawn_local(async move {
            let edits = list.iter().map(|(id, ..)| (*id, pool::give_back())).collect();
            match ws.edit_many(edits).await {
                Ok(()) => {
                    preview.set(None);
                    crate::toast(&tf("pool.returned", &[("n", &n)]));
                    let detail = format!("returned {n} customers to the pool (no follow-up in {days} days)");
                    ws.audit(shared::audit::AuditAction::Edit, None, None, detail).await;
                    ws.request_sync();
                }
                Err(e) => crate::toast(&e),
            }
        });
    };
    view! {
        <section class="card form" aria-labelledby="pool-rules">
            <h3 id="pool-rules">{t("pool.rules")}</h3>
            <form class="form inline" on:submit=save aria-label=t("pool.rules")>
                <div class="field">
                    <label for="pool-limit">{t("pool.limit")}</label>
                    <input id="pool-limit" inputmode="numeric" prop:value=limit on:input=move |ev| limit.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="pool-days">{t("pool.days")}</label>
                    <input id="pool-days" inputmode="numeric" prop:value=days on:input=move |ev| days.set(event_target_value(&ev)) />
                </div>
                <button type="submit">{t("pool.save_rules")}</button>
            </form>
            {move || over.with(|over| (!over.is_empty()).then(|| view! {
                <ul class="list notice" aria-label=t("pool.over_limit_title")>
                    {over.iter().map(|(who, n)| view! {
                        <li>{tf("pool.over_limit", &[("who", who), ("n", n), ("limit", &rules.get_untracked().limit)])}</li>
                    }).collect::<Vec<_>>()}
                </ul>
            }))}
            <button type="button" on:click=look>{t("pool.preview")}</button>
            {move || preview.get().map(|list| {
                let n = list.len();
                view! {
                    <div role="region" aria-label=t("pool.preview_title")>
                        <p>{tf("pool.preview_count", &[("n", &n)])}</p>
                        <ul class="list">
                            {list.into_iter().map(|(id, name, owner, since)| view! {
                                <li><a href=route::customer(&id.to_string())>{name}</a>
                                " " <span class="list__meta">{tf("pool.preview_row", &[("owner", &owner), ("date", &format_date(since))])}</span></li>
                            }.into_any()).collect::<Vec<AnyView>>()}
                        </ul>
                        {(n > 0).then(|| view! {
                            <button type="button" class="danger" on:click=give_back>{tf("pool.return_now", &[("n", &n)])}</button>
                        })}
                    </div>
                }
            })}
        </section>
    }
}
