//! The state machine: decrypted records, the outbox and the cursor, with no I/O.

use super::*;

/// Field writes to one record: the input of [`Syncer::edit_many`]. The engine decides
/// the collection (see [`Syncer::edit_many`]).
pub type RecordEdit = (RecordId, Vec<(String, Option<Value>)>);

/// One pending local edit of one record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PendingEdit {
    pub id: u64,
    pub record: RecordId,
    pub collection: CollectionId,
    pub edits: Vec<FieldEdit>,
    /// Puts back fields a restored server lost, in their writers' names (see
    /// [`crate::record::REPAIRED`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repair: bool,
    /// For a repair: the highest version of the record this device held, or the
    /// account pinned, before the server said it was restored. The repair is sealed
    /// above it, so no device ever sees the record's version go down (a restored
    /// server takes the jump: see `server/src/records.rs`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub above: u64,
}

pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A record in memory.
#[derive(Debug, Clone)]
pub struct LocalRecord {
    pub collection: CollectionId,
    /// The server version `base` corresponds to; 0 if never pushed.
    pub version: u64,
    /// What the server holds (merged with everything we pulled). The same `Arc` as
    /// `view` while nothing is pending.
    pub base: Arc<RecordDoc>,
    /// `base` plus pending edits: what the user sees. Shared, not copied, with whoever
    /// reads it (the app's index holds the same `Arc`); an edit copies it on write.
    pub view: Arc<RecordDoc>,
    pub sensitive: Option<SealedEnvelope>,
    pub complete: bool,
    /// The oldest key epoch the server's copy is sealed under (0 if never pushed).
    pub epoch: u32,
    /// Who signed the server's copy (`None` if never pushed): what a setting is
    /// decided by, not the author names inside the fields (which a signer writes).
    pub signer: Option<Username>,
    /// The chain head that signer bound into the server's copy (`None` if never
    /// pushed, or a version-1 envelope): whether it was written after someone left.
    pub head: Option<ChainHead>,
}

impl LocalRecord {
    /// A record the server has not given this replica yet (no version, nothing held).
    pub(crate) fn unseen(collection: CollectionId) -> Self {
        LocalRecord {
            collection,
            version: 0,
            base: Arc::default(),
            view: Arc::default(),
            sensitive: None,
            complete: true,
            epoch: 0,
            signer: None,
            head: None,
        }
    }
}

/// The sync state machine. No I/O.
#[derive(Debug, Default)]
pub struct Replica {
    pub records: BTreeMap<RecordId, LocalRecord>,
    pub outbox: Vec<PendingEdit>,
    pub cursor: Cursor,
    pub(crate) clock: Clock,
    pub(crate) next_op: u64,
    /// Changes that could not be opened (no key, or refused as forged), by record.
    pub unreadable: BTreeSet<RecordId>,
    /// Records whose view changed since the caller last took this set (lets a UI
    /// refresh its index incrementally instead of rebuilding it).
    pub dirty: BTreeSet<RecordId>,
    /// Records to seal again, unchanged, under the newest epoch (re-encryption). Not
    /// durable, and need not be: which records are still on an old epoch is known from
    /// the records themselves, so after a restart the work is simply picked up again.
    pub reseal: BTreeSet<RecordId>,
    /// Others' writes this replica took in after its own pending edit of the same field
    /// was made, which that edit beats, by record and field: the record's next push
    /// names them ([`crate::record::REPLACED`]), so their authors are told even when
    /// their push reached the server first. Not durable.
    pub(crate) replacing: BTreeMap<RecordId, BTreeMap<String, Stamp>>,
    /// Writes a version taken in names as replaced ([`crate::record::replaced_in`]) that
    /// this replica held, with their author: the syncer tells the user of those that
    /// are theirs ([`Syncer::superseded`]).
    pub(crate) replaced: Vec<(Username, Superseded)>,
}

