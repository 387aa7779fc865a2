//! The sync engine.
//!
//! [`Replica`] is the state machine: it holds the decrypted records in memory, the
//! pending local edits (the outbox) and the team cursor, and turns them into push
//! requests and pull results into merged records. It does no I/O. [`Syncer`] drives
//! it against two small traits: a [`Store`] (IndexedDB in the browser, memory in
//! tests) that only ever receives ciphertext, and a [`Transport`] (HTTP) to the server.
//! Each has a file of its own here (`replica`, `store`, `transport`, `compute`: where
//! the batch work runs; `session`: the member's verified view of the team; `errors`:
//! why a sync stops; `superseded`: what a sync tells the user). This file is the
//! [`Syncer`], its edits and the sync round; its other work has files by step: `open`
//! (and re-encryption), `push`, `pull` (and restores), `judge` (what a verified version
//! may not do) and `heads` (what other members' chain heads say).
//!
//! Protocol: push a batch of `{record, base_version, sealed}`; the server commits all
//! or nothing, and answers 409 with the current envelopes of records that moved on.
//! The engine then opens those, merges field by field, and pushes again. Pull fetches
//! changes since the cursor, page by page. An edit leaves the outbox only after the
//! server acknowledged it, so nothing is lost to a crash or a lost connection.
//!
//! A version that opens but that this client refuses (a field stamped too far ahead,
//! or changed in another member's name: [`Refusal`]) is not taken; its other fields
//! are, and the next push builds on it, so one member's refused version never stops
//! the others writing.
//!
//! Every envelope binds the chain head its writer sealed on. A head this client's
//! verified chain does not have is judged by who signed it and what it could mean
//! ([`Syncer::head_verdict`]): only a sign that the team moved to keys this client
//! lacks, or an admin's word on the chain, stops the whole team's sealing
//! ([`ChainDoubt`]); any other writer's unanswered head isolates that writer
//! ([`UnknownHead`]), and everyone else goes on writing.

pub mod cache;
mod compute;
mod errors;
mod heads;
pub mod history;
mod judge;
pub mod memory;
pub mod offload;
mod open;
mod pull;
mod push;
mod replica;
pub mod seal;
mod session;
mod store;
mod superseded;
mod transport;

pub use compute::*;
pub use errors::*;
pub use replica::*;
pub use session::*;
pub use store::*;
pub use superseded::*;
pub use transport::*;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use thiserror::Error;

use crate::api::{Change, Cursor, PullResponse, PushItem, PushRequest, PushResponse};
use crate::chain::{HeadCheck, TeamState};
use crate::crypto::aead::{open_blob, seal_blob};
use crate::crypto::envelope::{
    ChainHead, Decryption, Encryption, Keyring, RecordContext, SealedEnvelope, SealedRecord, SignatureCheck,
};
use crate::crypto::identity::IdentityKeys;
use crate::crypto::CryptoError;
use crate::crypto::{Scope, SymmetricKey};
use crate::domain::{field, is_sensitive, EntityKind};
use crate::hlc::{Clock, Stamp};
use crate::ids::{CollectionId, RecordId, Username};
use crate::record::{FieldEdit, FieldState, RecordDoc, Value};
use crate::team::{has_portfolio, portfolio};
use seal::{plan_unchecked, OpenPlan, Opened, Sealer, UncheckedPlan};

/// How far re-encryption onto the newest epochs has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EpochProgress {
    /// Records on the server (pushed at least once).
    pub total: usize,
    /// Of those, sealed under an older epoch than the newest key held.
    pub old: usize,
}

/// What one sync round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub pushed: usize,
    pub conflicts_merged: usize,
    pub pulled: usize,
    pub unreadable: usize,
    /// Records uploaded again because the server had lost them (a restore).
    pub repaired: usize,
}

/// The field writes `edits` (this client's, of `record`) that `pushed` — the merged
/// version the server took — does not hold: each lost to a concurrent write. A write
/// replaced by this client's own later edit is not a loss.
fn lost_in(record: RecordId, pushed: &RecordDoc, edits: &[&FieldEdit]) -> Vec<Superseded> {
    let mut lost: Vec<Superseded> = Vec::new();
    for e in edits {
        let Some(now) = pushed.fields.get(&e.field) else { continue };
        let mine_later = edits.iter().any(|o| o.field == e.field && &o.state == now);
        if now == &e.state || mine_later || now.value == e.state.value {
            continue;
        }
        lost.retain(|l| l.field != e.field);
        lost.push(Superseded {
            record,
            field: e.field.clone(),
            mine: e.state.value.clone(),
            theirs: now.value.clone(),
            by: now.stamp.author.clone(),
            at_ms: now.stamp.hlc.wall_ms,
            former: false,
        });
    }
    lost
}

