//! Pushing: the outbox sealed in batches (encryption and signatures through the
//! `Compute`), sent, and what the server took written back; conflicts merged and retried.

use super::*;

impl<S: Store, T: Transport, C: Compute> Syncer<S, T, C> {
    /// Seal the next batch of the outbox (records not in `skip`), or `None` when empty.
    ///
    /// While a doubt stands ([`Syncer::doubt`], or a head waiting for the chain to be
    /// read again) no edit is sealed, and the doubt is the answer. Re-encryption and
    /// repairs (putting back what a restored server lost) still are: they carry no new
    /// edit, and seal under the verified chain's epoch like everything else, so a doubt
    /// never stops an admin moving the team's records off a removed member's keys.
    pub(super) async fn prepare(&self, skip: &HashSet<RecordId>) -> Result<Option<Prepared>, SyncError> {
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
    pub(super) async fn seal_part(
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

    pub(super) async fn push(&mut self, report: &mut SyncReport) -> Result<(), SyncError> {
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
    pub(super) async fn save_pushed(&self, pushed: Option<&Pushed>) -> Result<(), StoreError> {
        let Some((records, cursor, ops)) = pushed else { return Ok(()) };
        self.store.save_records(records, *cursor).await?;
        self.store.remove_ops(ops).await
    }

    /// What of an accepted batch's own writes lost to concurrent ones (see
    /// [`lost_in`]): the batch's outbox entries are found in one pass over the outbox.
    pub(super) fn lost_to_others(&self, batch: &[SealedMeta]) -> Vec<Superseded> {
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
    pub(super) fn take_replaced(&mut self) {
        let me = &self.session.me;
        for (author, note) in std::mem::take(&mut self.replica.replaced) {
            if &author == me && &note.by != me && !self.superseded.contains(&note) {
                self.superseded.push(note);
            }
        }
    }
}
