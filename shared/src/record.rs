//! Records as maps of fields, merged per field.
//!
//! Each field holds a value (or a tombstone) and the [`Stamp`] of the edit that wrote
//! it. Merging keeps, per field, the state with the greater `(stamp, value)`; that is a
//! join of a semilattice, so merge is commutative, associative and idempotent, and
//! every client that has seen the same edits holds the same record, in any order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hlc::{Hlc, Stamp};
use crate::ids::{RecordId, TeamId, Username};

/// A field value. Money is an integer of minor units; times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl Value {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

/// A field's current state: a value, or a tombstone (`None`) that still carries the
/// stamp of the deletion so an older write cannot resurrect it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldState {
    #[serde(rename = "v")]
    pub value: Option<Value>,
    #[serde(rename = "s")]
    pub stamp: Stamp,
}

impl FieldState {
    /// Does `self` win over `other`? Ties on stamp (the same author writing from two
    /// devices in the same millisecond) fall back to the value, so the choice is still
    /// the same everywhere.
    pub fn beats(&self, other: &FieldState) -> bool {
        (&self.stamp, &self.value) > (&other.stamp, &other.value)
    }
}

/// The name of the field that marks a whole record deleted.
pub const DELETED: &str = "deleted";

/// The field a version that puts back fields a restored server lost carries, set by
/// its signer to the version's own number. Such a version legitimately brings back
/// fields other members wrote (with their original stamps, so merges still order
/// them right); any other version may only change fields in its signer's name.
pub const REPAIRED: &str = "repaired";
/// The field every record names its kind in (`customer`, `contact`, …: see
/// `crate::domain::field::KIND`, which is this).
pub const KIND: &str = "kind";

/// The field a version carries when, as its signer's client merged it, the signer's
/// edits replaced concurrent writes of others (writes that reached the server after
/// the signer edited, so the signer never saw them): the version's own number, then
/// one entry per replaced write, naming the field and the replaced write's stamp (no
/// value). Readers take it only from the version whose signer set it to that
/// version's number ([`replaced_in`]): the device of each named author that holds
/// the replaced write tells its user, whichever push reached the server first.
pub const REPLACED: &str = "replaced";

/// The value of [`REPLACED`] for `version`, naming `writes` (field and stamp). Frozen:
/// `version`, then `field␟author␟wall_ms␟counter` per write (U+001F between parts).
pub fn replaced_mark<'a>(version: u64, writes: impl IntoIterator<Item = (&'a str, &'a Stamp)>) -> Value {
    let mut lines = vec![version.to_string()];
    lines.extend(
        writes
            .into_iter()
            .map(|(field, s)| format!("{field}\u{1f}{}\u{1f}{}\u{1f}{}", s.author, s.hlc.wall_ms, s.hlc.counter)),
    );
    Value::List(lines)
}

/// The writes `doc`, as `version` signed by `signer`, says its signer's edits replaced
/// ([`REPLACED`]): nothing unless the mark is the signer's own, for this version.
pub fn replaced_in(doc: &RecordDoc, version: u64, signer: &crate::ids::Username) -> Vec<(String, Stamp)> {
    let Some(mark) = doc.fields.get(REPLACED).filter(|m| &m.stamp.author == signer) else { return Vec::new() };
    let Some(lines) = mark.value.as_ref().and_then(Value::as_list) else { return Vec::new() };
    if lines.first() != Some(&version.to_string()) {
        return Vec::new();
    }
    let parse = |line: &String| {
        let mut p = line.split('\u{1f}');
        let field = p.next()?.to_owned();
        let author = crate::ids::Username::parse(p.next()?).ok()?;
        let hlc = crate::hlc::Hlc { wall_ms: p.next()?.parse().ok()?, counter: p.next()?.parse().ok()? };
        p.next().is_none().then_some((field, Stamp { hlc, author }))
    };
    lines[1..].iter().filter_map(parse).collect()
}

/// The field that certifies who created a record: the creator's Ed25519 signature over
/// [`creation_statement`] (the team, the record, their username and the record's
/// `kind` as they wrote it, value and stamp), as standard base64 text, stamped with the
/// `kind` field's own stamp. The creator's client adds it when it first seals the record
/// (or, for a record created before certificates, the next time it seals one whose
/// `kind` its user wrote); every later version carries it unchanged. A reader names the
/// `kind`'s author as the creator only if that author signed the version it holds or
/// this certificate verifies under their key in the verified chain ([`creator`]); a
/// certificate that does not verify (copied from another record, made up) gets the
/// version refused.
pub const CREATED: &str = "created";

