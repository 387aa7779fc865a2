//! Restore notices: an admin's signed word that the team's server was restored from a
//! backup and now runs as a given *generation*.
//!
//! A restored server starts a new generation of its database; its cursors carry the
//! generation in their high bits ([`generation_of`]). A client whose cursor is from
//! another generation is told `reset`: start the pull over, merge what the server holds
//! field by field, and give back every record it holds (what the backup lacks). That
//! bit alone is the server's word, so a client acts on it only with a notice for the
//! new generation signed by an admin of the chain it verified ([`RestoreNotice::check`]):
//! whoever restored the server asks an admin, who confirms it on the Team page, and from
//! then on every device carries on by itself. Without one the client changes nothing —
//! its cursor, records, pins and outbox stay as they are — and its sync says it waits
//! for an admin's confirmation.
//!
//! A notice is honoured for [`MAX_NOTICE_AGE_MS`] after it was signed (an admin
//! confirms again for a device that was away longer), never when dated further ahead
//! than the allowed clock skew, and only for a generation other than the client's own.
//! What remains: within that window a server can replay a notice to a device that is on
//! a later generation, which costs that device a full download and upload and nothing
//! it holds (see SECURITY.md).

use serde::{Deserialize, Serialize};

use crate::chain::TeamState;
use crate::crypto::identity::{IdentityKeys, PublicIdentity};
use crate::crypto::label;
use crate::encoding::Writer;
use crate::ids::{TeamId, Username};

/// How many low bits of a cursor count changes; the bits above are the generation of
/// the database that gave it out (0 until the server is first restored from a backup).
pub const CURSOR_SEQ_BITS: u32 = 48;

/// How long after signing a notice is honoured: 30 days.
pub const MAX_NOTICE_AGE_MS: i64 = 30 * 24 * 3_600_000;

/// The generation of the database that gave out `cursor`.
pub fn generation_of(cursor: u64) -> u64 {
    cursor >> CURSOR_SEQ_BITS
}

/// An admin's signed word that `team`'s server was restored from a backup and runs as
/// `generation` ([`generation_of`] its cursors), at `at_ms` (the admin's clock, Unix ms).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreNotice {
    pub team: TeamId,
    pub generation: u64,
    /// The admin who signed it.
    pub admin: Username,
    pub at_ms: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "crate::encoding::b64_64")]
    pub signature: [u8; 64],
}

/// Why a notice is not honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoticeRefusal {
    #[error("the restore notice is for another team")]
    OtherTeam,
    #[error("the restore notice is for another generation of the server")]
    OtherGeneration,
    #[error("the restore notice is not signed by an admin of the verified chain")]
    NotAnAdmin,
    #[error("the restore notice's signature does not hold")]
    BadSignature,
    #[error("the restore notice is dated in the future")]
    FromTheFuture,
    #[error("the restore notice is older than 30 days")]
    TooOld,
}

impl RestoreNotice {
    /// The signed bytes (frozen by the golden test below).
    fn statement(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(96);
        w.fixed(label::RESTORE_NOTICE)
            .fixed(self.team.as_bytes())
            .u64(self.generation)
            .short_str(self.admin.as_str())
            .u64(self.at_ms as u64);
        w.finish()
    }

    /// Sign, as `admin`, that `team`'s server runs as `generation` since a restore.
    pub fn sign(team: TeamId, generation: u64, admin: Username, at_ms: i64, keys: &IdentityKeys) -> Self {
        let mut n = RestoreNotice { team, generation, admin, at_ms, signature: [0; 64] };
        n.signature = keys.sign(&n.statement());
        n
    }

    /// Whether `key` signed it (the server checks the poster's registered key; a
    /// client's own check is [`RestoreNotice::check`]).
    pub fn verify_signature(&self, key: &PublicIdentity) -> bool {
        key.verify(&self.statement(), &self.signature).is_ok()
    }

