//! An in-memory [`Store`] for tests and native tools. Holds ciphertext only, exactly
//! like the IndexedDB store, and can dump every byte it holds for canary checks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Snapshot, Store, StoreError, StoredOp, StoredRecord};
use crate::api::Cursor;
use crate::ids::RecordId;

#[derive(Debug, Default)]
struct Inner {
    records: BTreeMap<RecordId, StoredRecord>,
    outbox: BTreeMap<u64, StoredOp>,
    cursor: Cursor,
    cache: Option<Vec<u8>>,
}

/// Cloning shares the same storage, like reopening the same database.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every byte the store holds, concatenated.
    pub fn dump(&self) -> Vec<u8> {
        let g = self.inner.lock().expect("poisoned");
        let mut out = Vec::new();
        for r in g.records.values() {
            out.extend_from_slice(&r.sealed.0);
        }
        for o in g.outbox.values() {
            out.extend_from_slice(&o.blob);
        }
        out.extend(g.cache.iter().flatten());
        out
    }

    pub fn outbox_len(&self) -> usize {
        self.inner.lock().expect("poisoned").outbox.len()
    }
}

impl Store for MemoryStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        let g = self.inner.lock().expect("poisoned");
        Ok(Snapshot { outbox: g.outbox.values().cloned().collect(), cursor: g.cursor, cache: g.cache.clone() })
    }
    async fn records(&self) -> Result<Vec<StoredRecord>, StoreError> {
        Ok(self.inner.lock().expect("poisoned").records.values().cloned().collect())
    }
    async fn save_records(&self, records: &[StoredRecord], cursor: Option<Cursor>) -> Result<(), StoreError> {
        let mut g = self.inner.lock().expect("poisoned");
        for r in records {
            let newer = g.records.get(&r.record).is_none_or(|cur| cur.version <= r.version);
            if newer {
                g.records.insert(r.record, r.clone());
            }
        }
        if let Some(c) = cursor {
            g.cursor = g.cursor.max(c);
        }
        Ok(())
    }
    async fn add_ops(&self, ops: &[StoredOp]) -> Result<(), StoreError> {
        let mut g = self.inner.lock().expect("poisoned");
        for op in ops {
            g.outbox.insert(op.id, op.clone());
        }
        Ok(())
    }
    async fn remove_ops(&self, ids: &[u64]) -> Result<(), StoreError> {
        let mut g = self.inner.lock().expect("poisoned");
        for id in ids {
            g.outbox.remove(id);
        }
        Ok(())
    }
    async fn save_cache(&self, blob: &[u8]) -> Result<(), StoreError> {
        self.inner.lock().expect("poisoned").cache = Some(blob.to_vec());
        Ok(())
    }
}
