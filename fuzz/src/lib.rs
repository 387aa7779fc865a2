//! Mutation fuzzing of everything Quietdesk parses from untrusted bytes, on stable Rust
//! (cargo-fuzz needs a nightly toolchain this project does not use).
//!
//! Each [`Target`] starts from valid seeds (a real sealed record, a real signed team
//! chain, a real audit chain, real request bodies, a real pull answer, real key wraps,
//! a real account bundle and pins, a real .xlsx, CSV and export file) and runs mutated
//! copies through the same code the server and the clients run: envelope decoding and
//! opening, chain and audit-chain verification, JSON request parsing plus the server's
//! structural checks, a pull page opened as the sync engine opens it, wraps opened
//! against the chain, the log-in bundle and pins opened, and the import and restore
//! parsers. A panic is a crash: the runner keeps the input and reports it. Inputs that
//! get past parsing join the corpus, so mutations reach the later checks too.
//!
//! `cargo run --release -p quietdesk-fuzz -- --seconds 60` runs every target for 60 s.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use shared::api::{
    AppendChainRequest, AuditAppend, DecideApproval, NewApproval, PushRequest, PutWrapsRequest, SignupRequest,
};
use shared::audit::{self, AuditAction, AuditEvent, AuditRow};
use shared::chain::{Action, ChainEntry, Member, Role, TeamState};
use shared::crypto::envelope::{Keyring, RecordContext, SealedRecord};
use shared::crypto::identity::IdentityKeys;
use shared::crypto::{Scope, SymmetricKey};
use shared::ids::{CollectionId, RecordId, TeamId, Username};
use shared::record::{RecordDoc, Value};
use shared::sync::seal::{open_record, Sealer};

/// xorshift64*: fast, seedable, and good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// One to eight random edits: bit flips, interesting bytes, inserts, deletions,
/// duplicated runs, truncation, and splices from another corpus entry.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0, 0xff, 0x7f, 0x80, b'"', b'{', b'0', b'-'][rng.below(8)];
            }
            2 => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next_u64() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let run: Vec<u8> = v[i..i + n].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, run);
            }
            5 if len > 0 => v.truncate(rng.below(len)),
            6 if !other.is_empty() => {
                let i = rng.below(other.len());
                let n = 1 + rng.below((other.len() - i).min(64));
                let at = rng.below(len + 1);
                v.splice(at..at, other[i..i + n].iter().copied());
            }
            _ => {
                // A random multi-byte integer, as lengths and counts are encoded.
                if len >= 4 {
                    let i = rng.below(len - 3);
                    v[i..i + 4].copy_from_slice(&(rng.next_u64() as u32).to_be_bytes());
                }
            }
        }
    }
    v
}

/// Where a run of a target got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Refused early (the bytes did not parse).
    Rejected,
    /// Parsed and went on to the deeper checks: worth mutating further.
    Parsed,
}

/// The code under test: one input in, how far it got out.
pub type Run = Box<dyn Fn(&[u8]) -> Outcome>;

/// A fuzz target: its seeds and the code under test.
pub struct Target {
    pub name: &'static str,
    pub seeds: Vec<Vec<u8>>,
    pub run: Run,
}

/// What a bounded run found.
#[derive(Debug)]
pub struct Report {
    pub name: &'static str,
    pub execs: u64,
    pub corpus: usize,
    pub crashes: Vec<Vec<u8>>,
}

/// Fuzz `target` for `budget`; stops at the first crash.
pub fn fuzz(target: &Target, budget: Duration, seed: u64) -> Report {
    let start = Instant::now();
    fuzz_while(target, seed, |_| start.elapsed() < budget)
}

/// Fuzz `target` for about `execs` inputs, reading no clock: what runs inside the
/// browser (wasm32, where `usize` is 32 bits and `Instant` does not exist), so every
/// length read from the wire is also checked with 32-bit arithmetic.
pub fn fuzz_execs(target: &Target, execs: u64, seed: u64) -> Report {
    fuzz_while(target, seed, |done| done < execs)
}

fn fuzz_while(target: &Target, seed: u64, go_on: impl Fn(u64) -> bool) -> Report {
    let mut rng = Rng::new(seed);
    let mut corpus = target.seeds.clone();
    let mut execs = 0u64;
    let mut crashes = Vec::new();
    while go_on(execs) {
        for _ in 0..64 {
            let base = &corpus[rng.below(corpus.len())];
            let other = &corpus[rng.below(corpus.len())];
            let input = mutate(&mut rng, base, other);
            execs += 1;
            match catch_unwind(AssertUnwindSafe(|| (target.run)(&input))) {
                Ok(Outcome::Parsed) if corpus.len() < 512 => corpus.push(input),
                Ok(_) => {}
                Err(_) => {
                    crashes.push(input);
                    return Report { name: target.name, execs, corpus: corpus.len(), crashes };
                }
            }
        }
    }
    Report { name: target.name, execs, corpus: corpus.len(), crashes }
}

