//! What a sync tells the user: edits replaced by a colleague's, versions refused and why.

use super::*;

/// A record that moved, by a version signed by `signer` (checked against the verified
/// chain), into a collection this client holds no key for, while edits of it waited
/// here. The edits are kept (nothing unsent is dropped on anyone's word) and not sent:
/// they go out if the record comes back (or this client is given the key), and are
/// dropped only when the user says so ([`Syncer::discard_moved_away`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedAway {
    pub version: u64,
    pub signer: Username,
}

impl std::fmt::Display for MovedAway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} moved a record you edited on this device where this device holds no key: your edits of it are kept \
             here and were not sent.",
            self.signer
        )
    }
}

/// A field this client wrote that lost the merge to someone else's concurrent write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseded {
    pub record: RecordId,
    pub field: String,
    /// What this client wrote.
    pub mine: Option<Value>,
    /// What the field holds now, who wrote it and when (their clock, Unix ms).
    pub theirs: Option<Value>,
    pub by: Username,
    pub at_ms: u64,
    /// Not a concurrent edit of this user's: `by` has left the team since (removed
    /// from the verified chain) and wrote this before the removal reached them, so the
    /// version was taken; any colleague may put `mine` (the value before) back.
    pub former: bool,
}

impl Superseded {
    /// One line, to keep (`record␝who␝when␝` and the field's change as a history line,
    /// U+001D between the parts).
    pub fn to_line(&self) -> String {
        let change =
            crate::domain::FieldChange { field: self.field.clone(), from: self.mine.clone(), to: self.theirs.clone() };
        let line = format!("{}\u{1d}{}\u{1d}{}\u{1d}{}", self.record, self.by, self.at_ms, change.line());
        if self.former {
            format!("L\u{1d}{line}")
        } else {
            line
        }
    }

    pub fn from_line(line: &str) -> Option<Self> {
        let (former, line) = match line.strip_prefix("L\u{1d}") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let mut p = line.splitn(4, '\u{1d}');
        let (record, by, at_ms) = (p.next()?.parse().ok()?, Username::parse(p.next()?).ok()?, p.next()?.parse().ok()?);
        let c = crate::domain::FieldChange::parse(p.next()?)?;
        Some(Superseded { record, field: c.field, mine: c.from, theirs: c.to, by, at_ms, former })
    }
}

/// A record version this client opened, its signature holding, but would not take:
/// the record stays at the version before it (with the refused version's other
/// fields), and this client's edits of the record are written on top of it (the
/// server's compare-and-set), so one member's refused version never stops the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub version: u64,
    /// Who signed the refused version (checked against the verified chain).
    pub signer: Username,
    /// The field refused, and the author its stamp names.
    pub field: String,
    pub named: Username,
    pub reason: RefusalReason,
}

/// The server's current version of a record, which this client refused.
#[derive(Debug, Clone)]
pub(crate) struct RefusedHead {
    pub(crate) version: u64,
    /// Its fields refused only for their stamps, each in the name of a member who
    /// signed it (in this version, or in the refused one before it). The version after
    /// it may carry them on unchanged: that is not a change in their author's name by
    /// its signer (once in time, they are taken). For a version refused as a whole, for
    /// its chain head ([`UnknownHead`]), every field it did not forge.
    pub(crate) signed_ahead: RecordDoc,
}

/// What [`Syncer::refusal`] found in a version.
pub(crate) struct Judgement {
    /// What to show: an untimely field first, else one changed in another's name.
    pub(crate) refusal: Refusal,
    /// The fields stamped out of time ([`Session::untimely`]).
    pub(crate) untimely: BTreeSet<String>,
    /// The fields changed in someone else's name ([`Opened::misattributed_fields`]).
    pub(crate) in_anothers_name: BTreeSet<String>,
    /// Whether names were checked (this client knew the version before).
    pub(crate) checked: bool,
}

/// Why a [`Refusal`] was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// The field was changed in `named`'s name, who did not sign the version.
    InAnothersName,
    /// The field was stamped at `at_ms` (Unix ms, by the signer's clock): further ahead
    /// of this device's clock than [`MAX_CLOCK_SKEW_MS`].
    StampedAhead { at_ms: u64 },
    /// The field's stamp carries a clock counter past [`crate::hlc::COUNTER_LIMIT`].
    SpentCounter,
    /// A version of the team's settings record ([`crate::team::settings_record`])
    /// signed by someone who is not an admin of the verified chain (no field named).
    NotAnAdmin,
    /// Signed by a member the verified chain has removed since, on a chain head that
    /// already held the removal, or on top of a version sealed on one: written after
    /// they left (no field named).
    AfterLeaving,
    /// The record names `named` as its creator (the author of its `kind`), who did not
    /// sign the version, with a creation certificate that does not hold under their key
    /// ([`crate::record::CREATED`]: copied from another record, or made up). The
    /// version is refused whole.
    CreatedInAnothersName,
    /// The version carries (does not seal as itself) a sensitive section older than, or
    /// other than, the one this client holds for the version before it: a member
    /// without the sensitive key rolling the sensitive fields back. Its sensitive part
    /// is refused, its other fields judged as any version's (no field named).
    OlderSensitive,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (signer, field) = (&self.signer, &self.field);
        match self.reason {
            RefusalReason::InAnothersName => write!(
                f,
                "A change signed by {signer} wrote the field \"{field}\" in {}'s name; it was refused and the field \
                 kept as it was.",
                self.named
            ),
            RefusalReason::StampedAhead { at_ms } => write!(
                f,
                "A change signed by {signer} stamped the field \"{field}\" at {at_ms} (Unix ms), more than {} \
                 minutes ahead of this device's clock; it was refused and the field kept as it was.",
                MAX_CLOCK_SKEW_MS / 60_000
            ),
            RefusalReason::SpentCounter => write!(
                f,
                "A change signed by {signer} stamped the field \"{field}\" with a clock counter no device reaches; \
                 it was refused and the field kept as it was."
            ),
            RefusalReason::NotAnAdmin => write!(
                f,
                "A change of the team's settings signed by {signer}, who is not an admin, was refused; the settings \
                 stay as an admin set them."
            ),
            RefusalReason::AfterLeaving => write!(
                f,
                "A change signed by {signer} was written after {signer} left the team; it was refused and the record \
                 kept as it was."
            ),
            RefusalReason::CreatedInAnothersName => write!(
                f,
                "A change signed by {signer} names {} as the record's creator without {}'s signature; it was refused \
                 and the record kept as it was.",
                self.named, self.named
            ),
            RefusalReason::OlderSensitive => write!(
                f,
                "A change signed by {signer} carried an older copy of the record's sensitive fields; it was refused \
                 and those fields kept as they were."
            ),
        }
    }
}
