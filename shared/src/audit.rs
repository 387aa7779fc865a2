//! The audit log: who revealed, changed, imported or exported what, and who logged in
//! from a new device.
//!
//! * **Signed by its author**: each entry carries the author's Ed25519 signature over
//!   everything in it, so neither the server nor another member can write or alter an
//!   entry in someone's name.
//! * **Encrypted for admins**: the event is sealed (AES-256-GCM) under a fresh key that
//!   is wrapped ([`crate::crypto::wrap`]) to each admin of the verified team chain at the
//!   time of writing. Members can write entries they cannot read back; the server reads
//!   none. (An admin admitted later cannot read entries written before; they are still
//!   chained and their signatures still verify.)
//! * **Hash-chained on the server**: the server gives each entry the next sequence number
//!   of the team and links it to the previous one with [`link_hash`]. The admin's client
//!   ([`verify`]) recomputes the chain, checks every signature, and keeps a checkpoint of
//!   the last head it verified, so a deleted, altered, reordered or rolled-back entry
//!   is reported — even if the server recomputed every hash after deleting a row.
//! * **Server notes**: a few facts only the server witnesses (an approved export was
//!   served) are chained as unsigned, plaintext notes (version byte 0) holding metadata
//!   the server already knows, never customer data.
//!
//! Member, role and key events are entries of the team chain ([`crate::chain`]), which
//! is already signed and hash-linked; the audit page shows both.
//!
//! Sealed entry v2:
//! `2 | author | id(16) | stream(16) | counter(8) | prev(32) | n(1) | n × (admin | wrap) | nonce(12) | ct | sig(64)`.
//!
//! Each device writes its entries as a stream of its own ([`AuditStream`]): a random
//! stream id, a counter from 1 and the digest of the device's previous entry, all
//! inside the signed body. An admin's client checks every stream is unbroken, so an
//! entry deleted from the middle of a device's stream is noticed even by a device
//! that never held a checkpoint (the server's numbering can be rewritten; a member's
//! signature cannot). Entry ids must be unique; a byte-identical repeat (an upload
//! retried, or a replay) is reported as such.
//!
//! Version 1 had no stream, and its key wraps used the team-key wrap label: v2 wraps
//! carry a label of their own ([`WrapPurpose::AuditEntry`]). v1 entries are still read
//! (each is signed by its member author, so a server cannot make new ones), never
//! written.

use serde::{Deserialize, Serialize};

use crate::chain::TeamState;
use crate::crypto::identity::{IdentityKeys, PublicIdentity};
use crate::crypto::wrap::{unwrap_key, wrap_key, KeyWrap, WrapContext, WrapPurpose};
use crate::crypto::{aead, label, sha256, CryptoError, Scope, SymmetricKey};
use crate::encoding::{Reader, Writer};
use crate::ids::{CollectionId, RecordId, TeamId, Username};

const ENTRY_VERSION: u8 = 2;
const ENTRY_VERSION_1: u8 = 1;
const NOTE_VERSION: u8 = 0;
/// The largest sealed entry the server stores.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024;
/// The most entries one append may carry.
pub const MAX_APPEND: usize = 200;

/// What happened. The numbers are the stored form; never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuditAction {
    /// A sensitive field was shown unmasked.
    Reveal = 1,
    Create = 2,
    Edit = 3,
    Delete = 4,
    Import = 5,
    Export = 6,
    /// A log-in from a device that held no data of this account.
    NewDevice = 7,
    /// An approval asked for, granted or refused.
    Approval = 8,
    /// Records anonymised or deleted by the lifecycle rules.
    Lifecycle = 9,
}

impl AuditAction {
    pub const ALL: [AuditAction; 9] = [
        AuditAction::Reveal,
        AuditAction::Create,
        AuditAction::Edit,
        AuditAction::Delete,
        AuditAction::Import,
        AuditAction::Export,
        AuditAction::NewDevice,
        AuditAction::Approval,
        AuditAction::Lifecycle,
    ];
    pub fn from_u8(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|a| *a as u8 == b)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Reveal => "reveal",
            AuditAction::Create => "create",
            AuditAction::Edit => "edit",
            AuditAction::Delete => "delete",
            AuditAction::Import => "import",
            AuditAction::Export => "export",
            AuditAction::NewDevice => "new device",
            AuditAction::Approval => "approval",
            AuditAction::Lifecycle => "lifecycle",
        }
    }
}

