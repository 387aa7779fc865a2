//! Custom fields: what an admin adds to every customer of the team (an industry, a
//! contract value, a renewal date, a region…), typed and validated, each either
//! ordinary or sensitive. A sensitive one is stored under a name [`crate::domain::
//! is_sensitive`] recognises, so it is sealed under the collection's sensitive key
//! like a phone: support sees it masked or not at all. The flag is part of the field's
//! name and cannot change once values exist; a different flag is a new field.
//!
//! The definitions live in the team's settings record and count only when an admin of
//! the verified chain signed them ([`definitions`]), like the pipelines.

use crate::chain::TeamState;
use crate::ids::Username;
use crate::record::{RecordDoc, Value};

/// The settings record's field holding the definitions.
pub const CUSTOM_FIELDS: &str = "custom_fields";
/// Where an ordinary custom field's value lives on a customer: `custom.<key>`.
pub const PREFIX: &str = crate::domain::field::CUSTOM_PREFIX;
/// Where a sensitive one's does: `custom_s.<key>` (sealed under the sensitive key).
pub const SENSITIVE_PREFIX: &str = crate::domain::field::CUSTOM_SENSITIVE_PREFIX;
pub const MAX_FIELDS: usize = 50;
pub const MAX_LABEL: usize = 60;
pub const MAX_OPTIONS: usize = 50;
pub const MAX_TEXT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Money,
    Date,
    Choice,
    Multi,
    Phone,
    Email,
}

impl Kind {
    pub const ALL: [Kind; 8] =
        [Kind::Text, Kind::Number, Kind::Money, Kind::Date, Kind::Choice, Kind::Multi, Kind::Phone, Kind::Email];
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "number",
            Kind::Money => "money",
            Kind::Date => "date",
            Kind::Choice => "choice",
            Kind::Multi => "multi",
            Kind::Phone => "phone",
            Kind::Email => "email",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    pub fn has_options(self) -> bool {
        matches!(self, Kind::Choice | Kind::Multi)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    /// Short and stable: what the stored field name is made of.
    pub key: String,
    pub label: String,
    pub kind: Kind,
    pub sensitive: bool,
    /// The choices of a single or multiple choice field.
    pub options: Vec<String>,
}

impl FieldDef {
    /// The customer field holding this one's value.
    pub fn field_name(&self) -> String {
        format!("{}{}", if self.sensitive { SENSITIVE_PREFIX } else { PREFIX }, self.key)
    }

    /// Stored as one line: `key␟label␟kind␟0|1␟option␞option…` (U+001F, U+001E).
    pub fn line(&self) -> String {
        [
            self.key.as_str(),
            self.label.as_str(),
            self.kind.as_str(),
            if self.sensitive { "1" } else { "0" },
            &self.options.join("\u{1e}"),
        ]
        .join("\u{1f}")
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut p = line.split('\u{1f}');
        let key = p
            .next()
            .filter(|k| (1..=40).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))?;
        let label: String = p.next()?.chars().take(MAX_LABEL).collect();
        let kind = Kind::parse(p.next()?)?;
        let sensitive = match p.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let options: Vec<String> = match p.next()? {
            "" => Vec::new(),
            o => o.split('\u{1e}').take(MAX_OPTIONS).map(|s| s.chars().take(MAX_LABEL).collect()).collect(),
        };
        if label.trim().is_empty() || p.next().is_some() || (kind.has_options() && options.is_empty()) {
            return None;
        }
        Some(FieldDef { key: key.to_owned(), label, kind, sensitive, options })
    }

