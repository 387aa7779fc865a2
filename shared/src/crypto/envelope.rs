//! The record envelope, version 3 (versions 1 and 2 are still read).
//!
//! ```text
//! v3: 3 | collection(16) | epoch(4) | scope(1) | record_version(8) | author(1+n)
//!       | chain_len(8) | chain_hash(32) | flags(1)
//!       | nonce(12) | ct_len(4) | AES-256-GCM ciphertext‖tag | Ed25519 signature(64)
//! v2: 2 | the same without flags
//! v1: 1 | the same without chain_len, chain_hash and flags
//! ```
//!
//! Version 2 carries the writer's view of the team chain (its length and head hash),
//! bound into the associated data and signed, so a reader learns what team history the
//! writer sealed on: a longer one than its own means the server has not shown it a
//! change (it refreshes, and stops writing until it has it); a different one at the same
//! length means the server shows members two different teams (a fork).
//!
//! Version 3 adds a flags byte (bit 0: this version deletes the record; every other bit
//! zero), bound and signed like the rest of the header. The server counts deletions
//! from it (it holds bulk deletions to an admin's approval), and readers refuse a
//! version whose flag disagrees with its sealed content, so a member cannot delete
//! without the deletion being counted.
//!
//! The associated data binds the team, collection, record id, record version, epoch,
//! scope and author, plus a *companion digest*: the basic section of a record binds
//! the SHA-256 of the sensitive section it travels with, so the two cannot be mixed
//! and matched. The author signs `label ‖ AAD ‖ envelope-without-signature`, so the
//! server can neither move a ciphertext to another record, replay an old version as
//! new, nor forge an author. Plaintext is length-prefixed and zero-padded to a size
//! bucket (powers of two from 256 B, then multiples of 64 KiB) before encryption.
//!
//! A record travels as a [`SealedRecord`]: a `basic` envelope and, when the record has
//! sensitive fields, a `sensitive` one.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::identity::{IdentityKeys, PublicIdentity};
use super::{aead, label, sha256, CryptoError, Scope, SymmetricKey};
use crate::encoding::{Reader, Writer};
use crate::ids::{CollectionId, RecordId, TeamId, Username};

pub const ENVELOPE_VERSION: u8 = 3;
const ENVELOPE_VERSION_2: u8 = 2;
const ENVELOPE_VERSION_1: u8 = 1;
/// The flags byte's bit that marks a version deleting its record (envelope v3).
const FLAG_DELETED: u8 = 1;
pub const SEALED_RECORD_VERSION: u8 = 1;
/// Largest envelope a client will produce or a server will accept.
pub const MAX_ENVELOPE_BYTES: usize = 1024 * 1024;
const SIG_LEN: usize = 64;

/// A team chain's length and head hash, as a writer saw it when sealing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHead {
    pub len: u64,
    pub hash: [u8; 32],
}

/// The cleartext header of an envelope: what the server may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeHeader {
    pub collection: CollectionId,
    pub epoch: u32,
    pub scope: Scope,
    pub record_version: u64,
    pub author: Username,
    /// The writer's verified chain head (`None` only in version-1 envelopes, which
    /// are read but no longer written).
    pub chain: Option<ChainHead>,
    /// Whether this version deletes the record, signed (`None` in version-1 and -2
    /// envelopes, which carry no flag; a header with a chain and a flag is version 3).
    /// The writer sets it from the record's content in both sections; the server and
    /// readers judge the basic section's.
    pub deleted: Option<bool>,
}

impl EnvelopeHeader {
    /// The envelope version this header is written as.
    pub fn version(&self) -> u8 {
        match (&self.chain, self.deleted) {
            (None, _) => ENVELOPE_VERSION_1,
            (Some(_), None) => ENVELOPE_VERSION_2,
            (Some(_), Some(_)) => ENVELOPE_VERSION,
        }
    }

    /// The header's fields in wire order, after the version byte.
    fn write_fields(&self, w: &mut Writer) {
        w.fixed(self.collection.as_bytes())
            .u32(self.epoch)
            .u8(self.scope as u8)
            .u64(self.record_version)
            .short_str(self.author.as_str());
        if let Some(c) = &self.chain {
            w.u64(c.len).fixed(&c.hash);
            if let Some(deleted) = self.deleted {
                w.u8(if deleted { FLAG_DELETED } else { 0 });
            }
        }
    }
}

/// What an envelope is about but does not carry: the team and the record id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordContext {
    pub team: TeamId,
    pub record: RecordId,
}

