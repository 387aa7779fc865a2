//! What the engine keeps on the device: only ciphertext, behind the [`Store`] trait.

use super::*;

/// A record as the local store keeps it: exactly the server's ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub record: RecordId,
    pub version: u64,
    pub sealed: SealedRecord,
}

/// An outbox entry as the local store keeps it: sealed under the device vault key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOp {
    pub id: u64,
    pub blob: Vec<u8>,
}

/// Everything a store hands back on start-up.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub outbox: Vec<StoredOp>,
    pub cursor: Cursor,
    /// The sealed replica cache (see [`cache`]), if one was saved.
    pub cache: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("local store: {0}")]
pub struct StoreError(pub String);

/// Durable local storage of ciphertext. Each method is atomic.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Everything but the records: quick at any size.
    async fn load(&self) -> Result<Snapshot, StoreError>;
    /// Every stored record.
    async fn records(&self) -> Result<Vec<StoredRecord>, StoreError>;
    /// Save server states of records, and then the cursor if given: the cursor is
    /// never stored ahead of a record it covers (a store may write the records in
    /// several transactions, the cursor once they all committed). A stored record is
    /// never replaced by an older version of it (another tab of the same account may
    /// have stored a newer one).
    async fn save_records(&self, records: &[StoredRecord], cursor: Option<Cursor>) -> Result<(), StoreError>;
    /// [`Store::save_records`], told which records (`fresh[i]`; missing means `false`)
    /// this engine has never stored: a store may insert those without reading first,
    /// provided one stored meanwhile (by another tab) is still compared by version.
    /// The same outcome as `save_records`, only quicker (a new device's first sync).
    async fn save_new_records(
        &self,
        records: &[StoredRecord],
        fresh: &[bool],
        cursor: Option<Cursor>,
    ) -> Result<(), StoreError> {
        let _ = fresh;
        self.save_records(records, cursor).await
    }
    /// Append outbox entries, all or none.
    async fn add_ops(&self, ops: &[StoredOp]) -> Result<(), StoreError>;
    async fn remove_ops(&self, ids: &[u64]) -> Result<(), StoreError>;
    /// Replace the sealed replica cache.
    async fn save_cache(&self, blob: &[u8]) -> Result<(), StoreError>;

    /// Seal the replica cache ([`seal_blob`]'s format, AES-256-GCM) and store it as
    /// [`Store::save_cache`] does. A store may hand the sealing to its platform's own
    /// implementation of the same primitive (the browser's WebCrypto: hardware AES,
    /// off the page's thread), and keep the sealed bytes where its platform stores
    /// them from (tens of megabytes at 100,000 customers, not copied through here).
    async fn seal_cache(&self, key: &SymmetricKey, context: &[u8], plain: &[u8]) -> Result<(), StoreError> {
        self.save_cache(&seal_blob(key, context, plain)).await
    }

    /// Open a local blob sealed by [`Store::seal_cache`] or [`seal_blob`].
    async fn open_blob(&self, key: &SymmetricKey, context: &[u8], blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_blob(key, context, blob)
    }
}
