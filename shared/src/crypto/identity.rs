//! A member's identity: an Ed25519 signing key (RFC 8032) and an X25519 key
//! (RFC 7748), generated in the browser. The public halves go to the server and into
//! the team chain; the private halves travel only inside the [`AccountBundle`],
//! sealed with AES-256-GCM under the passphrase-derived wrap key.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use super::passphrase::WrapKey;
use super::{aead, label, CryptoError, SymmetricKey};
use crate::encoding::{Reader, Writer};

const BUNDLE_VERSION: u8 = 1;

/// The public half of an identity, as published in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicIdentity {
    #[serde(with = "crate::encoding::b64_32")]
    pub sign_pk: [u8; 32],
    #[serde(with = "crate::encoding::b64_32")]
    pub dh_pk: [u8; 32],
}

impl PublicIdentity {
    /// Verify an Ed25519 signature (strict: rejects malleable and small-order forms).
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> Result<(), CryptoError> {
        verify_strict(&self.sign_pk, msg, sig)
    }

    /// Whether the X25519 key is usable for key agreement: not one of the low-order
    /// points (RFC 7748 §6.1), whose shared secret is the same predictable value for
    /// every private key. Checked where a key enters the team (the chain, an
    /// invitation), so a wrap is never sealed to one.
    pub fn dh_key_is_sound(&self) -> bool {
        // X25519 clamps every scalar to a multiple of the cofactor 8, so a point of
        // order dividing 8 (on the curve or its twist) always yields all zeros.
        let probe = x25519_dalek::StaticSecret::from([0x5a; 32]);
        probe.diffie_hellman(&x25519_dalek::PublicKey::from(self.dh_pk)).was_contributory()
    }

    /// A short human-comparable fingerprint of both public keys.
    pub fn fingerprint(&self) -> String {
        let h = super::sha256(b"quietdesk/v1/fingerprint", &[&self.sign_pk, &self.dh_pk]);
        h[..10].chunks(2).map(|c| format!("{:05}", u16::from_be_bytes([c[0], c[1]]))).collect::<Vec<_>>().join(" ")
    }
}

/// Verify an Ed25519 signature by the key `sign_pk`, strictly.
pub(crate) fn verify_strict(sign_pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> Result<(), CryptoError> {
    let vk = VerifyingKey::from_bytes(sign_pk).map_err(|_| CryptoError::DecryptionFailed)?;
    vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig)).map_err(|_| CryptoError::DecryptionFailed)
}

/// Record signatures, checked many at a time: `holds[i]` says whether signature `i`
/// (by `keys[i]` over `messages[i]`) is valid.
///
/// Ed25519 batch verification (ed25519-dalek's `verify_batch`): one multiscalar
/// multiplication checks a whole batch, about twice the speed of checking one by one.
/// Its equation is the cofactored one (RFC 8032 §5.1.7 allows either), which accepts
/// every signature [`verify_strict`] accepts and, besides them, only ones their signer
/// crafted with a small-order component on purpose: nobody without the signing key can
/// make any signature pass. So that every device and every path judges a record
/// alike, a single record signature is checked the same way (a batch of one), and a
/// failed batch is split in halves until the bad signatures are found. A key of small
/// order (a "weak" key, which could sign for anyone) is refused as in `verify_strict`.
pub fn verify_record_signatures(keys: &[[u8; 32]], messages: &[&[u8]], signatures: &[[u8; 64]]) -> Vec<bool> {
    assert!(keys.len() == messages.len() && keys.len() == signatures.len(), "one key and message per signature");
    let mut parsed: std::collections::HashMap<[u8; 32], Option<VerifyingKey>> = Default::default();
    let keys: Vec<Option<VerifyingKey>> = keys
        .iter()
        .map(|k| *parsed.entry(*k).or_insert_with(|| VerifyingKey::from_bytes(k).ok().filter(|vk| !vk.is_weak())))
        .collect();
    let sigs: Vec<ed25519_dalek::Signature> = signatures.iter().map(ed25519_dalek::Signature::from_bytes).collect();
    let mut holds = vec![false; keys.len()];
    // Only signatures by a usable key go into a batch.
    let usable: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].is_some()).collect();
    for chunk in usable.chunks(SIGNATURE_BATCH) {
        settle(chunk, &keys, messages, &sigs, &mut holds);
    }
    holds
}

/// How many signatures one multiscalar multiplication checks: past a few dozen, a
/// larger batch gains little per signature and costs more to split when one fails.
const SIGNATURE_BATCH: usize = 64;