/// A team (admin `ada`, member `bob`) with its chain, state and keys: the fixtures
/// the targets verify and open against.
struct Fixture {
    chain: Vec<ChainEntry>,
    state: TeamState,
    ada: IdentityKeys,
    bob: IdentityKeys,
    keyring: Keyring,
    collection: CollectionId,
}

fn fixture() -> Fixture {
    let (ada, bob, carol) = (IdentityKeys::generate(), IdentityKeys::generate(), IdentityKeys::generate());
    let name = |n: &str| Username::parse(n).unwrap();
    let team = TeamId::random();
    let collection = CollectionId::random();
    let member = |n: &str, k: &IdentityKeys, role| Member { username: name(n), identity: k.public(), role };
    let mut chain = vec![ChainEntry::signed(
        team,
        0,
        [0; 32],
        &name("ada"),
        &ada,
        1,
        Action::Create { admin: member("ada", &ada, Role::Admin), shared_collection: collection },
    )];
    for action in [
        Action::AddMember { member: member("bob", &bob, Role::Member) },
        Action::AddMember { member: member("carol", &carol, Role::Support) },
        Action::ChangeRole { username: name("carol"), role: Role::Manager },
        Action::Rotate { epoch: 2 },
        Action::RemoveMember { username: name("carol") },
    ] {
        let last = chain.last().unwrap();
        chain.push(ChainEntry::signed(team, last.index + 1, last.hash(), &name("ada"), &ada, 2, action));
    }
    let state = TeamState::verify(&chain, None).unwrap();
    let mut keyring = Keyring::new();
    for epoch in 1..=3 {
        for scope in Scope::ALL {
            keyring.insert(collection, epoch, scope, SymmetricKey::generate());
        }
    }
    Fixture { chain, state, ada, bob, keyring, collection }
}

fn sealed_seed(f: &Fixture) -> (RecordId, SealedRecord) {
    let record = RecordId([5; 16]);
    let me = Username::parse("bob").unwrap();
    let mut doc = RecordDoc::new();
    let mut put = |k: &str, v: Value| {
        let stamp = shared::hlc::Stamp { hlc: shared::hlc::Hlc { wall_ms: 9, counter: 0 }, author: me.clone() };
        doc.apply(k, shared::record::FieldState { value: Some(v), stamp });
    };
    put("kind", Value::Text("customer".into()));
    put("name", Value::Text("Fuzz Canary".into()));
    put("phone", Value::Text("13900000000".into()));
    put("tags", Value::List(vec!["a".into(), "b".into()]));
    let sealer =
        Sealer { me: &me, identity: &f.bob, keyring: &f.keyring, epoch: f.state.epoch, head: f.state.chain_head() };
    let ctx = RecordContext { team: f.state.team, record };
    let (sealed, _) = sealer.seal(&ctx, f.collection, 1, &doc, None).unwrap();
    (record, sealed)
}

/// Envelope decoding and opening: the server's structural check (`inspect`) and a
/// client opening with every key it holds.
pub fn envelope() -> Target {
    let f = fixture();
    let (record, sealed) = sealed_seed(&f);
    let ctx = RecordContext { team: f.state.team, record };
    Target {
        name: "envelope",
        seeds: vec![sealed.0.clone()],
        run: Box::new(move |bytes| {
            let s = SealedRecord(bytes.to_vec());
            let info = s.inspect();
            let opened = open_record(&s, &ctx, 1, &f.keyring, &f.state);
            if let Ok(o) = &opened {
                // Anything that opens is a record this client could display and edit.
                let _ = o.doc.is_deleted();
            }
            if info.is_ok() {
                Outcome::Parsed
            } else {
                Outcome::Rejected
            }
        }),
    }
}

