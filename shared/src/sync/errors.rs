//! Why a sync stopped ([`SyncError`]), and the chain doubts a writer's head can raise.

use super::*;

#[derive(Debug, Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    #[error("the same records kept conflicting; will retry later")]
    ConflictStorm,
    #[error("{0}")]
    NotAllowed(&'static str),
    /// The verified chain is at an epoch whose keys have not reached this client (the
    /// server has not delivered them, or withholds them): nothing is sealed under an
    /// older key; edits wait in the outbox.
    #[error(
        "Edits wait on this device: the team's keys for its current epoch ({0}) have not reached it. \
         Nothing was sent under older keys."
    )]
    AwaitingKeys(u32),
    /// A record shows a team history this client does not have (see [`ChainDoubt`]):
    /// nothing is sealed until that is resolved.
    #[error("{0}")]
    ChainDoubt(ChainDoubt),
    /// No admin has confirmed this client's verified chain for longer than the team's
    /// beacon lease ([`crate::beacon`]): a removal may be withheld from it, so no new
    /// edit is sealed until a fresh beacon on its chain comes.
    #[error(
        "No admin has confirmed this team's membership for {hours} hours: new edits wait on this device until one does."
    )]
    Unconfirmed { hours: u64 },
    /// The server says it was restored from a backup (`reset`) and now runs as
    /// `generation`, but no admin of the verified chain signed a notice of that restore
    /// ([`crate::restore`]): this client changes nothing — its cursor, records, pins and
    /// outbox stay as they are — until one does.
    #[error(
        "The server says it was restored from a backup; this device changes nothing until an admin of the team \
         confirms the restore on the Team page."
    )]
    RestoreUnconfirmed { generation: u64 },
}

/// What a record's writer saw of the team chain, when it is not what this client
/// verified. Found by reading a chain head bound into another member's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainDoubt {
    /// `writer` sealed on a longer chain (`len` entries) than the server gives this
    /// client: a change (a removal, a rotation) is being withheld from it, or has not
    /// reached it yet. The client refreshes the chain; until it has that change it
    /// writes nothing, so nothing is sealed for someone the team removed.
    Behind { writer: Username, head: ChainHead },
    /// `writer` sealed on a different history of the team: at `len` entries, theirs and
    /// this client's differ. The server shows members two different teams.
    Fork { writer: Username, head: ChainHead },
}

impl std::fmt::Display for ChainDoubt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainDoubt::Behind { writer, head } => write!(
                f,
                "{writer} wrote on a newer version of the team ({} entries) than the server gives this device: \
                 nothing new is sent until this device has it.",
                head.len
            ),
            ChainDoubt::Fork { writer, head } => write!(
                f,
                "{writer} wrote on a different history of the team (it differs from this device's at entry {}): \
                 the server may be showing members different teams. Nothing new is sent; compare the team \
                 fingerprint with your colleagues.",
                head.len
            ),
        }
    }
}

impl ChainDoubt {
    /// What a writer's head says against `team`, if anything is wrong.
    pub(crate) fn of(team: &TeamState, writer: &Username, head: &ChainHead) -> Option<ChainDoubt> {
        match team.check_head(head) {
            HeadCheck::Known => None,
            HeadCheck::Ahead => Some(ChainDoubt::Behind { writer: writer.clone(), head: *head }),
            HeadCheck::Fork => Some(ChainDoubt::Fork { writer: writer.clone(), head: *head }),
        }
    }

    pub(crate) fn is_fork(&self) -> bool {
        matches!(self, ChainDoubt::Fork { .. })
    }
}

/// A writer whose versions carry a chain head this client's verified chain does not
/// have, and cannot be made to: a fork at a length it holds, or a longer chain that
/// reading the chain again did not bring (see [`Syncer::head_verdict`]). That is the
/// writer's lie (a modified client), or a server showing members different chains;
/// either way it is that writer's records that are in doubt, not the team's keys. Their
/// versions carrying such a head are refused — not taken, not stored; the others write
/// on top of them, as on any refused version — and everyone else goes on writing. Kept
/// until a chain this client reads has the head (not durable: after a restart, the
/// next such version finds it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownHead {
    /// Who signed the versions (checked against the verified chain).
    pub signer: Username,
    /// The head they signed last that the chain does not have.
    pub head: ChainHead,
    /// Whether the chain has another entry at `head.len` (a fork) rather than none yet.
    pub fork: bool,
    /// The versions refused for it, by record.
    pub refused: BTreeMap<RecordId, u64>,
}

impl std::fmt::Display for UnknownHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} signed changes on a team history this device's verified chain does not have (entry {}); {} of \
             their changes were refused. Everyone else's edits go on.",
            self.signer,
            self.head.len,
            self.refused.len()
        )
    }
}

/// How a writer's chain head weighs on this client ([`Syncer::head_verdict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeadVerdict {
    /// On the verified chain.
    Known,
    /// Stops every edit here until a chain this client reads answers it.
    Team(ChainDoubt),
    /// Longer than the verified chain: the version waits, and so does sealing, until
    /// the chain is read again; then it is taken, or its writer isolated.
    Reread,
    /// Its writer is isolated ([`UnknownHead`]): the version is refused.
    Isolate,
}

/// A version whose writer's chain head waits for the chain to be read again (see
/// [`HeadVerdict::Reread`]): neither taken nor stored meanwhile.
#[derive(Debug, Clone)]
pub(crate) struct HeldVersion {
    pub(crate) rec: StoredRecord,
    pub(crate) writer: Username,
    pub(crate) head: ChainHead,
    /// What a version after it may carry on unchanged, if it is refused (see
    /// [`RefusedHead::signed_ahead`]).
    pub(crate) signed_ahead: RecordDoc,
    /// The server's current version (a conflict's answer, a restored server's).
    pub(crate) current: bool,
}
