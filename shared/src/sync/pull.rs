//! Pulling: pages opened while the one before is written and the next fetched, the
//! account's record pins, records moved away, and a restore under an admin's notice
//! (the repairs that give back what the restored server lacks).

use super::*;

impl<S: Store, T: Transport, C: Compute> Syncer<S, T, C> {
    /// The changes not yet held here, as records to store, each with whether this
    /// engine never stored its record before (see [`Store::save_new_records`]).
    pub(super) fn unseen<'c>(&self, changes: &'c [Change]) -> Vec<(&'c Change, StoredRecord, bool)> {
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
    pub(super) async fn take_opened(
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

    /// [`Syncer::note_recent`] for many records, in the order they changed.
    pub(super) fn note_recent_many(&mut self, records: &[RecordId]) {
        self.recent = recent_after(&self.recent, records);
    }

    pub(super) fn note_recent(&mut self, record: RecordId) {
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
    pub(super) fn check_record_pins(&mut self) {
        self.rolled_back = self
            .record_pins
            .iter()
            .filter_map(|(id, &pinned)| {
                let held = self.replica.records.get(id).map_or(0, |l| l.version);
                (held > 0 && held < pinned).then_some((*id, (held, pinned)))
            })
            .collect();
    }

    /// The move `rec` proves, if any: a version newer than the one held here, whose
    /// signed header ([`seal::signed_header`]: checked against the verified chain, no
    /// record key needed) puts the record in a collection this client holds no key for.
    pub(super) fn proven_move(&self, rec: &StoredRecord) -> Option<MovedAway> {
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
    pub(super) fn forget(&mut self, record: RecordId, moved: MovedAway) {
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
    pub(super) fn took(&mut self, record: RecordId) {
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
    pub(super) async fn absorb_conflicts(&mut self, changes: &[Change]) -> Result<(), SyncError> {
        self.absorb_rebasing(changes).await.map(drop)
    }

    /// Write a pulled page taken in (its records, which are new here, and its cursor).
    pub(super) async fn save_taken(&self, taken: Option<&Taken>) -> Result<(), StoreError> {
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
    pub(super) fn restored(&self) -> bool {
        crate::restore::generation_of(self.replica.cursor) != 0
    }

    /// Whether a page that says `reset` may start this client over: only with an admin's
    /// signed notice of the restore, for the generation the page is from, which is not
    /// this client's own (see [`crate::restore`]). Checked before anything is changed.
    pub(super) fn check_restore(&self, page: &PullResponse) -> Result<(), SyncError> {
        let generation = crate::restore::generation_of(page.cursor);
        let now_ms = (self.session.now_ms)() as i64;
        let fresh = generation != crate::restore::generation_of(self.replica.cursor);
        let signed = page.restore.as_ref().is_some_and(|n| n.check(&self.session.team, generation, now_ms).is_ok());
        match fresh && signed {
            true => Ok(()),
            false => Err(SyncError::RestoreUnconfirmed { generation }),
        }
    }

    pub(super) async fn pull(&mut self, report: &mut SyncReport) -> Result<(), SyncError> {
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
    pub(super) async fn absorb_rebasing(&mut self, changes: &[Change]) -> Result<Vec<StoredRecord>, SyncError> {
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
    pub(super) async fn queue_repairs(
        &mut self,
        records: &[RecordId],
        held: &HashMap<RecordId, u64>,
    ) -> Result<(), SyncError> {
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
