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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::crypto::aead::{open_blob, seal_blob};
use crate::crypto::identity::IdentityKeys;
use crate::encoding::{DecodeError, Reader, Writer};
use crate::hlc::{Hlc, Stamp};
use crate::ids::{CollectionId, RecordId, TeamId, Username};
use crate::record::{FieldState, RecordDoc, Value};

const CACHE_VERSION: u8 = 2;
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
    /// Authors repeat on every field: each name is written once, referred to by number.
    authors: HashMap<&'a Username, u32>,
    author_list: Vec<&'a Username>,
    /// Records whose authors are numbered; then records written.
    learned: usize,
    /// The bytes the records take, counted while learning (the buffer is allocated
    /// once, at its size: growing a 30 MB buffer by doubling briefly holds 75 MB).
    size: usize,
    headed: bool,
    written: usize,
    w: Writer,
}

impl<'a> Encoder<'a> {
    pub fn new(records: impl Iterator<Item = (&'a RecordId, &'a CachedRecord)>) -> Self {
        let records: Vec<_> = records.collect();
        Self {
            records,
            authors: HashMap::new(),
            author_list: Vec::new(),
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
                self.size +=
                    52 + r.base.fields.iter().map(|(name, f)| 21 + name.len() + value_size(&f.value)).sum::<usize>();
                for name in r.base.fields.values().map(|f| &f.stamp.author).chain([&r.writer]) {
                    self.authors.entry(name).or_insert_with(|| {
                        self.author_list.push(name);
                        self.author_list.len() as u32 - 1
                    });
                }
            }
            self.learned = end;
            return true;
        }
        if !self.headed {
            self.headed = true;
            let names: usize = self.author_list.iter().map(|a| 1 + a.as_str().len()).sum();
            self.w = Writer::with_capacity(9 + names + self.size);
            self.w.u8(CACHE_VERSION).u32(self.author_list.len() as u32);
            for a in &self.author_list {
                self.w.short_str(a.as_str());
            }
            self.w.u32(total as u32);
        }
        if self.written == total {
            return false;
        }
        let end = self.written.saturating_add(n).min(total);
        let (w, authors) = (&mut self.w, &self.authors);
        for (id, r) in &self.records[self.written..end] {
            w.fixed(id.as_bytes()).fixed(r.collection.as_bytes()).u64(r.version).u32(authors[&r.writer]).u32(r.epoch);
            w.u32(r.base.fields.len() as u32);
            for (name, state) in &r.base.fields {
                w.bytes(name.as_bytes());
                match &state.value {
                    None => w.u8(0),
                    Some(Value::Text(t)) => w.u8(1).bytes(t.as_bytes()),
                    Some(Value::Int(i)) => w.u8(2).u64(*i as u64),
                    Some(Value::Bool(b)) => w.u8(3).u8(*b as u8),
                    Some(Value::List(l)) => {
                        w.u8(4).u32(l.len() as u32);
                        for item in l {
                            w.bytes(item.as_bytes());
                        }
                        &mut *w
                    }
                };
                w.u64(state.stamp.hlc.wall_ms).u32(state.stamp.hlc.counter).u32(authors[&state.stamp.author]);
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
    match value {
        None => 0,
        Some(Value::Text(t)) => 4 + t.len(),
        Some(Value::Int(_)) => 8,
        Some(Value::Bool(_)) => 1,
        Some(Value::List(l)) => 4 + l.iter().map(|i| 4 + i.len()).sum::<usize>(),
    }
}

fn string(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let b = r.bytes()?;
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError("string is not UTF-8"))
}

/// The cached records from an opened cache; an error for any other version or shape.
pub fn decode(bytes: &[u8]) -> Result<BTreeMap<RecordId, CachedRecord>, DecodeError> {
    let mut r = Reader::new(bytes);
    if r.u8()? != CACHE_VERSION {
        return Err(DecodeError("unknown cache version"));
    }
    let n_authors = r.u32()? as usize;
    let mut authors = Vec::with_capacity(n_authors.min(1 << 16));
    for _ in 0..n_authors {
        authors.push(Username::parse(r.short_str()?).map_err(|_| DecodeError("author"))?);
    }
    let n = r.u32()? as usize;
    // Written in record order and each record's fields in name order: collected, then
    // built in bulk (a sorted `from_iter` fills the tree's nodes left to right, where
    // inserting walks the tree once per entry).
    let mut out = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let id = RecordId(r.array()?);
        let collection = CollectionId(r.array()?);
        let version = r.u64()?;
        let writer = authors.get(r.u32()? as usize).ok_or(DecodeError("writer index"))?.clone();
        let epoch = r.u32()?;
        let n_fields = r.u32()? as usize;
        let mut fields = Vec::with_capacity(n_fields.min(256));
        for _ in 0..n_fields {
            let name = string(&mut r)?;
            let value = match r.u8()? {
                0 => None,
                1 => Some(Value::Text(string(&mut r)?)),
                2 => Some(Value::Int(r.u64()? as i64)),
                3 => Some(Value::Bool(r.u8()? != 0)),
                4 => {
                    let k = r.u32()? as usize;
                    let mut l = Vec::with_capacity(k.min(1024));
                    for _ in 0..k {
                        l.push(string(&mut r)?);
                    }
                    Some(Value::List(l))
                }
                _ => return Err(DecodeError("value tag")),
            };
            let hlc = Hlc { wall_ms: r.u64()?, counter: r.u32()? };
            let author = authors.get(r.u32()? as usize).ok_or(DecodeError("author index"))?.clone();
            fields.push((name, FieldState { value, stamp: Stamp { hlc, author } }));
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
        let mut unknown = good.clone();
        unknown[0] = 1;
        assert!(decode(&unknown).is_err(), "a version 1 cache is re-opened from ciphertext, not misread");
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
        assert_eq!(&hex[..26], "020000000303626f6203616e6e", "version 2, three authors (bob, ann, carol)");
        assert_eq!(bytes.len(), GOLDEN_LEN);
        assert_eq!(digest, GOLDEN_SHA256);
    }
    const GOLDEN_LEN: usize = 301;
    const GOLDEN_SHA256: &str = "d068a0d54c891b2866ae2c62aace1af595ca621603c972435305864331973873";
}
