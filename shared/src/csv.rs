//! CSV (RFC 4180) reading and writing, and the mapping of CSV rows onto customer
//! fields for import. Pure functions, tested natively; the app runs them in the browser.

use crate::domain::{field, mask_phone, EntityKind, Status};
use crate::record::Value;

/// Parse CSV text: commas, `"`-quoted fields with `""` escapes, CRLF or LF line ends.
/// A UTF-8 byte-order mark is skipped; blank lines are dropped.
pub fn parse(text: &str) -> Vec<Vec<String>> {
    let mut reader = Reader::default();
    reader.feed(text);
    reader.finish()
}

/// [`parse`], fed the text in pieces (a large file is read a slice at a time, so the
/// page can draw in between). Pieces may split a field, a quote or a line anywhere.
#[derive(Debug, Default)]
pub struct Reader {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: String,
    quoted: bool,
    /// Inside quotes, a `"` was the last character: the next one says whether it
    /// was an escaped `""` or the closing quote.
    quote_seen: bool,
    started: bool,
}

impl Reader {
    pub fn feed(&mut self, text: &str) {
        let text = if self.started { text } else { text.strip_prefix('\u{feff}').unwrap_or(text) };
        self.started |= !text.is_empty();
        for c in text.chars() {
            self.push(c);
        }
    }

    fn push(&mut self, c: char) {
        if std::mem::take(&mut self.quote_seen) {
            if c == '"' {
                self.cell.push('"');
                return;
            }
            self.quoted = false;
        }
        match (self.quoted, c) {
            (true, '"') => self.quote_seen = true,
            (true, c) => self.cell.push(c),
            (false, '"') if self.cell.is_empty() => self.quoted = true,
            (false, ',') => self.row.push(std::mem::take(&mut self.cell)),
            (false, '\r') => {}
            (false, '\n') => {
                self.row.push(std::mem::take(&mut self.cell));
                if !(self.row.len() == 1 && self.row[0].is_empty()) {
                    self.rows.push(std::mem::take(&mut self.row));
                } else {
                    self.row.clear();
                }
            }
            (false, c) => self.cell.push(c),
        }
    }

    /// The rows, the last one ended by the end of the text.
    pub fn finish(mut self) -> Vec<Vec<String>> {
        if !self.cell.is_empty() || !self.row.is_empty() {
            self.row.push(self.cell);
            self.rows.push(self.row);
        }
        self.rows
    }
}

/// Write rows as CSV, quoting only where needed. Cells that a spreadsheet would run as
/// a formula (`=`, `+`, `-`, `@`, a tab or a carriage return first, as OWASP lists them)
/// are prefixed with `'` (CSV injection).
pub fn write(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| {
                let c = if c.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{c}") } else { c.clone() };
                if c.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c
                }
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Guess the field for a header ("Phone number" → phone, "公司" → company): see
/// [`crate::fields::guess`], over the import words of [`crate::fields::CUSTOMER_FIELDS`].
pub fn guess_field(header: &str) -> Option<&'static str> {
    crate::fields::guess(header)
}

/// Why an import row is rejected (the app says it in the user's language; `Display`
/// is the English).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    NoName,
    Phone(String),
    Email(String),
    Status(String),
    /// A custom field's value that its type does not take: the field's name, the value.
    Custom(String, String),
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowProblem::NoName => write!(f, "no name"),
            RowProblem::Phone(v) => write!(f, "not a phone number: {v:?}"),
            RowProblem::Email(v) => write!(f, "not an email address: {v:?}"),
            RowProblem::Status(v) => write!(f, "unknown status {v:?}"),
            RowProblem::Custom(label, v) => write!(f, "not a valid {label}: {v:?}"),
        }
    }
}

/// Turn one CSV row into the field writes of a new customer, or a reason to reject it.
/// `mapping[i]` is the field column `i` goes to (`None`: ignore the column).
pub fn row_to_customer(mapping: &[Option<&str>], row: &[String]) -> Result<Vec<(String, Option<Value>)>, RowProblem> {
    row_to_customer_with(mapping, row, &[])
}

