//! Freshness beacons: an admin's signed word that, at a time, the team chain's head was
//! this one.
//!
//! No client can tell a consistent frozen view from a quiet team without a second
//! channel: a server that shows one member the chain as it was before a removal,
//! filters out every newer record and answers that member's pushes itself keeps them
//! sealing under keys the removed member holds. Beacons bound how long that can last.
//! Admins' devices sign the head of the chain they verified every few minutes while
//! online ([`Beacon::sign`]); the server keeps the newest each admin posted and hands
//! them to every member. A member's client counts its verified chain *confirmed* at the
//! newest time an admin of that chain signed exactly its head ([`confirmed_at`]): a
//! beacon on that head, or the chain's newest entry itself (an admin signed it on that
//! head). The rule, applied by the sync engine ([`crate::sync::Syncer::freshness`]):
//!
//! - Confirmed longer ago than the team's lease ([`crate::team::beacon_lease_ms`],
//!   24 hours unless an admin set another): the sync bar says so, and no new edit is
//!   sealed — edits wait in the outbox — until a beacon on this client's head comes
//!   that is younger than the lease. Re-encryption and repairs still go out (they carry
//!   no new edit, and re-encryption is what moves records off a removed member's keys).
//! - A beacon by an admin of the verified chain on a longer head ([`Standing::Ahead`]):
//!   the chain moved past what this client verified. Nothing new is sealed until a read
//!   of the chain answers it (as for an admin's record sealed on a longer head).
//! - A beacon on another history at a length the chain holds ([`Standing::Fork`]): the
//!   server shows members two teams; nothing new is sealed.
//! - A beacon on an earlier head confirms nothing newer than the entries after it, which
//!   are admins' words themselves; a beacon dated further ahead than the allowed clock
//!   skew, by anyone but an admin of the verified chain, for another team or with a
//!   signature that does not hold is ignored.
//!
//! What remains: within the lease a frozen view goes unnoticed (fork consistency is the
//! limit without a second channel); an admin's own beacons count on that admin's
//! devices; and a server that withholds beacons stops a member writing, which it could
//! do anyway by refusing their pushes.

use serde::{Deserialize, Serialize};

use crate::chain::{HeadCheck, TeamState};
use crate::crypto::envelope::ChainHead;
use crate::crypto::identity::{IdentityKeys, PublicIdentity};
use crate::crypto::label;
use crate::encoding::Writer;
use crate::ids::{TeamId, Username};

/// How often an admin's device publishes a beacon while online.
pub const PUBLISH_EVERY_MS: u64 = 5 * 60_000;

/// An admin's signed word that the chain of `team` had `len` entries ending in `head`
/// at `at_ms` (the admin's clock, Unix ms).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beacon {
    pub team: TeamId,
    pub len: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "crate::encoding::b64_32")]
    pub head: [u8; 32],
    /// The admin who signed it.
    pub admin: Username,
    pub at_ms: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "crate::encoding::b64_64")]
    pub signature: [u8; 64],
}

/// Where a beacon stands against a client's verified chain ([`Beacon::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// On exactly this chain's head: confirms it at the beacon's time.
    Confirms,
    /// On an earlier head of this chain: confirms nothing newer than what followed.
    Older,
    /// Longer than this chain: the chain moved past what this client verified.
    Ahead,
    /// Another history, at a length this chain holds.
    Fork,
}

/// Why a beacon is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BeaconRefusal {
    #[error("the beacon is for another team")]
    OtherTeam,
    #[error("the beacon is not signed by an admin of the verified chain")]
    NotAnAdmin,
    #[error("the beacon's signature does not hold")]
    BadSignature,
    #[error("the beacon is dated in the future")]
    FromTheFuture,
}