    /// What the user typed (`input`; a multiple choice's picks joined by `;`), as the
    /// value to store (`None`: cleared), or why it is not valid.
    pub fn value_of(&self, input: &str) -> Result<Option<Value>, Problem> {
        let s = input.trim();
        if s.is_empty() {
            return Ok(None);
        }
        Ok(Some(match self.kind {
            Kind::Text => Value::Text(s.chars().take(MAX_TEXT).collect()),
            Kind::Number => {
                let n: f64 = s.replace([',', ' '], "").parse().map_err(|_| Problem::NotANumber)?;
                if !n.is_finite() || n.abs() >= 1e15 {
                    return Err(Problem::NotANumber);
                }
                Value::Text(trim_number(n))
            }
            Kind::Money => {
                let n: f64 = s
                    .trim_start_matches(['¥', '￥', '$'])
                    .replace([',', ' '], "")
                    .parse()
                    .map_err(|_| Problem::NotAmount)?;
                if !n.is_finite() || n.abs() >= 1e13 {
                    return Err(Problem::NotAmount);
                }
                Value::Int((n * 100.0).round() as i64)
            }
            Kind::Date => {
                let ok = s.len() == 10
                    && s.as_bytes()[4] == b'-'
                    && s.as_bytes()[7] == b'-'
                    && s.split('-').all(|p| p.bytes().all(|b| b.is_ascii_digit()));
                let (m, d): (u32, u32) = (s[5..7].parse().unwrap_or(0), s[8..].parse().unwrap_or(0));
                if !ok || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
                    return Err(Problem::NotADate);
                }
                Value::Text(s.to_owned())
            }
            Kind::Choice => {
                let o = self.options.iter().find(|o| o.as_str() == s).ok_or(Problem::NotAChoice)?;
                Value::Text(o.clone())
            }
            Kind::Multi => {
                let mut picked = Vec::new();
                for part in s.split([';', ',', '|']).map(str::trim).filter(|p| !p.is_empty()) {
                    let o = self.options.iter().find(|o| o.as_str() == part).ok_or(Problem::NotAChoice)?;
                    if !picked.contains(o) {
                        picked.push(o.clone());
                    }
                }
                Value::List(picked)
            }
            Kind::Phone => {
                if !crate::domain::valid_phone(s) {
                    return Err(Problem::NotAPhone);
                }
                Value::Text(s.to_owned())
            }
            Kind::Email => {
                if !crate::domain::valid_email(s) {
                    return Err(Problem::NotAnEmail);
                }
                Value::Text(s.to_owned())
            }
        }))
    }

    /// The stored value as a form shows it (the inverse of [`Self::value_of`]).
    pub fn input_of(&self, v: Option<&Value>) -> String {
        match v {
            None => String::new(),
            Some(Value::Int(minor)) if self.kind == Kind::Money => {
                let sign = if *minor < 0 { "-" } else { "" };
                format!("{sign}{}.{:02}", minor.unsigned_abs() / 100, minor.unsigned_abs() % 100)
            }
            Some(Value::List(l)) => l.join("; "),
            Some(Value::Text(t)) => t.clone(),
            Some(Value::Int(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
        }
    }
}

fn trim_number(n: f64) -> String {
    let s = format!("{n:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Why a custom field's input is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    NotANumber,
    NotAmount,
    NotADate,
    NotAChoice,
    NotAPhone,
    NotAnEmail,
}

/// The settings field's value for these definitions.
pub fn to_value(defs: &[FieldDef]) -> Value {
    Value::List(defs.iter().map(FieldDef::line).collect())
}

/// The team's custom fields: those in `settings` if an admin of the verified chain
/// signed its current version and wrote the field; otherwise none.
pub fn definitions(settings: Option<&RecordDoc>, signer: Option<&Username>, state: &TeamState) -> Vec<FieldDef> {
    let Some(f) = settings.and_then(|d| d.fields.get(CUSTOM_FIELDS)) else { return Vec::new() };
    if !(signer.is_some_and(|s| state.is_admin(s)) && state.is_admin(&f.stamp.author)) {
        return Vec::new();
    }
    let mut out: Vec<FieldDef> = Vec::new();
    for line in f.value.as_ref().and_then(Value::as_list).unwrap_or_default().iter().take(MAX_FIELDS) {
        if let Some(def) = FieldDef::parse(line) {
            if !out.iter().any(|d| d.key == def.key) {
                out.push(def);
            }
        }
    }
    out
}

/// A key for a new field, from its label where it is plain ASCII, else random.
pub fn new_key(label: &str, taken: &[FieldDef]) -> String {
    let slug: String =
        label.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(24).collect();
    let slug = slug.trim_matches('_').to_owned();
    let base = if slug.is_empty() || !slug.bytes().any(|b| b.is_ascii_alphabetic()) {
        crate::ids::RecordId::random().to_string()[..10].to_owned()
    } else {
        slug
    };
    let mut key = base.clone();
    let mut n = 2;
    while taken.iter().any(|d| d.key == key) {
        key = format!("{base}_{n}");
        n += 1;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: Kind, options: &[&str]) -> FieldDef {
        FieldDef {
            key: "k".into(),
            label: "L".into(),
            kind,
            sensitive: false,
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_stored_line_is_frozen() {
        let d = FieldDef {
            key: "region".into(),
            label: "大区".into(),
            kind: Kind::Multi,
            sensitive: true,
            options: vec!["华东".into(), "华南".into()],
        };
        assert_eq!(d.line(), "region\u{1f}大区\u{1f}multi\u{1f}1\u{1f}华东\u{1e}华南");
        assert_eq!(FieldDef::parse(&d.line()), Some(d.clone()));
        assert_eq!(d.field_name(), "custom_s.region");
        assert!(crate::domain::is_sensitive(&d.field_name()));
        assert!(!crate::domain::is_sensitive("custom.region"));
        for bad in [
            "",
            "k\u{1f}L\u{1f}text",
            "k\u{1f}\u{1f}text\u{1f}0\u{1f}",
            "k\u{1f}L\u{1f}choice\u{1f}0\u{1f}",
            "bad key\u{1f}L\u{1f}text\u{1f}0\u{1f}",
            "k\u{1f}L\u{1f}what\u{1f}0\u{1f}",
        ] {
            assert_eq!(FieldDef::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn inputs_are_validated_by_kind_and_round_trip() {
        use Problem::*;
        type Case<'a> = (Kind, &'a [&'a str], &'a str, Result<Option<Value>, Problem>);
        let cases: &[Case] = &[
            (Kind::Number, &[], "1,234.50", Ok(Some(Value::Text("1234.5".into())))),
            (Kind::Number, &[], "12a", Err(NotANumber)),
            (Kind::Money, &[], "¥12,000.5", Ok(Some(Value::Int(1_200_050)))),
            (Kind::Money, &[], "lots", Err(NotAmount)),
            (Kind::Date, &[], "2026-11-26", Ok(Some(Value::Text("2026-11-26".into())))),
            (Kind::Date, &[], "26/11/2026", Err(NotADate)),
            (Kind::Choice, &["A", "B"], "B", Ok(Some(Value::Text("B".into())))),
            (Kind::Choice, &["A", "B"], "C", Err(NotAChoice)),
            (Kind::Multi, &["A", "B", "C"], "C; A; C", Ok(Some(Value::List(vec!["C".into(), "A".into()])))),
            (Kind::Multi, &["A"], "A;Z", Err(NotAChoice)),
            (Kind::Phone, &[], "138 1234 5678", Ok(Some(Value::Text("138 1234 5678".into())))),
            (Kind::Phone, &[], "call me", Err(NotAPhone)),
            (Kind::Email, &[], "a@b.cn", Ok(Some(Value::Text("a@b.cn".into())))),
            (Kind::Email, &[], "nope", Err(NotAnEmail)),
            (Kind::Text, &[], "  ", Ok(None)),
        ];
        for (kind, options, input, expected) in cases {
            let d = def(*kind, options);
            let got = d.value_of(input);
            assert_eq!(&got, expected, "{kind:?} {input:?}");
            if let Ok(Some(v)) = got {
                assert_eq!(d.value_of(&d.input_of(Some(&v))), Ok(Some(v)), "round trip of {kind:?}");
            }
        }
    }

    #[test]
    fn custom_fields_count_only_under_an_admins_signature() {
        use crate::chain::tests::{append, new_chain, Person};
        use crate::chain::{Action, Role};
        use crate::hlc::{Hlc, Stamp};
        use crate::record::FieldState;
        let (ann, bob) = (Person::new("ann"), Person::new("bob"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        let set_by = |who: &Person| {
            let mut doc = RecordDoc::new();
            let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: who.name.clone() };
            let value = Some(Value::List(vec![def(Kind::Text, &[]).line()]));
            doc.apply(CUSTOM_FIELDS, FieldState { value, stamp });
            doc
        };
        assert_eq!(definitions(Some(&set_by(&ann)), Some(&ann.name), &state).len(), 1);
        assert!(definitions(Some(&set_by(&bob)), Some(&bob.name), &state).is_empty(), "a member cannot define them");
        assert!(
            definitions(Some(&set_by(&bob)), Some(&ann.name), &state).is_empty(),
            "nor get them counted by an admin's version that carries them"
        );
    }

    #[test]
    fn keys_come_from_labels_and_never_collide() {
        let taken = vec![def(Kind::Text, &[])];
        assert_eq!(new_key("Contract value", &[]), "contract_value");
        let mut k = def(Kind::Text, &[]);
        k.key = "region".into();
        assert_eq!(new_key("Region", &[k]), "region_2");
        assert_eq!(new_key("K", &taken), "k_2");
        assert_eq!(new_key("行业", &[]).len(), 10, "a label with no ASCII letters gets a random key");
    }
}
