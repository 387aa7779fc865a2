//! 中文 and English: every visible string comes from one table per language,
//! `app/i18n/en.json` and `app/i18n/zh-CN.json` (a key → text map; `{name}` marks a
//! value filled in at run time). `cargo test -p xtask --test i18n` fails when a key the
//! code uses is missing in either language, when the two tables differ in keys, or when
//! a translation drops or adds a placeholder.
//!
//! The language follows the browser's (`zh*` → 中文, anything else → English) until the
//! user picks one, which this device remembers. Views read texts with [`t`]; a change of
//! language redraws the whole app ([`lang`] is read at its root), so no view has to be
//! reactive to it, and what the app holds (an unlocked workspace) stays.
//!
//! The built app fetches the log-in screen's texts of the language it starts in
//! (`/i18n/<tag>.start.json`, asked for by the start script while the wasm downloads),
//! the rest of that language before it goes past the log-in screen, and another
//! language only when the user picks it: the first visit carries a few hundred texts
//! of one language, not every text of both. The build writes the start files
//! (`xtask/src/dist.rs`, by namespace). The wasm tests (no `split` feature, no server
//! of ours) have both tables built in.

use std::collections::HashMap;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// The BCP 47 tag (`<html lang>`, number and date formats).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The language's own name, for the picker.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "中文",
        }
    }

    fn from_tag(tag: &str) -> Lang {
        if tag.to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

const STORAGE_KEY: &str = "quietdesk-lang";

/// Keys borrowed from the table's text (kept for the page's life); texts owned (a text
/// with an escape, `\n`, cannot be borrowed as it is written).
type Table = HashMap<&'static str, String>;

fn parse(json: &'static str) -> Option<Table> {
    serde_json::from_str(json).ok()
}

#[cfg(not(feature = "split"))]
fn table(lang: Lang) -> &'static Table {
    use std::sync::OnceLock;
    static EN: OnceLock<Table> = OnceLock::new();
    static ZH: OnceLock<Table> = OnceLock::new();
    let (slot, json) = match lang {
        Lang::En => (&EN, include_str!("../i18n/en.json")),
        Lang::Zh => (&ZH, include_str!("../i18n/zh-CN.json")),
    };
    slot.get_or_init(|| parse(json).expect("the translation tables are valid JSON (checked by the i18n test)"))
}

/// How much of a language's table this page holds.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Held {
    None,
    /// The log-in screen's texts (`<tag>.start.json`, written by the build).
    Start,
    All,
}

thread_local! {
    /// Each language's table as far as it is loaded (kept for the page's life).
    static TABLES: std::cell::RefCell<[(Held, &'static Table); 2]> =
        std::cell::RefCell::new([(Held::None, Box::leak(Box::default())), (Held::None, Box::leak(Box::default()))]);
}

fn index(lang: Lang) -> usize {
    match lang {
        Lang::En => 0,
        Lang::Zh => 1,
    }
}

/// The table of `lang` as far as it is [`load`]ed (texts not yet loaded show their keys).
#[cfg(feature = "split")]
fn table(lang: Lang) -> &'static Table {
    TABLES.with_borrow(|t| t[index(lang)].1)
}

fn held(lang: Lang) -> Held {
    TABLES.with_borrow(|t| t[index(lang)].0)
}

/// Fetch `file` (`/i18n/<file>`): the start script's request when it asked for it
/// (`window.quietdeskTexts`), else a new one.
async fn fetch_table(file: &str) -> Option<Table> {
    let early = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &"quietdeskTexts".into()).ok())
        .filter(|t| js_sys::Reflect::get(t, &"file".into()).ok().and_then(|v| v.as_string()).as_deref() == Some(file))
        .and_then(|t| js_sys::Reflect::get(&t, &"text".into()).ok())
        .and_then(|p| p.dyn_into::<js_sys::Promise>().ok());
    let text = match early {
        Some(p) => wasm_bindgen_futures::JsFuture::from(p).await.ok().and_then(|v| v.as_string()),
        None => None,
    };
    let text = match text {
        Some(t) => Some(t),
        None => match gloo_net::http::Request::get(&format!("/i18n/{file}")).send().await {
            Ok(r) if r.ok() => r.text().await.ok(),
            _ => None,
        },
    };
    text.and_then(|t| parse(Box::leak(t.into_boxed_str())))
}

async fn load_part(lang: Lang, part: Held) {
    if !cfg!(feature = "split") || held(lang) >= part {
        return;
    }
    let file = match part {
        Held::Start => format!("{}.start.json", lang.tag()),
        _ => format!("{}.json", lang.tag()),
    };
    if let Some(table) = fetch_table(&file).await {
        let table: &'static Table = Box::leak(Box::new(table));
        TABLES.with_borrow_mut(|t| {
            if t[index(lang)].0 < part {
                t[index(lang)] = (part, table);
            }
        });
    }
}