/// The records that changed most recently, newest first (at most
/// [`crate::pins::MAX_RECORD_PINS`]), after `changed` changed in that order: one pass,
/// not one search of the list per record.
fn recent_after(recent: &VecDeque<RecordId>, changed: &[RecordId]) -> VecDeque<RecordId> {
    let mut seen = HashSet::new();
    let newest = changed.iter().rev().filter(|r| seen.insert(**r)).take(crate::pins::MAX_RECORD_PINS).copied();
    let newest: Vec<RecordId> = newest.collect();
    let older = recent.iter().filter(|r| !seen.contains(*r)).copied();
    newest.into_iter().chain(older).take(crate::pins::MAX_RECORD_PINS).collect()
}

/// A batch sealed for a push, and what to record when it is accepted.
struct Prepared {
    items: Vec<PushItem>,
    meta: Vec<SealedMeta>,
}

struct SealedMeta {
    record: RecordId,
    op_ids: Vec<u64>,
    doc: RecordDoc,
    sealed: SealedRecord,
    sensitive: Option<SealedEnvelope>,
    collection: CollectionId,
}

/// Drives a [`Replica`] against a [`Store`] and a [`Transport`], its batch work done
/// by a [`Compute`] ([`InThread`] unless opened with another).
pub struct Syncer<S, T, C = InThread> {
    pub session: Session,
    pub replica: Replica,
    pub store: S,
    pub transport: T,
    pub compute: C,
    /// Records per push request.
    pub batch: usize,
    /// Records changed (pushed, pulled or re-opened) since the cache was saved.
    cache_stale: bool,
    /// Until [`Syncer::verify_stored`] has run: the records taken from the cache whose
    /// stored ciphertext is still to be read.
    unverified: Option<BTreeSet<RecordId>>,
    /// An approved `bulk_delete` request to send with pushes (see [`PushRequest`]).
    pub approval: Option<RecordId>,
    /// Set when a record shows a team history this client does not have in a way only
    /// the chain can settle (see [`Syncer::head_verdict`]); while set, no edit is
    /// sealed (re-encryption and repairs are: see [`Syncer::prepare`]). Re-checked by
    /// [`Syncer::set_session`].
    pub doubt: Option<ChainDoubt>,
    /// Writers isolated for the chain heads they signed ([`UnknownHead`]), by name: what
    /// to show, naming them and the versions refused.
    pub unknown_heads: BTreeMap<Username, UnknownHead>,
    /// Writers (not admins) who signed a longer chain than the verified one, with the
    /// head: nothing is sealed until the chain is read again ([`Syncer::set_session`]),
    /// which answers the head or isolates the writer.
    rereading: BTreeMap<Username, ChainHead>,
    /// Their versions meanwhile, by record (not taken, not stored, not built on).
    held: BTreeMap<RecordId, HeldVersion>,
    /// Versions refused although they opened (a field changed in another member's
    /// name, stamped too far ahead), by record, with what was refused and who signed
    /// it: the record stays at the version before. Kept until a later version of the
    /// record is taken from the server (this client's own edit written on top of it
    /// leaves it shown). Not durable: after a restart, the next conflict on the record
    /// finds it again.
    pub refused: BTreeMap<RecordId, Refusal>,
    /// Records whose current version on the server is one this client refused (see
    /// [`RefusedHead`]): this client's next push of the record builds on it (the
    /// server's compare-and-set), carrying the version it holds plus its own edits, so
    /// a refused version never keeps an honest writer's edits waiting. Cleared when the
    /// record takes a version ([`Syncer::took`]).
    build_on: BTreeMap<RecordId, RefusedHead>,
    /// The versions the account's devices held ([`crate::pins::RecordPin`]): the
    /// server must never serve one of these records older.
    pub record_pins: BTreeMap<RecordId, u64>,
    /// Records served older than a pin, with the version served and the one pinned.
    /// Nothing is sealed on top of them (their edits wait) until the server serves the
    /// version another device of the account saw.
    pub rolled_back: BTreeMap<RecordId, (u64, u64)>,
    /// The records this client saw change most recently, newest first: what it pins.
    recent: std::collections::VecDeque<RecordId>,
    /// Edits of this client that a concurrent edit of the same field replaced, for the
    /// caller to take (and tell the user): found when the server accepts the merged
    /// version, so every path a concurrent edit arrives by is covered.
    pub superseded: Vec<Superseded>,
    /// Records that moved, by a version whose signature this client checked, into a
    /// collection it holds no key for while edits of them waited here: their plaintext
    /// is gone, their edits are kept and not sent (see [`MovedAway`]).
    pub moved_away: BTreeMap<RecordId, MovedAway>,
    /// Newer versions of records this client holds verified that did not open (no key
    /// yet, a signature that does not hold, junk): kept out of the store, where the
    /// verified version stays, and opened again when keys arrive
    /// ([`Syncer::reopen_with_new_keys`]). Not durable: after a restart the record is at
    /// its verified version until the server sends a newer one again.
    set_aside: BTreeMap<RecordId, StoredRecord>,
    /// The newest freshness beacon of each admin that confirms this client's chain or
    /// is ahead of it ([`Syncer::read_beacons`]); judged again against the chain it
    /// holds whenever [`Syncer::freshness`] is asked.
    beacons: BTreeMap<Username, crate::beacon::Beacon>,
    /// Whether the transport serves beacons: from its first answer on, the lease holds.
    leased: bool,
    /// Whether the creation certificates of the versions being judged hold, by record
    /// and version ([`Syncer::check_creations`], one batch before a page is judged).
    creations: HashMap<(RecordId, u64), bool>,
}

