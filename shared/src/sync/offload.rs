//! Work handed to Web Workers: the messages between the page and its workers, and
//! what a worker does with them. Signatures, and the passphrase's key derivation.
//!
//! Signatures are most of the cost of sealing and opening records (two per customer:
//! the basic and the sensitive section). The engine gathers a batch's signatures
//! ([`super::Transport::sign`], [`super::Transport::verify_signatures`]); a browser
//! splits the batch among workers that run this same crate (the app's own wasm
//! module, instantiated without the page), so the signatures are made on every core
//! and never on the page's thread. A worker holds the signing key of the account that
//! is open (the same device, the same origin), nothing else.
//!
//! ```text
//! request:  KEY    | secret(32)                                  → public key(32)
//!           VERIFY | count(4) | (signer(32) | sig(64) | len(4) | message)*  → count × (0|1)
//!           SIGN   | signer(32) | count(4) | (len(4) | message)* → count × sig(64)
//!           DERIVE | username | salt(16) | m(4) | t(4) | p(4) | binding(1) | passphrase
//!                                                        → auth key(32) | wrap key(32)
//!           OPEN   | keys(1) | key(32)* | count(4)
//!                  | (signer(32) | sig(64) | len(4) | message | key(1) | nonce(12)
//!                     | aad_at(4) | aad_len(4) | ct_at(4) | ct_len(4))*
//!                  → count × (NOT_HELD | HELD_UNOPENED | OPENED len(4) | padded plaintext)
//! ```
//! OPEN is VERIFY and then, for each section whose signature holds, its AES-256-GCM
//! decryption, in the same pass: a first sync's 200,000 sections are checked and
//! decrypted off the page's thread (the page's WebCrypto calls cost it ~15 µs each, a
//! third of its time in that sync). Nothing whose signature does not hold is
//! decrypted. The associated data and the ciphertext are read where they lie in the
//! signed message (see `UncheckedDecryption::inputs`). The section keys head the
//! request: both sides wipe that head once read, and a worker wipes its answer (the
//! records' plaintext); it keeps no key after answering.
//! DERIVE is Argon2id ([`derive_account_keys`]): 0.3–1 s of one core, which on the
//! page's thread froze the log-in and the unlock screens. Its request and answer hold
//! secrets: both sides wipe them once read.
//! A request a worker cannot answer (malformed, or SIGN for a key it does not hold)
//! gets an empty answer; the page then does the work itself.

use zeroize::Zeroizing;

use crate::crypto::envelope::{unpadded, SignatureCheck, UncheckedDecryption};
use crate::crypto::identity::{verify_record_signatures, Signer};
use crate::crypto::passphrase::{derive_account_keys, AuthKey, KdfParams, Passphrase, SaltBinding, WrapKey};
use crate::crypto::CryptoError;
use crate::crypto::{aead, SymmetricKey};
use crate::encoding::{Reader, Writer};
use crate::ids::Username;
use crate::sync::Checked;

const KEY: u8 = 1;
const VERIFY: u8 = 2;
const SIGN: u8 = 3;
const DERIVE: u8 = 4;
const OPEN: u8 = 5;

/// A section in an OPEN answer: its signature was not confirmed (the page checks it).
const NOT_HELD: u8 = 0;
/// Its signature holds, and AES-256-GCM refused it (tampered, or a wrong key).
const HELD_UNOPENED: u8 = 1;
/// Its signature holds, and its padded plaintext follows.
const OPENED: u8 = 2;
/// An OPEN request names its section keys by a one-byte index.
const MAX_OPEN_KEYS: usize = 255;

/// How many of a request's first bytes hold a secret and are wiped once read: all of
/// a KEY or a DERIVE request (a signing key, a passphrase), an OPEN request's section
/// keys (its head), none of VERIFY or SIGN. Signature requests are public, and a first
/// sync's are hundreds of megabytes: wiping them a byte at a time cost each worker
/// ~0.3 s of a 100,000-customer first sync.
pub fn secret_head(request: &[u8]) -> usize {
    match request {
        [KEY | DERIVE, ..] => request.len(),
        [OPEN, keys, ..] => (2 + 32 * usize::from(*keys)).min(request.len()),
        _ => 0,
    }
}

/// Whether a request's answer holds a secret and is wiped once read: DERIVE's
/// derived keys, OPEN's decrypted records.
pub fn secret_answer(request: &[u8]) -> bool {
    matches!(request.first(), Some(&(DERIVE | OPEN)))
}

