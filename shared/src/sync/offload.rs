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
//! ```
//! DERIVE is Argon2id ([`derive_account_keys`]): 0.3–1 s of one core, which on the
//! page's thread froze the log-in and the unlock screens. Its request and answer hold
//! secrets: both sides wipe them once read.
//! A request a worker cannot answer (malformed, or SIGN for a key it does not hold)
//! gets an empty answer; the page then does the work itself.

use zeroize::Zeroizing;

use crate::crypto::envelope::SignatureCheck;
use crate::crypto::identity::{verify_record_signatures, Signer};
use crate::crypto::passphrase::{derive_account_keys, AuthKey, KdfParams, Passphrase, SaltBinding, WrapKey};
use crate::crypto::CryptoError;
use crate::encoding::{Reader, Writer};
use crate::ids::Username;

const KEY: u8 = 1;
const VERIFY: u8 = 2;
const SIGN: u8 = 3;
const DERIVE: u8 = 4;

/// Whether a request, or its answer, holds a secret (a signing key, a passphrase, or
/// keys derived from it) and is to be wiped once read. Signature requests and answers
/// are public, and a first sync's are hundreds of megabytes: wiping them a byte at a
/// time cost each worker ~0.3 s of a 100,000-customer first sync.
pub fn holds_secret(request: &[u8]) -> bool {
    matches!(request.first(), Some(&(KEY | DERIVE)))
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
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::identity::IdentityKeys;

    #[test]
    fn a_worker_signs_with_the_key_it_was_given_and_checks_signatures() {
        let me = IdentityKeys::generate();
        let mut worker = Worker::default();
        let pk = me.public().sign_pk;
        // No key yet: no signatures.
        assert!(worker.handle(&sign_request(&pk, &[b"m"])).is_empty());
        assert_eq!(worker.handle(&key_request(&me.signer())), pk.to_vec());
        assert!(holds_secret(&key_request(&me.signer())));
        assert!(!holds_secret(&sign_request(&pk, &[b"m"])));

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
        assert!(!holds_secret(&request));
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
        assert!(holds_secret(&derive_request(&pass, &alice, &[7; 16], weak)));
        let request = derive_request(&pass, &alice, &[7; 16], KdfParams::MINIMUM);
        for cut in [1, 5, 20, request.len() - 1] {
            assert!(worker.handle(&request[..cut]).is_empty(), "cut at {cut}");
        }
        assert_eq!(derive_answer(&[0; 63]).map(|_| ()), None);
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