const OUTBOX_CONTEXT: &[u8] = b"outbox";
const MAX_CONFLICT_ROUNDS: usize = 8;
/// A batch is sealed in this many parts side by side (see [`Syncer::prepare`]).
const SEAL_PARTS: usize = 4;
/// Records whose signatures are checked as one batch while the batch before is
/// decrypted (see `Syncer::open_many`).
const SIGNATURE_BATCH: usize = 250;

/// A pulled page taken in but not yet written: its records, whether each is new here
/// (see [`Store::save_new_records`]), and the cursor after it.
type Taken = (Vec<StoredRecord>, Vec<bool>, Cursor);
/// A pushed batch the server accepted: its records as sealed, the cursor past them (if
/// nothing else was written meanwhile), and its outbox entries.
type Pushed = (Vec<StoredRecord>, Option<Cursor>, Vec<u64>);

impl<S: Store, T: Transport> Syncer<S, T> {
    /// Load local ciphertext and open it into memory, all of it on this thread:
    /// [`Self::open_with`] [`InThread`].
    pub async fn open(session: Session, store: S, transport: T) -> Result<Self, SyncError> {
        Self::open_with(session, store, transport, InThread).await
    }

    /// [`Self::open_cached_with`] [`InThread`].
    pub async fn open_cached(session: Session, store: S, transport: T) -> Result<Self, SyncError> {
        Self::open_cached_with(session, store, transport, InThread).await
    }
}

impl<S: Store, T: Transport, C: Compute> Syncer<S, T, C> {
    /// Whether records were opened or changed since the cache was last saved.
    pub fn cache_is_stale(&self) -> bool {
        self.cache_stale
    }

    /// Save the replica cache: every record held at a server version whose every
    /// section this client could read. Call it after a sync, not after each edit.
    pub async fn save_cache(&mut self) -> Result<(), SyncError> {
        let entries: Vec<(RecordId, cache::CachedRecord)> = self
            .replica
            .records
            .iter()
            .filter(|(id, l)| l.version > 0 && l.complete && !self.replica.unreadable.contains(id))
            .filter_map(|(id, l)| {
                let cached = cache::CachedRecord {
                    collection: l.collection,
                    version: l.version,
                    base: l.base.clone(),
                    writer: l.signer.clone()?,
                    epoch: l.epoch,
                };
                Some((*id, cached))
            })
            .collect();
        // A slice of records at a time, the page drawing in between.
        let mut encoder = cache::Encoder::new(entries.iter().map(|(id, c)| (id, c)));
        while encoder.step(2_000) {
            self.compute.breathe().await;
        }
        let plain = zeroize::Zeroizing::new(encoder.finish());
        drop(entries);
        self.compute.breathe().await;
        let context = cache::context(self.session.team.team);
        self.store.seal_cache(self.session.identity.vault_key(), &context, &plain).await?;
        self.cache_stale = false;
        Ok(())
    }