/// The log-in screen's texts of `lang`, if this page does not hold them yet: what the
/// first visit fetches (the start script asks for them while the wasm downloads).
pub async fn load(lang: Lang) {
    load_part(lang, Held::Start).await;
}

/// Every text of `lang`: fetched before the app goes past the log-in screen, and when
/// the user picks another language. The view redraws with them.
pub async fn load_all(lang: Lang) {
    let before = held(lang);
    load_part(lang, Held::All).await;
    if held(lang) != before && lang == current() {
        LANG.with(|l| l.set(lang));
    }
}

/// The language this page starts in (before any view reads it).
pub fn starting() -> Lang {
    current()
}

thread_local! {
    // Reference-counted, not owned by whichever view first reads it: a view's signals
    // are disposed with the view, and this one outlives every view.
    static LANG: ArcRwSignal<Lang> = ArcRwSignal::new(initial());
}

fn initial() -> Lang {
    let window = web_sys::window();
    let stored = window
        .as_ref()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
    let browser = window.and_then(|w| w.navigator().language());
    let lang = Lang::from_tag(stored.or(browser).as_deref().unwrap_or("en"));
    set_document_lang(lang);
    lang
}

fn set_document_lang(lang: Lang) {
    if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
        let _ = root.set_attribute("lang", lang.tag());
    }
}

/// The current language, tracked: the app's root reads it, so a change redraws everything.
pub fn lang() -> Lang {
    LANG.with(|l| l.get())
}

/// Switch language (once its table is here), and remember it on this device.
pub async fn switch_to(lang: Lang) {
    load_all(lang).await;
    set_lang(lang);
}

/// Switch language, and remember it on this device.
pub fn set_lang(lang: Lang) {
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = s.set_item(STORAGE_KEY, lang.tag());
    }
    set_document_lang(lang);
    LANG.with(|l| l.set(lang));
}

fn current() -> Lang {
    LANG.with(|l| l.get_untracked())
}

/// The text of `key` in the current language (the key itself if it is missing, which
/// the i18n test does not let happen).
pub fn t(key: &'static str) -> &'static str {
    table(current()).get(key).or_else(|| table(Lang::En).get(key)).map_or(key, String::as_str)
}

/// [`t`] with `{name}` placeholders filled in.
pub fn tf(key: &'static str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut out = t(key).to_owned();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    out
}

/// A count with its noun: `key.one` for exactly one where the language has a singular
/// (English), `key.other` otherwise; `{n}` is the count, with digit grouping.
pub fn tn(key_one: &'static str, key_other: &'static str, n: usize) -> String {
    let key = if n == 1 && current() == Lang::En { key_one } else { key_other };
    tf(key, &[("n", &number(n as i64))])
}

/// An integer with digit grouping: 1,234,567 (the same in both languages).
pub fn number(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Money in minor units (fen): ¥1,234.50.
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}¥{}.{:02}", number((abs / 100) as i64), abs % 100)
}

/// An amount in a currency: `¥12,000.50` for yuan, `12,000.50 USD` for others.
pub fn amount(minor: i64, currency: &str) -> String {
    let yuan = money(minor);
    match currency {
        "CNY" | "RMB" | "" => yuan,
        other => format!("{} {other}", yuan.replacen('¥', "", 1)),
    }
}

/// A moment (Unix ms) in this device's time zone: the date as [`date`] writes it, then
/// the time, `14:05`.
pub fn date_time(ms: f64) -> String {
    let d = js_sys::Date::new(&ms.into());
    let day = date(d.get_full_year(), d.get_month() + 1, d.get_date());
    format!("{day} {:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// A calendar date: `2026年11月26日` or `Nov 26, 2026`.
pub fn date(year: u32, month: u32, day: u32) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    match current() {
        Lang::Zh => format!("{year}年{month}月{day}日"),
        Lang::En => format!("{} {day}, {year}", MONTHS[(month.clamp(1, 12) - 1) as usize]),
    }
}

/// The language picker: a labelled select, on the log-in screen and in the app's menu
/// (`id` tells apart two on one page: the desk's sidebar and the phone's "More").
#[component]
pub fn LanguagePicker(#[prop(default = "language")] id: &'static str) -> impl IntoView {
    let change = move |ev: leptos::ev::Event| {
        let tag = event_target_value(&ev);
        leptos::task::spawn_local(switch_to(Lang::from_tag(&tag)));
    };
    view! {
        <div class="language">
            <label for=id>{t("common.language")}</label>
            <select id=id on:change=change>
                {Lang::ALL.into_iter().map(|l| view! {
                    <option value=l.tag() selected=current() == l>{l.name()}</option>
                }).collect_view()}
            </select>
        </div>
    }
}

/// A default pipeline stage, as shown.
pub fn stage_label(s: shared::domain::Stage) -> &'static str {
    use shared::domain::Stage;
    match s {
        Stage::Lead => t("stage.lead"),
        Stage::Qualified => t("stage.qualified"),
        Stage::Proposal => t("stage.proposal"),
        Stage::Negotiation => t("stage.negotiation"),
        Stage::Won => t("stage.won"),
        Stage::Lost => t("stage.lost"),
    }
}

