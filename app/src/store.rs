//! The device's IndexedDB store (via rexie). It holds ciphertext only: records exactly
//! as the server sent them (sealed envelopes), outbox entries sealed under the device
//! vault key, and a little metadata (cursor, sealed account bundle, public chain).
//!
//! One database per account (`quietdesk:<username>`), versioned; [`SCHEMA_VERSION`]
//! and [`open`]'s upgrade path are the migrations. Every method is one transaction,
//! and nothing else is awaited while a transaction is open.

use js_sys::Uint8Array;
use rexie::{ObjectStore, Rexie, TransactionMode};
use shared::api::Cursor;
use shared::crypto::envelope::SealedRecord;
use shared::crypto::{CryptoError, SymmetricKey};
use shared::ids::RecordId;
use shared::sync::{Snapshot, Store, StoreError, StoredOp, StoredRecord};
use wasm_bindgen::JsValue;

/// Version 1: `records`, `outbox`, `meta`. Version 2 adds `cache` (the sealed replica
/// cache, see `shared::sync::cache`), kept apart from `meta` because it is large and
/// rewritten whole.
pub const SCHEMA_VERSION: u32 = 2;
const RECORDS: &str = "records";
const OUTBOX: &str = "outbox";
const META: &str = "meta";
const CACHE: &str = "cache";
const CURSOR_KEY: &str = "cursor";
const REPLICA_KEY: &str = "replica";

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// Wait for a transaction and insist it committed.
async fn finish(tx: rexie::Transaction) -> Result<(), StoreError> {
    let r = tx.done().await.map_err(err)?;
    if r.is_committed() {
        Ok(())
    } else {
        Err(err("IndexedDB transaction aborted"))
    }
}

/// An open per-account database.
pub struct IdbStore {
    db: Rexie,
    version: u32,
}

/// The database name for an account.
pub fn db_name(username: &str) -> String {
    format!("quietdesk:{username}")
}

/// Open (creating or upgrading) the database called `name`.
pub async fn open(name: &str) -> Result<IdbStore, StoreError> {
    open_at(name, SCHEMA_VERSION).await
}

/// Open at a given schema version: the migrations. rexie creates the stores a version
/// lists that the database lacks (v1 → v2 adds `cache`, keeping every v1 row); a
/// later version adds stores here and never drops one that holds user data without
/// first moving it. Public so browser tests can create an old database and upgrade it.
pub async fn open_at(name: &str, version: u32) -> Result<IdbStore, StoreError> {
    let mut builder = Rexie::builder(name)
        .version(version)
        .add_object_store(ObjectStore::new(RECORDS))
        .add_object_store(ObjectStore::new(OUTBOX))
        .add_object_store(ObjectStore::new(META));
    if version >= 2 {
        builder = builder.add_object_store(ObjectStore::new(CACHE));
    }
    let db = builder.build().await.map_err(err)?;
    Ok(IdbStore { db, version })
}

/// Delete a whole database (log-out wipes the device copy).
pub async fn delete(name: &str) -> Result<(), StoreError> {
    Rexie::delete(name).await.map_err(err)
}

fn bytes(v: &[u8]) -> JsValue {
    Uint8Array::from(v).into()
}

fn to_vec(v: &JsValue) -> Result<Vec<u8>, StoreError> {
    use wasm_bindgen::JsCast;
    v.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec).ok_or_else(|| err("stored value is not bytes"))
}

/// A record row: 8-byte big-endian version, then the sealed record.
fn encode_record(r: &StoredRecord) -> JsValue {
    let mut v = Vec::with_capacity(8 + r.sealed.0.len());
    v.extend_from_slice(&r.version.to_be_bytes());
    v.extend_from_slice(&r.sealed.0);
    bytes(&v)
}

fn decode_record(key: &JsValue, value: &JsValue) -> Result<StoredRecord, StoreError> {
    let id: RecordId = key.as_string().ok_or_else(|| err("record key"))?.parse().map_err(err)?;
    let raw = to_vec(value)?;
    if raw.len() < 8 {
        return Err(err("record row too short"));
    }
    let version = u64::from_be_bytes(raw[..8].try_into().expect("8 bytes"));
    Ok(StoredRecord { record: id, version, sealed: SealedRecord(raw[8..].to_vec()) })
}

