//! CSV import (column mapping with a preview, progress, a summary of what was imported
//! and what was rejected and why) and CSV export of what this user can read. Parsing
//! and mapping run in the browser; the server only ever receives sealed records.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::csv::{self, guess_field, row_to_customer_with};

use crate::i18n::{t, tf};
use shared::domain::field;
use shared::ids::RecordId;
use shared::record::Value;
use wasm_bindgen::JsCast;

use crate::use_ws;

const BATCH: usize = 500;
/// Rows mapped and checked for duplicates between two frames.
const CHECK_SLICE: usize = 2_000;
/// Bytes of CSV text parsed between two frames (a 100,000-row file is ~10 MB).
const PARSE_SLICE: usize = 256 * 1024;

/// Parse CSV text a slice at a time, yielding to the page in between: a large file's
/// parse no longer holds the page for most of a second.
async fn parse_in_slices(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::default();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(PARSE_SLICE);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        reader.feed(&rest[..end]);
        rest = &rest[end..];
        if !rest.is_empty() {
            crate::compute::yield_now().await;
        }
    }
    reader.finish()
}

#[derive(Clone, Default, PartialEq)]
struct Summary {
    imported: usize,
    merged: usize,
    skipped: usize,
    rejected: Vec<(usize, String)>,
}

/// The encodings a user may choose to read a file in (the browser decodes them all):
/// label for the decoder, name shown.
const ENCODINGS: [(&str, &str); 6] = [
    ("utf-8", "UTF-8"),
    ("gb18030", "GB18030 (GBK)"),
    ("big5", "Big5 (繁體)"),
    ("shift_jis", "Shift_JIS"),
    ("euc-kr", "EUC-KR"),
    ("windows-1252", "Windows-1252 (Western)"),
];

/// The file's bytes.
async fn read_file(input: web_sys::HtmlInputElement) -> Result<js_sys::ArrayBuffer, String> {
    let file = input.files().and_then(|f| f.get(0)).ok_or(t("import.choose_file"))?;
    let bytes = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await.map_err(|_| t("import.unreadable"))?;
    Ok(bytes.unchecked_into())
}

/// The text in `label`'s encoding (`None` if the bytes are not valid in it).
fn decode(bytes: &js_sys::ArrayBuffer, label: &str) -> Option<String> {
    let options = web_sys::TextDecoderOptions::new();
    options.set_fatal(true);
    web_sys::TextDecoder::new_with_label_and_options(label, &options).ok()?.decode_with_buffer_source(bytes).ok()
}

/// Read as the user chose, or guess: UTF-8 when the bytes are valid UTF-8 (a
/// byte-order mark dropped), else GB18030 — what Excel on Chinese Windows saves a CSV
/// in (GBK is a subset of it).
fn decode_as(bytes: &js_sys::ArrayBuffer, chosen: &str) -> Result<(String, &'static str), String> {
    let named = |label: &str| ENCODINGS.iter().find(|(l, _)| *l == label).map_or("?", |(_, n)| *n);
    if !chosen.is_empty() {
        return decode(bytes, chosen)
            .map(|text| (text, named(chosen)))
            .ok_or_else(|| tf("import.not_in_encoding", &[("encoding", &named(chosen))]));
    }
    match decode(bytes, "utf-8") {
        Some(text) => Ok((text, "UTF-8")),
        None => {
            decode(bytes, "gb18030").map(|text| (text, named("gb18030"))).ok_or_else(|| t("import.not_text").into())
        }
    }
}

/// Likely duplicates listed one by one; the rest follow "Skip all" / "Create all".
const SHOWN_MATCHES: usize = 200;

/// A record's field writes.
type Edit = (RecordId, Vec<(String, Option<Value>)>);

/// What to do with an import row that looks like a customer already there.
#[derive(Clone, Copy, PartialEq)]
enum Choice {
    Skip,
    Merge,
    Create,
}