/// The plaintext of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The author's clock, Unix ms (the server's time of receipt is on the row).
    pub at_ms: i64,
    pub action: AuditAction,
    /// The customer concerned (a customer itself, or the customer a contact,
    /// interaction, task or deal belongs to).
    pub customer: Option<RecordId>,
    /// The record concerned, when it is not the customer itself.
    pub record: Option<RecordId>,
    /// Which fields, how many records, which device… (no field values).
    pub detail: String,
}

impl AuditEvent {
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + self.detail.len());
        w.u64(self.at_ms as u64).u8(self.action as u8);
        for id in [&self.customer, &self.record] {
            match id {
                Some(id) => w.u8(1).fixed(id.as_bytes()),
                None => w.u8(0),
            };
        }
        w.bytes(self.detail.as_bytes());
        w.finish()
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let at_ms = r.u64().ok()? as i64;
        let action = AuditAction::from_u8(r.u8().ok()?)?;
        let mut id = || -> Option<Option<RecordId>> {
            match r.u8().ok()? {
                0 => Some(None),
                _ => Some(Some(RecordId(r.array::<16>().ok()?))),
            }
        };
        let (customer, record) = (id()?, id()?);
        let detail = String::from_utf8(r.bytes().ok()?.to_vec()).ok()?;
        r.finish().ok()?;
        Some(AuditEvent { at_ms, action, customer, record, detail })
    }
}

/// One chained row as the server stores and serves it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub seq: u64,
    /// The server's clock when it chained the entry, Unix ms.
    pub at_ms: i64,
    pub author: Username,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "crate::encoding::b64")]
    pub entry: Vec<u8>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "crate::encoding::b64_32")]
    pub hash: [u8; 32],
}

/// The hash that links entry `seq` to the one before (`prev`; zeros for the first).
pub fn link_hash(team: &TeamId, prev: &[u8; 32], seq: u64, at_ms: i64, author: &Username, entry: &[u8]) -> [u8; 32] {
    let digest = sha256(label::AUDIT_ENTRY, &[entry]);
    let mut w = Writer::with_capacity(128);
    w.fixed(team.as_bytes()).fixed(prev).u64(seq).u64(at_ms as u64).short_str(author.as_str()).fixed(&digest);
    sha256(label::AUDIT_CHAIN, &[w.as_slice()])
}

fn aad(team: &TeamId, author: &Username, id: &[u8; 16]) -> Vec<u8> {
    let mut w = Writer::with_capacity(64);
    w.fixed(label::AUDIT_ENTRY).fixed(team.as_bytes()).short_str(author.as_str()).fixed(id);
    w.finish()
}

fn wrap_ctx(version: u8, team: &TeamId, id: &[u8; 16], admin: &Username) -> WrapContext {
    WrapContext {
        purpose: if version == ENTRY_VERSION_1 { WrapPurpose::LegacyAuditEntry } else { WrapPurpose::AuditEntry },
        team: *team,
        epoch: 0,
        collection: CollectionId(*id),
        scope: Scope::Sensitive,
        recipient: admin.clone(),
    }
}

fn signed_part(team: &TeamId, body: &[u8]) -> Vec<u8> {
    [label::AUDIT_SIG, team.as_bytes().as_slice(), body].concat()
}

/// One device's stream of audit entries: its id, the last counter used and the
/// digest of the last entry written. Kept durable by the device (a counter used twice,
/// or skipped, is reported to admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditStream {
    #[serde(with = "crate::encoding::b64_16")]
    pub id: [u8; 16],
    pub counter: u64,
    #[serde(with = "crate::encoding::b64_32")]
    pub last: [u8; 32],
}

impl AuditStream {
    /// A new stream for a device.
    pub fn new() -> Self {
        Self { id: *RecordId::random().as_bytes(), counter: 0, last: [0; 32] }
    }
}

impl Default for AuditStream {
    fn default() -> Self {
        Self::new()
    }
}

/// What links an entry to the one before it in its stream.
fn entry_digest(entry: &[u8]) -> [u8; 32] {
    sha256(b"quietdesk/v2/audit-stream", &[entry])
}

