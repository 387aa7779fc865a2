//! Likely duplicate customers: the same phone, the same email, or the same name at the
//! same company, after normalising away how people happen to type them.
//!
//! Runs in the browser on decrypted data, over what the user's keys open: a reader
//! without the sensitive key (support) has no phones or emails, and matches on name
//! and company only.

use std::collections::{BTreeMap, HashMap};

use crate::domain::field;
use crate::ids::RecordId;
use crate::record::{RecordDoc, Value};

/// Why two customers look like one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    Phone,
    Email,
    NameAndCompany,
}

/// A phone as digits only, so `+86 138-1234-5678`, `0086 13812345678` and
/// `138 1234 5678` are one number: a mainland mobile loses its country code; any other
/// number keeps every digit (an international number keeps its country code, a
/// landline its area code). `None` when too short to mean anything (under 7 digits).
pub fn phone_key(phone: &str) -> Option<String> {
    let plus = phone.trim_start().starts_with('+');
    let mut digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if !plus && digits.starts_with("00") {
        digits.drain(..2); // 0086… is +86…
    }
    let mainland_mobile = |d: &str| d.len() == 11 && d.starts_with('1');
    if digits.len() == 13 && digits.starts_with("86") && mainland_mobile(&digits[2..]) {
        digits.drain(..2);
    }
    (digits.len() >= 7).then_some(digits)
}

/// An email trimmed and lower-cased (`Li.Na@Example.CN ` is `li.na@example.cn`);
/// `None` unless it has a local part and a domain.
pub fn email_key(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    (!local.is_empty() && domain.contains('.')).then_some(e)
}

/// Company suffixes that say nothing about which company it is.
const COMPANY_SUFFIXES: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团",
    "公司",
    "co., ltd.",
    "co., ltd",
    "co.,ltd.",
    "co.,ltd",
    "co. ltd",
    "co ltd",
    "limited",
    "ltd.",
    "ltd",
    "inc.",
    "inc",
    "llc",
    "gmbh",
    "corp.",
    "corp",
];

/// Lower case, full-width forms folded to ASCII (`ＡＢＣ１` → `abc1`), and spaces and
/// punctuation (ASCII and CJK, `·`) dropped.
fn fold(text: &str) -> String {
    // Not `char::is_alphanumeric`: its Unicode tables would weigh on the browser app,
    // and spacing and punctuation are all a name's typing varies in.
    let noise = |c: &char| c.is_whitespace() || c.is_ascii_punctuation() || "·•、，。（）【】《》“”‘’：；".contains(*c);
    narrow(text).to_lowercase().chars().filter(|c| !noise(c)).collect()
}

/// Full-width forms as ASCII, the ideographic space as a space.
fn narrow(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

/// A company name without its legal-form suffix, folded: `上海明达贸易有限公司` and
/// `上海明达贸易` are one company, as are `Acme Co., Ltd.` and `ACME`.
pub fn company_key(company: &str) -> String {
    let mut c = narrow(company).trim().to_lowercase();
    loop {
        let before = c.len();
        for s in COMPANY_SUFFIXES {
            if let Some(stripped) = c.strip_suffix(s) {
                c = stripped.trim_end().trim_end_matches([',', '.']).trim_end().to_owned();
            }
        }
        if c.len() == before {
            break;
        }
    }
    fold(&c)
}

/// Name and company together (`None` without a name).
pub fn name_key(name: &str, company: &str) -> Option<String> {
    let n = fold(name);
    (!n.is_empty()).then(|| format!("{n}\u{1}{}", company_key(company)))
}

/// Every key a customer can be matched by.
pub fn keys(doc: &RecordDoc) -> Vec<(Reason, String)> {
    keys_with(|f| doc.text(f).unwrap_or_default())
}

/// The keys of a customer not yet saved (its field writes, e.g. an import row's).
pub fn keys_of_fields(fields: &[(String, Option<Value>)]) -> Vec<(Reason, String)> {
    keys_with(|f| {
        fields.iter().rev().find(|(k, _)| k == f).and_then(|(_, v)| v.as_ref()?.as_text()).unwrap_or_default()
    })
}

fn keys_with<'a>(text: impl Fn(&str) -> &'a str) -> Vec<(Reason, String)> {
    let mut k = Vec::with_capacity(3);
    if let Some(p) = phone_key(text(field::PHONE)) {
        k.push((Reason::Phone, p));
    }
    if let Some(e) = email_key(text(field::EMAIL)) {
        k.push((Reason::Email, e));
    }
    if let Some(n) = name_key(text(field::NAME), text(field::COMPANY)) {
        k.push((Reason::NameAndCompany, n));
    }
    k
}

