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
use shared::encoding::{Reader, Writer};
use shared::ids::RecordId;
use shared::sync::{Snapshot, Store, StoreError, StoredOp, StoredRecord};
use wasm_bindgen::{JsCast, JsValue};

/// Version 1: `records`, `outbox`, `meta`. Version 2 adds `cache` (the sealed replica
/// cache, see `shared::sync::cache`), kept apart from `meta` because it is large and
/// rewritten whole. Version 3 adds `packs`: records stored a page at a time (a new
/// device's first sync, a large push; see [`Store::save_new_records`]).
pub const SCHEMA_VERSION: u32 = 3;
const RECORDS: &str = "records";
const PACKS: &str = "packs";
const OUTBOX: &str = "outbox";
const META: &str = "meta";
const CACHE: &str = "cache";
const CURSOR_KEY: &str = "cursor";
const REPLICA_KEY: &str = "replica";
/// Where a read request carries the index of its row (see `save_records`).
const ROW: &str = "quietdeskRow";

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

/// One transaction's worth of records, issued (see [`Store::save_new_records`]); its
/// callbacks live as long as it does.
struct Issued {
    /// Its end, listened for from the moment it was issued.
    done: Settling,
    _on_read: wasm_bindgen::closure::Closure<dyn FnMut(web_sys::Event)>,
    _on_taken: wasm_bindgen::closure::Closure<dyn FnMut(web_sys::Event)>,
}

/// Issue the writes of (the first rows of) `records` in one transaction: each record
/// is read and written only if what is stored is not newer, inside the transaction; a
/// record `fresh(i)` (never stored by this engine) is inserted without a read (`add`),
/// and if another tab stored it meanwhile, the failed insert is read and compared like
/// the others, the failure kept from aborting the transaction. Issues rows until
/// `until` (`Date.now()`) or [`ROWS_PER_TX`] of them, at least one; says how many.
fn issue_records(
    db: &web_sys::IdbDatabase,
    records: &[StoredRecord],
    until: f64,
    fresh: impl Fn(usize) -> bool,
) -> Result<(Issued, usize), StoreError> {
    let tx = db
        .transaction_with_str_and_mode(RECORDS, web_sys::IdbTransactionMode::Readwrite)
        .map_err(|_| err("IndexedDB transaction"))?;
    let store = tx.object_store(RECORDS).map_err(|_| err("records store"))?;
    // Filled as the rows are issued; the callbacks only run once this returns.
    type Rows = std::rc::Rc<std::cell::RefCell<Vec<(JsValue, JsValue, u64)>>>;
    let rows: Rows = Default::default();
    let on_read = {
        let (store, rows) = (store.clone(), rows.clone());
        wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            let Some(request) = e.target().and_then(|t| t.dyn_into::<web_sys::IdbRequest>().ok()) else { return };
            let at = js_sys::Reflect::get(&request, &ROW.into()).ok().and_then(|v| v.as_f64());
            let rows = rows.borrow();
            let Some((key, value, version)) = at.and_then(|i| rows.get(i as usize)) else { return };
            let current = request.result().ok().filter(|c| !c.is_undefined());
            if current.is_none_or(|c| stored_version(&c).is_none_or(|v| v <= *version)) {
                // A failed put fails the transaction, which `settled` reports.
                let _ = store.put_with_key(value, key);
            }
        })
    };
    let on_taken = {
        let (store, rows, on_read) = (store.clone(), rows.clone(), on_read.as_ref().clone());
        wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            e.prevent_default();
            e.stop_propagation();
            let Some(request) = e.target().and_then(|t| t.dyn_into::<web_sys::IdbRequest>().ok()) else { return };
            let Ok(at) = js_sys::Reflect::get(&request, &ROW.into()) else { return };
            let rows = rows.borrow();
            let Some((key, _, _)) = at.as_f64().and_then(|i| rows.get(i as usize)) else { return };
            if let Ok(read) = store.get(key) {
                let _ = js_sys::Reflect::set(&read, &ROW.into(), &at);
                read.set_onsuccess(Some(on_read.unchecked_ref()));
            }
        })
    };
    for (i, r) in records.iter().enumerate().take(ROWS_PER_TX) {
        if i > 0 && js_sys::Date::now() >= until {
            break;
        }
        let (key, value) = (JsValue::from_str(&r.record.to_string()), encode_record(r));
        let insert = fresh(i);
        let request = match insert {
            true => store.add_with_key(&value, &key).map_err(|_| err("records write"))?,
            false => store.get(&key).map_err(|_| err("records read"))?,
        };
        js_sys::Reflect::set(&request, &ROW.into(), &(i as f64).into()).map_err(|_| err("records read"))?;
        match insert {
            true => request.set_onerror(Some(on_taken.as_ref().unchecked_ref())),
            false => request.set_onsuccess(Some(on_read.as_ref().unchecked_ref())),
        }
        rows.borrow_mut().push((key, value, r.version));
    }
    let issued = rows.borrow().len();
    Ok((Issued { done: settling(&tx, "complete"), _on_read: on_read, _on_taken: on_taken }, issued))
}