    /// Make a local edit durable (outbox) and visible. Works offline.
    pub async fn edit(
        &mut self,
        record: RecordId,
        fields: Vec<(String, Option<Value>)>,
        now_ms: u64,
    ) -> Result<(), SyncError> {
        self.edit_many(vec![(record, fields)], now_ms).await
    }

    /// Where an edit puts its record, and whether this client may: a customer whose
    /// owner changes moves to the new owner's portfolio, which a member or support
    /// cannot seal into unless it is their own (or the shared collection). Admins and
    /// managers hold every key there is, so a portfolio they cannot seal into has no
    /// keys yet (a team from before portfolios): the record stays shared until then.
    fn placement(&self, record: RecordId, fields: &[(String, Option<Value>)]) -> Result<CollectionId, SyncError> {
        let (session, records) = (&self.session, &self.replica.records);
        let local = records.get(&record);
        let current = local.map(|l| l.collection);
        let text = |name: &str| match fields.iter().rev().find(|(f, _)| f == name) {
            Some((_, v)) => v.as_ref().and_then(Value::as_text),
            None => local.and_then(|l| l.view.text(name)),
        };
        let want = session.intended(records, text, current);
        let sensitive = local.is_some_and(|l| l.sensitive.is_some() || has_sensitive(&l.view))
            || fields.iter().any(|(f, _)| is_sensitive(f));
        if session.can_seal(want, current, sensitive) {
            return Ok(want);
        }
        // Where it is (or shared, for a new record) when the right place has no keys
        // yet: a portfolio in a team from before portfolios, until the next rotation.
        let fallback = current.unwrap_or(session.team.shared_collection);
        let own = want == portfolio(session.team.team, &session.me) || want == session.team.shared_collection;
        match session.team.members.get(&session.me).map(|m| m.role) {
            Some(crate::chain::Role::Admin | crate::chain::Role::Manager) => Ok(fallback),
            _ if own
                && session.keyring.latest_epoch(want).is_none()
                && session.can_seal(fallback, current, sensitive) =>
            {
                Ok(fallback)
            }
            _ if session.keyring.latest_epoch(want).is_some() => {
                Err(SyncError::NotAllowed("Your role cannot write sensitive fields here."))
            }
            _ => Err(SyncError::NotAllowed(
                "Only a manager or an admin can put a customer into someone else's portfolio.",
            )),
        }
    }