fn settle(
    at: &[usize],
    keys: &[Option<VerifyingKey>],
    messages: &[&[u8]],
    sigs: &[ed25519_dalek::Signature],
    holds: &mut [bool],
) {
    let batch_keys: Vec<VerifyingKey> = at.iter().map(|&i| keys[i].expect("usable keys only")).collect();
    let batch_messages: Vec<&[u8]> = at.iter().map(|&i| messages[i]).collect();
    let batch_sigs: Vec<ed25519_dalek::Signature> = at.iter().map(|&i| sigs[i]).collect();
    if ed25519_dalek::verify_batch(&batch_messages, &batch_sigs, &batch_keys).is_ok() {
        for &i in at {
            holds[i] = true;
        }
    } else if at.len() > 1 {
        let (left, right) = at.split_at(at.len() / 2);
        settle(left, keys, messages, sigs, holds);
        settle(right, keys, messages, sigs, holds);
    }
}

/// An Ed25519 signing key without the rest of an identity: what a device's signature
/// workers hold. Zeroized on drop (the key type is).
pub struct Signer(SigningKey);

impl Signer {
    /// The 32 secret bytes, to hand to a worker (never to store, send or log).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
}

/// A member's private keys plus the vault key that seals their device's local copies.
pub struct IdentityKeys {
    signing: SigningKey,
    exchange: StaticSecret,
    vault: SymmetricKey,
}

impl std::fmt::Debug for IdentityKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityKeys").field("public", &self.public()).finish_non_exhaustive()
    }
}

impl IdentityKeys {
    pub fn generate() -> Self {
        let mut rng = rand_core::OsRng;
        Self {
            signing: SigningKey::generate(&mut rng),
            exchange: StaticSecret::random_from_rng(rng),
            vault: SymmetricKey::generate(),
        }
    }

    /// An explicit second copy (for a component that must own its keys). Both copies
    /// are zeroized on drop; there is deliberately no `Clone`.
    pub fn duplicate(&self) -> Self {
        Self {
            signing: SigningKey::from_bytes(&self.signing.to_bytes()),
            exchange: StaticSecret::from(self.exchange.to_bytes()),
            vault: self.vault.clone(),
        }
    }

    /// Deterministic keys for golden vectors only.
    #[cfg(test)]
    pub(crate) fn from_secret_bytes(sign: [u8; 32], dh: [u8; 32], vault: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&sign),
            exchange: StaticSecret::from(dh),
            vault: SymmetricKey::from_bytes(vault),
        }
    }

    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            sign_pk: self.signing.verifying_key().to_bytes(),
            dh_pk: x25519_dalek::PublicKey::from(&self.exchange).to_bytes(),
        }
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }

    /// The signing key alone, for this device's own Web Workers to sign batches with
    /// (see [`crate::sync::offload`]).
    pub fn signer(&self) -> Signer {
        Signer(SigningKey::from_bytes(&self.signing.to_bytes()))
    }

    pub(crate) fn exchange(&self) -> &StaticSecret {
        &self.exchange
    }

    /// The key for this device's local ciphertext (IndexedDB outbox and cache).
    pub fn vault_key(&self) -> &SymmetricKey {
        &self.vault
    }

    /// Seal the private keys for the server to keep: `version | nonce | ct`, with the
    /// username bound as associated data so a bundle cannot be swapped between users.
    pub fn seal_bundle(&self, wrap: &WrapKey, username: &str) -> AccountBundle {
        let mut plain = Zeroizing::new(Vec::with_capacity(96));
        plain.extend_from_slice(&self.signing.to_bytes());
        plain.extend_from_slice(&self.exchange.to_bytes());
        plain.extend_from_slice(self.vault.expose_secret());
        let aad = bundle_aad(username);
        let (nonce, ct) = aead::seal(&wrap.0, &aad, &plain);
        let mut w = Writer::with_capacity(1 + 12 + ct.len());
        w.u8(BUNDLE_VERSION).fixed(&nonce).fixed(&ct);
        AccountBundle(w.finish())
    }

    pub fn open_bundle(bundle: &AccountBundle, wrap: &WrapKey, username: &str) -> Result<Self, CryptoError> {
        let mut r = Reader::new(&bundle.0);
        let version = r.u8().map_err(|_| CryptoError::Malformed("account bundle"))?;
        if version != BUNDLE_VERSION {
            return Err(CryptoError::UnknownVersion(version));
        }
        let nonce = r.array::<12>().map_err(|_| CryptoError::Malformed("account bundle"))?;
        let plain = Zeroizing::new(aead::open(&wrap.0, &nonce, &bundle_aad(username), r.rest())?);
        if plain.len() != 96 {
            return Err(CryptoError::DecryptionFailed);
        }
        let take = |i: usize| -> Zeroizing<[u8; 32]> {
            let mut a = Zeroizing::new([0u8; 32]);
            a.copy_from_slice(&plain[i * 32..(i + 1) * 32]);
            a
        };
        Ok(Self {
            signing: SigningKey::from_bytes(&take(0)),
            exchange: StaticSecret::from(*take(1)),
            vault: SymmetricKey::from_bytes(*take(2)),
        })
    }
}