/// The most records written in one transaction.
const ROWS_PER_TX: usize = 250;
/// How long issuing writes may hold the page before it yields (issuing a request costs
/// about 0.1 ms: its value is copied).
const ISSUE_MS: f64 = 6.0;

/// An open per-account database.
pub struct IdbStore {
    db: Rexie,
    version: u32,
    /// A second connection without rexie, for [`Store::save_records`]: a thousand rows
    /// in one transaction with one callback each, instead of two promises each.
    raw: std::cell::RefCell<Option<web_sys::IdbDatabase>>,
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
    if version >= 3 {
        builder = builder.add_object_store(ObjectStore::new(PACKS).auto_increment(true));
    }
    let db = builder.build().await.map_err(err)?;
    Ok(IdbStore { db, version, raw: Default::default() })
}

/// Wait for an IndexedDB request or transaction: `done` is the event that means it
/// succeeded (`success`, `complete`).
async fn settled(target: &web_sys::EventTarget, done: &str) -> Result<(), StoreError> {
    settling(target, done).await
}

/// The end of an IndexedDB request or transaction (`done`, or an error or abort).
type Settling = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>>>>;

/// Listen for `target`'s end now, to await later. An event fires once, to whoever
/// listens then: a transaction awaited only after the page yielded (as a write issued
/// between breaths is) may have finished meanwhile, and a listener added after that
/// would wait forever. (That stalled a new device's first sync, about one in four at
/// 100,000 records.)
fn settling(target: &web_sys::EventTarget, done: &str) -> Settling {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let _ = target.add_event_listener_with_callback(done, &resolve);
        let _ = target.add_event_listener_with_callback("error", &reject);
        let _ = target.add_event_listener_with_callback("abort", &reject);
    });
    let ended = wasm_bindgen_futures::JsFuture::from(promise);
    Box::pin(async move { ended.await.map(drop).map_err(|_| err("IndexedDB request failed")) })
}

/// The first eight bytes of a stored value as a number: a record row's version (see
/// [`encode_record`]), or the cursor.
fn stored_version(row: &JsValue) -> Option<u64> {
    let row = row.dyn_ref::<Uint8Array>().filter(|r| r.length() >= 8)?;
    let mut head = [0u8; 8];
    row.subarray(0, 8).copy_to(&mut head);
    Some(u64::from_be_bytes(head))
}

/// Delete a whole database (log-out wipes the device copy).
pub async fn delete(name: &str) -> Result<(), StoreError> {
    Rexie::delete(name).await.map_err(err)
}

fn bytes(v: &[u8]) -> JsValue {
    Uint8Array::from(v).into()
}

fn to_vec(v: &JsValue) -> Result<Vec<u8>, StoreError> {
    v.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec).ok_or_else(|| err("stored value is not bytes"))
}

/// A record row: 8-byte big-endian version, then the sealed record.
fn encode_record(r: &StoredRecord) -> JsValue {
    let mut v = Vec::with_capacity(8 + r.sealed.0.len());
    v.extend_from_slice(&r.version.to_be_bytes());
    v.extend_from_slice(&r.sealed.0);
    bytes(&v)
}

