//! Team keys sealed to one member: an ECIES-style sealed box built from X25519
//! (RFC 7748), HKDF-SHA-256 (RFC 5869) and AES-256-GCM, the same construction as
//! HPKE base mode (RFC 9180) with the context bound twice: into the HKDF `info` and
//! into the AEAD associated data.
//!
//! Layout v1: `version(1) | ephemeral_pk(32) | nonce(12) | ct_len(4) | ct | signer | sig(64)`.
//!
//! Each wrap is also signed by the admin who made it, so a server that knows a
//! member's public key still cannot hand that member a key of its own choosing.
//! Nonce rule: each wrap uses a fresh ephemeral X25519 key *and* a random nonce.

use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use x25519_dalek::{EphemeralSecret, PublicKey};
use zeroize::Zeroizing;

use super::identity::{IdentityKeys, PublicIdentity};
use super::{aead, hkdf32, label, CryptoError, Scope, SymmetricKey};
use crate::encoding::{Reader, Writer};
use crate::ids::{CollectionId, TeamId, Username};

const WRAP_VERSION: u8 = 1;

/// What a wrapped key is for. Each purpose has its own label in the KDF info, the AEAD
/// associated data and the signature, so a wrap made for one never opens as another
/// (an audit entry's one-off key cannot pass for a team key, or the reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WrapPurpose {
    /// A team key of one collection, epoch (≥ 1) and scope.
    #[default]
    TeamKey,
    /// The one-off key of one audit entry (version 2 entries; the entry id stands in
    /// the collection's place and the epoch is 0).
    AuditEntry,
    /// Audit entries of version 1 were wrapped under the team-key label; they are
    /// still opened (they are signed by their member authors, whom a server cannot
    /// impersonate), never made.
    LegacyAuditEntry,
}

impl WrapPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            WrapPurpose::TeamKey | WrapPurpose::LegacyAuditEntry => label::KEY_WRAP,
            WrapPurpose::AuditEntry => label::AUDIT_KEY_WRAP,
        }
    }
}

/// Everything a wrap is for; bound into the KDF and the AEAD.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WrapContext {
    #[serde(skip)]
    pub purpose: WrapPurpose,
    pub team: TeamId,
    pub epoch: u32,
    pub collection: CollectionId,
    pub scope: Scope,
    pub recipient: Username,
}

impl WrapContext {
    fn bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.fixed(self.purpose.label())
            .fixed(self.team.as_bytes())
            .u32(self.epoch)
            .fixed(self.collection.as_bytes())
            .u8(self.scope as u8)
            .short_str(self.recipient.as_str());
        w.finish()
    }
}

/// A sealed, signed team key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyWrap(#[serde(with = "crate::encoding::b64")] pub Vec<u8>);

/// Seal `key` to `recipient` and sign it as `admin`. Refuses (never panics on) a
/// low-order recipient key, whose shared secret would be predictable: the chain and
/// invitation checks keep such keys out of a team, and this is the last line.
pub fn wrap_key(
    key: &SymmetricKey,
    recipient: &PublicIdentity,
    ctx: &WrapContext,
    admin: &IdentityKeys,
    admin_name: &Username,
) -> Result<KeyWrap, CryptoError> {
    if ctx.epoch == 0 && ctx.purpose == WrapPurpose::TeamKey {
        return Err(CryptoError::Malformed("team keys start at epoch 1"));
    }
    let eph = EphemeralSecret::random_from_rng(OsRng);
    let eph_pk = PublicKey::from(&eph);
    let shared = eph.diffie_hellman(&PublicKey::from(recipient.dh_pk));
    if !shared.was_contributory() {
        return Err(CryptoError::Malformed("recipient key is a low-order point"));
    }
    let ctx_bytes = ctx.bytes();
    let kek =
        hkdf32(Some(&[eph_pk.as_bytes().as_slice(), &recipient.dh_pk].concat()), shared.as_bytes(), &[&ctx_bytes]);
    let (nonce, ct) = aead::seal(&kek, &ctx_bytes, key.expose_secret());
    let mut w = Writer::new();
    w.u8(WRAP_VERSION).fixed(eph_pk.as_bytes()).fixed(&nonce).bytes(&ct).short_str(admin_name.as_str());
    let sig = admin.sign(&signed_part(&ctx_bytes, w.as_slice()));
    w.fixed(&sig);
    Ok(KeyWrap(w.finish()))
}

/// The signed bytes: the context bytes already start with the purpose's label.
fn signed_part(ctx_bytes: &[u8], body: &[u8]) -> Vec<u8> {
    [label::KEY_WRAP_SIG, ctx_bytes, body].concat()
}

/// Parsed but unopened wrap: who signed it.
pub fn wrap_signer(wrap: &KeyWrap) -> Result<Username, CryptoError> {
    let parsed = parse(&wrap.0)?;
    Username::parse(parsed.signer).map_err(|_| CryptoError::Malformed("key wrap"))
}

struct Parsed<'a> {
    eph_pk: [u8; 32],
    nonce: [u8; 12],
    ct: &'a [u8],
    signer: &'a str,
    body_len: usize,
    sig: [u8; 64],
}

