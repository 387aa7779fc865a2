//! The account's pins: what every device of the account starts from, so none takes the
//! server's word on which teams it is in, how long their chains are, or how the
//! passphrase is derived.
//!
//! [`AccountPins`] holds, per team, the genesis entry's hash, the longest chain head a
//! device of the account verified and the audit checkpoint an admin's device verified;
//! and the account's salt and key-derivation settings. It is sealed (AES-256-GCM)
//! under the account's vault key, which travels only inside the account bundle (itself
//! sealed under the passphrase-derived `wrap_key`), and stored on the server as an
//! opaque, versioned blob. A new device opens it right after log-in: its first team
//! comes from these pins (or from an invitation link), never from the server's
//! listing, and a chain shorter than, or diverging from, a pinned head is refused.
//!
//! Each team's pin also lists the latest versions of the records a device of the
//! account saw change most recently ([`MAX_RECORD_PINS`] of them): a new device
//! checks what the server serves against them, so a record rolled back to an older
//! version is noticed even by a device that never held it ([`RecordPin`]).
//!
//! Limit: the server can serve an *older* pins blob to a device that has never seen a
//! newer one (it cannot forge or alter one). Each device keeps the highest version it
//! has seen and never goes back from it.

use serde::{Deserialize, Serialize};

use crate::audit::Checkpoint;
use crate::chain::{ChainEntry, ChainError, KnownHead, TeamState};
use crate::crypto::aead::{open_blob, seal_blob};
use crate::crypto::identity::IdentityKeys;
use crate::crypto::passphrase::KdfParams;
use crate::crypto::CryptoError;
use crate::ids::{RecordId, TeamId, Username};

/// How many records' versions each team's pin keeps.
pub const MAX_RECORD_PINS: usize = 200;

/// A record version a device of the account held: the server may never serve this
/// record older than that again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPin {
    pub record: RecordId,
    pub version: u64,
}

/// The largest sealed pins blob the server stores.
pub const MAX_PINS_BYTES: usize = 64 * 1024;

/// What the account knows for certain about one team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamPin {
    pub team: TeamId,
    /// The hash of the team's genesis entry: a server cannot substitute another team
    /// (a ghost admin's genesis) under this id.
    #[serde(with = "crate::encoding::b64_32")]
    pub genesis: [u8; 32],
    /// The longest chain head a device of the account verified.
    pub head: KnownHead,
    /// The audit log's head as an admin's device of the account last verified it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Checkpoint>,
    /// The records a device of the account saw change most recently, newest first,
    /// with the latest version it held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordPin>,
}

/// Every pin of an account. `version` grows with each change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPins {
    pub version: u64,
    #[serde(with = "crate::encoding::b64_16")]
    pub salt: [u8; 16],
    pub kdf: KdfParams,
    pub teams: Vec<TeamPin>,
}

fn context(username: &Username) -> Vec<u8> {
    [b"account-pins/".as_slice(), username.as_str().as_bytes()].concat()
}

impl AccountPins {
    /// Pins of a new account: its salt and settings, no team yet.
    pub fn new(salt: [u8; 16], kdf: KdfParams) -> Self {
        Self { version: 1, salt, kdf, teams: Vec::new() }
    }

    /// Seal for the server (AES-256-GCM under the account's vault key, the username
    /// bound into the associated data).
    /// When every team's record pins do not fit in [`MAX_PINS_BYTES`] (an account in
    /// several teams), each team keeps fewer, its newest: what the server stores stays
    /// whole, and the teams' heads, genesis hashes and audit checkpoints are all kept.
    pub fn seal(&self, username: &Username, keys: &IdentityKeys) -> Vec<u8> {
        // AES-GCM's nonce and tag, and the blob's format byte.
        const OVERHEAD: usize = 12 + 16 + 1;
        let mut json = serde_json::to_vec(self).expect("pins serialize");
        let mut keep = MAX_RECORD_PINS;
        let mut fitted = None::<Self>;
        while json.len() + OVERHEAD > MAX_PINS_BYTES && keep > 0 {
            keep = keep * 3 / 4;
            let pins = fitted.get_or_insert_with(|| self.clone());
            for t in &mut pins.teams {
                t.records.truncate(keep);
            }
            json = serde_json::to_vec(&*pins).expect("pins serialize");
        }
        seal_blob(keys.vault_key(), &context(username), &json)
    }

    pub fn open(blob: &[u8], username: &Username, keys: &IdentityKeys) -> Result<Self, CryptoError> {
        let json = open_blob(keys.vault_key(), &context(username), blob)?;
        serde_json::from_slice(&json).map_err(|_| CryptoError::Malformed("account pins"))
    }