/// A pack: a page of records in one row (a new device's first sync writes 100,000
/// records as a hundred rows, not 100,000; a push of a page, as after an import or a
/// re-encryption, writes one).
/// `1`, then per record its id, its version (big-endian) and its sealed bytes
/// (length-prefixed). The `records` rows and the packs hold the same kind of thing:
/// a record's newest version among them is the one stored.
fn encode_pack(records: &[StoredRecord]) -> Uint8Array {
    let size: usize = records.iter().map(|r| 28 + r.sealed.0.len()).sum();
    let mut w = Writer::with_capacity(1 + size);
    w.u8(PACK_VERSION);
    for r in records {
        w.fixed(r.record.as_bytes()).u64(r.version).bytes(&r.sealed.0);
    }
    Uint8Array::from(w.as_slice())
}

const PACK_VERSION: u8 = 1;

/// Read pack number `which` into `out`; says how many records it holds.
fn decode_pack(pack: &[u8], which: usize, out: &mut Newest) -> Result<usize, StoreError> {
    let bad = |_| err("a malformed pack");
    let mut r = Reader::new(pack);
    if r.u8().map_err(bad)? != PACK_VERSION {
        return Err(err("a pack of an unknown version"));
    }
    let mut held = 0;
    while r.remaining() > 0 {
        let record = RecordId(r.array().map_err(bad)?);
        let version = r.u64().map_err(bad)?;
        let sealed = SealedRecord(r.bytes().map_err(bad)?.to_vec());
        out.take(StoredRecord { record, version, sealed }, Some(which));
        held += 1;
    }
    Ok(held)
}

/// Every record's newest stored version, from packs (oldest first) and then rows,
/// with the pack it came from (`None`: a row).
#[derive(Default)]
struct Newest {
    records: Vec<StoredRecord>,
    from: Vec<Option<usize>>,
    at: std::collections::HashMap<RecordId, usize>,
}

impl Newest {
    fn take(&mut self, rec: StoredRecord, pack: Option<usize>) {
        match self.at.get(&rec.record) {
            // The later of two equal versions, as a row put over a row.
            Some(&i) if self.records[i].version <= rec.version => {
                self.records[i] = rec;
                self.from[i] = pack;
            }
            Some(_) => {}
            None => {
                self.at.insert(rec.record, self.records.len());
                self.records.push(rec);
                self.from.push(pack);
            }
        }
    }

    /// How many of the newest versions each of `packs` packs holds.
    fn live(&self, packs: usize) -> Vec<usize> {
        let mut live = vec![0; packs];
        for i in self.from.iter().flatten() {
            live[*i] += 1;
        }
        live
    }

    /// The newest versions that the packs `which` marks hold, in one pass.
    fn held_by(&self, which: &[bool]) -> Vec<StoredRecord> {
        let held = |from: &Option<usize>| from.is_some_and(|i| which[i]);
        self.from.iter().zip(&self.records).filter(|(from, _)| held(from)).map(|(_, r)| r.clone()).collect()
    }
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

thread_local! {
    /// The replica cache's read issued by [`IdbStore::prefetch_cache`], by database.
    static CACHE_READ: std::cell::RefCell<Option<(String, web_sys::IdbRequest)>> = const { std::cell::RefCell::new(None) };
}

/// The value an IndexedDB request read, once it has.
async fn answer(request: &web_sys::IdbRequest) -> Result<JsValue, StoreError> {
    // A request that is done has dispatched its event already: read it, do not wait.
    if request.ready_state() != web_sys::IdbRequestReadyState::Done {
        settled(request, "success").await?;
    }
    request.result().map_err(|_| err("IndexedDB read failed"))
}

impl IdbStore {
    /// Start reading the sealed replica cache now, for the workspace that opens next
    /// ([`Store::load`] takes the answer). Unlocking calls it before the passphrase is
    /// checked: Argon2 holds the page for a quarter of a second, and the browser reads
    /// the blob (tens of megabytes at 100,000 customers) in the meantime. The blob is
    /// sealed under the vault key, so reading it early gives nothing away, and its
    /// entries are only used where the stored records still have their versions.
    pub async fn prefetch_cache(&self) {
        if self.version < 2 {
            return;
        }
        let Ok(db) = self.raw().await else { return };
        let request = db
            .transaction_with_str(CACHE)
            .and_then(|tx| tx.object_store(CACHE))
            .and_then(|store| store.get(&JsValue::from_str(REPLICA_KEY)));
        if let Ok(request) = request {
            CACHE_READ.set(Some((self.db.name(), request)));
        }
    }