fn bundle_aad(username: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.fixed(label::ACCOUNT_BUNDLE).short_str(username);
    w.finish()
}

/// The sealed private keys, as stored on the server and in IndexedDB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountBundle(#[serde(with = "crate::encoding::b64")] pub Vec<u8>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::passphrase::{derive_account_keys, KdfParams, Passphrase};

    #[test]
    fn a_batch_of_record_signatures_finds_each_bad_one_and_agrees_with_one_by_one() {
        let (alice, bob) = (IdentityKeys::generate(), IdentityKeys::generate());
        let messages: Vec<Vec<u8>> = (0..150u32).map(|i| format!("record {i}").into_bytes()).collect();
        let mut keys = Vec::new();
        let mut sigs = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let who = if i % 3 == 0 { &bob } else { &alice };
            keys.push(who.public().sign_pk);
            sigs.push(who.sign(m));
        }
        // Tampered: a flipped bit (7), another signer's key (70), a signature over
        // something else (71), an s that is not reduced (140), and a small-order key
        // (the identity point) with a signature that would hold for it (149).
        sigs[7][5] ^= 1;
        keys[70] = bob.public().sign_pk;
        sigs[71] = alice.sign(b"something else");
        sigs[140][63] |= 0xf0;
        let mut identity = [0u8; 32];
        identity[0] = 1;
        keys[149] = identity;
        sigs[149] = [0; 64];
        sigs[149][0] = 1;
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let holds = verify_record_signatures(&keys, &refs, &sigs);
        let bad: Vec<usize> = (0..holds.len()).filter(|&i| !holds[i]).collect();
        assert_eq!(bad, vec![7, 70, 71, 140, 149]);
        // One at a time, and strictly, the same answers (these were not crafted with a
        // small-order part: see `verify_record_signatures`).
        for i in 0..holds.len() {
            let one = verify_record_signatures(&keys[i..=i], &refs[i..=i], &sigs[i..=i]);
            assert_eq!(one, vec![holds[i]], "signature {i}");
            assert_eq!(verify_strict(&keys[i], refs[i], &sigs[i]).is_ok(), holds[i], "signature {i}, strictly");
        }
        assert!(verify_record_signatures(&[], &[], &[]).is_empty());
    }

    #[test]
    fn bundle_round_trip_and_binding() {
        let ann: crate::ids::Username = "ann".parse().unwrap();
        let (_, wrap) =
            derive_account_keys(&Passphrase::new("pw one two"), &ann, &[3; 16], KdfParams::MINIMUM).unwrap();
        let (_, other) =
            derive_account_keys(&Passphrase::new("pw one tw0"), &ann, &[3; 16], KdfParams::MINIMUM).unwrap();
        let id = IdentityKeys::generate();
        let bundle = id.seal_bundle(&wrap, "ann");
        let back = IdentityKeys::open_bundle(&bundle, &wrap, "ann").unwrap();
        assert_eq!(back.public(), id.public());
        assert_eq!(back.vault_key(), id.vault_key());
        assert_eq!(IdentityKeys::open_bundle(&bundle, &other, "ann").unwrap_err(), CryptoError::DecryptionFailed);
        assert_eq!(IdentityKeys::open_bundle(&bundle, &wrap, "bob").unwrap_err(), CryptoError::DecryptionFailed);
        let mut v2 = bundle.clone();
        v2.0[0] = 2;
        assert_eq!(IdentityKeys::open_bundle(&v2, &wrap, "ann").unwrap_err(), CryptoError::UnknownVersion(2));
    }

    #[test]
    fn signatures_verify_only_for_the_signed_message() {
        let id = IdentityKeys::generate();
        let sig = id.sign(b"m");
        assert!(id.public().verify(b"m", &sig).is_ok());
        assert!(id.public().verify(b"n", &sig).is_err());
        assert_eq!(id.public().fingerprint().split(' ').count(), 5);
    }
}
