//! Home: how sales are going, computed on this device from what the user's keys open
//! (nothing new reaches the server). The pipeline funnel (deals and amount per stage),
//! activities per week and by person, deals won and lost per month, forgotten customers
//! (no follow-up in 30 days), and tasks due today or overdue. Charts are SVG with their numbers written out, and every figure
//! opens the matching list.

use std::collections::{BTreeMap, HashSet};

use leptos::prelude::*;
use shared::domain::{Deal, Entity, EntityKind, Interaction, Stage, Task};

use crate::i18n::{self, number, stage_label, t, tf};
use crate::{now_ms, route, use_ws};

const DAY_MS: i64 = 86_400_000;
/// "Forgotten": no interaction in this many days.
pub const FORGOTTEN_DAYS: i64 = 30;
const WEEKS: usize = 8;
const MONTHS: usize = 6;
/// Activities by person: the last this many weeks, per person.
const PERSON_WEEKS: usize = 4;

/// (year, month 0–11) of a time, local.
fn month_of(ms: i64) -> (i32, u32) {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    (d.get_full_year() as i32, d.get_month())
}

/// A month's short name in the app's language ("Nov", "11月"), from the browser's Intl.
fn month_label((y, m): (i32, u32)) -> String {
    let d = js_sys::Date::new_with_year_month_day(y as u32, m as i32, 1);
    let opts = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&opts, &"month".into(), &"short".into());
    d.to_locale_date_string(i18n::lang().tag(), &opts).into()
}

#[derive(Clone, PartialEq, Default)]
struct Summary {
    /// Per stage: deals, amount in minor units (deals in yuan; others are counted only).
    funnel: Vec<(Stage, usize, i64)>,
    /// Interactions per week, oldest first (the last is this week).
    weeks: [usize; WEEKS],
    /// Per month, oldest first (the last is this month): the month, deals won (and
    /// their yuan), deals lost.
    closed: Vec<((i32, u32), usize, i64, usize)>,
    /// Per person who logged interactions: their count in each of the last weeks,
    /// oldest first; the busiest first.
    by_person: Vec<(String, [usize; PERSON_WEEKS])>,
    forgotten: usize,
    customers: usize,
    overdue: usize,
    today: usize,
}

fn summarize(idx: &crate::workspace::Index, now: i64) -> Summary {
    let mut s = Summary { funnel: Stage::ALL.iter().map(|st| (*st, 0, 0)).collect(), ..Default::default() };
    // One pass over every record (100,000 customers make four passes a long task).
    let (mut deals, mut interactions, mut tasks) = (Vec::new(), Vec::new(), Vec::new());
    for (id, d) in idx.records.iter() {
        match d.text(shared::domain::field::KIND) {
            Some(k) if k == EntityKind::Deal.as_str() => deals.push(&**d),
            Some(k) if k == EntityKind::Interaction.as_str() => interactions.push((id, &**d)),
            Some(k) if k == EntityKind::Task.as_str() => tasks.push(&**d),
            _ => {}
        }
    }
    for d in deals.iter().copied() {
        let Some(deal) = Deal::from_doc(d) else { continue };
        if let Some(row) =
            s.funnel.iter_mut().find(|r| r.0.as_str() == deal.stage && deal.pipeline == shared::pipeline::DEFAULT)
        {
            row.1 += 1;
            if matches!(deal.currency.as_str(), "CNY" | "RMB" | "") {
                row.2 += deal.amount;
            }
        }
    }
    // The last MONTHS months, this one last.
    let (mut y, mut m) = month_of(now);
    let mut months = Vec::with_capacity(MONTHS);
    for _ in 0..MONTHS {
        months.push((y, m));
        (y, m) = if m == 0 { (y - 1, 11) } else { (y, m - 1) };
    }
    months.reverse();
    s.closed = months.iter().map(|m| (*m, 0, 0, 0)).collect();
    for d in deals.iter().copied() {
        let Some(deal) = Deal::from_doc(d) else { continue };
        let Some(at) = deal.closed_at_ms else { continue };
        let Some(row) = s.closed.iter_mut().find(|r| r.0 == month_of(at)) else { continue };
        if deal.stage == shared::pipeline::WON {
            row.1 += 1;
            if matches!(deal.currency.as_str(), "CNY" | "RMB" | "") {
                row.2 += deal.amount;
            }
        } else if deal.stage == shared::pipeline::LOST {
            row.3 += 1;
        }
    }
    let week_start = now - (WEEKS as i64) * 7 * DAY_MS;
    let person_start = now - (PERSON_WEEKS as i64) * 7 * DAY_MS;
    let mut people: BTreeMap<String, [usize; PERSON_WEEKS]> = BTreeMap::new();
    let mut contacted = HashSet::new();
    for (id, d) in interactions.iter().copied() {
        let Some(i) = Interaction::from_doc(d) else { continue };
        if i.at_ms >= now - FORGOTTEN_DAYS * DAY_MS {
            if let Ok(customer) = i.customer.parse::<shared::ids::RecordId>() {
                contacted.insert(customer);
            }
        }
        if i.at_ms >= week_start && i.at_ms <= now {
            let w = ((i.at_ms - week_start) / (7 * DAY_MS)) as usize;
            s.weeks[w.min(WEEKS - 1)] += 1;
        }
        // Who logged it: its creator, as signatures prove it (else who signed it).
        if i.at_ms >= person_start && i.at_ms <= now {
            if let Some(who) = idx.creator(id, d).map(ToString::to_string) {
                let w = ((i.at_ms - person_start) / (7 * DAY_MS)) as usize;
                people.entry(who).or_default()[w.min(PERSON_WEEKS - 1)] += 1;
            }
        }
    }
    s.by_person = people.into_iter().collect();
    s.by_person.sort_by_key(|(who, weeks)| (std::cmp::Reverse(weeks.iter().sum::<usize>()), who.clone()));
    s.customers = idx.customers.len();
    s.forgotten = idx.customers.iter().filter(|c| !contacted.contains(&c.id)).count();
    let end_of_day = crate::end_of_today_ms();
    for d in tasks.iter().copied() {
        let Some(task) = Task::from_doc(d) else { continue };
        if task.done {
            continue;
        }
        if task.due_ms < now {
            s.overdue += 1;
        } else if task.due_ms <= end_of_day {
            s.today += 1;
        }
    }
    s
}

