//! A member's identity: an Ed25519 signing key (RFC 8032) and an X25519 key
//! (RFC 7748), generated in the browser. The public halves go to the server and into
//! the team chain; the private halves travel only inside the [`AccountBundle`],
//! sealed with AES-256-GCM under the passphrase-derived wrap key.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand_core::RngCore as _;
use serde::{Deserialize, Serialize};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use super::passphrase::WrapKey;
use super::{aead, label, CryptoError, SymmetricKey};
use crate::encoding::{Reader, Writer};

/// Version 2 adds a flags byte inside the sealed keys ([`BundleFlags`]) and binds the
/// version into the AAD; version 1 (the three keys only) still opens.
const BUNDLE_VERSION: u8 = 2;
const BUNDLE_V1: u8 = 1;

/// What the account itself says about its state, sealed with its keys: the server can
/// neither read nor change it, only serve an older bundle (see SECURITY.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BundleFlags {
    /// The account keeps pins (`shared::pins`): a device never takes "this account has
    /// no pins" from the server. Every bundle this version seals says so.
    pub keeps_pins: bool,
}

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
/// Ed25519 batch verification (ed25519-zebra's `batch::Verifier`): one multiscalar
/// multiplication checks a whole batch, and the terms of signatures by one key are
/// added into one (a batch of records is nearly always by a few authors): natively, a
/// signature by one key costs 0.5–0.7× what it did in ed25519-dalek's `verify_batch`,
/// and in the browser a new device's first sync took a quarter to a third less time.
/// Its equation is the cofactored one (RFC 8032 §5.1.7 allows either), which accepts
/// every signature [`verify_strict`] accepts and, besides them, only ones their signer
/// crafted with a small-order component on purpose: nobody without the signing key can
/// make any signature pass, and such a crafted one passes in every batch alike (the
/// cofactorless batch equation would pass it with the odds of its random weights). So
/// that every device and every path judges a record alike, a single record signature
/// is checked the same way (a batch of one), and a failed batch is split in halves
/// until the bad signatures are found. A key of small order (a "weak" key, which could
/// sign for anyone) is refused as in `verify_strict`.
pub fn verify_record_signatures(keys: &[[u8; 32]], messages: &[&[u8]], signatures: &[[u8; 64]]) -> Vec<bool> {
    assert!(keys.len() == messages.len() && keys.len() == signatures.len(), "one key and message per signature");
    let mut usable_key: std::collections::HashMap<[u8; 32], bool> = Default::default();
    // Each signature's hash of its nonce, key and message is taken once, also when its
    // batch is split.
    let items: Vec<Option<ed25519_zebra::batch::Item>> = (0..keys.len())
        .map(|i| {
            let usable = *usable_key
                .entry(keys[i])
                .or_insert_with(|| VerifyingKey::from_bytes(&keys[i]).is_ok_and(|vk| !vk.is_weak()));
            let signature = ed25519_zebra::Signature::from_bytes(&signatures[i]);
            usable.then(|| (ed25519_zebra::VerificationKeyBytes::from(keys[i]), signature, messages[i]).into())
        })
        .collect();
    let mut holds = vec![false; keys.len()];
    // Only signatures by a usable key go into a batch.
    let usable: Vec<usize> = (0..keys.len()).filter(|&i| items[i].is_some()).collect();
    for chunk in usable.chunks(SIGNATURE_BATCH) {
        settle(chunk, &items, &mut holds);
    }
    holds
}

/// How many signatures one multiscalar multiplication checks: a larger batch costs
/// more to split when one fails.
const SIGNATURE_BATCH: usize = 64;

fn settle(at: &[usize], items: &[Option<ed25519_zebra::batch::Item>], holds: &mut [bool]) {
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for &i in at {
        batch.queue(items[i].clone().expect("usable keys only"));
    }
    if batch.verify(Weights::draw(at.len())).is_ok() {
        for &i in at {
            holds[i] = true;
        }
    } else if at.len() > 1 {
        let (left, right) = at.split_at(at.len() / 2);
        settle(left, items, holds);
        settle(right, items, holds);
    }
}

/// A batch's random weights (128 bits a signature), drawn from the system's generator
/// in one call instead of one a signature (in the browser each is a call out to
/// `crypto.getRandomValues`).
struct Weights {
    drawn: Zeroizing<Vec<u8>>,
    taken: usize,
}

