//! No markup reaches the page from anything but the app's own code: nowhere in the app
//! (its Rust, its page, its service worker and workers) is text turned into HTML —
//! no `inner_html`, no `innerHTML`/`outerHTML`, no `insertAdjacentHTML`, no
//! `document.write`, no `eval`. A server that could get its HTML into the page would run
//! script in the app's origin, which can reach everything an unlocked tab holds (see
//! SECURITY.md, "Script in the app's origin").

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, exts, out);
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e)) {
            out.push(path);
        }
    }
}

/// Ways a string becomes markup or code in a page (case-insensitive, so the Rust
/// attribute `inner_html` and the DOM's `innerHTML` are both caught).
const SINKS: &[&str] = &[
    "inner_html",
    "innerhtml",
    "outer_html",
    "outerhtml",
    "insertadjacenthtml",
    "insert_adjacent_html",
    "document.write",
    "eval(",
    "new function(",
    "srcdoc",
    "createcontextualfragment",
    "create_contextual_fragment",
];

#[test]
fn the_app_never_turns_text_into_markup() {
    let mut found = Vec::new();
    let mut list = Vec::new();
    files(&root().join("app/src"), &["rs"], &mut list);
    files(&root().join("app/web"), &["js", "html"], &mut list);
    files(&root().join("xtask/src"), &["rs"], &mut list); // it writes the page's start script
    assert!(list.len() > 20, "the app's sources are where this test expects them");
    for path in list {
        let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or(line);
            for sink in SINKS {
                // `wasm_split`'s and the tests' own mentions are in comments; code is what counts.
                if code.contains(sink) {
                    found.push(format!("{}:{}: {sink}", path.strip_prefix(root()).unwrap().display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "text turned into markup or code:\n{}", found.join("\n"));
}

/// The check itself finds what it is for.
#[test]
fn a_sink_is_found() {
    let line = r#"<div class="qr" inner_html=qr></div>"#.to_lowercase();
    assert!(SINKS.iter().any(|s| line.contains(s)));
    assert!(SINKS.iter().any(|s| "el.innerHTML = x".to_lowercase().contains(s)));
}