/// Seal `event` for every admin of `state`, signed by `author`, as the next entry of
/// this device's `stream` (which advances).
pub fn seal(
    state: &TeamState,
    author: &Username,
    keys: &IdentityKeys,
    event: &AuditEvent,
    stream: &mut AuditStream,
) -> Vec<u8> {
    let entry = seal_version(ENTRY_VERSION, state, author, keys, event, Some(&*stream));
    stream.counter += 1;
    stream.last = entry_digest(&entry);
    entry
}

/// [`seal`] in a given format version (tests write version 1 to prove it still reads).
fn seal_version(
    version: u8,
    state: &TeamState,
    author: &Username,
    keys: &IdentityKeys,
    event: &AuditEvent,
    stream: Option<&AuditStream>,
) -> Vec<u8> {
    let id = *RecordId::random().as_bytes();
    let key = SymmetricKey::generate();
    let admins: Vec<_> = state.members.values().filter(|m| state.is_admin(&m.username)).collect();
    let mut w = Writer::with_capacity(256 + 200 * admins.len());
    let sound: Vec<_> = admins.iter().filter(|m| m.identity.dh_key_is_sound()).take(255).collect();
    w.u8(version).short_str(author.as_str()).fixed(&id);
    if version == ENTRY_VERSION {
        let s = stream.cloned().unwrap_or_default();
        w.fixed(&s.id).u64(s.counter + 1).fixed(&s.last);
    }
    w.u8(sound.len() as u8);
    for m in sound {
        // An admin's key in the verified chain is never low-order (the chain refuses
        // one), so this leaves no admin out in practice; it never panics.
        let Ok(wrap) = wrap_key(&key, &m.identity, &wrap_ctx(version, &state.team, &id, &m.username), keys, author)
        else {
            continue;
        };
        w.short_str(m.username.as_str()).bytes(&wrap.0);
    }
    let (nonce, ct) = aead::seal(&key, &aad(&state.team, author, &id), &event.encode());
    w.fixed(&nonce).bytes(&ct);
    let sig = keys.sign(&signed_part(&state.team, w.as_slice()));
    w.fixed(&sig);
    w.finish()
}

/// A server note: metadata the server witnessed, chained but unsigned and unencrypted.
pub fn note(text: &str) -> Vec<u8> {
    let mut w = Writer::with_capacity(2 + text.len());
    w.u8(NOTE_VERSION).bytes(text.as_bytes());
    w.finish()
}

/// A server note's text: the version byte, the text's length and exactly that much
/// UTF-8, nothing after it.
fn open_note(entry: &[u8]) -> Option<String> {
    let mut r = Reader::new(entry.get(1..)?);
    let text = std::str::from_utf8(r.bytes().ok()?).ok()?.to_owned();
    r.finish().ok()?;
    Some(text)
}

/// What the server checks before chaining an entry: the shape, and that its author
/// is the member who sends it (the signature is the admins' clients' to check).
pub fn author_of(entry: &[u8]) -> Result<Username, CryptoError> {
    let bad = |_| CryptoError::Malformed("audit entry");
    let mut r = Reader::new(entry);
    match r.u8().map_err(bad)? {
        ENTRY_VERSION | ENTRY_VERSION_1 => {}
        v => return Err(CryptoError::UnknownVersion(v)),
    }
    let author = Username::parse(r.short_str().map_err(bad)?).map_err(|_| CryptoError::Malformed("audit entry"))?;
    parse(entry).map(|_| author)
}

struct Parsed<'a> {
    version: u8,
    author: &'a str,
    id: [u8; 16],
    /// Stream id, counter and previous entry's digest (version 2).
    stream: Option<([u8; 16], u64, [u8; 32])>,
    wraps: Vec<(&'a str, &'a [u8])>,
    nonce: [u8; 12],
    ct: &'a [u8],
    body_len: usize,
    sig: [u8; 64],
}