/// The team chain as a client receives it (JSON) and verifies it.
pub fn chain() -> Target {
    let f = fixture();
    let known = f.state.known_head();
    let seed = serde_json::to_vec(&f.chain).unwrap();
    Target {
        name: "chain",
        seeds: vec![seed],
        run: Box::new(move |bytes| {
            let Ok(entries) = serde_json::from_slice::<Vec<ChainEntry>>(bytes) else { return Outcome::Rejected };
            let verified = TeamState::verify(&entries, None);
            let _ = TeamState::verify(&entries, Some(&known));
            if let Ok(s) = verified {
                // A chain that verifies must be the real one or a prefix of it.
                assert!(entries.iter().zip(&f.chain).all(|(a, b)| a == b), "a forged chain verified: {s:?}");
            }
            Outcome::Parsed
        }),
    }
}

/// The audit chain as an admin's client receives it and verifies it.
pub fn audit_chain() -> Target {
    let f = fixture();
    let bob = Username::parse("bob").unwrap();
    let ada = Username::parse("ada").unwrap();
    let mut rows = Vec::new();
    let mut prev = [0u8; 32];
    let mut stream = audit::AuditStream::new();
    for seq in 1..=4u64 {
        let event = AuditEvent {
            at_ms: seq as i64,
            action: AuditAction::Edit,
            customer: Some(RecordId([1; 16])),
            record: None,
            detail: format!("fields {seq}"),
        };
        let entry = if seq == 3 {
            audit::note("a server note")
        } else {
            audit::seal(&f.state, &bob, &f.bob, &event, &mut stream)
        };
        let hash = audit::link_hash(&f.state.team, &prev, seq, 7, &bob, &entry);
        prev = hash;
        rows.push(AuditRow { seq, at_ms: 7, author: bob.clone(), entry, hash });
    }
    let seed = serde_json::to_vec(&rows).unwrap();
    let entry_seed = rows[0].entry.clone();
    Target {
        name: "audit",
        seeds: vec![seed, entry_seed],
        run: Box::new(move |bytes| {
            // A sealed entry on its own, as the server checks it on append.
            let _ = audit::author_of(bytes);
            let Ok(rows) = serde_json::from_slice::<Vec<AuditRow>>(bytes) else { return Outcome::Rejected };
            let v = audit::verify(&f.state, &rows, None, &ada, &f.ada);
            assert_eq!(v.opened.len(), rows.len());
            Outcome::Parsed
        }),
    }
}

/// Request bodies as the server parses them, with the checks it runs before storing.
pub fn requests() -> Target {
    let f = fixture();
    let (record, sealed) = sealed_seed(&f);
    let bob = Username::parse("bob").unwrap();
    let push = PushRequest {
        items: vec![shared::api::PushItem { record, base_version: 0, sealed: sealed.clone(), tombstone: false }],
        approval: Some(RecordId([2; 16])),
    };
    let event = AuditEvent { at_ms: 1, action: AuditAction::Reveal, customer: None, record: None, detail: "x".into() };
    let audit_body = AuditAppend {
        entries: vec![shared::api::SealedAudit(audit::seal(
            &f.state,
            &bob,
            &f.bob,
            &event,
            &mut audit::AuditStream::new(),
        ))],
    };
    let seeds = vec![
        serde_json::to_vec(&push).unwrap(),
        serde_json::to_vec(&AppendChainRequest { entry: f.chain[1].clone(), approval: None }).unwrap(),
        serde_json::to_vec(&audit_body).unwrap(),
        serde_json::to_vec(&NewApproval {
            kind: shared::api::ApprovalKind::GrantAdmin,
            count: 3,
            subject: Some(bob.clone()),
        })
        .unwrap(),
        serde_json::to_vec(&DecideApproval { approve: true, signature: Some([9; 64]) }).unwrap(),
        serde_json::to_vec(&signup(&f.bob)).unwrap(),
        br#"{"wraps":[]}"#.to_vec(),
        serde_json::to_vec(&shared::api::RevokeDeviceRequest {
            order: shared::wipe::WipeOrder::sign(bob.clone(), Some("ab".into()), 5, bob.clone(), None, &f.bob),
        })
        .unwrap(),
        serde_json::to_vec(&shared::api::SealedPins {
            version: 2,
            blob: shared::pins::AccountPins::new([1; 16], shared::crypto::passphrase::KdfParams::DEFAULT)
                .seal(&bob, &f.bob),
        })
        .unwrap(),
    ];
    let bob_keys = f.bob.public();
    Target {
        name: "requests",
        seeds,
        run: Box::new(move |bytes| {
            let mut parsed = false;
            if let Ok(p) = serde_json::from_slice::<PushRequest>(bytes) {
                parsed = true;
                for item in &p.items {
                    let _ = item.sealed.inspect();
                }
            }
            if let Ok(a) = serde_json::from_slice::<AppendChainRequest>(bytes) {
                parsed = true;
                let mut s = f.state.clone();
                let _ = s.apply(&a.entry);
            }
            if let Ok(a) = serde_json::from_slice::<AuditAppend>(bytes) {
                parsed = true;
                for e in &a.entries {
                    let _ = audit::author_of(&e.0);
                }
            }
            parsed |= serde_json::from_slice::<NewApproval>(bytes).is_ok();
            parsed |= serde_json::from_slice::<DecideApproval>(bytes).is_ok();
            parsed |= serde_json::from_slice::<SignupRequest>(bytes).is_ok();
            parsed |= serde_json::from_slice::<PutWrapsRequest>(bytes).is_ok();
            if let Ok(r) = serde_json::from_slice::<shared::api::RevokeDeviceRequest>(bytes) {
                parsed = true;
                let _ = r.order.verify_signature(&bob_keys);
            }
            if let Ok(p) = serde_json::from_slice::<shared::api::SealedPins>(bytes) {
                parsed = true;
                let _ = shared::pins::AccountPins::open(&p.blob, &bob, &f.bob);
            }
            if parsed {
                Outcome::Parsed
            } else {
                Outcome::Rejected
            }
        }),
    }
}

