// Long: the team chain's entries, the rules each must pass and the state they build, which are checked together.
//! The team chain: an append-only, hash-linked log of membership entries, each signed
//! by an admin's Ed25519 key.
//!
//! Every client replays the whole chain from the genesis entry ([`TeamState::verify`])
//! and refuses it if a signature, a hash link or an author's admin right does not
//! check out, or if it is shorter than (or diverges from) the longest chain the client
//! has already seen ([`KnownHead`]). The server stores the chain and refuses forks, but
//! it holds no admin key, so it cannot add a ghost member or swap anyone's public key.
//!
//! Nobody joins without saying so: an addition ([`Action::Admit`]) carries the joiner's
//! [`Acceptance`], signed with the key the entry gives them, for this team, this
//! invitation, this role and this inviting admin. Chains written before acceptances
//! existed (genesis [`Action::Create`], additions [`Action::AddMember`]) keep
//! verifying, and their members are marked [`TeamState::unaccepted`]; a team founded
//! since ([`Action::Found`]), or one that has taken an acceptance, takes no addition
//! without one.
//!
//! Signed and hashed bytes are a hand-written binary encoding ([`ChainEntry::body`]);
//! JSON is only the transport.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::crypto::identity::{IdentityKeys, PublicIdentity};
use crate::crypto::{label, sha256};
use crate::encoding::Writer;
use crate::ids::{CollectionId, InviteId, TeamId, Username};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Member,
    Support,
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let all = [Role::Admin, Role::Manager, Role::Member, Role::Support].map(|r| (r.as_str(), r));
        crate::encoding::named(d, &all)
    }
}

impl Role {
    /// The role with this name (`admin`, `manager`, `member`, `support`).
    pub fn from_name(name: &str) -> Option<Role> {
        [Role::Admin, Role::Manager, Role::Member, Role::Support].into_iter().find(|r| r.as_str() == name)
    }

    /// The role with this byte ([`Role::code`]).
    pub fn from_code(code: u8) -> Option<Role> {
        [Role::Admin, Role::Manager, Role::Member, Role::Support].into_iter().find(|r| r.code() == code)
    }

    /// The role's byte in signed and MAC'd encodings.
    pub fn code(self) -> u8 {
        match self {
            Role::Admin => 1,
            Role::Manager => 2,
            Role::Member => 3,
            Role::Support => 4,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Member => "member",
            Role::Support => "support",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub username: Username,
    pub identity: PublicIdentity,
    pub role: Role,
}

/// A joiner's signed consent to join a team: made by their client when it answers an
/// invitation, with the identity key the chain entry gives them, over the team, the
/// invitation, the role the link offered, their username and public keys, and the
/// admin whose link it was. The admin's client puts it into the [`Action::Admit`] entry;
/// every verifier checks it, so neither an admin nor the server adds someone who did
/// not answer that admin's invitation for that role, and an invitation admits once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    pub invite: InviteId,
    /// The inviting admin, as the link named them; `None` for links made before links
    /// named one (then any admin of the team may admit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inviter: Option<Username>,
    #[serde(with = "crate::encoding::b64_64")]
    pub signature: [u8; 64],
}

impl Acceptance {
    fn statement(team: TeamId, invite: InviteId, inviter: Option<&Username>, member: &Member) -> Vec<u8> {
        let mut w = Writer::with_capacity(160);
        w.fixed(label::JOIN_ACCEPTANCE).fixed(team.as_bytes()).fixed(invite.as_bytes());
        w.short_str(inviter.map_or("", |u| u.as_str()));
        write_member(&mut w, member);
        w.finish()
    }

    /// The joiner's acceptance of `invite` into `team` as `member` (their username,
    /// public keys and the offered role), signed with their identity key.
    pub fn sign(
        team: TeamId,
        invite: InviteId,
        inviter: Option<Username>,
        member: &Member,
        keys: &IdentityKeys,
    ) -> Self {
        let signature = keys.sign(&Self::statement(team, invite, inviter.as_ref(), member));
        Acceptance { invite, inviter, signature }
    }