    async fn cache_now(&self) -> Result<Option<JsValue>, StoreError> {
        let tx = self.db.transaction(&[CACHE], TransactionMode::ReadOnly).map_err(err)?;
        let v = tx.store(CACHE).map_err(err)?.get(JsValue::from_str(REPLICA_KEY)).await.map_err(err)?;
        finish(tx).await?;
        Ok(v)
    }

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

    /// The database's name.
    pub fn name(&self) -> String {
        self.db.name()
    }

    /// The object stores of this schema version.
    pub fn store_names(&self) -> Vec<String> {
        self.db.store_names()
    }

    /// Every value in every store, as bytes: for tests that prove only ciphertext is kept.
    pub async fn raw_values(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let names: &[&str] = match self.version {
            1 => &[RECORDS, OUTBOX, META],
            2 => &[RECORDS, OUTBOX, META, CACHE],
            _ => &[RECORDS, OUTBOX, META, CACHE, PACKS],
        };
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

    /// Every row of `store`, `page` rows per transaction, the page drawing in between.
    async fn read_pages(
        &self,
        store: &str,
        page: u32,
        each: &mut dyn FnMut(&JsValue, &JsValue) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut after: Option<JsValue> = None;
        loop {
            let range = match &after {
                Some(key) => Some(rexie::KeyRange::lower_bound(key, Some(true)).map_err(err)?),
                None => None,
            };
            let tx = self.db.transaction(&[store], TransactionMode::ReadOnly).map_err(err)?;
            let rows = tx.store(store).map_err(err)?;
            let (keys, values) =
                futures::try_join!(rows.get_all_keys(range.clone(), Some(page)), rows.get_all(range, Some(page)))
                    .map_err(err)?;
            finish(tx).await?;
            for (k, v) in keys.iter().zip(&values) {
                each(k, v)?;
            }
            match keys.last() {
                Some(last) if keys.len() == page as usize => after = Some(last.clone()),
                _ => return Ok(()),
            }
            gloo_timers::future::TimeoutFuture::new(0).await;
        }
    }

    pub fn close(self) {
        if let Some(raw) = self.raw.take() {
            raw.close();
        }
        self.db.close();
    }

    /// The second connection, opened on first use. It closes itself when another
    /// page upgrades or deletes the database (and is opened again when next needed).
    async fn raw(&self) -> Result<web_sys::IdbDatabase, StoreError> {
        if let Some(db) = self.raw.borrow().as_ref() {
            return Ok(db.clone());
        }
        let factory =
            web_sys::window().and_then(|w| w.indexed_db().ok().flatten()).ok_or_else(|| err("no IndexedDB"))?;
        let request = factory.open(&self.db.name()).map_err(|_| err("IndexedDB open"))?;
        settled(&request, "success").await?;
        let db: web_sys::IdbDatabase = request.result().map_err(|_| err("IndexedDB open"))?.unchecked_into();
        let closing = db.clone();
        let on_change = wasm_bindgen::closure::Closure::once_into_js(move || closing.close());
        db.set_onversionchange(Some(on_change.unchecked_ref()));
        *self.raw.borrow_mut() = Some(db.clone());
        Ok(db)
    }
}

impl Store for IdbStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        let tx = self.db.transaction(&[OUTBOX, META, CACHE], TransactionMode::ReadOnly).map_err(err)?;
        let (outbox, meta, cache) =
            (tx.store(OUTBOX).map_err(err)?, tx.store(META).map_err(err)?, tx.store(CACHE).map_err(err)?);
        // Whole stores in a few requests (getAll / getAllKeys come back in key order),
        // not one cursor step per row.
        let prefetched = CACHE_READ.with_borrow_mut(|r| r.take_if(|(name, _)| *name == self.db.name()));
        let read_cache = async {
            match prefetched {
                Some(_) => Ok(None),
                None => cache.get(JsValue::from_str(REPLICA_KEY)).await,
            }
        };
        let (op_keys, op_values, cursor, mut cached) = futures::try_join!(
            outbox.get_all_keys(None, None),
            outbox.get_all(None, None),
            meta.get(JsValue::from_str(CURSOR_KEY)),
            read_cache,
        )
        .map_err(err)?;
        finish(tx).await?;
        if let Some((_, request)) = prefetched {
            cached = match answer(&request).await {
                Ok(value) => Some(value),
                // The early read failed (its connection closed, say): read it now.
                Err(_) => self.cache_now().await?,
            };
        }
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
        // copying 100,000 records at once held it for a third of a second, and a page
        // of 5,000 (10 MB to copy) still delayed keystrokes past a frame. A pack holds
        // a page of records already. Only the engine writes records, and it holds its
        // lock while it reads them all.
        let mut newest = Newest::default();
        // Each pack's key and how many records it holds.
        let mut packs: Vec<(JsValue, usize)> = Vec::new();
        if self.version >= 3 {
            self.read_pages(PACKS, 1, &mut |key, pack| {
                let held = decode_pack(&to_vec(pack)?, packs.len(), &mut newest)?;
                packs.push((key.clone(), held));
                Ok(())
            })
            .await?;
        }
        self.read_pages(RECORDS, 1_000, &mut |key, row| {
            newest.take(decode_record(key, row)?, None);
            Ok(())
        })
        .await?;
        if let Err(e) = self.tidy_packs(&newest, &packs).await {
            web_sys::console::warn_1(&format!("quietdesk: spent packs kept: {e}").into());
        }
        let mut records = newest.records;
        records.sort_unstable_by_key(|r| r.record);
        Ok(records)
    }