/// Customers by every key, for checking a new or imported one.
#[derive(Debug, Default, Clone)]
pub struct DuplicateIndex {
    by_key: HashMap<(Reason, String), Vec<RecordId>>,
}

impl DuplicateIndex {
    pub fn build<'a>(customers: impl IntoIterator<Item = (&'a RecordId, &'a RecordDoc)>) -> Self {
        let mut index = Self::default();
        for (id, doc) in customers {
            index.add(*id, doc);
        }
        index
    }

    pub fn add(&mut self, id: RecordId, doc: &RecordDoc) {
        for key in keys(doc) {
            let ids = self.by_key.entry(key).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    /// The customers `doc` looks like (other than `itself`), each with every reason.
    pub fn matches(&self, doc: &RecordDoc, itself: Option<RecordId>) -> Vec<(RecordId, Vec<Reason>)> {
        let mut found: BTreeMap<RecordId, Vec<Reason>> = BTreeMap::new();
        for key in keys(doc) {
            for id in self.by_key.get(&key).into_iter().flatten().filter(|id| Some(**id) != itself) {
                found.entry(*id).or_default().push(key.0);
            }
        }
        found.into_iter().collect()
    }

    /// The customers a not-yet-saved one (its field writes) looks like.
    pub fn matches_fields(&self, fields: &[(String, Option<Value>)]) -> Vec<(RecordId, Vec<Reason>)> {
        let mut found: BTreeMap<RecordId, Vec<Reason>> = BTreeMap::new();
        for key in keys_of_fields(fields) {
            for id in self.by_key.get(&key).into_iter().flatten() {
                found.entry(*id).or_default().push(key.0);
            }
        }
        found.into_iter().collect()
    }

    /// Groups of two or more customers linked by any shared key (a phone shared by A
    /// and B and an email shared by B and C make one group of three), each sorted, the
    /// groups in order of their first member.
    pub fn groups(&self) -> Vec<Vec<RecordId>> {
        let mut parent: HashMap<RecordId, RecordId> = HashMap::new();
        fn root(parent: &mut HashMap<RecordId, RecordId>, id: RecordId) -> RecordId {
            let mut r = id;
            while let Some(&p) = parent.get(&r).filter(|p| **p != r) {
                r = p;
            }
            parent.insert(id, r);
            r
        }
        for ids in self.by_key.values().filter(|ids| ids.len() > 1) {
            let first = root(&mut parent, ids[0]);
            for id in &ids[1..] {
                let r = root(&mut parent, *id);
                if r != first {
                    parent.insert(r, first);
                }
            }
        }
        let ids: Vec<RecordId> = parent.keys().copied().collect();
        let mut groups: BTreeMap<RecordId, Vec<RecordId>> = BTreeMap::new();
        for id in ids {
            let r = root(&mut parent, id);
            groups.entry(r).or_default().push(id);
        }
        let mut out: Vec<Vec<RecordId>> = groups
            .into_values()
            .filter(|g| g.len() > 1)
            .map(|mut g| {
                g.sort();
                g
            })
            .collect();
        out.sort();
        out
    }
}

/// Which customer a merged field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Survivor,
    Other,
}

