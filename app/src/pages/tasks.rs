//! Tasks and reminders: overdue, due today, upcoming; mark done.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::domain::{field, Entity, EntityKind, Task};
use shared::ids::RecordId;
use shared::record::Value;

use crate::i18n::{t, tf};
use crate::pages::format::format_date;
use crate::{now_ms, use_ws};

#[component]
pub fn TaskItem(id: RecordId, task: Task) -> impl IntoView {
    let checkbox_id = format!("task-{id}");
    let done = task.done;
    let toggle = move |_| {
        let ws = use_ws();
        spawn_local(async move {
            let _ = ws.edit(id, vec![(field::DONE.into(), Some(Value::Bool(!done)))]).await;
        });
    };
    let overdue = !task.done && task.due_ms < now_ms();
    view! {
        <li class=if overdue { "task overdue" } else { "task" }>
            <input id=checkbox_id.clone() type="checkbox" prop:checked=done on:change=toggle />
            <label for=checkbox_id>{task.title.clone()}</label>
            <time>{format_date(task.due_ms)}</time>
            {overdue.then(|| view! { <span class="badge warn">{t("tasks.overdue_badge")}</span> })}
        </li>
    }
}

#[component]
pub fn TaskList() -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let groups = Memo::new(move |_| {
        let idx = index.get();
        let now = now_ms();
        let day_end = crate::end_of_today_ms();
        let mut open: Vec<(RecordId, Task)> = idx
            .of_kind(EntityKind::Task.as_str())
            .filter_map(|(id, d)| Some((*id, Task::from_doc(d)?)))
            .filter(|(_, t)| !t.done)
            .collect();
        open.sort_unstable_by_key(|(_, t)| t.due_ms);
        let overdue: Vec<_> = open.iter().filter(|(_, t)| t.due_ms < now).cloned().collect();
        let today: Vec<_> = open.iter().filter(|(_, t)| t.due_ms >= now && t.due_ms <= day_end).cloned().collect();
        let upcoming: Vec<_> = open.iter().filter(|(_, t)| t.due_ms > day_end).cloned().collect();
        [(t("tasks.overdue"), overdue), (t("tasks.today"), today), (t("tasks.upcoming"), upcoming)]
    });
    let permission = RwSignal::new(web_sys::Notification::permission());
    let allow = move |_| {
        if let Ok(p) = web_sys::Notification::request_permission() {
            spawn_local(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(p).await;
                permission.set(web_sys::Notification::permission());
            });
        }
    };
    view! {
        <section class="page">
            <h1>{t("nav.tasks")}</h1>
            {move || match permission.get() {
                web_sys::NotificationPermission::Granted => view! { <p class="hint">{t("tasks.reminders_on")}</p> }.into_any(),
                web_sys::NotificationPermission::Denied => view! { <p class="hint">{t("tasks.reminders_blocked")}</p> }.into_any(),
                _ => view! { <button type="button" on:click=allow>{t("tasks.enable_reminders")}</button> }.into_any(),
            }}
            {move || groups.get().into_iter().map(|(title, items)| view! {
                <section class="card">
                    <h3>{tf("tasks.group", &[("title", &title), ("n", &items.len())])}</h3>
                    <ul class="tasks" aria-label=title>
                        {items.into_iter().map(|(id, t)| view! { <TaskItem id=id task=t /> }).collect_view()}
                    </ul>
                </section>
            }).collect_view()}
        </section>
    }
}
