//! The engine's compute, behind the [`Compute`] trait: where it yields to its host
//! (`breathe`) and where it signs, verifies, encrypts and decrypts batches. The
//! defaults ([`InThread`]) do all of it here, one item at a time between breaths; a
//! browser gives the batches to Web Workers and WebCrypto and yields to its event loop.
//! Nothing a `Compute` answers is taken on its word beyond what each method says.

use super::*;

/// Where the engine's batch work runs.
#[allow(async_fn_in_trait)]
pub trait Compute {
    /// Called between records while a batch is sealed or opened (hundreds of
    /// signatures): a browser yields to its event loop here now and then, so the page
    /// never freezes; elsewhere, nothing.
    async fn breathe(&self) {}

    /// Check a batch's signatures (the most expensive part of opening records): one
    /// answer per check, `true` where it holds. Here, one at a time between breaths,
    /// by default; a browser hands the batch to Web Workers running this same code,
    /// in parallel and off the page's thread. Only a `true` is taken on its word, and
    /// only for the exact check it answers (see [`seal::UncheckedPlan::confirm`]).
    async fn verify_signatures(&self, checks: &[&SignatureCheck]) -> Vec<bool> {
        verify_here(self, checks).await
    }

    /// AES-256-GCM for a batch of records' sections, each checked up to it (see
    /// [`OpenPlan`]): what [`Decryption::decrypt_here`] returns for each, in order.
    /// Here, between breaths, by default; a browser has its own AES (WebCrypto), in
    /// hardware and off the page's thread. Whatever it answers, [`OpenPlan::finish`]
    /// reads the plaintext as it would this crate's: a wrong one fails to decode.
    async fn decrypt(&self, decryptions: &[&Decryption<'_>]) -> Vec<Result<Vec<u8>, CryptoError>> {
        decrypt_here(self, decryptions).await
    }

    /// AES-256-GCM for a batch of sections being sealed (see [`seal::Sealing`]): what
    /// [`Encryption::encrypt_here`] returns for each, in order. Here, between breaths,
    /// by default; a browser has its own AES (WebCrypto). A ciphertext of the wrong
    /// length is refused ([`Encryption::into_unsigned`]); any other wrong one is what
    /// the sealer signs and no reader opens, as with any AES it is handed.
    async fn encrypt(&self, encryptions: &[&Encryption]) -> Vec<Vec<u8>> {
        encrypt_here(self, encryptions).await
    }

    /// Sign a batch of messages as `identity` (the most expensive part of sealing
    /// records), one signature per message, in order. Here by default; a browser
    /// hands the batch to Web Workers holding the same signing key.
    async fn sign(&self, identity: &IdentityKeys, messages: &[&[u8]]) -> Vec<[u8; 64]> {
        sign_here(self, identity, messages).await
    }
}

/// All of the engine's compute on this thread, with no breaths: what a server-side or
/// native client and the tests use.
#[derive(Debug, Clone, Copy, Default)]
pub struct InThread;

impl Compute for InThread {}

/// [`Compute::verify_signatures`] on this thread, breathing between checks.
pub async fn verify_here<C: Compute + ?Sized>(compute: &C, checks: &[&SignatureCheck]) -> Vec<bool> {
    // A batch at a time (a few milliseconds), breathing in between.
    const AT_ONCE: usize = 16;
    let mut holds = Vec::with_capacity(checks.len());
    for batch in checks.chunks(AT_ONCE) {
        compute.breathe().await;
        holds.extend(SignatureCheck::all_hold(batch));
    }
    holds
}

/// [`Compute::decrypt`] on this thread, breathing between sections.
pub async fn decrypt_here<C: Compute + ?Sized>(
    compute: &C,
    decryptions: &[&Decryption<'_>],
) -> Vec<Result<Vec<u8>, CryptoError>> {
    let mut out = Vec::with_capacity(decryptions.len());
    for d in decryptions {
        compute.breathe().await;
        out.push(d.decrypt_here());
    }
    out
}

/// [`Compute::encrypt`] on this thread, breathing between sections.
pub async fn encrypt_here<C: Compute + ?Sized>(compute: &C, encryptions: &[&Encryption]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(encryptions.len());
    for e in encryptions {
        compute.breathe().await;
        out.push(e.encrypt_here());
    }
    out
}

/// [`Compute::sign`] on this thread, breathing between signatures.
pub async fn sign_here<C: Compute + ?Sized>(compute: &C, identity: &IdentityKeys, messages: &[&[u8]]) -> Vec<[u8; 64]> {
    let mut signatures = Vec::with_capacity(messages.len());
    for m in messages {
        compute.breathe().await;
        signatures.push(identity.sign(m));
    }
    signatures
}