impl IdbStore {
    /// Read a metadata value (bytes).
    pub async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.transaction(&[META], TransactionMode::ReadOnly).map_err(err)?;
        let v = tx.store(META).map_err(err)?.get(JsValue::from_str(key)).await.map_err(err)?;
        finish(tx).await?;
        v.filter(|v| !v.is_undefined()).map(|v| to_vec(&v)).transpose()
    }

    pub async fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let tx = self.db.transaction(&[META], TransactionMode::ReadWrite).map_err(err)?;
        tx.store(META).map_err(err)?.put(&bytes(value), Some(&JsValue::from_str(key))).await.map_err(err)?;
        finish(tx).await?;
        Ok(())
    }

    /// The object stores of this schema version.
    pub fn store_names(&self) -> Vec<String> {
        self.db.store_names()
    }

    /// Every value in every store, as bytes: for tests that prove only ciphertext is kept.
    pub async fn raw_values(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let names: &[&str] = if self.version >= 2 { &[RECORDS, OUTBOX, META, CACHE] } else { &[RECORDS, OUTBOX, META] };
        let tx = self.db.transaction(names, TransactionMode::ReadOnly).map_err(err)?;
        let mut out = Vec::new();
        for name in names.iter().copied() {
            for v in tx.store(name).map_err(err)?.get_all(None, None).await.map_err(err)? {
                out.push(to_vec(&v)?);
            }
        }
        finish(tx).await?;
        Ok(out)
    }

    pub fn close(self) {
        self.db.close();
    }
}