/// The bytes a creation certificate signs. Frozen (golden vector
/// `shared/tests/golden/creation_v1.hex`): the label, the team (16 bytes), the record
/// (16), the creator (u8 length, UTF-8), the `kind` value (u32 length, UTF-8), and the
/// `kind` field's stamp (wall clock ms as u64, counter as u32, big-endian).
pub fn creation_statement(team: &TeamId, record: &RecordId, creator: &Username, kind: &str, hlc: Hlc) -> Vec<u8> {
    let mut w = crate::encoding::Writer::with_capacity(96 + kind.len());
    w.fixed(crate::crypto::label::RECORD_CREATION)
        .fixed(team.as_bytes())
        .fixed(record.as_bytes())
        .short_str(creator.as_str())
        .bytes(kind.as_bytes())
        .u64(hlc.wall_ms)
        .u32(hlc.counter);
    w.finish()
}

/// The `kind` field of `doc` as a certificate names it: its text and stamp.
fn kind_of(doc: &RecordDoc) -> Option<(&str, &Stamp)> {
    let kind = doc.fields.get(KIND)?;
    Some((kind.value.as_ref()?.as_text()?, &kind.stamp))
}

/// The signature `doc` carries for its `kind` ([`CREATED`], stamped as the `kind` is),
/// if it carries one; `Some(None)` for a mark that is no signature.
fn certificate(doc: &RecordDoc) -> Option<Option<[u8; 64]>> {
    use base64::Engine;
    let (_, stamp) = kind_of(doc)?;
    let mark = doc.fields.get(CREATED).filter(|m| &m.stamp == stamp)?;
    let text = mark.value.as_ref().and_then(Value::as_text);
    let bytes = text.and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok());
    Some(bytes.and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok()))
}

/// What `me`'s client signs before sealing `doc` (a version of `record`): the creation
/// statement, when the `kind` is `me`'s and no certificate for it is carried yet.
pub fn creation_to_sign(doc: &RecordDoc, team: &TeamId, record: &RecordId, me: &Username) -> Option<Vec<u8>> {
    let (kind, stamp) = kind_of(doc)?;
    (&stamp.author == me && certificate(doc).is_none()).then(|| creation_statement(team, record, me, kind, stamp.hlc))
}

/// Put the creator's `signature` of [`creation_to_sign`]'s statement into `doc`.
pub fn certify(doc: &mut RecordDoc, signature: &[u8; 64]) {
    use base64::Engine;
    let Some((_, stamp)) = kind_of(doc) else { return };
    let value = Some(Value::Text(base64::engine::general_purpose::STANDARD.encode(signature)));
    let state = FieldState { value, stamp: stamp.clone() };
    doc.fields.insert(CREATED.to_owned(), state);
}

/// What naming `doc`'s creator takes, for a version signed by `signer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreationCheck {
    /// Nothing: the `kind`'s author signed the version, or no certificate is carried
    /// (then [`creator`] names the signer).
    Signed,
    /// This signature must hold: a certificate is carried for the `kind`'s author.
    Verify(crate::crypto::envelope::SignatureCheck),
    /// A certificate is carried that cannot hold (no signature, or an author the
    /// verified chain never had): the version is refused.
    Forged,
}

/// What taking `doc` (a version of `record` signed by `signer`) takes for its creator
/// ([`CreationCheck`]); `ever` is the verified chain's everyone-ever-admitted.
pub fn creation_check(
    doc: &RecordDoc,
    team: &TeamId,
    record: &RecordId,
    signer: &Username,
    ever: &BTreeMap<Username, crate::crypto::identity::PublicIdentity>,
) -> CreationCheck {
    let Some((kind, stamp)) = kind_of(doc) else { return CreationCheck::Signed };
    if &stamp.author == signer {
        return CreationCheck::Signed;
    }
    match (certificate(doc), ever.get(&stamp.author)) {
        (None, _) => CreationCheck::Signed,
        (Some(Some(signature)), Some(key)) => CreationCheck::Verify(crate::crypto::envelope::SignatureCheck {
            signer: key.sign_pk,
            message: creation_statement(team, record, &stamp.author, kind, stamp.hlc),
            signature,
        }),
        (Some(_), _) => CreationCheck::Forged,
    }
}