    /// Whether `member` (with the keys the entry names) signed this for `team`.
    pub fn verify(&self, team: TeamId, member: &Member) -> bool {
        let statement = Self::statement(team, self.invite, self.inviter.as_ref(), member);
        member.identity.verify(&statement, &self.signature).is_ok()
    }
}

/// In JSON, externally tagged: `{"rotate":{"epoch":2}}`. (It was internally tagged,
/// `{"type":"rotate","epoch":2}`, which makes every reader buffer the entry through
/// serde's generic `Content` first — a cost in the browser bundle; the server's
/// migration `0007` rewrote stored entries. Signatures and hashes cover the binary
/// encoding, not the JSON, so no entry's meaning or hash changed.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Genesis, as written before acceptances existed: the team, its first admin (the
    /// author) and its shared collection. Members may be added with [`Action::AddMember`]
    /// until the first [`Action::Admit`].
    Create {
        admin: Member,
        shared_collection: CollectionId,
    },
    /// An addition written before acceptances existed: verifies only in a team that was
    /// [`Action::Create`]d and has taken no [`Action::Admit`]; the member is marked
    /// [`TeamState::unaccepted`].
    AddMember {
        member: Member,
    },
    ChangeRole {
        username: Username,
        role: Role,
    },
    /// Removal also starts a new key epoch.
    RemoveMember {
        username: Username,
    },
    /// Start epoch `epoch` (must be the current epoch + 1).
    Rotate {
        epoch: u32,
    },
    /// Every epoch below `below` is retired: re-encryption has moved every record off
    /// them, so clients refuse any envelope still sealed under one (what a removed
    /// member could still seal with the keys they kept). `below` ≤ the current epoch,
    /// and never goes down.
    Retire {
        below: u32,
    },
    /// Genesis of a team whose members join only with their signed acceptance: the same
    /// fields as [`Action::Create`].
    Found {
        admin: Member,
        shared_collection: CollectionId,
    },
    /// Add a member who accepted (their [`Acceptance`], signed with `member`'s key).
    Admit {
        member: Member,
        acceptance: Acceptance,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    pub team: TeamId,
    pub index: u64,
    #[serde(with = "crate::encoding::b64_32")]
    pub prev: [u8; 32],
    pub author: Username,
    pub at_ms: i64,
    pub action: Action,
    #[serde(with = "crate::encoding::b64_64")]
    pub signature: [u8; 64],
}

fn write_member(w: &mut Writer, m: &Member) {
    w.short_str(m.username.as_str()).fixed(&m.identity.sign_pk).fixed(&m.identity.dh_pk).u8(m.role.code());
}

impl ChainEntry {
    /// The canonical bytes that are signed (and, with the signature, hashed).
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(160);
        w.fixed(self.team.as_bytes())
            .u64(self.index)
            .fixed(&self.prev)
            .short_str(self.author.as_str())
            .u64(self.at_ms as u64);
        match &self.action {
            Action::Create { admin, shared_collection } => {
                w.u8(1);
                write_member(&mut w, admin);
                w.fixed(shared_collection.as_bytes());
            }
            Action::AddMember { member } => {
                w.u8(2);
                write_member(&mut w, member);
            }
            Action::ChangeRole { username, role } => {
                w.u8(3).short_str(username.as_str()).u8(role.code());
            }
            Action::RemoveMember { username } => {
                w.u8(4).short_str(username.as_str());
            }
            Action::Rotate { epoch } => {
                w.u8(5).u32(*epoch);
            }
            Action::Retire { below } => {
                w.u8(6).u32(*below);
            }
            Action::Found { admin, shared_collection } => {
                w.u8(7);
                write_member(&mut w, admin);
                w.fixed(shared_collection.as_bytes());
            }
            Action::Admit { member, acceptance } => {
                w.u8(8);
                write_member(&mut w, member);
                w.fixed(acceptance.invite.as_bytes())
                    .short_str(acceptance.inviter.as_ref().map_or("", |u| u.as_str()))
                    .fixed(&acceptance.signature);
            }
        }
        w.finish()
    }

    fn signed_message(&self) -> Vec<u8> {
        [label::CHAIN_SIG, &self.body()].concat()
    }

    /// The link the next entry must carry as `prev`.
    pub fn hash(&self) -> [u8; 32] {
        sha256(label::CHAIN_ENTRY, &[&self.body(), &self.signature])
    }

