//! The deal pipeline: a board per pipeline, a column per stage with its total, won and
//! lost last. A deal moves by dragging its card to another column (mouse, touch, pen:
//! pointer events; on touch, from the card's grip so the board still scrolls), by its
//! "Stage" select (the keyboard way), or by "Move to <next stage>". Moving to lost asks
//! why. Every move is an ordinary edit: offline, synced, in the deal's history.
//! Admins define the pipelines and their stages (the team's settings record, honoured
//! only under an admin's signature; see `shared::pipeline`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::domain::{field, Deal, Entity, EntityKind, Stage};
use shared::ids::RecordId;
use shared::pipeline::{self, default_pipelines, move_deal, MoveError, Pipeline as Board, StageDef, LOST, WON};

use crate::i18n::{self, stage_label, t, tf};
use crate::pages::format::format_date;
use crate::use_ws;

/// `"1,234.5"` → `123450`.
fn parse_money(s: &str) -> Option<i64> {
    let clean: String = s.chars().filter(|c| !matches!(c, ',' | ' ')).collect();
    let v: f64 = clean.parse().ok()?;
    (v.is_finite() && v.abs() < 1e15).then(|| (v * 100.0).round() as i64)
}

/// A stage's name as shown: the admin's, or the default stage's translated label.
fn stage_name(board: &Board, key: &str) -> String {
    match key {
        WON => t("stage.won").into(),
        LOST => t("stage.lost").into(),
        _ => match board.stage_name(key) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => Stage::parse(key).map_or_else(|| key.to_owned(), |s| stage_label(s).to_owned()),
        },
    }
}

fn board_name(board: &Board) -> String {
    if board.name.is_empty() {
        t("pipeline.default_name").into()
    } else {
        board.name.clone()
    }
}

type DealRow = (RecordId, Deal, String);
type Dragging = crate::drag::Dragging<RecordId>;

