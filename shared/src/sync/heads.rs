//! What the chain heads in other members' envelopes say about this client's verified
//! chain: a doubt that stops sealing, a writer isolated for a head the chain lacks.

use super::*;

impl<S: Store, T: Transport, C: Compute> Syncer<S, T, C> {
    pub(super) fn verified(&self) -> Result<(), SyncError> {
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
    pub(super) fn head_verdict(&self, writer: &Username, head: &ChainHead) -> HeadVerdict {
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
    pub(super) fn note_doubt(&mut self, doubt: ChainDoubt) {
        if !self.doubt.as_ref().is_some_and(ChainDoubt::is_fork) {
            self.doubt = Some(doubt);
        }
    }

    /// Take in the chain head of a version taken already (stored, cached): as
    /// [`Syncer::head_verdict`] says, except that nothing is held or refused.
    pub(super) fn note_head(&mut self, writer: &Username, head: &ChainHead) {
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

    pub(super) fn note_opened(&mut self, opened: &Opened) {
        if let Some(h) = &opened.writer_head {
            self.note_head(&opened.writer, h);
        }
    }

    /// Judge the chain head of `opened`, `rec` as pulled (or the server's current
    /// version, `current`), before taking it ([`Syncer::head_verdict`]). Returns whether
    /// to go on (and judge its fields); if not, the version is held until the chain is
    /// read again, or refused as its isolated writer's.
    pub(super) fn admit_head(&mut self, rec: &StoredRecord, opened: &Opened, current: bool) -> bool {
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
    pub(super) fn isolate(&mut self, writer: &Username, head: ChainHead) -> &mut UnknownHead {
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
    pub(super) fn refuse_by_head(
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
}