impl Beacon {
    /// The signed bytes (frozen by the golden test below).
    fn statement(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128);
        w.fixed(label::BEACON)
            .fixed(self.team.as_bytes())
            .u64(self.len)
            .fixed(&self.head)
            .short_str(self.admin.as_str())
            .u64(self.at_ms as u64);
        w.finish()
    }

    /// Sign `head` of `team`'s chain as `admin` at `at_ms`.
    pub fn sign(team: TeamId, head: ChainHead, admin: Username, at_ms: i64, keys: &IdentityKeys) -> Self {
        let mut b = Beacon { team, len: head.len, head: head.hash, admin, at_ms, signature: [0; 64] };
        b.signature = keys.sign(&b.statement());
        b
    }

    /// The chain head it names.
    pub fn chain_head(&self) -> ChainHead {
        ChainHead { len: self.len, hash: self.head }
    }

    /// Whether `key` signed it (the server checks the poster's registered key; a
    /// client's own check is [`Beacon::check`]).
    pub fn verify_signature(&self, key: &PublicIdentity) -> bool {
        key.verify(&self.statement(), &self.signature).is_ok()
    }

    /// Judge the beacon against `state`, this client's verified chain, at `now_ms` (the
    /// device's clock): signed by an admin of that chain for its team, dated no further
    /// ahead than [`crate::hlc::MAX_CLOCK_SKEW_MS`] (a beacon dated ahead would stretch
    /// the lease), and where its head stands.
    pub fn check(&self, state: &TeamState, now_ms: i64) -> Result<Standing, BeaconRefusal> {
        if self.team != state.team {
            return Err(BeaconRefusal::OtherTeam);
        }
        let admin = state.members.get(&self.admin).filter(|_| state.is_admin(&self.admin));
        let admin = admin.ok_or(BeaconRefusal::NotAnAdmin)?;
        if !self.verify_signature(&admin.identity) {
            return Err(BeaconRefusal::BadSignature);
        }
        if self.at_ms > now_ms.saturating_add(crate::hlc::MAX_CLOCK_SKEW_MS as i64) {
            return Err(BeaconRefusal::FromTheFuture);
        }
        Ok(match state.check_head(&self.chain_head()) {
            HeadCheck::Known if self.len == state.len => Standing::Confirms,
            HeadCheck::Known => Standing::Older,
            HeadCheck::Ahead => Standing::Ahead,
            HeadCheck::Fork => Standing::Fork,
        })
    }
}

/// The newest time an admin of `state` signed exactly its head, as far as this client
/// knows at `now_ms`: the newest entry's time, or a beacon's in `beacons` that confirms
/// the head ([`Standing::Confirms`]), whichever is later. Times further ahead than the
/// allowed clock skew do not count (an entry dated ahead counts as now).
pub fn confirmed_at<'a>(state: &TeamState, beacons: impl IntoIterator<Item = &'a Beacon>, now_ms: i64) -> i64 {
    let entry = state.head_at_ms.min(now_ms);
    beacons
        .into_iter()
        .filter(|b| b.check(state, now_ms) == Ok(Standing::Confirms))
        .map(|b| b.at_ms.min(now_ms))
        .fold(entry, i64::max)
}

/// How recently an admin confirmed this client's verified chain, against the team's
/// lease ([`crate::sync::Syncer::freshness`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// [`confirmed_at`].
    pub confirmed_ms: i64,
    /// The team's lease ([`crate::team::beacon_lease_ms`]).
    pub lease_ms: u64,
    /// The device's clock.
    pub now_ms: i64,
}

impl Freshness {
    /// Whether the confirmation is older than the lease: no new edit is sealed.
    pub fn lapsed(&self) -> bool {
        self.now_ms.saturating_sub(self.confirmed_ms) > self.lease_ms as i64
    }

