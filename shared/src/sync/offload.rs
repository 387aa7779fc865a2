//! Signature work handed to Web Workers: the messages between the page and its
//! workers, and what a worker does with them.
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
//! ```
//! A request a worker cannot answer (malformed, or SIGN for a key it does not hold)
//! gets an empty answer; the page then does the work itself.

use crate::crypto::envelope::SignatureCheck;
use crate::crypto::identity::Signer;
use crate::encoding::{Reader, Writer};

const KEY: u8 = 1;
const VERIFY: u8 = 2;
const SIGN: u8 = 3;

/// The request that gives a worker the key to sign with.
pub fn key_request(signer: &Signer) -> Vec<u8> {
    let secret = signer.to_bytes();
    let mut w = Writer::with_capacity(33);
    w.u8(KEY).fixed(&secret[..]);
    w.finish()
}

pub fn verify_request(checks: &[SignatureCheck]) -> Vec<u8> {
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
                let count = r.u32().ok()?;
                let mut checks = Vec::new();
                for _ in 0..count {
                    checks.push(SignatureCheck {
                        signer: r.array().ok()?,
                        signature: r.array().ok()?,
                        message: r.bytes().ok()?.to_vec(),
                    });
                }
                r.finish().ok()?;
                Some(SignatureCheck::all_hold(&checks).into_iter().map(u8::from).collect())
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
        let holds = verify_answer(&worker.handle(&verify_request(&checks)), 3).unwrap();
        assert_eq!(holds, [true, false, false]);
    }

    #[test]
    fn a_malformed_request_gets_an_empty_answer() {
        let mut worker = Worker::default();
        let checks = [SignatureCheck { signer: [1; 32], message: b"m".to_vec(), signature: [2; 64] }];
        let request = verify_request(&checks);
        for cut in 0..request.len() {
            assert!(worker.handle(&request[..cut]).is_empty(), "cut at {cut}");
        }
        assert!(worker.handle(&[&request[..], b"x"].concat()).is_empty());
        assert!(worker.handle(&[9]).is_empty());
        assert_eq!(verify_answer(&[1], 2), None);
        assert_eq!(sign_answer(&[0; 63], 1), None);
    }
}
