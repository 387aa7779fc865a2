//! Invitations a server cannot hijack, and safety numbers.
//!
//! An admin's client makes a random 256-bit secret and puts it in the invitation
//! link's fragment (`#…`), which browsers never send to a server. The joiner's client
//! authenticates its public keys with it: HMAC-SHA-256 under a key derived from the
//! secret by HKDF-SHA-256, over the team, the invitation id, the invited role, the
//! username and both public keys. The server relays that MAC but, without the secret,
//! cannot compute one for keys of its own: the admin's client verifies it before
//! adding anyone to the chain, so a swapped key is refused. The role travels in the
//! link and stays, with the secret, on the inviting device: the role the server lists
//! for an invitation is never what decides (a server that turns a support invitation
//! into a manager one is refused). Safety numbers let two people compare, out of
//! band, the keys their clients use for each other.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::chain::Role;
use crate::crypto::identity::PublicIdentity;
use crate::crypto::label;
use crate::encoding::Writer;
use crate::ids::{InviteId, TeamId, Username};

/// The one-time secret of an invitation. Never sent to the server; no `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct InviteSecret([u8; 32]);

impl InviteSecret {
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        Self(b)
    }
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// The joiner's proof that these public keys are theirs and came with this link
    /// (which named `role`).
    pub fn authenticate(
        &self,
        team: TeamId,
        invite: InviteId,
        role: Role,
        username: &Username,
        keys: &PublicIdentity,
    ) -> [u8; 32] {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, &self.0).expand(label::INVITE_MAC_KEY, &mut key).expect("32 bytes is a valid length");
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
        key.zeroize();
        let mut w = Writer::new();
        w.fixed(label::INVITE_MAC)
            .fixed(team.as_bytes())
            .fixed(invite.as_bytes())
            .u8(role.code())
            .short_str(username.as_str())
            .fixed(&keys.sign_pk)
            .fixed(&keys.dh_pk);
        m.update(w.as_slice());
        m.finalize().into_bytes().into()
    }

    /// The admin's check (constant time) before adding the joiner to the chain, with
    /// the role this device invited them as. A low-order X25519 key is refused here
    /// too, before it can reach the chain.
    pub fn verify(
        &self,
        team: TeamId,
        invite: InviteId,
        role: Role,
        username: &Username,
        keys: &PublicIdentity,
        tag: &[u8; 32],
    ) -> bool {
        let want: [u8; 32] = self.authenticate(team, invite, role, username, keys);
        bool::from(want.ct_eq(tag)) && keys.dh_key_is_sound()
    }
}

/// What an invitation link carries, all in its fragment (never sent to a server).
pub struct InviteLink {
    pub team: TeamId,
    pub invite: InviteId,
    pub secret: InviteSecret,
    pub role: Role,
    /// The hash of the team's genesis entry, as the inviting admin's device verified
    /// it: the joiner pins it, so the server cannot show them another team under the
    /// same id.
    pub genesis: [u8; 32],
    /// The inviting admin, whom the joiner's [`crate::chain::Acceptance`] names; `None`
    /// in links made before links named one.
    pub inviter: Option<Username>,
}

/// What the link's fragment carries: `team.invite.secret.role.genesis.inviter` (hex,
/// hex, base64url, role name, base64url, base64url of the admin's username; links made
/// before links named the inviter end at the genesis).
pub fn encode_fragment(link: &InviteLink) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let mut f = format!(
        "join={}.{}.{}.{}.{}",
        link.team,
        link.invite,
        b64(link.secret.expose_secret()),
        link.role.as_str(),
        b64(&link.genesis)
    );
    if let Some(inviter) = &link.inviter {
        f = format!("{f}.{}", b64(inviter.as_str().as_bytes()));
    }
    f
}

/// Parse a whole link or just its fragment.
pub fn decode_fragment(link: &str) -> Option<InviteLink> {
    use base64::Engine;
    let frag = link.rsplit_once('#').map(|(_, f)| f).unwrap_or(link);
    let body = frag.trim().strip_prefix("join=")?;
    let mut parts = body.split('.');
    let team: TeamId = parts.next()?.parse().ok()?;
    let invite: InviteId = parts.next()?.parse().ok()?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    let role = Role::from_name(parts.next()?)?;
    let genesis = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    let inviter = match parts.next() {
        Some(b) => {
            let name = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b).ok()?;
            Some(Username::parse(std::str::from_utf8(&name).ok()?).ok()?)
        }
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(InviteLink {
        team,
        invite,
        secret: InviteSecret(raw.try_into().ok()?),
        role,
        genesis: genesis.try_into().ok()?,
        inviter,
    })
}