#[component]
pub fn Pipeline() -> impl IntoView {
    let ws = use_ws();
    let index = ws.index;
    let admin = ws.team.with_untracked(|t| t.me_admin);
    let pipelines = RwSignal::new(default_pipelines());
    {
        let ws = ws.clone();
        Effect::new(move |_| {
            index.track();
            let ws = ws.clone();
            // Only when they changed: every sync sets the index, and redrawing the
            // editor would throw away stages an admin is typing.
            spawn_local(async move {
                let fresh = ws.pipelines().await;
                // (The page may be gone by now, and its signal with it.)
                if pipelines.try_with_untracked(|p| *p != fresh) == Some(true) {
                    pipelines.set(fresh);
                }
            });
        });
    }
    let current = RwSignal::new(pipeline::DEFAULT.to_owned());
    let board = Memo::new(move |_| {
        let id = current.get();
        pipelines
            .with(|ps| ps.iter().find(|p| p.id == id).or(ps.first()).cloned().expect("the default is always there"))
    });
    let deals = Memo::new(move |_| {
        let idx = index.get();
        let names: std::collections::HashMap<String, String> = idx
            .of_kind(EntityKind::Customer.as_str())
            .map(|(id, d)| (id.to_string(), d.text(field::NAME).unwrap_or_default().to_owned()))
            .collect();
        let mut v: Vec<DealRow> = idx
            .of_kind(EntityKind::Deal.as_str())
            .filter_map(|(id, d)| {
                let deal = Deal::from_doc(d)?;
                let who = names.get(&deal.customer).cloned().unwrap_or_default();
                Some((*id, deal, who))
            })
            .collect();
        v.sort_unstable_by_key(|d| std::cmp::Reverse(d.1.amount));
        v
    });
    // The deal being moved to lost, waiting for its reason.
    let losing = RwSignal::new(None::<(RecordId, Deal)>);
    let message = RwSignal::new(None::<String>);
    let dragging = Dragging::new("data-stage");

    let move_to = move |id: RecordId, deal: Deal, stage: String| {
        if stage == deal.stage {
            return;
        }
        if stage == LOST {
            losing.set(Some((id, deal)));
            return;
        }
        let fields = match move_deal(&board.get_untracked(), &deal, &stage, "", crate::now_ms()) {
            Ok(f) => f,
            Err(_) => return,
        };
        let ws = use_ws();
        let to = stage_name(&board.get_untracked(), &stage);
        spawn_local(async move {
            match ws.edit(id, fields).await {
                Ok(()) => crate::toast(&tf("pipeline.moved", &[("deal", &deal.title), ("stage", &to)])),
                Err(e) => message.set(Some(e)),
            }
        });
    };

    let end_drag = move |ev: web_sys::PointerEvent, rows: Vec<DealRow>| {
        if let Some((dragged, stage)) = dragging.drop(&ev) {
            if let Some((id, deal, _)) = rows.into_iter().find(|r| r.0 == dragged) {
                move_to(id, deal, stage);
            }
        }
    };

    view! {
        <section class="page page--board">
            <h1>{t("nav.pipeline")}</h1>
            <PipelinePicker pipelines=pipelines current=current />
            <NewDeal board=board message=message />
            {move || losing.get().map(|(id, deal)| view! { <LostReason id=id deal=deal board=board losing=losing /> })}
            <p class="hint">{t("pipeline.drag_hint")}</p>
            <div class="board"
                on:pointermove=move |ev| dragging.moving(&ev)
                on:pointerup=move |ev| end_drag(ev, deals.get_untracked())
                on:pointercancel=move |_| dragging.cancel()
            >
                {move || {
                    let b = board.get();
                    let keys: Vec<String> = b.all_stages().map(str::to_owned).collect();
                    keys.iter().enumerate().map(|(i, key)| {
                        let key = key.clone();
                        let name = stage_name(&b, &key);
                        let next = keys.get(i + 1).filter(|k| k.as_str() != LOST).cloned();
                        let (k1, k2, k3) = (key.clone(), key.clone(), key.clone());
                        let pid = b.id.clone();
                        let in_stage = move || deals.get().into_iter()
                            .filter(|(_, d, _)| d.stage == k1 && d.pipeline == pid)
                            .collect::<Vec<_>>();
                        let in_stage2 = in_stage.clone();
                        let total = move || {
                            let mut by_cur: std::collections::BTreeMap<String, i64> = Default::default();
                            for (_, d, _) in in_stage2() {
                                *by_cur.entry(d.currency.clone()).or_default() += d.amount;
                            }
                            if by_cur.is_empty() { "0".to_owned() } else {
                                by_cur.into_iter().map(|(c, v)| i18n::amount(v, &c)).collect::<Vec<_>>().join(" + ")
                            }
                        };
                        let b2 = b.clone();
                        view! {
                            <section class="column card" data-stage=key.clone()
                                class:drop-target=move || dragging.is_over(&k2)
                                class:column--won=k3 == WON class:column--lost=key == LOST
                                aria-label=tf("pipeline.stage_region", &[("stage", &name)])>
                                <h3>{name.clone()}</h3>
                                <p class="total">{t("pipeline.total")} " " {total}</p>
                                <ul class="deals">
                                    {move || in_stage().into_iter().map(|row| {
                                        let next = next.clone().map(|n| (n.clone(), stage_name(&b2, &n)));
                                        deal_card(row, b2.clone(), next, dragging, move_to)
                                    }).collect::<Vec<AnyView>>()}
                                </ul>
                            </section>
                        }.into_any()
                    }).collect::<Vec<AnyView>>()
                }}
            </div>
            <span role="status" class="message">{move || message.get()}</span>
            {admin.then(|| view! { <PipelineEditor pipelines=pipelines /> })}
        </section>
    }
}