    /// Whole hours since the chain was last confirmed.
    pub fn hours(&self) -> u64 {
        (self.now_ms.saturating_sub(self.confirmed_ms).max(0) as u64) / 3_600_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::tests::{append, new_chain, new_chain_for, Person};
    use crate::chain::{Action, Role};
    use crate::ids::CollectionId;

    #[test]
    fn only_an_admins_beacon_on_this_chain_confirms_it_and_a_longer_or_other_head_is_told() {
        let (ann, bob, max) = (Person::new("ann"), Person::new("bob"), Person::new("max"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        append(&mut chain, &ann, Action::AddMember { member: max.member(Role::Admin) });
        let older = TeamState::verify(&chain[..2], None).unwrap();
        let state = TeamState::verify(&chain, None).unwrap();
        let now = 10_000_000;
        let by = |p: &Person, s: &TeamState, at: i64| Beacon::sign(s.team, s.chain_head(), p.name.clone(), at, &p.keys);

        assert_eq!(by(&ann, &state, now).check(&state, now), Ok(Standing::Confirms));
        assert_eq!(by(&max, &state, now).check(&state, now), Ok(Standing::Confirms), "any admin");
        assert_eq!(by(&ann, &older, now).check(&state, now), Ok(Standing::Older));
        assert_eq!(by(&ann, &state, now).check(&older, now), Ok(Standing::Ahead), "this client's chain is stale");
        assert_eq!(by(&bob, &state, now).check(&state, now), Err(BeaconRefusal::NotAnAdmin));
        let forged = Beacon { admin: ann.name.clone(), ..by(&bob, &state, now) };
        assert_eq!(forged.check(&state, now), Err(BeaconRefusal::BadSignature), "bob's key under ann's name");
        let altered = Beacon { at_ms: now + 1, ..by(&ann, &state, now) };
        assert_eq!(altered.check(&state, now), Err(BeaconRefusal::BadSignature));
        let ahead = by(&ann, &state, now + crate::hlc::MAX_CLOCK_SKEW_MS as i64 + 1);
        assert_eq!(ahead.check(&state, now), Err(BeaconRefusal::FromTheFuture));
        let other = TeamState::verify(&new_chain_for(&ann, TeamId::random(), CollectionId::random()), None).unwrap();
        assert_eq!(by(&ann, &other, now).check(&state, now), Err(BeaconRefusal::OtherTeam));

        // Another history at a length this chain holds: a fork.
        let mut fork = chain[..2].to_vec();
        append(&mut fork, &ann, Action::AddMember { member: Person::new("eve").member(Role::Member) });
        let forked = TeamState::verify(&fork, None).unwrap();
        assert_eq!(by(&ann, &forked, now).check(&state, now), Ok(Standing::Fork));

        // A removed admin's beacon counts no more.
        append(&mut chain, &ann, Action::RemoveMember { username: max.name.clone() });
        let after = TeamState::verify(&chain, None).unwrap();
        assert_eq!(by(&max, &after, now).check(&after, now), Err(BeaconRefusal::NotAnAdmin));
    }

    #[test]
    fn the_chain_is_confirmed_by_its_newest_entry_or_a_newer_beacon_on_its_head_and_lapses_after_the_lease() {
        let (ann, bob) = (Person::new("ann"), Person::new("bob"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        assert_eq!(state.head_at_ms, 0, "the test chain's entries are signed at 0");
        let hour = 3_600_000;
        let now = 30 * hour;
        assert_eq!(confirmed_at(&state, &[], now), 0);
        let fresh = Beacon::sign(state.team, state.chain_head(), ann.name.clone(), 29 * hour, &ann.keys);
        let by_member = Beacon::sign(state.team, state.chain_head(), bob.name.clone(), now, &bob.keys);
        assert_eq!(confirmed_at(&state, [&fresh, &by_member], now), 29 * hour, "a member's beacon counts for nothing");
        let lease = 24 * hour as u64;
        let f = Freshness { confirmed_ms: confirmed_at(&state, [&fresh], now), lease_ms: lease, now_ms: now };
        assert!(!f.lapsed());
        let f = Freshness { confirmed_ms: 0, lease_ms: lease, now_ms: now };
        assert!(f.lapsed());
        assert_eq!(f.hours(), 30);
    }

    /// The signed bytes of a beacon never change: a beacon signed by this version
    /// still verifies in every later one.
    #[test]
    fn golden_beacon() {
        let keys = IdentityKeys::from_secret_bytes([1; 32], [2; 32], [3; 32]);
        let b = Beacon::sign(
            TeamId([7; 16]),
            ChainHead { len: 5, hash: [0xAB; 32] },
            Username::parse("ann").unwrap(),
            1_700_000_000_000,
            &keys,
        );
        let golden = include_str!("../tests/golden/beacon_v1.hex").trim();
        let (statement, signature) = golden.split_once(' ').unwrap();
        assert_eq!(hex::encode(b.statement()), statement);
        assert_eq!(hex::encode(b.signature), signature, "ed25519 signatures are deterministic");
        assert!(b.verify_signature(&keys.public()));
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Beacon>(&json).unwrap(), b);
    }
}
