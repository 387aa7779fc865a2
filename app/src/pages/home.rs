//! Home: how sales are going, computed on this device from what the user's keys open
//! (nothing new reaches the server). The pipeline funnel (deals and amount per stage),
//! activities per week, forgotten customers (no follow-up in 30 days), and tasks due
//! today or overdue. Charts are SVG with their numbers written out, and every figure
//! opens the matching list.

use std::collections::HashSet;

use leptos::prelude::*;
use shared::domain::{Deal, Entity, EntityKind, Interaction, Stage, Task};

use crate::i18n::{self, number, stage_label, t, tf};
use crate::{now_ms, route, use_ws};

const DAY_MS: i64 = 86_400_000;
/// "Forgotten": no interaction in this many days.
pub const FORGOTTEN_DAYS: i64 = 30;
const WEEKS: usize = 8;

#[derive(Clone, PartialEq, Default)]
struct Summary {
    /// Per stage: deals, amount in minor units (deals in yuan; others are counted only).
    funnel: Vec<(Stage, usize, i64)>,
    /// Interactions per week, oldest first (the last is this week).
    weeks: [usize; WEEKS],
    forgotten: usize,
    customers: usize,
    overdue: usize,
    today: usize,
}

fn summarize(idx: &crate::workspace::Index, now: i64) -> Summary {
    let mut s = Summary { funnel: Stage::ALL.iter().map(|st| (*st, 0, 0)).collect(), ..Default::default() };
    for (_, d) in idx.of_kind(EntityKind::Deal.as_str()) {
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
    let week_start = now - (WEEKS as i64) * 7 * DAY_MS;
    let mut contacted = HashSet::new();
    for (_, d) in idx.of_kind(EntityKind::Interaction.as_str()) {
        let Some(i) = Interaction::from_doc(d) else { continue };
        if i.at_ms >= now - FORGOTTEN_DAYS * DAY_MS {
            contacted.insert(i.customer.clone());
        }
        if i.at_ms >= week_start && i.at_ms <= now {
            let w = ((i.at_ms - week_start) / (7 * DAY_MS)) as usize;
            s.weeks[w.min(WEEKS - 1)] += 1;
        }
    }
    s.customers = idx.customers.len();
    s.forgotten = idx.customers.iter().filter(|c| !contacted.contains(&c.id.to_string())).count();
    let end_of_day = crate::end_of_today_ms();
    for (_, d) in idx.of_kind(EntityKind::Task.as_str()) {
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
    view! {
        <section class="page">
            <div class="page__head">
                <h2>{t("nav.home")}</h2>
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
                    }
                }}
            </div>
            {move || view! { <Funnel rows=summary.get().funnel /> }}
            {move || view! { <Weeks weeks=summary.get().weeks /> }}
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