/// The associated data for an envelope. Frozen by golden tests (one per version: each
/// version starts with its own label, so none can pass for another).
pub fn aad(ctx: &RecordContext, h: &EnvelopeHeader, companion: &[u8; 32]) -> Vec<u8> {
    let mut w = Writer::with_capacity(169);
    let label = match h.version() {
        ENVELOPE_VERSION => label::ENVELOPE_V3,
        ENVELOPE_VERSION_2 => label::ENVELOPE_V2,
        _ => label::ENVELOPE,
    };
    w.fixed(label)
        .fixed(ctx.team.as_bytes())
        .fixed(h.collection.as_bytes())
        .fixed(ctx.record.as_bytes())
        .u64(h.record_version)
        .u32(h.epoch)
        .u8(h.scope as u8)
        .short_str(h.author.as_str())
        .fixed(companion);
    if let Some(c) = &h.chain {
        w.u64(c.len).fixed(&c.hash);
        if let Some(deleted) = h.deleted {
            w.u8(deleted as u8);
        }
    }
    w.finish()
}

/// Pad to a size bucket: `len(4) | plaintext | zeros`.
pub fn pad(plaintext: &[u8]) -> Vec<u8> {
    let need = plaintext.len() + 4;
    let bucket =
        if need <= 64 * 1024 { need.next_power_of_two().max(256) } else { need.div_ceil(64 * 1024) * 64 * 1024 };
    let mut out = Vec::with_capacity(bucket);
    out.extend_from_slice(&(plaintext.len() as u32).to_be_bytes());
    out.extend_from_slice(plaintext);
    out.resize(bucket, 0);
    out
}

/// Undo [`pad`]. The length prefix is compared with what follows it, never added to:
/// on a 32-bit target (the browser's wasm32) `n + 4` overflows for `n` near
/// `u32::MAX`, and a reader must never panic on what a writer sealed.
pub fn unpad(padded: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (len, rest) = padded.split_first_chunk::<4>().ok_or(CryptoError::DecryptionFailed)?;
    let n = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| CryptoError::DecryptionFailed)?;
    rest.get(..n).map(<[u8]>::to_vec).ok_or(CryptoError::DecryptionFailed)
}

/// One sealed section of a record, as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEnvelope(pub Vec<u8>);

struct ParsedEnvelope<'a> {
    header: EnvelopeHeader,
    nonce: [u8; 12],
    ct: &'a [u8],
    body_len: usize,
    sig: [u8; 64],
}

impl SealedEnvelope {
    /// Encrypt and sign one section.
    pub fn seal(
        plaintext: &[u8],
        header: &EnvelopeHeader,
        ctx: &RecordContext,
        companion: &[u8; 32],
        key: &SymmetricKey,
        author: &IdentityKeys,
    ) -> Self {
        let unsigned = Self::seal_unsigned(plaintext, header, ctx, companion, key);
        let sig = author.sign(unsigned.message());
        unsigned.signed(sig)
    }

    /// Encrypt one section, leaving its signature to be made (elsewhere, in a batch):
    /// see [`Unsigned`].
    pub fn seal_unsigned(
        plaintext: &[u8],
        header: &EnvelopeHeader,
        ctx: &RecordContext,
        companion: &[u8; 32],
        key: &SymmetricKey,
    ) -> Unsigned {
        let encryption = Encryption::new(plaintext, header, ctx, companion, key);
        let ct = encryption.encrypt_here();
        encryption.into_unsigned(ct).expect("the crate's ciphertext has the padded length")
    }

    /// For golden vectors only: a caller-chosen nonce.
    #[cfg(test)]
    pub(crate) fn seal_with_nonce(
        plaintext: &[u8],
        header: &EnvelopeHeader,
        ctx: &RecordContext,
        companion: &[u8; 32],
        key: &SymmetricKey,
        author: &IdentityKeys,
        nonce: [u8; 12],
    ) -> Self {
        let ad = aad(ctx, header, companion);
        let ct = aead::seal_with_nonce(key, &nonce, &ad, &pad(plaintext));
        let unsigned = Unsigned::assemble(header, &ad, &nonce, ct);
        let sig = author.sign(unsigned.message());
        unsigned.signed(sig)
    }