/// The request that gives a worker the key to sign with.
pub fn key_request(signer: &Signer) -> Vec<u8> {
    let secret = signer.to_bytes();
    let mut w = Writer::with_capacity(33);
    w.u8(KEY).fixed(&secret[..]);
    w.finish()
}

pub fn verify_request(checks: &[&SignatureCheck]) -> Vec<u8> {
    let size: usize = checks.iter().map(|c| 100 + c.message.len()).sum();
    let mut w = Writer::with_capacity(5 + size);
    w.u8(VERIFY).u32(checks.len() as u32);
    for c in checks {
        w.fixed(&c.signer).fixed(&c.signature).bytes(&c.message);
    }
    w.finish()
}

/// A worker's answer to [`verify_request`] of `count` checks.
pub fn verify_answer(answer: &[u8], count: usize) -> Option<Vec<bool>> {
    (answer.len() == count).then(|| answer.iter().map(|&b| b == 1).collect())
}

pub fn sign_request(signer: &[u8; 32], messages: &[&[u8]]) -> Vec<u8> {
    let size: usize = messages.iter().map(|m| 4 + m.len()).sum();
    let mut w = Writer::with_capacity(37 + size);
    w.u8(SIGN).fixed(signer).u32(messages.len() as u32);
    for m in messages {
        w.bytes(m);
    }
    w.finish()
}

/// A worker's answer to [`sign_request`] of `count` messages.
pub fn sign_answer(answer: &[u8], count: usize) -> Option<Vec<[u8; 64]>> {
    if answer.len() != count * 64 {
        return None;
    }
    Some(answer.chunks_exact(64).map(|c| c.try_into().expect("64 bytes")).collect())
}

/// The request that has a worker check `sections`' signatures and decrypt those that
/// hold; `None` when they use more keys than a request can name. The caller wipes its
/// [`secret_head`] once sent.
pub fn open_request(sections: &[&UncheckedDecryption<'_>]) -> Option<Vec<u8>> {
    // The keyring lends one reference per key, so the same key is the same address.
    let mut keys: Vec<&SymmetricKey> = Vec::new();
    let mut key_of = Vec::with_capacity(sections.len());
    for s in sections {
        let (key, ..) = s.inputs();
        let i = match keys.iter().position(|k| std::ptr::eq(*k, key)) {
            Some(i) => i,
            None => {
                keys.push(key);
                keys.len() - 1
            }
        };
        key_of.push(u8::try_from(i).ok().filter(|&i| usize::from(i) < MAX_OPEN_KEYS)?);
    }
    let size: usize = sections.iter().map(|s| 130 + s.check().message.len()).sum();
    let mut w = Writer::with_capacity(6 + 32 * keys.len() + size);
    w.u8(OPEN).u8(keys.len() as u8);
    for k in &keys {
        w.fixed(k.expose_secret());
    }
    w.u32(sections.len() as u32);
    for (s, key) in sections.iter().zip(key_of) {
        let c = s.check();
        let (_, nonce, aad, ct) = s.inputs();
        w.fixed(&c.signer).fixed(&c.signature).bytes(&c.message).u8(key).fixed(nonce);
        w.u32(aad.start as u32).u32(aad.len() as u32).u32(ct.start as u32).u32(ct.len() as u32);
    }
    Some(w.finish())
}

/// A worker's answer to [`open_request`] of `count` sections, one [`Checked`] each.
pub fn open_answer(answer: &[u8], count: usize) -> Option<Vec<Checked>> {
    let mut r = Reader::new(answer);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(match r.u8().ok()? {
            NOT_HELD => Checked::NotHeld,
            HELD_UNOPENED => Checked::Decrypted(Err(CryptoError::DecryptionFailed)),
            OPENED => Checked::Decrypted(Ok(r.bytes().ok()?.to_vec())),
            _ => return None,
        });
    }
    r.finish().ok()?;
    Some(out)
}

/// An OPEN request read and its signatures checked ([`Opening::read`]): what is left
/// is to decrypt the sections whose signatures hold ([`Opening::decryptions`]), by this
/// crate's AES ([`Opening::decrypt_here`]) or by the platform's (a browser's WebCrypto,
/// in hardware), and to write the answer ([`Opening::answer`]).
pub struct Opening<'a> {
    keys: Vec<SymmetricKey>,
    sections: Vec<Section<'a>>,
}

