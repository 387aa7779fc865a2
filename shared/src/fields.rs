//! The built-in customer fields, one row each: what the form, the customer table, the
//! import (column mapping, header guessing, template), both exports, search, sealing
//! ([`crate::domain::is_sensitive`]) and the app's field labels know of a field.
//!
//! Adding a built-in field is a row in [`CUSTOMER_FIELDS`] (its name a constant in
//! [`crate::domain::field`]) and its label in the app's two translation tables. Custom
//! fields (see [`crate::custom`]) are a second source, appended where these are read.
//! The table itself lives with the domain ([`crate::domain::registry`]), which asks it
//! which fields are sensitive; this module reads it for the form, import and export.

use crate::custom::FieldDef;
pub use crate::domain::registry::{Column, FieldSpec, Import, Input, Search, CUSTOMER_FIELDS};
use crate::domain::{field, EntityKind};
use crate::record::{RecordDoc, Value};

/// The row of a built-in customer field.
pub fn spec(name: &str) -> Option<&'static FieldSpec> {
    CUSTOMER_FIELDS.iter().find(|f| f.name == name)
}

impl FieldSpec {
    pub fn importable(&self) -> bool {
        self.import != Import::No
    }
}

/// The fields a spreadsheet column can be imported into, in order.
pub fn importable() -> impl Iterator<Item = &'static FieldSpec> {
    CUSTOMER_FIELDS.iter().filter(|f| f.importable())
}

/// The field a column's header names ("Phone number" → phone, "公司" → company), or
/// `None`. Of the words found in the header, the one ending last wins, a longer one on
/// a tie: a header's last word is what it is (公司电话 and "Company phone" are phones,
/// "Stage" is a status though it holds "tag"). The name's words count only when no
/// other field's are found ("Company name" is a company).
pub fn guess(header: &str) -> Option<&'static str> {
    let h = header.trim().to_lowercase();
    let best = |fallback: bool| {
        let mut best: Option<(usize, usize, &'static str)> = None;
        for f in CUSTOMER_FIELDS {
            let words = match f.import {
                Import::Words(w) if !fallback => w,
                Import::Fallback(w) if fallback => w,
                _ => continue,
            };
            for w in words {
                if let Some(at) = h.rfind(w) {
                    let found = (at + w.len(), w.len(), f.name);
                    if best.is_none_or(|b| (found.0, found.1) > (b.0, b.1)) {
                        best = Some(found);
                    }
                }
            }
        }
        best.map(|b| b.2)
    };
    best(false).or_else(|| best(true))
}