    /// Build and sign an entry.
    pub fn signed(
        team: TeamId,
        index: u64,
        prev: [u8; 32],
        author: &Username,
        keys: &IdentityKeys,
        at_ms: i64,
        action: Action,
    ) -> Self {
        let mut e = ChainEntry { team, index, prev, author: author.clone(), at_ms, action, signature: [0; 64] };
        e.signature = keys.sign(&e.signed_message());
        e
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    #[error("the chain is empty")]
    Empty,
    #[error("entry {0}: signature does not verify")]
    BadSignature(u64),
    #[error("entry {0}: hash link or index broken")]
    BrokenLink(u64),
    #[error("entry {0}: author is not an admin")]
    NotAdmin(u64),
    #[error("entry {0}: {1}")]
    Invalid(u64, &'static str),
    #[error("the chain is shorter than one already seen ({seen} > {got}): refusing a rollback")]
    Rollback { seen: u64, got: u64 },
    #[error("the chain diverges from the one already seen at entry {0}: refusing a fork")]
    Fork(u64),
}

/// The longest chain a client has verified: its length and head hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownHead {
    pub len: u64,
    #[serde(with = "crate::encoding::b64_32")]
    pub hash: [u8; 32],
}

/// What a verified chain says: who is in the team, with which keys and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamState {
    pub team: TeamId,
    pub members: BTreeMap<Username, Member>,
    /// Everyone ever admitted, with the keys they had; signatures by former members
    /// on data written before their removal still verify.
    pub ever: BTreeMap<Username, PublicIdentity>,
    /// Former admins (demoted or removed), with the last epoch they held the right to
    /// hand out keys for: their wraps up to that epoch stay valid, later ones do not.
    pub admin_until: BTreeMap<Username, u32>,
    /// Removed members, with the last epoch they held keys of: what they sealed under
    /// that epoch or an earlier one may be genuine; anything later cannot be.
    pub left_at: BTreeMap<Username, u32>,
    /// Removed members, with the chain's length once it held their removal: a version
    /// they signed on a head that long, or written on a version sealed on one, was
    /// written after they left.
    pub left_len: BTreeMap<Username, u64>,
    /// Epochs below this are retired ([`Action::Retire`]); 1 = none.
    pub retired_below: u32,
    /// Whether every addition needs the joiner's [`Acceptance`]: a team [`Action::Found`]ed
    /// so, or one that has taken an [`Action::Admit`].
    pub needs_acceptance: bool,
    /// Current members added without their acceptance (by an [`Action::AddMember`] of a
    /// chain written before acceptances existed).
    pub unaccepted: BTreeSet<Username>,
    /// Invitations an acceptance has already admitted someone with (each admits once).
    admitted_invites: BTreeSet<InviteId>,
    pub epoch: u32,
    /// When the current epoch began (the signing admin's clock, Unix ms).
    pub epoch_started_ms: i64,
    /// When the newest entry was signed (its admin's clock, Unix ms): an admin's word
    /// that the chain's head was this one then (see [`crate::beacon`]).
    pub head_at_ms: i64,
    pub shared_collection: CollectionId,
    pub len: u64,
    pub head: [u8; 32],
    /// The hash of every entry, in order (`heads[len - 1] == head`): what lets a
    /// reader tell whether a writer's chain head is on this history.
    pub heads: Vec<[u8; 32]>,
    /// The first admin's keys and the shared collection, as the genesis names them.
    founder: Option<(PublicIdentity, CollectionId)>,
}

/// The id of a team whose genesis names `admin` as first admin and `shared_collection`
/// (random) as its shared collection. A team created with this id is self-certifying:
/// a genesis for it verifies only if signed by that admin's key.
pub fn team_id_for(admin: &PublicIdentity, shared_collection: &CollectionId) -> TeamId {
    let h = sha256(label::TEAM_ID, &[&admin.sign_pk, &admin.dh_pk, shared_collection.as_bytes()]);
    TeamId(h[..16].try_into().expect("16 of 32 bytes"))
}

/// How a chain head a writer sealed on relates to the one this client verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadCheck {
    /// On this client's history (the same head, or an earlier one of it).
    Known,
    /// Longer than this client's chain: the server has not shown this client the
    /// newest entries (or withholds them).
    Ahead,
    /// A different history: at that length, this client's chain has another entry.
    Fork,
}

impl TeamState {
    /// Where `head` (a writer's view, from an envelope) stands against this chain.
    pub fn check_head(&self, head: &crate::crypto::envelope::ChainHead) -> HeadCheck {
        match head.len {
            0 => HeadCheck::Fork,
            n if n > self.len => HeadCheck::Ahead,
            n if self.heads.get((n - 1) as usize) == Some(&head.hash) => HeadCheck::Known,
            _ => HeadCheck::Fork,
        }
    }

    /// This chain's head, as bound into the envelopes this client seals.
    pub fn chain_head(&self) -> crate::crypto::envelope::ChainHead {
        crate::crypto::envelope::ChainHead { len: self.len, hash: self.head }
    }

    /// The hash of the genesis entry.
    pub fn genesis_hash(&self) -> [u8; 32] {
        self.heads[0]
    }

    /// Whether the team id is the one derived from the genesis ([`team_id_for`]):
    /// nobody without the first admin's signing key can make another chain for it.
    pub fn self_certifying(&self) -> bool {
        self.founder.as_ref().is_some_and(|(admin, collection)| team_id_for(admin, collection) == self.team)
    }

    /// Verify a whole chain for the team `team` (the id this client was given by an
    /// invitation link or its account's pins, never by the server's listing).
    pub fn verify_team(
        entries: &[ChainEntry],
        team: TeamId,
        known: Option<&KnownHead>,
    ) -> Result<TeamState, ChainError> {
        let state = Self::verify(entries, known)?;
        if state.team != team {
            return Err(ChainError::Invalid(0, "the chain is for another team"));
        }
        Ok(state)
    }

