//! The calendar: tasks (by when they fall due) and meetings and visits (by when they
//! happen), a week or a month at a time. An item moves to another day by dragging it
//! there (pointer events: mouse, touch, pen) or, in the week view, with its date field
//! (the keyboard way); it keeps its time of day. "Download my tasks" builds an .ics file
//! in the browser (`shared::ics`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::domain::{field, Channel, Entity, EntityKind, Interaction, Task};
use shared::ids::RecordId;
use shared::record::Value;

use crate::i18n::{self, t, tf};
use crate::{route, use_ws};

/// Local midnight of the day `ms` falls in.
fn day_start(ms: i64) -> i64 {
    let d = js_sys::Date::new(&(ms as f64).into());
    d.set_hours(0);
    d.set_minutes(0);
    d.set_seconds(0);
    d.set_milliseconds(0);
    d.get_time() as i64
}

/// `n` days later, at the same local time (right across daylight-saving changes).
fn add_days(ms: i64, n: i32) -> i64 {
    let d = js_sys::Date::new(&(ms as f64).into());
    d.set_date((d.get_date() as i32 + n) as u32);
    d.get_time() as i64
}

/// Monday of the week `ms` falls in.
fn week_start(ms: i64) -> i64 {
    let d = day_start(ms);
    let weekday = js_sys::Date::new(&(d as f64).into()).get_day() as i32; // 0 = Sunday
    add_days(d, -((weekday + 6) % 7))
}

fn month_start(ms: i64) -> i64 {
    let d = js_sys::Date::new(&(day_start(ms) as f64).into());
    d.set_date(1);
    d.get_time() as i64
}

fn fmt(ms: i64, opts: &[(&str, &str)]) -> String {
    let o = js_sys::Object::new();
    for (k, v) in opts {
        let _ = js_sys::Reflect::set(&o, &(*k).into(), &(*v).into());
    }
    js_sys::Date::new(&(ms as f64).into()).to_locale_string(i18n::lang().tag(), &o).into()
}

#[derive(Clone, PartialEq)]
struct Item {
    id: RecordId,
    is_task: bool,
    title: String,
    at: i64,
    customer: String,
    done: bool,
}

type Dragging = crate::drag::Dragging<RecordId>;

/// Move an item to another day, keeping its time of day.
fn reschedule(item: &Item, day: i64) {
    let at = day + (item.at - day_start(item.at));
    if day_start(item.at) == day {
        return;
    }
    let f = if item.is_task { field::DUE } else { field::AT };
    let (id, title) = (item.id, item.title.clone());
    let ws = use_ws();
    spawn_local(async move {
        if ws.edit(id, vec![(f.into(), Some(Value::Int(at)))]).await.is_ok() {
            crate::toast(&tf("calendar.moved", &[("title", &title), ("date", &fmt(at, &[("dateStyle", "medium")]))]));
        }
    });
}