/// Records whose `kind` is stamped before this instant (2026-12-07 12:00 UTC) were
/// written before creation certificates and carry none: their creator is the `kind`'s
/// author on the stamp's word (what a key rotation re-signs would otherwise be named for
/// the admin who re-sealed it). A record without a certificate stamped later is named
/// for whoever signed the version held.
pub const CERTIFIED_SINCE_MS: u64 = 1_796_644_800_000;

/// Who created `doc`, on the word of signatures, as held at a version signed by
/// `signer` (whose certificate, where [`creation_check`] asked, was verified when it
/// was taken): the `kind`'s author if they signed that version or a certificate for the
/// `kind` is carried (or the record is from before certificates:
/// [`CERTIFIED_SINCE_MS`]); otherwise `signer`, the one who signed what is held. `None`
/// for a record without a `kind`.
pub fn creator<'a>(doc: &'a RecordDoc, signer: &'a Username) -> Option<&'a Username> {
    let (_, stamp) = kind_of(doc)?;
    let legacy = !doc.fields.contains_key(CREATED) && stamp.hlc.wall_ms < CERTIFIED_SINCE_MS;
    let proven = legacy || &stamp.author == signer || certificate(doc).is_some_and(|c| c.is_some());
    Some(if proven { &stamp.author } else { signer })
}

/// A record's fields. The plaintext inside an envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDoc {
    pub fields: BTreeMap<String, FieldState>,
}

impl RecordDoc {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one field write, keeping it only if it wins. Returns whether it changed.
    pub fn apply(&mut self, name: &str, state: FieldState) -> bool {
        match self.fields.get(name) {
            Some(cur) if !state.beats(cur) => false,
            _ => {
                self.fields.insert(name.to_owned(), state);
                true
            }
        }
    }

    /// Merge another copy of the same record into this one, field by field.
    pub fn merge(&mut self, other: &RecordDoc) -> bool {
        let mut changed = false;
        for (name, state) in &other.fields {
            changed |= self.apply(name, state.clone());
        }
        changed
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).and_then(|f| f.value.as_ref())
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_text)
    }

    pub fn is_deleted(&self) -> bool {
        self.get(DELETED).and_then(Value::as_bool).unwrap_or(false)
    }

    /// The newest stamp in the record, for clocks to observe.
    pub fn max_stamp(&self) -> Option<&Stamp> {
        self.fields.values().map(|f| &f.stamp).max()
    }

    /// Every field's stamp.
    pub fn stamps(&self) -> impl Iterator<Item = &Stamp> {
        self.fields.values().map(|f| &f.stamp)
    }
}

/// One local edit of one record: the unit the outbox stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "FieldEditWire", into = "FieldEditWire")]
pub struct FieldEdit {
    pub field: String,
    pub state: FieldState,
}

/// How a [`FieldEdit`] is stored: `{"field":…,"v":…,"s":…}`, the state's keys beside
/// the name. (The same bytes `#[serde(flatten)]` wrote, without flatten's buffering
/// through serde's generic `Content`, which costs the browser bundle.)
#[derive(Serialize, Deserialize)]
struct FieldEditWire {
    field: String,
    v: Option<Value>,
    s: Stamp,
}

impl From<FieldEditWire> for FieldEdit {
    fn from(w: FieldEditWire) -> Self {
        FieldEdit { field: w.field, state: FieldState { value: w.v, stamp: w.s } }
    }
}