    fn parse(&self) -> Result<ParsedEnvelope<'_>, CryptoError> {
        let bad = |_| CryptoError::Malformed("envelope");
        let mut r = Reader::new(&self.0);
        let version = r.u8().map_err(bad)?;
        if ![ENVELOPE_VERSION, ENVELOPE_VERSION_2, ENVELOPE_VERSION_1].contains(&version) {
            return Err(CryptoError::UnknownVersion(version));
        }
        let collection = CollectionId(r.array().map_err(bad)?);
        let epoch = r.u32().map_err(bad)?;
        let scope = Scope::from_u8(r.u8().map_err(bad)?)?;
        let record_version = r.u64().map_err(bad)?;
        let author = Username::parse(r.short_str().map_err(bad)?).map_err(|_| CryptoError::Malformed("envelope"))?;
        let chain = match version {
            ENVELOPE_VERSION_1 => None,
            _ => Some(ChainHead { len: r.u64().map_err(bad)?, hash: r.array().map_err(bad)? }),
        };
        let deleted = match version {
            ENVELOPE_VERSION => match r.u8().map_err(bad)? {
                0 => Some(false),
                FLAG_DELETED => Some(true),
                _ => return Err(CryptoError::Malformed("envelope flags")),
            },
            _ => None,
        };
        let nonce = r.array().map_err(bad)?;
        let ct = r.bytes().map_err(bad)?;
        let body_len = self.0.len() - r.remaining();
        let sig = r.array().map_err(bad)?;
        r.finish().map_err(bad)?;
        Ok(ParsedEnvelope {
            header: EnvelopeHeader { collection, epoch, scope, record_version, author, chain, deleted },
            nonce,
            ct,
            body_len,
            sig,
        })
    }

    /// The cleartext header, without any key. The server uses this to validate pushes.
    pub fn header(&self) -> Result<EnvelopeHeader, CryptoError> {
        self.parse().map(|p| p.header)
    }

    /// Verify the author's signature, then decrypt. Every failure past parsing is
    /// [`CryptoError::DecryptionFailed`].
    pub fn open(
        &self,
        ctx: &RecordContext,
        companion: &[u8; 32],
        key: &SymmetricKey,
        author: &PublicIdentity,
    ) -> Result<Vec<u8>, CryptoError> {
        let p = self.parse()?;
        let ad = aad(ctx, &p.header, companion);
        if !self.check(&p, &ad, author).holds() {
            return Err(CryptoError::DecryptionFailed);
        }
        unpad(&aead::open(key, &p.nonce, &ad, p.ct)?)
    }

    /// [`SealedEnvelope::open`] up to its decryption, the signature not yet confirmed:
    /// the check to make, and what AES-256-GCM is to open once it holds.
    pub fn decryption_unchecked<'k>(
        self,
        ctx: &RecordContext,
        companion: &[u8; 32],
        key: &'k SymmetricKey,
        author: &PublicIdentity,
    ) -> Result<UncheckedDecryption<'k>, CryptoError> {
        let (nonce, aad, ciphertext, check) = {
            let p = self.parse()?;
            let ad = aad(ctx, &p.header, companion);
            let check = self.check(&p, &ad, author);
            let start = p.ct.as_ptr() as usize - self.0.as_ptr() as usize;
            (p.nonce, ad, start..start + p.ct.len(), check)
        };
        Ok(UncheckedDecryption { decryption: Decryption { key, nonce, aad, envelope: self, ciphertext }, check })
    }

    /// The author's signature over this section, to check without any key: what a
    /// server, which holds none, can verify of a push (`companion` as for
    /// [`SealedEnvelope::open`]).
    pub fn signature_check(
        &self,
        ctx: &RecordContext,
        companion: &[u8; 32],
        author: &PublicIdentity,
    ) -> Result<SignatureCheck, CryptoError> {
        let p = self.parse()?;
        let ad = aad(ctx, &p.header, companion);
        Ok(self.check(&p, &ad, author))
    }

    /// The author's signature over this envelope (`p`, parsed) under the associated data `ad`.
    fn check(&self, p: &ParsedEnvelope<'_>, ad: &[u8], author: &PublicIdentity) -> SignatureCheck {
        SignatureCheck { signer: author.sign_pk, message: signed_message(ad, &self.0[..p.body_len]), signature: p.sig }
    }

    pub fn digest(&self) -> [u8; 32] {
        sha256(b"quietdesk/v1/companion", &[&self.0])
    }
}

/// A section's decryption, its signature confirmed ([`UncheckedDecryption::confirm`]):
/// the inputs of AES-256-GCM, which the platform may run with its own AES (the
/// browser's WebCrypto, in hardware) rather than this crate's ([`Decryption::decrypt_here`]).
/// Either way the output goes to [`Decryption::plaintext`].
pub struct Decryption<'k> {
    key: &'k SymmetricKey,
    nonce: [u8; 12],
    aad: Vec<u8>,
    envelope: SealedEnvelope,
    ciphertext: std::ops::Range<usize>,
}