fn parse(entry: &[u8]) -> Result<Parsed<'_>, CryptoError> {
    let bad = |_| CryptoError::Malformed("audit entry");
    let mut r = Reader::new(entry);
    let version = r.u8().map_err(bad)?;
    if version != ENTRY_VERSION && version != ENTRY_VERSION_1 {
        return Err(CryptoError::Malformed("audit entry"));
    }
    let author = r.short_str().map_err(bad)?;
    let id = r.array::<16>().map_err(bad)?;
    let stream = if version == ENTRY_VERSION {
        Some((r.array::<16>().map_err(bad)?, r.u64().map_err(bad)?, r.array::<32>().map_err(bad)?))
    } else {
        None
    };
    let n = r.u8().map_err(bad)?;
    let mut wraps = Vec::with_capacity(n as usize);
    for _ in 0..n {
        wraps.push((r.short_str().map_err(bad)?, r.bytes().map_err(bad)?));
    }
    let nonce = r.array::<12>().map_err(bad)?;
    let ct = r.bytes().map_err(bad)?;
    let body_len = entry.len() - r.remaining();
    let sig = r.array::<64>().map_err(bad)?;
    r.finish().map_err(bad)?;
    Ok(Parsed { version, author, id, stream, wraps, nonce, ct, body_len, sig })
}

/// What an admin's client makes of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Event(AuditEvent),
    /// Signed correctly, but not sealed to this admin (written before they were one).
    NotForMe,
    /// A server note's text.
    Note(String),
}

/// Why the chain cannot be trusted, at which sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Entries are missing before `seq` (a gap in the numbering).
    Missing { seq: u64 },
    /// The entry does not link to the one before, or its hash does not match.
    Altered { seq: u64 },
    /// The author's signature does not verify (or the author was never a member), or
    /// the entry is neither a signed entry nor a well-formed server note.
    BadSignature { seq: u64 },
    /// The chain is shorter than, or differs from, what this client verified before.
    Rollback { seen: u64, got: u64 },
    /// Entries of `author`'s device stream are missing before `seq` (deleted, or
    /// lost by that device).
    StreamGap { seq: u64, author: Username },
    /// Entry `seq` repeats entry `first` byte for byte (an upload retried, or a replay).
    Repeated { seq: u64, first: u64 },
}

/// The last head a client verified; it keeps it to detect rewrites of the past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    #[serde(with = "crate::encoding::b64_32")]
    pub hash: [u8; 32],
}

/// The verdict on a whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub problems: Vec<Problem>,
    /// The new head (only worth keeping when there are no problems).
    pub head: Checkpoint,
    /// Each row's content, in order (`None` where it could not be opened).
    pub opened: Vec<Option<Opened>>,
}

/// Verify `rows` (the whole chain, oldest first) and open what is sealed to `me`.
/// Every row is checked: numbering, links, hashes, signatures by the author's key
/// from the verified team chain, and the earlier `known` checkpoint.
pub fn verify(
    state: &TeamState,
    rows: &[AuditRow],
    known: Option<Checkpoint>,
    me: &Username,
    keys: &IdentityKeys,
) -> Verified {
    let team = &state.team;
    let mut problems = Vec::new();
    let mut opened = Vec::with_capacity(rows.len());
    let mut prev = [0u8; 32];
    let mut expect = 1u64;
    let mut seen_known = false;
    // Per entry id: the first sequence number and the bytes; per device stream: the
    // last counter and digest seen.
    let mut ids: std::collections::HashMap<[u8; 16], (u64, &[u8])> = std::collections::HashMap::new();
    let mut streams: std::collections::HashMap<[u8; 16], (u64, [u8; 32])> = std::collections::HashMap::new();
    for row in rows {
        if row.seq != expect {
            problems.push(if row.seq > expect {
                Problem::Missing { seq: row.seq }
            } else {
                Problem::Altered { seq: row.seq }
            });
        }
        if link_hash(team, &prev, row.seq, row.at_ms, &row.author, &row.entry) != row.hash {
            problems.push(Problem::Altered { seq: row.seq });
        }
        if let Some(k) = known.filter(|k| k.seq == row.seq) {
            seen_known = true;
            if k.hash != row.hash {
                problems.push(Problem::Rollback { seen: k.seq, got: row.seq });
            }
        }
        let content = match row.entry.first() {
            Some(&NOTE_VERSION) => match open_note(&row.entry) {
                Some(text) => Some(Opened::Note(text)),
                None => {
                    // Neither a signed entry nor a note the server could have written.
                    problems.push(Problem::BadSignature { seq: row.seq });
                    None
                }
            },
            _ => match open_entry(state, row, me, keys) {
                Ok(o) => {
                    check_stream(row, &mut ids, &mut streams, &mut problems);
                    Some(o)
                }
                Err(()) => {
                    problems.push(Problem::BadSignature { seq: row.seq });
                    None
                }
            },
        };
        opened.push(content);
        prev = row.hash;
        expect = row.seq.max(expect) + 1;
    }
    let head = rows.last().map_or(Checkpoint { seq: 0, hash: [0; 32] }, |r| Checkpoint { seq: r.seq, hash: r.hash });
    if let Some(k) = known.filter(|k| k.seq > 0 && !seen_known) {
        problems.push(Problem::Rollback { seen: k.seq, got: head.seq });
    }
    Verified { problems, head, opened }
}