/// One deal's card: title, customer, amount, when it closed and why it was lost; the
/// "Stage" select and "Move to <next>" are the keyboard's and the phone's ways to move.
fn deal_card(
    (id, deal, who): DealRow,
    board: Board,
    next: Option<(String, String)>,
    dragging: Dragging,
    move_to: impl Fn(RecordId, Deal, String) + Copy + 'static,
) -> AnyView {
    let select_id = format!("deal-stage-{id}");
    let closed = deal.closed_at_ms.map(|at| {
        let key = if deal.stage == WON { "pipeline.won_on" } else { "pipeline.lost_on" };
        tf(key, &[("date", &format_date(at))])
    });
    let reason = (deal.stage == LOST && !deal.lost_reason.is_empty()).then(|| deal.lost_reason.clone());
    let options: Vec<(String, String)> = board.all_stages().map(|k| (k.to_owned(), stage_name(&board, k))).collect();
    let (d1, d2, d3) = (deal.clone(), deal.clone(), deal.clone());
    view! {
        <li class="deal" class:dragging=move || dragging.is_dragging(id) on:pointerdown=move |ev| dragging.start(id, &ev)>
            <span class="deal__grip" aria-hidden="true">"⠿"</span>
            <strong>{deal.title.clone()}</strong>
            <span class="list__meta">{who}</span>
            <span>{i18n::amount(deal.amount, &deal.currency)}</span>
            {closed.map(|c| view! { <span class="list__meta">{c}</span> })}
            {reason.map(|r| view! { <span class="list__meta">{tf("pipeline.lost_because", &[("reason", &r)])}</span> })}
            <div class="field field--compact">
                <label for=select_id.clone()>{tf("pipeline.stage_of", &[("deal", &deal.title)])}</label>
                <select id=select_id on:change=move |ev| move_to(id, d1.clone(), event_target_value(&ev))>
                    {options.into_iter().map(|(k, name)| {
                        let selected = k == d2.stage;
                        view! { <option value=k selected=selected>{name}</option> }.into_any()
                    }).collect::<Vec<AnyView>>()}
                </select>
            </div>
            {next.map(|(key, name)| view! {
                <div class="actions">
                    <button type="button" on:click=move |_| move_to(id, d3.clone(), key.clone())>
                        {tf("pipeline.move_to", &[("stage", &name)])}
                    </button>
                </div>
            })}
        </li>
    }
    .into_any()
}

/// Why the deal was lost: required before it moves.
#[component]
fn LostReason(
    id: RecordId,
    deal: Deal,
    board: Memo<Board>,
    losing: RwSignal<Option<(RecordId, Deal)>>,
) -> impl IntoView {
    let reason = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<&'static str>);
    let title = deal.title.clone();
    let confirm = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match move_deal(&board.get_untracked(), &deal, LOST, &reason.get_untracked(), crate::now_ms()) {
            Err(MoveError::NeedsReason) => problem.set(Some(t("pipeline.reason_required"))),
            Err(MoveError::UnknownStage) => losing.set(None),
            Ok(fields) => {
                let ws = use_ws();
                let title = deal.title.clone();
                spawn_local(async move {
                    match ws.edit(id, fields).await {
                        Ok(()) => {
                            losing.set(None);
                            crate::toast(&tf("pipeline.moved", &[("deal", &title), ("stage", &t("stage.lost"))]));
                        }
                        Err(e) => problem.set(Some(Box::leak(e.into_boxed_str()))),
                    }
                });
            }
        }
    };
    view! {
        <div class="dialog-backdrop">
            <form role="dialog" aria-modal="true" aria-labelledby="lost-title" class="dialog card form" on:submit=confirm>
                <h3 id="lost-title">{tf("pipeline.lost_title", &[("deal", &title)])}</h3>
                <div class="field">
                    <label for="lost-reason">{t("pipeline.lost_reason")}</label>
                    <textarea id="lost-reason" maxlength="500" required
                        aria-invalid=move || problem.get().is_some().then_some("true")
                        prop:value=reason
                        on:input=move |ev| { reason.set(event_target_value(&ev)); problem.set(None); }></textarea>
                    {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
                </div>
                <div class="actions">
                    <button type="submit" class="danger">{t("pipeline.mark_lost")}</button>
                    <button type="button" on:click=move |_| losing.set(None)>{t("common.cancel")}</button>
                </div>
            </form>
        </div>
    }
}