    pub fn team(&self, team: TeamId) -> Option<&TeamPin> {
        self.teams.iter().find(|t| t.team == team)
    }

    /// Pin a team's genesis and head (a longer verified head replaces a shorter one);
    /// true if anything changed (the caller then stores the next version).
    pub fn note_head(&mut self, team: TeamId, genesis: [u8; 32], head: KnownHead) -> bool {
        match self.teams.iter_mut().find(|t| t.team == team) {
            Some(t) if t.head.len >= head.len => false,
            Some(t) => {
                t.head = head;
                true
            }
            None => {
                self.teams.push(TeamPin { team, genesis, head, audit: None, records: Vec::new() });
                true
            }
        }
    }

    /// Pin record versions a device holds (`seen`, newest first): each goes to the
    /// front with the higher of its pinned and seen versions, and the list keeps the
    /// [`MAX_RECORD_PINS`] newest. True if anything changed.
    pub fn note_records(&mut self, team: TeamId, seen: &[RecordPin]) -> bool {
        let Some(t) = self.teams.iter_mut().find(|t| t.team == team) else { return false };
        let before = t.records.clone();
        let mut merged: Vec<RecordPin> = Vec::with_capacity(MAX_RECORD_PINS);
        for p in seen.iter().chain(before.iter()) {
            if let Some(m) = merged.iter_mut().find(|m| m.record == p.record) {
                m.version = m.version.max(p.version);
            } else if merged.len() < MAX_RECORD_PINS {
                merged.push(*p);
            }
        }
        t.records = merged;
        t.records != before
    }

    /// Pin an audit checkpoint (a later one replaces an earlier one); true if changed.
    pub fn note_audit(&mut self, team: TeamId, checkpoint: Checkpoint) -> bool {
        match self.teams.iter_mut().find(|t| t.team == team) {
            Some(t) if t.audit.is_none_or(|a| a.seq < checkpoint.seq) => {
                t.audit = Some(checkpoint);
                true
            }
            _ => false,
        }
    }
}