impl Replica {
    /// Record a local edit. `now_ms` is the wall clock (the engine reads no clocks).
    pub fn edit(
        &mut self,
        me: &Username,
        record: RecordId,
        collection: CollectionId,
        fields: Vec<(String, Option<Value>)>,
        now_ms: u64,
    ) -> PendingEdit {
        let hlc = self.clock.tick(now_ms);
        let stamp = Stamp { hlc, author: me.clone() };
        let edits = fields
            .into_iter()
            .map(|(field, value)| FieldEdit { field, state: FieldState { value, stamp: stamp.clone() } })
            .collect();
        self.next_op += 1;
        let op = PendingEdit { id: self.next_op, record, collection, edits, repair: false, above: 0 };
        self.apply_pending(&op);
        self.outbox.push(op.clone());
        op
    }

    pub(crate) fn apply_pending(&mut self, op: &PendingEdit) {
        self.dirty.insert(op.record);
        let local = self.records.entry(op.record).or_insert_with(|| LocalRecord::unseen(op.collection));
        local.collection = op.collection;
        for e in &op.edits {
            Arc::make_mut(&mut local.view).apply(&e.field, e.state.clone());
        }
    }

    /// Recompute a record's view from its base and the pending edits still in the outbox.
    pub(crate) fn rebuild_view(&mut self, record: RecordId) {
        self.dirty.insert(record);
        let Some(local) = self.records.get_mut(&record) else { return };
        let mut view = (*local.base).clone();
        for p in self.outbox.iter().filter(|p| p.record == record) {
            for e in &p.edits {
                view.apply(&e.field, e.state.clone());
            }
        }
        local.view = Arc::new(view);
        if local.version == 0 && local.view.fields.is_empty() {
            self.records.remove(&record);
        }
    }

    /// Take in a server state of a record (pulled, or sent back with a 409).
    pub fn absorb(&mut self, record: RecordId, version: u64, opened: Opened) {
        if let Some(s) = opened.doc.max_stamp() {
            self.clock.observe(s.hlc);
        }
        self.unreadable.remove(&record);
        let local = self.records.entry(record).or_insert_with(|| LocalRecord::unseen(opened.collection));
        if version < local.version {
            return; // an older state than one already seen: never roll back
        }
        self.take(record, version, opened);
    }

    /// Take in the server's state of a record that is *older* than ours, sent back with
    /// a 409: the server lost our newer versions (restored from a backup). Merge it
    /// (nothing of ours is dropped: fields merge by stamp) and build on its version, so
    /// the pending edit that carries our fields is accepted.
    ///
    /// The older state never moves the record: a server that "restores" a customer's
    /// old version from when it lived in the shared collection must not get the
    /// customer (and with it its contacts and deals, sensitive fields included)
    /// sealed again where every member holds the key. Moving a record to a wider
    /// collection is only ever a user's edit of its owner. Our sensitive section is
    /// kept for the same reason.
    pub(crate) fn rebase(&mut self, record: RecordId, version: u64, opened: Opened) {
        if let Some(local) = self.records.get(&record).filter(|l| version < l.version) {
            let (collection, keep) = (local.collection, local.sensitive.clone());
            let sensitive = if opened.collection == collection { keep.or(opened.sensitive.clone()) } else { keep };
            self.take(record, version, Opened { collection, sensitive, ..opened });
        } else {
            self.absorb(record, version, opened);
        }
    }

    /// Take in the fields of a server version this client refused in part (see
    /// [`Syncer::refuse`]): merged, field by field, into the version held here, which
    /// the record stays at (its number, collection, signer and sealed sensitive
    /// section are that version's). A record not held at a server version here is not
    /// made from a refused one. Returns whether the record changed.
    pub(crate) fn take_in_part(&mut self, record: RecordId, fields: &RecordDoc) -> bool {
        let Some(local) = self.records.get_mut(&record).filter(|l| l.version > 0) else { return false };
        if fields.fields.iter().all(|(f, s)| local.base.fields.get(f).is_some_and(|b| !s.beats(b))) {
            return false;
        }
        if let Some(s) = fields.max_stamp() {
            self.clock.observe(s.hlc);
        }
        Arc::make_mut(&mut local.base).merge(fields);
        Arc::make_mut(&mut local.view).merge(fields);
        self.dirty.insert(record);
        true
    }

