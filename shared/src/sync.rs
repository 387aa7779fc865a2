// Long: the `Syncer`, whose open, push, pull and re-encryption share its private state; splitting it along those is a known debt (ARCHITECTURE.md).
//! The sync engine.
//!
//! [`Replica`] is the state machine: it holds the decrypted records in memory, the
//! pending local edits (the outbox) and the team cursor, and turns them into push
//! requests and pull results into merged records. It does no I/O. [`Syncer`] drives
//! it against two small traits: a [`Store`] (IndexedDB in the browser, memory in
//! tests) that only ever receives ciphertext, and a [`Transport`] (HTTP) to the server.
//! Each has a file of its own here (`replica`, `store`, `transport`, `session`: the
//! member's verified view of the team; `errors`: why a sync stops; `superseded`: what
//! a sync tells the user); this file is the [`Syncer`].
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
pub mod history;
pub mod memory;
pub mod offload;
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
    /// Load local ciphertext and open it into memory, the batch work done by `compute`:
    /// [`Self::open_cached_with`], then [`Self::verify_stored`].
    pub async fn open_with(session: Session, store: S, transport: T, compute: C) -> Result<Self, SyncError> {
        let mut syncer = Self::open_cached_with(session, store, transport, compute).await?;
        syncer.verify_stored().await?;
        Ok(syncer)
    }

    /// The first step of opening, quick at any size: the outbox, the cursor, and the
    /// records of the sealed replica cache — records this device verified and decrypted
    /// before (the cache is sealed under the vault key, which only the passphrase
    /// opens), so they can be shown at once. The stored ciphertext is not read here:
    /// [`Self::verify_stored`] must run before the engine seals, sends or takes in
    /// anything (until then [`Self::edit_many`] and [`Self::sync`] refuse).
    pub async fn open_cached_with(session: Session, store: S, transport: T, compute: C) -> Result<Self, SyncError> {
        let snap = store.load().await?;
        let mut replica = Replica { cursor: snap.cursor, ..Default::default() };
        let cached = match snap.cache.as_deref() {
            Some(blob) => {
                let context = cache::context(session.team.team);
                let plain = store.open_blob(session.identity.vault_key(), &context, blob).await.ok();
                plain.map(zeroize::Zeroizing::new).and_then(|p| cache::decode(&p).ok()).unwrap_or_default()
            }
            None => BTreeMap::new(),
        };
        // What `Replica::absorb` does for each record of an empty replica, built in bulk
        // (the cache is in record order, so each tree fills left to right). The sealed
        // sensitive section and the chain head the writer saw are in the ciphertext,
        // read by `verify_stored`.
        if let Some(newest) = cached.values().flat_map(|c| c.base.fields.values().map(|f| f.stamp.hlc)).max() {
            replica.clock.observe(newest);
        }
        let from_cache: BTreeSet<RecordId> = cached.keys().copied().collect();
        replica.dirty = from_cache.clone();
        replica.records = cached
            .into_iter()
            .map(|(id, c)| {
                let local = LocalRecord {
                    collection: c.collection,
                    version: c.version,
                    view: c.base.clone(),
                    base: c.base,
                    sensitive: None,
                    complete: true,
                    epoch: c.epoch,
                    signer: Some(c.writer),
                    head: None,
                };
                (id, local)
            })
            .collect();
        for op in &snap.outbox {
            let plain = open_blob(session.identity.vault_key(), OUTBOX_CONTEXT, &op.blob)?;
            let pending: PendingEdit =
                serde_json::from_slice(&plain).map_err(|_| CryptoError::Malformed("outbox entry"))?;
            replica.next_op = replica.next_op.max(pending.id);
            for e in &pending.edits {
                replica.clock.observe(e.state.stamp.hlc);
            }
            replica.apply_pending(&pending);
            replica.outbox.push(pending);
        }
        Ok(Self {
            session,
            replica,
            store,
            transport,
            compute,
            batch: 1000,
            cache_stale: false,
            unverified: Some(from_cache),
            approval: None,
            doubt: None,
            refused: BTreeMap::new(),
            record_pins: BTreeMap::new(),
            rolled_back: BTreeMap::new(),
            recent: Default::default(),
            superseded: Vec::new(),
            moved_away: BTreeMap::new(),
            set_aside: BTreeMap::new(),
            beacons: BTreeMap::new(),
            leased: false,
            creations: HashMap::new(),
            build_on: BTreeMap::new(),
            unknown_heads: BTreeMap::new(),
            rereading: BTreeMap::new(),
            held: BTreeMap::new(),
        })
    }

    /// Whether [`Self::verify_stored`] is still to run, and whether the cache gave
    /// anything to show before it.
    pub fn shows_cached(&self) -> bool {
        self.unverified.as_ref().is_some_and(|c| !c.is_empty())
    }

    /// The second step of opening: read the stored ciphertext. A record the cache held
    /// at the same version takes its sealed sensitive section and its writer's chain
    /// head from it (no crypto: it was verified here before); every other record is
    /// verified and opened as if pulled. A cached record no longer stored is dropped.
    pub async fn verify_stored(&mut self) -> Result<(), SyncError> {
        let Some(mut cached) = self.unverified.take() else { return Ok(()) };
        let records = match self.store.records().await {
            Ok(r) => r,
            Err(e) => {
                self.unverified = Some(cached);
                return Err(e.into());
            }
        };
        let mut reopened = 0;
        let mut heads: Vec<(Username, ChainHead)> = Vec::new();
        let mut to_open = Vec::new();
        for rec in &records {
            self.compute.breathe().await;
            if cached.remove(&rec.record) {
                let local = self.replica.records.get_mut(&rec.record).expect("absorbed from the cache");
                if local.version == rec.version {
                    if let (Ok((basic, sensitive)), Ok(info)) = (rec.sealed.envelopes(), rec.sealed.inspect()) {
                        local.sensitive = sensitive;
                        local.epoch = info.min_epoch;
                        local.head = basic.header().ok().and_then(|h| h.chain);
                        if let Some(h) = local.head {
                            heads.push((info.author, h));
                        }
                        continue;
                    }
                }
            }
            to_open.push(rec);
        }
        for batch in to_open.chunks(crate::api::MAX_PULL_LIMIT as usize) {
            let opened = self.open_many(batch).await;
            self.check_creations(
                batch.iter().zip(&opened).filter_map(|(r, o)| Some((r.record, r.version, o.as_ref().ok()?))),
            )
            .await;
            for (rec, opened) in batch.iter().zip(opened) {
                reopened += 1;
                match opened {
                    // Stored versions were judged when they came (a refused one is
                    // never stored); their stamps are checked again, and their creators
                    // (a version stored before certificates were checked).
                    Ok(opened)
                        if self.session.in_time(&opened.doc).is_ok()
                            && self.created_by_another(rec.version, &opened, rec.record).is_none() =>
                    {
                        if let Some(h) = opened.writer_head {
                            heads.push((opened.writer.clone(), h));
                        }
                        self.replica.absorb(rec.record, rec.version, opened)
                    }
                    Ok(_) | Err(_) => {
                        self.replica.unreadable.insert(rec.record);
                        // Stored by a pull only if it proved a move (see `cannot_open`):
                        // the plaintext from the cache, or of the waiting edits, goes.
                        if let Some(moved) = self.proven_move(rec) {
                            self.forget(rec.record, moved);
                        }
                    }
                }
            }
        }
        for gone in cached {
            self.replica.records.remove(&gone);
            self.replica.dirty.insert(gone);
            reopened += 1;
        }
        for (writer, head) in &heads {
            self.note_head(writer, head);
        }
        self.cache_stale |= reopened > 0;
        Ok(())
    }

    /// Verify and open `records` (nothing else changes): their signatures are checked
    /// in batches ([`Transport::verify_signatures`]: in a browser, by Web Workers), and
    /// while one batch is checked, the one before is decrypted here. What opens is
    /// signed by a member the verified chain lets seal under its epoch; whether to take
    /// it is the caller's to judge ([`Session::in_time`], [`Syncer::refuse`]).
    async fn open_many(&self, records: &[&StoredRecord]) -> Vec<Result<Opened, CryptoError>> {
        // A batch checked up to its signatures, which are then verified together.
        let check = |batch: &[&StoredRecord]| {
            let plans: Vec<Result<UncheckedPlan, CryptoError>> = batch.iter().map(|r| self.session.plan(r)).collect();
            async move {
                let checks: Vec<&SignatureCheck> = plans.iter().flatten().flat_map(UncheckedPlan::checks).collect();
                let holds = self.compute.verify_signatures(&checks).await;
                drop(checks);
                (plans, holds)
            }
        };
        let batches: Vec<&[&StoredRecord]> = records.chunks(SIGNATURE_BATCH).collect();
        let mut opened = Vec::with_capacity(records.len());
        let Some(first) = batches.first() else { return opened };
        let mut verified = Some(check(first).await);
        for i in 0..batches.len() {
            let next = async {
                match batches.get(i + 1) {
                    Some(b) => Some(check(b).await),
                    None => None,
                }
            };
            let (plans, holds) = verified.take().expect("each batch is checked before it is opened");
            let open = async {
                // Confirmed by the signatures' answers, then the batch's decryptions at
                // once (the platform's AES), then read.
                let mut answers = holds.iter().copied();
                let mut confirmed = Vec::with_capacity(plans.len());
                for plan in plans {
                    self.compute.breathe().await;
                    confirmed.push(plan.and_then(|plan| {
                        let mine: Vec<bool> = answers.by_ref().take(plan.checks().count()).collect();
                        plan.confirm(&mine)
                    }));
                }
                let decryptions: Vec<&Decryption> =
                    confirmed.iter().flatten().flat_map(OpenPlan::decryptions).collect();
                let mut decrypted = self.compute.decrypt(&decryptions).await.into_iter();
                drop(decryptions);
                let mut out = Vec::with_capacity(confirmed.len());
                for plan in confirmed {
                    self.compute.breathe().await;
                    out.push(plan.and_then(|plan| {
                        let mine = decrypted.by_ref().take(plan.decryptions().count()).collect();
                        plan.finish(mine)
                    }));
                }
                out
            };
            let (next, done) = futures::future::join(next, open).await;
            opened.extend(done);
            verified = next;
        }
        opened
    }

    fn verified(&self) -> Result<(), SyncError> {
        match &self.unverified {
            None => Ok(()),
            Some(_) => Err(SyncError::Store(StoreError("the stored records are still being read".into()))),
        }
    }

    /// How the chain head `writer` signed a version on weighs on this client, for a
    /// version whose signature holds (by someone the verified chain lets seal under
    /// its epoch: never a newer epoch than the chain's). The rule:
    ///
    /// - An admin's head the chain does not have stops every edit until the chain
    ///   answers it ([`HeadVerdict::Team`]): admins write the chain, so theirs is the
    ///   surest sign of a withheld change or of two histories; and an admin who lied
    ///   gains nothing, having the chain itself to stop the team with.
    /// - Anyone else's head cannot show a change that puts this client's sealing at
    ///   risk. Their version opened under an epoch of this chain, and an honest client
    ///   seals under its own chain's epoch: were the head genuine and longer, the
    ///   entries this client lacks would start no epoch (a removal always does), and
    ///   sealing under this chain's epoch is what that writer does too. So it is that
    ///   writer's records in doubt, never the team's: a fork at a length this chain
    ///   holds is isolated at once ([`HeadVerdict::Isolate`]); a longer chain is
    ///   re-read first ([`HeadVerdict::Reread`]: a change this client has not seen yet
    ///   is the honest case), and isolated if reading it again does not answer it, or
    ///   if the writer is isolated already.
    ///
    /// The frozen view (a removal withheld from this client) is still noticed: a
    /// record sealed under an epoch this chain does not have yet does not open, and its
    /// head stops every edit ([`Syncer::cannot_open`]) until the chain answers it.
    fn head_verdict(&self, writer: &Username, head: &ChainHead) -> HeadVerdict {
        let team = &self.session.team;
        match team.check_head(head) {
            HeadCheck::Known => HeadVerdict::Known,
            _ if team.is_admin(writer) => {
                ChainDoubt::of(team, writer, head).map_or(HeadVerdict::Known, HeadVerdict::Team)
            }
            HeadCheck::Ahead if !self.unknown_heads.contains_key(writer) => HeadVerdict::Reread,
            HeadCheck::Ahead | HeadCheck::Fork => HeadVerdict::Isolate,
        }
    }

    /// Take in a doubt that stops every edit: a fork outweighs a longer chain, which
    /// outweighs nothing.
    fn note_doubt(&mut self, doubt: ChainDoubt) {
        if !self.doubt.as_ref().is_some_and(ChainDoubt::is_fork) {
            self.doubt = Some(doubt);
        }
    }

    /// Take in the chain head of a version taken already (stored, cached): as
    /// [`Syncer::head_verdict`] says, except that nothing is held or refused.
    fn note_head(&mut self, writer: &Username, head: &ChainHead) {
        match self.head_verdict(writer, head) {
            HeadVerdict::Known => {}
            HeadVerdict::Team(doubt) => self.note_doubt(doubt),
            HeadVerdict::Reread => {
                self.rereading.entry(writer.clone()).or_insert(*head);
            }
            HeadVerdict::Isolate => {
                self.isolate(writer, *head);
            }
        }
    }

    fn note_opened(&mut self, opened: &Opened) {
        if let Some(h) = &opened.writer_head {
            self.note_head(&opened.writer, h);
        }
    }

    /// Judge the chain head of `opened`, `rec` as pulled (or the server's current
    /// version, `current`), before taking it ([`Syncer::head_verdict`]). Returns whether
    /// to go on (and judge its fields); if not, the version is held until the chain is
    /// read again, or refused as its isolated writer's.
    fn admit_head(&mut self, rec: &StoredRecord, opened: &Opened, current: bool) -> bool {
        let Some(head) = opened.writer_head else { return true };
        match self.head_verdict(&opened.writer, &head) {
            HeadVerdict::Known => true,
            HeadVerdict::Team(doubt) => {
                self.note_doubt(doubt);
                true
            }
            HeadVerdict::Reread => {
                self.rereading.entry(opened.writer.clone()).or_insert(head);
                if self.held.get(&rec.record).is_none_or(|h| h.rec.version < rec.version) {
                    let signed_ahead = self.carried(rec.version, opened, rec.record);
                    let held =
                        HeldVersion { rec: rec.clone(), writer: opened.writer.clone(), head, signed_ahead, current };
                    self.held.insert(rec.record, held);
                }
                false
            }
            HeadVerdict::Isolate => {
                let signed_ahead = self.carried(rec.version, opened, rec.record);
                self.refuse_by_head(rec.record, rec.version, signed_ahead, &opened.writer, head, current);
                false
            }
        }
    }

    /// Note `writer` as isolated for `head` ([`UnknownHead`]).
    fn isolate(&mut self, writer: &Username, head: ChainHead) -> &mut UnknownHead {
        let fork = self.session.team.check_head(&head) == HeadCheck::Fork;
        let flag = self.unknown_heads.entry(writer.clone()).or_insert_with(|| UnknownHead {
            signer: writer.clone(),
            head,
            fork,
            refused: BTreeMap::new(),
        });
        (flag.head, flag.fork) = (head, fork);
        flag
    }

    /// Refuse `version` of `record` as signed by `writer` on `head`, which the chain
    /// does not have ([`UnknownHead`]): none of it is taken, and when it is the
    /// server's current version (newer than any this client holds or builds on, or
    /// `current`) this client's next push of the record builds on it, as on any refused
    /// version ([`Syncer::refuse`]), so the writer stops no one.
    fn refuse_by_head(
        &mut self,
        record: RecordId,
        version: u64,
        signed_ahead: RecordDoc,
        writer: &Username,
        head: ChainHead,
        current: bool,
    ) {
        self.isolate(writer, head).refused.insert(record, version);
        let held = self.replica.records.get(&record).map_or(0, |l| l.version);
        let on = self.build_on.get(&record).map_or(0, |h| h.version);
        if current || version > held.max(on) {
            self.replica.unreadable.insert(record);
            if self.set_aside.get(&record).is_some_and(|a| a.version <= version) {
                self.set_aside.remove(&record);
            }
            self.build_on.insert(record, RefusedHead { version, signed_ahead });
        }
    }

    /// Work with a new session (the chain or the keys changed): the chain as read
    /// again. A doubt it answers (the change this client had not seen) is cleared; a
    /// longer head a writer who is not an admin signed that it still does not have is
    /// that writer's ([`Syncer::head_verdict`]): they are isolated and their held
    /// versions refused. Held versions whose heads it answers are taken at the next
    /// [`Syncer::sync`]; a writer isolated for a head it now has is isolated no more.
    pub fn set_session(&mut self, session: Session) {
        self.session = session;
        if let Some(ChainDoubt::Behind { writer, head } | ChainDoubt::Fork { writer, head }) = self.doubt.take() {
            if let Some(doubt) = ChainDoubt::of(&self.session.team, &writer, &head) {
                self.note_doubt(doubt);
            }
        }
        for (writer, head) in std::mem::take(&mut self.rereading) {
            if self.session.team.check_head(&head) != HeadCheck::Known {
                self.isolate(&writer, head);
            }
        }
        for (record, held) in std::mem::take(&mut self.held) {
            if self.session.team.check_head(&held.head) == HeadCheck::Known {
                self.held.insert(record, held);
            } else {
                let HeldVersion { rec, writer, head, signed_ahead, current } = held;
                self.refuse_by_head(record, rec.version, signed_ahead, &writer, head, current);
            }
        }
        let team = &self.session.team;
        self.unknown_heads.retain(|_, flag| team.check_head(&flag.head) != HeadCheck::Known);
    }

    /// Take the held versions whose chain heads the chain now answers (see
    /// [`Syncer::set_session`]): judged, taken and stored as a pull takes a version.
    async fn take_answered(&mut self) -> Result<(), SyncError> {
        let team = &self.session.team;
        let answered: Vec<RecordId> =
            self.held.iter().filter(|(_, h)| team.check_head(&h.head) == HeadCheck::Known).map(|(id, _)| *id).collect();
        if answered.is_empty() {
            return Ok(());
        }
        let held: Vec<HeldVersion> = answered.iter().filter_map(|id| self.held.remove(id)).collect();
        let opened = self.open_many(&held.iter().map(|h| &h.rec).collect::<Vec<_>>()).await;
        let judged =
            held.iter().zip(&opened).filter_map(|(h, o)| Some((h.rec.record, h.rec.version, o.as_ref().ok()?)));
        self.check_creations(judged).await;
        let mut stored = Vec::with_capacity(held.len());
        for (h, opened) in held.into_iter().zip(opened) {
            // It opened when it came; the keys that opened it are still held.
            let Ok(opened) = opened else { continue };
            if !self.admit_head(&h.rec, &opened, h.current)
                || self.refuse(h.rec.version, &opened, h.rec.record, h.current)
            {
                continue;
            }
            if h.current {
                self.replica.rebase(h.rec.record, h.rec.version, opened);
            } else {
                self.note_recent(h.rec.record);
                self.replica.absorb(h.rec.record, h.rec.version, opened);
            }
            self.took(h.rec.record);
            stored.push(h.rec);
        }
        if !stored.is_empty() {
            self.cache_stale = true;
            self.store.save_records(&stored, None).await?;
        }
        Ok(())
    }

    /// After this client gained keys (a promotion, a late wrap): open again, from the
    /// stored ciphertext, every record it could not read in full, and the versions it
    /// set aside (stored once they open). Returns how many now open further than before.
    pub async fn reopen_with_new_keys(&mut self) -> Result<usize, SyncError> {
        let want: HashSet<RecordId> = self
            .replica
            .records
            .iter()
            .filter(|(_, l)| !l.complete)
            .map(|(id, _)| *id)
            .chain(self.replica.unreadable.iter().copied())
            .collect();
        if want.is_empty() && self.set_aside.is_empty() {
            return Ok(0);
        }
        // Where a version was set aside, the stored one is held here already.
        let mut records: Vec<StoredRecord> = self.store.records().await?;
        records.retain(|r| want.contains(&r.record) && !self.set_aside.contains_key(&r.record));
        let from_store = records.len();
        records.extend(self.set_aside.values().cloned());
        let opened = self.open_many(&records.iter().collect::<Vec<_>>()).await;
        self.check_creations(
            records.iter().zip(&opened).filter_map(|(r, o)| Some((r.record, r.version, o.as_ref().ok()?))),
        )
        .await;
        let (mut n, mut verified) = (0, Vec::new());
        for (i, (rec, opened)) in records.into_iter().zip(opened).enumerate() {
            let Ok(opened) = opened else { continue };
            if i >= from_store {
                // A pulled version, opened late: judged as a pull judges one.
                self.set_aside.remove(&rec.record);
                if !self.admit_head(&rec, &opened, false) || self.refuse(rec.version, &opened, rec.record, false) {
                    continue;
                }
            } else {
                self.note_opened(&opened);
                if self.session.in_time(&opened.doc).is_err()
                    || self.created_by_another(rec.version, &opened, rec.record).is_some()
                {
                    continue;
                }
            }
            let better = opened.complete || self.replica.unreadable.contains(&rec.record);
            self.replica.absorb(rec.record, rec.version, opened);
            self.took(rec.record);
            n += usize::from(better);
            if i >= from_store {
                verified.push(rec);
            }
        }
        if !verified.is_empty() {
            self.store.save_records(&verified, None).await?;
        }
        self.cache_stale |= n > 0;
        Ok(n)
    }

    /// How many records are still sealed under an older epoch.
    pub fn epoch_progress(&self) -> EpochProgress {
        EpochProgress {
            total: self.replica.records.values().filter(|l| l.version > 0).count(),
            old: self.replica.on_old_epochs(|c| self.session.chain_epoch_held(c)).count(),
        }
    }

    /// Queue up to `limit` records sealed under an older epoch for re-encryption: the
    /// next push seals each again, unchanged, under the newest epoch. Nothing is
    /// written for it locally: after a reload the records still on old epochs are
    /// simply queued again. Needs every key of the old epochs (an admin's client);
    /// records already pending are skipped.
    pub fn queue_reencryption(&mut self, limit: usize) -> usize {
        let pending: HashSet<RecordId> = self.replica.outbox.iter().map(|p| p.record).collect();
        let picked: Vec<RecordId> = self
            .replica
            .on_old_epochs(|c| self.session.chain_epoch_held(c))
            .filter(|id| !pending.contains(id) && !self.replica.reseal.contains(id))
            .take(limit)
            .collect();
        let n = picked.len();
        self.replica.reseal.extend(picked);
        n
    }

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

    /// Seal the next batch of the outbox (records not in `skip`), or `None` when empty.
    ///
    /// While a doubt stands ([`Syncer::doubt`], or a head waiting for the chain to be
    /// read again) no edit is sealed, and the doubt is the answer. Re-encryption and
    /// repairs (putting back what a restored server lost) still are: they carry no new
    /// edit, and seal under the verified chain's epoch like everything else, so a doubt
    /// never stops an admin moving the team's records off a removed member's keys.
    async fn prepare(&self, skip: &HashSet<RecordId>) -> Result<Option<Prepared>, SyncError> {
        let doubt = self.doubt.clone().or_else(|| {
            let (writer, head) = self.rereading.iter().next()?;
            Some(ChainDoubt::Behind { writer: writer.clone(), head: *head })
        });
        // Past the beacon lease, edits wait too (a removal may be withheld from this
        // client); re-encryption and repairs still go out, as under a doubt.
        let lapsed = self.freshness().filter(crate::beacon::Freshness::lapsed);
        let edited: HashSet<RecordId> = match doubt.is_some() || lapsed.is_some() {
            true => self.replica.outbox.iter().filter(|p| !p.repair).map(|p| p.record).collect(),
            false => HashSet::new(),
        };
        // A record served older than the account saw is not built on, one that moved
        // where this client holds no key cannot be sealed, and one whose newest version
        // waits for the chain to be read again is not written over: their edits wait.
        // A repair is sealed above the pins (see `PendingEdit::above`): a record served
        // older because the server was restored goes back up with it.
        let repairing: HashSet<RecordId> = match self.rolled_back.is_empty() {
            true => HashSet::new(),
            false => self.replica.outbox.iter().filter(|p| p.repair).map(|p| p.record).collect(),
        };
        let rolled_back = self.rolled_back.keys().filter(|id| !repairing.contains(id));
        let waiting = rolled_back.chain(self.moved_away.keys()).chain(self.held.keys()).chain(&edited);
        let skip: std::borrow::Cow<'_, HashSet<RecordId>> = match waiting.clone().next() {
            None => std::borrow::Cow::Borrowed(skip),
            Some(_) => std::borrow::Cow::Owned(skip.iter().chain(waiting).copied().collect()),
        };
        let chunk = self.replica.outgoing(self.batch, &skip, || self.compute.breathe()).await;
        if chunk.is_empty() {
            // A head waiting for the chain is told even with nothing to send: it is what
            // asks the caller to read the chain again.
            return match (doubt, lapsed) {
                (Some(d), _) if !edited.is_empty() || !self.rereading.is_empty() => Err(SyncError::ChainDoubt(d)),
                (_, Some(f)) if !edited.is_empty() => Err(SyncError::Unconfirmed { hours: f.hours() }),
                _ => Ok(None),
            };
        }
        // In parts, sealed side by side: while one part's signatures are made (in
        // workers, where there are), the page encrypts the next part's sections.
        let mut parts: Vec<Vec<(RecordId, Outgoing)>> = Vec::new();
        let per_part = chunk.len().div_ceil(SEAL_PARTS).max(1);
        for (i, entry) in chunk.into_iter().enumerate() {
            if i % per_part == 0 {
                parts.push(Vec::with_capacity(per_part));
            }
            parts.last_mut().expect("pushed").push(entry);
        }
        let sealed = futures::future::join_all(parts.into_iter().map(|part| self.seal_part(part))).await;
        let mut begun = Vec::new();
        for part in sealed {
            begun.extend(part?);
        }
        let mut items = Vec::with_capacity(begun.len());
        let mut meta = Vec::with_capacity(begun.len());
        // A push's body stays well under the server's limit whatever its records weigh
        // (base64 on the wire): what does not fit is sealed again for the next batch.
        let mut body = 0;
        for (sealing, mut m, base_version) in begun {
            let (sealed, sensitive) = sealing.finish();
            body += sealed.0.len() / 3 * 4 + 200;
            if body > crate::api::MAX_BODY_BYTES / 2 && !items.is_empty() {
                break;
            }
            let tombstone = m.doc.is_deleted();
            items.push(PushItem { record: m.record, base_version, sealed: sealed.clone(), tombstone });
            m.sealed = sealed;
            m.sensitive = sensitive;
            meta.push(m);
        }
        Ok(Some(Prepared { items, meta }))
    }

    /// Seal and sign one part of a batch (see [`Syncer::prepare`]): each record with the
    /// version it was sealed on top of.
    async fn seal_part(
        &self,
        part: Vec<(RecordId, Outgoing)>,
    ) -> Result<Vec<(seal::Sealing, SealedMeta, u64)>, SyncError> {
        let mut begun = Vec::with_capacity(part.len());
        let mut docs = Vec::with_capacity(part.len());
        for (record, Outgoing { op_ids, mut doc, repair, above }) in part {
            self.compute.breathe().await;
            let local = &self.replica.records[&record];
            // On the server's current version, even one refused here: its content is
            // the version held here plus this client's edits.
            let base = self.build_on.get(&record).map_or(local.version, |h| h.version);
            // A repair goes above every version a device of the account saw.
            let version = (base + 1).max(above + 1);
            if repair {
                // Signed as a put-back of this very version, stamped just after the
                // newest field it carries (never in the future).
                let after = doc.max_stamp().map(|s| s.hlc).unwrap_or_default();
                let hlc = crate::hlc::Hlc { wall_ms: after.wall_ms, counter: after.counter.saturating_add(1) };
                let value = Some(Value::Int(i64::try_from(version).unwrap_or(i64::MAX)));
                doc.apply(
                    crate::record::REPAIRED,
                    FieldState { value, stamp: Stamp { hlc, author: self.session.me.clone() } },
                );
            }
            if let Some(replaced) = self.replica.replacing.get(&record) {
                // This client's edits that won over concurrent writes: named, so their
                // authors are told (see `crate::record::REPLACED`).
                let me = &self.session.me;
                let won: Vec<(&str, &Stamp)> = replaced
                    .iter()
                    .filter(|(f, s)| doc.fields.get(*f).is_some_and(|d| &d.stamp.author == me && d.stamp > **s))
                    .map(|(f, s)| (f.as_str(), s))
                    .collect();
                if !won.is_empty() {
                    let after = doc.max_stamp().map(|s| s.hlc).unwrap_or_default();
                    let hlc = crate::hlc::Hlc { wall_ms: after.wall_ms, counter: after.counter.saturating_add(1) };
                    let value = Some(crate::record::replaced_mark(version, won));
                    doc.apply(crate::record::REPLACED, FieldState { value, stamp: Stamp { hlc, author: me.clone() } });
                }
            }
            docs.push((record, op_ids, doc, base, version));
        }
        // The records this client's user created carry their certificate (see
        // `crate::record::CREATED`), signed in one batch before the records are sealed.
        let (team, me) = (&self.session.team.team, &self.session.me);
        let statements: Vec<(usize, Vec<u8>)> = (docs.iter().enumerate())
            .filter_map(|(i, (record, _, doc, ..))| {
                crate::record::creation_to_sign(doc, team, record, me).map(|m| (i, m))
            })
            .collect();
        if !statements.is_empty() {
            let messages: Vec<&[u8]> = statements.iter().map(|(_, m)| m.as_slice()).collect();
            let signatures = self.compute.sign(&self.session.identity, &messages).await;
            if signatures.len() != messages.len() {
                return Err(SyncError::Crypto(CryptoError::Malformed("a batch signed in part")));
            }
            for ((i, _), signature) in statements.iter().zip(&signatures) {
                crate::record::certify(&mut docs[*i].2, signature);
            }
        }
        for (record, op_ids, doc, base, version) in docs {
            let local = &self.replica.records[&record];
            // Placed again on the merged document: an owner changed elsewhere
            // meanwhile decides, not the collection this edit was made in.
            let collection = self.session.place(&self.replica.records, local, &doc);
            let sealing = self
                .session
                .sealer()
                .begin(&self.session.ctx(record), collection, version, &doc, local.sensitive.as_ref())
                .map_err(|e| match e {
                    CryptoError::NoKey
                        if self.session.keyring.get(collection, self.session.team.epoch, Scope::Basic).is_none() =>
                    {
                        SyncError::AwaitingKeys(self.session.team.epoch)
                    }
                    e => SyncError::Crypto(e),
                })?;
            begun.push((
                sealing,
                SealedMeta { record, op_ids, doc, sealed: SealedRecord(Vec::new()), sensitive: None, collection },
                base,
            ));
        }
        // The batch's encryptions and signatures in (at most) two rounds of each: the
        // sensitive sections', then the basic ones', which bind the sensitive
        // sections' digests.
        loop {
            let encrypting: Vec<(usize, &Encryption)> =
                begun.iter().enumerate().filter_map(|(i, (s, ..))| s.to_encrypt().map(|e| (i, e))).collect();
            if !encrypting.is_empty() {
                let encryptions: Vec<&Encryption> = encrypting.iter().map(|(_, e)| *e).collect();
                let ciphertexts = self.compute.encrypt(&encryptions).await;
                if ciphertexts.len() != encryptions.len() {
                    return Err(SyncError::Crypto(CryptoError::Malformed("a batch encrypted in part")));
                }
                let at: Vec<usize> = encrypting.into_iter().map(|(i, _)| i).collect();
                for (i, ciphertext) in at.into_iter().zip(ciphertexts) {
                    begun[i].0.encrypted(ciphertext)?;
                }
            }
            let waiting: Vec<(usize, &[u8])> =
                begun.iter().enumerate().filter_map(|(i, (s, ..))| s.to_sign().map(|m| (i, m))).collect();
            if waiting.is_empty() {
                break;
            }
            let messages: Vec<&[u8]> = waiting.iter().map(|(_, m)| *m).collect();
            let signatures = self.compute.sign(&self.session.identity, &messages).await;
            if signatures.len() != messages.len() {
                return Err(SyncError::Crypto(CryptoError::Malformed("a batch signed in part")));
            }
            let at: Vec<usize> = waiting.into_iter().map(|(i, _)| i).collect();
            for (i, signature) in at.into_iter().zip(signatures) {
                // Signing a sensitive section lays out the basic one (its AAD binds the
                // sensitive section's digest): the page gets its turns.
                self.compute.breathe().await;
                begun[i].0.sign(signature);
            }
        }
        Ok(begun)
    }

    async fn push(&mut self, report: &mut SyncReport) -> Result<(), SyncError> {
        let mut rounds = 0;
        let mut prepared = self.prepare(&HashSet::new()).await?;
        // What the batch before was accepted as, still to be stored.
        let mut unsaved: Option<Pushed> = None;
        while let Some(Prepared { items, meta }) = prepared.take() {
            // While this batch is on the wire (and the server commits it), seal the
            // next, and store what the one before it was accepted as: the page's, the
            // server's and the browser's storage work overlap instead of taking turns.
            let req = PushRequest { items, approval: self.approval };
            let sent: HashSet<RecordId> = meta.iter().map(|m| m.record).collect();
            let previous = unsaved.take();
            let (outcome, next, saved) = futures::future::join3(
                self.transport.push(&req),
                self.prepare(&sent),
                self.save_pushed(previous.as_ref()),
            )
            .await;
            saved?;
            match outcome? {
                PushOutcome::Accepted(resp) => {
                    let versions: std::collections::HashMap<_, _> =
                        resp.accepted.iter().map(|a| (a.record, a.version)).collect();
                    let lost = self.lost_to_others(&meta);
                    self.superseded.extend(lost);
                    if let Some(m) = meta.iter().find(|m| !versions.contains_key(&m.record)) {
                        return Err(TransportError::Protocol(format!("push response lacks record {}", m.record)).into());
                    }
                    let mut stored = Vec::with_capacity(meta.len());
                    let mut done_ops = Vec::new();
                    let mut recent = Vec::with_capacity(meta.len());
                    for m in meta {
                        self.compute.breathe().await;
                        let version = versions[&m.record];
                        let local = self.replica.records.get_mut(&m.record).expect("pushed from here");
                        local.epoch = m.sealed.inspect().map(|i| i.min_epoch).unwrap_or(local.epoch);
                        local.version = version;
                        local.collection = m.collection;
                        local.signer = Some(self.session.me.clone());
                        local.head = Some(self.session.team.chain_head());
                        local.base = Arc::new(m.doc);
                        // What sealing added (a put-back's mark) shows too.
                        Arc::make_mut(&mut local.view).merge(&local.base);
                        local.sensitive = m.sensitive;
                        self.replica.reseal.remove(&m.record);
                        self.replica.replacing.remove(&m.record);
                        self.took(m.record);
                        recent.push(m.record);
                        stored.push(StoredRecord { record: m.record, version, sealed: m.sealed });
                        done_ops.extend(m.op_ids);
                    }
                    self.note_recent_many(&recent);
                    // Our own writes would come back in the next pull (to be skipped
                    // there): when nothing else was written meanwhile, move past them.
                    let past_own = resp.cursor_after(self.replica.cursor);
                    if let Some(c) = past_own {
                        self.replica.cursor = c;
                    }
                    let done: HashSet<u64> = done_ops.iter().copied().collect();
                    self.replica.outbox.retain(|p| !done.contains(&p.id));
                    report.pushed += stored.len();
                    self.cache_stale = true;
                    unsaved = Some((stored, past_own, done_ops));
                    // The next batch was sealed on versions this push did not touch.
                    prepared = match next {
                        Ok(next) => next,
                        Err(e) => {
                            self.save_pushed(unsaved.as_ref()).await?;
                            return Err(e);
                        }
                    };
                }
                PushOutcome::Conflict(changes) => {
                    rounds += 1;
                    if rounds > MAX_CONFLICT_ROUNDS {
                        return Err(SyncError::ConflictStorm);
                    }
                    report.conflicts_merged += changes.len();
                    self.absorb_conflicts(&changes).await?;
                    // Merging may have changed what is pending: seal afresh.
                    prepared = self.prepare(&HashSet::new()).await?;
                }
            }
        }
        self.save_pushed(unsaved.as_ref()).await?;
        Ok(())
    }

    /// Store what a push was accepted as (its records, and the cursor past them), then
    /// drop its outbox entries. Records first: a crash in between re-pushes the same
    /// field values, which merge to the same record.
    async fn save_pushed(&self, pushed: Option<&Pushed>) -> Result<(), StoreError> {
        let Some((records, cursor, ops)) = pushed else { return Ok(()) };
        self.store.save_records(records, *cursor).await?;
        self.store.remove_ops(ops).await
    }

    /// The changes not yet held here, as records to store, each with whether this
    /// engine never stored its record before (see [`Store::save_new_records`]).
    fn unseen<'c>(&self, changes: &'c [Change]) -> Vec<(&'c Change, StoredRecord, bool)> {
        // Our own accepted pushes come back in the next pull: that exact version is
        // already merged here and stored (a push saves what it sealed), so skip the
        // signature check, the decryption and the second write.
        changes
            .iter()
            .filter_map(|c| {
                let held = self.replica.records.get(&c.record);
                // A record held only as a local edit (version 0) has no stored server state.
                let first = held.is_none_or(|l| l.version == 0);
                held.is_none_or(|l| l.version < c.version).then(|| {
                    (c, StoredRecord { record: c.record, version: c.version, sealed: c.sealed.clone() }, first)
                })
            })
            .collect()
    }

    /// Take in what [`Syncer::unseen`] chose, opened: the records to store, and for
    /// each whether it is new here.
    async fn take_opened(
        &mut self,
        unseen: Vec<(&Change, StoredRecord, bool)>,
        opened: Vec<Result<Opened, CryptoError>>,
    ) -> Result<(Vec<StoredRecord>, Vec<bool>), SyncError> {
        let judged =
            unseen.iter().zip(&opened).filter_map(|((c, ..), o)| Some((c.record, c.version, o.as_ref().ok()?)));
        self.check_creations(judged).await;
        let mut stored = Vec::with_capacity(unseen.len());
        let mut fresh = Vec::with_capacity(unseen.len());
        for ((c, rec, first), opened) in unseen.into_iter().zip(opened) {
            self.compute.breathe().await;
            match opened {
                Ok(opened) => {
                    if !self.admit_head(&rec, &opened, false) || self.refuse(c.version, &opened, c.record, false) {
                        continue; // the version taken before stays what is stored
                    }
                    self.note_recent(c.record);
                    self.note_former(c.record, &opened);
                    self.replica.absorb(c.record, c.version, opened);
                    self.took(c.record);
                }
                Err(_) => {
                    if !self.cannot_open(c) {
                        continue; // the verified version stays what is stored
                    }
                }
            }
            stored.push(rec);
            fresh.push(first);
        }
        Ok((stored, fresh))
    }

    /// What of an accepted batch's own writes lost to concurrent ones (see
    /// [`lost_in`]): the batch's outbox entries are found in one pass over the outbox.
    fn lost_to_others(&self, batch: &[SealedMeta]) -> Vec<Superseded> {
        let ops: HashSet<u64> = batch.iter().flat_map(|m| m.op_ids.iter().copied()).collect();
        // Each record's edits in outbox order, gathered in one pass (not one pass over
        // the batch's edits per record: a million comparisons per 1,000-record push).
        let mut mine: HashMap<RecordId, Vec<&FieldEdit>> = HashMap::new();
        for p in self.replica.outbox.iter().filter(|p| !p.repair && ops.contains(&p.id)) {
            mine.entry(p.record).or_default().extend(&p.edits);
        }
        let mut lost = Vec::new();
        for m in batch {
            if let Some(edits) = mine.get(&m.record) {
                lost.extend(lost_in(m.record, &m.doc, edits));
            }
        }
        lost
    }

    /// The writes of this client's user that versions taken in name as replaced by a
    /// colleague's concurrent edit ([`crate::record::REPLACED`]), to tell them.
    fn take_replaced(&mut self) {
        let me = &self.session.me;
        for (author, note) in std::mem::take(&mut self.replica.replaced) {
            if &author == me && &note.by != me && !self.superseded.contains(&note) {
                self.superseded.push(note);
            }
        }
    }

    /// [`Syncer::note_recent`] for many records, in the order they changed.
    fn note_recent_many(&mut self, records: &[RecordId]) {
        self.recent = recent_after(&self.recent, records);
    }

    fn note_recent(&mut self, record: RecordId) {
        if let Some(i) = self.recent.iter().position(|r| *r == record) {
            self.recent.remove(i);
        }
        self.recent.push_front(record);
        self.recent.truncate(crate::pins::MAX_RECORD_PINS);
    }

    /// The versions to pin for the account: the records this client saw change most
    /// recently, newest first, at the version it holds.
    pub fn recent_versions(&self) -> Vec<crate::pins::RecordPin> {
        self.recent
            .iter()
            .filter_map(|r| self.replica.records.get(r).filter(|l| l.version > 0).map(|l| (r, l.version)))
            .map(|(&record, version)| crate::pins::RecordPin { record, version })
            .collect()
    }

    /// Take the account's record pins, and check what this client holds against them.
    pub fn set_record_pins(&mut self, pins: &[crate::pins::RecordPin]) {
        for p in pins {
            let v = self.record_pins.entry(p.record).or_default();
            *v = (*v).max(p.version);
        }
        self.check_record_pins();
    }

    /// Which records this client holds older than a pin says the account saw. (A
    /// record the server does not send at all is withheld, not rolled back: a server
    /// can always deny service.)
    fn check_record_pins(&mut self) {
        self.rolled_back = self
            .record_pins
            .iter()
            .filter_map(|(id, &pinned)| {
                let held = self.replica.records.get(id).map_or(0, |l| l.version);
                (held > 0 && held < pinned).then_some((*id, (held, pinned)))
            })
            .collect();
    }

    /// What this client refuses in `opened`, a version of `record` whose signature
    /// holds (by a member the verified chain lets seal under its epoch), if anything:
    /// fields stamped out of time ([`Session::untimely`]), or changed in someone else's
    /// name ([`Opened::misattributed`]). The names are checked where this client knows
    /// what the version changed: it holds the version just before (or the refused
    /// version just before, then with the fields that one signed ahead), or this is the
    /// record's first version. (A device that skipped versions cannot tell which of
    /// them changed a field.)
    fn refusal(&self, version: u64, opened: &Opened, record: RecordId) -> Option<Judgement> {
        let team = &self.session.team;
        let whole = |reason| {
            let all: BTreeSet<String> = opened.doc.fields.keys().cloned().collect();
            let signer = opened.writer.clone();
            let refusal = Refusal { version, signer: signer.clone(), field: String::new(), named: signer, reason };
            Some(Judgement { refusal, untimely: BTreeSet::new(), in_anothers_name: all, checked: true })
        };
        if record == crate::team::settings_record(team.team) && !team.is_admin(&opened.writer) {
            // Only admins set the team's settings: a version anyone else signed is
            // refused whole, and the record stays at the last one an admin signed.
            return whole(RefusalReason::NotAnAdmin);
        }
        if self.written_after_leaving(version, opened, record) {
            return whole(RefusalReason::AfterLeaving);
        }
        if let Some(named) = self.created_by_another(version, opened, record) {
            let all: BTreeSet<String> = opened.doc.fields.keys().cloned().collect();
            let (signer, field) = (opened.writer.clone(), field::KIND.to_owned());
            let refusal = Refusal { version, signer, field, named, reason: RefusalReason::CreatedInAnothersName };
            return Some(Judgement { refusal, untimely: BTreeSet::new(), in_anothers_name: all, checked: true });
        }
        let untimely: BTreeSet<String> = self.session.untimely(&opened.doc).map(|(f, ..)| f.to_owned()).collect();
        let prev = self.before(record, version);
        let named: Vec<(String, Username)> = prev
            .as_ref()
            .map(|prev| opened.misattributed_fields(prev, version, self.restored()).collect())
            .unwrap_or_default();
        let in_anothers_name: BTreeSet<String> = named.iter().map(|(f, _)| f.clone()).collect();
        let first_named = named.into_iter().next().map(|(f, n)| (f, n, RefusalReason::InAnothersName));
        let first_untimely = if untimely.is_empty() { None } else { self.session.in_time(&opened.doc).err() };
        let older = prev.is_some() && self.older_sensitive(version, opened, record);
        let mut in_anothers_name = in_anothers_name;
        let first_older = older.then(|| {
            // Its sensitive fields are not taken: the record keeps the section held here.
            in_anothers_name.extend(opened.doc.fields.keys().filter(|f| is_sensitive(f)).cloned());
            (String::new(), opened.writer.clone(), RefusalReason::OlderSensitive)
        });
        let (field, named, reason) = first_untimely.or(first_older).or(first_named)?;
        let refusal = Refusal { version, signer: opened.writer.clone(), field, named, reason };
        Some(Judgement { refusal, untimely, in_anothers_name, checked: prev.is_some() })
    }

    /// Whether `opened`, `version` of `record`, carries a sensitive section (not sealed
    /// as this version: its header names an earlier one) that rolls back the one held
    /// here: a different section sealed no later than the held one (or than the held
    /// version, when it has none). A member without the sensitive key can only carry
    /// the section forward as it holds it; an honest client holds the newest it took.
    fn older_sensitive(&self, version: u64, opened: &Opened, record: RecordId) -> bool {
        let Some(carried) = opened.sensitive.as_ref() else { return false };
        let Some(local) = self.replica.records.get(&record).filter(|l| l.version > 0) else { return false };
        let sealed_at = |s: &crate::crypto::envelope::SealedEnvelope| s.header().ok().map(|h| h.record_version);
        let Some(at) = sealed_at(carried).filter(|&at| at < version) else { return false };
        if local.sensitive.as_ref() == Some(carried) {
            return false;
        }
        let held_at = local.sensitive.as_ref().map_or(Some(local.version), sealed_at);
        held_at.is_none_or(|held| at <= held)
    }

    /// What naming the creator of `record` takes once `opened` (a version of it) is
    /// taken ([`crate::record::creation_check`]): judged on the `kind` and certificate
    /// the record is left with (the version's merged with those held here), for the
    /// version's signer, who is then the signer held.
    fn creation_of(&self, record: RecordId, opened: &Opened) -> crate::record::CreationCheck {
        let held = self.replica.records.get(&record).map(|l| &*l.base);
        let mut doc = RecordDoc::new();
        for name in [field::KIND, crate::record::CREATED] {
            for state in held.and_then(|h| h.fields.get(name)).into_iter().chain(opened.doc.fields.get(name)) {
                doc.apply(name, state.clone());
            }
        }
        let team = &self.session.team;
        crate::record::creation_check(&doc, &team.team, &record, &opened.writer, &team.ever)
    }

    /// Check, in one batch ([`Transport::verify_signatures`]: in a browser, in Web
    /// Workers), the creation certificates of `versions` about to be judged, where the
    /// `kind`'s author did not sign the version ([`Syncer::creation_of`]); nothing is
    /// checked for the others. [`Syncer::refusal`] reads the answers.
    async fn check_creations<'o>(&mut self, versions: impl Iterator<Item = (RecordId, u64, &'o Opened)>) {
        self.creations.clear();
        let mut checks = Vec::new();
        for (record, version, opened) in versions {
            match self.creation_of(record, opened) {
                crate::record::CreationCheck::Signed => {}
                crate::record::CreationCheck::Forged => {
                    self.creations.insert((record, version), false);
                }
                crate::record::CreationCheck::Verify(check) => checks.push(((record, version), check)),
            }
        }
        if checks.is_empty() {
            return;
        }
        let batch: Vec<&SignatureCheck> = checks.iter().map(|(_, c)| c).collect();
        let holds = self.compute.verify_signatures(&batch).await;
        drop(batch);
        for (i, (at, check)) in checks.into_iter().enumerate() {
            // Only a `true` is taken on the verifier's word.
            let held = holds.get(i).copied().unwrap_or(false) || check.holds();
            self.creations.insert(at, held);
        }
    }

    /// Who `opened`, `version` of `record`, names as the record's creator without their
    /// signature: the `kind`'s author, when they did not sign it and the certificate
    /// carried for them does not hold ([`Syncer::check_creations`]; verified here if
    /// that batch did not cover it). A version that carries no certificate names no one
    /// falsely: its creator is shown as its signer ([`crate::record::creator`]).
    fn created_by_another(&self, version: u64, opened: &Opened, record: RecordId) -> Option<Username> {
        let holds = match self.creations.get(&(record, version)) {
            Some(held) => *held,
            None => match self.creation_of(record, opened) {
                crate::record::CreationCheck::Signed => true,
                crate::record::CreationCheck::Forged => false,
                crate::record::CreationCheck::Verify(check) => check.holds(),
            },
        };
        let kind = opened
            .doc
            .fields
            .get(field::KIND)
            .or_else(|| self.replica.records.get(&record).and_then(|l| l.base.fields.get(field::KIND)));
        (!holds).then(|| kind.map_or_else(|| opened.writer.clone(), |k| k.stamp.author.clone()))
    }

    /// Whether `opened`, `version` of `record`, was provably written after its signer
    /// left the team: signed on a chain head that already held their removal, or on
    /// top of the version held here when that one was sealed on such a head. (Signed
    /// on an older head with nothing to prove otherwise, it is taken and flagged:
    /// [`Syncer::note_former`].)
    fn written_after_leaving(&self, version: u64, opened: &Opened, record: RecordId) -> bool {
        let Some(&left) = self.session.team.left_len.get(&opened.writer) else { return false };
        let base = self.replica.records.get(&record).filter(|l| l.version > 0 && l.version + 1 == version);
        opened.writer_head.iter().chain(base.and_then(|l| l.head.as_ref())).any(|h| h.len >= left)
    }

    /// A version about to be taken that a member since removed signed (before the
    /// removal reached them, or nothing here can tell): each field it changes is kept
    /// as a note ([`Superseded::former`]) with the value before, so any colleague can
    /// put it back.
    fn note_former(&mut self, record: RecordId, opened: &Opened) {
        if !self.session.team.left_len.contains_key(&opened.writer) {
            return;
        }
        let marks = [crate::record::REPAIRED, crate::record::REPLACED];
        let held = self.replica.records.get(&record).map(|l| l.base.clone()).unwrap_or_default();
        for (field, now) in opened.doc.fields.iter().filter(|(f, _)| !marks.contains(&f.as_str())) {
            let before = held.fields.get(field);
            if before.is_some_and(|b| !now.beats(b) || b.value == now.value) || now.stamp.author != opened.writer {
                continue;
            }
            let note = Superseded {
                record,
                field: field.clone(),
                mine: before.and_then(|b| b.value.clone()),
                theirs: now.value.clone(),
                by: opened.writer.clone(),
                at_ms: now.stamp.hlc.wall_ms,
                former: true,
            };
            self.superseded.retain(|o| !(o.former && o.record == record && o.field == note.field));
            self.superseded.push(note);
        }
    }

    /// The version before `version` of `record` as this client knows it, if it does:
    /// the one it holds, or the refused one it builds on (with the fields that one
    /// signed ahead), or nothing before a first version.
    fn before(&self, record: RecordId, version: u64) -> Option<std::borrow::Cow<'_, RecordDoc>> {
        use std::borrow::Cow;
        match (self.replica.records.get(&record), self.build_on.get(&record)) {
            (Some(l), _) if l.version > 0 && l.version + 1 == version => Some(Cow::Borrowed(&*l.base)),
            (Some(l), Some(head)) if l.version > 0 && head.version + 1 == version => {
                let mut doc = (*l.base).clone();
                doc.merge(&head.signed_ahead);
                Some(Cow::Owned(doc))
            }
            (None, _) if version == 1 => Some(Cow::Owned(RecordDoc::new())),
            _ => None,
        }
    }

    /// The fields of `opened`, `version` of `record`, that the version after it may
    /// carry on unchanged if it is refused as a whole (its chain head): every field
    /// but those it changed in someone else's name ([`Opened::misattributed_fields`]);
    /// where this client cannot tell what it changed, only those it signed itself.
    fn carried(&self, version: u64, opened: &Opened, record: RecordId) -> RecordDoc {
        let prev = self.before(record, version);
        let forged: BTreeSet<String> = prev
            .as_ref()
            .map(|p| opened.misattributed_fields(p, version, self.restored()).map(|(f, _)| f).collect())
            .unwrap_or_default();
        let mut doc = RecordDoc::new();
        for (name, state) in &opened.doc.fields {
            if !forged.contains(name) && (prev.is_some() || opened.signed_by(name, &state.stamp.author)) {
                doc.fields.insert(name.clone(), state.clone());
            }
        }
        doc
    }

    /// Whether to refuse `opened` as `version` of `record` (see [`Syncer::refusal`]).
    /// A refused version is not taken as a version and not stored: the record stays
    /// at the version this client took before (stored, and what its misattribution
    /// checks compare with), and the refusal is kept for the user to see, naming its
    /// signer. Its other fields — what a version without the refused ones would have
    /// brought, such as a colleague's edit it carries that this client never saw — are
    /// merged into that version here ([`Replica::take_in_part`]). It does not stop this
    /// client writing: when it is the server's current version — newer than the one
    /// held here, or the server says so (`current`: a conflict's answer, a restored
    /// server) — the next push of the record builds on it ([`Syncer::build_on`]),
    /// without the refused fields. A refused version no newer than the one held or
    /// the refused one built on, replayed in a pull, changes nothing.
    fn refuse(&mut self, version: u64, opened: &Opened, record: RecordId, current: bool) -> bool {
        let Some(Judgement { refusal, untimely, in_anothers_name, checked }) = self.refusal(version, opened, record)
        else {
            // The record moves on past a refused version.
            self.refused.remove(&record);
            return false;
        };
        // Pulled, it is the server's current version only if newer than any it gave.
        let held = self.replica.records.get(&record).map_or(0, |l| l.version);
        let head = self.build_on.get(&record).map_or(0, |h| h.version);
        if current || version > held.max(head) {
            self.replica.unreadable.insert(record);
            // A version set aside that this one follows is not the server's any more.
            if self.set_aside.get(&record).is_some_and(|a| a.version <= version) {
                self.set_aside.remove(&record);
            }
            let (mut rest, mut signed_ahead) = (RecordDoc::new(), RecordDoc::new());
            // The record's `kind` and creation certificate stay as taken: what names its
            // creator comes with the version its signer is held for.
            let creation = [field::KIND, crate::record::CREATED];
            for (name, state) in opened.doc.fields.iter().filter(|(name, _)| !in_anothers_name.contains(*name)) {
                if !untimely.contains(name) && !creation.contains(&name.as_str()) {
                    rest.fields.insert(name.clone(), state.clone());
                } else if checked || opened.signed_by(name, &state.stamp.author) {
                    // Unchanged from what came before, or its signer's own.
                    signed_ahead.fields.insert(name.clone(), state.clone());
                }
            }
            if self.replica.take_in_part(record, &rest) {
                self.cache_stale = true;
            }
            self.build_on.insert(record, RefusedHead { version, signed_ahead });
            self.refused.insert(record, refusal);
        }
        true
    }

    /// A change this client cannot open (no key, a signature that does not hold, junk).
    /// Nothing verified and nothing unsent goes because of it: the record keeps the
    /// version this client verified, stored and shown, with its waiting edits, and the
    /// change is set aside, to be tried again with new keys. Only a move its signature
    /// proves ([`Syncer::proven_move`]) takes the record's plaintext away. Returns
    /// whether to store the change: when it proves a move, or when no verified version
    /// is held here for it to shadow (a later key, or a fixed chain, may open it).
    fn cannot_open(&mut self, c: &Change) -> bool {
        self.replica.unreadable.insert(c.record);
        // A record sealed on a longer chain than ours under an epoch we do not know
        // yet is a change withheld from us (or not yet seen): the team moved to keys we
        // lack, so nothing is sealed until the chain answers it (whoever the writer:
        // see `head_verdict`). Its header is not verified (we cannot open it), so it
        // can only make this client stop writing and ask again, which a server could
        // make it do anyway by refusing pushes; an honest server takes no head its
        // chain never had.
        let header = c.sealed.envelopes().ok().and_then(|(basic, _)| basic.header().ok());
        if let Some(h) = header.filter(|h| h.epoch > self.session.team.epoch) {
            if let Some(head) = h.chain.filter(|head| self.session.team.check_head(head) == HeadCheck::Ahead) {
                self.note_doubt(ChainDoubt::Behind { writer: h.author, head });
            }
        }
        let rec = StoredRecord { record: c.record, version: c.version, sealed: c.sealed.clone() };
        if let Some(moved) = self.proven_move(&rec) {
            self.forget(c.record, moved);
            return true;
        }
        let held = self.replica.records.get(&c.record).map_or(0, |l| l.version);
        if held == 0 {
            return true;
        }
        if c.version > held && self.set_aside.get(&c.record).is_none_or(|a| a.version < c.version) {
            self.set_aside.insert(c.record, rec);
        }
        false
    }

    /// The move `rec` proves, if any: a version newer than the one held here, whose
    /// signed header ([`seal::signed_header`]: checked against the verified chain, no
    /// record key needed) puts the record in a collection this client holds no key for.
    fn proven_move(&self, rec: &StoredRecord) -> Option<MovedAway> {
        let held = self.replica.records.get(&rec.record).map_or(0, |l| l.version);
        if rec.version <= held {
            return None;
        }
        let session = &self.session;
        let header = seal::signed_header(&rec.sealed, &session.ctx(rec.record), rec.version, &session.team)?;
        let elsewhere = session.keyring.latest_epoch(header.collection).is_none();
        elsewhere.then_some(MovedAway { version: rec.version, signer: header.author })
    }

    /// A record moved (proven: see [`Syncer::proven_move`]) into a collection this
    /// client holds no key for (a customer handed to someone else's portfolio): drop
    /// its plaintext. Edits of it still waiting are kept, and reported ([`MovedAway`]).
    fn forget(&mut self, record: RecordId, moved: MovedAway) {
        self.replica.records.remove(&record);
        self.replica.reseal.remove(&record);
        self.replica.dirty.insert(record);
        self.set_aside.remove(&record);
        self.held.remove(&record);
        self.build_on.remove(&record);
        if self.replica.outbox.iter().any(|p| p.record == record) {
            self.moved_away.insert(record, moved);
        }
        self.cache_stale = true;
    }

    /// After a version of `record` was taken in (pulled, a conflict's answer, or this
    /// client's own push accepted): a version set aside that it reaches is not needed
    /// any more, nor a refused one to build on, and a record that had moved away is
    /// back, with the edits that waited for it.
    fn took(&mut self, record: RecordId) {
        let held = self.replica.records.get(&record).map_or(0, |l| l.version);
        if self.set_aside.get(&record).is_some_and(|a| a.version <= held) {
            self.set_aside.remove(&record);
        }
        if self.held.get(&record).is_some_and(|h| h.rec.version <= held) {
            self.held.remove(&record);
        }
        if self.build_on.remove(&record).is_some() && !self.set_aside.contains_key(&record) {
            // What was refused is behind the record now: it reads in full again.
            self.replica.unreadable.remove(&record);
        }
        if self.moved_away.remove(&record).is_some() {
            self.replica.rebuild_view(record);
        }
    }

    /// Drop the waiting edits of a record that moved away ([`MovedAway`]): the user's
    /// choice, once told. Returns how many were dropped.
    pub async fn discard_moved_away(&mut self, record: RecordId) -> Result<usize, SyncError> {
        if !self.moved_away.contains_key(&record) {
            return Ok(0);
        }
        let ops: Vec<u64> = self.replica.outbox.iter().filter(|p| p.record == record).map(|p| p.id).collect();
        self.store.remove_ops(&ops).await?;
        self.replica.outbox.retain(|p| p.record != record);
        self.moved_away.remove(&record);
        self.replica.rebuild_view(record);
        Ok(ops.len())
    }

    /// The server's current states of records a push conflicted on: merge them, or
    /// rebase on them when the server is behind us (see [`Replica::rebase`]).
    async fn absorb_conflicts(&mut self, changes: &[Change]) -> Result<(), SyncError> {
        self.absorb_rebasing(changes).await.map(drop)
    }

    /// Write a pulled page taken in (its records, which are new here, and its cursor).
    async fn save_taken(&self, taken: Option<&Taken>) -> Result<(), StoreError> {
        match taken {
            Some((records, fresh, cursor)) => self.store.save_new_records(records, fresh, Some(*cursor)).await,
            None => Ok(()),
        }
    }

    /// Whether this client is on a generation of the server that was restored from a
    /// backup: it came there through a `reset` under an admin's notice
    /// ([`Syncer::check_restore`]), or its first pull was from one. Only then does a
    /// put-back mark ([`crate::record::REPAIRED`]) exempt a version from the per-field
    /// authorship check.
    fn restored(&self) -> bool {
        crate::restore::generation_of(self.replica.cursor) != 0
    }

    /// Whether a page that says `reset` may start this client over: only with an admin's
    /// signed notice of the restore, for the generation the page is from, which is not
    /// this client's own (see [`crate::restore`]). Checked before anything is changed.
    fn check_restore(&self, page: &PullResponse) -> Result<(), SyncError> {
        let generation = crate::restore::generation_of(page.cursor);
        let now_ms = (self.session.now_ms)() as i64;
        let fresh = generation != crate::restore::generation_of(self.replica.cursor);
        let signed = page.restore.as_ref().is_some_and(|n| n.check(&self.session.team, generation, now_ms).is_ok());
        match fresh && signed {
            true => Ok(()),
            false => Err(SyncError::RestoreUnconfirmed { generation }),
        }
    }

    async fn pull(&mut self, report: &mut SyncReport) -> Result<(), SyncError> {
        // Set when the server says it started us over (it was restored from a backup):
        // then every state it sends is merged, even one older than ours, and afterwards
        // we give it back everything we hold.
        let mut restored = false;
        // The versions held before the server said so: repairs go above them.
        let mut held_before: HashMap<RecordId, u64> = HashMap::new();
        let mut page = self.transport.pull(self.replica.cursor, crate::api::MAX_PULL_LIMIT).await?;
        // A page is opened while the one before it is written and the one after it is
        // fetched: the signatures (in workers), the decryption (here) and the storage
        // (the browser's) overlap. Each page is written with its cursor, in order.
        let mut unsaved: Option<Taken> = None;
        loop {
            if page.reset {
                if !restored {
                    self.check_restore(&page)?;
                    held_before = self.replica.records.iter().map(|(id, l)| (*id, l.version)).collect();
                }
                restored = true;
                self.replica.cursor = page.cursor;
            }
            let cursor = self.replica.cursor.max(page.cursor);
            let ahead = async {
                match page.more {
                    true => Some(self.transport.pull(cursor, crate::api::MAX_PULL_LIMIT).await),
                    false => None,
                }
            };
            let previous = unsaved.take();
            let save = self.save_taken(previous.as_ref());
            let (stored, fresh, ahead) = if restored {
                let (saved, ahead) = futures::future::join(save, ahead).await;
                saved?;
                (self.absorb_rebasing(&page.changes).await?, Vec::new(), ahead)
            } else {
                let unseen = self.unseen(&page.changes);
                let records: Vec<&StoredRecord> = unseen.iter().map(|(_, r, _)| r).collect();
                let (opened, saved, ahead) = futures::future::join3(self.open_many(&records), save, ahead).await;
                saved?;
                let (stored, fresh) = self.take_opened(unseen, opened).await?;
                (stored, fresh, ahead)
            };
            report.pulled += page.changes.len();
            self.cache_stale |= !stored.is_empty();
            self.replica.cursor = cursor;
            unsaved = Some((stored, fresh, cursor));
            match ahead {
                Some(Ok(next)) => page = next,
                Some(Err(e)) => {
                    // What was taken in is written before the error is reported.
                    self.save_taken(unsaved.as_ref()).await?;
                    return Err(e.into());
                }
                None => break,
            }
        }
        self.save_taken(unsaved.as_ref()).await?;
        self.check_record_pins();
        if restored {
            // Versions on a restored server may repeat numbers ours had with other
            // content, so a version match proves nothing: every record goes back up,
            // merged (fields by stamp) with what the server holds.
            let all: Vec<RecordId> =
                self.replica.records.iter().filter(|(_, l)| l.version > 0).map(|(id, _)| *id).collect();
            report.repaired = all.len();
            self.queue_repairs(&all, &held_before).await?;
        }
        Ok(())
    }

    /// Server states that may be older than ours (a conflict answer, a restored
    /// server): each is opened and merged into ours whatever its version, and ours
    /// builds on the server's version from now on.
    async fn absorb_rebasing(&mut self, changes: &[Change]) -> Result<Vec<StoredRecord>, SyncError> {
        let recs: Vec<StoredRecord> = changes
            .iter()
            .map(|c| StoredRecord { record: c.record, version: c.version, sealed: c.sealed.clone() })
            .collect();
        let opened = self.open_many(&recs.iter().collect::<Vec<_>>()).await;
        self.check_creations(
            recs.iter().zip(&opened).filter_map(|(r, o)| Some((r.record, r.version, o.as_ref().ok()?))),
        )
        .await;
        let mut stored = Vec::with_capacity(changes.len());
        for ((c, rec), opened) in changes.iter().zip(recs).zip(opened) {
            match opened {
                Ok(opened) => {
                    // The server's current version, whatever its number: a refused one
                    // is what the next push builds on.
                    if !self.admit_head(&rec, &opened, true) || self.refuse(c.version, &opened, c.record, true) {
                        continue;
                    }
                    self.note_former(c.record, &opened);
                    self.replica.rebase(c.record, c.version, opened);
                    self.took(c.record);
                }
                Err(_) => {
                    if !self.cannot_open(c) {
                        continue; // the verified version stays what is stored
                    }
                }
            }
            stored.push(rec);
        }
        Ok(stored)
    }

    /// For each record the server lost (or holds an older version of), a durable
    /// outbox entry carrying every field of ours with its original stamp: pushing it
    /// gives the server our state back, and merges by stamp like any other edit.
    async fn queue_repairs(&mut self, records: &[RecordId], held: &HashMap<RecordId, u64>) -> Result<(), SyncError> {
        let mut stored = Vec::with_capacity(records.len());
        // Only an admin signs the team's settings, a put-back of them included.
        let settings = crate::team::settings_record(self.session.team.team);
        let admin = self.session.team.is_admin(&self.session.me);
        for id in records.iter().filter(|id| admin || **id != settings) {
            let Some(local) = self.replica.records.get(id) else { continue };
            let edits = local.base.fields.iter().map(|(f, s)| FieldEdit { field: f.clone(), state: s.clone() });
            self.replica.next_op += 1;
            let op = PendingEdit {
                id: self.replica.next_op,
                record: *id,
                collection: local.collection,
                edits: edits.collect(),
                repair: true,
                above: [held.get(id), self.record_pins.get(id), Some(&local.version)]
                    .into_iter()
                    .flatten()
                    .copied()
                    .max()
                    .unwrap_or(0),
            };
            let plain = serde_json::to_vec(&op).expect("serializable");
            stored.push(StoredOp {
                id: op.id,
                blob: seal_blob(self.session.identity.vault_key(), OUTBOX_CONTEXT, &plain),
            });
            self.replica.outbox.push(op);
        }
        self.store.add_ops(&stored).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