struct Section<'a> {
    key: usize,
    nonce: [u8; 12],
    aad: &'a [u8],
    ciphertext: &'a [u8],
    held: bool,
}

/// One AES-256-GCM decryption of an [`Opening`]: its key (by index into
/// [`Opening::keys`]), nonce, associated data and ciphertext‖tag.
pub struct SectionDecryption<'o> {
    pub key: usize,
    pub nonce: &'o [u8; 12],
    pub aad: &'o [u8],
    pub ciphertext: &'o [u8],
}

impl<'a> Opening<'a> {
    /// Read an OPEN request and check every signature in it (as a batch); `None` when
    /// it is not a well-formed OPEN request.
    pub fn read(request: &'a [u8]) -> Option<Self> {
        let mut r = Reader::new(request);
        (r.u8().ok()? == OPEN).then_some(())?;
        let keys: Vec<SymmetricKey> =
            (0..r.u8().ok()?).map(|_| Some(SymmetricKey::from_bytes(r.array().ok()?))).collect::<Option<_>>()?;
        let count = r.u32().ok()? as usize;
        let capacity = count.min(r.remaining() / 150);
        let (mut signers, mut signatures, mut messages, mut sections) = (
            Vec::with_capacity(capacity),
            Vec::with_capacity(capacity),
            Vec::with_capacity(capacity),
            Vec::with_capacity(capacity),
        );
        for _ in 0..count {
            signers.push(r.array::<32>().ok()?);
            signatures.push(r.array::<64>().ok()?);
            let message = r.bytes().ok()?;
            let key = usize::from(r.u8().ok()?);
            (key < keys.len()).then_some(())?;
            let nonce = r.array().ok()?;
            let mut range = || -> Option<&'a [u8]> {
                let (at, len) = (r.u32().ok()? as usize, r.u32().ok()? as usize);
                message.get(at..at.checked_add(len)?)
            };
            let (aad, ciphertext) = (range()?, range()?);
            messages.push(message);
            sections.push(Section { key, nonce, aad, ciphertext, held: false });
        }
        r.finish().ok()?;
        let holds = verify_record_signatures(&signers, &messages, &signatures);
        for (s, held) in sections.iter_mut().zip(holds) {
            s.held = held;
        }
        Some(Self { keys, sections })
    }

    pub fn keys(&self) -> &[SymmetricKey] {
        &self.keys
    }

    /// The sections whose signatures hold, in order: only these are decrypted.
    pub fn decryptions(&self) -> impl Iterator<Item = SectionDecryption<'_>> {
        self.sections.iter().filter(|s| s.held).map(|s| SectionDecryption {
            key: s.key,
            nonce: &s.nonce,
            aad: s.aad,
            ciphertext: s.ciphertext,
        })
    }

    /// [`Opening::decryptions`] by this crate's AES.
    pub fn decrypt_here(&self) -> Vec<Result<Vec<u8>, CryptoError>> {
        self.decryptions().map(|d| aead::open(&self.keys[d.key], d.nonce, d.aad, d.ciphertext)).collect()
    }

    /// The answer, from what AES-256-GCM made of each of [`Opening::decryptions`] in
    /// order (a missing one counts as refused). Each plaintext is unpadded here, so
    /// that only the record's bytes travel back.
    pub fn answer(&self, decrypted: Vec<Result<Vec<u8>, CryptoError>>) -> Vec<u8> {
        let mut decrypted = decrypted.into_iter();
        let size: usize = self.sections.iter().map(|s| 5 + s.ciphertext.len()).sum();
        let mut w = Writer::with_capacity(size);
        for s in &self.sections {
            if !s.held {
                w.u8(NOT_HELD);
                continue;
            }
            let padded = decrypted.next().unwrap_or(Err(CryptoError::DecryptionFailed)).map(Zeroizing::new);
            match padded.as_ref().map(|p| unpadded(p)) {
                Ok(Ok(plain)) => w.u8(OPENED).bytes(plain),
                _ => w.u8(HELD_UNOPENED),
            };
        }
        w.finish()
    }
}

