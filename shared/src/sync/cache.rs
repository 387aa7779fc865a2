//! The replica cache: the records this device has already verified and decrypted,
//! sealed as one blob under the device vault key, so an unlock opens one AES-GCM blob
//! instead of checking an Ed25519 signature and decrypting every record again.
//!
//! Trust: the blob is AES-256-GCM under the vault key (which only the passphrase
//! unlocks), with the team bound into the associated data, so nobody without the
//! passphrase can write or alter an entry. An entry is used only while the stored
//! ciphertext of its record still has the same version; any other record, and any
//! record whose sensitive section this client could not read, is opened from
//! ciphertext as before. Format: `version(1)` then the [`Writer`] fields below; an
//! unknown version or a malformed blob is simply ignored (the records are re-opened).
//!
//! Version 2 adds each record's signer and oldest key epoch, so that an unlock can show
//! the cached records before it reads their ciphertext (see `Syncer::open_cached`).
//! Version 3 writes each field name once, in a table, each record's field stamps once
//! (its fields were usually written together), and lengths and numbers as varints: at
//! 100,000 customers the blob is about half version 2's 41 MB, and every step of an
//! unlock that touches it (read, copy, decrypt, decode) is shorter.
//! Version 4 is version 3's layout, written by clients that check creation certificates
//! (`crate::record::CREATED`) before they take a version: its records' creators are
//! what those checks let through. A version 3 cache is re-opened from ciphertext once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::crypto::aead::{open_blob, seal_blob};
use crate::crypto::identity::IdentityKeys;
use crate::encoding::{varint_len, DecodeError, Reader, Writer};
use crate::hlc::{Hlc, Stamp};
use crate::ids::{CollectionId, RecordId, TeamId, Username};
use crate::record::{FieldState, RecordDoc, Value};

const CACHE_VERSION: u8 = 4;
const CONTEXT: &[u8] = b"replica-cache:";

/// A verified, decrypted record as cached.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedRecord {
    pub collection: CollectionId,
    pub version: u64,
    pub base: Arc<RecordDoc>,
    /// Who signed this version, and the oldest key epoch it is sealed under.
    pub writer: Username,
    pub epoch: u32,
}

/// What a team's cache is sealed with (as associated data, under the vault key).
pub fn context(team: TeamId) -> Vec<u8> {
    [CONTEXT, team.as_bytes()].concat()
}

/// Seal cached records for the device store.
pub fn seal<'a>(
    identity: &IdentityKeys,
    team: TeamId,
    records: impl Iterator<Item = (&'a RecordId, &'a CachedRecord)>,
) -> Vec<u8> {
    let plain = zeroize::Zeroizing::new(encode(records));
    seal_blob(identity.vault_key(), &context(team), &plain)
}

/// Open a sealed cache; `None` when it does not open or parse (then nothing is used).
pub fn open(identity: &IdentityKeys, team: TeamId, blob: &[u8]) -> Option<BTreeMap<RecordId, CachedRecord>> {
    let plain = zeroize::Zeroizing::new(open_blob(identity.vault_key(), &context(team), blob).ok()?);
    decode(&plain).ok()
}

/// The cached records as [`encode`] writes them, before sealing.
pub fn encode<'a>(records: impl Iterator<Item = (&'a RecordId, &'a CachedRecord)>) -> Vec<u8> {
    let mut encoder = Encoder::new(records);
    while encoder.step(usize::MAX) {}
    encoder.finish()
}

/// [`encode`] a few records at a time, so a caller can let the page draw in between
/// (100,000 records take most of a second): [`Encoder::step`] until it returns `false`,
/// then [`Encoder::finish`]. The bytes are [`encode`]'s.
pub struct Encoder<'a> {
    records: Vec<(&'a RecordId, &'a CachedRecord)>,
    /// Authors and field names repeat on every record: each is written once, in a
    /// table, and referred to by number.
    authors: Table<'a>,
    names: Table<'a>,
    /// Records whose authors and names are numbered; then records written.
    learned: usize,
    /// The bytes the records take, counted while learning (the buffer is allocated
    /// once, at its size: growing a 30 MB buffer by doubling briefly holds 75 MB).
    size: usize,
    headed: bool,
    written: usize,
    w: Writer,
}