    /// Verify a whole chain from genesis, and against what this client saw before.
    pub fn verify(entries: &[ChainEntry], known: Option<&KnownHead>) -> Result<TeamState, ChainError> {
        let first = entries.first().ok_or(ChainError::Empty)?;
        let mut state = Self::genesis(first)?;
        for e in &entries[1..] {
            state.apply(e)?;
        }
        if let Some(k) = known {
            if k.len > state.len {
                return Err(ChainError::Rollback { seen: k.len, got: state.len });
            }
            if k.len > 0 && entries[(k.len - 1) as usize].hash() != k.hash {
                return Err(ChainError::Fork(k.len - 1));
            }
        }
        Ok(state)
    }

    fn genesis(e: &ChainEntry) -> Result<TeamState, ChainError> {
        let (admin, shared_collection, needs_acceptance) = match &e.action {
            Action::Create { admin, shared_collection } => (admin, shared_collection, false),
            Action::Found { admin, shared_collection } => (admin, shared_collection, true),
            _ => return Err(ChainError::Invalid(0, "first entry must create the team")),
        };
        if e.index != 0 || e.prev != [0; 32] {
            return Err(ChainError::BrokenLink(0));
        }
        if admin.username != e.author || admin.role != Role::Admin {
            return Err(ChainError::NotAdmin(0));
        }
        admin.identity.verify(&e.signed_message(), &e.signature).map_err(|_| ChainError::BadSignature(0))?;
        if !admin.identity.dh_key_is_sound() {
            return Err(ChainError::Invalid(0, "the admin's X25519 key is a low-order point"));
        }
        // Built by insertion, not `from([..])` (which sorts, and costs code in the .wasm).
        let (mut members, mut ever) = (BTreeMap::new(), BTreeMap::new());
        members.insert(admin.username.clone(), admin.clone());
        ever.insert(admin.username.clone(), admin.identity);
        Ok(TeamState {
            team: e.team,
            members,
            ever,
            admin_until: BTreeMap::new(),
            left_at: BTreeMap::new(),
            left_len: BTreeMap::new(),
            retired_below: 1,
            needs_acceptance,
            unaccepted: BTreeSet::new(),
            admitted_invites: BTreeSet::new(),
            epoch: 1,
            epoch_started_ms: e.at_ms,
            head_at_ms: e.at_ms,
            shared_collection: *shared_collection,
            len: 1,
            head: e.hash(),
            heads: vec![e.hash()],
            founder: Some((admin.identity, *shared_collection)),
        })
    }

    /// Verify and apply the next entry.
    pub fn apply(&mut self, e: &ChainEntry) -> Result<(), ChainError> {
        let i = e.index;
        if i != self.len || e.prev != self.head || e.team != self.team {
            return Err(ChainError::BrokenLink(i));
        }
        let author = self.members.get(&e.author).ok_or(ChainError::NotAdmin(i))?;
        if author.role != Role::Admin {
            return Err(ChainError::NotAdmin(i));
        }
        author.identity.verify(&e.signed_message(), &e.signature).map_err(|_| ChainError::BadSignature(i))?;
        let admins = self.members.values().filter(|m| m.role == Role::Admin).count();
        match &e.action {
            Action::Create { .. } | Action::Found { .. } => {
                return Err(ChainError::Invalid(i, "a team is created once"))
            }
            Action::AddMember { member } => {
                if self.needs_acceptance {
                    return Err(ChainError::Invalid(i, "a member joins only with their signed acceptance"));
                }
                self.add(i, member)?;
                self.unaccepted.insert(member.username.clone());
            }
            Action::Admit { member, acceptance } => {
                if !acceptance.verify(self.team, member) {
                    return Err(ChainError::Invalid(i, "the joiner's acceptance does not verify"));
                }
                if acceptance.inviter.as_ref().is_some_and(|a| *a != e.author) {
                    return Err(ChainError::Invalid(i, "the joiner accepted another admin's invitation"));
                }
                if !self.admitted_invites.insert(acceptance.invite) {
                    return Err(ChainError::Invalid(i, "that invitation already admitted someone"));
                }
                self.add(i, member)?;
                self.needs_acceptance = true;
            }
            Action::ChangeRole { username, role } => {
                let m = self.members.get(username).ok_or(ChainError::Invalid(i, "not a member"))?;
                if m.role == Role::Admin && *role != Role::Admin && admins == 1 {
                    return Err(ChainError::Invalid(i, "cannot demote the last admin"));
                }
                if m.role == Role::Admin && *role != Role::Admin {
                    self.admin_until.insert(username.clone(), self.epoch);
                } else if *role == Role::Admin {
                    self.admin_until.remove(username);
                }
                self.members.get_mut(username).expect("checked").role = *role;
            }
            Action::RemoveMember { username } => {
                let m = self.members.get(username).ok_or(ChainError::Invalid(i, "not a member"))?;
                if m.role == Role::Admin && admins == 1 {
                    return Err(ChainError::Invalid(i, "cannot remove the last admin"));
                }
                if m.role == Role::Admin {
                    self.admin_until.insert(username.clone(), self.epoch);
                }
                self.members.remove(username);
                self.unaccepted.remove(username);
                self.left_at.insert(username.clone(), self.epoch);
                self.left_len.insert(username.clone(), i + 1);
                self.epoch += 1;
                self.epoch_started_ms = e.at_ms;
            }
            Action::Rotate { epoch } => {
                if *epoch != self.epoch + 1 {
                    return Err(ChainError::Invalid(i, "rotation must start the next epoch"));
                }
                self.epoch = *epoch;
                self.epoch_started_ms = e.at_ms;
            }
            Action::Retire { below } => {
                if *below <= self.retired_below || *below > self.epoch {
                    return Err(ChainError::Invalid(i, "retirement must move forward and keep the current epoch"));
                }
                self.retired_below = *below;
            }
        }
        self.len += 1;
        self.head = e.hash();
        self.heads.push(self.head);
        self.head_at_ms = e.at_ms;
        Ok(())
    }

