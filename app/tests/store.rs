//! The IndexedDB store in headless Chromium: round trip, the outbox survives closing
//! and reopening the database, and only ciphertext is ever stored.
#![cfg(target_arch = "wasm32")]

use app::store::{self, IdbStore};
use shared::chain::{Action, ChainEntry, Member, Role, TeamState};
use shared::crypto::envelope::{Keyring, SealedRecord};
use shared::crypto::identity::IdentityKeys;
use shared::crypto::{Scope, SymmetricKey};
use shared::domain::{field, Customer, Entity};
use shared::ids::{CollectionId, RecordId, TeamId, Username};
use shared::sync::{Session, Store, StoredOp, StoredRecord, Syncer, Transport, TransportError};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn unique(name: &str) -> String {
    format!("test-{name}-{}", RecordId::random())
}

#[wasm_bindgen_test]
async fn records_outbox_and_cursor_round_trip() {
    let name = unique("roundtrip");
    let db = store::open(&name).await.unwrap();
    let a = StoredRecord { record: RecordId::random(), version: 3, sealed: SealedRecord(vec![1, 2, 3]) };
    let b = StoredRecord { record: RecordId::random(), version: 1, sealed: SealedRecord(vec![9; 300]) };
    db.save_records(&[a.clone(), b.clone()], Some(42)).await.unwrap();
    // An older version never replaces a newer one; the cursor never goes back.
    db.save_records(&[StoredRecord { version: 2, sealed: SealedRecord(vec![0]), ..a.clone() }], Some(7)).await.unwrap();
    db.add_ops(&[StoredOp { id: 1, blob: vec![5; 40] }, StoredOp { id: 2, blob: vec![6; 40] }]).await.unwrap();
    db.remove_ops(&[1]).await.unwrap();
    db.close();

    let db = store::open(&name).await.unwrap();
    let snap = db.load().await.unwrap();
    let mut records = db.records().await.unwrap();
    records.sort_by_key(|r| r.version);
    let mut want = vec![a, b];
    want.sort_by_key(|r| r.version);
    assert_eq!(records, want);
    assert_eq!(snap.cursor, 42);
    assert_eq!(snap.outbox, vec![StoredOp { id: 2, blob: vec![6; 40] }]);
    db.set_meta("k", b"v").await.unwrap();
    assert_eq!(db.meta("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(db.meta("missing").await.unwrap(), None);
    db.close();
    store::delete(&name).await.unwrap();
}

/// Removing a push's outbox entries (deleted a run of consecutive ids at a time)
/// removes exactly those, whatever their order, gaps and repeats.
#[wasm_bindgen_test]
async fn removing_outbox_entries_removes_exactly_those() {
    let name = unique("outbox-runs");
    let db = store::open(&name).await.unwrap();
    let ops: Vec<StoredOp> = (1..=20).map(|id| StoredOp { id, blob: vec![id as u8; 8] }).collect();
    db.add_ops(&ops).await.unwrap();
    db.remove_ops(&[9, 2, 3, 4, 7, 3, 12, 13, 14, 15, 20, 11]).await.unwrap();
    db.remove_ops(&[]).await.unwrap();
    let left: Vec<u64> = db.load().await.unwrap().outbox.iter().map(|op| op.id).collect();
    assert_eq!(left, vec![1, 5, 6, 8, 10, 16, 17, 18, 19]);
    db.close();
    store::delete(&name).await.unwrap();
}

struct Offline;
impl Transport for Offline {
    async fn push(&self, _: &shared::api::PushRequest) -> Result<shared::sync::PushOutcome, TransportError> {
        Err(TransportError::Offline)
    }
    async fn pull(&self, _: u64, _: u32) -> Result<shared::api::PullResponse, TransportError> {
        Err(TransportError::Offline)
    }
}

fn session(identity: &IdentityKeys, keys: &[(Scope, [u8; 32])], collection: CollectionId) -> Session {
    let me = Username::parse("browser-user").unwrap();
    let genesis = ChainEntry::signed(
        TeamId([3; 16]),
        0,
        [0; 32],
        &me,
        identity,
        0,
        Action::Create {
            admin: Member { username: me.clone(), identity: identity.public(), role: Role::Admin },
            shared_collection: collection,
        },
    );
    let team = TeamState::verify(&[genesis], None).unwrap();
    let mut keyring = Keyring::new();
    for (s, k) in keys {
        keyring.insert(collection, 1, *s, SymmetricKey::from_bytes(*k));
    }
    Session { me, identity: identity.duplicate(), keyring, team, now_ms: || js_sys::Date::now() as u64 }
}

/// Records a first sync believes new are inserted without a read; one another tab
/// stored meanwhile is still compared by version (the newer stays), in the same
/// transaction as the rest, and nothing aborts.
#[wasm_bindgen_test]
async fn records_inserted_as_new_never_replace_a_newer_one_another_tab_stored() {
    let name = unique("fresh");
    let db = store::open(&name).await.unwrap();
    let record = |version: u64, byte: u8| StoredRecord {
        record: RecordId::random(),
        version,
        sealed: SealedRecord(vec![byte; 40]),
    };
    let (newer_there, older_there) = (record(5, 1), record(2, 2));
    // "Another tab" stored these two first.
    db.save_records(&[newer_there.clone(), older_there.clone()], None).await.unwrap();
    let brand_new: Vec<StoredRecord> = (0..300).map(|i| record(1, i as u8)).collect();
    let stale = StoredRecord { version: 4, sealed: SealedRecord(vec![7; 40]), ..newer_there.clone() };
    let later = StoredRecord { version: 3, sealed: SealedRecord(vec![8; 40]), ..older_there.clone() };
    let mut batch = brand_new.clone();
    batch.insert(100, stale);
    batch.push(later.clone());
    db.save_new_records(&batch, &vec![true; batch.len()], Some(11)).await.unwrap();
    let mut want = brand_new;
    want.push(newer_there);
    want.push(later);
    want.sort_by_key(|r| r.record);
    let mut got = db.records().await.unwrap();
    got.sort_by_key(|r| r.record);
    assert_eq!(got, want);
    assert_eq!(db.load().await.unwrap().cursor, 11);
    db.close();
    store::delete(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn offline_edits_survive_a_reopen_and_only_ciphertext_is_stored() {
    let name = unique("outbox");
    let identity = IdentityKeys::generate();
    let keys = [(Scope::Basic, [1u8; 32]), (Scope::Sensitive, [2u8; 32])];
    let collection = CollectionId([4; 16]);
    let id = RecordId::random();
    {
        let db: IdbStore = store::open(&name).await.unwrap();
        let mut s = Syncer::open(session(&identity, &keys, collection), db, Offline).await.unwrap();
        let c = Customer {
            name: "Browser Canary Person".into(),
            phone: "13712345678".into(),
            notes: "browser-canary-note".into(),
            ..Default::default()
        };
        s.edit(id, c.to_fields(), 1_000).await.unwrap();
        assert!(s.sync().await.is_err(), "offline");
        let raw = s.store.raw_values().await.unwrap();
        for canary in ["Browser Canary", "13712345678", "browser-canary-note"] {
            assert!(
                !raw.iter().any(|v| v.windows(canary.len()).any(|w| w == canary.as_bytes())),
                "{canary} in IndexedDB"
            );
        }
        s.store.close();
    }
    let db = store::open(&name).await.unwrap();
    let s = Syncer::open(session(&identity, &keys, collection), db, Offline).await.unwrap();
    assert_eq!(s.replica.pending_count(), 1, "the outbox survived the reopen");
    assert_eq!(s.replica.records[&id].view.text(field::NAME), Some("Browser Canary Person"));
    s.store.close();
    store::delete(&name).await.unwrap();
}

/// A server that accepts every push and has nothing new to send.
struct Accepting;
impl Transport for Accepting {
    async fn push(&self, req: &shared::api::PushRequest) -> Result<shared::sync::PushOutcome, TransportError> {
        let accepted = req
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| shared::api::PushAccepted {
                record: it.record,
                version: it.base_version + 1,
                seq: i as u64 + 1,
            })
            .collect();
        Ok(shared::sync::PushOutcome::Accepted(shared::api::PushResponse { accepted, cursor: req.items.len() as u64 }))
    }
    async fn pull(&self, since: u64, _: u32) -> Result<shared::api::PullResponse, TransportError> {
        Ok(shared::api::PullResponse {
            changes: vec![],
            cursor: since,
            more: false,
            reset: false,
            restore: None,
            remaining: None,
        })
    }
}

#[wasm_bindgen_test]
async fn a_version_1_database_upgrades_and_the_replica_cache_holds_ciphertext_only() {
    let name = unique("migrate");
    let identity = IdentityKeys::generate();
    let keys = [(Scope::Basic, [1u8; 32]), (Scope::Sensitive, [2u8; 32])];
    let collection = CollectionId([4; 16]);
    let id = RecordId::random();
    // A device still on schema 1 with a synced customer on it.
    {
        let v1 = store::open_at(&name, 1).await.unwrap();
        assert!(!v1.store_names().contains(&"cache".to_owned()));
        v1.save_records(
            &[StoredRecord { record: RecordId::random(), version: 1, sealed: SealedRecord(vec![7; 9]) }],
            Some(5),
        )
        .await
        .unwrap();
        v1.close();
    }
    // The app opens it at the current version: the v1 rows are kept, the cache and
    // pack stores exist.
    let db = store::open(&name).await.unwrap();
    assert_eq!(store::SCHEMA_VERSION, 3);
    assert!(db.store_names().contains(&"cache".to_owned()));
    assert!(db.store_names().contains(&"packs".to_owned()));
    let snap = db.load().await.unwrap();
    assert_eq!((db.records().await.unwrap().len(), snap.cursor, snap.cache), (1, 5, None));
    db.close();
    // A fresh database for the engine: the placeholder row above is not a sealed record.
    store::delete(&name).await.unwrap();

    let db = store::open(&name).await.unwrap();
    let mut s = Syncer::open(session(&identity, &keys, collection), db, Accepting).await.unwrap();
    let c = Customer { name: "Cache Canary Person".into(), phone: "13798765432".into(), ..Default::default() };
    s.edit(id, c.to_fields(), 1_000).await.unwrap();
    s.sync().await.unwrap();
    s.save_cache().await.unwrap();
    let raw = s.store.raw_values().await.unwrap();
    for canary in ["Cache Canary", "13798765432"] {
        assert!(!raw.iter().any(|v| v.windows(canary.len()).any(|w| w == canary.as_bytes())), "{canary} in IndexedDB");
    }
    s.store.close();
    // Reopened from the cache: the record is there without re-opening its ciphertext.
    let db = store::open(&name).await.unwrap();
    let s = Syncer::open(session(&identity, &keys, collection), db, Accepting).await.unwrap();
    assert!(!s.cache_is_stale(), "served from the cache");
    assert_eq!(s.replica.records[&id].view.text(field::NAME), Some("Cache Canary Person"));
    s.store.close();
    store::delete(&name).await.unwrap();
}

/// Unlocking starts reading the replica cache before the passphrase is checked: the
/// workspace's load takes that read (once), and reads again where there was none.
#[wasm_bindgen_test]
async fn a_cache_read_started_before_unlocking_is_what_the_next_load_reads() {
    let name = unique("prefetch");
    let db = store::open(&name).await.unwrap();
    db.save_cache(&[3; 1000]).await.unwrap();
    db.save_records(&[], Some(9)).await.unwrap();
    // The account's own connection starts the read; the workspace opens another.
    db.prefetch_cache().await;
    let workspace = store::open(&name).await.unwrap();
    db.save_cache(&[4; 10]).await.unwrap(); // written after the read was issued
    let snap = workspace.load().await.unwrap();
    assert_eq!((snap.cache.as_deref(), snap.cursor), (Some(&[3u8; 1000][..]), 9));
    // Used once: the next load reads the store as it is now.
    assert_eq!(workspace.load().await.unwrap().cache.as_deref(), Some(&[4u8; 10][..]));
    // Another database's early read is not this one's.
    let other = store::open(&unique("prefetch-other")).await.unwrap();
    other.prefetch_cache().await;
    assert_eq!(workspace.load().await.unwrap().cache.as_deref(), Some(&[4u8; 10][..]));
    for s in [db, workspace] {
        s.close();
    }
    let other_name = other.name();
    other.close();
    store::delete(&name).await.unwrap();
    store::delete(&other_name).await.unwrap();
}

/// The large local blobs (the replica cache) are sealed and opened by WebCrypto: the
/// same AES-256-GCM bytes as the crate's, each side opening the other's, the context
/// bound, a changed byte refused.
#[wasm_bindgen_test]
async fn webcrypto_blobs_are_the_crates_blobs() {
    use shared::crypto::aead::{open_blob, seal_blob};
    let key = SymmetricKey::generate();
    let plain: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();

    let by_browser = app::webcrypto::seal_blob(&key, b"ctx", &plain).await.expect("WebCrypto on localhost");
    assert_eq!(open_blob(&key, b"ctx", &by_browser).unwrap(), plain);
    let by_crate = seal_blob(&key, b"ctx", &plain);
    assert_eq!(app::webcrypto::open_blob(&key, b"ctx", &by_crate).await.unwrap().unwrap(), plain);

    assert!(app::webcrypto::open_blob(&key, b"other", &by_crate).await.unwrap().is_err());
    let mut bad = by_crate.clone();
    bad[40] ^= 1;
    assert!(app::webcrypto::open_blob(&key, b"ctx", &bad).await.unwrap().is_err());
    assert!(app::webcrypto::open_blob(&SymmetricKey::generate(), b"ctx", &by_crate).await.unwrap().is_err());
    // Two seals of the same plaintext: fresh nonces.
    let again = app::webcrypto::seal_blob(&key, b"ctx", &plain).await.unwrap();
    assert_ne!(again[1..13], by_browser[1..13]);
}

/// The browser's AES (WebCrypto) opens records' sections exactly as the crate does:
/// the same plaintexts, the same records; a batch with sections under the wrong key
/// is left to the crate, which fails exactly those.
#[wasm_bindgen_test]
async fn webcrypto_decrypts_records_as_the_crate_does() {
    use shared::crypto::envelope::RecordContext;
    use shared::sync::seal::{plan_unchecked, OpenPlan};

    let identity = IdentityKeys::generate();
    let collection = CollectionId([4; 16]);
    let s = session(&identity, &[(Scope::Basic, [1u8; 32]), (Scope::Sensitive, [2u8; 32])], collection);
    let sealed = sealed_customers(&s, collection, 40);
    fn plans<'k>(
        sealed: &[(RecordContext, SealedRecord)],
        keyring: &'k Keyring,
        team: &TeamState,
    ) -> Vec<OpenPlan<'k>> {
        sealed.iter().map(|(ctx, r)| plan_unchecked(r, ctx, 1, keyring, team).unwrap().confirm(&[]).unwrap()).collect()
    }
    let open_all = |keyring| plans(&sealed, keyring, &s.team);
    let plans = open_all(&s.keyring);
    let decryptions: Vec<_> = plans.iter().flat_map(|p| p.decryptions()).collect();
    assert_eq!(decryptions.len(), 40 + 26, "a basic section each, and the sensitive ones");
    let by_browser = app::webcrypto::decrypt_many(&decryptions).await.expect("WebCrypto on localhost");
    let by_crate: Vec<_> = decryptions.iter().map(|d| d.decrypt_here()).collect();
    assert_eq!(by_browser, by_crate);
    assert!(by_browser.iter().all(Result::is_ok));
    drop(decryptions);
    let mut by_browser = by_browser.into_iter();
    for ((ctx, r), plan) in sealed.iter().zip(plans) {
        let mine = by_browser.by_ref().take(plan.decryptions().count()).collect();
        let opened = plan.finish(mine).unwrap();
        let here = shared::sync::seal::open_record(r, ctx, 1, &s.keyring, &s.team).unwrap();
        assert_eq!(opened, here);
    }

    // Another key under the same names: the signatures hold, the decryptions fail.
    let mut wrong = Keyring::new();
    wrong.insert(collection, 1, Scope::Basic, SymmetricKey::from_bytes([9; 32]));
    wrong.insert(collection, 1, Scope::Sensitive, SymmetricKey::from_bytes([2; 32]));
    let plans = open_all(&wrong);
    let decryptions: Vec<_> = plans.iter().flat_map(|p| p.decryptions()).collect();
    assert_eq!(app::webcrypto::decrypt_many(&decryptions).await, None, "the crate is to tell which fail");
    let by_crate: Vec<_> = decryptions.iter().map(|d| d.decrypt_here()).collect();
    assert_eq!(by_crate.iter().filter(|r| r.is_err()).count(), 40, "every basic section, no sensitive one");
}

/// The browser's AES (WebCrypto) seals records' sections exactly as the crate does
/// (the same nonce, key and AAD give the same ciphertext and tag), and records sealed
/// through it, a batch's encryptions at a time as the engine does, open as sealed.
#[wasm_bindgen_test]
async fn webcrypto_seals_sections_as_the_crate_does() {
    use shared::crypto::envelope::{Encryption, RecordContext};
    use shared::hlc::{Hlc, Stamp};
    use shared::record::{FieldState, RecordDoc, Value};
    use shared::sync::seal::Sealer;

    let identity = IdentityKeys::generate();
    let collection = CollectionId([4; 16]);
    let s = session(&identity, &[(Scope::Basic, [1u8; 32]), (Scope::Sensitive, [2u8; 32])], collection);
    let sealer = Sealer { me: &s.me, identity: &s.identity, keyring: &s.keyring, epoch: 1, head: s.team.chain_head() };
    let docs: Vec<(RecordContext, RecordDoc)> = (0..30)
        .map(|i| {
            let mut doc = RecordDoc::new();
            let stamp = Stamp { hlc: Hlc { wall_ms: 1_000 + i, counter: 0 }, author: s.me.clone() };
            let mut set = |f: &str, v: String| {
                doc.apply(f, FieldState { value: Some(Value::Text(v)), stamp: stamp.clone() });
            };
            set(field::KIND, "customer".into());
            set(field::NAME, format!("客户 {i}").repeat(i as usize + 1));
            if i % 3 != 0 {
                set(field::PHONE, format!("1380{i:07}"));
            }
            (RecordContext { team: s.team.team, record: RecordId::random() }, doc)
        })
        .collect();
    let mut sealings: Vec<_> =
        docs.iter().map(|(ctx, doc)| sealer.begin(ctx, collection, 1, doc, None).unwrap()).collect();
    let mut rounds = 0;
    loop {
        let encryptions: Vec<&Encryption> = sealings.iter().filter_map(|s| s.to_encrypt()).collect();
        if !encryptions.is_empty() {
            rounds += 1;
            let by_browser = app::webcrypto::encrypt_many(&encryptions).await.expect("WebCrypto on localhost");
            let by_crate: Vec<Vec<u8>> = encryptions.iter().map(|e| e.encrypt_here()).collect();
            assert_eq!(by_browser, by_crate);
            let mut by_browser = by_browser.into_iter();
            for sealing in sealings.iter_mut().filter(|s| s.to_encrypt().is_some()) {
                sealing.encrypted(by_browser.next().unwrap()).unwrap();
            }
        }
        let messages: Vec<Vec<u8>> = sealings.iter().filter_map(|s| s.to_sign().map(<[u8]>::to_vec)).collect();
        if messages.is_empty() {
            break;
        }
        let mut signatures = messages.iter().map(|m| identity.sign(m));
        for sealing in sealings.iter_mut().filter(|s| s.to_sign().is_some()) {
            sealing.sign(signatures.next().unwrap());
        }
    }
    assert_eq!(rounds, 2, "the sensitive sections, then the basic ones");
    for ((ctx, doc), sealing) in docs.iter().zip(sealings) {
        let (sealed, _) = sealing.finish();
        let opened = shared::sync::seal::open_record(&sealed, ctx, 1, &s.keyring, &s.team).unwrap();
        assert_eq!(&opened.doc, doc);
    }
}

/// A first sync's new records are stored a page to a row (a pack) with the cursor; what
/// is read back is every record's newest version, whether a pack or a row holds it,
/// before and after reopening.
#[wasm_bindgen_test]
async fn records_stored_in_packs_read_back_newest_first_with_rows() {
    let name = unique("packs");
    let db = store::open(&name).await.unwrap();
    let record = |id: RecordId, version: u64, byte: u8| StoredRecord {
        record: id,
        version,
        sealed: SealedRecord(vec![byte; 50]),
    };
    // Another tab stored these two first.
    let (newer_there, older_there) = (record(RecordId::random(), 5, 1), record(RecordId::random(), 2, 2));
    db.save_records(&[newer_there.clone(), older_there.clone()], None).await.unwrap();
    let page: Vec<StoredRecord> = (0..300).map(|i| record(RecordId::random(), 1, i as u8)).collect();
    let mut batch = page.clone();
    batch.push(StoredRecord { version: 4, ..newer_there.clone() });
    batch.push(StoredRecord { version: 3, sealed: SealedRecord(vec![8; 50]), ..older_there.clone() });
    db.save_new_records(&batch, &vec![true; batch.len()], Some(21)).await.unwrap();
    // A page with a record not new to this engine (a push's) is packed too; the newer
    // version another tab stored meanwhile still wins.
    let known = record(RecordId::random(), 9, 3);
    db.save_records(std::slice::from_ref(&known), None).await.unwrap();
    let mut mixed: Vec<StoredRecord> = (0..70).map(|i| record(RecordId::random(), 1, i as u8)).collect();
    mixed.push(StoredRecord { version: 7, ..known.clone() });
    db.save_records(&mixed, None).await.unwrap();
    assert_eq!(db.load().await.unwrap().cursor, 21, "the cursor is saved with the pack");
    let raw = db.raw_values().await.unwrap();
    assert!(raw.len() < 3 + 20, "one row for each page, not one per record: {} rows", raw.len());

    // Later versions of packed records arrive as rows; an older one never wins.
    let edited = StoredRecord { version: 2, sealed: SealedRecord(vec![9; 50]), ..page[0].clone() };
    db.save_records(std::slice::from_ref(&edited), Some(22)).await.unwrap();
    let mut want: Vec<StoredRecord> = page[1..].to_vec();
    want.extend(mixed[..70].iter().cloned());
    want.extend([
        edited,
        newer_there,
        StoredRecord { version: 3, sealed: SealedRecord(vec![8; 50]), ..older_there },
        known,
    ]);
    want.sort_by_key(|r| r.record);
    assert_eq!(db.records().await.unwrap(), want);
    db.close();

    let db = store::open(&name).await.unwrap();
    assert_eq!(db.records().await.unwrap(), want, "the same after reopening");
    assert_eq!(db.load().await.unwrap().cursor, 22);

    // Once every record of the packs is stored again (a re-encryption does that), as
    // a pack, the old packs go, and nothing stored is lost.
    let rows = db.raw_values().await.unwrap().len();
    let again: Vec<StoredRecord> = want.iter().map(|r| StoredRecord { version: r.version + 1, ..r.clone() }).collect();
    db.save_records(&again, None).await.unwrap();
    assert_eq!(db.records().await.unwrap(), again);
    assert_eq!(db.raw_values().await.unwrap().len(), rows + 1 - 2, "one pack more, the two spent ones gone");
    assert_eq!(db.records().await.unwrap(), again);
    db.close();
    store::delete(&name).await.unwrap();
}

/// A pack whose records are mostly stored again since (edited one by one) is packed
/// again with only what is still newest in it: the store does not keep growing with
/// superseded versions, and nothing newest is lost.
#[wasm_bindgen_test]
async fn a_mostly_superseded_pack_is_packed_again_with_what_is_newest_in_it() {
    let name = unique("repack");
    let db = store::open(&name).await.unwrap();
    let record = |id: RecordId, version: u64| StoredRecord { record: id, version, sealed: SealedRecord(vec![5; 100]) };
    let page: Vec<StoredRecord> = (0..100).map(|_| record(RecordId::random(), 1)).collect();
    db.save_records(&page, Some(3)).await.unwrap();
    let pack_bytes = |raw: &[Vec<u8>]| raw.iter().map(Vec::len).max().unwrap();
    let whole = pack_bytes(&db.raw_values().await.unwrap());
    // 60 of the 100 edited, a few at a time (rows).
    let edited: Vec<StoredRecord> = page[..60].iter().map(|r| StoredRecord { version: 2, ..r.clone() }).collect();
    for chunk in edited.chunks(20) {
        db.save_records(chunk, None).await.unwrap();
    }
    let mut want: Vec<StoredRecord> = edited.iter().chain(&page[60..]).cloned().collect();
    want.sort_by_key(|r| r.record);
    assert_eq!(db.records().await.unwrap(), want);
    let raw = db.raw_values().await.unwrap();
    assert_eq!(raw.len(), 60 + 1 + 1, "the rows, one pack, the cursor");
    assert!(pack_bytes(&raw) * 2 < whole, "the pack holds the 40 newest only: {} of {whole} bytes", pack_bytes(&raw));
    db.close();
    let db = store::open(&name).await.unwrap();
    assert_eq!(db.records().await.unwrap(), want, "the same after reopening");
    assert_eq!(db.load().await.unwrap().cursor, 3);
    db.close();
    store::delete(&name).await.unwrap();
}

/// `n` customers sealed by the session's member, each with its context: a name, and
/// a phone (the sensitive section) for two in three.
fn sealed_customers(
    s: &Session,
    collection: CollectionId,
    n: u64,
) -> Vec<(shared::crypto::envelope::RecordContext, SealedRecord)> {
    use shared::crypto::envelope::RecordContext;
    use shared::hlc::{Hlc, Stamp};
    use shared::record::{FieldState, RecordDoc, Value};
    use shared::sync::seal::Sealer;
    let sealer = Sealer { me: &s.me, identity: &s.identity, keyring: &s.keyring, epoch: 1, head: s.team.chain_head() };
    (0..n)
        .map(|i| {
            let mut doc = RecordDoc::new();
            let stamp = Stamp { hlc: Hlc { wall_ms: 1_000 + i, counter: 0 }, author: s.me.clone() };
            let mut set =
                |f: &str, v: String| doc.apply(f, FieldState { value: Some(Value::Text(v)), stamp: stamp.clone() });
            set(field::KIND, "customer".into());
            set(field::NAME, format!("客户 {i}"));
            if i % 3 != 0 {
                set(field::PHONE, format!("1380{i:07}"));
            }
            let ctx = RecordContext { team: s.team.team, record: RecordId::random() };
            (ctx, sealer.seal(&ctx, collection, 1, &doc, None).unwrap().0)
        })
        .collect()
}

/// A server holding `changes`, served `PAGE` at a time; with `pulls_left`, it goes
/// away after that many pulls (the connection dropped, or the tab closed).
struct Served {
    changes: Vec<shared::api::Change>,
    pulls_left: std::cell::Cell<Option<usize>>,
}

impl Served {
    const PAGE: usize = 200;
}

impl Transport for Served {
    async fn push(&self, _: &shared::api::PushRequest) -> Result<shared::sync::PushOutcome, TransportError> {
        Err(TransportError::Offline)
    }
    async fn pull(&self, since: u64, limit: u32) -> Result<shared::api::PullResponse, TransportError> {
        match self.pulls_left.get() {
            Some(0) => return Err(TransportError::Offline),
            Some(n) => self.pulls_left.set(Some(n - 1)),
            None => {}
        }
        let page: Vec<_> =
            self.changes.iter().filter(|c| c.seq > since).take(Self::PAGE.min(limit as usize)).cloned().collect();
        let cursor = page.last().map_or(since, |c| c.seq);
        let more = self.changes.last().is_some_and(|c| c.seq > cursor);
        Ok(shared::api::PullResponse { changes: page, cursor, more, reset: false, restore: None, remaining: None })
    }
}

/// A new device's first sync cut off after two pages resumes, once the app is opened
/// again, from where it stopped: every record stored once, at its version, in packs.
#[wasm_bindgen_test]
async fn a_first_sync_cut_off_midway_resumes_with_nothing_lost_or_twice() {
    let name = unique("first-sync");
    let identity = IdentityKeys::generate();
    let keys = [(Scope::Basic, [1u8; 32]), (Scope::Sensitive, [2u8; 32])];
    let collection = CollectionId([4; 16]);
    let n = 700;
    let changes: Vec<shared::api::Change> = sealed_customers(&session(&identity, &keys, collection), collection, n)
        .into_iter()
        .enumerate()
        .map(|(i, (ctx, sealed))| shared::api::Change { seq: i as u64 + 1, record: ctx.record, version: 1, sealed })
        .collect();
    let cut = Served { changes: changes.clone(), pulls_left: std::cell::Cell::new(Some(2)) };
    let mut s =
        Syncer::open(session(&identity, &keys, collection), store::open(&name).await.unwrap(), cut).await.unwrap();
    assert!(s.sync().await.is_err(), "the server went away");
    assert_eq!(s.replica.records.len(), 2 * Served::PAGE);
    s.store.close();

    let served = Served { changes: changes.clone(), pulls_left: std::cell::Cell::new(None) };
    let mut s =
        Syncer::open(session(&identity, &keys, collection), store::open(&name).await.unwrap(), served).await.unwrap();
    assert_eq!(s.replica.records.len(), 2 * Served::PAGE, "the two pages were kept");
    assert_eq!(s.sync().await.unwrap().pulled, n as usize - 2 * Served::PAGE, "only the rest is fetched");
    let mut stored = s.store.records().await.unwrap();
    stored.sort_by_key(|r| r.record);
    let mut want: Vec<StoredRecord> = changes
        .iter()
        .map(|c| StoredRecord { record: c.record, version: c.version, sealed: c.sealed.clone() })
        .collect();
    want.sort_by_key(|r| r.record);
    assert_eq!(stored, want, "each record once, as served");
    let raw = s.store.raw_values().await.unwrap();
    assert!(raw.len() < 20, "a pack a page");
    for canary in ["客户 45".as_bytes(), b"13800000451"] {
        assert!(!raw.iter().any(|v| v.windows(canary.len()).any(|w| w == canary)), "plaintext in IndexedDB");
    }
    assert_eq!(s.replica.records.len(), n as usize);
    assert_eq!(s.replica.records[&changes[450].record].view.text(field::NAME), Some("客户 450"));
    assert_eq!(s.replica.records[&changes[451].record].view.text(field::PHONE), Some("13800000451"));
    s.store.close();

    let served = Served { changes, pulls_left: std::cell::Cell::new(None) };
    let mut s =
        Syncer::open(session(&identity, &keys, collection), store::open(&name).await.unwrap(), served).await.unwrap();
    assert_eq!(s.replica.records.len(), n as usize);
    assert_eq!(s.sync().await.unwrap().pulled, 0);
    s.store.close();
    store::delete(&name).await.unwrap();
}