impl Store for IdbStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        let tx = self.db.transaction(&[OUTBOX, META, CACHE], TransactionMode::ReadOnly).map_err(err)?;
        let (outbox, meta, cache) =
            (tx.store(OUTBOX).map_err(err)?, tx.store(META).map_err(err)?, tx.store(CACHE).map_err(err)?);
        // Whole stores in a few requests (getAll / getAllKeys come back in key order),
        // not one cursor step per row.
        let (op_keys, op_values, cursor, cached) = futures::try_join!(
            outbox.get_all_keys(None, None),
            outbox.get_all(None, None),
            meta.get(JsValue::from_str(CURSOR_KEY)),
            cache.get(JsValue::from_str(REPLICA_KEY)),
        )
        .map_err(err)?;
        finish(tx).await?;
        let cache = cached.filter(|c| !c.is_undefined()).map(|c| to_vec(&c)).transpose()?;
        let outbox = op_keys
            .iter()
            .zip(&op_values)
            .map(|(k, v)| Ok(StoredOp { id: k.as_f64().ok_or_else(|| err("outbox key"))? as u64, blob: to_vec(v)? }))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let cursor = match cursor.filter(|c| !c.is_undefined()) {
            Some(c) => u64::from_be_bytes(to_vec(&c)?.try_into().map_err(|_| err("cursor"))?),
            None => 0,
        };
        Ok(Snapshot { outbox, cursor, cache })
    }

    async fn records(&self) -> Result<Vec<StoredRecord>, StoreError> {
        // A page of records per transaction, the page drawing in between: reading and
        // copying 100,000 records at once held it for a third of a second. Only the
        // engine writes records, and it holds its lock while it reads them all.
        const PAGE: u32 = 5_000;
        let mut out = Vec::new();
        let mut after: Option<JsValue> = None;
        loop {
            let range = match &after {
                Some(key) => Some(rexie::KeyRange::lower_bound(key, Some(true)).map_err(err)?),
                None => None,
            };
            let tx = self.db.transaction(&[RECORDS], TransactionMode::ReadOnly).map_err(err)?;
            let records = tx.store(RECORDS).map_err(err)?;
            let (keys, values) =
                futures::try_join!(records.get_all_keys(range.clone(), Some(PAGE)), records.get_all(range, Some(PAGE)))
                    .map_err(err)?;
            finish(tx).await?;
            for (k, v) in keys.iter().zip(&values) {
                out.push(decode_record(k, v)?);
            }
            match keys.last() {
                Some(last) if keys.len() == PAGE as usize => after = Some(last.clone()),
                _ => return Ok(out),
            }
            gloo_timers::future::TimeoutFuture::new(0).await;
        }
    }

    async fn seal_blob(&self, key: &SymmetricKey, context: &[u8], plain: &[u8]) -> Vec<u8> {
        match crate::webcrypto::seal_blob(key, context, plain).await {
            Some(blob) => blob,
            None => shared::crypto::aead::seal_blob(key, context, plain),
        }
    }

    async fn open_blob(&self, key: &SymmetricKey, context: &[u8], blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match crate::webcrypto::open_blob(key, context, blob).await {
            Some(opened) => opened,
            None => shared::crypto::aead::open_blob(key, context, blob),
        }
    }

    async fn save_records(&self, records: &[StoredRecord], cursor: Option<Cursor>) -> Result<(), StoreError> {
        let tx = self.db.transaction(&[RECORDS, META], TransactionMode::ReadWrite).map_err(err)?;
        let store = tx.store(RECORDS).map_err(err)?;
        let meta = tx.store(META).map_err(err)?;
        let keys: Vec<JsValue> = records.iter().map(|r| JsValue::from_str(&r.record.to_string())).collect();
        // All reads issued at once, then all writes: requests queue inside the one
        // transaction instead of waiting a round trip each.
        let current = futures::future::try_join_all(keys.iter().map(|k| store.get(k.clone()))).await.map_err(err)?;
        let mut writes = Vec::with_capacity(records.len());
        for ((r, key), cur) in records.iter().zip(&keys).zip(current) {
            // Never replace a newer version with an older one.
            let newer = match cur.filter(|c| !c.is_undefined()) {
                Some(c) => decode_record(key, &c)?.version <= r.version,
                None => true,
            };
            if newer {
                writes.push((encode_record(r), key.clone()));
            }
        }
        futures::future::try_join_all(writes.iter().map(|(v, k)| store.put(v, Some(k)))).await.map_err(err)?;
        if let Some(c) = cursor {
            let cur = meta.get(JsValue::from_str(CURSOR_KEY)).await.map_err(err)?;
            let old = match cur.filter(|c| !c.is_undefined()) {
                Some(v) => u64::from_be_bytes(to_vec(&v)?.try_into().map_err(|_| err("cursor"))?),
                None => 0,
            };
            meta.put(&bytes(&c.max(old).to_be_bytes()), Some(&JsValue::from_str(CURSOR_KEY))).await.map_err(err)?;
        }
        finish(tx).await?;
        Ok(())
    }

    async fn add_ops(&self, ops: &[StoredOp]) -> Result<(), StoreError> {
        let tx = self.db.transaction(&[OUTBOX], TransactionMode::ReadWrite).map_err(err)?;
        let store = tx.store(OUTBOX).map_err(err)?;
        let rows: Vec<(JsValue, JsValue)> =
            ops.iter().map(|op| (bytes(&op.blob), JsValue::from_f64(op.id as f64))).collect();
        futures::future::try_join_all(rows.iter().map(|(v, k)| store.put(v, Some(k)))).await.map_err(err)?;
        finish(tx).await?;
        Ok(())
    }

    async fn remove_ops(&self, ids: &[u64]) -> Result<(), StoreError> {
        let tx = self.db.transaction(&[OUTBOX], TransactionMode::ReadWrite).map_err(err)?;
        let store = tx.store(OUTBOX).map_err(err)?;
        futures::future::try_join_all(ids.iter().map(|id| store.delete(JsValue::from_f64(*id as f64))))
            .await
            .map_err(err)?;
        finish(tx).await?;
        Ok(())
    }

    async fn save_cache(&self, blob: &[u8]) -> Result<(), StoreError> {
        let tx = self.db.transaction(&[CACHE], TransactionMode::ReadWrite).map_err(err)?;
        tx.store(CACHE).map_err(err)?.put(&bytes(blob), Some(&JsValue::from_str(REPLICA_KEY))).await.map_err(err)?;
        finish(tx).await?;
        Ok(())
    }
}
