//! Customer search over decrypted text, in memory on the client.
//!
//! Every customer's searchable text (name, company, phone, email, notes, tags) is
//! lower-cased once and laid end to end in one buffer, in list order, with a NUL
//! between entries. A query is one substring search over that buffer (`memchr`'s
//! `memmem`, SIMD where the target has it) that jumps to the next entry after each
//! hit, so a keystroke costs one pass over the text however many customers match,
//! instead of one search set-up per customer. Nothing here ever leaves the device.

use memchr::memmem::Finder;

/// Lower-cased search text of many entries, in one buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    bytes: Vec<u8>,
    /// `ends[i]` is the offset of the NUL that ends entry `i`.
    ends: Vec<u32>,
}

/// A piece of a list laid from an earlier one (see [`SearchText::splice`]).
pub enum Piece<'a> {
    /// The earlier list's entries at these positions.
    Kept(std::ops::Range<usize>),
    /// A new entry's text (normalised).
    New(&'a str),
}

/// Normalise what the user typed the way the indexed text was: lower case, and no
/// control characters (they separate fields and entries in the buffer).
pub fn normalize_query(query: &str) -> String {
    query.chars().filter(|c| !c.is_control()).collect::<String>().to_lowercase()
}

/// Normalise indexed text: lower case; control characters become spaces, so no text can
/// contain the entry separator.
pub fn normalize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_text_into(&mut out, text);
    out
}

/// [`normalize_text`], appended to `out` (an index builds each customer's text from
/// several fields without a string per field).
pub fn normalize_text_into(out: &mut String, text: &str) {
    if text.is_ascii() {
        // Most names, phones and emails: ASCII lower-casing is Unicode lower-casing there.
        out.extend(text.bytes().map(|b| if b.is_ascii_control() { ' ' } else { b.to_ascii_lowercase() as char }));
    } else {
        let spaced: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        out.push_str(&spaced.to_lowercase());
    }
}

impl SearchText {
    /// Build from entries whose text is already normalised (see [`normalize_text`]).
    pub fn build<'a, I>(texts: I) -> Self
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: Clone,
    {
        let texts = texts.into_iter();
        let mut out = Self::with_capacity(texts.size_hint().0);
        // One allocation of the whole buffer, not a doubling series of copies.
        out.bytes.reserve(texts.clone().map(|t| t.len() + 1).sum());
        for t in texts {
            out.push(t);
        }
        out
    }

    /// An empty buffer for about `entries` entries, to [`SearchText::push`] them into.
    pub fn with_capacity(entries: usize) -> Self {
        Self { bytes: Vec::new(), ends: Vec::with_capacity(entries) }
    }

    /// Add the next entry (text already normalised, see [`normalize_text`]).
    pub fn push(&mut self, text: &str) {
        debug_assert!(!text.as_bytes().contains(&0), "entry separator inside a text");
        self.bytes.extend_from_slice(text.as_bytes());
        self.ends.push(u32::try_from(self.bytes.len()).expect("search text under 4 GiB"));
        self.bytes.push(0);
    }