/// A section's [`Decryption`] before its signature is confirmed: its
/// [`UncheckedDecryption::check`] is verified (a batch's at once, in Web Workers), and
/// [`UncheckedDecryption::confirm`] takes the answer. Nothing is decrypted before.
#[derive(Debug)]
pub struct UncheckedDecryption<'k> {
    decryption: Decryption<'k>,
    check: SignatureCheck,
}

impl<'k> UncheckedDecryption<'k> {
    pub fn check(&self) -> &SignatureCheck {
        &self.check
    }
    /// The decryption, if the signature holds: `held` is a verifier's answer for
    /// [`UncheckedDecryption::check`]. Only a `true` is taken on its word; a `false`
    /// (a batch that failed as a whole, a worker that broke) is verified here.
    pub fn confirm(self, held: bool) -> Result<Decryption<'k>, CryptoError> {
        match held || self.check.holds() {
            true => Ok(self.decryption),
            false => Err(CryptoError::DecryptionFailed),
        }
    }
}

impl std::fmt::Debug for Decryption<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryption").field("ciphertext_len", &self.ciphertext.len()).finish_non_exhaustive()
    }
}

impl<'k> Decryption<'k> {
    pub fn key(&self) -> &'k SymmetricKey {
        self.key
    }
    pub fn nonce(&self) -> &[u8; 12] {
        &self.nonce
    }
    pub fn aad(&self) -> &[u8] {
        &self.aad
    }
    /// The ciphertext with its 16-byte tag after it (as WebCrypto takes it).
    pub fn ciphertext(&self) -> &[u8] {
        &self.envelope.0[self.ciphertext.clone()]
    }
    /// AES-256-GCM by this crate.
    pub fn decrypt_here(&self) -> Result<Vec<u8>, CryptoError> {
        aead::open(self.key, &self.nonce, &self.aad, self.ciphertext())
    }
    /// The section's plaintext from what AES-256-GCM made of [`Decryption`]'s inputs
    /// (any failure there is [`CryptoError::DecryptionFailed`]).
    pub fn plaintext(decrypted: Result<Vec<u8>, CryptoError>) -> Result<Vec<u8>, CryptoError> {
        match decrypted {
            Ok(padded) => unpad(&padded),
            Err(_) => Err(CryptoError::DecryptionFailed),
        }
    }
    pub fn into_envelope(self) -> SealedEnvelope {
        self.envelope
    }
}

/// One section's AES-256-GCM encryption before it is done: its key, a fresh random
/// nonce, its AAD and its padded plaintext. The engine gathers a batch of them and has
/// them done by the platform's AES where there is one (`Transport::encrypt`);
/// [`Encryption::encrypt_here`] is the crate's. [`Encryption::into_unsigned`] takes
/// the ciphertext (with its tag) and makes the envelope to sign. The plaintext is
/// wiped when it drops.
pub struct Encryption {
    key: SymmetricKey,
    nonce: [u8; 12],
    aad: Vec<u8>,
    padded: zeroize::Zeroizing<Vec<u8>>,
    header: EnvelopeHeader,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryption").field("header", &self.header).finish_non_exhaustive()
    }
}

impl Encryption {
    pub fn new(
        plaintext: &[u8],
        header: &EnvelopeHeader,
        ctx: &RecordContext,
        companion: &[u8; 32],
        key: &SymmetricKey,
    ) -> Self {
        Self {
            key: key.clone(),
            nonce: aead::random_nonce(),
            aad: aad(ctx, header, companion),
            padded: zeroize::Zeroizing::new(pad(plaintext)),
            header: header.clone(),
        }
    }
    pub fn key(&self) -> &SymmetricKey {
        &self.key
    }
    pub fn nonce(&self) -> &[u8; 12] {
        &self.nonce
    }
    pub fn aad(&self) -> &[u8] {
        &self.aad
    }
    /// The padded plaintext (see [`pad`]).
    pub fn plaintext(&self) -> &[u8] {
        &self.padded
    }
    /// AES-256-GCM by this crate: the ciphertext with its 16-byte tag after it.
    pub fn encrypt_here(&self) -> Vec<u8> {
        aead::seal_with_nonce(&self.key, &self.nonce, &self.aad, &self.padded)
    }
    /// The envelope to sign, around `ciphertext` (the padded plaintext's length plus
    /// the tag, or [`CryptoError::Malformed`]).
    pub fn into_unsigned(self, ciphertext: Vec<u8>) -> Result<Unsigned, CryptoError> {
        if ciphertext.len() != self.padded.len() + 16 {
            return Err(CryptoError::Malformed("a ciphertext of the wrong length"));
        }
        Ok(Unsigned::assemble(&self.header, &self.aad, &self.nonce, ciphertext))
    }
}