/// Verify the chain of `team` against what the account pinned for it (`pin`) and
/// what this device saw (`known`): refused if it is another team, if its genesis
/// is not the pinned one (a ghost admin's team under the same id), or if it is
/// shorter than or diverges from either head. A team with no pin must be
/// self-certifying (its id derived from its genesis), unless `allow_unpinned`
/// (a team made before ids were derived, met for the first time: trusted on first
/// use, then pinned).
pub fn verify_pinned(
    entries: &[ChainEntry],
    team: TeamId,
    pin: Option<&TeamPin>,
    known: Option<&KnownHead>,
    allow_unpinned: bool,
) -> Result<TeamState, ChainError> {
    let state = TeamState::verify_team(entries, team, known)?;
    match pin {
        Some(p) => {
            if state.genesis_hash() != p.genesis {
                return Err(ChainError::Invalid(0, "not the genesis this account pinned for the team"));
            }
            TeamState::verify(entries, Some(&p.head))?;
        }
        None if !state.self_certifying() && !allow_unpinned => {
            return Err(ChainError::Invalid(0, "a team this account never pinned, whose id is not its genesis's"));
        }
        None => {}
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::tests::{append, new_chain_for, Person};
    use crate::chain::{team_id_for, Action};
    use crate::ids::CollectionId;

    #[test]
    fn pinned_and_self_certifying_teams_refuse_a_ghost_genesis() {
        let (ann, mallory) = (Person::new("ann"), Person::new("mallory"));
        let collection = CollectionId::random();
        let team = team_id_for(&ann.keys.public(), &collection);
        let real = new_chain_for(&ann, team, collection);
        let state = verify_pinned(&real, team, None, None, false).unwrap();
        assert!(state.self_certifying());

        // The server invents a genesis for the same id, with its own admin (a ghost).
        let ghost = new_chain_for(&mallory, team, collection);
        assert!(TeamState::verify(&ghost, None).is_ok(), "internally consistent");
        assert!(verify_pinned(&ghost, team, None, None, false).is_err(), "not self-certifying");
        // A team from before derived ids: refused unless pinned (or met first, on trust).
        let legacy_id = TeamId::random();
        let legacy = new_chain_for(&ann, legacy_id, collection);
        assert!(verify_pinned(&legacy, legacy_id, None, None, false).is_err());
        let legacy_state = verify_pinned(&legacy, legacy_id, None, None, true).unwrap();
        let pin = TeamPin {
            team: legacy_id,
            genesis: legacy_state.genesis_hash(),
            head: legacy_state.known_head(),
            audit: None,
            records: Vec::new(),
        };
        let ghost_legacy = new_chain_for(&mallory, legacy_id, collection);
        let refused = verify_pinned(&ghost_legacy, legacy_id, Some(&pin), None, true).unwrap_err();
        assert!(refused.to_string().contains("genesis this account pinned"), "{refused}");
        assert!(verify_pinned(&legacy, legacy_id, Some(&pin), None, false).is_ok());

        // A pinned head longer than what the server serves: a rollback.
        let mut longer = legacy.clone();
        append(&mut longer, &ann, Action::Rotate { epoch: 2 });
        let long_state = TeamState::verify(&longer, None).unwrap();
        let pin = TeamPin { head: long_state.known_head(), ..pin };
        assert!(matches!(
            verify_pinned(&legacy, legacy_id, Some(&pin), None, false).unwrap_err(),
            ChainError::Rollback { .. }
        ));
    }

    /// An account in many teams, each with its full list of record pins, still seals
    /// within what the server stores, every team's newest records kept.
    #[test]
    fn pins_of_many_teams_fit_what_the_server_stores() {
        let keys = IdentityKeys::generate();
        let ann = Username::parse("ann").unwrap();
        let mut pins = AccountPins::new([1; 16], KdfParams::DEFAULT);
        for i in 0..12u8 {
            let team = TeamId::random();
            pins.note_head(team, [i; 32], KnownHead { len: 3, hash: [i; 32] });
            let seen: Vec<RecordPin> =
                (0..MAX_RECORD_PINS as u64).map(|v| RecordPin { record: RecordId::random(), version: v + 1 }).collect();
            pins.note_records(team, &seen);
        }
        let blob = pins.seal(&ann, &keys);
        assert!(blob.len() <= MAX_PINS_BYTES, "{} bytes", blob.len());
        let back = AccountPins::open(&blob, &ann, &keys).unwrap();
        assert_eq!(back.teams.len(), 12);
        for (t, full) in back.teams.iter().zip(&pins.teams) {
            assert!(!t.records.is_empty() && t.records.len() < full.records.len());
            assert_eq!(t.records[..], full.records[..t.records.len()], "the newest kept");
            assert_eq!(t.head, full.head);
        }
    }

    #[test]
    fn pins_seal_for_one_account_and_only_grow() {
        let keys = IdentityKeys::generate();
        let ann = Username::parse("ann").unwrap();
        let mut pins = AccountPins::new([1; 16], KdfParams::DEFAULT);
        let team = TeamId::random();
        assert!(pins.note_head(team, [9; 32], KnownHead { len: 3, hash: [3; 32] }));
        assert!(!pins.note_head(team, [9; 32], KnownHead { len: 2, hash: [2; 32] }), "a shorter head never replaces");
        assert!(pins.note_audit(team, Checkpoint { seq: 5, hash: [5; 32] }));
        assert!(!pins.note_audit(team, Checkpoint { seq: 4, hash: [4; 32] }));
        let sealed = pins.seal(&ann, &keys);
        assert_eq!(AccountPins::open(&sealed, &ann, &keys).unwrap(), pins);
        assert!(AccountPins::open(&sealed, &Username::parse("bob").unwrap(), &keys).is_err(), "another account's");
        assert!(AccountPins::open(&sealed, &ann, &IdentityKeys::generate()).is_err(), "another key");
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(AccountPins::open(&tampered, &ann, &keys).is_err());
        assert!(!String::from_utf8_lossy(&sealed).contains(&team.to_string()), "the server learns nothing");
    }

    #[test]
    fn record_pins_keep_the_newest_records_at_their_highest_versions() {
        let mut pins = AccountPins::new([1; 16], KdfParams::DEFAULT);
        let team = TeamId::random();
        pins.note_head(team, [9; 32], KnownHead { len: 1, hash: [9; 32] });
        let ids: Vec<RecordId> = (0..MAX_RECORD_PINS + 5).map(|_| RecordId::random()).collect();
        let seen: Vec<RecordPin> = ids.iter().map(|&record| RecordPin { record, version: 3 }).collect();
        assert!(pins.note_records(team, &seen));
        assert_eq!(pins.team(team).unwrap().records.len(), MAX_RECORD_PINS);
        assert!(!pins.note_records(team, &seen[..1]), "the same again changes nothing");
        // A lower version never lowers a pin; a record seen again moves to the front.
        assert!(pins.note_records(team, &[RecordPin { record: ids[7], version: 1 }]));
        assert_eq!(pins.team(team).unwrap().records[0], RecordPin { record: ids[7], version: 3 });
        assert!(pins.note_records(team, &[RecordPin { record: ids[8], version: 9 }]));
        assert_eq!(pins.team(team).unwrap().records[0], RecordPin { record: ids[8], version: 9 });
    }
}