    /// The buffer of a list made of `pieces`, in order, from this one's: a run of this
    /// buffer's entries is copied whole (one copy per run, its ends shifted), a new
    /// entry's text (normalised) is added. A change to a long list copies its buffer
    /// instead of laying it again entry by entry.
    pub fn splice<'a>(&self, pieces: impl IntoIterator<Item = Piece<'a>>, entries: usize) -> SearchText {
        let mut out = SearchText { bytes: Vec::with_capacity(self.bytes.len()), ends: Vec::with_capacity(entries) };
        for piece in pieces {
            match piece {
                Piece::Kept(run) if run.is_empty() => {}
                Piece::Kept(run) => {
                    let start = if run.start == 0 { 0 } else { self.ends[run.start - 1] as usize + 1 };
                    let end = self.ends[run.end - 1] as usize + 1;
                    let to = out.bytes.len();
                    out.bytes.extend_from_slice(&self.bytes[start..end]);
                    let shift = |e: u32| u32::try_from(e as usize - start + to).expect("search text under 4 GiB");
                    out.ends.extend(self.ends[run].iter().map(|&e| shift(e)));
                }
                Piece::New(text) => out.push(text),
            }
        }
        out
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Indices (ascending) of the entries that contain `query` (normalised, see
    /// [`normalize_query`]). An empty query matches every entry.
    pub fn find(&self, query: &str) -> Vec<u32> {
        if query.is_empty() {
            return (0..self.ends.len() as u32).collect();
        }
        let finder = Finder::new(query.as_bytes());
        let mut out = Vec::new();
        let (mut from, mut entry) = (0usize, 0usize);
        while let Some(hit) = finder.find(&self.bytes[from..]) {
            let at = from + hit;
            // Walk forward to the entry whose end lies at or after the hit (amortised
            // over the whole scan: each entry is stepped over once). A query holds no
            // NUL, so the match cannot straddle two entries.
            while (self.ends[entry] as usize) < at {
                entry += 1;
            }
            out.push(entry as u32);
            from = self.ends[entry] as usize + 1;
            entry += 1;
            if entry >= self.ends.len() {
                break;
            }
        }
        out
    }

    /// Like [`SearchText::find`], but only looks at `candidates` (ascending indices),
    /// e.g. the matches of a shorter query the new one extends.
    pub fn find_within(&self, query: &str, candidates: &[u32]) -> Vec<u32> {
        if query.is_empty() {
            return candidates.to_vec();
        }
        let finder = Finder::new(query.as_bytes());
        candidates
            .iter()
            .copied()
            .filter(|&i| {
                let end = self.ends[i as usize] as usize;
                let start = if i == 0 { 0 } else { self.ends[i as usize - 1] as usize + 1 };
                finder.find(&self.bytes[start..end]).is_some()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(texts: &[String], q: &str) -> Vec<u32> {
        texts.iter().enumerate().filter(|(_, t)| t.contains(q)).map(|(i, _)| i as u32).collect()
    }

    #[test]
    fn finds_each_matching_entry_once() {
        let texts = ["ada lovelace\u{1}acme", "grace hopper\u{1}navy", "acme acme acme", "", "Ähm"].map(normalize_text);
        let s = SearchText::build(texts.iter().map(String::as_str));
        assert_eq!(s.find("acme"), vec![0, 2]);
        assert_eq!(s.find(&normalize_query("GRACE")), vec![1]);
        assert_eq!(s.find(&normalize_query("äh")), vec![4]);
        assert_eq!(s.find("zzz"), Vec::<u32>::new());
        assert_eq!(s.find(""), vec![0, 1, 2, 3, 4]);
        assert_eq!(s.find_within("acme", &[1, 2]), vec![2]);
    }

    #[test]
    fn a_match_never_spans_two_entries() {
        let s = SearchText::build(["abc", "def"]);
        assert!(s.find("cd").is_empty());
        assert!(s.find(&normalize_query("c\0d")).is_empty());
    }

    proptest! {
        /// A list changed (entries dropped, new ones put anywhere) and laid from the
        /// earlier one's buffer, runs copied whole, is the buffer laid afresh.
        #[test]
        fn a_spliced_buffer_is_the_buffer_laid_afresh(
            olds in proptest::collection::vec("[a-c\u{e9}]{0,6}", 0..30),
            kept in proptest::collection::vec(any::<bool>(), 30),
            news in proptest::collection::vec(("[x-z]{0,4}", 0usize..31), 0..10),
        ) {
            let before = SearchText::build(olds.iter().map(String::as_str));
            let (mut pieces, mut texts, mut run_start) = (Vec::new(), Vec::new(), None);
            for i in 0..=olds.len() {
                let new_here: Vec<&str> = news.iter().filter(|(_, at)| *at == i).map(|(t, _)| t.as_str()).collect();
                let keeps = i < olds.len() && kept[i];
                if !keeps || !new_here.is_empty() {
                    if let Some(start) = run_start.take() {
                        pieces.push(Piece::Kept(start..i));
                    }
                }
                for t in new_here {
                    pieces.push(Piece::New(t));
                    texts.push(t);
                }
                if keeps {
                    run_start.get_or_insert(i);
                    texts.push(olds[i].as_str());
                }
            }
            if let Some(start) = run_start {
                pieces.push(Piece::Kept(start..olds.len()));
            }
            pieces.push(Piece::Kept(0..0));
            prop_assert_eq!(before.splice(pieces, texts.len()), SearchText::build(texts.iter().copied()));
        }

        #[test]
        fn agrees_with_a_naive_scan(texts in proptest::collection::vec("[a-c \u{e9}]{0,12}", 0..40), q in "[a-c\u{e9}]{0,3}") {
            let texts: Vec<String> = texts.iter().map(|t| normalize_text(t)).collect();
            let s = SearchText::build(texts.iter().map(String::as_str));
            let q = normalize_query(&q);
            let all = s.find(&q);
            prop_assert_eq!(&all, &naive(&texts, &q));
            let shorter: String = q.chars().take(1).collect();
            // The same list laid from an earlier one (every other entry new, the
            // rest in runs) is the same buffer.
            let earlier: Vec<&str> = texts.iter().step_by(2).map(String::as_str).collect();
            let before = SearchText::build(earlier.iter().copied());
            let pieces = texts.iter().enumerate().map(|(i, t)| match i % 2 {
                0 => Piece::Kept(i / 2..i / 2 + 1),
                _ => Piece::New(t),
            });
            prop_assert_eq!(&before.splice(pieces, texts.len()), &s);
            prop_assert_eq!(s.find_within(&q, &s.find(&shorter)), all);
        }
    }
}