    /// Judge the notice for a client whose verified chain is `state`, told at `now_ms`
    /// (its clock) that the server now runs as `generation`: for that team and that
    /// generation, signed by an admin of the chain, dated no further ahead than the
    /// allowed clock skew and no longer ago than [`MAX_NOTICE_AGE_MS`].
    pub fn check(&self, state: &TeamState, generation: u64, now_ms: i64) -> Result<(), NoticeRefusal> {
        if self.team != state.team {
            return Err(NoticeRefusal::OtherTeam);
        }
        if self.generation != generation {
            return Err(NoticeRefusal::OtherGeneration);
        }
        let admin = state.members.get(&self.admin).filter(|_| state.is_admin(&self.admin));
        let admin = admin.ok_or(NoticeRefusal::NotAnAdmin)?;
        if !self.verify_signature(&admin.identity) {
            return Err(NoticeRefusal::BadSignature);
        }
        if self.at_ms > now_ms.saturating_add(crate::hlc::MAX_CLOCK_SKEW_MS as i64) {
            return Err(NoticeRefusal::FromTheFuture);
        }
        if now_ms.saturating_sub(self.at_ms) > MAX_NOTICE_AGE_MS {
            return Err(NoticeRefusal::TooOld);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::tests::{append, new_chain, Person};
    use crate::chain::{Action, Role};

    #[test]
    fn only_an_admins_recent_notice_for_this_team_and_generation_is_honoured() {
        let (ann, bob) = (Person::new("ann"), Person::new("bob"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        let now = 100 * 24 * 3_600_000;
        let by = |p: &Person, generation: u64, at: i64| {
            RestoreNotice::sign(state.team, generation, p.name.clone(), at, &p.keys)
        };
        assert_eq!(by(&ann, 7, now - 1000).check(&state, 7, now), Ok(()));
        assert_eq!(by(&ann, 7, now).check(&state, 8, now), Err(NoticeRefusal::OtherGeneration));
        assert_eq!(by(&bob, 7, now).check(&state, 7, now), Err(NoticeRefusal::NotAnAdmin));
        let mut other = by(&ann, 7, now);
        other.team = TeamId([9; 16]);
        assert_eq!(other.check(&state, 7, now), Err(NoticeRefusal::OtherTeam));
        let mut forged = by(&ann, 7, now);
        forged.at_ms += 1;
        assert_eq!(forged.check(&state, 7, now), Err(NoticeRefusal::BadSignature));
        let ahead = now + crate::hlc::MAX_CLOCK_SKEW_MS as i64 + 1;
        assert_eq!(by(&ann, 7, ahead).check(&state, 7, now), Err(NoticeRefusal::FromTheFuture));
        let old = now - MAX_NOTICE_AGE_MS - 1;
        assert_eq!(by(&ann, 7, old).check(&state, 7, now), Err(NoticeRefusal::TooOld));
        // A bob signature in ann's name does not hold either.
        let mut borrowed = by(&bob, 7, now);
        borrowed.admin = ann.name.clone();
        assert_eq!(borrowed.check(&state, 7, now), Err(NoticeRefusal::BadSignature));
    }

    #[test]
    fn a_cursors_generation_is_its_high_bits() {
        assert_eq!(generation_of(0), 0);
        assert_eq!(generation_of((1 << CURSOR_SEQ_BITS) - 1), 0);
        assert_eq!(generation_of((5 << CURSOR_SEQ_BITS) | 12), 5);
    }

    #[test]
    fn golden_restore_notice() {
        let keys = IdentityKeys::from_secret_bytes([1; 32], [2; 32], [3; 32]);
        let n = RestoreNotice::sign(TeamId([7; 16]), 4242, Username::parse("ann").unwrap(), 1_700_000_000_000, &keys);
        let golden = include_str!("../tests/golden/restore_notice_v1.hex").trim();
        let (statement, signature) = golden.split_once(' ').unwrap();
        assert_eq!(hex::encode(n.statement()), statement);
        assert_eq!(hex::encode(n.signature), signature, "ed25519 signatures are deterministic");
        assert!(n.verify_signature(&keys.public()));
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<RestoreNotice>(&json).unwrap(), n);
    }
}