/// The same, with the team's custom fields as possible targets (validated by type).
pub fn row_to_customer_with(
    mapping: &[Option<&str>],
    row: &[String],
    custom: &[crate::custom::FieldDef],
) -> Result<Vec<(String, Option<Value>)>, RowProblem> {
    let named = mapping.iter().zip(row).any(|(m, cell)| *m == Some(field::NAME) && !cell.trim().is_empty());
    if !named {
        return Err(RowProblem::NoName);
    }
    let mut out: Vec<(String, Option<Value>)> =
        vec![(field::KIND.into(), Some(Value::Text(EntityKind::Customer.as_str().into())))];
    for (i, target) in mapping.iter().enumerate() {
        let (Some(target), Some(cell)) = (target, row.get(i)) else { continue };
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let value = match *target {
            f if f == field::TAGS => Value::List(
                cell.split([';', ',', '|']).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect(),
            ),
            f if f == field::STATUS => match Status::from_text(cell) {
                Some(s) => Value::Text(s.as_str().into()),
                None => return Err(RowProblem::Status(cell.to_owned())),
            },
            f if f == field::EMAIL => {
                if !(cell.contains('@') && cell.len() <= 254 && !cell.contains(char::is_whitespace)) {
                    return Err(RowProblem::Email(cell.to_owned()));
                }
                Value::Text(cell.to_owned())
            }
            f if f == field::PHONE => {
                let digits = cell.chars().filter(char::is_ascii_digit).count();
                if !(5..=20).contains(&digits) || cell.chars().any(|c| !(c.is_ascii_digit() || " +-()".contains(c))) {
                    return Err(RowProblem::Phone(cell.to_owned()));
                }
                out.push((field::PHONE_MASKED.into(), Some(Value::Text(mask_phone(cell)))));
                Value::Text(cell.to_owned())
            }
            f => match custom.iter().find(|d| d.field_name() == f) {
                Some(def) => match def.value_of(cell) {
                    Ok(Some(v)) => v,
                    Ok(None) => continue,
                    Err(_) => return Err(RowProblem::Custom(def.label.clone(), cell.to_owned())),
                },
                None if f.starts_with(field::CUSTOM_PREFIX) || f.starts_with(crate::custom::SENSITIVE_PREFIX) => {
                    continue
                }
                None => Value::Text(cell.to_owned()),
            },
        };
        out.push(((*target).to_owned(), Some(value)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fed_in_pieces_reads_as_the_whole() {
        let text =
            "\u{feff}name,notes\r\n\"Li, Na\",\"said \"\"hi\"\"\nthen left\"\n\n张伟,\"\"\"x\"\"\"\r\nlast,\"q\"";
        let whole = parse(text);
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        for &a in &cuts {
            for &b in cuts.iter().filter(|&&b| b >= a) {
                let mut r = Reader::default();
                for piece in [&text[..a], &text[a..b], &text[b..]] {
                    r.feed(piece);
                }
                assert_eq!(r.finish(), whole, "cut at {a} and {b}");
            }
        }
    }

    #[test]
    fn parses_quotes_escapes_and_line_ends() {
        let rows = parse("\u{feff}name,notes\r\n\"Li, Na\",\"said \"\"hi\"\"\nthen left\"\n\nZhang,x");
        assert_eq!(
            rows,
            vec![
                vec!["name".to_owned(), "notes".to_owned()],
                vec!["Li, Na".to_owned(), "said \"hi\"\nthen left".to_owned()],
                vec!["Zhang".to_owned(), "x".to_owned()],
            ]
        );
    }

    #[test]
    fn writes_what_it_reads_and_defuses_formulas() {
        let rows = vec![vec!["a,b".to_owned(), "q\"q".to_owned(), "=1+1".to_owned(), "plain".to_owned()]];
        let text = write(&rows);
        assert_eq!(
            parse(&text),
            vec![vec!["a,b".to_owned(), "q\"q".to_owned(), "'=1+1".to_owned(), "plain".to_owned()]]
        );
        // A leading tab or carriage return hides a formula from the first check of some
        // spreadsheets; defused too.
        for cell in ["\t=cmd|' /C calc'!A0", "\r=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(1)"] {
            let back = parse(&write(&[vec![cell.to_owned()]]));
            assert_eq!(back[0][0], format!("'{cell}"), "{cell:?}");
        }
    }

    #[test]
    fn maps_rows_and_explains_rejections() {
        let headers = ["Customer name", "Mobile", "E-mail", "Tags", "Stage", "Whatever"];
        let mapping: Vec<Option<&str>> = headers.iter().map(|h| guess_field(h)).collect();
        assert_eq!(
            mapping,
            vec![
                Some(field::NAME),
                Some(field::PHONE),
                Some(field::EMAIL),
                Some(field::TAGS),
                Some(field::STATUS),
                None
            ]
        );
        let row = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok =
            row_to_customer(&mapping, &row(&["Li", "138 1234 5678", "li@x.cn", "vip; steel", "Lead", "?"])).unwrap();
        assert!(ok.contains(&(field::TAGS.into(), Some(Value::List(vec!["vip".into(), "steel".into()])))));
        assert!(ok.contains(&(field::STATUS.into(), Some(Value::Text("lead".into())))));
        let old = row_to_customer(&mapping, &row(&["Li", "", "", "", "Negotiation", ""])).unwrap();
        assert!(
            old.contains(&(field::STATUS.into(), Some(Value::Text("prospect".into())))),
            "an old stage reads as its status"
        );
        let zh = row_to_customer(&mapping, &row(&["李", "", "", "", "成交客户", ""])).unwrap();
        assert!(zh.contains(&(field::STATUS.into(), Some(Value::Text("customer".into())))));
        assert_eq!(row_to_customer(&mapping, &row(&["", "1", "", "", "", ""])).unwrap_err(), RowProblem::NoName);
        assert_eq!(
            row_to_customer(&mapping, &row(&["Li", "call me", "", "", "", ""])).unwrap_err(),
            RowProblem::Phone("call me".into())
        );
        assert!(row_to_customer(&mapping, &row(&["Li", "", "nope", "", "", ""]))
            .unwrap_err()
            .to_string()
            .contains("email"));
        assert!(row_to_customer(&mapping, &row(&["Li", "", "", "", "won-ish", ""]))
            .unwrap_err()
            .to_string()
            .contains("status"));

        // Custom fields are targets too, validated by their type.
        let value = crate::custom::FieldDef {
            key: "value".into(),
            label: "Contract value".into(),
            kind: crate::custom::Kind::Money,
            sensitive: true,
            options: vec![],
        };
        let map = [Some(field::NAME), Some("custom_s.value")];
        let ok = row_to_customer_with(&map, &row(&["Li", "12,000"]), std::slice::from_ref(&value)).unwrap();
        assert!(ok.contains(&("custom_s.value".into(), Some(Value::Int(1_200_000)))));
        let bad = row_to_customer_with(&map, &row(&["Li", "a lot"]), std::slice::from_ref(&value)).unwrap_err();
        assert_eq!(bad, RowProblem::Custom("Contract value".into(), "a lot".into()));
    }
}