impl From<FieldEdit> for FieldEditWire {
    fn from(e: FieldEdit) -> Self {
        FieldEditWire { field: e.field, v: e.state.value, s: e.state.stamp }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::Hlc;
    use crate::ids::Username;
    use proptest::prelude::*;

    #[test]
    fn the_replaced_mark_is_frozen_and_read_only_from_its_signer_for_its_version() {
        let (ann, bob) = (Username::parse("ann").unwrap(), Username::parse("bob").unwrap());
        let replaced = Stamp { hlc: Hlc { wall_ms: 1_700_000_000_000, counter: 3 }, author: ann.clone() };
        let mark = replaced_mark(7, [("notes", &replaced)]);
        assert_eq!(mark, Value::List(vec!["7".into(), "notes\u{1f}ann\u{1f}1700000000000\u{1f}3".into()]));
        let mut doc = RecordDoc::new();
        let by = |who: &Username| Stamp { hlc: Hlc { wall_ms: 1_700_000_000_001, counter: 0 }, author: who.clone() };
        doc.apply(REPLACED, FieldState { value: Some(mark), stamp: by(&bob) });
        assert_eq!(replaced_in(&doc, 7, &bob), vec![("notes".to_owned(), replaced)]);
        assert!(replaced_in(&doc, 8, &bob).is_empty(), "a later version carrying the mark names nothing");
        assert!(replaced_in(&doc, 7, &ann).is_empty(), "only its signer's own mark counts");
    }

    #[test]
    fn golden_creation_certificate_names_only_a_creator_who_signed() {
        use crate::crypto::identity::IdentityKeys;
        use crate::domain::field::KIND;
        let keys = IdentityKeys::from_secret_bytes([1; 32], [2; 32], [3; 32]);
        let (team, record) = (TeamId([7; 16]), RecordId([9; 16]));
        let (ann, bob) = (Username::parse("ann").unwrap(), Username::parse("bob").unwrap());
        let stamp = Stamp { hlc: Hlc { wall_ms: 1_700_000_000_000, counter: 2 }, author: ann.clone() };
        let mut doc = RecordDoc::new();
        doc.apply(KIND, FieldState { value: Some(Value::Text("interaction".into())), stamp: stamp.clone() });
        assert_eq!(creation_to_sign(&doc, &team, &record, &bob), None, "only the kind's author certifies it");
        let statement = creation_to_sign(&doc, &team, &record, &ann).unwrap();
        let signature = keys.sign(&statement);
        certify(&mut doc, &signature);
        let mark = serde_json::to_string(&doc.fields[CREATED]).unwrap();
        let golden = include_str!("../tests/golden/creation_v1.hex").trim();
        let computed = format!("{} {} {mark}", hex::encode(&statement), hex::encode(signature));
        assert_eq!(computed, golden, "golden creation certificate changed: stored records stop proving their creators");
        assert_eq!(creation_to_sign(&doc, &team, &record, &ann), None, "certified once");

        let ever: BTreeMap<Username, _> = [(ann.clone(), keys.public())].into();
        assert_eq!(creation_check(&doc, &team, &record, &ann, &ever), CreationCheck::Signed);
        let CreationCheck::Verify(check) = creation_check(&doc, &team, &record, &bob, &ever) else { panic!() };
        assert!(check.holds());
        let CreationCheck::Verify(copied) = creation_check(&doc, &team, &RecordId([8; 16]), &bob, &ever) else {
            panic!()
        };
        assert!(!copied.holds(), "a certificate copied to another record does not hold");
        assert_eq!(creation_check(&doc, &team, &record, &bob, &BTreeMap::new()), CreationCheck::Forged);
        assert_eq!(creator(&doc, &bob), Some(&ann), "certified: the kind's author");

        let mut bare = doc.clone();
        bare.fields.remove(CREATED);
        assert_eq!(creation_check(&bare, &team, &record, &bob, &ever), CreationCheck::Signed);
        assert_eq!(creator(&bare, &bob), Some(&ann), "from before certificates: the kind's author, on its stamp");
        let since = Stamp { hlc: Hlc { wall_ms: CERTIFIED_SINCE_MS, counter: 0 }, author: ann.clone() };
        bare.fields.insert(KIND.into(), FieldState { value: Some(Value::Text("interaction".into())), stamp: since });
        assert_eq!(creator(&bare, &bob), Some(&bob), "uncertified: whoever signed the version held");
        assert_eq!(creator(&bare, &ann), Some(&ann));
        let mut junk = doc.clone();
        junk.fields.get_mut(CREATED).unwrap().value = Some(Value::Text("not a signature".into()));
        assert_eq!(creation_check(&junk, &team, &record, &bob, &ever), CreationCheck::Forged);
        assert_eq!(creator(&junk, &bob), Some(&bob));
        // The kind written again (by bob): the certificate is for another stamp.
        let mut again = doc.clone();
        let later = Stamp { hlc: Hlc { wall_ms: 1_700_000_000_001, counter: 0 }, author: bob.clone() };
        again.apply(KIND, FieldState { value: Some(Value::Text("interaction".into())), stamp: later });
        assert_eq!(creator(&again, &ann), Some(&ann), "named for the signer, not the kind's new author");
        assert!(creation_to_sign(&again, &team, &record, &bob).is_some(), "bob's client certifies its own kind");
    }

    fn stamp(wall: u64, counter: u32, who: &str) -> Stamp {
        Stamp { hlc: Hlc { wall_ms: wall, counter }, author: Username::parse(who).unwrap() }
    }

    #[test]
    fn a_field_edit_is_stored_as_it_always_was() {
        // The form it had (a flatten), which outboxes on devices still hold.
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Before {
            field: String,
            #[serde(flatten)]
            state: FieldState,
        }
        for value in [Some(Value::Text("Li".into())), None] {
            let state = FieldState {
                value,
                stamp: Stamp { hlc: Hlc { wall_ms: 5, counter: 1 }, author: "ann".parse().unwrap() },
            };
            let e = FieldEdit { field: "name".into(), state: state.clone() };
            let before = serde_json::to_string(&Before { field: "name".into(), state }).unwrap();
            assert_eq!(serde_json::to_string(&e).unwrap(), before);
            assert_eq!(serde_json::from_str::<FieldEdit>(&before).unwrap(), e);
        }
    }

    #[test]
    fn later_write_wins_and_tombstones_stick() {
        let mut d = RecordDoc::new();
        d.apply("phone", FieldState { value: Some(Value::Text("1".into())), stamp: stamp(10, 0, "ann") });
        d.apply("phone", FieldState { value: None, stamp: stamp(20, 0, "bob") });
        assert!(!d.apply("phone", FieldState { value: Some(Value::Text("old".into())), stamp: stamp(15, 0, "cat") }));
        assert_eq!(d.get("phone"), None);
        assert!(d.fields.contains_key("phone"), "tombstone kept");
    }

    fn edit_strategy() -> impl Strategy<Value = (String, FieldState)> {
        let field = prop::sample::select(vec!["name", "phone", "notes", "stage"]);
        let value = prop::option::of(prop_oneof![
            "[a-c]{0,2}".prop_map(Value::Text),
            (0i64..3).prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
        ]);
        let who = prop::sample::select(vec!["ann", "bob"]);
        (field, value, 0u64..4, 0u32..2, who)
            .prop_map(|(f, v, w, c, a)| (f.to_owned(), FieldState { value: v, stamp: stamp(w, c, a) }))
    }

    proptest! {
        /// Any order and any duplication of the same edits gives the same record.
        #[test]
        fn merge_is_order_and_duplicate_insensitive(
            edits in prop::collection::vec(edit_strategy(), 0..24),
            perm_seed in any::<u64>(),
            dups in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut a = RecordDoc::new();
            for (f, s) in &edits { a.apply(f, s.clone()); }

            let mut shuffled = edits.clone();
            for i in &dups { if !edits.is_empty() { shuffled.push(edits[i.index(edits.len())].clone()); } }
            let mut seed = perm_seed;
            for i in (1..shuffled.len()).rev() {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (seed >> 33) as usize % (i + 1));
            }
            let mut b = RecordDoc::new();
            for (f, s) in &shuffled { b.apply(f, s.clone()); }
            prop_assert_eq!(&a, &b);
        }

        /// Merging whole documents is commutative, associative and idempotent.
        #[test]
        fn doc_merge_is_a_semilattice(
            x in prop::collection::vec(edit_strategy(), 0..10),
            y in prop::collection::vec(edit_strategy(), 0..10),
            z in prop::collection::vec(edit_strategy(), 0..10),
        ) {
            let doc = |e: &[(String, FieldState)]| { let mut d = RecordDoc::new(); for (f, s) in e { d.apply(f, s.clone()); } d };
            let (dx, dy, dz) = (doc(&x), doc(&y), doc(&z));
            let mut xy = dx.clone(); xy.merge(&dy);
            let mut yx = dy.clone(); yx.merge(&dx);
            prop_assert_eq!(&xy, &yx);
            let mut xy_z = xy.clone(); xy_z.merge(&dz);
            let mut yz = dy.clone(); yz.merge(&dz);
            let mut x_yz = dx.clone(); x_yz.merge(&yz);
            prop_assert_eq!(&xy_z, &x_yz);
            let mut xx = dx.clone(); xx.merge(&dx);
            prop_assert_eq!(&xx, &dx);
        }
    }
}
