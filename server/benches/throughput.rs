//! Benchmarks: envelope seal/open, chain verification, and server push throughput as a
//! ratio to a raw sqlx insert of the same rows, measured in the same run.
//!
//! Run with `cargo bench -p quietdesk-server` (or `cargo xtask bench`).

#[path = "../tests/support/backend.rs"]
mod backend;
#[path = "../tests/support/client.rs"]
mod client;
mod common;
#[path = "../tests/support/inproc.rs"]
mod inproc;

use std::time::{Duration, Instant};

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use quietdesk_server::Config;
use shared::api::{path, PushItem, PushRequest, PushResponse};
use shared::chain::{Action, ChainEntry, Member, Role, TeamState};
use shared::crypto::envelope::{EnvelopeHeader, RecordContext, SealedEnvelope, SealedRecord};
use shared::crypto::identity::IdentityKeys;
use shared::crypto::{Scope, SymmetricKey};
use shared::ids::{CollectionId, RecordId, TeamId, Username};

fn envelopes(c: &mut Criterion) {
    let key = SymmetricKey::generate();
    let author = IdentityKeys::generate();
    let ctx = RecordContext { team: TeamId::random(), record: RecordId::random() };
    let header = EnvelopeHeader {
        collection: CollectionId::random(),
        epoch: 1,
        scope: Scope::Basic,
        record_version: 1,
        author: Username::parse("bench").unwrap(),
        chain: Some(shared::crypto::envelope::ChainHead { len: 3, hash: [7; 32] }),
        deleted: Some(false),
    };
    let mut g = c.benchmark_group("envelope");
    for size in [1024usize, 64 * 1024] {
        let plain = vec![0x5a; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("seal", size), &plain, |b, p| {
            b.iter(|| SealedEnvelope::seal(black_box(p), &header, &ctx, &[0; 32], &key, &author))
        });
        let env = SealedEnvelope::seal(&plain, &header, &ctx, &[0; 32], &key, &author);
        let pk = author.public();
        g.bench_with_input(BenchmarkId::new("open", size), &env, |b, e| {
            b.iter(|| e.open(&ctx, &[0; 32], &key, &pk).unwrap())
        });
    }
    g.finish();
}

fn chain(c: &mut Criterion) {
    let admin = IdentityKeys::generate();
    let name = Username::parse("admin").unwrap();
    let team = TeamId::random();
    let mut entries = vec![ChainEntry::signed(
        team,
        0,
        [0; 32],
        &name,
        &admin,
        0,
        Action::Create {
            admin: Member { username: name.clone(), identity: admin.public(), role: Role::Admin },
            shared_collection: CollectionId::random(),
        },
    )];
    while entries.len() < 1000 {
        let last = entries.last().unwrap();
        let i = last.index + 1;
        let action = if i % 2 == 1 {
            let m = IdentityKeys::generate();
            Action::AddMember {
                member: Member {
                    username: Username::parse(&format!("member{i}")).unwrap(),
                    identity: m.public(),
                    role: Role::Member,
                },
            }
        } else {
            Action::RemoveMember { username: Username::parse(&format!("member{}", i - 1)).unwrap() }
        };
        entries.push(ChainEntry::signed(team, i, last.hash(), &name, &admin, 0, action));
    }
    c.bench_function("chain/verify_1000_entries", |b| b.iter(|| TeamState::verify(black_box(&entries), None).unwrap()));
}

/// A transport that is never reached (the unlock path reads the local store only).
struct NoNetwork;

impl shared::sync::Transport for NoNetwork {
    async fn push(&self, _: &PushRequest) -> Result<shared::sync::PushOutcome, shared::sync::TransportError> {
        Err(shared::sync::TransportError::Offline)
    }
    async fn pull(&self, _: u64, _: u32) -> Result<shared::api::PullResponse, shared::sync::TransportError> {
        Err(shared::sync::TransportError::Offline)
    }
}