/// Why an import row was rejected, in the user's language.
pub fn row_problem(p: &shared::csv::RowProblem) -> String {
    use shared::csv::RowProblem;
    match p {
        RowProblem::NoName => t("import.no_name").into(),
        RowProblem::Phone(v) => tf("import.bad_phone", &[("value", v)]),
        RowProblem::Email(v) => tf("import.bad_email", &[("value", v)]),
        RowProblem::Status(v) => tf("import.bad_status", &[("value", v)]),
        RowProblem::Custom(label, v) => tf("import.bad_custom", &[("field", label), ("value", v)]),
    }
}

/// What an approval asks for, as a phrase in the user's language ("export everything").
/// (`Approval::describe` is the English the audit log records.)
pub fn approval_what(a: &shared::api::Approval) -> String {
    use shared::api::ApprovalKind;
    match a.kind {
        ApprovalKind::ExportAll => t("approvals.what_export_all").into(),
        ApprovalKind::BulkDelete => tf("approvals.what_bulk_delete", &[("n", &a.count)]),
        ApprovalKind::GrantAdmin => {
            tf("approvals.what_grant_admin", &[("who", &a.subject.as_ref().map_or("?", |s| s.as_str()))])
        }
    }
}

/// An approval's state as the server names it (`pending`, `approved`, …), shown.
pub fn approval_state(state: &str) -> String {
    match state {
        "pending" => t("approvals.state_pending").into(),
        "approved" => t("approvals.state_approved").into(),
        "refused" => t("approvals.state_refused").into(),
        "used" => t("approvals.state_used").into(),
        "expired" => t("approvals.state_expired").into(),
        other => other.to_owned(),
    }
}

/// A customer's status, as shown.
pub fn status_label(s: shared::domain::Status) -> &'static str {
    use shared::domain::Status;
    match s {
        Status::Lead => t("status.lead"),
        Status::Prospect => t("status.prospect"),
        Status::Customer => t("status.customer"),
        Status::Inactive => t("status.inactive"),
    }
}

/// A stage stored as text (`"lead"`), as shown; unknown text as it is.
pub fn stage_text(s: &str) -> String {
    shared::domain::Stage::parse(s).map_or_else(|| s.to_owned(), |st| stage_label(st).to_owned())
}

/// An interaction's channel, as shown.
pub fn channel_label(c: shared::domain::Channel) -> &'static str {
    use shared::domain::Channel;
    match c {
        Channel::Call => t("channel.call"),
        Channel::Email => t("channel.email"),
        Channel::WeChat => t("channel.wechat"),
        Channel::Meeting => t("channel.meeting"),
        Channel::Visit => t("channel.visit"),
        Channel::Note => t("channel.note"),
    }
}

/// A team role, as shown.
pub fn role_label(r: shared::chain::Role) -> &'static str {
    use shared::chain::Role;
    match r {
        Role::Admin => t("role.admin"),
        Role::Manager => t("role.manager"),
        Role::Member => t("role.member"),
        Role::Support => t("role.support"),
    }
}

/// A field's label: a built-in customer field's from its row in
/// `shared::fields::CUSTOMER_FIELDS` (the import mapping names fields by these), other
/// records' fields (a history entry names them too) from here.
pub fn field_label(f: &str) -> &'static str {
    use shared::domain::field;
    if let Some(spec) = shared::fields::spec(f) {
        return t(spec.label);
    }
    match f {
        field::STAGE => t("customer.stage"),
        field::PIPELINE => t("pipeline.pipeline"),
        field::LOST_REASON => t("pipeline.lost_reason"),
        field::CLOSED_AT => t("pipeline.closed_at"),
        field::TITLE => t("history.title"),
        field::AMOUNT => t("pipeline.amount"),
        field::CURRENCY => t("pipeline.currency"),
        field::DUE => t("tasks.due_date"),
        field::DONE => t("history.done"),
        field::SUMMARY => t("customer.summary"),
        field::ASSIGNEE => t("history.assignee"),
        shared::record::DELETED => t("history.deleted"),
        _ => t("import.other_field"),
    }
}

/// A role stored as text (`"member"`), as shown; unknown text as it is.
pub fn role_text(s: &str) -> String {
    use shared::chain::Role;
    [Role::Admin, Role::Manager, Role::Member, Role::Support]
        .into_iter()
        .find(|r| r.as_str() == s)
        .map_or_else(|| s.to_owned(), |r| role_label(r).to_owned())
}