/// The fields a merge offers a choice for: every field either customer has a value in,
/// but the kind, what is derived (the masked phone follows the phone) and the
/// deletion flag.
pub fn merge_fields(survivor: &RecordDoc, other: &RecordDoc) -> Vec<String> {
    let skip =
        [field::KIND, field::PHONE_MASKED, crate::record::DELETED, crate::record::REPAIRED, crate::record::CREATED];
    let names: std::collections::BTreeSet<&String> = survivor
        .fields
        .iter()
        .chain(other.fields.iter())
        .filter(|(f, s)| s.value.is_some() && !skip.contains(&f.as_str()))
        .map(|(f, _)| f)
        .collect();
    names.into_iter().cloned().collect()
}

/// The default choice per field: the survivor's value, or the other's where the
/// survivor has none.
pub fn default_side(survivor: &RecordDoc, f: &str) -> Side {
    match survivor.get(f) {
        None => Side::Other,
        Some(crate::record::Value::Text(t)) if t.is_empty() => Side::Other,
        Some(crate::record::Value::List(l)) if l.is_empty() => Side::Other,
        _ => Side::Survivor,
    }
}

/// The edits that merge customer `other` into `survivor`: each field the user chose
/// from the other written into the survivor (the masked phone recomputed with the
/// phone), every record of the other's (contacts, interactions, tasks, deals,
/// history) moved to the survivor, and the other deleted, pointing at the survivor.
/// Field writes carry values, not differences, so applying them again (a retry, a
/// second device) changes nothing more.
pub fn merge_edits(
    survivor: (RecordId, &RecordDoc),
    other: (RecordId, &RecordDoc),
    choices: &BTreeMap<String, Side>,
    linked: &[(RecordId, &RecordDoc)],
) -> Vec<crate::sync::RecordEdit> {
    use crate::record::Value;
    let mut fields: Vec<(String, Option<Value>)> = Vec::new();
    for f in merge_fields(survivor.1, other.1) {
        let side = choices.get(&f).copied().unwrap_or_else(|| default_side(survivor.1, &f));
        if side == Side::Other && other.1.get(&f) != survivor.1.get(&f) {
            fields.push((f.clone(), other.1.get(&f).cloned()));
            if f == field::PHONE {
                let masked = crate::domain::mask_phone(other.1.text(&f).unwrap_or_default());
                fields.push((field::PHONE_MASKED.into(), Some(Value::Text(masked))));
            }
        }
    }
    let mut edits = Vec::with_capacity(linked.len() + 2);
    if !fields.is_empty() {
        edits.push((survivor.0, fields));
    }
    let (from, to) = (other.0.to_string(), survivor.0.to_string());
    for (id, d) in linked {
        if d.text(field::CUSTOMER) == Some(from.as_str()) {
            edits.push((*id, vec![(field::CUSTOMER.into(), Some(Value::Text(to.clone())))]));
        }
    }
    edits.push((
        other.0,
        vec![(MERGED_INTO.into(), Some(Value::Text(to))), (crate::record::DELETED.into(), Some(Value::Bool(true)))],
    ));
    edits
}

/// Set on a customer deleted by a merge: the one it was merged into.
pub const MERGED_INTO: &str = "merged_into";

/// An import row that looks like a customer already there, or like an earlier row of
/// the same file (0-based row indexes into what was checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportMatch {
    pub row: usize,
    pub existing: Option<RecordId>,
    pub earlier_row: Option<usize>,
    pub reasons: Vec<Reason>,
}

/// Check every import row against the customers there and the rows before it.
pub fn check_import(index: &DuplicateIndex, rows: &[Vec<(String, Option<Value>)>]) -> Vec<ImportMatch> {
    let mut check = ImportCheck::default();
    for (row, fields) in rows.iter().enumerate() {
        check.row(index, row, fields);
    }
    check.matches
}

/// [`check_import`] a row at a time, for a caller that pauses between rows (a page
/// that must not freeze while 100,000 rows are checked). Rows in order, from 0.
#[derive(Default)]
pub struct ImportCheck {
    seen: HashMap<(Reason, String), usize>,
    pub matches: Vec<ImportMatch>,
}