/// A real sign-up body (its keys derived with the cheapest accepted KDF).
fn signup(keys: &IdentityKeys) -> SignupRequest {
    use shared::crypto::passphrase::{derive_account_keys, KdfParams, Passphrase};
    let (salt, kdf) = ([3u8; 16], KdfParams::MINIMUM);
    let (auth, wrap) =
        derive_account_keys(&Passphrase::new("fuzz passphrase"), &Username::parse("bob").unwrap(), &salt, kdf).unwrap();
    SignupRequest {
        username: Username::parse("bob").unwrap(),
        salt,
        kdf,
        auth_key: *auth.expose_secret(),
        identity: keys.public(),
        bundle: keys.seal_bundle(&wrap, "bob"),
    }
}

/// A pull answer as a client receives it (JSON): parsed, then every change opened as
/// the sync engine opens one.
pub fn pull_answer() -> Target {
    let f = fixture();
    let (record, sealed) = sealed_seed(&f);
    let page = shared::api::PullResponse {
        changes: vec![shared::api::Change { seq: 7, record, version: 1, sealed }],
        cursor: 7,
        more: false,
        reset: false,
        restore: None,
        remaining: None,
    };
    Target {
        name: "pull",
        seeds: vec![serde_json::to_vec(&page).unwrap()],
        run: Box::new(move |bytes| {
            let Ok(page) = serde_json::from_slice::<shared::api::PullResponse>(bytes) else { return Outcome::Rejected };
            for c in &page.changes {
                let ctx = RecordContext { team: f.state.team, record: c.record };
                let _ = open_record(&c.sealed, &ctx, c.version, &f.keyring, &f.state);
            }
            Outcome::Parsed
        }),
    }
}

/// Key wraps as a member's client receives them (JSON), opened against the chain.
pub fn key_wraps() -> Target {
    let f = fixture();
    let (ada, bob) = (Username::parse("ada").unwrap(), Username::parse("bob").unwrap());
    let distributor = shared::team::Distributor { name: &ada, identity: &f.ada };
    let member = f.state.members.get(&bob).unwrap().clone();
    let wraps = distributor.wraps_for_member(&f.state, &f.keyring, &member);
    assert!(!wraps.is_empty(), "the fixture makes wraps for bob");
    let seed = serde_json::to_vec(&shared::api::WrapsResponse { wraps }).unwrap();
    Target {
        name: "wraps",
        seeds: vec![seed],
        run: Box::new(move |bytes| {
            let Ok(r) = serde_json::from_slice::<shared::api::WrapsResponse>(bytes) else { return Outcome::Rejected };
            let keys = shared::team::open_wraps(&bob, &f.bob, &f.state, &r.wraps);
            std::hint::black_box(keys.len());
            Outcome::Parsed
        }),
    }
}

