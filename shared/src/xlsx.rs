//! Excel workbooks (.xlsx) in and out, in the browser: the first sheet's cells as rows
//! of text (for the same mapping, preview and checks as a CSV), and rows written as a
//! one-sheet workbook (export and the import template). An .xlsx is a ZIP of XML parts
//! (ECMA-376); the `zip` and `quick-xml` crates read and write them.

use std::io::{Cursor, Read, Write};

use quick_xml::events::Event;
use quick_xml::Reader;

/// Why a file could not be read as a workbook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XlsxError {
    #[error("not an Excel workbook (.xlsx)")]
    NotAWorkbook,
    #[error("the workbook has no sheet")]
    NoSheet,
    #[error("the workbook is damaged: {0}")]
    Damaged(String),
    /// More cells (empty ones it declares included) than an import takes.
    #[error("the sheet declares more cells than an import takes")]
    TooLarge,
}

/// Limits, so a hostile file cannot exhaust the tab: what one part may inflate to,
/// and the cells a sheet may hold.
const MAX_PART: u64 = 256 * 1024 * 1024;
/// The most cells a sheet may make this reader hold, empty ones included: rows a
/// `<row r>` skips to and columns a `<c r>` jumps to count as well as the cells written,
/// so a file of a few bytes that declares a millionth row or column `XFD` in every row
/// cannot make the importing tab allocate gigabytes. 100,000 rows of 50 columns fit.
const MAX_CELLS: usize = 5_000_000;

fn part(zip: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<Option<String>, XlsxError> {
    let mut file = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(XlsxError::Damaged(e.to_string())),
    };
    if file.size() > MAX_PART {
        return Err(XlsxError::Damaged(format!("{name} is too large")));
    }
    let mut text = String::with_capacity(file.size() as usize);
    file.by_ref().take(MAX_PART).read_to_string(&mut text).map_err(|e| XlsxError::Damaged(e.to_string()))?;
    Ok(Some(text))
}