fn parse(bytes: &[u8]) -> Result<Parsed<'_>, CryptoError> {
    let bad = |_| CryptoError::Malformed("key wrap");
    let mut r = Reader::new(bytes);
    let version = r.u8().map_err(bad)?;
    if version != WRAP_VERSION {
        return Err(CryptoError::UnknownVersion(version));
    }
    let eph_pk = r.array::<32>().map_err(bad)?;
    let nonce = r.array::<12>().map_err(bad)?;
    let ct = r.bytes().map_err(bad)?;
    let signer = r.short_str().map_err(bad)?;
    let body_len = bytes.len() - r.remaining();
    let sig = r.array::<64>().map_err(bad)?;
    r.finish().map_err(bad)?;
    Ok(Parsed { eph_pk, nonce, ct, signer, body_len, sig })
}

/// Open a wrap addressed to `me`, checking the signature of `signer_key` (the caller
/// looks the signer up in the verified chain and checks they were an admin).
pub fn unwrap_key(
    wrap: &KeyWrap,
    me: &IdentityKeys,
    ctx: &WrapContext,
    signer_key: &PublicIdentity,
) -> Result<SymmetricKey, CryptoError> {
    if ctx.epoch == 0 && ctx.purpose == WrapPurpose::TeamKey {
        return Err(CryptoError::DecryptionFailed);
    }
    let p = parse(&wrap.0)?;
    let ctx_bytes = ctx.bytes();
    signer_key.verify(&signed_part(&ctx_bytes, &wrap.0[..p.body_len]), &p.sig)?;
    let shared = me.exchange().diffie_hellman(&PublicKey::from(p.eph_pk));
    if !shared.was_contributory() {
        return Err(CryptoError::DecryptionFailed);
    }
    let my_pk = me.public().dh_pk;
    let kek = hkdf32(Some(&[p.eph_pk.as_slice(), &my_pk].concat()), shared.as_bytes(), &[&ctx_bytes]);
    let plain = Zeroizing::new(aead::open(&kek, &p.nonce, &ctx_bytes, p.ct)?);
    let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| CryptoError::DecryptionFailed)?;
    Ok(SymmetricKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(who: &str) -> WrapContext {
        WrapContext {
            purpose: WrapPurpose::TeamKey,
            team: TeamId([1; 16]),
            epoch: 1,
            collection: CollectionId([2; 16]),
            scope: Scope::Basic,
            recipient: Username::parse(who).unwrap(),
        }
    }

    #[test]
    fn wrap_round_trip_and_every_binding() {
        let admin = IdentityKeys::generate();
        let admin_name = Username::parse("admin").unwrap();
        let bob = IdentityKeys::generate();
        let key = SymmetricKey::generate();
        let w = wrap_key(&key, &bob.public(), &ctx("bob"), &admin, &admin_name).unwrap();
        assert_eq!(unwrap_key(&w, &bob, &ctx("bob"), &admin.public()).unwrap(), key);
        assert_eq!(wrap_signer(&w).unwrap(), admin_name);

        let fail = |w: &KeyWrap, c: &WrapContext, me: &IdentityKeys, signer: &PublicIdentity| {
            unwrap_key(w, me, c, signer).unwrap_err()
        };
        assert_eq!(fail(&w, &ctx("bob"), &IdentityKeys::generate(), &admin.public()), CryptoError::DecryptionFailed);
        assert_eq!(fail(&w, &ctx("bob"), &bob, &bob.public()), CryptoError::DecryptionFailed, "wrong signer");
        let mut c = ctx("bob");
        c.epoch = 2;
        assert_eq!(fail(&w, &c, &bob, &admin.public()), CryptoError::DecryptionFailed);
        let mut c = ctx("bob");
        c.scope = Scope::Sensitive;
        assert_eq!(fail(&w, &c, &bob, &admin.public()), CryptoError::DecryptionFailed);
        for i in 1..w.0.len() {
            let mut t = w.clone();
            t.0[i] ^= 1;
            assert!(unwrap_key(&t, &bob, &ctx("bob"), &admin.public()).is_err(), "flip at {i} accepted");
        }
        let mut audit = ctx("bob");
        audit.purpose = WrapPurpose::AuditEntry;
        assert_eq!(fail(&w, &audit, &bob, &admin.public()), CryptoError::DecryptionFailed, "another purpose");
    }

    #[test]
    fn low_order_keys_and_epoch_zero_team_keys_are_refused_not_asserted() {
        let admin = IdentityKeys::generate();
        let name = Username::parse("admin").unwrap();
        // The eight low-order points of Curve25519 and its twist (RFC 7748 §6.1 lists
        // 0 and 1; the others from the usual blocklist).
        let low_order: [[u8; 32]; 3] = [
            [0; 32],
            {
                let mut b = [0; 32];
                b[0] = 1;
                b
            },
            [
                0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda,
                0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
            ],
        ];
        for dh_pk in low_order {
            let bad = PublicIdentity { sign_pk: admin.public().sign_pk, dh_pk };
            assert!(!bad.dh_key_is_sound());
            let r = wrap_key(&SymmetricKey::generate(), &bad, &ctx("bob"), &admin, &name);
            assert!(matches!(r, Err(CryptoError::Malformed(_))));
        }
        assert!(IdentityKeys::generate().public().dh_key_is_sound());
        let mut zero = ctx("bob");
        zero.epoch = 0;
        let bob = IdentityKeys::generate();
        assert!(wrap_key(&SymmetricKey::generate(), &bob.public(), &zero, &admin, &name).is_err());
    }
}