    pub(crate) fn take(&mut self, record: RecordId, version: u64, opened: Opened) {
        // A newer version was sealed under the team's current epoch (the server takes
        // no other): nothing left to re-encrypt.
        self.reseal.remove(&record);
        let local = self.records.get_mut(&record).expect("created by the caller");
        self.dirty.insert(record);
        local.version = version;
        local.collection = opened.collection;
        if local.base.fields.is_empty() && local.view.fields.is_empty() {
            // First seen (every record, when a device opens its store): one document,
            // shared by the base, the view and the app's index.
            local.base = Arc::new(opened.doc);
            local.view = local.base.clone();
        } else {
            Self::note_replacing(&mut self.replacing, record, local, &opened.doc);
            for (field, stamp) in crate::record::replaced_in(&opened.doc, version, &opened.writer) {
                let (Some(held), Some(now)) = (local.base.fields.get(&field), opened.doc.fields.get(&field)) else {
                    continue;
                };
                if held.stamp == stamp && now.beats(held) {
                    let (mine, theirs) = (held.value.clone(), now.value.clone());
                    let (by, at_ms) = (opened.writer.clone(), now.stamp.hlc.wall_ms);
                    let note = Superseded { record, field, mine, theirs, by, at_ms, former: false };
                    self.replaced.push((stamp.author, note));
                }
            }
            Arc::make_mut(&mut local.base).merge(&opened.doc);
            Arc::make_mut(&mut local.view).merge(&opened.doc);
        }
        local.sensitive = opened.sensitive;
        local.complete = opened.complete;
        local.epoch = opened.epoch;
        local.signer = Some(opened.writer);
        local.head = opened.writer_head;
    }

    /// Before `doc` (a newer server version) is merged into `local`: note each field it
    /// changes that an edit pending here beats ([`Replica::replacing`]). The edit was
    /// made on the base held here, which lacked that write: the two were concurrent,
    /// and this client's push will replace it. Sensitive fields are left out (the mark
    /// is in the basic section).
    pub(crate) fn note_replacing(
        replacing: &mut BTreeMap<RecordId, BTreeMap<String, Stamp>>,
        record: RecordId,
        local: &LocalRecord,
        doc: &RecordDoc,
    ) {
        if Arc::ptr_eq(&local.base, &local.view) {
            return; // nothing pending
        }
        for (name, theirs) in &doc.fields {
            let held = local.base.fields.get(name);
            if held.is_some_and(|h| !theirs.beats(h)) || crate::domain::is_sensitive(name) {
                continue;
            }
            let Some(pending) = local.view.fields.get(name) else { continue };
            if held.is_none_or(|h| h != pending) && pending.beats(theirs) {
                replacing.entry(record).or_default().insert(name.clone(), theirs.stamp.clone());
            }
        }
    }