/// The account bundle a log-in receives, and the account's pins, opened with the keys
/// derived from the passphrase (what a new device does with the server's answer).
pub fn login_bundle() -> Target {
    use shared::crypto::passphrase::{derive_account_keys, KdfParams, Passphrase};
    let bob = Username::parse("bob").unwrap();
    let keys = IdentityKeys::generate();
    let (_, wrap) =
        derive_account_keys(&Passphrase::new("fuzz passphrase"), &bob, &[3; 16], KdfParams::MINIMUM).unwrap();
    let bundle = keys.seal_bundle(&wrap, "bob");
    let pins = shared::pins::AccountPins::new([3; 16], KdfParams::MINIMUM).seal(&bob, &keys);
    Target {
        name: "bundle",
        seeds: vec![bundle.0, pins.clone()],
        run: Box::new(move |bytes| {
            let bundle = shared::crypto::identity::AccountBundle(bytes.to_vec());
            let opened = IdentityKeys::open_bundle_with_flags(&bundle, &wrap, "bob").is_ok();
            let pins_open = shared::pins::AccountPins::open(bytes, &bob, &keys).is_ok();
            if opened || pins_open || bytes.first() == Some(&2) {
                Outcome::Parsed
            } else {
                Outcome::Rejected
            }
        }),
    }
}

/// Files a user imports: an .xlsx workbook and a CSV file (as text, then mapped to
/// customers as the import does), and an encrypted export file.
pub fn files() -> Target {
    use shared::crypto::passphrase::Passphrase;
    let rows = vec![
        vec!["姓名".to_owned(), "电话".to_owned(), "邮箱".to_owned()],
        vec!["张伟".to_owned(), "13812345678".to_owned(), "zw@example.cn".to_owned()],
    ];
    let xlsx = shared::xlsx::write("客户", &rows);
    let csv = shared::csv::write(&rows).into_bytes();
    let doc = {
        let mut d = RecordDoc::new();
        let stamp = shared::hlc::Stamp { hlc: Default::default(), author: Username::parse("bob").unwrap() };
        d.apply("name", shared::record::FieldState { value: Some(Value::Text("导出".into())), stamp });
        d
    };
    let passphrase = Passphrase::new("fuzz export passphrase");
    let params = shared::crypto::passphrase::KdfParams::MINIMUM;
    let export = shared::export::seal(&passphrase, params, &[(RecordId([1; 16]), doc)]).unwrap();
    // The file's key, derived once: a run with the seed's salt and settings decrypts,
    // any other gets the wrong key (as a wrong passphrase would), with no Argon2 a run.
    let salt: [u8; 16] = export[4..20].try_into().unwrap();
    let key = shared::crypto::passphrase::derive_file_key(&passphrase, &salt, params).unwrap();
    Target {
        name: "files",
        seeds: vec![xlsx, csv, export],
        run: Box::new(move |bytes| {
            let book = shared::xlsx::read(bytes);
            let text = String::from_utf8_lossy(bytes);
            let table = shared::csv::parse(&text);
            if let Some(header) = table.first() {
                let mapping: Vec<Option<&str>> = header.iter().map(|h| shared::csv::guess_field(h)).collect();
                for row in table.iter().skip(1).take(100) {
                    let _ = shared::csv::row_to_customer(&mapping, row);
                }
            }
            let opened = shared::export::open_with(bytes, |s, p| {
                if *s == salt
                    && p.m_cost_kib == params.m_cost_kib
                    && p.t_cost == params.t_cost
                    && p.p_cost == params.p_cost
                {
                    Ok(key.clone())
                } else {
                    Ok(shared::crypto::SymmetricKey::from_bytes([0; 32]))
                }
            });
            if book.is_ok() || opened.is_ok() || table.len() > 1 {
                Outcome::Parsed
            } else {
                Outcome::Rejected
            }
        }),
    }
}

/// Every target.
pub fn targets() -> Vec<Target> {
    vec![envelope(), chain(), audit_chain(), requests(), pull_answer(), key_wraps(), login_bundle(), files()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short run of every target in the ordinary test suite (the long runs are
    /// `cargo run --release -p quietdesk-fuzz -- --seconds 60`).
    #[test]
    fn every_target_survives_a_short_run() {
        for t in targets() {
            assert!(matches!((t.run)(&t.seeds[0]), Outcome::Parsed), "{}: its seed parses", t.name);
            let r = fuzz(&t, Duration::from_secs(2), 0x5eed);
            assert!(r.crashes.is_empty(), "{}: crashed on {:02x?}", t.name, r.crashes[0]);
            assert!(r.execs > 100, "{}: only {} runs", t.name, r.execs);
        }
    }

    #[test]
    fn mutations_change_inputs_and_stay_deterministic() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let x = mutate(&mut a, b"hello world", b"other");
        assert_eq!(x, mutate(&mut b, b"hello world", b"other"));
        let mut r = Rng::new(9);
        assert!((0..100).any(|_| mutate(&mut r, b"hello world", b"") != b"hello world"));
    }
}