/// What the hostile-server checks cost (issue 13), each beside its baseline in the
/// same run: opening 10,000 stored records through the engine (signature, decryption,
/// author allowed at that epoch, stamps not from the future, writer's chain head known)
/// against opening the same envelopes bare (signature and decryption only); and
/// sealing a record with the writer's chain head (envelope v2) against the same seal
/// without it (v1).
fn hostile_checks(c: &mut Criterion) {
    use shared::sync::memory::MemoryStore;
    use shared::sync::{Store, StoredRecord, Syncer};
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (session, records, store) = rt.block_on(async {
        let srv = inproc::spawn(Config::default()).await;
        let alice = client::signup(&srv.base, "alice", "bench passphrase").await;
        let team = alice.create_team().await;
        let session = alice.session(team).await;
        let records = common::sealed_records(&session, RECORDS);
        let store = MemoryStore::new();
        let stored: Vec<StoredRecord> =
            records.iter().map(|(id, s)| StoredRecord { record: *id, version: 1, sealed: s.clone() }).collect();
        store.save_records(&stored, Some(RECORDS as u64)).await.unwrap();
        (session, records, store)
    });
    let team = session.team.team;
    let coll = session.team.shared_collection;
    let key = session.keyring.get(coll, session.team.epoch, Scope::Basic).unwrap();
    let author = session.identity.public();
    let mut g = c.benchmark_group("hostile_checks");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("open_10000/bare_envelopes", |b| {
        b.iter(|| {
            for (id, sealed) in &records {
                let (basic, _) = sealed.envelopes().unwrap();
                black_box(basic.open(&RecordContext { team, record: *id }, &[0; 32], key, &author).unwrap());
            }
        })
    });
    let me = session.me.clone();
    let fresh = || shared::sync::Session {
        me: me.clone(),
        identity: session.identity.duplicate(),
        keyring: {
            let mut k = shared::crypto::envelope::Keyring::new();
            k.keep_missing_from(&session.keyring);
            k
        },
        team: session.team.clone(),
        now_ms: client::wall_clock,
    };
    g.bench_function("open_10000/engine_with_checks", |b| {
        b.iter(|| {
            let s = futures::executor::block_on(Syncer::open(fresh(), store.clone(), NoNetwork)).unwrap();
            assert_eq!(s.replica.records.len(), RECORDS);
            black_box(s.replica.records.len())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("hostile_checks_seal");
    g.throughput(Throughput::Elements(1));
    let plain = vec![0x5a; 1024];
    let header = |chain| EnvelopeHeader {
        collection: coll,
        epoch: 1,
        scope: Scope::Basic,
        record_version: 1,
        author: me.clone(),
        chain,
        deleted: None,
    };
    let ctx = RecordContext { team, record: RecordId::random() };
    let (v1, v2) = (header(None), header(Some(session.team.chain_head())));
    g.bench_function("seal_1k/v1_without_chain_head", |b| {
        b.iter(|| SealedEnvelope::seal(black_box(&plain), &v1, &ctx, &[0; 32], key, &session.identity))
    });
    g.bench_function("seal_1k/v2_with_chain_head", |b| {
        b.iter(|| SealedEnvelope::seal(black_box(&plain), &v2, &ctx, &[0; 32], key, &session.identity))
    });
    g.finish();
}

const RECORDS: usize = 10_000;
const BATCH: usize = 500;

async fn push_over_loopback(records: &[(RecordId, SealedRecord)], alice: &client::Account, team: TeamId) -> Duration {
    let http = reqwest::Client::new();
    let url = format!("{}{}", alice.api.base, path::fill(path::PUSH, &team.to_string()));
    let start = Instant::now();
    for chunk in records.chunks(BATCH) {
        let items = chunk
            .iter()
            .map(|(id, s)| PushItem { record: *id, base_version: 0, sealed: s.clone(), tombstone: false })
            .collect();
        let r = http
            .post(&url)
            .bearer_auth(&alice.token)
            .json(&PushRequest { items, approval: None })
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "push failed: {}", r.status());
        let _: PushResponse = r.json().await.unwrap();
    }
    start.elapsed()
}

fn push_vs_raw() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let mut push_rates = vec![];
        let mut raw_rates = vec![];
        let mut multi_rates = vec![];
        for round in 0..3 {
            let srv = inproc::spawn(Config::default()).await;
            let alice = client::signup(&srv.base, "alice", "bench passphrase").await;
            let team = alice.create_team().await;
            let session = alice.session(team).await;
            let records = common::sealed_records(&session, RECORDS);
            let raw_dir = tempfile::tempdir().unwrap();
            // Alternate the order so neither side always runs on a warmer machine.
            let (push, raw, multi) = if round % 2 == 0 {
                let p = push_over_loopback(&records, &alice, team).await;
                (
                    p,
                    common::raw_insert(&records, raw_dir.path(), BATCH, false).await,
                    common::raw_insert(&records, raw_dir.path(), BATCH, true).await,
                )
            } else {
                let m = common::raw_insert(&records, raw_dir.path(), BATCH, true).await;
                let r = common::raw_insert(&records, raw_dir.path(), BATCH, false).await;
                (push_over_loopback(&records, &alice, team).await, r, m)
            };
            push_rates.push(RECORDS as f64 / push.as_secs_f64());
            raw_rates.push(RECORDS as f64 / raw.as_secs_f64());
            multi_rates.push(RECORDS as f64 / multi.as_secs_f64());
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[v.len() / 2]
        };
        let (p, r, m) = (median(&mut push_rates), median(&mut raw_rates), median(&mut multi_rates));
        println!();
        println!("server push, {RECORDS} x 1 KiB records in batches of {BATCH} over loopback (median of 3 runs):");
        println!("  server push      : {p:>10.0} records/s");
        println!("  raw sqlx insert  : {r:>10.0} records/s (same rows, same SQLite settings, same batches)");
        println!("  raw multi-row    : {m:>10.0} records/s (one INSERT ... VALUES per batch, as the server does)");
        println!("  ratio push / raw : {:>10.2} (goal >= 0.5)", p / r);
        println!("  ratio push / raw multi-row : {:>4.2}", p / m);
    });
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    envelopes(&mut c);
    chain(&mut c);
    hostile_checks(&mut c);
    c.final_summary();
    push_vs_raw();
}