    /// The documents to push for at most `limit` records (in record order): base plus
    /// every pending edit of each. Only the chosen records' bases are copied, so
    /// draining a 100,000-edit outbox in batches does not copy every record per batch.
    /// (`breathe` is awaited every few thousand entries: the outbox holds 200,000 after
    /// a 100,000-row import, and each batch's choice reads it twice.)
    pub(crate) async fn outgoing<F: std::future::Future<Output = ()>>(
        &self,
        limit: usize,
        skip: &HashSet<RecordId>,
        breathe: impl Fn() -> F,
    ) -> BTreeMap<RecordId, Outgoing> {
        const SLICE: usize = 4_096;
        // The first `limit` records in record order, kept to at most `limit` while the
        // outbox is scanned: a set of every pending record (200,000 after a 100,000-row
        // import, rebuilt for each push) made each batch a long task.
        let mut chosen: BTreeSet<RecordId> = BTreeSet::new();
        let full = |chosen: &BTreeSet<RecordId>, id: &RecordId| {
            chosen.len() >= limit && chosen.last().is_none_or(|last| id >= last)
        };
        let choose = |chosen: &mut BTreeSet<RecordId>, id: RecordId| {
            chosen.insert(id);
            if chosen.len() > limit {
                chosen.pop_last();
            }
        };
        for (i, op) in self.outbox.iter().enumerate() {
            if i % SLICE == SLICE - 1 {
                breathe().await;
            }
            if !skip.contains(&op.record) && !full(&chosen, &op.record) {
                choose(&mut chosen, op.record);
            }
        }
        for id in self.reseal.iter().filter(|id| !skip.contains(id)) {
            if full(&chosen, id) {
                break; // in order: every later one is past the cut too
            }
            choose(&mut chosen, *id);
        }
        let mut out: BTreeMap<RecordId, Outgoing> = BTreeMap::new();
        for (i, op) in self.outbox.iter().enumerate() {
            if i % SLICE == SLICE - 1 {
                breathe().await;
            }
            if !chosen.contains(&op.record) {
                continue;
            }
            let entry = out.entry(op.record).or_insert_with(|| {
                let base = self.records.get(&op.record).map(|l| (*l.base).clone()).unwrap_or_default();
                Outgoing { op_ids: Vec::new(), doc: base, repair: false, above: 0 }
            });
            entry.op_ids.push(op.id);
            entry.repair |= op.repair;
            entry.above = entry.above.max(op.above);
            for e in &op.edits {
                entry.doc.apply(&e.field, e.state.clone());
            }
        }
        for id in chosen.iter().filter(|id| self.reseal.contains(id)) {
            if let (Some(l), std::collections::btree_map::Entry::Vacant(e)) = (self.records.get(id), out.entry(*id)) {
                e.insert(Outgoing { op_ids: Vec::new(), doc: (*l.base).clone(), repair: false, above: 0 });
            }
        }
        out
    }

    /// Live (not deleted) records with their current view.
    pub fn live(&self) -> impl Iterator<Item = (&RecordId, &LocalRecord)> {
        self.records.iter().filter(|(_, r)| !r.view.is_deleted())
    }

    pub fn pending_count(&self) -> usize {
        self.outbox.len()
    }

    /// Records on the server sealed under an older epoch than `latest` gives for
    /// their collection, in record order.
    pub fn on_old_epochs<'a>(
        &'a self,
        latest: impl Fn(CollectionId) -> Option<u32> + 'a,
    ) -> impl Iterator<Item = RecordId> + 'a {
        // `latest` is asked once a collection: a team has a few, a replica as many as
        // 100,000 records (counted while the page waits).
        let mut asked: Vec<(CollectionId, Option<u32>)> = Vec::new();
        let mut newest = move |c: CollectionId| match asked.iter().find(|(seen, _)| *seen == c) {
            Some((_, epoch)) => *epoch,
            None => {
                let epoch = latest(c);
                asked.push((c, epoch));
                epoch
            }
        };
        self.records
            .iter()
            .filter(move |(_, l)| l.version > 0 && newest(l.collection).is_some_and(|e| l.epoch < e))
            .map(|(id, _)| *id)
    }
}

/// One record's next version as [`Replica::outgoing`] builds it.
pub(crate) struct Outgoing {
    /// The outbox entries it carries.
    pub(crate) op_ids: Vec<u64>,
    pub(crate) doc: RecordDoc,
    /// It puts back what a restored server lost (see [`crate::record::REPAIRED`]).
    pub(crate) repair: bool,
    /// The version it must be sealed above ([`PendingEdit::above`]).
    pub(crate) above: u64,
}
