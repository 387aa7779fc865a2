//! Opening the replica cache at unlock (issue 16): decoding 100,000 cached customers
//! shaped like the browser bench's import (name, company, phone, masked phone, email,
//! tags, notes, status, owner), next to copying the same bytes (the least any decode
//! does) in the same run.
//!
//! Run: `cargo bench -p quietdesk-shared --bench cache`.

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use quietdesk_shared::hlc::{Hlc, Stamp};
use quietdesk_shared::ids::{CollectionId, RecordId, Username};
use quietdesk_shared::record::{FieldState, RecordDoc, Value};
use quietdesk_shared::sync::cache::{self, CachedRecord};

const N: usize = 100_000;

fn records() -> BTreeMap<RecordId, CachedRecord> {
    let ann = Username::parse("ann").unwrap();
    let collection = CollectionId::random();
    let mut out = BTreeMap::new();
    for i in 0..N {
        let mut doc = RecordDoc::new();
        let mut put = |name: &str, value: Value| {
            let stamp = Stamp { hlc: Hlc { wall_ms: 1_790_000_000_000 + i as u64, counter: 0 }, author: ann.clone() };
            doc.apply(name, FieldState { value: Some(value), stamp });
        };
        put("kind", Value::Text("customer".into()));
        put("name", Value::Text(format!("Bench Customer {i}")));
        put("company", Value::Text(format!("Company {}", i % 997)));
        put("phone", Value::Text(format!("138{i:08}")));
        put("phone_masked", Value::Text(format!("138****{:04}", i % 10_000)));
        put("email", Value::Text(format!("c{i}@example.com")));
        put("tags", Value::List(vec![format!("tag{}", i % 50)]));
        put("notes", Value::Text(format!("note {i} about order {}", i * 7)));
        put("status", Value::Text("lead".into()));
        put("owner", Value::Text("ann".into()));
        out.insert(
            RecordId::random(),
            CachedRecord { collection, version: i as u64 + 1, base: Arc::new(doc), writer: ann.clone(), epoch: 1 },
        );
    }
    out
}

fn bench(c: &mut Criterion) {
    let records = records();
    let bytes = cache::encode(records.iter());
    let mut g = c.benchmark_group("cache_100k");
    g.sample_size(10);
    g.bench_function("copy_bytes", |b| b.iter(|| black_box(bytes.to_vec())));
    g.bench_function("decode", |b| b.iter(|| black_box(cache::decode(&bytes).unwrap())));
    g.bench_function("encode", |b| b.iter(|| black_box(cache::encode(records.iter()))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