/// Which pipeline the board shows (only when there is more than one).
#[component]
fn PipelinePicker(pipelines: RwSignal<Vec<Board>>, current: RwSignal<String>) -> impl IntoView {
    move || {
        let list = pipelines.get();
        (list.len() > 1).then(|| {
            view! {
                <div class="field field--inline">
                    <label for="pipeline-picker">{t("pipeline.pipeline")}</label>
                    <select id="pipeline-picker" on:change=move |ev| current.set(event_target_value(&ev))>
                        {list.iter().map(|p| {
                            let selected = p.id == current.get_untracked();
                            view! { <option value=p.id.clone() selected=selected>{board_name(p)}</option> }.into_any()
                        }).collect::<Vec<AnyView>>()}
                    </select>
                </div>
            }
        })
    }
}

/// A new deal, in the board's pipeline at its first stage.
#[component]
fn NewDeal(board: Memo<Board>, message: RwSignal<Option<String>>) -> impl IntoView {
    let index = use_ws().index;
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
        let b = board.get_untracked();
        let deal = Deal {
            customer: customer.get_untracked(),
            title: title.get_untracked().trim().chars().take(200).collect(),
            pipeline: b.id.clone(),
            stage: b.stages[0].key.clone(),
            amount: minor,
            currency: currency.get_untracked(),
            lost_reason: String::new(),
            closed_at_ms: None,
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
        <form class="card form inline" on:submit=add aria-label=t("pipeline.new_deal")>
            <div class="field grow">
                <label for="d-title">{t("pipeline.deal")}</label>
                <input id="d-title" maxlength="200" prop:value=title on:input=move |ev| title.set(event_target_value(&ev)) />
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
                <input id="d-currency" size="4" maxlength="3" prop:value=currency on:input=move |ev| currency.set(event_target_value(&ev)) />
            </div>
            <button type="submit">{t("pipeline.add_deal")}</button>
        </form>
    }
}

/// Admins: the pipelines and their open stages (won and lost are every pipeline's). A
/// stage keeps its key when renamed in place, so its deals stay in it; a stage or a
/// pipeline that still holds deals cannot be removed.
#[component]
fn PipelineEditor(pipelines: RwSignal<Vec<Board>>) -> impl IntoView {
    let message = RwSignal::new(None::<String>);
    let new_name = RwSignal::new(String::new());
    let save = move |list: Vec<Board>| {
        let ws = use_ws();
        spawn_local(async move {
            let fields = vec![(pipeline::PIPELINES.to_owned(), Some(pipeline::to_value(&list)))];
            match ws.edit_settings(fields).await {
                Ok(()) => {
                    pipelines.set(list);
                    crate::toast(t("pipeline.saved"));
                }
                Err(e) => message.set(Some(e)),
            }
        });
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name: String = new_name.get_untracked().trim().chars().take(pipeline::MAX_NAME).collect();
        if name.is_empty() {
            return;
        }
        let mut list = pipelines.get_untracked();
        if list.len() >= pipeline::MAX_PIPELINES {
            message.set(Some(t("pipeline.too_many").into()));
            return;
        }
        let stages = [t("pipeline.first_stage"), t("pipeline.second_stage")]
            .into_iter()
            .map(|n| StageDef { key: pipeline::new_key(), name: n.to_owned() })
            .collect();
        list.push(Board { id: pipeline::new_key(), name, stages });
        new_name.set(String::new());
        save(list);
    };
    view! {
        <details class="card">
            <summary>{t("pipeline.edit")}</summary>
            {move || pipelines.get().into_iter().map(|p| view! { <StagesEditor board=p pipelines=pipelines save=save message=message /> }.into_any()).collect::<Vec<AnyView>>()}
            <form class="form inline" on:submit=add aria-label=t("pipeline.add_pipeline")>
                <div class="field grow">
                    <label for="new-pipeline">{t("pipeline.new_pipeline_name")}</label>
                    <input id="new-pipeline" maxlength="60" prop:value=new_name on:input=move |ev| new_name.set(event_target_value(&ev)) />
                </div>
                <button type="submit">{t("pipeline.add_pipeline")}</button>
            </form>
            <p role="status" class="message">{move || message.get()}</p>
        </details>
    }
}

