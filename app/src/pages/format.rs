//! How the pages write dates and field values (the user's language and time zone).

use shared::domain::field;
use shared::record::Value;

use crate::i18n::t;

/// A moment as `YYYY-MM-DD HH:MM` in the device's time zone.
pub fn format_date(ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes()
    )
}

/// `YYYY-MM-DD` from a date input → local midnight in Unix ms.
pub fn parse_date(s: &str) -> Option<i64> {
    let ms = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(&format!("{s}T09:00:00"))).get_time();
    (!ms.is_nan()).then_some(ms as i64)
}

/// A field's value as the history and the replaced-edit notes show it.
pub fn shown_value(f: &str, v: &Option<Value>) -> String {
    match v {
        None => "—".into(),
        Some(Value::Text(s)) if s.is_empty() => "—".into(),
        Some(Value::Text(s)) if f == field::STAGE => crate::i18n::stage_text(s),
        Some(Value::Text(s)) if f == field::STATUS => {
            shared::domain::Status::parse(s).map_or_else(|| s.clone(), |st| crate::i18n::status_label(st).to_owned())
        }
        Some(Value::Int(n)) if f == field::CLOSED_AT => format_date(*n),
        Some(Value::Text(s)) => s.clone(),
        Some(Value::Int(n)) if f == field::AMOUNT => crate::i18n::money(*n),
        Some(Value::Int(n)) if f == field::DUE || f == field::CONSENT_AT || f == field::AT => format_date(*n),
        Some(Value::Int(n)) => crate::i18n::number(*n),
        Some(Value::Bool(b)) => if *b { t("history.yes") } else { t("history.no") }.into(),
        Some(Value::List(l)) => l.join(", "),
    }
}