/// The text of every `<si>` (shared string), rich-text runs joined.
fn shared_strings(xml: &str) -> Result<Vec<String>, XlsxError> {
    let mut reader = Reader::from_str(xml);
    let (mut out, mut current, mut in_text, mut in_si) = (Vec::new(), String::new(), false, false);
    loop {
        match reader.read_event().map_err(|e| XlsxError::Damaged(e.to_string()))? {
            Event::Start(e) if e.local_name().as_ref() == b"si" => {
                in_si = true;
                current.clear();
            }
            Event::Start(e) if e.local_name().as_ref() == b"t" && in_si => in_text = true,
            Event::Text(t) if in_text => {
                current.push_str(&t.xml10_content().map_err(|e| XlsxError::Damaged(e.to_string()))?)
            }
            Event::GeneralRef(r) if in_text => current.push_str(&entity(&r)),
            Event::End(e) if e.local_name().as_ref() == b"t" => in_text = false,
            Event::End(e) if e.local_name().as_ref() == b"si" => {
                in_si = false;
                out.push(std::mem::take(&mut current));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// A character or entity reference (`&amp;`, `&#20013;`) as text.
fn entity(r: &quick_xml::events::BytesRef) -> String {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return c.to_string();
    }
    let name: &[u8] = r;
    match name {
        b"amp" => "&",
        b"lt" => "<",
        b"gt" => ">",
        b"quot" => "\"",
        b"apos" => "'",
        _ => "",
    }
    .to_owned()
}

/// `"BC12"` → column index 54 (0-based).
fn column_of(reference: &str) -> Option<usize> {
    let letters: Vec<u8> = reference.bytes().take_while(u8::is_ascii_alphabetic).collect();
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    Some(letters.iter().fold(0usize, |n, b| n * 26 + usize::from(b.to_ascii_uppercase() - b'A' + 1)) - 1)
}

/// The first sheet's rows, each cell as text (numbers as Excel wrote them, shared and
/// inline strings as their text); empty rows kept as empty, so row numbers match.
pub fn read(bytes: &[u8]) -> Result<Vec<Vec<String>>, XlsxError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| XlsxError::NotAWorkbook)?;
    let strings = match part(&mut zip, "xl/sharedStrings.xml")? {
        Some(xml) => shared_strings(&xml)?,
        None => Vec::new(),
    };
    // The first sheet in the workbook's order is `sheet1.xml` in files Excel, WPS and
    // LibreOffice write; fall back to the first worksheet part there is.
    let sheet = match part(&mut zip, "xl/worksheets/sheet1.xml")? {
        Some(xml) => xml,
        None => {
            let name = zip
                .file_names()
                .filter(|n| n.starts_with("xl/worksheets/") && n.ends_with(".xml"))
                .min()
                .map(str::to_owned)
                .ok_or(XlsxError::NoSheet)?;
            part(&mut zip, &name)?.ok_or(XlsxError::NoSheet)?
        }
    };
    let mut reader = Reader::from_str(&sheet);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let (mut cells, mut col, mut kind, mut value, mut in_value) = (0usize, 0usize, String::new(), String::new(), false);
    loop {
        match reader.read_event().map_err(|e| XlsxError::Damaged(e.to_string()))? {
            Event::Start(e) if e.local_name().as_ref() == b"row" => {
                let n = e
                    .try_get_attribute("r")
                    .ok()
                    .flatten()
                    .and_then(|a| std::str::from_utf8(&a.value).ok()?.parse::<usize>().ok());
                let index = n.map_or(rows.len(), |n| n.saturating_sub(1)).max(rows.len());
                cells = cells.saturating_add(index - rows.len() + 1);
                if cells > MAX_CELLS {
                    return Err(XlsxError::TooLarge);
                }
                rows.resize(index + 1, Vec::new());
                col = 0;
            }
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"c" => {
                let attr = |name: &[u8]| {
                    e.try_get_attribute(name).ok().flatten().and_then(|a| String::from_utf8(a.value.to_vec()).ok())
                };
                col = attr(b"r").as_deref().and_then(column_of).unwrap_or(col);
                kind = attr(b"t").unwrap_or_default();
                value.clear();
            }
            Event::Start(e) if matches!(e.local_name().as_ref(), b"v" | b"t") => in_value = true,
            Event::Text(t) if in_value => {
                value.push_str(&t.xml10_content().map_err(|e| XlsxError::Damaged(e.to_string()))?)
            }
            Event::GeneralRef(r) if in_value => value.push_str(&entity(&r)),
            Event::End(e) if matches!(e.local_name().as_ref(), b"v" | b"t") => in_value = false,
            Event::End(e) if e.local_name().as_ref() == b"c" => {
                let text = match kind.as_str() {
                    "s" => value.trim().parse::<usize>().ok().and_then(|i| strings.get(i)).cloned().unwrap_or_default(),
                    "b" => if value.trim() == "1" { "TRUE" } else { "FALSE" }.to_owned(),
                    _ => std::mem::take(&mut value),
                };
                if let Some(row) = rows.last_mut() {
                    if row.len() <= col {
                        cells = cells.saturating_add(col + 1 - row.len());
                        if cells > MAX_CELLS {
                            return Err(XlsxError::TooLarge);
                        }
                        row.resize(col + 1, String::new());
                    }
                    row[col] = text;
                }
                col += 1;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // Trailing empty rows mean nothing.
    while rows.last().is_some_and(|r| r.iter().all(String::is_empty)) {
        rows.pop();
    }
    Ok(rows)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Control characters other than tab and newlines are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// `0` → `"A"`, `27` → `"AB"`.
fn column_name(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).expect("ASCII letters")
}

/// A one-sheet workbook of `rows` (every cell a text cell, the first row bold as a
/// header), named `sheet`.
pub fn write(sheet: &str, rows: &[Vec<String>]) -> Vec<u8> {
    let mut data = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        data.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, cell) in row.iter().enumerate() {
            let style = if r == 0 { r#" s="1""# } else { "" };
            // Formula-looking text stays text (an inline string is never evaluated).
            data.push_str(&format!(
                r#"<c r="{}{}" t="inlineStr"{style}><is><t xml:space="preserve">{}</t></is></c>"#,
                column_name(c),
                r + 1,
                escape(cell)
            ));
        }
        data.push_str("</row>");
    }
    data.push_str("</sheetData></worksheet>");
    let parts: [(&str, String); 6] = [
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>"#.to_owned()),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_owned()),
        ("xl/workbook.xml", format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{}" sheetId="1" r:id="rId1"/></sheets></workbook>"#, escape(sheet))),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#.to_owned()),
        ("xl/styles.xml", r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf/><xf fontId="1" applyFont="1"/></cellXfs></styleSheet>"#.to_owned()),
        ("xl/worksheets/sheet1.xml", data),
    ];
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in parts {
        zip.start_file(name, options).expect("writing to memory");
        zip.write_all(text.as_bytes()).expect("writing to memory");
    }
    zip.finish().expect("writing to memory").into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_workbook_reads_back_cell_for_cell() {
        let rows = vec![
            vec!["姓名".to_owned(), "公司".to_owned(), "电话".to_owned()],
            vec!["张伟".to_owned(), "A & B <Ltd>".to_owned(), "13812345678".to_owned()],
            vec!["=1+1".to_owned(), String::new(), "line\nbreak".to_owned()],
        ];
        let bytes = write("客户", &rows);
        assert_eq!(&bytes[..2], b"PK");
        assert_eq!(
            read(&bytes).unwrap(),
            vec![rows[0].clone(), rows[1].clone(), vec!["=1+1".into(), String::new(), "line\nbreak".into()]]
        );
    }

    #[test]
    fn shared_strings_numbers_gaps_and_rich_text_as_excel_writes_them() {
        let sst = r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="3" uniqueCount="3"><si><t>Name</t></si><si><r><t>Li </t></r><r><rPr><b/></rPr><t>Wei</t></r></si><si><t>A&amp;B</t></si></sst>"#;
        let sheet = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="s"><v>2</v></c></row><row r="3"><c r="A3" t="s"><v>1</v></c><c r="B3"><v>12000.5</v></c><c r="C3" t="b"><v>1</v></c></row></sheetData></worksheet>"#;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        zip.start_file("xl/sharedStrings.xml", o).unwrap();
        zip.write_all(sst.as_bytes()).unwrap();
        zip.start_file("xl/worksheets/sheet1.xml", o).unwrap();
        zip.write_all(sheet.as_bytes()).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert_eq!(
            read(&bytes).unwrap(),
            vec![
                vec!["Name".to_owned(), String::new(), "A&B".to_owned()],
                vec![],
                vec!["Li Wei".to_owned(), "12000.5".to_owned(), "TRUE".to_owned()],
            ]
        );
    }

    fn workbook_of(sheet: &str) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("xl/worksheets/sheet1.xml", zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(sheet.as_bytes()).unwrap();
        zip.finish().unwrap().into_inner()
    }

    /// A few bytes that declare a millionth row again and again, or the last column in
    /// every row, are refused before the tab allocates what they declare.
    #[test]
    fn a_sheet_that_declares_huge_rows_or_columns_is_refused() {
        let open = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#;
        let close = "</sheetData></worksheet>";
        let far_rows: String =
            (1..=20).map(|i| format!(r#"<row r="{}"><c r="A1"><v>1</v></c></row>"#, i * 1_000_000)).collect();
        assert_eq!(read(&workbook_of(&format!("{open}{far_rows}{close}"))), Err(XlsxError::TooLarge));
        let wide: String = (1..=400).map(|i| format!(r#"<row r="{i}"><c r="XFD{i}"><v>1</v></c></row>"#)).collect();
        assert_eq!(read(&workbook_of(&format!("{open}{wide}{close}"))), Err(XlsxError::TooLarge));
        // What a real sheet with gaps declares is read.
        let fine = r#"<row r="1"><c r="A1"><v>1</v></c></row><row r="5000"><c r="Z5000"><v>2</v></c></row>"#;
        let rows = read(&workbook_of(&format!("{open}{fine}{close}"))).unwrap();
        assert_eq!((rows.len(), rows[4999].len(), rows[4999][25].as_str()), (5000, 26, "2"));
    }

    #[test]
    fn what_is_not_a_workbook_says_so() {
        assert_eq!(read(b"name,company\n"), Err(XlsxError::NotAWorkbook));
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("hello.txt", zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(b"hi").unwrap();
        assert_eq!(read(&zip.finish().unwrap().into_inner()), Err(XlsxError::NoSheet));
        assert_eq!(column_of("BC12"), Some(54));
        assert_eq!(column_name(54), "BC");
        assert_eq!(column_name(0), "A");
    }
}