/// Strings numbered in the order first seen.
#[derive(Default)]
struct Table<'a> {
    numbers: HashMap<&'a str, u64>,
    list: Vec<&'a str>,
}

impl<'a> Table<'a> {
    fn number(&mut self, s: &'a str) -> u64 {
        *self.numbers.entry(s).or_insert_with(|| {
            self.list.push(s);
            self.list.len() as u64 - 1
        })
    }
    fn get(&self, s: &str) -> u64 {
        self.numbers[s]
    }
}

/// A record's distinct field stamps (usually one: its fields were written together),
/// in the order first seen; each field names its stamp by position.
fn stamps_of(doc: &RecordDoc) -> Vec<&Stamp> {
    let mut out: Vec<&Stamp> = Vec::new();
    for f in doc.fields.values() {
        if !out.contains(&&f.stamp) {
            out.push(&f.stamp);
        }
    }
    out
}

fn position(stamps: &[&Stamp], stamp: &Stamp) -> u64 {
    stamps.iter().position(|s| *s == stamp).expect("listed by stamps_of") as u64
}

impl<'a> Encoder<'a> {
    pub fn new(records: impl Iterator<Item = (&'a RecordId, &'a CachedRecord)>) -> Self {
        let records: Vec<_> = records.collect();
        Self {
            records,
            authors: Table::default(),
            names: Table::default(),
            learned: 0,
            size: 0,
            headed: false,
            written: 0,
            w: Writer::new(),
        }
    }

    /// Do up to `n` records' worth of the work; `false` once there is none left.
    pub fn step(&mut self, n: usize) -> bool {
        let total = self.records.len();
        if self.learned < total {
            let end = self.learned.saturating_add(n).min(total);
            for (_, r) in &self.records[self.learned..end] {
                let stamps = stamps_of(&r.base);
                let writer = self.authors.number(r.writer.as_str());
                self.size += 16 + 16 + 8 + varint_len(writer) + varint_len(r.epoch.into());
                self.size += varint_len(stamps.len() as u64) + varint_len(r.base.fields.len() as u64);
                for s in &stamps {
                    let author = self.authors.number(s.author.as_str());
                    self.size += 8 + varint_len(s.hlc.counter.into()) + varint_len(author);
                }
                for (name, f) in &r.base.fields {
                    let name = self.names.number(name);
                    self.size += varint_len(name) + varint_len(position(&stamps, &f.stamp)) + 1 + value_size(&f.value);
                }
            }
            self.learned = end;
            return true;
        }
        if !self.headed {
            self.headed = true;
            let authors: usize = self.authors.list.iter().map(|a| 1 + a.len()).sum();
            let names: usize = self.names.list.iter().map(|n| varint_len(n.len() as u64) + n.len()).sum();
            self.w = Writer::with_capacity(1 + 4 + authors + 4 + names + 4 + self.size);
            self.w.u8(CACHE_VERSION).u32(self.authors.list.len() as u32);
            for a in &self.authors.list {
                self.w.short_str(a);
            }
            self.w.u32(self.names.list.len() as u32);
            for n in &self.names.list {
                self.w.var_bytes(n.as_bytes());
            }
            self.w.u32(total as u32);
        }
        if self.written == total {
            return false;
        }
        let end = self.written.saturating_add(n).min(total);
        let (w, authors, names) = (&mut self.w, &self.authors, &self.names);
        for (id, r) in &self.records[self.written..end] {
            let stamps = stamps_of(&r.base);
            w.fixed(id.as_bytes()).fixed(r.collection.as_bytes()).u64(r.version);
            w.varint(authors.get(r.writer.as_str())).varint(r.epoch.into());
            w.varint(stamps.len() as u64);
            for s in &stamps {
                w.u64(s.hlc.wall_ms).varint(s.hlc.counter.into()).varint(authors.get(s.author.as_str()));
            }
            w.varint(r.base.fields.len() as u64);
            for (name, state) in &r.base.fields {
                w.varint(names.get(name)).varint(position(&stamps, &state.stamp));
                match &state.value {
                    None => w.u8(0),
                    Some(Value::Text(t)) => w.u8(1).var_bytes(t.as_bytes()),
                    Some(Value::Int(i)) => w.u8(2).u64(*i as u64),
                    Some(Value::Bool(b)) => w.u8(3).u8(*b as u8),
                    Some(Value::List(l)) => {
                        w.u8(4).varint(l.len() as u64);
                        for item in l {
                            w.var_bytes(item.as_bytes());
                        }
                        &mut *w
                    }
                };
            }
        }
        self.written = end;
        true
    }