/// What an envelope's author signs: `label ‖ AAD ‖ envelope-without-signature`.
fn signed_message(ad: &[u8], body: &[u8]) -> Vec<u8> {
    [label::ENVELOPE_SIG, ad, body].concat()
}

/// An envelope encrypted but not yet signed. Its author signs [`Unsigned::message`]
/// (the engine gathers a batch and may have them signed in Web Workers), and
/// [`Unsigned::signed`] appends the signature.
#[derive(Debug)]
pub struct Unsigned {
    body: Vec<u8>,
    message: Vec<u8>,
}

impl Unsigned {
    fn assemble(h: &EnvelopeHeader, ad: &[u8], nonce: &[u8; 12], ct: Vec<u8>) -> Self {
        let mut w = Writer::with_capacity(105 + ct.len() + SIG_LEN);
        w.u8(h.version());
        h.write_fields(&mut w);
        w.fixed(nonce).bytes(&ct);
        let body = w.finish();
        Self { message: signed_message(ad, &body), body }
    }

    /// The bytes to sign.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The envelope, with the author's signature over [`Unsigned::message`].
    pub fn signed(self, signature: [u8; 64]) -> SealedEnvelope {
        let mut body = self.body;
        body.extend_from_slice(&signature);
        SealedEnvelope(body)
    }
}

/// One Ed25519 signature to check: the signer's public key, the signed bytes and the
/// signature. The engine gathers the checks of a batch of records and may have them
/// done elsewhere (Web Workers, in parallel); see [`UncheckedDecryption`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    pub signer: [u8; 32],
    pub message: Vec<u8>,
    pub signature: [u8; 64],
}

impl SignatureCheck {
    /// Whether the signature holds (as [`SignatureCheck::all_hold`] judges it).
    pub fn holds(&self) -> bool {
        Self::all_hold(&[self])[0]
    }

    /// Whether each holds, checked in batches (see
    /// [`super::identity::verify_record_signatures`]).
    pub fn all_hold(checks: &[&SignatureCheck]) -> Vec<bool> {
        let keys: Vec<[u8; 32]> = checks.iter().map(|c| c.signer).collect();
        let messages: Vec<&[u8]> = checks.iter().map(|c| c.message.as_slice()).collect();
        let signatures: Vec<[u8; 64]> = checks.iter().map(|c| c.signature).collect();
        super::identity::verify_record_signatures(&keys, &messages, &signatures)
    }
}

/// The keys a client holds, by collection, epoch and scope.
#[derive(Default)]
pub struct Keyring {
    keys: HashMap<(CollectionId, u32, Scope), SymmetricKey>,
}

impl Keyring {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn insert(&mut self, collection: CollectionId, epoch: u32, scope: Scope, key: SymmetricKey) {
        self.keys.insert((collection, epoch, scope), key);
    }
    pub fn get(&self, collection: CollectionId, epoch: u32, scope: Scope) -> Option<&SymmetricKey> {
        self.keys.get(&(collection, epoch, scope))
    }
    /// The newest epoch this client holds a `basic` key for in `collection`.
    pub fn latest_epoch(&self, collection: CollectionId) -> Option<u32> {
        self.keys.keys().filter(|(c, _, s)| *c == collection && *s == Scope::Basic).map(|(_, e, _)| *e).max()
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    /// Every key held: collection, epoch, scope, key.
    pub fn iter(&self) -> impl Iterator<Item = (CollectionId, u32, Scope, &SymmetricKey)> {
        self.keys.iter().map(|((c, e, s), k)| (*c, *e, *s, k))
    }
    /// Add every key of `other` this keyring lacks.
    pub fn keep_missing_from(&mut self, other: &Keyring) {
        for (k, v) in &other.keys {
            self.keys.entry(*k).or_insert_with(|| v.clone());
        }
    }
    /// Every collection a key is held for.
    pub fn collections(&self) -> std::collections::BTreeSet<CollectionId> {
        self.keys.keys().map(|(c, _, _)| *c).collect()
    }
}

/// A whole record on the wire: `version(1) | count(1) | (len(4) | envelope)*`, the
/// basic envelope first and, optionally, the sensitive one second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedRecord(#[serde(with = "crate::encoding::b64")] pub Vec<u8>);

/// What a server can check about a sealed record without any key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecordInfo {
    pub collection: CollectionId,
    pub record_version: u64,
    pub epoch: u32,
    pub author: Username,
    pub has_sensitive: bool,
    /// The oldest epoch any section is sealed under (a sensitive section carried
    /// forward by a client without its key can be older than the basic one).
    pub min_epoch: u32,
    /// The basic section's signed deletion flag (`None` before envelope version 3).
    pub deleted: Option<bool>,
}