/// A number two members read to each other to confirm their clients use the right keys
/// for each other: the same on both sides (order-independent), 60 digits in 12 groups.
pub fn safety_number(a: &PublicIdentity, b: &PublicIdentity) -> String {
    let bytes = |p: &PublicIdentity| [p.sign_pk.as_slice(), p.dh_pk.as_slice()].concat();
    let (x, y) = (bytes(a), bytes(b));
    let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
    let digest = Sha512::new().chain_update(label::SAFETY_NUMBER).chain_update(&lo).chain_update(&hi).finalize();
    digest[..60]
        .chunks(5)
        .map(|c| {
            let n = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::identity::IdentityKeys;

    #[test]
    fn a_swapped_key_or_another_link_fails_verification() {
        let (team, invite) = (TeamId::random(), InviteId::random());
        let bob = Username::parse("bob").unwrap();
        let keys = IdentityKeys::generate().public();
        let secret = InviteSecret::generate();
        let support = Role::Support;
        let tag = secret.authenticate(team, invite, support, &bob, &keys);
        assert!(secret.verify(team, invite, support, &bob, &keys, &tag));
        let mallory = IdentityKeys::generate().public();
        assert!(!secret.verify(team, invite, support, &bob, &mallory, &tag), "swapped keys");
        assert!(!secret.verify(team, InviteId::random(), support, &bob, &keys, &tag), "another invitation");
        assert!(!secret.verify(team, invite, support, &Username::parse("eve").unwrap(), &keys, &tag), "another user");
        assert!(!InviteSecret::generate().verify(team, invite, support, &bob, &keys, &tag), "a guessed secret");
        assert!(!secret.verify(team, invite, Role::Manager, &bob, &keys, &tag), "a support invitation as manager");
        // A low-order X25519 key never verifies, whatever the MAC.
        let low = PublicIdentity { sign_pk: keys.sign_pk, dh_pk: [0; 32] };
        let low_tag = secret.authenticate(team, invite, support, &bob, &low);
        assert!(!secret.verify(team, invite, support, &bob, &low, &low_tag), "a low-order key");
    }

    #[test]
    fn links_round_trip_and_junk_is_refused() {
        let (team, invite, secret) = (TeamId::random(), InviteId::random(), InviteSecret::generate());
        // A link made before links named the inviter still reads, naming nobody.
        let made =
            InviteLink { team, invite, secret: secret.clone(), role: Role::Support, genesis: [7; 32], inviter: None };
        let link = format!("https://crm.example/join#{}", encode_fragment(&made));
        let l = decode_fragment(&link).unwrap();
        assert_eq!(
            (l.team, l.invite, l.secret.expose_secret(), l.role),
            (team, invite, secret.expose_secret(), Role::Support)
        );
        assert_eq!((l.genesis, l.inviter), ([7; 32], None));
        let ann = Username::parse("ann.lee").unwrap();
        let named = InviteLink { inviter: Some(ann.clone()), ..made };
        let with_inviter = decode_fragment(&encode_fragment(&named)).unwrap();
        assert_eq!((with_inviter.inviter, with_inviter.genesis), (Some(ann), [7; 32]));
        let no_genesis = link.rsplit_once('.').unwrap().0.to_owned();
        for junk in [
            "",
            "#join=",
            "https://x/#join=a.b.c",
            &format!("#join={team}.{invite}"),
            &format!("{link}.x"),
            &format!("{link}.QU5O"), // "ANN": not a username
            &format!("{}.YW5u.YW5u", encode_fragment(&named)),
            &no_genesis,
        ] {
            assert!(decode_fragment(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn safety_numbers_are_symmetric_and_distinct() {
        let (a, b, c) =
            (IdentityKeys::generate().public(), IdentityKeys::generate().public(), IdentityKeys::generate().public());
        let ab = safety_number(&a, &b);
        assert_eq!(ab, safety_number(&b, &a));
        assert_ne!(ab, safety_number(&a, &c));
        assert_eq!(ab.split(' ').count(), 12);
        assert!(ab.split(' ').all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit())));
    }
}
