//! The app's translations are complete: every key the app's code names exists in
//! English and in 中文, the two tables have the same keys, each translation keeps the
//! placeholders (`{n}`) of the English text, none is empty, and no key is unused.
//!
//! A key is any string literal in `app/src`, or in the built-in field registry
//! (`shared/src/domain/registry.rs`, whose rows name their labels' keys), of the form
//! `namespace.name` whose namespace is one the tables use (`"auth.log_in"`,
//! `"nav.customers"`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn table(name: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("app/i18n").join(name)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// String literals of the form `ns.name` with a known namespace.
fn keys_in(code: &str, namespaces: &BTreeSet<String>) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (i, piece) in code.split('"').enumerate() {
        if i % 2 == 0 {
            continue; // outside a literal (escaped quotes do not occur in key literals)
        }
        let Some((ns, rest)) = piece.split_once('.') else { continue };
        let is_key = namespaces.contains(ns)
            && !rest.is_empty()
            && piece.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if is_key {
            keys.insert(piece.to_owned());
        }
    }
    keys
}

fn placeholders(text: &str) -> BTreeSet<String> {
    text.split('{').skip(1).filter_map(|p| p.split_once('}')).map(|(name, _)| name.to_owned()).collect()
}

#[test]
fn every_key_is_in_both_languages_with_the_same_placeholders() {
    let en = table("en.json");
    let zh = table("zh-CN.json");
    let namespaces: BTreeSet<String> =
        en.keys().filter_map(|k| k.split_once('.')).map(|(ns, _)| ns.to_owned()).collect();
    let mut files = Vec::new();
    sources(&root().join("app/src"), &mut files);
    files.push(root().join("shared/src/domain/registry.rs"));
    let mut used = BTreeSet::new();
    for f in &files {
        used.extend(keys_in(&std::fs::read_to_string(f).unwrap(), &namespaces));
    }
    let mut problems = Vec::new();
    for key in &used {
        for (lang, t) in [("en", &en), ("zh-CN", &zh)] {
            if !t.contains_key(key) {
                problems.push(format!("{key}: used in the code, missing in {lang}"));
            }
        }
    }
    for key in en.keys().filter(|k| !zh.contains_key(*k)) {
        problems.push(format!("{key}: in en, missing in zh-CN"));
    }
    for key in zh.keys().filter(|k| !en.contains_key(*k)) {
        problems.push(format!("{key}: in zh-CN, missing in en"));
    }
    for (key, text) in &en {
        if !used.contains(key) {
            problems.push(format!("{key}: in the tables, used nowhere in the code"));
        }
        if let Some(other) = zh.get(key) {
            if placeholders(text) != placeholders(other) {
                problems.push(format!(
                    "{key}: placeholders differ: en {:?}, zh-CN {:?}",
                    placeholders(text),
                    placeholders(other)
                ));
            }
            if text.trim().is_empty() || other.trim().is_empty() {
                problems.push(format!("{key}: empty text"));
            }
        }
    }
    assert!(problems.is_empty(), "translation problems:\n{}", problems.join("\n"));
}

/// The check itself notices what it must: a key missing in one language.
#[test]
fn the_check_finds_keys_in_code() {
    let ns: BTreeSet<String> = ["auth".to_owned()].into();
    let keys = keys_in(r#"t("auth.log_in"); tf("auth.x_y", &[]); "quietdesk.sqlite"; "Auth.Nope""#, &ns);
    assert_eq!(keys, ["auth.log_in".to_owned(), "auth.x_y".to_owned()].into());
    assert_eq!(placeholders("{n} of {total}"), ["n".to_owned(), "total".to_owned()].into());
}

/// The log-in screen shows only texts of the first visit's namespaces
/// (`START_NAMESPACES` in xtask/src/dist.rs, which writes `<tag>.start.json`): its code
/// names no key of another, which would show as its key until every text is loaded.
#[test]
fn the_log_in_screen_uses_only_the_first_visits_texts() {
    let dist = std::fs::read_to_string(root().join("xtask/src/dist.rs")).unwrap();
    let at = dist.find("pub const START_NAMESPACES").expect("the list is in dist.rs");
    let list = &dist[at..at + dist[at..].find(';').expect("the list ends")];
    let start: BTreeSet<String> = list.split('"').skip(1).step_by(2).map(str::to_owned).collect();
    assert!(start.contains("auth") && start.contains("error"), "{start:?}");
    let all: BTreeSet<String> =
        table("en.json").keys().filter_map(|k| k.split_once('.')).map(|(ns, _)| ns.to_owned()).collect();
    for file in ["app/src/pages/auth.rs", "app/src/account.rs", "app/src/tabs.rs"] {
        let code = std::fs::read_to_string(root().join(file)).unwrap();
        for key in keys_in(&code, &all) {
            let ns = key.split_once('.').unwrap().0;
            assert!(start.contains(ns), "{file} shows {key}, which the first visit does not fetch");
        }
    }
}