    async fn seal_cache(&self, key: &SymmetricKey, context: &[u8], plain: &[u8]) -> Result<(), StoreError> {
        // Sealed by WebCrypto into the browser's memory and stored from there: no copy
        // of the blob through the module's memory (which would grow by its size).
        let blob = match crate::webcrypto::seal_blob_js(key, context, plain).await {
            Some(blob) => blob,
            None => Uint8Array::from(&shared::crypto::aead::seal_blob(key, context, plain)[..]),
        };
        crate::compute::yield_now().await;
        self.put_cache(&blob).await
    }

    async fn open_blob(&self, key: &SymmetricKey, context: &[u8], blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match crate::webcrypto::open_blob(key, context, blob).await {
            Some(opened) => opened,
            None => shared::crypto::aead::open_blob(key, context, blob),
        }
    }

    async fn save_records(&self, records: &[StoredRecord], cursor: Option<Cursor>) -> Result<(), StoreError> {
        self.save_new_records(records, &[], cursor).await
    }

    async fn save_new_records(
        &self,
        records: &[StoredRecord],
        fresh: &[bool],
        cursor: Option<Cursor>,
    ) -> Result<(), StoreError> {
        let db = self.raw().await?;
        // A page of records (a new device's first sync, a push after an import, a
        // re-encryption's batch) goes into one pack row, with the cursor, in one
        // transaction: a row per record, each read and compared before it is written,
        // costs the browser more than the rest of the work. Nothing in a pack replaces
        // what is stored: reading takes each record's newest version wherever it is,
        // so a newer version another tab stored is never lost to it.
        if self.version >= 3 && records.len() >= PACK_FROM {
            return self.save_pack(&db, records, cursor).await;
        }
        self.write_rows(&db, records, fresh, cursor).await
    }

    async fn add_ops(&self, ops: &[StoredOp]) -> Result<(), StoreError> {
        // One transaction, awaited once: no callback per row (a failed row fails the
        // transaction, which `settling` reports).
        let (tx, store) = self.outbox_tx().await?;
        let done = settling(&tx, "complete");
        for op in ops {
            store.put_with_key(&bytes(&op.blob), &JsValue::from_f64(op.id as f64)).map_err(|_| err("outbox write"))?;
        }
        done.await
    }

    async fn remove_ops(&self, ids: &[u64]) -> Result<(), StoreError> {
        // One delete per run of consecutive ids; a push's entries are scattered over the
        // outbox (its records are chosen in record order), and a delete costs the page
        // about 25 µs: a transaction per few milliseconds, breaths in between. (Entries
        // whose record is stored are pushed again, merging to the same record, should a
        // crash come between two.)
        let runs = runs(ids);
        let mut pending = Vec::new();
        let mut at = 0;
        while at < runs.len() || pending.is_empty() {
            if at > 0 {
                crate::compute::yield_now().await;
            }
            let (tx, store) = self.outbox_tx().await?;
            pending.push(settling(&tx, "complete"));
            let until = js_sys::Date::now() + ISSUE_MS;
            while let Some(&(first, last)) = runs.get(at) {
                let deleted = match first == last {
                    true => store.delete(&JsValue::from_f64(first as f64)),
                    false => {
                        web_sys::IdbKeyRange::bound(&JsValue::from_f64(first as f64), &JsValue::from_f64(last as f64))
                            .and_then(|range| store.delete(&range))
                    }
                };
                deleted.map_err(|_| err("outbox delete"))?;
                at += 1;
                if js_sys::Date::now() >= until {
                    break;
                }
            }
        }
        for done in pending {
            done.await?;
        }
        Ok(())
    }

