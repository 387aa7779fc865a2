//! What the checks against a lying server (issue 13) cost per record, next to the bare
//! primitives they wrap, in the same run.
//!
//! * `seal/primitives`: JSON-encode each section, AES-256-GCM it and sign it with
//!   Ed25519 — the least any sealing of a customer does. `seal/sealer`: the engine's
//!   [`Sealer::seal`] (headers with the collection, epoch, version, author and chain
//!   head bound into the associated data, the sections linked by digest).
//! * `open/primitives`: verify, decrypt and JSON-decode each section. `open/open_record`:
//!   the envelope checks (version, scope, author allowed under the epoch by the verified
//!   chain, section binding). `open/checked`: plus everything a pull adds — the clock
//!   ceiling, the per-field authorship check against the version before, and the
//!   writer's chain head against this client's.
//!
//! * `signatures_256`: 256 record signatures checked strictly one by one, against the
//!   batch check (`verify_record_signatures`) that every record path uses.
//!
//! Run: `cargo bench -p quietdesk-shared --bench records`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use quietdesk_shared::chain::{Action, ChainEntry, HeadCheck, Member, Role, TeamState};
use quietdesk_shared::crypto::aead;
use quietdesk_shared::crypto::envelope::{Keyring, RecordContext};
use quietdesk_shared::crypto::identity::{verify_record_signatures, IdentityKeys};
use quietdesk_shared::crypto::{Scope, SymmetricKey};
use quietdesk_shared::domain::{is_sensitive, Customer, Entity};
use quietdesk_shared::hlc::{Hlc, Stamp};
use quietdesk_shared::ids::{CollectionId, RecordId, TeamId, Username};
use quietdesk_shared::record::{FieldState, RecordDoc};
use quietdesk_shared::sync::seal::{open_record, Sealer};

fn bench(c: &mut Criterion) {
    let name = Username::parse("ann").unwrap();
    let keys = IdentityKeys::generate();
    let collection = CollectionId::random();
    let admin = Member { username: name.clone(), identity: keys.public(), role: Role::Admin };
    let genesis = ChainEntry::signed(
        TeamId::random(),
        0,
        [0; 32],
        &name,
        &keys,
        0,
        Action::Create { admin, shared_collection: collection },
    );
    let team = TeamState::verify(&[genesis], None).unwrap();
    let (basic, sensitive) = (SymmetricKey::from_bytes([1; 32]), SymmetricKey::from_bytes([2; 32]));
    let mut keyring = Keyring::new();
    keyring.insert(collection, team.epoch, Scope::Basic, SymmetricKey::from_bytes([1; 32]));
    keyring.insert(collection, team.epoch, Scope::Sensitive, SymmetricKey::from_bytes([2; 32]));

    let customer = Customer {
        name: "张伟".into(),
        company: "上海明达贸易有限公司".into(),
        phone: "13812345678".into(),
        email: "zhang.wei@example.cn".into(),
        address: "上海市浦东新区世纪大道 100 号".into(),
        notes: "prefers WeChat after 6pm; asked for a quote on 200 units".into(),
        ..Default::default()
    };
    let stamp = Stamp { hlc: Hlc { wall_ms: 1_700_000_000_000, counter: 0 }, author: name.clone() };
    let mut doc = RecordDoc::new();
    for (f, v) in customer.to_fields() {
        doc.apply(&f, FieldState { value: v, stamp: stamp.clone() });
    }
    let (sens, plain): (Vec<_>, Vec<_>) = doc.fields.clone().into_iter().partition(|(f, _)| is_sensitive(f));
    let sections = [
        (serde_json::to_vec(&RecordDoc { fields: plain.into_iter().collect() }).unwrap(), &basic),
        (serde_json::to_vec(&RecordDoc { fields: sens.into_iter().collect() }).unwrap(), &sensitive),
    ];
    let record = RecordId::random();
    let ctx = RecordContext { team: team.team, record };
    let sealer = Sealer { me: &name, identity: &keys, keyring: &keyring, epoch: team.epoch, head: team.chain_head() };

    let mut g = c.benchmark_group("seal");
    g.bench_function("primitives", |b| {
        b.iter(|| {
            for (plain, key) in &sections {
                let doc: RecordDoc = serde_json::from_slice(plain).unwrap();
                let (nonce, ct) = aead::seal(key, b"aad", &serde_json::to_vec(&doc).unwrap());
                black_box((nonce, keys.sign(&ct)));
            }
        })
    });
    g.bench_function("sealer", |b| b.iter(|| black_box(sealer.seal(&ctx, collection, 2, &doc, None).unwrap())));
    g.finish();

    let prims: Vec<_> = sections
        .iter()
        .map(|(plain, key)| {
            let (nonce, ct) = aead::seal(key, b"aad", plain);
            let sig = keys.sign(&ct);
            (nonce, ct, sig, *key)
        })
        .collect();
    let public = keys.public();
    let (sealed, _) = sealer.seal(&ctx, collection, 2, &doc, None).unwrap();
    let mut prev = doc.clone();
    prev.fields.remove("notes");
    let mut g = c.benchmark_group("open");
    g.bench_function("primitives", |b| {
        b.iter(|| {
            for (nonce, ct, sig, key) in &prims {
                public.verify(ct, sig).unwrap();
                let plain = aead::open(key, nonce, b"aad", ct).unwrap();
                black_box(serde_json::from_slice::<RecordDoc>(&plain).unwrap());
            }
        })
    });
    g.bench_function("open_record", |b| b.iter(|| black_box(open_record(&sealed, &ctx, 2, &keyring, &team).unwrap())));
    g.bench_function("checked", |b| {
        b.iter(|| {
            let opened = open_record(&sealed, &ctx, 2, &keyring, &team).unwrap();
            let ceiling = 1_800_000_000_000u64;
            assert!(opened.doc.max_stamp().is_none_or(|s| s.hlc.wall_ms <= ceiling));
            assert!(opened.misattributed(&prev, 2).is_none());
            assert_eq!(team.check_head(&opened.writer_head.unwrap()), HeadCheck::Known);
            black_box(opened)
        })
    });
    g.finish();

    // 256 record signatures by two members: strictly one by one (the baseline, what
    // every check was before) against the batch check every record path uses now.
    let bob = IdentityKeys::generate();
    let messages: Vec<Vec<u8>> = (0..256u32).map(|i| vec![i as u8; 900]).collect();
    let signers: Vec<&IdentityKeys> = (0..256).map(|i| if i % 4 == 0 { &bob } else { &keys }).collect();
    let sigs: Vec<[u8; 64]> = messages.iter().zip(&signers).map(|(m, who)| who.sign(m)).collect();
    let keys: Vec<[u8; 32]> = signers.iter().map(|who| who.public().sign_pk).collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let mut g = c.benchmark_group("signatures_256");
    g.bench_function("one_by_one_strict", |b| {
        b.iter(|| {
            for ((m, sig), who) in refs.iter().zip(&sigs).zip(&signers) {
                who.public().verify(m, sig).unwrap();
            }
        })
    });
    g.bench_function("batch", |b| {
        b.iter(|| assert!(verify_record_signatures(&keys, &refs, &sigs).into_iter().all(|h| h)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