    /// Add `member` (entry `i`), whichever way they were admitted.
    fn add(&mut self, i: u64, member: &Member) -> Result<(), ChainError> {
        if self.members.contains_key(&member.username) {
            return Err(ChainError::Invalid(i, "already a member"));
        }
        // A low-order key would make every later wrap to this member
        // predictable (and refused): keep it out of the team.
        if !member.identity.dh_key_is_sound() {
            return Err(ChainError::Invalid(i, "the member's X25519 key is a low-order point"));
        }
        // Someone removed and invited again starts afresh.
        self.left_at.remove(&member.username);
        self.left_len.remove(&member.username);
        self.unaccepted.remove(&member.username);
        self.ever.insert(member.username.clone(), member.identity);
        self.members.insert(member.username.clone(), member.clone());
        Ok(())
    }

    pub fn known_head(&self) -> KnownHead {
        KnownHead { len: self.len, hash: self.head }
    }

    pub fn is_admin(&self, who: &Username) -> bool {
        self.members.get(who).is_some_and(|m| m.role == Role::Admin)
    }

    /// Whether a scheduled rotation is due: the current epoch is older than `every_days`
    /// (0 = no schedule) at `now_ms`.
    pub fn rotation_due(&self, every_days: u32, now_ms: i64) -> bool {
        every_days > 0 && now_ms - self.epoch_started_ms >= i64::from(every_days) * 86_400_000
    }

    /// The public keys of `author` if an envelope they sealed under `epoch` may be
    /// genuine: a current member; a removed one only for epochs up to the one they
    /// left in (later keys were never theirs); nobody under a retired epoch.
    pub fn record_author(&self, author: &Username, epoch: u32) -> Option<&PublicIdentity> {
        if epoch < self.retired_below || epoch > self.epoch || epoch == 0 {
            return None;
        }
        if let Some(m) = self.members.get(author) {
            return Some(&m.identity);
        }
        self.left_at.get(author).filter(|last| epoch <= **last).and_then(|_| self.ever.get(author))
    }