    async fn save_cache(&self, blob: &[u8]) -> Result<(), StoreError> {
        self.put_cache(&Uint8Array::from(blob)).await
    }
}

/// The fewest records worth a pack.
const PACK_FROM: usize = 64;

/// Move the stored cursor to `c` within `tx` (which covers `meta`), never back: its
/// callback lives as long as the returned closure.
fn advance_cursor(
    tx: &web_sys::IdbTransaction,
    c: Cursor,
) -> Result<wasm_bindgen::closure::Closure<dyn FnMut(web_sys::Event)>, StoreError> {
    let meta = tx.object_store(META).map_err(|_| err("meta store"))?;
    let on_cursor = {
        let meta = meta.clone();
        wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            let Some(request) = e.target().and_then(|t| t.dyn_into::<web_sys::IdbRequest>().ok()) else { return };
            let old = request.result().ok().and_then(|v| stored_version(&v)).unwrap_or(0);
            let _ = meta.put_with_key(&bytes(&c.max(old).to_be_bytes()), &JsValue::from_str(CURSOR_KEY));
        })
    };
    let request = meta.get(&JsValue::from_str(CURSOR_KEY)).map_err(|_| err("cursor read"))?;
    request.set_onsuccess(Some(on_cursor.as_ref().unchecked_ref()));
    Ok(on_cursor)
}

/// `ids` as runs of consecutive numbers, each `(first, last)`, ascending.
fn runs(ids: &[u64]) -> Vec<(u64, u64)> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for id in sorted {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == id => *last = id,
            _ => out.push((id, id)),
        }
    }
    out
}

impl IdbStore {
    /// A read-write transaction on the outbox, on the second connection.
    async fn outbox_tx(&self) -> Result<(web_sys::IdbTransaction, web_sys::IdbObjectStore), StoreError> {
        let tx = self
            .raw()
            .await?
            .transaction_with_str_and_mode(OUTBOX, web_sys::IdbTransactionMode::Readwrite)
            .map_err(|_| err("IndexedDB transaction"))?;
        let store = tx.object_store(OUTBOX).map_err(|_| err("outbox store"))?;
        Ok((tx, store))
    }

    /// [`Store::save_new_records`] a row per record.
    async fn write_rows(
        &self,
        db: &web_sys::IdbDatabase,
        records: &[StoredRecord],
        fresh: &[bool],
        cursor: Option<Cursor>,
    ) -> Result<(), StoreError> {
        // A page of 1,000 records is written as a few transactions issued between
        // breaths (each issued for at most a few milliseconds); the browser works
        // through them in order meanwhile.
        let mut issued = Vec::new();
        let mut start = 0;
        while start < records.len() {
            if start > 0 {
                crate::compute::yield_now().await;
            }
            let until = js_sys::Date::now() + ISSUE_MS;
            let (batch, n) =
                issue_records(db, &records[start..], until, |i| fresh.get(start + i).copied().unwrap_or(false))?;
            issued.push(batch);
            start += n;
        }
        for batch in issued {
            batch.done.await?;
        }
        // The cursor only once every record is written (a record written without it
        // is pulled again and compared; a cursor past an unwritten record would lose it).
        let Some(c) = cursor else { return Ok(()) };
        let tx = db
            .transaction_with_str_and_mode(META, web_sys::IdbTransactionMode::Readwrite)
            .map_err(|_| err("IndexedDB transaction"))?;
        let _advancing = advance_cursor(&tx, c)?;
        settled(&tx, "complete").await
    }