/// A built-in field's value as its cell in an export: a list's items joined by `; `
/// (as the import splits them), its mask when the field is not readable here.
pub fn export_cell(d: &RecordDoc, f: &FieldSpec) -> String {
    match d.get(f.name) {
        Some(Value::List(l)) => l.join("; "),
        Some(Value::Text(t)) => t.clone(),
        Some(Value::Int(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        // Without the sensitive key, export what the user sees: the mask.
        None => f.mask.and_then(|m| d.text(m)).unwrap_or_default().to_owned(),
    }
}

/// The customers among `docs` as the rows of an export (a CSV file or a workbook): the
/// header, then a row per customer; the exported built-in fields, then the team's
/// custom fields. Every export writes these columns; the import maps them back.
pub fn export_table(docs: &[&RecordDoc], custom: &[FieldDef]) -> Vec<Vec<String>> {
    let cols: Vec<&FieldSpec> = CUSTOMER_FIELDS.iter().filter(|f| f.export.is_some()).collect();
    let mut header: Vec<String> = cols.iter().filter_map(|f| f.export).map(str::to_owned).collect();
    header.extend(custom.iter().map(|d| d.label.clone()));
    let mut out = vec![header];
    for d in docs.iter().filter(|d| d.text(field::KIND) == Some(EntityKind::Customer.as_str())) {
        out.push(
            cols.iter()
                .map(|f| export_cell(d, f))
                .chain(custom.iter().map(|def| def.input_of(d.get(&def.field_name()))))
                .collect(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv;
    use crate::domain::tests::doc_of;
    use crate::domain::{is_sensitive, Customer, Entity};

    #[test]
    fn names_are_unique_and_labels_are_keys() {
        for (i, f) in CUSTOMER_FIELDS.iter().enumerate() {
            assert!(CUSTOMER_FIELDS[..i].iter().all(|g| g.name != f.name), "{} twice", f.name);
            assert!(f.label.starts_with("customer."), "{}", f.label);
            assert!(f.input.line_type().is_none() || f.max_len > 0, "{} has no limit", f.name);
        }
    }

    /// Which fields are sealed under the sensitive key is part of the stored format:
    /// changing the set would seal (or open) existing fields differently.
    #[test]
    fn the_sensitive_built_in_fields_are_the_designed_ones() {
        let sensitive: Vec<&str> = CUSTOMER_FIELDS.iter().filter(|f| f.sensitive).map(|f| f.name).collect();
        assert_eq!(sensitive, ["phone", "wechat", "email", "address", "id_number", "private_notes"]);
        for f in CUSTOMER_FIELDS {
            assert_eq!(is_sensitive(f.name), f.sensitive, "{}", f.name);
        }
    }

    #[test]
    fn headers_map_to_the_field_they_name() {
        for (header, want) in [
            ("Customer name", Some(field::NAME)),
            ("姓名", Some(field::NAME)),
            ("客户名称", Some(field::NAME)),
            ("Company name", Some(field::COMPANY)),
            ("公司名称", Some(field::COMPANY)),
            ("Account owner", Some(field::OWNER)),
            ("Phone number", Some(field::PHONE)),
            ("Mobile", Some(field::PHONE)),
            ("客户电话", Some(field::PHONE)),
            ("公司电话", Some(field::PHONE)),
            ("Company phone", Some(field::PHONE)),
            ("联系电话", Some(field::PHONE)),
            ("E-mail", Some(field::EMAIL)),
            ("Email address", Some(field::EMAIL)),
            ("邮箱地址", Some(field::EMAIL)),
            ("公司地址", Some(field::ADDRESS)),
            ("WeChat ID", Some(field::WECHAT)),
            ("微信号", Some(field::WECHAT)),
            ("ID number", Some(field::ID_NUMBER)),
            ("证件号码", Some(field::ID_NUMBER)),
            ("Stage", Some(field::STATUS)),
            ("客户状态", Some(field::STATUS)),
            ("Tags", Some(field::TAGS)),
            ("Notes", Some(field::NOTES)),
            ("负责人", Some(field::OWNER)),
            ("Whatever", None),
        ] {
            assert_eq!(guess(header), want, "{header}");
        }
    }

    /// What an export writes, the import reads back: each exported column's header is
    /// guessed as its field, in a CSV file and in a workbook.
    #[test]
    fn an_export_imports_back_with_every_column_mapped() {
        let c = Customer {
            name: "张伟".into(),
            company: "明达贸易".into(),
            phone: "13812345678".into(),
            wechat: "canary_wx_zhang".into(),
            email: "zhang@example.cn".into(),
            address: "上海市".into(),
            id_number: "310101199001011234".into(),
            notes: "said \"hi\", twice".into(),
            tags: vec!["vip".into(), "steel".into()],
            status: Some(crate::domain::Status::Prospect),
            owner: "ann".into(),
            ..Default::default()
        };
        let doc = doc_of(c.to_fields());
        let table = export_table(&[&doc], &[]);
        for f in CUSTOMER_FIELDS {
            assert_eq!(f.export.is_some(), f.importable(), "{}: exported and importable go together", f.name);
        }
        let csv_rows = csv::parse(&csv::write(&table));
        let xlsx_rows = crate::xlsx::read(&crate::xlsx::write("Customers", &table)).unwrap();
        for rows in [csv_rows, xlsx_rows] {
            let mapping: Vec<Option<&str>> = rows[0].iter().map(|h| guess(h)).collect();
            let want: Vec<Option<&str>> = importable().map(|f| Some(f.name)).collect();
            assert_eq!(mapping, want);
            let back = doc_of(csv::row_to_customer(&mapping, &rows[1]).unwrap());
            let again = Customer::from_doc(&back).unwrap();
            assert_eq!(again.wechat, "canary_wx_zhang");
            assert_eq!(again, c, "every exported field comes back (the customer has no unexported one)");
        }
        // Without the sensitive key, the phone's column holds its mask.
        let mut basic = doc.clone();
        basic.fields.retain(|f, _| !is_sensitive(f));
        let row = &export_table(&[&basic], &[])[1];
        assert_eq!(row[2], "138****5678");
        assert_eq!(row[3], "", "no WeChat ID without the key");
    }
}