/// The request that has a worker derive an account's keys from its passphrase.
pub fn derive_request(
    passphrase: &Passphrase,
    username: &Username,
    salt: &[u8; 16],
    kdf: KdfParams,
) -> Zeroizing<Vec<u8>> {
    let name = username.as_str();
    let secret = passphrase.expose_secret().as_bytes();
    // Sized exactly: a buffer that grew would leave a copy of the passphrase behind.
    let mut w = Writer::with_capacity(1 + 1 + name.len() + 16 + 13 + 4 + secret.len());
    w.u8(DERIVE).short_str(name).fixed(salt);
    w.u32(kdf.m_cost_kib).u32(kdf.t_cost).u32(kdf.p_cost).u8(binding_byte(kdf.binding)).bytes(secret);
    Zeroizing::new(w.finish())
}

fn binding_byte(binding: SaltBinding) -> u8 {
    match binding {
        SaltBinding::Random => 0,
        SaltBinding::Username => 1,
    }
}

/// A worker's answer to [`derive_request`].
pub fn derive_answer(answer: &[u8]) -> Option<(AuthKey, WrapKey)> {
    let (auth, wrap) = (answer.len() == 64).then(|| answer.split_at(32))?;
    Some((AuthKey::from_bytes(auth.try_into().ok()?), WrapKey::from_bytes(wrap.try_into().ok()?)))
}

fn derive(r: &mut Reader<'_>) -> Option<Result<(AuthKey, WrapKey), CryptoError>> {
    let username = Username::parse(r.short_str().ok()?).ok()?;
    let salt = r.array::<16>().ok()?;
    let (m_cost_kib, t_cost, p_cost) = (r.u32().ok()?, r.u32().ok()?, r.u32().ok()?);
    let binding = match r.u8().ok()? {
        0 => SaltBinding::Random,
        1 => SaltBinding::Username,
        _ => return None,
    };
    let passphrase = Passphrase::new(std::str::from_utf8(r.bytes().ok()?).ok()?);
    let kdf = KdfParams { m_cost_kib, t_cost, p_cost, binding };
    Some(derive_account_keys(&passphrase, &username, &salt, kdf))
}

/// What a worker holds between requests.
#[derive(Default)]
pub struct Worker {
    signer: Option<Signer>,
}

impl Worker {
    /// Answer one request (empty when it cannot; see the module's doc).
    pub fn handle(&mut self, request: &[u8]) -> Vec<u8> {
        self.answer(request).unwrap_or_default()
    }

