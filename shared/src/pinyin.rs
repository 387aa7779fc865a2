//! Finding Chinese names by pinyin: 张伟 by `zhangwei`, `zhang wei` and `zw`.
//!
//! The table (`pinyin_table.txt`, written by `tools/pinyin-table`) holds the 6,763
//! Hanzi of GB2312 — the characters of everyday names and company names — by their
//! first Mandarin reading without tone. [`search_forms`] turns a text's Hanzi into
//! the forms search matches: the syllables run together, the syllables with spaces,
//! and the initials. Characters outside the table are left out of the forms (the
//! text itself is still searched as it is).
//!
//! The table is not compiled in: the browser app fetches it after the log-in screen
//! (it is a fifth of a first visit's bytes otherwise) and hands it to [`load`]; until
//! then, and if it never comes, there are no pinyin forms. Native code loads the copy
//! in this crate with [`load_builtin`].

use std::collections::HashMap;
use std::sync::OnceLock;

static MAP: OnceLock<HashMap<char, &'static str>> = OnceLock::new();

/// Take the table (`syllable chars…` per line). The first one loaded stays.
pub fn load(text: &'static str) {
    MAP.get_or_init(|| {
        let mut map = HashMap::with_capacity(6_800);
        for line in text.lines() {
            if let Some((syllable, chars)) = line.split_once(' ') {
                for c in chars.chars() {
                    map.insert(c, syllable);
                }
            }
        }
        map
    });
}

/// Whether a table is loaded.
pub fn loaded() -> bool {
    MAP.get().is_some()
}

/// Load the table kept in this crate (native programs and tests).
#[cfg(not(target_arch = "wasm32"))]
pub fn load_builtin() {
    load(include_str!("pinyin_table.txt"));
}

/// The reading of one character, if a table is loaded and has it.
pub fn syllable(c: char) -> Option<&'static str> {
    if c.is_ascii() {
        return None;
    }
    MAP.get()?.get(&c).copied()
}

/// `"zhangwei zhang wei zw"` for `"张伟"`; empty if the text has no Hanzi in the table.
pub fn search_forms(text: &str) -> String {
    let syllables: Vec<&str> = text.chars().filter_map(syllable).collect();
    if syllables.is_empty() {
        return String::new();
    }
    let initials: String = syllables.iter().filter_map(|s| s.chars().next()).collect();
    format!("{} {} {}", syllables.concat(), syllables.join(" "), initials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_full_spaced_and_initial_forms() {
        load_builtin();
        assert_eq!(search_forms("张伟"), "zhangwei zhang wei zw");
        assert_eq!(search_forms("李娜"), "lina li na ln");
        assert_eq!(search_forms("王 芳 (Acme)"), "wangfang wang fang wf");
        assert_eq!(search_forms("Acme Ltd"), "");
        assert_eq!(search_forms(""), "");
    }

    #[test]
    fn the_table_covers_gb2312() {
        load_builtin();
        assert_eq!(MAP.get().unwrap().len(), 6_763);
        for (c, s) in [('张', "zhang"), ('伟', "wei"), ('陈', "chen"), ('静', "jing"), ('刘', "liu"), ('洋', "yang")]
        {
            assert_eq!(syllable(c), Some(s), "{c}");
        }
    }
}