/// Unique ids, and every device stream unbroken (called for entries whose signature
/// verified, so the stream fields are the author's word).
fn check_stream<'a>(
    row: &'a AuditRow,
    ids: &mut std::collections::HashMap<[u8; 16], (u64, &'a [u8])>,
    streams: &mut std::collections::HashMap<[u8; 16], (u64, [u8; 32])>,
    problems: &mut Vec<Problem>,
) {
    let Ok(p) = parse(&row.entry) else { return };
    if let Some(&(first, bytes)) = ids.get(&p.id) {
        problems.push(if bytes == row.entry.as_slice() {
            Problem::Repeated { seq: row.seq, first }
        } else {
            Problem::Altered { seq: row.seq }
        });
        return;
    }
    ids.insert(p.id, (row.seq, &row.entry));
    let Some((stream, counter, prev)) = p.stream else { return };
    let (last, last_digest) = streams.get(&stream).copied().unwrap_or((0, [0; 32]));
    if counter != last + 1 || prev != last_digest {
        problems.push(if counter > last + 1 {
            Problem::StreamGap { seq: row.seq, author: row.author.clone() }
        } else {
            Problem::Altered { seq: row.seq }
        });
    }
    streams.insert(stream, (counter.max(last), entry_digest(&row.entry)));
}