    /// The team's fingerprint: a number derived from the current chain head, the same
    /// on every member's device that verified the same chain. Two people compare one
    /// number instead of every pair's safety numbers; a server that shows two members
    /// two different chains shows them two different fingerprints.
    pub fn fingerprint(&self) -> String {
        let h = sha256(b"quietdesk/v1/team-fingerprint", &[self.team.as_bytes(), &self.len.to_be_bytes(), &self.head]);
        h[..15]
            .chunks(3)
            .map(|c| format!("{:05}", (u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2])) % 100_000))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The public keys of `signer` if they may hand out keys of `epoch`: a current
    /// admin, or a former admin for epochs up to the one they left the role in.
    pub fn key_distributor(&self, signer: &Username, epoch: u32) -> Option<&PublicIdentity> {
        if self.is_admin(signer) {
            return self.members.get(signer).map(|m| &m.identity);
        }
        self.admin_until.get(signer).filter(|until| epoch <= **until).and_then(|_| self.ever.get(signer))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub struct Person {
        pub name: Username,
        pub keys: IdentityKeys,
    }
    impl Person {
        pub fn new(name: &str) -> Self {
            Self { name: Username::parse(name).unwrap(), keys: IdentityKeys::generate() }
        }
        pub fn member(&self, role: Role) -> Member {
            Member { username: self.name.clone(), identity: self.keys.public(), role }
        }
    }

    pub fn append(chain: &mut Vec<ChainEntry>, by: &Person, action: Action) {
        let last = chain.last().unwrap();
        let e = ChainEntry::signed(last.team, last.index + 1, last.hash(), &by.name, &by.keys, 0, action);
        chain.push(e);
    }

    pub fn new_chain(admin: &Person) -> Vec<ChainEntry> {
        let team = TeamId::random();
        new_chain_for(admin, team, CollectionId::random())
    }

    pub fn new_chain_for(admin: &Person, team: TeamId, shared_collection: CollectionId) -> Vec<ChainEntry> {
        vec![ChainEntry::signed(
            team,
            0,
            [0; 32],
            &admin.name,
            &admin.keys,
            0,
            Action::Create { admin: admin.member(Role::Admin), shared_collection },
        )]
    }

    #[test]
    fn a_valid_chain_verifies_and_tracks_members_and_epochs() {
        let (ann, bob, cat) = (Person::new("ann"), Person::new("bob"), Person::new("cat"));
        let mut c = new_chain(&ann);
        append(&mut c, &ann, Action::AddMember { member: bob.member(Role::Member) });
        append(&mut c, &ann, Action::AddMember { member: cat.member(Role::Support) });
        append(&mut c, &ann, Action::ChangeRole { username: bob.name.clone(), role: Role::Admin });
        append(&mut c, &bob, Action::RemoveMember { username: cat.name.clone() });
        append(&mut c, &bob, Action::Rotate { epoch: 3 });
        let s = TeamState::verify(&c, None).unwrap();
        assert_eq!(s.members.len(), 2);
        assert_eq!(s.epoch, 3);
        assert!(s.is_admin(&bob.name));
        assert!(s.ever.contains_key(&cat.name));
    }

    #[test]
    fn forged_broken_and_unauthorised_entries_are_refused() {
        let (ann, bob, eve) = (Person::new("ann"), Person::new("bob"), Person::new("eve"));
        let mut c = new_chain(&ann);
        append(&mut c, &ann, Action::AddMember { member: bob.member(Role::Member) });

        // A non-admin member adds someone.
        let mut by_member = c.clone();
        append(&mut by_member, &bob, Action::AddMember { member: eve.member(Role::Admin) });
        assert_eq!(TeamState::verify(&by_member, None).unwrap_err(), ChainError::NotAdmin(2));

        // The server swaps bob's public key in entry 1.
        let mut swapped = c.clone();
        if let Action::AddMember { member } = &mut swapped[1].action {
            member.identity = eve.keys.public();
        }
        assert_eq!(TeamState::verify(&swapped, None).unwrap_err(), ChainError::BadSignature(1));

        // An outsider signs an entry claiming to be ann.
        let mut forged = c.clone();
        let last = forged.last().unwrap();
        forged.push(ChainEntry::signed(
            last.team,
            2,
            last.hash(),
            &ann.name,
            &eve.keys,
            0,
            Action::AddMember { member: eve.member(Role::Admin) },
        ));
        assert_eq!(TeamState::verify(&forged, None).unwrap_err(), ChainError::BadSignature(2));

        // A broken link.
        let mut broken = c.clone();
        append(&mut broken, &ann, Action::Rotate { epoch: 2 });
        broken[2].prev = [9; 32];
        assert!(matches!(TeamState::verify(&broken, None).unwrap_err(), ChainError::BrokenLink(2)));

        // Removing the last admin.
        let mut last_admin = c.clone();
        append(&mut last_admin, &ann, Action::RemoveMember { username: ann.name.clone() });
        assert!(matches!(TeamState::verify(&last_admin, None).unwrap_err(), ChainError::Invalid(2, _)));
    }

    #[test]
    fn low_order_keys_are_kept_out_and_retirement_bounds_authors() {
        let (ann, bob, eve) = (Person::new("ann"), Person::new("bob"), Person::new("eve"));
        let mut c = new_chain(&ann);
        let mut low = c.clone();
        let mut bad = eve.member(Role::Member);
        bad.identity.dh_pk = [0; 32];
        append(&mut low, &ann, Action::AddMember { member: bad });
        assert!(matches!(TeamState::verify(&low, None).unwrap_err(), ChainError::Invalid(1, _)));

        append(&mut c, &ann, Action::AddMember { member: bob.member(Role::Member) });
        append(&mut c, &ann, Action::RemoveMember { username: bob.name.clone() });
        let s = TeamState::verify(&c, None).unwrap();
        assert_eq!(s.epoch, 2);
        assert!(s.record_author(&bob.name, 1).is_some(), "what bob sealed while in the team");
        assert!(s.record_author(&bob.name, 2).is_none(), "never a key of his");
        assert!(s.record_author(&ann.name, 3).is_none(), "an epoch the chain has not reached");
        assert!(s.record_author(&eve.name, 1).is_none(), "never a member");

        let mut retired = c.clone();
        append(&mut retired, &ann, Action::Retire { below: 2 });
        let r = TeamState::verify(&retired, None).unwrap();
        assert!(r.record_author(&bob.name, 1).is_none() && r.record_author(&ann.name, 1).is_none());
        assert!(r.record_author(&ann.name, 2).is_some());
        for below in [2, 3] {
            let mut again = retired.clone();
            append(&mut again, &ann, Action::Retire { below });
            assert!(TeamState::verify(&again, None).is_err(), "retire {below}: backwards or past the current epoch");
        }
        assert_ne!(s.fingerprint(), r.fingerprint(), "another head, another fingerprint");
        assert_eq!(r.fingerprint(), TeamState::verify(&retired, None).unwrap().fingerprint());
    }

    /// `who` accepts `invite` into `chain`'s team as `role`, from `inviter`'s link.
    pub fn accepted(chain: &[ChainEntry], who: &Person, role: Role, invite: InviteId, inviter: &Person) -> Action {
        let member = who.member(role);
        let acceptance = Acceptance::sign(chain[0].team, invite, Some(inviter.name.clone()), &member, &who.keys);
        Action::Admit { member, acceptance }
    }

    pub fn founded(admin: &Person) -> Vec<ChainEntry> {
        let mut c = new_chain(admin);
        let Action::Create { admin: a, shared_collection } = c[0].action.clone() else { unreachable!() };
        c[0] = ChainEntry::signed(
            c[0].team,
            0,
            [0; 32],
            &admin.name,
            &admin.keys,
            0,
            Action::Found { admin: a, shared_collection },
        );
        c
    }

    #[test]
    fn joining_needs_the_joiners_acceptance_of_this_team_role_and_admin() {
        let (ann, max, bob, eve) = (Person::new("ann"), Person::new("max"), Person::new("bob"), Person::new("eve"));
        let mut c = founded(&ann);
        let admit_max = accepted(&c, &max, Role::Admin, InviteId::random(), &ann);
        append(&mut c, &ann, admit_max);
        let s = TeamState::verify(&c, None).unwrap();
        assert!(s.needs_acceptance && s.unaccepted.is_empty() && s.is_admin(&max.name));

        let refused = |action: Action| {
            let mut attempt = c.clone();
            append(&mut attempt, &ann, action);
            TeamState::verify(&attempt, None).unwrap_err()
        };
        // The admin adds a stranger who never accepted.
        let e = refused(Action::AddMember { member: bob.member(Role::Member) });
        assert!(e.to_string().contains("only with their signed acceptance"), "{e}");
        // Or signs an "acceptance" with keys that are not the ones the entry gives bob.
        let member = bob.member(Role::Member);
        let forged = Acceptance::sign(c[0].team, InviteId::random(), Some(ann.name.clone()), &member, &eve.keys);
        assert!(refused(Action::Admit { member: member.clone(), acceptance: forged })
            .to_string()
            .contains("does not verify"));
        // Bob's real acceptance, moved to another role, another team, or to another admin's name.
        let Action::Admit { acceptance, .. } = accepted(&c, &bob, Role::Support, InviteId::random(), &ann) else {
            unreachable!()
        };
        assert!(refused(Action::Admit { member: bob.member(Role::Manager), acceptance })
            .to_string()
            .contains("does not verify"));
        let elsewhere = accepted(&new_chain(&ann), &bob, Role::Member, InviteId::random(), &ann);
        assert!(refused(elsewhere).to_string().contains("does not verify"));
        let Action::Admit { member, acceptance } = accepted(&c, &bob, Role::Member, InviteId::random(), &max) else {
            unreachable!()
        };
        let e = refused(Action::Admit { member: member.clone(), acceptance: acceptance.clone() });
        assert!(e.to_string().contains("another admin's invitation"), "{e}");
        // Max, whose invitation it was, admits bob; the acceptance admits once.
        let mut ok = c.clone();
        append(&mut ok, &max, Action::Admit { member, acceptance });
        append(&mut ok, &max, Action::RemoveMember { username: bob.name.clone() });
        let s = TeamState::verify(&ok, None).unwrap();
        assert!(!s.members.contains_key(&bob.name));
        let Action::Admit { member, acceptance } = ok[2].action.clone() else { unreachable!() };
        let mut replayed = ok.clone();
        append(&mut replayed, &max, Action::Admit { member, acceptance });
        assert!(TeamState::verify(&replayed, None).unwrap_err().to_string().contains("already admitted"));
        // An acceptance from a link that named no inviter (made before links did): any admin.
        let member = bob.member(Role::Member);
        let unnamed = Acceptance::sign(c[0].team, InviteId::random(), None, &member, &bob.keys);
        let mut again = ok.clone();
        append(&mut again, &ann, Action::Admit { member, acceptance: unnamed });
        assert!(TeamState::verify(&again, None).unwrap().members.contains_key(&bob.name));
    }

    #[test]
    fn chains_from_before_acceptances_verify_and_mark_who_joined_without_one() {
        let (ann, bob, cat, dan) = (Person::new("ann"), Person::new("bob"), Person::new("cat"), Person::new("dan"));
        let mut c = new_chain(&ann);
        append(&mut c, &ann, Action::AddMember { member: bob.member(Role::Member) });
        append(&mut c, &ann, Action::AddMember { member: cat.member(Role::Member) });
        append(&mut c, &ann, Action::RemoveMember { username: cat.name.clone() });
        let s = TeamState::verify(&c, None).unwrap();
        assert!(!s.needs_acceptance);
        assert_eq!(s.unaccepted.iter().collect::<Vec<_>>(), [&bob.name], "cat left; ann founded it");
        // The first acceptance closes the old way in: from then on, additions need one.
        let admit_cat = accepted(&c, &cat, Role::Member, InviteId::random(), &ann);
        append(&mut c, &ann, admit_cat);
        let s = TeamState::verify(&c, None).unwrap();
        assert!(s.needs_acceptance && !s.unaccepted.contains(&cat.name));
        append(&mut c, &ann, Action::AddMember { member: dan.member(Role::Member) });
        assert!(matches!(TeamState::verify(&c, None).unwrap_err(), ChainError::Invalid(5, _)));
    }

    /// Freezes the bytes of the two entries acceptances added, and a chain written
    /// before them (its JSON as stored then), which must keep verifying.
    #[test]
    fn golden_chain_entries_keep_their_bytes_and_old_chains_verify() {
        let fixed = |n: u8, name: &str| Person {
            name: Username::parse(name).unwrap(),
            keys: IdentityKeys::from_secret_bytes([n; 32], [n + 1; 32], [n + 2; 32]),
        };
        let (ann, bob) = (fixed(1, "ann"), fixed(11, "bob"));
        let (team, collection, invite) = (TeamId([3; 16]), CollectionId([4; 16]), InviteId([5; 16]));
        let found = Action::Found { admin: ann.member(Role::Admin), shared_collection: collection };
        let mut c = vec![ChainEntry::signed(team, 0, [0; 32], &ann.name, &ann.keys, 1_700_000_000_000, found)];
        let bob_member = bob.member(Role::Member);
        let acceptance = Acceptance::sign(team, invite, Some(ann.name.clone()), &bob_member, &bob.keys);
        let admit = Action::Admit { member: bob_member, acceptance };
        c.push(ChainEntry::signed(team, 1, c[0].hash(), &ann.name, &ann.keys, 1_700_000_000_001, admit));
        let hex_of = |e: &ChainEntry| format!("{}\n{}\n", hex::encode(e.body()), hex::encode(e.signature));
        assert_eq!(hex_of(&c[0]), include_str!("../tests/golden/chain_found.hex"));
        assert_eq!(hex_of(&c[1]), include_str!("../tests/golden/chain_admit.hex"));
        let json: Vec<ChainEntry> = serde_json::from_str(include_str!("../tests/golden/chain_admit.json")).unwrap();
        assert_eq!(json, c);
        assert!(TeamState::verify(&c, None).unwrap().needs_acceptance);

        let legacy: Vec<ChainEntry> = serde_json::from_str(include_str!("../tests/golden/chain_legacy.json")).unwrap();
        let s = TeamState::verify(&legacy, None).unwrap();
        assert!(matches!(legacy[1].action, Action::AddMember { .. }));
        assert!(!s.needs_acceptance && s.unaccepted.contains(&bob.name) && s.members.contains_key(&bob.name));
    }

    #[test]
    fn rollback_and_fork_are_refused() {
        let (ann, bob) = (Person::new("ann"), Person::new("bob"));
        let mut c = new_chain(&ann);
        append(&mut c, &ann, Action::AddMember { member: bob.member(Role::Member) });
        append(&mut c, &ann, Action::RemoveMember { username: bob.name.clone() });
        let seen = TeamState::verify(&c, None).unwrap().known_head();

        // The server serves the chain before bob's removal.
        assert_eq!(TeamState::verify(&c[..2], Some(&seen)).unwrap_err(), ChainError::Rollback { seen: 3, got: 2 });

        // Or a different third entry, validly signed by ann earlier or by replay.
        let mut fork = c[..2].to_vec();
        append(&mut fork, &ann, Action::Rotate { epoch: 2 });
        assert_eq!(TeamState::verify(&fork, Some(&seen)).unwrap_err(), ChainError::Fork(2));

        // A longer chain that extends what was seen is fine.
        let mut longer = c.clone();
        append(&mut longer, &ann, Action::Rotate { epoch: 3 });
        assert_eq!(TeamState::verify(&longer, Some(&seen)).unwrap().len, 4);
    }
}