/// One pipeline's name and open stages, one per line.
#[component]
fn StagesEditor(
    board: Board,
    pipelines: RwSignal<Vec<Board>>,
    save: impl Fn(Vec<Board>) + Copy + 'static,
    message: RwSignal<Option<String>>,
) -> impl IntoView {
    let index = use_ws().index;
    let lines: Vec<String> = board.stages.iter().map(|s| stage_name(&board, &s.key)).collect();
    let text = RwSignal::new(lines.join("\n"));
    let name = RwSignal::new(board_name(&board));
    let id = board.id.clone();
    let (names_id, stages_id) = (format!("pl-name-{id}"), format!("pl-stages-{id}"));
    let old = board.clone();
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let wanted: Vec<String> = text
            .get_untracked()
            .lines()
            .map(|l| l.trim().chars().take(pipeline::MAX_NAME).collect::<String>())
            .filter(|l| !l.is_empty())
            .take(pipeline::MAX_STAGES)
            .collect();
        if wanted.is_empty() {
            message.set(Some(t("pipeline.needs_stage").into()));
            return;
        }
        // Renamed in place keeps the key; a name matching an old stage keeps its key.
        let mut stages: Vec<StageDef> = Vec::new();
        for (i, n) in wanted.iter().enumerate() {
            let by_name = old.stages.iter().find(|s| &stage_name(&old, &s.key) == n);
            let key =
                by_name.or(old.stages.get(i)).map(|s| s.key.clone()).filter(|k| !stages.iter().any(|s| &s.key == k));
            stages.push(StageDef { key: key.unwrap_or_else(pipeline::new_key), name: n.clone() });
        }
        let dropped: Vec<&StageDef> = old.stages.iter().filter(|s| !stages.iter().any(|n| n.key == s.key)).collect();
        let busy = index.with_untracked(|idx| {
            idx.of_kind(EntityKind::Deal.as_str())
                .filter_map(|(_, d)| Deal::from_doc(d))
                .any(|d| d.pipeline == old.id && dropped.iter().any(|s| s.key == d.stage))
        });
        if busy {
            message.set(Some(t("pipeline.stage_has_deals").into()));
            return;
        }
        let mut list = pipelines.get_untracked();
        if let Some(p) = list.iter_mut().find(|p| p.id == old.id) {
            p.stages = stages;
            let n: String = name.get_untracked().trim().chars().take(pipeline::MAX_NAME).collect();
            p.name = if n == t("pipeline.default_name") && p.id == pipeline::DEFAULT { String::new() } else { n };
        }
        save(list);
    };
    view! {
        <form class="form" on:submit=apply aria-label=tf("pipeline.edit_one", &[("pipeline", &board_name(&board))])>
            <div class="field">
                <label for=names_id.clone()>{t("pipeline.pipeline_name")}</label>
                <input id=names_id maxlength="60" prop:value=name on:input=move |ev| name.set(event_target_value(&ev)) />
            </div>
            <div class="field">
                <label for=stages_id.clone()>{t("pipeline.stages_one_per_line")}</label>
                <textarea id=stages_id rows="5" prop:value=text on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                <p class="hint">{t("pipeline.won_lost_always")}</p>
            </div>
            <button type="submit">{t("pipeline.save_stages")}</button>
        </form>
    }
}