fn open_entry(state: &TeamState, row: &AuditRow, me: &Username, keys: &IdentityKeys) -> Result<Opened, ()> {
    let p = parse(&row.entry).map_err(|_| ())?;
    if p.author != row.author.as_str() {
        return Err(());
    }
    let author: &PublicIdentity = state.ever.get(&row.author).ok_or(())?;
    author.verify(&signed_part(&state.team, &row.entry[..p.body_len]), &p.sig).map_err(|_| ())?;
    let Some((_, wrap)) = p.wraps.iter().find(|(who, _)| *who == me.as_str()) else {
        return Ok(Opened::NotForMe);
    };
    let key = unwrap_key(&KeyWrap(wrap.to_vec()), keys, &wrap_ctx(p.version, &state.team, &p.id, me), author)
        .map_err(|_| ())?;
    let plain = aead::open(&key, &p.nonce, &aad(&state.team, &row.author, &p.id), p.ct).map_err(|_| ())?;
    AuditEvent::decode(&plain).map(Opened::Event).ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::tests::{append, new_chain, Person};
    use crate::chain::{Action, Role};

    struct Team {
        admin: Person,
        bob: Person,
        state: TeamState,
    }

    fn team() -> Team {
        let admin = Person::new("ada");
        let bob = Person::new("bob");
        let mut chain = new_chain(&admin);
        append(&mut chain, &admin, Action::AddMember { member: bob.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        Team { admin, bob, state }
    }

    fn event(detail: &str) -> AuditEvent {
        AuditEvent {
            at_ms: 1_700_000_000_000,
            action: AuditAction::Reveal,
            customer: Some(RecordId([7; 16])),
            record: None,
            detail: detail.into(),
        }
    }

    /// What the server does on append.
    fn chain_rows(team: &TeamId, entries: Vec<(Username, Vec<u8>)>) -> Vec<AuditRow> {
        let mut prev = [0u8; 32];
        let mut rows = Vec::new();
        for (i, (author, entry)) in entries.into_iter().enumerate() {
            let seq = i as u64 + 1;
            let at_ms = 1_700_000_000_000 + seq as i64;
            let hash = link_hash(team, &prev, seq, at_ms, &author, &entry);
            prev = hash;
            rows.push(AuditRow { seq, at_ms, author, entry, hash });
        }
        rows
    }

    fn written(t: &Team, n: usize) -> Vec<AuditRow> {
        let bob = Username::parse("bob").unwrap();
        let mut stream = AuditStream::new();
        let entries = (0..n)
            .map(|i| (bob.clone(), seal(&t.state, &bob, &t.bob.keys, &event(&format!("phone {i}")), &mut stream)))
            .collect();
        chain_rows(&t.state.team, entries)
    }

    fn ada() -> Username {
        Username::parse("ada").unwrap()
    }

    #[test]
    fn members_write_what_only_admins_read() {
        let t = team();
        let rows = written(&t, 3);
        assert_eq!(author_of(&rows[0].entry).unwrap().as_str(), "bob");
        let v = verify(&t.state, &rows, None, &ada(), &t.admin.keys);
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!(v.opened[1], Some(Opened::Event(event("phone 1"))));
        // The author cannot read it back (not an admin).
        let v = verify(&t.state, &rows, None, &Username::parse("bob").unwrap(), &t.bob.keys);
        assert_eq!(v.opened[0], Some(Opened::NotForMe));
        // The server holds no plaintext.
        assert!(!rows.iter().any(|r| r.entry.windows(5).any(|w| w == b"phone")));
    }

    #[test]
    fn a_deleted_entry_in_a_device_stream_or_a_repeat_is_reported_even_without_a_checkpoint() {
        let t = team();
        let bob = Username::parse("bob").unwrap();
        let mut stream = AuditStream::new();
        let entries: Vec<Vec<u8>> =
            (0..4).map(|i| seal(&t.state, &bob, &t.bob.keys, &event(&format!("e{i}")), &mut stream)).collect();
        assert_eq!(stream.counter, 4);
        let rows = |picked: &[usize]| {
            chain_rows(&t.state.team, picked.iter().map(|&i| (bob.clone(), entries[i].clone())).collect())
        };
        assert!(verify(&t.state, &rows(&[0, 1, 2, 3]), None, &ada(), &t.admin.keys).problems.is_empty());
        // The server deletes entry 2 and renumbers and re-links its chain: the numbering
        // and links verify, the stream does not.
        let v = verify(&t.state, &rows(&[0, 1, 3]), None, &ada(), &t.admin.keys);
        assert_eq!(v.problems, vec![Problem::StreamGap { seq: 3, author: bob.clone() }]);
        // Or reorders two entries.
        let v = verify(&t.state, &rows(&[0, 2, 1, 3]), None, &ada(), &t.admin.keys);
        assert!(!v.problems.is_empty());
        // Or chains one twice.
        let v = verify(&t.state, &rows(&[0, 1, 1, 2, 3]), None, &ada(), &t.admin.keys);
        assert_eq!(v.problems, vec![Problem::Repeated { seq: 3, first: 2 }]);
        // Another device of bob's has its own stream.
        let mut other = AuditStream::new();
        let from_phone = seal(&t.state, &bob, &t.bob.keys, &event("phone"), &mut other);
        let mut mixed: Vec<(Username, Vec<u8>)> = entries.iter().map(|e| (bob.clone(), e.clone())).collect();
        mixed.insert(2, (bob.clone(), from_phone));
        assert!(verify(&t.state, &chain_rows(&t.state.team, mixed), None, &ada(), &t.admin.keys).problems.is_empty());
    }

    #[test]
    fn version_1_entries_still_open_and_wraps_do_not_cross_versions() {
        let t = team();
        let bob = Username::parse("bob").unwrap();
        let v1 = seal_version(ENTRY_VERSION_1, &t.state, &bob, &t.bob.keys, &event("old"), None);
        let v2 = seal(&t.state, &bob, &t.bob.keys, &event("new"), &mut AuditStream::new());
        assert_eq!((v1[0], v2[0]), (1, 2));
        let rows = chain_rows(&t.state.team, vec![(bob.clone(), v1.clone()), (bob.clone(), v2.clone())]);
        let v = verify(&t.state, &rows, None, &ada(), &t.admin.keys);
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!(v.opened[0], Some(Opened::Event(event("old"))));
        assert_eq!(v.opened[1], Some(Opened::Event(event("new"))));
        // A v2 entry relabelled as v1 (its wraps then read under the team-key label) fails.
        let mut relabelled = v2;
        relabelled[0] = ENTRY_VERSION_1;
        let rows = chain_rows(&t.state.team, vec![(bob, relabelled)]);
        let v = verify(&t.state, &rows, None, &ada(), &t.admin.keys);
        assert!(!v.problems.is_empty(), "the signature covers the version byte");
    }

    #[test]
    fn deleting_altering_or_rewriting_an_entry_is_reported() {
        let t = team();
        let rows = written(&t, 4);
        let ok = verify(&t.state, &rows, None, &ada(), &t.admin.keys);
        let problems = |rows: &[AuditRow], known| verify(&t.state, rows, known, &ada(), &t.admin.keys).problems;

        let mut deleted = rows.clone();
        deleted.remove(1);
        assert!(problems(&deleted, None).contains(&Problem::Missing { seq: 3 }));

        let mut altered = rows.clone();
        let last = altered[2].entry.len() - 70;
        altered[2].entry[last] ^= 1;
        let p = problems(&altered, None);
        assert!(p.contains(&Problem::Altered { seq: 3 }) && p.contains(&Problem::BadSignature { seq: 3 }), "{p:?}");

        // A server that deletes a row and renumbers and re-hashes everything after it
        // produces a consistent chain, but not the one the admin verified before — and
        // the author's device stream has a hole even without that checkpoint.
        let mut rest: Vec<_> = rows.iter().map(|r| (r.author.clone(), r.entry.clone())).collect();
        rest.remove(1);
        let rewritten = chain_rows(&t.state.team, rest);
        let bob = Username::parse("bob").unwrap();
        assert_eq!(problems(&rewritten, None), vec![Problem::StreamGap { seq: 2, author: bob }]);
        assert!(!problems(&rewritten, Some(ok.head)).is_empty());
        assert!(!problems(&rows[..2], Some(ok.head)).is_empty(), "truncation");
        assert!(problems(&rows, Some(ok.head)).is_empty());

        // A forged entry in an admin's name (signed by someone else) fails.
        let forged = seal(&t.state, &ada(), &t.bob.keys, &event("x"), &mut AuditStream::new());
        let mut rows2 = rows.clone();
        rows2.push(chain_rows(&t.state.team, vec![(ada(), forged)]).remove(0));
        rows2[4].seq = 5;
        rows2[4].hash = link_hash(&t.state.team, &rows[3].hash, 5, rows2[4].at_ms, &ada(), &rows2[4].entry);
        assert_eq!(problems(&rows2, None), vec![Problem::BadSignature { seq: 5 }]);
    }

    #[test]
    fn server_notes_are_chained_plaintext_metadata() {
        let t = team();
        let bob = Username::parse("bob").unwrap();
        let rows = chain_rows(&t.state.team, vec![(bob, note("export of 12 records served"))]);
        let v = verify(&t.state, &rows, None, &ada(), &t.admin.keys);
        assert!(v.problems.is_empty());
        assert_eq!(v.opened[0], Some(Opened::Note("export of 12 records served".into())));
        assert!(author_of(&rows[0].entry).is_err(), "a client cannot send a note");
    }

    #[test]
    fn an_entry_that_is_neither_signed_nor_a_well_formed_note_is_reported() {
        let t = team();
        let bob = Username::parse("bob").unwrap();
        let mut trailing = note("served");
        trailing.push(7);
        let mut not_utf8 = note("ab");
        *not_utf8.last_mut().unwrap() = 0xff;
        // What a row rewritten with 32 random bytes looks like when the first is 0.
        let mut random = [0x5au8; 32];
        random[0] = NOTE_VERSION;
        for entry in [vec![NOTE_VERSION], trailing, not_utf8, random.to_vec()] {
            let rows = chain_rows(&t.state.team, vec![(bob.clone(), entry.clone())]);
            let v = verify(&t.state, &rows, None, &ada(), &t.admin.keys);
            assert_eq!(v.problems, vec![Problem::BadSignature { seq: 1 }], "{entry:?}");
            assert_eq!(v.opened[0], None);
        }
    }

    #[test]
    fn event_encoding_is_frozen() {
        let e = event("phone");
        assert_eq!(
            hex::encode(e.encode()),
            "0000018bcfe568000101070707070707070707070707070707070000000005".to_string() + "70686f6e65"
        );
        assert_eq!(AuditEvent::decode(&e.encode()), Some(e));
    }
}