impl Weights {
    fn draw(signatures: usize) -> Self {
        let mut drawn = Zeroizing::new(vec![0; signatures * 16]);
        rand_core::OsRng.fill_bytes(&mut drawn);
        Self { drawn, taken: 0 }
    }
}

impl rand_core::RngCore for Weights {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    /// From what was drawn, and from the system's generator once that is used up.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let from_drawn = dest.len().min(self.drawn.len() - self.taken);
        dest[..from_drawn].copy_from_slice(&self.drawn[self.taken..self.taken + from_drawn]);
        self.taken += from_drawn;
        if from_drawn < dest.len() {
            rand_core::OsRng.fill_bytes(&mut dest[from_drawn..]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// Only ever bytes from the system's generator.
impl rand_core::CryptoRng for Weights {}

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
    /// username and the version bound as associated data so a bundle cannot be swapped
    /// between users or read as another version; the flags are sealed with the keys.
    pub fn seal_bundle(&self, wrap: &WrapKey, username: &str) -> AccountBundle {
        let mut plain = Zeroizing::new(Vec::with_capacity(97));
        plain.extend_from_slice(&self.signing.to_bytes());
        plain.extend_from_slice(&self.exchange.to_bytes());
        plain.extend_from_slice(self.vault.expose_secret());
        plain.push(BundleFlags { keeps_pins: true }.to_byte());
        let aad = bundle_aad(username, BUNDLE_VERSION);
        let (nonce, ct) = aead::seal(&wrap.0, &aad, &plain);
        let mut w = Writer::with_capacity(1 + 12 + ct.len());
        w.u8(BUNDLE_VERSION).fixed(&nonce).fixed(&ct);
        AccountBundle(w.finish())
    }

    pub fn open_bundle(bundle: &AccountBundle, wrap: &WrapKey, username: &str) -> Result<Self, CryptoError> {
        Self::open_bundle_with_flags(bundle, wrap, username).map(|(keys, _)| keys)
    }

    /// The keys and what the account says of itself (a version-1 bundle says nothing).
    pub fn open_bundle_with_flags(
        bundle: &AccountBundle,
        wrap: &WrapKey,
        username: &str,
    ) -> Result<(Self, BundleFlags), CryptoError> {
        let mut r = Reader::new(&bundle.0);
        let version = r.u8().map_err(|_| CryptoError::Malformed("account bundle"))?;
        let (len, aad) = match version {
            BUNDLE_V1 => (96, bundle_aad_v1(username)),
            BUNDLE_VERSION => (97, bundle_aad(username, version)),
            other => return Err(CryptoError::UnknownVersion(other)),
        };
        let nonce = r.array::<12>().map_err(|_| CryptoError::Malformed("account bundle"))?;
        let plain = Zeroizing::new(aead::open(&wrap.0, &nonce, &aad, r.rest())?);
        if plain.len() != len {
            return Err(CryptoError::DecryptionFailed);
        }
        let flags = plain.get(96).map_or(Ok(BundleFlags::default()), |b| BundleFlags::from_byte(*b))?;
        let take = |i: usize| -> Zeroizing<[u8; 32]> {
            let mut a = Zeroizing::new([0u8; 32]);
            a.copy_from_slice(&plain[i * 32..(i + 1) * 32]);
            a
        };
        let keys = Self {
            signing: SigningKey::from_bytes(&take(0)),
            exchange: StaticSecret::from(*take(1)),
            vault: SymmetricKey::from_bytes(*take(2)),
        };
        Ok((keys, flags))
    }
}

impl BundleFlags {
    fn to_byte(self) -> u8 {
        u8::from(self.keeps_pins)
    }
    fn from_byte(b: u8) -> Result<Self, CryptoError> {
        match b {
            0 | 1 => Ok(Self { keeps_pins: b == 1 }),
            _ => Err(CryptoError::Malformed("account bundle flags")),
        }
    }
}

fn bundle_aad_v1(username: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.fixed(label::ACCOUNT_BUNDLE).short_str(username);
    w.finish()
}

fn bundle_aad(username: &str, version: u8) -> Vec<u8> {
    let mut w = Writer::new();
    w.fixed(label::ACCOUNT_BUNDLE).u8(version).short_str(username);
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

    fn golden_keys() -> (IdentityKeys, WrapKey) {
        (IdentityKeys::from_secret_bytes([1; 32], [2; 32], [3; 32]), WrapKey::from_bytes([9; 32]))
    }

    /// Bundles sealed by earlier versions (checked in) still open, with what they say;
    /// a version-2 bundle says the account keeps pins, and neither its version byte nor
    /// its user can be changed.
    #[test]
    fn golden_bundles_open_with_their_flags() {
        let (keys, wrap) = golden_keys();
        for (file, keeps_pins) in [
            (include_str!("../../tests/golden/bundle_v1.hex"), false),
            (include_str!("../../tests/golden/bundle_v2.hex"), true),
        ] {
            let bundle = AccountBundle(hex::decode(file.trim()).unwrap());
            let (opened, flags) = IdentityKeys::open_bundle_with_flags(&bundle, &wrap, "golden").unwrap();
            assert_eq!(opened.public(), keys.public());
            assert_eq!(flags.keeps_pins, keeps_pins);
            assert!(IdentityKeys::open_bundle(&bundle, &wrap, "other").is_err());
            let mut other_version = bundle.clone();
            other_version.0[0] = if keeps_pins { 1 } else { 2 };
            assert!(IdentityKeys::open_bundle(&other_version, &wrap, "golden").is_err(), "a version byte changed");
        }
        let fresh = keys.seal_bundle(&wrap, "golden");
        assert_eq!(fresh.0[0], 2);
        assert!(IdentityKeys::open_bundle_with_flags(&fresh, &wrap, "golden").unwrap().1.keeps_pins);
    }

    /// A version-1 bundle, as the versions before the flags sealed it.
    #[test]
    #[ignore = "prints a golden vector"]
    fn print_golden_bundles() {
        let (keys, wrap) = golden_keys();
        let mut plain = Vec::new();
        plain.extend_from_slice(&keys.signing.to_bytes());
        plain.extend_from_slice(&keys.exchange.to_bytes());
        plain.extend_from_slice(keys.vault.expose_secret());
        let (nonce, ct) = aead::seal(&wrap.0, &bundle_aad_v1("golden"), &plain);
        let mut w = Writer::new();
        w.u8(1).fixed(&nonce).fixed(&ct);
        println!("v1 {}", hex::encode(w.finish()));
        println!("v2 {}", hex::encode(&keys.seal_bundle(&wrap, "golden").0));
    }

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
    fn a_signature_crafted_with_a_small_order_part_holds_in_every_batch_alike() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest, Sha512};
        // A signer who knows their secret scalar `a` adds a point of order 8 to the
        // nonce's point: s·B = R + k·A then fails by that point (strictly refused), and
        // 8·s·B = 8·R + 8·k·A holds (the cofactored equation). A cofactorless batch
        // would pass it only when the signature's random weight is a multiple of 8.
        let a = Scalar::from_bytes_mod_order([0x42; 32]);
        let key = (a * ED25519_BASEPOINT_POINT).compress().to_bytes();
        let message = b"crafted by its signer".as_slice();
        let r = Scalar::from_bytes_mod_order([0x17; 32]);
        let nonce = (r * ED25519_BASEPOINT_POINT + EIGHT_TORSION[1]).compress();
        let k = Scalar::from_hash(Sha512::new().chain_update(nonce.as_bytes()).chain_update(key).chain_update(message));
        let mut crafted = [0u8; 64];
        crafted[..32].copy_from_slice(nonce.as_bytes());
        crafted[32..].copy_from_slice((r + k * a).as_bytes());
        assert!(verify_strict(&key, message, &crafted).is_err(), "strictly, it is refused");

        let alice = IdentityKeys::generate();
        let honest: Vec<Vec<u8>> = (0..40u32).map(|i| format!("record {i}").into_bytes()).collect();
        for round in 0..24 {
            let mut keys = vec![alice.public().sign_pk; honest.len()];
            let mut messages: Vec<&[u8]> = honest.iter().map(Vec::as_slice).collect();
            let mut sigs: Vec<[u8; 64]> = honest.iter().map(|m| alice.sign(m)).collect();
            let at = round % honest.len();
            keys.insert(at, key);
            messages.insert(at, message);
            sigs.insert(at, crafted);
            assert!(verify_record_signatures(&keys, &messages, &sigs).iter().all(|&h| h), "round {round}");
            assert_eq!(verify_record_signatures(&[key], &[message], &[crafted]), vec![true], "alone, round {round}");
        }
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
        let mut v3 = bundle.clone();
        v3.0[0] = 3;
        assert_eq!(IdentityKeys::open_bundle(&v3, &wrap, "ann").unwrap_err(), CryptoError::UnknownVersion(3));
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