#[component]
pub fn Calendar() -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let month_view = RwSignal::new(false);
    let anchor = RwSignal::new(crate::now_ms());
    let items = Memo::new(move |_| {
        let idx = index.get();
        let mut v: Vec<Item> = idx
            .of_kind(EntityKind::Task.as_str())
            .filter_map(|(id, d)| {
                let task = Task::from_doc(d)?;
                Some(Item {
                    id: *id,
                    is_task: true,
                    title: task.title,
                    at: task.due_ms,
                    customer: task.customer,
                    done: task.done,
                })
            })
            .collect();
        // Meetings and visits: the interactions one plans ahead.
        v.extend(idx.of_kind(EntityKind::Interaction.as_str()).filter_map(|(id, d)| {
            let i = Interaction::from_doc(d)?;
            matches!(i.channel, Channel::Meeting | Channel::Visit).then(|| Item {
                id: *id,
                is_task: false,
                title: i.summary,
                at: i.at_ms,
                customer: i.customer,
                done: false,
            })
        }));
        v.sort_by_key(|i| i.at);
        v
    });
    // The days shown: a week from Monday, or the weeks that cover the month.
    let days = Memo::new(move |_| {
        let a = anchor.get();
        if month_view.get() {
            let first = month_start(a);
            let start = week_start(first);
            let next_month = {
                let d = js_sys::Date::new(&(first as f64).into());
                d.set_month(d.get_month() + 1);
                d.get_time() as i64
            };
            let mut v = Vec::new();
            let mut d = start;
            while d < next_month || v.len() % 7 != 0 {
                v.push(d);
                d = add_days(d, 1);
            }
            v
        } else {
            let start = week_start(a);
            (0..7).map(|i| add_days(start, i)).collect::<Vec<_>>()
        }
    });
    let title = move || {
        let a = anchor.get();
        if month_view.get() {
            fmt(a, &[("year", "numeric"), ("month", "long")])
        } else {
            let d = days.get();
            format!("{} – {}", fmt(d[0], &[("dateStyle", "medium")]), fmt(d[6], &[("dateStyle", "medium")]))
        }
    };
    let step = move |n: i32| {
        anchor.update(|a| {
            *a = if month_view.get_untracked() {
                let d = js_sys::Date::new(&(month_start(*a) as f64).into());
                d.set_month((d.get_month() as i32 + n) as u32);
                d.get_time() as i64
            } else {
                add_days(*a, 7 * n)
            }
        })
    };
    let dragging = Dragging::new("data-day");
    let download = move |_| {
        let now = crate::now_ms();
        let me = use_ws().me.clone();
        let idx = index.get_untracked();
        let events: Vec<shared::ics::Event> = idx
            .of_kind(EntityKind::Task.as_str())
            .filter_map(|(id, d)| {
                let task = Task::from_doc(d)?;
                let creator = idx.creator(id, d);
                let mine = task.assignee == me.as_str() || (task.assignee.is_empty() && creator == Some(&me));
                let customer =
                    idx.doc(&task.customer.parse().ok()?).and_then(|c| c.text(field::NAME).map(str::to_owned));
                (mine && !task.done).then(|| shared::ics::Event {
                    uid: id.to_string(),
                    title: task.title,
                    description: customer.unwrap_or_default(),
                    start_ms: task.due_ms,
                    minutes: 30,
                })
            })
            .collect();
        let ics = shared::ics::calendar(t("calendar.my_tasks"), &events, now);
        if let Err(e) =
            crate::pages::import::download("quietdesk-tasks.ics", &ics.into(), "text/calendar;charset=utf-8")
        {
            crate::toast(&e);
        } else {
            crate::toast(&tf("calendar.downloaded", &[("n", &events.len())]));
        }
    };
    let end_drag = move |ev: web_sys::PointerEvent| {
        let Some((id, day)) = dragging.drop(&ev) else { return };
        let item = items.with_untracked(|v| v.iter().find(|i| i.id == id).cloned());
        if let (Ok(day), Some(item)) = (day.parse::<i64>(), item) {
            reschedule(&item, day);
        }
    };
    view! {
        <section class="page page--board">
            <div class="page__head">
                <h1>{t("nav.calendar")}</h1>
                <button type="button" on:click=download>{t("calendar.download")}</button>
            </div>
            <div class="toolbar" role="group" aria-label=t("calendar.controls")>
                <button type="button" aria-pressed=move || (!month_view.get()).to_string() on:click=move |_| month_view.set(false)>{t("calendar.week")}</button>
                <button type="button" aria-pressed=move || month_view.get().to_string() on:click=move |_| month_view.set(true)>{t("calendar.month")}</button>
                <button type="button" on:click=move |_| step(-1)>{t("calendar.previous")}</button>
                <button type="button" on:click=move |_| anchor.set(crate::now_ms())>{t("calendar.today")}</button>
                <button type="button" on:click=move |_| step(1)>{t("calendar.next")}</button>
                <strong class="toolbar__title" aria-live="polite">{title}</strong>
            </div>
            <p class="hint">{t("calendar.drag_hint")}</p>
            <div class="calendar" class:calendar--month=month_view
                on:pointermove=move |ev| dragging.moving(&ev)
                on:pointerup=end_drag
                on:pointercancel=move |_| dragging.cancel()
            >
                {move || {
                    let month = month_view.get();
                    let this_month = js_sys::Date::new(&(anchor.get() as f64).into()).get_month();
                    let today = day_start(crate::now_ms());
                    let all = items.get();
                    days.get().into_iter().map(|day| {
                        let next = add_days(day, 1);
                        let on_day: Vec<Item> = all.iter().filter(|i| i.at >= day && i.at < next).cloned().collect();
                        let label = fmt(day, &[("weekday", "short"), ("month", "numeric"), ("day", "numeric")]);
                        let outside = month && js_sys::Date::new(&(day as f64).into()).get_month() != this_month;
                        view! {
                            <section class="day card" data-day=day.to_string()
                                class:day--today=day == today class:day--outside=outside
                                class:drop-target=move || dragging.is_over(&day.to_string())
                                aria-label=label.clone()>
                                <h3 class="day__label">{label.clone()}</h3>
                                <ul class="day__items">
                                    {on_day.into_iter().map(|item| item_view(item, month, dragging)).collect::<Vec<AnyView>>()}
                                </ul>
                            </section>
                        }.into_any()
                    }).collect::<Vec<AnyView>>()
                }}
            </div>
        </section>
    }
}

fn item_view(item: Item, month: bool, dragging: Dragging) -> AnyView {
    let id = item.id;
    let time = fmt(item.at, &[("timeStyle", "short")]);
    let date_id = format!("cal-date-{id}");
    let date_value = {
        let d = js_sys::Date::new(&(item.at as f64).into());
        format!("{:04}-{:02}-{:02}", d.get_full_year(), d.get_month() + 1, d.get_date())
    };
    let href = route::customer(&item.customer);
    let kind = if item.is_task { t("calendar.task") } else { t("calendar.meeting") };
    let moved = item.clone();
    let keyboard_move = move |ev: leptos::ev::Event| {
        if let Some(day) = crate::pages::format::parse_date(&event_target_value(&ev)) {
            reschedule(&moved, day_start(day));
        }
    };
    // A link is not dragged natively: the drag is ours.
    let no_native_drag = |ev: leptos::ev::DragEvent| ev.prevent_default();
    view! {
        <li class="cal-item" class:cal-item--done=item.done class:cal-item--meeting=!item.is_task
            class:dragging=move || dragging.is_dragging(id)
            on:pointerdown=move |ev| dragging.start(id, &ev) on:dragstart=no_native_drag>
            <span class="deal__grip" aria-hidden="true">"⠿"</span>
            <span class="cal-item__time">{time}</span>
            <a href=href>{format!("{kind}: {}", item.title)}</a>
            {(!month).then(|| view! {
                <div class="field field--compact">
                    <label for=date_id.clone()>{tf("calendar.date_of", &[("title", &item.title)])}</label>
                    <input id=date_id type="date" value=date_value on:change=keyboard_move />
                </div>
            })}
        </li>
    }
    .into_any()
}
