//! Opening the engine: the cached replica at once, the stored ciphertext verified
//! before anything is sealed or sent, a new session (a new chain or keys), and the
//! records re-opened with new keys; the re-encryption queue onto the newest epoch.

use super::*;

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
    pub(super) async fn open_many(&self, records: &[&StoredRecord]) -> Vec<Result<Opened, CryptoError>> {
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
    pub(super) async fn take_answered(&mut self) -> Result<(), SyncError> {
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
}