    /// Delete the packs that hold none of the newest versions (every record stored
    /// again since, as after a re-encryption), and pack again, into one new pack, what
    /// is still newest in packs that hold mostly superseded versions: in one
    /// transaction, so a record's newest version is stored throughout. (Nothing else
    /// deletes a stored version, so what superseded it stays.)
    async fn tidy_packs(&self, newest: &Newest, packs: &[(JsValue, usize)]) -> Result<(), StoreError> {
        let live = newest.live(packs.len());
        let mut spent = Vec::new();
        let mut repack = vec![false; packs.len()];
        for (i, ((key, held), live)) in packs.iter().zip(live).enumerate() {
            if live == 0 || live * 2 < *held {
                spent.push(key);
                repack[i] = live > 0;
            }
        }
        if spent.is_empty() {
            return Ok(());
        }
        let kept = newest.held_by(&repack);
        let repacked = (!kept.is_empty()).then(|| encode_pack(&kept));
        let tx = self
            .raw()
            .await?
            .transaction_with_str_and_mode(PACKS, web_sys::IdbTransactionMode::Readwrite)
            .map_err(|_| err("IndexedDB transaction"))?;
        let done = settling(&tx, "complete");
        let store = tx.object_store(PACKS).map_err(|_| err("packs store"))?;
        if let Some(pack) = repacked {
            store.add(&pack).map_err(|_| err("pack write"))?;
        }
        for key in spent {
            store.delete(key).map_err(|_| err("pack delete"))?;
        }
        done.await
    }

    /// One pack of `records` and the cursor after them, in one transaction.
    async fn save_pack(
        &self,
        db: &web_sys::IdbDatabase,
        records: &[StoredRecord],
        cursor: Option<Cursor>,
    ) -> Result<(), StoreError> {
        let pack = encode_pack(records);
        crate::compute::yield_now().await;
        let stores = js_sys::Array::of2(&PACKS.into(), &META.into());
        let tx = db
            .transaction_with_str_sequence_and_mode(&stores, web_sys::IdbTransactionMode::Readwrite)
            .map_err(|_| err("IndexedDB transaction"))?;
        let done = settling(&tx, "complete");
        tx.object_store(PACKS).and_then(|p| p.add(&pack)).map_err(|_| err("pack write"))?;
        let _advancing = cursor.map(|c| advance_cursor(&tx, c)).transpose()?;
        done.await
    }

    async fn put_cache(&self, blob: &Uint8Array) -> Result<(), StoreError> {
        let tx = self.db.transaction(&[CACHE], TransactionMode::ReadWrite).map_err(err)?;
        tx.store(CACHE).map_err(err)?.put(blob, Some(&JsValue::from_str(REPLICA_KEY))).await.map_err(err)?;
        finish(tx).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::*;

    use super::*;

    wasm_bindgen_test_configure!(run_in_browser);

    async fn sleep_ms(ms: i32) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            let window = web_sys::window().expect("a window");
            window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms).expect("a timer");
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }

    /// A transaction that commits while the page is elsewhere (as one issued between
    /// breaths does) is seen to have committed when it is awaited after.
    #[wasm_bindgen_test]
    async fn a_transaction_that_ended_before_it_was_awaited_is_not_waited_on_forever() {
        let factory = web_sys::window().unwrap().indexed_db().unwrap().unwrap();
        let request = factory.open_with_u32("quietdesk-test-settling", 1).unwrap();
        let on_upgrade = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(|e: web_sys::Event| {
            let request: web_sys::IdbOpenDbRequest = e.target().unwrap().unchecked_into();
            let db: web_sys::IdbDatabase = request.result().unwrap().unchecked_into();
            db.create_object_store("v").unwrap();
        });
        request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
        settled(&request, "success").await.unwrap();
        let db: web_sys::IdbDatabase = request.result().unwrap().unchecked_into();

        let tx = db.transaction_with_str_and_mode("v", web_sys::IdbTransactionMode::Readwrite).unwrap();
        tx.object_store("v").unwrap().put_with_key(&JsValue::from(1), &JsValue::from_str("k")).unwrap();
        let done = settling(&tx, "complete");
        sleep_ms(200).await; // the transaction commits meanwhile
        let timeout = async {
            sleep_ms(5_000).await;
            Err(err("still waiting 5 s after the commit"))
        };
        futures::pin_mut!(timeout);
        let first = futures::future::select(done, timeout).await.factor_first().0;
        assert_eq!(first, Ok(()));
        db.close();
    }
}