/// Rows ready to import, waiting for the user's choice on the likely duplicates.
#[derive(Clone)]
struct Review {
    prepared: Vec<Edit>,
    rejected: Vec<(usize, String)>,
    /// Per likely duplicate: its row in `prepared`, its spreadsheet row number, what
    /// it looks like (an existing customer, or an earlier row), why, and the choice.
    matches: Vec<(shared::duplicates::ImportMatch, usize, RwSignal<Choice>)>,
}

#[component]
pub fn ImportExport() -> impl IntoView {
    let rows = RwSignal::new(Vec::<Vec<String>>::new());
    let mapping = RwSignal::new(Vec::<String>::new());
    let progress = RwSignal::new(None::<(usize, usize)>);
    let summary = RwSignal::new(None::<Summary>);
    let error = RwSignal::new(None::<String>);
    let read_as = RwSignal::new(String::new());
    let encoding = RwSignal::new(String::new());
    let bytes = StoredValue::new_local(None::<js_sys::ArrayBuffer>);
    let has_file = RwSignal::new(false);
    let is_xlsx = RwSignal::new(false);
    let review = RwSignal::new_local(None::<Review>);
    let custom_defs = crate::pages::custom_fields::use_custom_fields();

    // Which reading of the file is the latest: one started for an earlier file (or
    // encoding) that ends later is dropped.
    let reading = StoredValue::new(0u32);
    let parse = move || {
        let Some(b) = bytes.get_value() else { return };
        reading.update_value(|n| *n += 1);
        let this = reading.get_value();
        spawn_local(async move {
            let bytes_vec = js_sys::Uint8Array::new(&b).to_vec();
            let is_workbook = bytes_vec.starts_with(b"PK\x03\x04");
            let read = if is_workbook {
                shared::xlsx::read(&bytes_vec).map(|rows| (rows, t("import.excel_first_sheet"))).map_err(|e| match e {
                    shared::xlsx::XlsxError::TooLarge => t("import.workbook_too_large").to_owned(),
                    e => tf("import.bad_workbook", &[("error", &e)]),
                })
            } else {
                match decode_as(&b, &encoding.get_untracked()) {
                    Ok((text, used)) => Ok((parse_in_slices(&text).await, used)),
                    Err(e) => Err(e),
                }
            };
            if reading.try_get_value() != Some(this) {
                return;
            }
            is_xlsx.set(is_workbook);
            match read {
                Ok((parsed, used)) => {
                    read_as.set(tf("import.read_as", &[("encoding", &used)]));
                    let guessed = parsed
                        .first()
                        .map(|h| {
                            h.iter()
                                .map(|c| {
                                    let custom = custom_defs.with_untracked(|defs| {
                                        defs.iter()
                                            .find(|d| d.label.trim().eq_ignore_ascii_case(c.trim()))
                                            .map(|d| d.field_name())
                                    });
                                    custom.unwrap_or_else(|| guess_field(c).unwrap_or_default().to_owned())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    mapping.set(guessed);
                    rows.set(parsed);
                    error.set(None);
                }
                Err(e) => {
                    rows.set(Vec::new());
                    error.set(Some(e));
                }
            }
        });
    };
    let on_file = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return };
        summary.set(None);
        review.set(None);
        spawn_local(async move {
            match read_file(input).await {
                Ok(b) => {
                    bytes.set_value(Some(b));
                    has_file.set(true);
                    parse();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    // Write the prepared rows (minus skipped ones) and the merges, in batches, with
    // progress; then the summary and the audit entry.
    let write = move |prepared: Vec<Edit>, merges: Vec<Edit>, rejected: Vec<(usize, String)>, skipped: usize| {
        let ws = use_ws();
        let total = prepared.len() + merges.len() + rejected.len() + skipped;
        progress.set(Some((0, total)));
        spawn_local(async move {
            let mut done = rejected.len() + skipped;
            let (mut imported, mut merged) = (0, 0);
            for (chunk, is_merge) in
                prepared.chunks(BATCH).map(|c| (c, false)).chain(merges.chunks(BATCH).map(|c| (c, true)))
            {
                if let Err(e) = ws.edit_many(chunk.to_vec()).await {
                    error.set(Some(tf("import.stopped", &[("error", &e)])));
                    break;
                }
                if is_merge {
                    merged += chunk.len();
                } else {
                    imported += chunk.len();
                }
                done += chunk.len();
                progress.set(Some((done, total)));
                // Let the page paint the progress bar between batches.
                gloo_timers::future::TimeoutFuture::new(0).await;
            }
            progress.set(Some((total, total)));
            let detail = format!(
                "imported {imported} customers from a CSV file ({merged} merged into existing ones, {skipped} duplicates skipped, {} rows rejected)",
                rejected.len()
            );
            summary.set(Some(Summary { imported, merged, skipped, rejected }));
            // Upload in the background; the status bar counts the pending edits down.
            ws.request_sync();
            ws.audit(shared::audit::AuditAction::Import, None, None, detail).await;
        });
    };

    let run_reviewed = move |_| {
        let Some(r) = review.get_untracked() else { return };
        review.set(None);
        let ws = use_ws();
        let index = ws.index.get_untracked();
        let mut drop = vec![false; r.prepared.len()];
        let (mut merges, mut skipped) = (Vec::new(), 0);
        for (m, _, choice) in &r.matches {
            match choice.get_untracked() {
                Choice::Create => {}
                Choice::Skip => {
                    drop[m.row] = true;
                    skipped += 1;
                }
                Choice::Merge => {
                    drop[m.row] = true;
                    if let Some(doc) = m.existing.and_then(|id| index.records.get(&id)) {
                        let writes = shared::duplicates::fill_blanks(doc, &r.prepared[m.row].1);
                        if !writes.is_empty() {
                            merges.push((m.existing.expect("checked above"), writes));
                        }
                    }
                }
            }
        }
        let kept = r.prepared.into_iter().zip(drop).filter(|(_, d)| !d).map(|(p, _)| p).collect();
        write(kept, merges, r.rejected, skipped);
    };

    // Rows being mapped and checked for duplicates (before the review or the writing).
    let checking = RwSignal::new(false);
    let run_import = move |_| {
        let all = rows.get_untracked();
        let map: Vec<String> = mapping.get_untracked();
        let map_ref: Vec<Option<&str>> = map.iter().map(|m| (!m.is_empty()).then_some(m.as_str())).collect();
        if !map_ref.contains(&Some(field::NAME)) {
            error.set(Some(t("import.map_name").into()));
            return;
        }
        let defs = custom_defs.get_untracked();
        let ws = use_ws();
        checking.set(true);
        // Scoped: `write` reads the workspace from the page's context.
        leptos::task::spawn_local_scoped(async move {
            let dup = ws.duplicate_index_sliced().await;
            let map_ref: Vec<Option<&str>> = map.iter().map(|m| (!m.is_empty()).then_some(m.as_str())).collect();
            let body = &all[1.min(all.len())..];
            let mut prepared = Vec::with_capacity(body.len());
            let mut sheet_rows = Vec::with_capacity(body.len());
            let mut rejected = Vec::new();
            // Likely duplicates (of customers here, or of earlier rows) wait for a choice.
            let mut check = shared::duplicates::ImportCheck::default();
            // A slice of rows at a time, the page drawing in between (100,000 rows in one
            // go held it for most of a second).
            for (slice, rows) in body.chunks(CHECK_SLICE).enumerate() {
                for (j, row) in rows.iter().enumerate() {
                    let i = slice * CHECK_SLICE + j;
                    // Row numbers as a spreadsheet shows them: the header is row 1.
                    match row_to_customer_with(&map_ref, row, &defs) {
                        Ok(fields) => {
                            check.row(&dup, prepared.len(), &fields);
                            prepared.push((RecordId::random(), fields));
                            sheet_rows.push(i + 2);
                        }
                        Err(problem) => rejected.push((i + 2, crate::i18n::row_problem(&problem))),
                    }
                }
                gloo_timers::future::TimeoutFuture::new(0).await;
            }
            checking.set(false);
            if check.matches.is_empty() {
                write(prepared, Vec::new(), rejected, 0);
            } else {
                let matches = check
                    .matches
                    .into_iter()
                    .map(|m| {
                        let n = sheet_rows[m.row];
                        (m, n, RwSignal::new(Choice::Skip))
                    })
                    .collect();
                review.set(Some(Review { prepared, rejected, matches }));
            }
        });
    };

    // Exports of everything go through an approval and the server's export endpoint
    // (admins approve their own; members wait for one), and are audited.
    let status = RwSignal::new(String::new());
    let fetched = RwSignal::new(0u64);
    let passphrase = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    // Excel reads a CSV as the system's legacy code page unless it starts with a
    // UTF-8 byte-order mark: with it, Chinese opens correctly.
    let for_excel = RwSignal::new(true);
    let export = move |kind: Export| {
        let sealed = kind == Export::Sealed;
        let ws = use_ws();
        let pass = passphrase.get_untracked();
        if sealed && pass.chars().count() < 10 {
            status.set(t("export.short_passphrase").into());
            return;
        }
        busy.set(true);
        // Read now: the user may leave the page while the export runs.
        let (defs, bom) = (custom_defs.get_untracked(), if for_excel.get_untracked() { "\u{feff}" } else { "" });
        spawn_local(async move {
            let result = async {
                let approval = ws.approved(shared::api::ApprovalKind::ExportAll, 0, None, &|m| status.set(m)).await?;
                status.set(t("export.exporting").into());
                let records = ws.export_records(&approval, fetched).await?;
                let n = records.len();
                let what = if sealed {
                    status.set(t("export.encrypting").into());
                    let file = shared::export::seal(
                        &shared::crypto::passphrase::Passphrase::new(pass),
                        shared::crypto::passphrase::KdfParams::DEFAULT,
                        &records,
                    )
                    .map_err(|e| e.to_string())?;
                    download(
                        "quietdesk-export.qdx",
                        &js_sys::Uint8Array::from(file.as_slice()),
                        "application/octet-stream",
                    )?;
                    "an encrypted export file"
                } else {
                    let docs: Vec<&shared::record::RecordDoc> = records.iter().map(|(_, d)| d).collect();
                    let table = shared::fields::export_table(&docs, &defs);
                    if kind == Export::Xlsx {
                        let file = shared::xlsx::write(t("nav.customers"), &table);
                        download("quietdesk-customers.xlsx", &js_sys::Uint8Array::from(file.as_slice()), XLSX_MIME)?;
                        "an Excel workbook"
                    } else {
                        download(
                            "quietdesk-customers.csv",
                            &format!("{bom}{}", csv::write(&table)).into(),
                            "text/csv;charset=utf-8",
                        )?;
                        "a CSV file"
                    }
                };
                let approver = approval.approver.map(|a| a.to_string()).unwrap_or_default();
                let detail = format!("exported {n} records as {what} (approved by {approver})");
                ws.audit(shared::audit::AuditAction::Export, None, None, detail).await;
                Ok::<_, String>(n)
            }
            .await;
            busy.set(false);
            status.set(match result {
                Ok(n) => tf("export.done", &[("n", &n)]),
                Err(e) => tf("export.failed", &[("error", &e)]),
            });
        });
    };
    let restore_pass = RwSignal::new(String::new());
    let restore_note = RwSignal::new(String::new());
    let restore = move |_| {
        let ws = use_ws();
        let pass = restore_pass.get_untracked();
        let input = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("restore-file"))
            .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok());
        spawn_local(async move {
            let Some(file) = input.and_then(|i| i.files()).and_then(|f| f.get(0)) else {
                restore_note.set(t("restore.choose_file").into());
                return;
            };
            restore_note.set(t("restore.decrypting").into());
            let Ok(buf) = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await else {
                restore_note.set(t("import.unreadable").into());
                return;
            };
            let bytes = js_sys::Uint8Array::new(&buf).to_vec();
            restore_note.set(match ws.restore_export(&bytes, pass).await {
                Ok((restored, kept)) => tf("restore.done", &[("n", &restored), ("kept", &kept)]),
                Err(e) => e,
            });
        });
    };

    let header = move || rows.with(|r| r.first().cloned().unwrap_or_default());
    let preview = move || rows.with(|r| r.iter().skip(1).take(5).cloned().collect::<Vec<_>>());
    let count = move || rows.with(|r| r.len().saturating_sub(1));
    view! {
        <section class="page">
            <h1>{t("nav.import")}</h1>
            <section class="card form">
                <h3>{t("import.title")}</h3>
                <button type="button" on:click=move |_| download_template(&custom_defs.get_untracked())>{t("import.template")}</button>
                <label for="csv-file">{t("import.csv_file")}</label>
                <input id="csv-file" type="file" accept=".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" on:change=on_file />
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                {move || (has_file.get() && !is_xlsx.get()).then(|| view! {
                    <div class="field field--inline">
                        <label for="csv-encoding">{t("import.encoding")}</label>
                        <select id="csv-encoding" on:change=move |ev| { encoding.set(event_target_value(&ev)); parse(); }>
                            <option value="">{t("import.encoding_auto")}</option>
                            {ENCODINGS.iter().map(|(label, name)| view! { <option value=*label>{*name}</option> }.into_any()).collect::<Vec<AnyView>>()}
                        </select>
                    </div>
                })}
                {move || (!rows.with(Vec::is_empty)).then(|| view! {
                    <p class="hint">{read_as}</p>
                    <div class="table-wrap">
                        <table aria-label=t("import.preview")>
                            <thead>
                                <tr>
                                    {move || header().into_iter().enumerate().map(|(i, h)| {
                                        let id = format!("map-{i}");
                                        view! {
                                            <th>
                                                <label for=id.clone()>{tf("import.column", &[("n", &(i + 1)), ("header", &h)])}</label>
                                                <select id=id
                                                    prop:value=move || mapping.with(|m| m.get(i).cloned().unwrap_or_default())
                                                    on:change=move |ev| {
                                                        let v = event_target_value(&ev);
                                                        mapping.update(|m| { if m.len() <= i { m.resize(i + 1, String::new()) } m[i] = v; });
                                                    }>
                                                    <option value="">{t("import.ignore")}</option>
                                                    {shared::fields::importable().map(|f| view! { <option value=f.name>{t(f.label)}</option> }).collect_view()}
                                                    {move || custom_defs.get().into_iter().map(|d| { let v = d.field_name(); view! { <option value=v>{d.label}</option> }.into_any() }).collect::<Vec<AnyView>>()}
                                                </select>
                                            </th>
                                        }
                                    }).collect_view()}
                                </tr>
                            </thead>
                            <tbody>
                                {move || preview().into_iter().map(|r| view! {
                                    <tr>{r.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <button type="button" class="primary" on:click=run_import disabled=move || checking.get()>{move || tf("import.run", &[("n", &count())])}</button>
                    {move || checking.get().then(|| view! { <p role="status" class="busy">{tf("import.checking", &[("n", &count())])}</p> })}
                })}
                {move || review.get().map(|r| review_view(r, run_reviewed, review))}
                {move || progress.get().map(|(done, total)| view! {
                    <label for="import-progress">{tf("import.progress", &[("n", &done), ("total", &total)])}</label>
                    <progress id="import-progress" max=total.max(1).to_string() value=done.to_string()></progress>
                })}
                {move || summary.get().map(|s| view! {
                    <div role="status" aria-label=t("import.summary") class="summary-box">
                        <p>{tf("import.summary_text", &[("n", &s.imported), ("rejected", &s.rejected.len())])}</p>
                        {(s.merged + s.skipped > 0).then(|| view! {
                            <p>{tf("import.summary_duplicates", &[("merged", &s.merged), ("skipped", &s.skipped)])}</p>
                        })}
                        <ul>{s.rejected.into_iter().take(100).map(|(row, why)| view! { <li>{tf("import.rejected_row", &[("row", &row), ("why", &why)])}</li> }).collect_view()}</ul>
                    </div>
                })}
            </section>
            <section class="card form">
                <h3>{t("export.title")}</h3>
                <p>{t("export.explain")}</p>
                <button type="button" disabled=busy on:click=move |_| export(Export::Csv)>{t("export.csv")}</button>
                <button type="button" disabled=busy on:click=move |_| export(Export::Xlsx)>{t("export.xlsx")}</button>
                <div class="field--check">
                    <input id="export-bom" type="checkbox" prop:checked=for_excel on:change=move |ev| for_excel.set(event_target_checked(&ev)) />
                    <label for="export-bom">{t("export.for_excel")}</label>
                </div>
                <p class="hint">{t("export.csv_hint")}</p>
                <label for="export-pass">{t("export.passphrase")}</label>
                <input id="export-pass" type="password" autocomplete="new-password" prop:value=passphrase
                    on:input=move |ev| passphrase.set(event_target_value(&ev)) />
                <button type="button" class="primary" disabled=busy on:click=move |_| export(Export::Sealed)>{t("export.encrypted")}</button>
                {move || busy.get().then(|| view! {
                    <label for="export-progress">{move || tf("export.fetched", &[("n", &fetched.get())])}</label>
                    <progress id="export-progress"></progress>
                })}
                <p role="status" aria-label=t("export.status")>{move || status.get()}</p>
            </section>
            <section class="card form">
                <h3>{t("restore.title")}</h3>
                <p>{t("restore.explain")}</p>
                <label for="restore-file">{t("restore.file")}</label>
                <input id="restore-file" type="file" accept=".qdx" />
                <label for="restore-pass">{t("restore.passphrase")}</label>
                <input id="restore-pass" type="password" prop:value=restore_pass
                    on:input=move |ev| restore_pass.set(event_target_value(&ev)) />
                <button type="button" on:click=restore>{t("restore.run")}</button>
                <p role="status" aria-label=t("restore.status")>{move || restore_note.get()}</p>
            </section>
        </section>
    }
}

const XLSX_MIME: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[derive(Clone, Copy, PartialEq)]
enum Export {
    Csv,
    Xlsx,
    /// Everything, sealed under a file passphrase.
    Sealed,
}

/// The import template: a workbook with every column the import knows as its header,
/// in the user's language (the import maps them back), custom fields included.
fn download_template(custom: &[shared::custom::FieldDef]) {
    let mut header: Vec<String> = shared::fields::importable().map(|f| t(f.label).to_owned()).collect();
    header.extend(custom.iter().map(|d| d.label.clone()));
    let file = shared::xlsx::write(t("nav.customers"), &[header]);
    if let Err(e) = download("quietdesk-import-template.xlsx", &js_sys::Uint8Array::from(file.as_slice()), XLSX_MIME) {
        crate::toast(&e);
    }
}

pub(crate) fn download(name: &str, part: &wasm_bindgen::JsValue, mime: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(part);
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob =
        web_sys::Blob::new_with_blob_sequence_and_options(&parts, &opts).map_err(|_| "Could not build the file.")?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "Could not build the file.")?;
    let doc = web_sys::window().and_then(|w| w.document()).ok_or("No document.")?;
    let a: web_sys::HtmlAnchorElement =
        doc.create_element("a").map_err(|_| "No anchor.")?.dyn_into().map_err(|_| "No anchor.")?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// The likely duplicates of an import, each with "skip / merge / create anyway" (merge
/// only into a customer already here), and the button that imports with those choices.
fn review_view(
    r: Review,
    run: impl Fn(leptos::ev::MouseEvent) + 'static,
    review: RwSignal<Option<Review>, LocalStorage>,
) -> AnyView {
    let index = use_ws().index.get_untracked();
    let name_of = |id: &RecordId| {
        index.records.get(id).map(|d| d.text(field::NAME).unwrap_or_default().to_owned()).unwrap_or_default()
    };
    let row_name = |row: usize| {
        r.prepared[row]
            .1
            .iter()
            .find(|(f, _)| f == field::NAME)
            .and_then(|(_, v)| v.as_ref()?.as_text().map(str::to_owned))
            .unwrap_or_default()
    };
    let all = |c: Choice| {
        let signals: Vec<RwSignal<Choice>> = r.matches.iter().map(|m| m.2).collect();
        move |_| signals.iter().for_each(|s| s.set(c))
    };
    let n = r.matches.len();
    view! {
        <section class="card summary-box" aria-labelledby="dupes-title">
            <h3 id="dupes-title">{tf("import.duplicates_title", &[("n", &n)])}</h3>
            <p class="hint">{t("import.duplicates_explain")}</p>
            <div class="actions">
                <button type="button" on:click=all(Choice::Skip)>{t("import.skip_all")}</button>
                <button type="button" on:click=all(Choice::Create)>{t("import.create_all")}</button>
            </div>
            <div class="table-wrap">
                <table aria-labelledby="dupes-title">
                    <thead><tr>
                        <th scope="col">{t("import.row")}</th>
                        <th scope="col">{t("customer.name")}</th>
                        <th scope="col">{t("import.looks_like")}</th>
                        <th scope="col">{t("import.what_to_do")}</th>
                    </tr></thead>
                    <tbody>
                        {r.matches.iter().take(SHOWN_MATCHES).map(|(m, sheet_row, choice)| {
                            let choice = *choice;
                            let select_id = format!("dupe-{}", m.row);
                            let like = match (m.existing, m.earlier_row) {
                                (Some(id), _) => view! { <a href=crate::route::customer(&id.to_string())>{name_of(&id)}</a> }.into_any(),
                                (None, Some(row)) => view! { <span>{tf("import.earlier_row", &[("name", &row_name(row))])}</span> }.into_any(),
                                _ => view! { <span></span> }.into_any(),
                            };
                            let why: Vec<&str> = m.reasons.iter().map(|r| crate::pages::duplicates::reason_text(*r)).collect();
                            let can_merge = m.existing.is_some();
                            let name = row_name(m.row);
                            view! {
                                <tr>
                                    <td>{sheet_row.to_string()}</td>
                                    <td>{name.clone()}</td>
                                    <td>{like} " " <span class="list__meta">{why.join(", ")}</span></td>
                                    <td>
                                        <label class="list__meta" for=select_id.clone()>{tf("import.choice_for", &[("name", &name)])}</label>
                                        <select id=select_id on:change=move |ev| choice.set(match event_target_value(&ev).as_str() {
                                            "merge" => Choice::Merge,
                                            "create" => Choice::Create,
                                            _ => Choice::Skip,
                                        })>
                                            <option value="skip" selected=move || choice.get() == Choice::Skip>{t("import.skip")}</option>
                                            {can_merge.then(|| view! { <option value="merge" selected=move || choice.get() == Choice::Merge>{t("import.merge")}</option> })}
                                            <option value="create" selected=move || choice.get() == Choice::Create>{t("import.create_anyway")}</option>
                                        </select>
                                    </td>
                                </tr>
                            }.into_any()
                        }).collect::<Vec<AnyView>>()}
                    </tbody>
                </table>
            </div>
            {(n > SHOWN_MATCHES).then(|| view! { <p class="hint">{tf("import.more_duplicates", &[("n", &(n - SHOWN_MATCHES))])}</p> })}
            <div class="actions">
                <button type="button" class="primary" on:click=run>{tf("import.run_with_choices", &[("n", &r.prepared.len())])}</button>
                <button type="button" on:click=move |_| review.set(None)>{t("common.cancel")}</button>
            </div>
        </section>
    }
    .into_any()
}
