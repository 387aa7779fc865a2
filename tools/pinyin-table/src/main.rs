//! The characters of GB2312 (levels 1 and 2: the Hanzi of everyday Chinese text and
//! names), grouped by their first Mandarin reading without tone, one line per syllable:
//! `zhang 张章掌丈帐…`. Written to `shared/src/pinyin_table.txt`.

use std::collections::BTreeMap;

use pinyin::ToPinyin;

fn main() {
    let mut by_syllable: BTreeMap<String, String> = BTreeMap::new();
    let mut count = 0;
    for hi in 0xB0u8..=0xF7 {
        for lo in 0xA1u8..=0xFE {
            let bytes = [hi, lo];
            let (text, _, bad) = encoding_rs::GBK.decode(&bytes);
            let Some(c) = text.chars().next().filter(|_| !bad) else { continue };
            if !('\u{4e00}'..='\u{9fff}').contains(&c) {
                continue;
            }
            let Some(p) = c.to_pinyin() else { continue };
            by_syllable.entry(p.plain().to_owned()).or_default().push(c);
            count += 1;
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/src/pinyin_table.txt");
    let text: String = by_syllable.iter().map(|(s, cs)| format!("{s} {cs}\n")).collect();
    std::fs::write(&root, text).unwrap();
    eprintln!("{count} characters, {} syllables → {}", by_syllable.len(), root.display());
}
