//! A signed-in member's view of their team: the verified chain, their keys, their clock.

use super::*;

pub use crate::hlc::MAX_CLOCK_SKEW_MS;

/// The keys and verified membership a client works with.
pub struct Session {
    pub me: Username,
    pub identity: IdentityKeys,
    pub keyring: Keyring,
    pub team: TeamState,
    /// The device's wall clock, Unix ms (the engine reads no clock of its own).
    pub now_ms: fn() -> u64,
}

impl Session {
    pub(crate) fn sealer(&self) -> Sealer<'_> {
        Sealer {
            me: &self.me,
            identity: &self.identity,
            keyring: &self.keyring,
            epoch: self.team.epoch,
            head: self.team.chain_head(),
        }
    }
    pub(crate) fn ctx(&self, record: RecordId) -> RecordContext {
        RecordContext { team: self.team.team, record }
    }
    /// A server state of a record, checked up to its signatures (see [`UncheckedPlan`]);
    /// what it opens to is then judged ([`Session::in_time`], [`Syncer::refuse`]).
    pub(crate) fn plan(&self, change: &StoredRecord) -> Result<UncheckedPlan<'_>, CryptoError> {
        plan_unchecked(&change.sealed, &self.ctx(change.record), change.version, &self.keyring, &self.team)
    }

    /// The fields of `doc` whose stamps this client refuses (besides what
    /// [`seal::open_record`] checks), and why: stamped further in the future than
    /// [`MAX_CLOCK_SKEW_MS`] allows, or with a counter past [`crate::hlc::COUNTER_LIMIT`].
    /// Either would win every later merge of the field, and a clock that observed it
    /// would stamp ahead of everyone else's.
    pub(crate) fn untimely<'d>(
        &self,
        doc: &'d RecordDoc,
    ) -> impl Iterator<Item = (&'d str, &'d Stamp, RefusalReason)> + 'd {
        let ceiling = (self.now_ms)().saturating_add(MAX_CLOCK_SKEW_MS);
        doc.fields.iter().filter_map(move |(name, state)| {
            let hlc = state.stamp.hlc;
            let why = if hlc.wall_ms > ceiling {
                RefusalReason::StampedAhead { at_ms: hlc.wall_ms }
            } else if hlc.counter > crate::hlc::COUNTER_LIMIT {
                RefusalReason::SpentCounter
            } else {
                return None;
            };
            Some((name.as_str(), &state.stamp, why))
        })
    }

    /// Whether every stamp of `doc` may be taken ([`Session::untimely`]); if not, the
    /// field to name (the furthest ahead, else the first with a spent counter), the
    /// author its stamp names, and why.
    pub(crate) fn in_time(&self, doc: &RecordDoc) -> Result<(), (String, Username, RefusalReason)> {
        let ahead = |why: &RefusalReason| matches!(why, RefusalReason::StampedAhead { .. });
        let worst = self.untimely(doc).max_by_key(|(_, stamp, why)| (ahead(why), stamp.hlc.wall_ms));
        match worst {
            Some((name, stamp, why)) => Err((name.to_owned(), stamp.author.clone(), why)),
            None => Ok(()),
        }
    }

    /// The collection a record belongs in, from its fields (`text` reads the record as
    /// it will be): a customer in its owner's [`portfolio`] (shared when it has no
    /// owner or the owner keeps none); a contact, interaction, task or deal wherever
    /// its customer is; anything else where it already is (`current`), or shared.
    pub(crate) fn intended<'a>(
        &self,
        records: &BTreeMap<RecordId, LocalRecord>,
        text: impl Fn(&str) -> Option<&'a str>,
        current: Option<CollectionId>,
    ) -> CollectionId {
        let team = &self.team;
        if text(field::KIND) == Some(EntityKind::Customer.as_str()) {
            return text(field::OWNER)
                .and_then(|o| Username::parse(o).ok())
                .and_then(|u| team.members.get(&u))
                .filter(|m| has_portfolio(m.role))
                .map_or(team.shared_collection, |m| portfolio(team.team, &m.username));
        }
        let customer = text(field::CUSTOMER).and_then(|c| c.parse::<RecordId>().ok());
        customer.and_then(|c| records.get(&c)).map(|c| c.collection).or(current).unwrap_or(team.shared_collection)
    }

    /// Whether this client can seal a record into `collection`: it needs the newest
    /// `basic` key there and, to move a record with a sensitive section, the
    /// `sensitive` key too (a section cannot be carried from one collection to another).
    pub(crate) fn can_seal(&self, collection: CollectionId, current: Option<CollectionId>, sensitive: bool) -> bool {
        let Some(epoch) = self.keyring.latest_epoch(collection) else { return false };
        current == Some(collection) || !sensitive || self.keyring.get(collection, epoch, Scope::Sensitive).is_some()
    }

    /// The chain's current epoch if this client holds its `basic` key for `collection`
    /// (what re-encryption moves records onto), else `None`.
    pub(crate) fn chain_epoch_held(&self, collection: CollectionId) -> Option<u32> {
        self.keyring.get(collection, self.team.epoch, Scope::Basic).map(|_| self.team.epoch)
    }

    /// Where to seal a record now: where it belongs if this client can seal it there,
    /// else where it is.
    pub(crate) fn place(
        &self,
        records: &BTreeMap<RecordId, LocalRecord>,
        local: &LocalRecord,
        doc: &RecordDoc,
    ) -> CollectionId {
        let want = self.intended(records, |f| doc.text(f), Some(local.collection));
        let sensitive = local.sensitive.is_some() || has_sensitive(doc);
        if self.can_seal(want, Some(local.collection), sensitive) {
            want
        } else {
            local.collection
        }
    }
}

/// Whether a document holds any field sealed under the `sensitive` key.
pub(crate) fn has_sensitive(doc: &RecordDoc) -> bool {
    doc.fields.keys().any(|f| is_sensitive(f))
}