    /// The encoded cache.
    ///
    /// # Panics
    /// If [`Encoder::step`] has not yet returned `false`.
    pub fn finish(self) -> Vec<u8> {
        assert!(self.headed && self.written == self.records.len(), "cache encoded in part");
        self.w.finish()
    }
}

/// What [`Encoder`] writes for a value after its tag.
fn value_size(value: &Option<Value>) -> usize {
    let bytes = |n: usize| varint_len(n as u64) + n;
    match value {
        None => 0,
        Some(Value::Text(t)) => bytes(t.len()),
        Some(Value::Int(_)) => 8,
        Some(Value::Bool(_)) => 1,
        Some(Value::List(l)) => varint_len(l.len() as u64) + l.iter().map(|i| bytes(i.len())).sum::<usize>(),
    }
}

fn string(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let b = r.var_bytes()?;
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError("string is not UTF-8"))
}

/// A table entry by its number.
fn nth<'t, T>(table: &'t [T], r: &mut Reader<'_>, what: &'static str) -> Result<&'t T, DecodeError> {
    usize::try_from(r.varint()?).ok().and_then(|i| table.get(i)).ok_or(DecodeError(what))
}

/// The cached records from an opened cache; an error for any other version or shape.
pub fn decode(bytes: &[u8]) -> Result<BTreeMap<RecordId, CachedRecord>, DecodeError> {
    let mut r = Reader::new(bytes);
    if r.u8()? != CACHE_VERSION {
        return Err(DecodeError("unknown cache version"));
    }
    let n_authors = r.u32()? as usize;
    let mut authors = Vec::with_capacity(n_authors.min(r.remaining()));
    for _ in 0..n_authors {
        authors.push(Username::parse(r.short_str()?).map_err(|_| DecodeError("author"))?);
    }
    let n_names = r.u32()? as usize;
    let mut names = Vec::with_capacity(n_names.min(r.remaining()));
    for _ in 0..n_names {
        names.push(string(&mut r)?);
    }
    let n = r.u32()? as usize;
    // Written in record order and each record's fields in name order: collected, then
    // built in bulk (a sorted `from_iter` fills the tree's nodes left to right, where
    // inserting walks the tree once per entry).
    let mut out = Vec::with_capacity(n.min(r.remaining() / 40));
    let mut stamps = Vec::new();
    for _ in 0..n {
        let id = RecordId(r.array()?);
        let collection = CollectionId(r.array()?);
        let version = r.u64()?;
        let writer = nth(&authors, &mut r, "writer")?.clone();
        let epoch = u32::try_from(r.varint()?).map_err(|_| DecodeError("epoch"))?;
        stamps.clear();
        for _ in 0..r.varint()? {
            let wall_ms = r.u64()?;
            let counter = u32::try_from(r.varint()?).map_err(|_| DecodeError("counter"))?;
            let author = nth(&authors, &mut r, "stamp author")?.clone();
            stamps.push(Stamp { hlc: Hlc { wall_ms, counter }, author });
        }
        let n_fields = r.varint()?;
        let mut fields = Vec::with_capacity((n_fields as usize).min(r.remaining()));
        for _ in 0..n_fields {
            let name = nth(&names, &mut r, "field name")?.clone();
            let stamp = nth(&stamps, &mut r, "field stamp")?.clone();
            let value = match r.u8()? {
                0 => None,
                1 => Some(Value::Text(string(&mut r)?)),
                2 => Some(Value::Int(r.u64()? as i64)),
                3 => Some(Value::Bool(r.u8()? != 0)),
                4 => {
                    let k = r.varint()? as usize;
                    let mut l = Vec::with_capacity(k.min(r.remaining()));
                    for _ in 0..k {
                        l.push(string(&mut r)?);
                    }
                    Some(Value::List(l))
                }
                _ => return Err(DecodeError("value tag")),
            };
            fields.push((name, FieldState { value, stamp }));
        }
        let base = Arc::new(RecordDoc { fields: BTreeMap::from_iter(fields) });
        out.push((id, CachedRecord { collection, version, base, writer, epoch }));
    }
    r.finish()?;
    Ok(BTreeMap::from_iter(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BTreeMap<RecordId, CachedRecord> {
        let ann = Username::parse("ann").unwrap();
        let bob = Username::parse("bob").unwrap();
        let stamp = |wall_ms, author: &Username| Stamp { hlc: Hlc { wall_ms, counter: 2 }, author: author.clone() };
        let mut doc = RecordDoc::new();
        doc.apply("name", FieldState { value: Some(Value::Text("Ada Lovelace".into())), stamp: stamp(5, &ann) });
        doc.apply("amount", FieldState { value: Some(Value::Int(-42)), stamp: stamp(6, &bob) });
        doc.apply("done", FieldState { value: Some(Value::Bool(true)), stamp: stamp(7, &ann) });
        doc.apply(
            "tags",
            FieldState { value: Some(Value::List(vec!["vip".into(), "北京".into()])), stamp: stamp(8, &bob) },
        );
        doc.apply("notes", FieldState { value: None, stamp: stamp(9, &ann) });
        let mut m = BTreeMap::new();
        let carol = Username::parse("carol").unwrap();
        let c = CollectionId([2; 16]);
        m.insert(
            RecordId([1; 16]),
            CachedRecord { collection: c, version: 7, base: Arc::new(doc), writer: bob, epoch: 3 },
        );
        m.insert(
            RecordId([3; 16]),
            CachedRecord { collection: c, version: 1, base: Arc::default(), writer: carol, epoch: 1 },
        );
        m
    }

    #[test]
    fn round_trips_and_binds_the_team() {
        let id = IdentityKeys::from_secret_bytes([5; 32], [6; 32], [7; 32]);
        let team = TeamId([9; 16]);
        let records = sample();
        let blob = seal(&id, team, records.iter());
        assert_eq!(open(&id, team, &blob), Some(records));
        assert_eq!(open(&id, TeamId([8; 16]), &blob), None, "another team's context");
        let other = IdentityKeys::from_secret_bytes([1; 32], [6; 32], [2; 32]);
        assert_eq!(open(&other, team, &blob), None, "another vault key");
    }

    #[test]
    fn any_altered_byte_is_refused() {
        let id = IdentityKeys::from_secret_bytes([5; 32], [6; 32], [7; 32]);
        let team = TeamId([9; 16]);
        let blob = seal(&id, team, sample().iter());
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert_eq!(open(&id, team, &bad), None, "byte {i}");
        }
    }

    #[test]
    fn malformed_plaintext_is_refused_not_panicking() {
        let good = encode(sample().iter());
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err());
        }
        for older in [1, 2] {
            let mut unknown = good.clone();
            unknown[0] = older;
            assert!(decode(&unknown).is_err(), "a version {older} cache is re-opened from ciphertext, not misread");
        }
    }

    #[test]
    fn encoded_a_slice_at_a_time_is_the_same_bytes() {
        let records = sample();
        let whole = encode(records.iter());
        for n in 1..=records.len() {
            let mut e = Encoder::new(records.iter());
            while e.step(n) {}
            assert_eq!(e.finish(), whole, "{n} at a time");
        }
        let empty = BTreeMap::new();
        assert_eq!(decode(&encode(empty.iter())), Ok(empty));
        // Sized exactly: the buffer never grew.
        let mut e = Encoder::new(records.iter());
        while e.step(1) {}
        let capacity = e.w.capacity();
        assert_eq!(e.finish().len(), capacity);
    }

    /// The format, frozen: a change of it must come with a new version byte.
    #[test]
    fn golden_encoding() {
        let bytes = encode(sample().iter());
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let digest: String =
            <sha2::Sha256 as sha2::Digest>::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            &hex[..40],
            "040000000303626f6203616e6e056361726f6c00",
            "version 4, three authors (bob, ann, carol)"
        );
        assert_eq!(
            &hex[38..80],
            "0000000506616d6f756e7404646f6e65046e616d65",
            "then five field names (amount, done, name…)"
        );
        assert_eq!(bytes.len(), GOLDEN_LEN);
        assert_eq!(digest, GOLDEN_SHA256);
    }
    const GOLDEN_LEN: usize = 242;
    const GOLDEN_SHA256: &str = "c7de33a187a1d7e163e86e29b55cf804a57d5acc9f56bb3eb06192648f8f0048";
}
