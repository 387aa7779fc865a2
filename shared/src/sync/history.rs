//! Earlier versions of a record, as the server keeps them for the team's retention
//! period, and putting one back.
//!
//! The server lists and serves kept versions; nothing it says is trusted. A kept version
//! opens exactly as a pulled one does ([`seal::open_record`]): sealed *as* the version
//! asked for, of this record, by a member the verified chain lets seal under its epoch,
//! its signature holding, its deletion flag agreeing with its content. A put-back then
//! writes that version's fields on top of the record as a new edit by this client's
//! user, stamped now and signed by them: whatever is shown as its author is who put it
//! back, and it merges, syncs and can be put back itself like any edit.

use crate::api::KeptVersions;
use crate::domain::is_sensitive;
use crate::ids::RecordId;
use crate::record::{RecordDoc, Value, CREATED, REPAIRED};

use super::seal::{self, Opened};
use super::{Compute, Store, SyncError, Syncer, Transport};

impl<S: Store, T: Transport, C: Compute> Syncer<S, T, C> {
    /// The kept versions of `record` the server lists (its word on what exists; each is
    /// checked when opened, [`Syncer::open_kept`]).
    pub async fn kept_versions(&self, record: RecordId) -> Result<KeptVersions, SyncError> {
        Ok(self.transport.kept_versions(record).await?)
    }

    /// Fetch `version` of `record` as the server keeps it and open it as a pulled
    /// version is opened: it must be older than the version held here, sealed as that
    /// version of this record, by a member the verified chain lets seal under its
    /// epoch. Anything else is refused ([`crate::crypto::CryptoError`]).
    pub async fn open_kept(&self, record: RecordId, version: u64) -> Result<Opened, SyncError> {
        let held = self.replica.records.get(&record).map_or(0, |l| l.version);
        if version == 0 || version >= held {
            return Err(SyncError::NotAllowed("only a version older than the one held here can be put back"));
        }
        let kept = self.transport.kept_version(record, version).await?;
        if kept.record != record || kept.version != version {
            return Err(SyncError::Crypto(crate::crypto::CryptoError::DecryptionFailed));
        }
        let session = &self.session;
        Ok(seal::open_record(&kept.sealed, &session.ctx(record), version, &session.keyring, &session.team)?)
    }

    /// Put `version` of `record` back ([`Syncer::open_kept`], then its fields written on
    /// top as this client's edit, see [`restoring`]). Returns how many fields changed;
    /// the edit goes out with the next sync.
    pub async fn put_back(&mut self, record: RecordId, version: u64, now_ms: u64) -> Result<usize, SyncError> {
        let kept = self.open_kept(record, version).await?;
        let current = self.replica.records.get(&record).map(|l| l.view.clone()).unwrap_or_default();
        let edits = restoring(&kept, &current);
        let changed = edits.len();
        if changed > 0 {
            self.edit(record, edits, now_ms).await?;
        }
        Ok(changed)
    }
}

/// The field writes that make `current` read as `kept`: each field whose value
/// differs takes the kept value, and each field the kept version did not have is
/// cleared. A sensitive field this client could not read in the kept version is left
/// as it is (its value is not known here), and so are the put-back mark of a repair and
/// the creation certificate (only a record's creator writes it).
pub fn restoring(kept: &Opened, current: &RecordDoc) -> Vec<(String, Option<Value>)> {
    let unknown = |name: &str| name == REPAIRED || name == CREATED || (is_sensitive(name) && !kept.complete);
    let mut edits: Vec<(String, Option<Value>)> = kept
        .doc
        .fields
        .iter()
        .filter(|(name, state)| !unknown(name) && current.get(name) != state.value.as_ref())
        .map(|(name, state)| (name.clone(), state.value.clone()))
        .collect();
    let added = current
        .fields
        .iter()
        .filter(|(name, state)| !unknown(name) && !kept.doc.fields.contains_key(*name) && state.value.is_some());
    edits.extend(added.map(|(name, _)| (name.clone(), None)));
    edits
}