impl ImportCheck {
    pub fn row(&mut self, index: &DuplicateIndex, row: usize, fields: &[(String, Option<Value>)]) {
        let keys = keys_of_fields(fields);
        let existing = index.matches_fields(fields).into_iter().next();
        let earlier: Vec<(Reason, usize)> = keys.iter().filter_map(|k| Some((k.0, *self.seen.get(k)?))).collect();
        if let Some((id, reasons)) = existing {
            self.matches.push(ImportMatch { row, existing: Some(id), earlier_row: None, reasons });
        } else if let Some(&(_, first)) = earlier.first() {
            let reasons = earlier.iter().filter(|(_, r)| *r == first).map(|(reason, _)| *reason).collect();
            self.matches.push(ImportMatch { row, existing: None, earlier_row: Some(first), reasons });
        }
        for k in keys {
            self.seen.entry(k).or_insert(row);
        }
    }
}

/// What merging an import row into an existing customer writes: only what the customer
/// lacks (nothing typed by a colleague is overwritten), and tags joined.
pub fn fill_blanks(existing: &RecordDoc, incoming: &[(String, Option<Value>)]) -> Vec<(String, Option<Value>)> {
    let blank = |f: &str| match existing.get(f) {
        None => true,
        Some(Value::Text(t)) => t.trim().is_empty(),
        Some(Value::List(l)) => l.is_empty(),
        Some(_) => false,
    };
    let mut out = Vec::new();
    for (f, v) in incoming {
        let Some(v) = v else { continue };
        if f == field::KIND || f == field::PHONE_MASKED {
            continue;
        }
        if f == field::TAGS {
            let mut tags = existing.get(f).and_then(Value::as_list).map(<[String]>::to_vec).unwrap_or_default();
            let before = tags.len();
            for t in v.as_list().unwrap_or_default() {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            if tags.len() > before {
                out.push((f.clone(), Some(Value::List(tags))));
            }
        } else if blank(f) {
            out.push((f.clone(), Some(v.clone())));
            if f == field::PHONE {
                let masked = crate::domain::mask_phone(v.as_text().unwrap_or_default());
                out.push((field::PHONE_MASKED.into(), Some(Value::Text(masked))));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Customer, Entity};
    use crate::hlc::{Hlc, Stamp};
    use crate::ids::Username;
    use crate::record::FieldState;
    use proptest::prelude::*;

    fn doc(name: &str, company: &str, phone: &str, email: &str) -> RecordDoc {
        let c = Customer {
            name: name.into(),
            company: company.into(),
            phone: phone.into(),
            email: email.into(),
            ..Default::default()
        };
        let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: Username::parse("ann").unwrap() };
        let mut d = RecordDoc::new();
        for (f, v) in c.to_fields() {
            d.apply(&f, FieldState { value: v, stamp: stamp.clone() });
        }
        d
    }

    fn row(name: &str, company: &str, phone: &str, email: &str) -> Vec<(String, Option<Value>)> {
        Customer {
            name: name.into(),
            company: company.into(),
            phone: phone.into(),
            email: email.into(),
            ..Default::default()
        }
        .to_fields()
    }

    #[test]
    fn an_import_is_checked_against_the_customers_there_and_its_own_earlier_rows() {
        let (a, b) = (RecordId::random(), RecordId::random());
        let docs = [(a, doc("张伟", "Acme", "138 1234 5678", "")), (b, doc("Li", "Beta", "", "li@x.cn"))];
        let index = DuplicateIndex::build(docs.iter().map(|(id, d)| (id, d)));
        let rows = vec![
            row("Zhang Wei", "", "+86 13812345678", ""),
            row("New One", "Gamma", "13900000000", ""),
            row("new one", "gamma", "", ""),
            row("Fresh", "", "", "LI@X.CN"),
            row("Unique", "", "", ""),
        ];
        let found = check_import(&index, &rows);
        assert_eq!(
            found,
            vec![
                ImportMatch { row: 0, existing: Some(a), earlier_row: None, reasons: vec![Reason::Phone] },
                ImportMatch { row: 2, existing: None, earlier_row: Some(1), reasons: vec![Reason::NameAndCompany] },
                ImportMatch { row: 3, existing: Some(b), earlier_row: None, reasons: vec![Reason::Email] },
            ]
        );
    }

    #[test]
    fn merging_an_import_row_fills_blanks_and_joins_tags_but_overwrites_nothing() {
        let mut existing = doc("张伟", "Acme", "", "old@x.cn");
        let stamp = Stamp { hlc: Hlc { wall_ms: 2, counter: 0 }, author: Username::parse("ann").unwrap() };
        existing.apply(field::TAGS, FieldState { value: Some(Value::List(vec!["vip".into()])), stamp });
        let mut incoming = row("Zhang Wei", "Acme Ltd", "13812345678", "new@x.cn");
        incoming.push((field::TAGS.into(), Some(Value::List(vec!["steel".into(), "vip".into()]))));
        let writes = fill_blanks(&existing, &incoming);
        assert!(writes.contains(&(field::PHONE.into(), Some(Value::Text("13812345678".into())))));
        assert!(writes.contains(&(field::PHONE_MASKED.into(), Some(Value::Text("138****5678".into())))));
        assert!(writes.contains(&(field::TAGS.into(), Some(Value::List(vec!["vip".into(), "steel".into()])))));
        for kept in [field::NAME, field::COMPANY, field::EMAIL, field::KIND] {
            assert!(!writes.iter().any(|(f, _)| f == kept), "{kept} is not overwritten");
        }
    }

    #[test]
    fn phones_emails_and_companies_normalise_as_people_type_them() {
        for p in ["+86 138-1234-5678", "0086 13812345678", "138 1234 5678", "(138)12345678", "8613812345678"] {
            assert_eq!(phone_key(p).as_deref(), Some("13812345678"), "{p}");
        }
        assert_eq!(phone_key("+1 (415) 555-0100").as_deref(), Some("14155550100"));
        assert_eq!(phone_key("010-6552 9988").as_deref(), Some("01065529988"), "a landline keeps its area code");
        assert_eq!(phone_key("12-34"), None);
        assert_eq!(email_key(" Li.Na@Example.CN ").as_deref(), Some("li.na@example.cn"));
        assert_eq!(email_key("not an email"), None);
        assert_eq!(company_key("上海明达贸易有限公司"), company_key("上海明达贸易"));
        assert_eq!(company_key("Acme Co., Ltd."), company_key("ACME"));
        assert_eq!(company_key("ＡＣＭＥ　Ｉｎｃ"), "acme");
        assert_ne!(company_key("明达贸易"), company_key("明达科技"));
        assert_eq!(name_key("张 伟", "明达"), name_key("张伟", "明达有限公司"));
        assert_eq!(name_key("", "明达"), None);
    }

    #[test]
    fn matches_and_groups_link_customers_through_any_key() {
        let (a, b, c, d) = (RecordId([1; 16]), RecordId([2; 16]), RecordId([3; 16]), RecordId([4; 16]));
        let docs = [
            (a, doc("Zhang Wei", "Mingda", "13812345678", "")),
            (b, doc("Wei Zhang", "", "+86 138 1234 5678", "zw@example.cn")),
            (c, doc("Z. Wei", "Other", "", "ZW@example.cn")),
            (d, doc("Li Na", "Tea", "13900000000", "li@example.cn")),
        ];
        let index = DuplicateIndex::build(docs.iter().map(|(id, d)| (id, d)));
        assert_eq!(index.groups(), vec![vec![a, b, c]]);
        let new = doc("zhang wei", "明达", "", "");
        assert!(index.matches(&new, None).is_empty(), "another company");
        let new = doc("zhang wei", "Mingda Co., Ltd.", "", "");
        assert_eq!(index.matches(&new, None), vec![(a, vec![Reason::NameAndCompany])]);
        assert!(index.matches(&docs[0].1, Some(a)).iter().all(|(id, _)| *id != a), "not itself");
        assert_eq!(index.matches(&docs[0].1, Some(a)), vec![(b, vec![Reason::Phone])]);
    }

    #[test]
    fn a_merge_keeps_every_chosen_field_and_moves_every_record() {
        use crate::domain::Interaction;
        let (a, b) = (RecordId([1; 16]), RecordId([2; 16]));
        let survivor = doc("Zhang Wei", "Mingda", "", "zw@example.cn");
        let other = doc("张伟", "明达", "13812345678", "old@example.cn");
        let call = |c: RecordId| {
            let i = Interaction {
                customer: c.to_string(),
                channel: crate::domain::Channel::Call,
                at_ms: 1,
                summary: "s".into(),
            };
            let mut d = RecordDoc::new();
            let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: Username::parse("ann").unwrap() };
            for (f, v) in i.to_fields() {
                d.apply(&f, FieldState { value: v, stamp: stamp.clone() });
            }
            d
        };
        let (ca, cb) = (call(a), call(b));
        let (ia, ib) = (RecordId([3; 16]), RecordId([4; 16]));
        let mut choices = BTreeMap::new();
        choices.insert(field::NAME.to_owned(), Side::Other);
        let edits = merge_edits((a, &survivor), (b, &other), &choices, &[(ia, &ca), (ib, &cb)]);
        let for_ = |id| edits.iter().find(|(r, _)| *r == id).map(|(_, f)| f.clone()).unwrap_or_default();
        let s = for_(a);
        let text = |v: &str| Some(crate::record::Value::Text(v.into()));
        assert!(s.contains(&(field::NAME.into(), text("张伟"))), "chosen from the other");
        assert!(s.contains(&(field::PHONE.into(), text("13812345678"))), "the survivor had none");
        assert!(s.contains(&(field::PHONE_MASKED.into(), text("138****5678"))));
        assert!(!s.iter().any(|(f, _)| f == field::EMAIL), "the survivor's email stays");
        assert!(for_(ia).is_empty(), "the survivor's own records stay");
        assert_eq!(for_(ib), vec![(field::CUSTOMER.to_owned(), text(&a.to_string()))]);
        assert!(for_(b).contains(&(crate::record::DELETED.into(), Some(crate::record::Value::Bool(true)))));
    }

    proptest! {
        /// Merging loses nothing: every field ends with the chosen side's value, every
        /// record of either customer belongs to the survivor, and merging again (the
        /// edits applied twice, as a retry or a second device would) changes nothing.
        #[test]
        fn merging_loses_nothing_and_is_idempotent(
            s_phone in "(138[0-9]{8})?", o_phone in "(139[0-9]{8})?",
            s_notes in "[a-z]{0,6}", o_notes in "[a-z]{0,6}",
            pick_other in proptest::collection::vec(any::<bool>(), 8),
            kids in proptest::collection::vec(any::<bool>(), 0..8),
        ) {
            let (a, b) = (RecordId([1; 16]), RecordId([2; 16]));
            let mut survivor = doc("S", "C", &s_phone, "");
            let mut other = doc("O", "C", &o_phone, "o@x.cn");
            let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: Username::parse("ann").unwrap() };
            let t = |v: &str| FieldState { value: Some(crate::record::Value::Text(v.into())), stamp: stamp.clone() };
            survivor.apply(field::NOTES, t(&s_notes));
            other.apply(field::NOTES, t(&o_notes));
            let names = merge_fields(&survivor, &other);
            let choices: BTreeMap<String, Side> = names.iter().zip(pick_other.iter().cycle())
                .map(|(f, o)| (f.clone(), if *o { Side::Other } else { Side::Survivor })).collect();
            let children: Vec<(RecordId, RecordDoc)> = kids.iter().enumerate().map(|(i, of_other)| {
                let mut d = RecordDoc::new();
                d.apply(field::KIND, t("task"));
                d.apply(field::CUSTOMER, t(&if *of_other { b } else { a }.to_string()));
                (RecordId([10 + i as u8; 16]), d)
            }).collect();
            let linked: Vec<(RecordId, &RecordDoc)> = children.iter().map(|(id, d)| (*id, d)).collect();
            let edits = merge_edits((a, &survivor), (b, &other), &choices, &linked);
            let mut world: BTreeMap<RecordId, RecordDoc> = children.iter().cloned().collect();
            world.insert(a, survivor.clone());
            world.insert(b, other.clone());
            let apply = |world: &mut BTreeMap<RecordId, RecordDoc>, wall: u64| {
                for (id, fs) in &edits {
                    let d = world.get_mut(id).unwrap();
                    for (f, v) in fs {
                        let stamp = Stamp { hlc: Hlc { wall_ms: wall, counter: 0 }, author: Username::parse("ann").unwrap() };
                        d.apply(f, FieldState { value: v.clone(), stamp });
                    }
                }
            };
            apply(&mut world, 2);
            for f in &names {
                let want = match choices[f] { Side::Other => other.get(f), Side::Survivor => survivor.get(f) };
                prop_assert_eq!(world[&a].get(f), want, "field {}", f);
            }
            let survivor_id = a.to_string();
            for (id, _) in &children {
                prop_assert_eq!(world[id].text(field::CUSTOMER), Some(survivor_id.as_str()));
            }
            prop_assert!(world[&b].is_deleted() && !world[&a].is_deleted());
            let values = |w: &BTreeMap<RecordId, RecordDoc>| -> Vec<_> {
                w.values().map(|d| d.fields.iter().map(|(k, s)| (k.clone(), s.value.clone())).collect::<Vec<_>>()).collect()
            };
            let once = values(&world);
            apply(&mut world, 3);
            prop_assert_eq!(values(&world), once);
        }

        /// However a mainland mobile is written (spaces, dashes, +86 or 0086), it is
        /// one key; and the key is digits only.
        #[test]
        fn a_mobile_has_one_key_however_written(n in 13_000_000_000u64..19_999_999_999, sep in "[ -]{0,2}", prefix in 0usize..3) {
            let digits = n.to_string();
            let written = format!("{}{}{sep}{}{sep}{}", ["", "+86 ", "0086"][prefix], &digits[..3], &digits[3..7], &digits[7..]);
            prop_assert_eq!(phone_key(&written), Some(digits));
        }

        /// Grouping is a partition: no customer in two groups, every group linked.
        #[test]
        fn groups_partition_the_customers(keys in proptest::collection::vec((0u8..6, 0u8..6), 1..30)) {
            let docs: Vec<(RecordId, RecordDoc)> = keys
                .iter()
                .enumerate()
                .map(|(i, (p, e))| (RecordId([i as u8; 16]), doc(&format!("n{i}"), "", &format!("1380000000{p}"), &format!("e{e}@x.cn"))))
                .collect();
            let index = DuplicateIndex::build(docs.iter().map(|(id, d)| (id, d)));
            let groups = index.groups();
            let mut seen = std::collections::HashSet::new();
            for g in &groups {
                prop_assert!(g.len() > 1);
                for id in g {
                    prop_assert!(seen.insert(*id), "in two groups");
                }
            }
            // Two customers sharing a phone are always in one group.
            for (i, (p, _)) in keys.iter().enumerate() {
                for (j, (q, _)) in keys.iter().enumerate().skip(i + 1) {
                    if p == q {
                        let (x, y) = (RecordId([i as u8; 16]), RecordId([j as u8; 16]));
                        prop_assert!(groups.iter().any(|g| g.contains(&x) && g.contains(&y)));
                    }
                }
            }
        }
    }
}