    fn answer(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let mut r = Reader::new(request);
        match r.u8().ok()? {
            KEY => {
                let secret = zeroize::Zeroizing::new(r.array::<32>().ok()?);
                r.finish().ok()?;
                let signer = Signer::from_bytes(&secret);
                let public = signer.public_key();
                self.signer = Some(signer);
                Some(public.to_vec())
            }
            VERIFY => {
                // The messages are checked where they are in the request, not copied.
                let count = r.u32().ok()? as usize;
                let capacity = count.min(request.len() / 100);
                let (mut keys, mut signatures, mut messages) =
                    (Vec::with_capacity(capacity), Vec::with_capacity(capacity), Vec::with_capacity(capacity));
                for _ in 0..count {
                    keys.push(r.array().ok()?);
                    signatures.push(r.array().ok()?);
                    messages.push(r.bytes().ok()?);
                }
                r.finish().ok()?;
                let holds = verify_record_signatures(&keys, &messages, &signatures);
                Some(holds.into_iter().map(u8::from).collect())
            }
            SIGN => {
                let signer = self.signer.as_ref().filter(|s| r.array::<32>().ok() == Some(s.public_key()))?;
                let count = r.u32().ok()?;
                let mut out = Vec::new();
                for _ in 0..count {
                    out.extend_from_slice(&signer.sign(r.bytes().ok()?));
                }
                r.finish().ok()?;
                Some(out)
            }
            DERIVE => {
                let (auth, wrap) = derive(&mut r)?.ok()?;
                r.finish().ok()?;
                Some([&auth.expose_secret()[..], &wrap.expose_secret()[..]].concat())
            }
            OPEN => {
                let opening = Opening::read(request)?;
                Some(opening.answer(opening.decrypt_here()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::envelope::{ChainHead, Decryption, EnvelopeHeader, RecordContext, SealedEnvelope};
    use crate::crypto::identity::IdentityKeys;
    use crate::crypto::Scope;
    use crate::ids::{CollectionId, RecordId, TeamId};

    #[test]
    fn a_worker_signs_with_the_key_it_was_given_and_checks_signatures() {
        let me = IdentityKeys::generate();
        let mut worker = Worker::default();
        let pk = me.public().sign_pk;
        // No key yet: no signatures.
        assert!(worker.handle(&sign_request(&pk, &[b"m"])).is_empty());
        assert_eq!(worker.handle(&key_request(&me.signer())), pk.to_vec());
        let key = key_request(&me.signer());
        assert_eq!(secret_head(&key), key.len(), "a signing key is wiped whole");
        assert_eq!(secret_head(&sign_request(&pk, &[b"m"])), 0);
        assert!(!secret_answer(&sign_request(&pk, &[b"m"])));

        let messages: [&[u8]; 3] = [b"one", b"", b"three"];
        let sigs = sign_answer(&worker.handle(&sign_request(&pk, &messages)), 3).unwrap();
        for (m, s) in messages.iter().zip(&sigs) {
            assert_eq!(*s, me.sign(m), "the same deterministic signature as signing here");
        }
        // Asked to sign as someone else: refused, not signed with the wrong key.
        let other = IdentityKeys::generate().public().sign_pk;
        assert!(worker.handle(&sign_request(&other, &messages)).is_empty());

        let mut checks: Vec<SignatureCheck> = messages
            .iter()
            .zip(&sigs)
            .map(|(m, s)| SignatureCheck { signer: pk, message: m.to_vec(), signature: *s })
            .collect();
        checks[1].message = b"changed".to_vec();
        checks[2].signer = other;
        let request = verify_request(&checks.iter().collect::<Vec<_>>());
        assert_eq!(secret_head(&request), 0);
        assert!(!secret_answer(&request));
        let holds = verify_answer(&worker.handle(&request), 3).unwrap();
        assert_eq!(holds, [true, false, false]);
    }

    #[test]
    fn a_worker_derives_the_same_account_keys_as_the_page() {
        let mut worker = Worker::default();
        let pass = Passphrase::new("correct horse battery");
        let alice = Username::parse("alice").unwrap();
        for binding in [SaltBinding::Username, SaltBinding::Random] {
            let kdf = KdfParams { binding, ..KdfParams::MINIMUM };
            let (auth, wrap) = derive_answer(&worker.handle(&derive_request(&pass, &alice, &[7; 16], kdf))).unwrap();
            let (here_auth, here_wrap) = derive_account_keys(&pass, &alice, &[7; 16], kdf).unwrap();
            assert_eq!(auth.expose_secret(), here_auth.expose_secret());
            assert_eq!(wrap.expose_secret(), here_wrap.expose_secret());
        }
        // Settings outside the bounds a client accepts: no answer, so the page derives
        // (and refuses) them itself.
        let weak = KdfParams { m_cost_kib: 8, ..KdfParams::MINIMUM };
        assert!(worker.handle(&derive_request(&pass, &alice, &[7; 16], weak)).is_empty());
        let derive = derive_request(&pass, &alice, &[7; 16], weak);
        assert_eq!(secret_head(&derive), derive.len(), "a passphrase is wiped whole");
        assert!(secret_answer(&derive), "so are the keys derived from it");
        let request = derive_request(&pass, &alice, &[7; 16], KdfParams::MINIMUM);
        for cut in [1, 5, 20, request.len() - 1] {
            assert!(worker.handle(&request[..cut]).is_empty(), "cut at {cut}");
        }
        assert_eq!(derive_answer(&[0; 63]).map(|_| ()), None);
    }

    /// Sections sealed as the engine seals them: `(plaintext, envelope)`, under two keys.
    fn sealed_sections(author: &IdentityKeys, keys: &[SymmetricKey; 2]) -> Vec<(Vec<u8>, SealedEnvelope)> {
        let header = |record_version| EnvelopeHeader {
            collection: CollectionId([3; 16]),
            epoch: 1,
            scope: Scope::Basic,
            record_version,
            author: Username::parse("ann").unwrap(),
            chain: Some(ChainHead { len: 2, hash: [4; 32] }),
        };
        (0..6u8)
            .map(|i| {
                let plain = format!("section {i} {}", "x".repeat(100 * i as usize)).into_bytes();
                let key = &keys[usize::from(i % 2)];
                let sealed = SealedEnvelope::seal(&plain, &header(u64::from(i)), &ctx(), &[i; 32], key, author);
                (plain, sealed)
            })
            .collect()
    }

    fn ctx() -> RecordContext {
        RecordContext { team: TeamId([1; 16]), record: RecordId([2; 16]) }
    }

    #[test]
    fn a_worker_opens_only_the_sections_whose_signatures_hold() {
        let (ann, mallory) = (IdentityKeys::generate(), IdentityKeys::generate());
        let keys = [SymmetricKey::generate(), SymmetricKey::generate()];
        let mut sealed = sealed_sections(&ann, &keys);
        // Section 2: a ciphertext byte changed (its signature no longer holds). Section
        // 3: signed by someone else than the author it is checked against. Section 4:
        // signed right, but opened with the wrong key (its signature holds; AES refuses).
        let flip = sealed[2].1 .0.len() - 70;
        sealed[2].1 .0[flip] ^= 1;
        sealed[3].1 = {
            let h = sealed[3].1.header().unwrap();
            SealedEnvelope::seal(&sealed[3].0, &h, &ctx(), &[3; 32], &keys[1], &mallory)
        };
        let sections: Vec<UncheckedDecryption> = sealed
            .iter()
            .enumerate()
            .map(|(i, (_, env))| {
                let key = if i == 4 { &keys[1] } else { &keys[i % 2] };
                env.clone().decryption_unchecked(&ctx(), &[i as u8; 32], key, &ann.public()).unwrap()
            })
            .collect();
        let request = open_request(&sections.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(secret_head(&request), 2 + 2 * 32, "the two keys head the request");
        assert!(secret_answer(&request), "the answer holds the plaintext");
        let answer = open_answer(&Worker::default().handle(&request), sections.len()).unwrap();

        for (i, (section, answer)) in sections.into_iter().zip(answer).enumerate() {
            match (i, answer) {
                (2 | 3, answer) => assert!(matches!(answer, Checked::NotHeld), "section {i}: not held, not decrypted"),
                (4, answer) => assert!(matches!(answer, Checked::Decrypted(Err(CryptoError::DecryptionFailed)))),
                (_, answer) => {
                    let Checked::Decrypted(Ok(plain)) = answer else { panic!("section {i}: {answer:?}") };
                    assert_eq!(plain, sealed[i].0);
                    // What this crate's own decryption makes of it, byte for byte.
                    let here = section.confirm(true).unwrap().decrypt_here();
                    assert_eq!(Decryption::plaintext(here).unwrap(), plain);
                }
            }
        }
    }

    #[test]
    fn a_malformed_open_request_gets_an_empty_answer() {
        let ann = IdentityKeys::generate();
        let keys = [SymmetricKey::generate(), SymmetricKey::generate()];
        let sealed = sealed_sections(&ann, &keys);
        let sections: Vec<UncheckedDecryption> = sealed
            .iter()
            .enumerate()
            .map(|(i, (_, env))| {
                env.clone().decryption_unchecked(&ctx(), &[i as u8; 32], &keys[i % 2], &ann.public()).unwrap()
            })
            .collect();
        let request = open_request(&sections.iter().take(1).collect::<Vec<_>>()).unwrap();
        let mut worker = Worker::default();
        assert!(!worker.handle(&request).is_empty());
        for cut in 0..request.len() {
            assert!(worker.handle(&request[..cut]).is_empty(), "cut at {cut}");
        }
        assert!(worker.handle(&[&request[..], b"x"].concat()).is_empty());
        // A key index past the keys given, and a range past the message's end.
        let key_at = request.len() - 17 - 12;
        let mut bad_key = request.clone();
        bad_key[key_at] = 1;
        assert!(worker.handle(&bad_key).is_empty());
        let mut bad_range = request.clone();
        let len_at = request.len() - 4;
        bad_range[len_at..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(worker.handle(&bad_range).is_empty());
        assert!(open_answer(&[9], 1).is_none());
        assert!(open_answer(&[2, 0, 0, 0, 5, 1], 1).is_none());
    }

    #[test]
    fn a_malformed_request_gets_an_empty_answer() {
        let mut worker = Worker::default();
        let checks = [SignatureCheck { signer: [1; 32], message: b"m".to_vec(), signature: [2; 64] }];
        let request = verify_request(&[&checks[0]]);
        for cut in 0..request.len() {
            assert!(worker.handle(&request[..cut]).is_empty(), "cut at {cut}");
        }
        assert!(worker.handle(&[&request[..], b"x"].concat()).is_empty());
        assert!(worker.handle(&[9]).is_empty());
        assert_eq!(verify_answer(&[1], 2), None);
        assert_eq!(sign_answer(&[0; 63], 1), None);
    }
}