#[component]
pub fn Home() -> impl IntoView {
    let index = use_ws().index;
    let summary = Memo::new(move |_| index.with(|i| summarize(i, now_ms())));
    // The owner's reminder: their customers about to go back to the pool.
    let rules = crate::pages::pool::use_pool_rules();
    let me = use_ws().me.to_string();
    let returning = Memo::new(move |_| {
        index.with(|i| crate::pages::pool::mine_returning_soon(i, &me, rules.get(), now_ms()).len())
    });
    view! {
        <section class="page">
            <div class="page__head">
                <h1>{t("nav.home")}</h1>
                <a href=route::NEW_CUSTOMER class="button primary">{t("customers.new")}</a>
            </div>
            <div class="tiles">
                {move || {
                    let s = summary.get();
                    view! {
                        <a class="tile card" href=format!("{}?quiet={FORGOTTEN_DAYS}", route::CUSTOMERS)>
                            <span class="tile__value">{number(s.forgotten as i64)}</span>
                            <span class="tile__label">{tf("home.forgotten", &[("n", &FORGOTTEN_DAYS)])}</span>
                        </a>
                        <a class="tile card" href=route::TASKS>
                            <span class="tile__value">{number(s.overdue as i64)}</span>
                            <span class="tile__label">{t("tasks.overdue")}</span>
                        </a>
                        <a class="tile card" href=route::TASKS>
                            <span class="tile__value">{number(s.today as i64)}</span>
                            <span class="tile__label">{t("tasks.today")}</span>
                        </a>
                        <a class="tile card" href=route::CUSTOMERS>
                            <span class="tile__value">{number(s.customers as i64)}</span>
                            <span class="tile__label">{t("nav.customers")}</span>
                        </a>
                        {(returning.get() > 0).then(|| view! {
                            <a class="tile card" href=route::POOL>
                                <span class="tile__value">{number(returning.get() as i64)}</span>
                                <span class="tile__label">{t("home.returning")}</span>
                            </a>
                        })}
                    }
                }}
            </div>
            {move || view! { <Funnel rows=summary.get().funnel /> }}
            {move || view! { <Weeks weeks=summary.get().weeks /> }}
            {move || view! { <Closed months=summary.get().closed /> }}
            {move || view! { <ByPerson people=summary.get().by_person /> }}
        </section>
    }
}

/// Deals per stage as horizontal bars, the count and the amount beside each; a bar
/// opens the pipeline.
#[component]
fn Funnel(rows: Vec<(Stage, usize, i64)>) -> impl IntoView {
    let most = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let described = rows
        .iter()
        .map(|(st, n, amount)| format!("{} {} ({})", stage_label(*st), n, i18n::money(*amount)))
        .collect::<Vec<_>>()
        .join(", ");
    let row_h = 34;
    let height = rows.len() * row_h;
    if rows.iter().all(|r| r.1 == 0) {
        return view! {
            <section class="card chart">
                <h3>{t("home.funnel")}</h3>
                <p class="empty">{t("home.no_deals")} " " <a href=route::PIPELINE>{t("home.open_pipeline")}</a></p>
            </section>
        }
        .into_any();
    }
    view! {
        <figure class="card chart">
            <figcaption><h3>{t("home.funnel")}</h3></figcaption>
            <a href=route::PIPELINE class="chart__link">
            <svg role="img" aria-label=tf("home.funnel_text", &[("stages", &described)])
                viewBox=format!("0 0 360 {height}") class="chart__svg" preserveAspectRatio="xMinYMin meet">
                {rows.into_iter().enumerate().map(|(i, (stage, n, amount))| {
                    let y = i * row_h;
                    let w = 8 + (n * 130) / most;
                    view! {
                        <text x="0" y=y + 21 class="chart__label">{stage_label(stage)}</text>
                        <rect x="90" y=y + 6 width=w height="22" rx="4" class="chart__bar" />
                        <text x=w + 96 y=y + 21 class="chart__value">{format!("{n} · {}", i18n::money(amount))}</text>
                    }
                }).collect_view()}
            </svg>
            </a>
        </figure>
    }
    .into_any()
}