impl SealedRecord {
    pub fn from_envelopes(basic: &SealedEnvelope, sensitive: Option<&SealedEnvelope>) -> Self {
        let mut w = Writer::new();
        w.u8(SEALED_RECORD_VERSION).u8(1 + sensitive.is_some() as u8).bytes(&basic.0);
        if let Some(s) = sensitive {
            w.bytes(&s.0);
        }
        Self(w.finish())
    }

    pub fn envelopes(&self) -> Result<(SealedEnvelope, Option<SealedEnvelope>), CryptoError> {
        let bad = |_| CryptoError::Malformed("sealed record");
        let mut r = Reader::new(&self.0);
        let version = r.u8().map_err(bad)?;
        if version != SEALED_RECORD_VERSION {
            return Err(CryptoError::UnknownVersion(version));
        }
        let n = r.u8().map_err(bad)?;
        if !(1..=2).contains(&n) {
            return Err(CryptoError::Malformed("sealed record"));
        }
        let basic = SealedEnvelope(r.bytes().map_err(bad)?.to_vec());
        let sensitive = if n == 2 { Some(SealedEnvelope(r.bytes().map_err(bad)?.to_vec())) } else { None };
        r.finish().map_err(bad)?;
        Ok((basic, sensitive))
    }

    /// Structural checks a server makes before storing: known versions, a basic
    /// section first, a sensitive one (if any) second, one collection, bounded size.
    pub fn inspect(&self) -> Result<SealedRecordInfo, CryptoError> {
        if self.0.len() > MAX_ENVELOPE_BYTES {
            return Err(CryptoError::Malformed("sealed record too large"));
        }
        let (basic, sensitive) = self.envelopes()?;
        let b = basic.header()?;
        if b.scope != Scope::Basic {
            return Err(CryptoError::Malformed("first section must be basic"));
        }
        let mut min_epoch = b.epoch;
        if let Some(s) = &sensitive {
            let s = s.header()?;
            if s.scope != Scope::Sensitive || s.collection != b.collection || s.record_version > b.record_version {
                return Err(CryptoError::Malformed("sensitive section does not match"));
            }
            min_epoch = min_epoch.min(s.epoch);
        }
        Ok(SealedRecordInfo {
            collection: b.collection,
            record_version: b.record_version,
            epoch: b.epoch,
            author: b.author,
            has_sensitive: sensitive.is_some(),
            min_epoch,
            deleted: b.deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpad_refuses_lengths_past_the_end_without_overflow() {
        for n in [u32::MAX, u32::MAX - 3, 5] {
            let mut padded = n.to_be_bytes().to_vec();
            padded.extend_from_slice(&[0; 4]);
            assert_eq!(unpad(&padded), Err(CryptoError::DecryptionFailed), "length {n}");
        }
        assert_eq!(unpad(&[0, 0, 0]), Err(CryptoError::DecryptionFailed));
        assert_eq!(unpad(&pad(b"hello")).unwrap(), b"hello");
    }
    use proptest::prelude::*;
    const NO_COMPANION: [u8; 32] = [0; 32];

    pub(crate) fn golden_author() -> IdentityKeys {
        IdentityKeys::from_secret_bytes([5; 32], [6; 32], [7; 32])
    }
    fn header() -> EnvelopeHeader {
        EnvelopeHeader {
            collection: CollectionId([0xC0; 16]),
            epoch: 3,
            scope: Scope::Basic,
            record_version: 42,
            author: Username::parse("golden").unwrap(),
            chain: Some(ChainHead { len: 7, hash: [0xCA; 32] }),
            deleted: Some(false),
        }
    }
    fn header_v2() -> EnvelopeHeader {
        EnvelopeHeader { deleted: None, ..header() }
    }
    fn header_v1() -> EnvelopeHeader {
        EnvelopeHeader { chain: None, deleted: None, ..header() }
    }
    /// The golden version-3 header: a deletion, so the flag's bit is frozen too.
    fn header_v3() -> EnvelopeHeader {
        EnvelopeHeader { deleted: Some(true), ..header() }
    }
    /// `h` written with `p`'s nonce, ciphertext and signature (a rewritten header).
    fn rewritten(h: &EnvelopeHeader, p: &ParsedEnvelope<'_>) -> SealedEnvelope {
        let mut w = Writer::new();
        w.u8(h.version());
        h.write_fields(&mut w);
        w.fixed(&p.nonce).bytes(p.ct).fixed(&p.sig);
        SealedEnvelope(w.finish())
    }
    fn ctx() -> RecordContext {
        RecordContext { team: TeamId([0x7E; 16]), record: RecordId([0x5E; 16]) }
    }
    const GOLDEN_PLAINTEXT: &[u8] = br#"{"fields":{"name":{"v":{"text":"Golden Customer"},"s":{"hlc":{"wall_ms":1,"counter":0},"author":"golden"}}}}"#;

    fn check_golden(name: &str, computed: &str, stored: &str) {
        assert!(stored.trim() != "UNSET", "golden {name} not yet frozen; computed value:\n{computed}");
        assert_eq!(computed, stored.trim(), "golden {name} changed: this breaks every stored record");
    }

    #[test]
    fn golden_aad_bytes_are_frozen() {
        let a = hex::encode(aad(&ctx(), &header_v1(), &[0xAB; 32]));
        check_golden("aad v1", &a, include_str!("../../tests/golden/envelope_aad_v1.hex"));
        let a = hex::encode(aad(&ctx(), &header_v2(), &[0xAB; 32]));
        check_golden("aad v2", &a, include_str!("../../tests/golden/envelope_aad_v2.hex"));
        let a = hex::encode(aad(&ctx(), &header_v3(), &[0xAB; 32]));
        check_golden("aad v3", &a, include_str!("../../tests/golden/envelope_aad_v3.hex"));
    }

    #[test]
    fn golden_envelopes_are_frozen_and_still_open() {
        let key = SymmetricKey::from_bytes([0x11; 32]);
        let author = golden_author();
        for (h, name, stored) in [
            (header_v1(), "envelope v1", include_str!("../../tests/golden/envelope_v1.hex")),
            (header_v2(), "envelope v2", include_str!("../../tests/golden/envelope_v2.hex")),
            (header_v3(), "envelope v3", include_str!("../../tests/golden/envelope_v3.hex")),
        ] {
            let env =
                SealedEnvelope::seal_with_nonce(GOLDEN_PLAINTEXT, &h, &ctx(), &NO_COMPANION, &key, &author, [0x22; 12]);
            check_golden(name, &hex::encode(&env.0), stored);
            let stored = SealedEnvelope(hex::decode(stored.trim()).unwrap());
            assert_eq!(stored.open(&ctx(), &NO_COMPANION, &key, &author.public()).unwrap(), GOLDEN_PLAINTEXT);
            assert_eq!(stored.header().unwrap(), h);
        }
    }

    #[test]
    fn a_v3_envelope_cannot_pass_for_an_older_version_nor_change_its_chain_head_or_flag() {
        let (env, key, author) = sealed();
        let p = env.parse().unwrap();
        let variants = [
            EnvelopeHeader { chain: None, deleted: None, ..header() },
            EnvelopeHeader { deleted: None, ..header() },
            EnvelopeHeader { deleted: Some(true), ..header() },
            EnvelopeHeader { chain: Some(ChainHead { len: 8, hash: [0xCA; 32] }), ..header() },
            EnvelopeHeader { chain: Some(ChainHead { len: 7, hash: [1; 32] }), ..header() },
        ];
        for h in variants {
            assert_eq!(
                rewritten(&h, &p).open(&ctx(), &NO_COMPANION, &key, &author.public()).unwrap_err(),
                CryptoError::DecryptionFailed,
                "{h:?}"
            );
        }
    }

    #[test]
    fn unknown_flags_are_refused() {
        let (env, _, _) = sealed();
        let flags_at = 1 + 16 + 4 + 1 + 8 + 1 + "golden".len() + 8 + 32;
        assert_eq!(env.0[flags_at], 0);
        for flags in [2u8, 3, 0x80] {
            let mut t = env.clone();
            t.0[flags_at] = flags;
            assert_eq!(t.header().unwrap_err(), CryptoError::Malformed("envelope flags"), "{flags}");
        }
        let mut deleting = env.clone();
        deleting.0[flags_at] = 1;
        assert_eq!(deleting.header().unwrap().deleted, Some(true));
    }

    fn sealed() -> (SealedEnvelope, SymmetricKey, IdentityKeys) {
        let key = SymmetricKey::generate();
        let author = IdentityKeys::generate();
        let env = SealedEnvelope::seal(b"secret customer", &header(), &ctx(), &NO_COMPANION, &key, &author);
        (env, key, author)
    }

    #[test]
    fn every_bound_field_is_checked() {
        let (env, key, author) = sealed();
        let pk = author.public();
        assert_eq!(env.open(&ctx(), &NO_COMPANION, &key, &pk).unwrap(), b"secret customer");
        let fails = |c: RecordContext, comp: [u8; 32]| env.open(&c, &comp, &key, &pk).unwrap_err();
        assert_eq!(
            fails(RecordContext { team: TeamId([1; 16]), ..ctx() }, NO_COMPANION),
            CryptoError::DecryptionFailed
        );
        assert_eq!(
            fails(RecordContext { record: RecordId([1; 16]), ..ctx() }, NO_COMPANION),
            CryptoError::DecryptionFailed
        );
        assert_eq!(fails(ctx(), [1; 32]), CryptoError::DecryptionFailed);
        assert_eq!(
            env.open(&ctx(), &NO_COMPANION, &SymmetricKey::generate(), &pk).unwrap_err(),
            CryptoError::DecryptionFailed
        );
        assert_eq!(
            env.open(&ctx(), &NO_COMPANION, &key, &IdentityKeys::generate().public()).unwrap_err(),
            CryptoError::DecryptionFailed,
            "forged author"
        );
    }

    #[test]
    fn header_fields_cannot_be_rewritten() {
        // Re-encode the header with one field changed and the same nonce/ct/sig.
        let (env, key, author) = sealed();
        let h = header();
        let variants = [
            EnvelopeHeader { collection: CollectionId([9; 16]), ..h.clone() },
            EnvelopeHeader { epoch: 4, ..h.clone() },
            EnvelopeHeader { scope: Scope::Sensitive, ..h.clone() },
            EnvelopeHeader { record_version: 43, ..h.clone() },
            EnvelopeHeader { author: Username::parse("mallory").unwrap(), ..h.clone() },
        ];
        let p = env.parse().unwrap();
        for v in variants {
            assert_eq!(
                rewritten(&v, &p).open(&ctx(), &NO_COMPANION, &key, &author.public()).unwrap_err(),
                CryptoError::DecryptionFailed
            );
        }
    }

    #[test]
    fn any_flipped_byte_fails_with_one_coarse_error() {
        let (env, key, author) = sealed();
        for i in 0..env.0.len() {
            let mut t = env.clone();
            t.0[i] ^= 0x01;
            let e = t.open(&ctx(), &NO_COMPANION, &key, &author.public()).unwrap_err();
            assert!(
                matches!(e, CryptoError::DecryptionFailed | CryptoError::Malformed(_) | CryptoError::UnknownVersion(_)),
                "byte {i}: {e:?}"
            );
        }
        let mut v4 = env.clone();
        v4.0[0] = 4;
        assert_eq!(v4.open(&ctx(), &NO_COMPANION, &key, &author.public()).unwrap_err(), CryptoError::UnknownVersion(4));
    }

    #[test]
    fn sizes_fall_in_buckets() {
        assert_eq!(pad(b"").len(), 256);
        assert_eq!(pad(&[1; 252]).len(), 256);
        assert_eq!(pad(&[1; 253]).len(), 512);
        assert_eq!(pad(&[1; 70_000]).len(), 128 * 1024);
        assert_eq!(unpad(&pad(b"abc")).unwrap(), b"abc");
    }

    #[test]
    fn sealed_record_inspection() {
        let (env, _, _) = sealed();
        let rec = SealedRecord::from_envelopes(&env, None);
        let info = rec.inspect().unwrap();
        assert_eq!((info.record_version, info.epoch, info.has_sensitive), (42, 3, false));
        let mut bad = rec.clone();
        bad.0[0] = 7;
        assert_eq!(bad.inspect().unwrap_err(), CryptoError::UnknownVersion(7));
        assert!(SealedRecord(vec![1, 0]).inspect().is_err());
        assert!(SealedRecord::from_envelopes(&env, Some(&env)).inspect().is_err(), "two basic sections");
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(plain in prop::collection::vec(any::<u8>(), 0..5000), version in any::<u64>(), epoch in any::<u32>()) {
            let key = SymmetricKey::generate();
            let author = golden_author();
            let h = EnvelopeHeader { record_version: version, epoch, ..header() };
            let env = SealedEnvelope::seal(&plain, &h, &ctx(), &NO_COMPANION, &key, &author);
            prop_assert_eq!(env.open(&ctx(), &NO_COMPANION, &key, &author.public()).unwrap(), plain);
        }
    }
}