    /// Many edits in one durable write (an import): all become visible, or none. The
    /// engine places each record (see [`Syncer::placement`]); a customer that moves
    /// takes its contacts, interactions, tasks and deals along (each re-sealed in the
    /// new collection by an empty edit in the same write).
    pub async fn edit_many(&mut self, edits: Vec<RecordEdit>, now_ms: u64) -> Result<(), SyncError> {
        self.verified()?;
        let mut placed = Vec::with_capacity(edits.len());
        let mut moved: std::collections::HashMap<String, CollectionId> = std::collections::HashMap::new();
        let settings = crate::team::settings_record(self.session.team.team);
        for (record, mut fields) in edits {
            // A creation certificate is sealing's to add, never an edit's: one carried in
            // (a restored export file) would certify nothing under the edit's stamp.
            fields.retain(|(name, _)| name != crate::record::CREATED);
            if record == settings && !self.session.team.is_admin(&self.session.me) {
                return Err(SyncError::NotAllowed("Only an admin changes the team's settings."));
            }
            let collection = self.placement(record, &fields)?;
            if self.replica.records.get(&record).is_some_and(|l| l.collection != collection) {
                moved.insert(record.to_string(), collection);
            }
            placed.push((record, collection, fields));
        }
        if !moved.is_empty() {
            for (id, l) in &self.replica.records {
                let Some(&to) = l.view.text(field::CUSTOMER).and_then(|c| moved.get(c)) else { continue };
                if l.collection != to {
                    if !self.session.can_seal(to, None, l.sensitive.is_some() || has_sensitive(&l.view)) {
                        return Err(SyncError::NotAllowed("You hold no key for that portfolio."));
                    }
                    placed.push((*id, to, Vec::new()));
                }
            }
        }
        let mut stored = Vec::with_capacity(placed.len());
        let mut ids = Vec::with_capacity(placed.len());
        for (record, collection, fields) in placed {
            self.compute.breathe().await;
            let op = self.replica.edit(&self.session.me, record, collection, fields, now_ms);
            let plain = serde_json::to_vec(&op).expect("serializable");
            stored.push(StoredOp {
                id: op.id,
                blob: seal_blob(self.session.identity.vault_key(), OUTBOX_CONTEXT, &plain),
            });
            ids.push((op.id, record));
        }
        if let Err(e) = self.store.add_ops(&stored).await {
            // Not durable: undo, so the UI never shows an edit that a reload would lose.
            let undone: HashSet<u64> = ids.iter().map(|(id, _)| *id).collect();
            self.replica.outbox.retain(|p| !undone.contains(&p.id));
            for (_, record) in ids {
                self.replica.rebuild_view(record);
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Records deleted here that the server does not know deleted yet (what a push
    /// would ask the server to delete).
    pub fn pending_deletions(&self) -> Vec<RecordId> {
        let pending = |l: &&LocalRecord| l.view.is_deleted() && l.version > 0 && !l.base.is_deleted();
        self.replica.records.iter().filter(|(_, l)| pending(l)).map(|(id, _)| *id).collect()
    }

    /// Pull everything new, then push the outbox (resolving conflicts by merging).
    /// Reading first means a change of the team this client has not seen — shown by
    /// the chain head in another member's record — stops it before it seals anything.
    pub async fn sync(&mut self) -> Result<SyncReport, SyncError> {
        self.verified()?;
        let mut report = SyncReport::default();
        self.take_answered().await?;
        self.read_beacons().await;
        let pulled = self.pull(&mut report).await;
        self.take_replaced();
        pulled?;
        let pushed = self.push(&mut report).await;
        self.take_replaced();
        if !self.rolled_back.is_empty() {
            self.check_record_pins(); // a repair put a record back above its pin
        }
        pushed?;
        report.unreadable = self.replica.unreadable.len();
        Ok(report)
    }

    /// How recently an admin confirmed the verified chain, against the team's beacon
    /// lease (see [`crate::beacon`] for the rule): `None` until the transport has served
    /// beacons (one with no server behind it never does). The lease is the settings
    /// record's, as an admin signed it.
    pub fn freshness(&self) -> Option<crate::beacon::Freshness> {
        if !self.leased {
            return None;
        }
        let team = &self.session.team;
        let now_ms = (self.session.now_ms)() as i64;
        let settings = self.replica.records.get(&crate::team::settings_record(team.team));
        let lease_ms =
            crate::team::beacon_lease_ms(settings.map(|r| &*r.view), settings.and_then(|r| r.signer.as_ref()), team);
        let confirmed_ms = crate::beacon::confirmed_at(team, self.beacons.values(), now_ms);
        Some(crate::beacon::Freshness { confirmed_ms, lease_ms, now_ms })
    }

    /// Fetch the team's beacons and judge them against the verified chain
    /// ([`crate::beacon::Beacon::check`]): the newest of each admin that confirms the
    /// chain or is ahead of it is kept; one ahead (the chain moved past what this client
    /// verified) or on another history stops sealing until a read of the chain answers
    /// it, as an admin's record would. A failed fetch changes nothing: the lease runs on.
    async fn read_beacons(&mut self) {
        let Some(answer) = self.transport.beacons().await else { return };
        self.leased = true;
        let Ok(beacons) = answer else { return };
        let now_ms = (self.session.now_ms)() as i64;
        for b in beacons {
            let head = b.chain_head();
            match b.check(&self.session.team, now_ms) {
                Ok(crate::beacon::Standing::Ahead) => {
                    self.note_doubt(ChainDoubt::Behind { writer: b.admin.clone(), head });
                }
                Ok(crate::beacon::Standing::Fork) => {
                    self.note_doubt(ChainDoubt::Fork { writer: b.admin.clone(), head });
                    continue;
                }
                Ok(crate::beacon::Standing::Confirms) => {}
                Ok(crate::beacon::Standing::Older) | Err(_) => continue,
            }
            if self.beacons.get(&b.admin).is_none_or(|kept| kept.at_ms < b.at_ms || kept.len < b.len) {
                self.beacons.insert(b.admin.clone(), b);
            }
        }
    }
}

#[cfg(test)]
mod tests;
