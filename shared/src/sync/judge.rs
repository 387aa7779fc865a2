//! Judging a version whose signature holds: what this client refuses in it (stamps out
//! of time, fields in another's name, a forged creator, a removed member's late edit) and
//! what a refused version may still carry.

use super::*;

impl<S: Store, T: Transport, C: Compute> Syncer<S, T, C> {
    /// What this client refuses in `opened`, a version of `record` whose signature
    /// holds (by a member the verified chain lets seal under its epoch), if anything:
    /// fields stamped out of time ([`Session::untimely`]), or changed in someone else's
    /// name ([`Opened::misattributed`]). The names are checked where this client knows
    /// what the version changed: it holds the version just before (or the refused
    /// version just before, then with the fields that one signed ahead), or this is the
    /// record's first version. (A device that skipped versions cannot tell which of
    /// them changed a field.)
    pub(super) fn refusal(&self, version: u64, opened: &Opened, record: RecordId) -> Option<Judgement> {
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
    pub(super) fn older_sensitive(&self, version: u64, opened: &Opened, record: RecordId) -> bool {
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
    pub(super) fn creation_of(&self, record: RecordId, opened: &Opened) -> crate::record::CreationCheck {
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
    pub(super) async fn check_creations<'o>(&mut self, versions: impl Iterator<Item = (RecordId, u64, &'o Opened)>) {
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
    pub(super) fn created_by_another(&self, version: u64, opened: &Opened, record: RecordId) -> Option<Username> {
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
    pub(super) fn written_after_leaving(&self, version: u64, opened: &Opened, record: RecordId) -> bool {
        let Some(&left) = self.session.team.left_len.get(&opened.writer) else { return false };
        let base = self.replica.records.get(&record).filter(|l| l.version > 0 && l.version + 1 == version);
        opened.writer_head.iter().chain(base.and_then(|l| l.head.as_ref())).any(|h| h.len >= left)
    }

    /// A version about to be taken that a member since removed signed (before the
    /// removal reached them, or nothing here can tell): each field it changes is kept
    /// as a note ([`Superseded::former`]) with the value before, so any colleague can
    /// put it back.
    pub(super) fn note_former(&mut self, record: RecordId, opened: &Opened) {
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
    pub(super) fn before(&self, record: RecordId, version: u64) -> Option<std::borrow::Cow<'_, RecordDoc>> {
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
    pub(super) fn carried(&self, version: u64, opened: &Opened, record: RecordId) -> RecordDoc {
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
    pub(super) fn refuse(&mut self, version: u64, opened: &Opened, record: RecordId, current: bool) -> bool {
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
    pub(super) fn cannot_open(&mut self, c: &Change) -> bool {
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
}