/// Interactions per week for the last eight weeks, as columns.
#[component]
fn Weeks(weeks: [usize; WEEKS]) -> impl IntoView {
    let most = weeks.iter().copied().max().unwrap_or(0).max(1);
    let total: usize = weeks.iter().sum();
    let described = weeks.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
    view! {
        <figure class="card chart">
            <figcaption><h3>{t("home.activities")}</h3></figcaption>
            <svg role="img" aria-label=tf("home.activities_text", &[("weeks", &described), ("total", &total)])
                viewBox="0 0 320 130" class="chart__svg">
                {weeks.into_iter().enumerate().map(|(i, n)| {
                    let h = (n * 90) / most;
                    let x = i * 40 + 6;
                    view! {
                        <rect x=x y=100 - h width="28" height=h.max(1) rx="3" class="chart__bar" />
                        <text x=x + 14 y=96 - h text-anchor="middle" class="chart__value">{n.to_string()}</text>
                        <text x=x + 14 y="120" text-anchor="middle" class="chart__label">
                            {if i == WEEKS - 1 { t("home.this_week").to_owned() } else { format!("-{}", WEEKS - 1 - i) }}
                        </text>
                    }
                }).collect_view()}
            </svg>
            <p class="hint">{tf("home.activities_total", &[("n", &total)])}</p>
        </figure>
    }
}

/// Deals won and lost per month (by the date they closed), as paired columns; the chart
/// opens the pipeline.
#[component]
fn Closed(months: Vec<((i32, u32), usize, i64, usize)>) -> impl IntoView {
    let most = months.iter().map(|r| r.1.max(r.3)).max().unwrap_or(0).max(1);
    let described = months
        .iter()
        .map(|(m, won, amount, lost)| {
            tf(
                "home.closed_month",
                &[("month", &month_label(*m)), ("won", won), ("amount", &i18n::money(*amount)), ("lost", lost)],
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let (won, lost): (usize, usize) = months.iter().fold((0, 0), |a, r| (a.0 + r.1, a.1 + r.3));
    view! {
        <figure class="card chart">
            <figcaption><h3>{t("home.closed")}</h3></figcaption>
            <a href=route::PIPELINE class="chart__link">
            <svg role="img" aria-label=tf("home.closed_text", &[("months", &described)]) viewBox="0 0 320 130" class="chart__svg">
                {months.into_iter().enumerate().map(|(i, (m, w, _, l))| {
                    let x = i * 52 + 6;
                    let (hw, hl) = ((w * 80) / most, (l * 80) / most);
                    view! {
                        <rect x=x y=100 - hw width="18" height=hw.max(1) rx="3" class="chart__bar chart__bar--won" />
                        <rect x=x + 20 y=100 - hl width="18" height=hl.max(1) rx="3" class="chart__bar chart__bar--lost" />
                        <text x=x + 9 y=96 - hw text-anchor="middle" class="chart__value">{w.to_string()}</text>
                        <text x=x + 29 y=96 - hl text-anchor="middle" class="chart__value">{l.to_string()}</text>
                        <text x=x + 19 y="120" text-anchor="middle" class="chart__label">{month_label(m)}</text>
                    }.into_any()
                }).collect::<Vec<AnyView>>()}
            </svg>
            </a>
            <p class="hint">{tf("home.closed_total", &[("won", &won), ("lost", &lost)])}</p>
        </figure>
    }
}

/// Interactions logged per person in each of the last weeks: a table, the busiest first.
#[component]
fn ByPerson(people: Vec<(String, [usize; PERSON_WEEKS])>) -> impl IntoView {
    if people.is_empty() {
        return view! {
            <section class="card chart">
                <h3>{t("home.by_person")}</h3>
                <p class="empty">{t("home.no_activities")}</p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="card chart">
            <h3 id="by-person">{t("home.by_person")}</h3>
            <div class="table-wrap">
                <table aria-labelledby="by-person">
                    <thead><tr>
                        <th scope="col">{t("home.person")}</th>
                        {(0..PERSON_WEEKS).map(|i| view! {
                            <th scope="col">{if i == PERSON_WEEKS - 1 { t("home.this_week").to_owned() } else { format!("-{}", PERSON_WEEKS - 1 - i) }}</th>
                        }.into_any()).collect::<Vec<AnyView>>()}
                        <th scope="col">{t("home.total")}</th>
                    </tr></thead>
                    <tbody>
                        {people.into_iter().map(|(who, weeks)| view! {
                            <tr>
                                <th scope="row">{who}</th>
                                {weeks.iter().map(|n| view! { <td>{n.to_string()}</td> }.into_any()).collect::<Vec<AnyView>>()}
                                <td>{weeks.iter().sum::<usize>().to_string()}</td>
                            </tr>
                        }.into_any()).collect::<Vec<AnyView>>()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}
