//! AES-256-GCM (NIST SP 800-38D) with a fresh random 96-bit nonce per message.
//!
//! Nonce rule: every call to [`seal`] draws 12 bytes from the OS CSPRNG. Keys are
//! rotated per team epoch long before 2^32 messages, which keeps the random-nonce
//! collision bound negligible.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};

use super::{CryptoError, SymmetricKey};

pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// Encrypt `plaintext` bound to `aad`. Returns the nonce and ciphertext‖tag.
pub fn seal(key: &SymmetricKey, aad: &[u8], plaintext: &[u8]) -> ([u8; NONCE_LEN], Vec<u8>) {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    (nonce, seal_with_nonce(key, &nonce, aad, plaintext))
}

/// Only for golden vectors and [`seal`]: the caller guarantees the nonce is unique.
pub(crate) fn seal_with_nonce(key: &SymmetricKey, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.expose_secret().into());
    cipher
        .encrypt(Nonce::from_slice(nonce), Payload { msg: plaintext, aad })
        .expect("AES-GCM encryption of an in-memory buffer cannot fail")
}

/// Decrypt and authenticate. Any failure is [`CryptoError::DecryptionFailed`].
pub fn open(
    key: &SymmetricKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(key.expose_secret().into());
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
        .map_err(|_| CryptoError::DecryptionFailed)
}

/// A self-contained sealed blob for local storage: `version(1) | nonce | ct`.
/// Used for the device's IndexedDB copies (outbox, cached records) under the vault key.
pub fn seal_blob(key: &SymmetricKey, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let (nonce, ct) = seal(key, &blob_aad(context), plaintext);
    blob_of(&nonce, &ct)
}

pub fn open_blob(key: &SymmetricKey, context: &[u8], blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (nonce, ciphertext) = blob_parts(blob)?;
    open(key, &nonce, &blob_aad(context), ciphertext)
}

// The local blob format, for a platform's own AES-256-GCM (the browser's WebCrypto) to
// seal and open exactly these bytes: `1`, the 96-bit nonce, then ciphertext and tag,
// with the associated data of `blob_aad`.

/// The associated data a blob of `context` is sealed with.
pub fn blob_aad(context: &[u8]) -> Vec<u8> {
    [super::label::LOCAL_BLOB, context].concat()
}

/// A blob's nonce and its ciphertext (tag included).
pub fn blob_parts(blob: &[u8]) -> Result<([u8; NONCE_LEN], &[u8]), CryptoError> {
    match blob.first() {
        None => return Err(CryptoError::Malformed("blob")),
        Some(1) => {}
        Some(v) => return Err(CryptoError::UnknownVersion(*v)),
    }
    if blob.len() < 1 + NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("blob"));
    }
    let nonce: [u8; NONCE_LEN] = blob[1..1 + NONCE_LEN].try_into().expect("length checked");
    Ok((nonce, &blob[1 + NONCE_LEN..]))
}

/// A blob from a fresh random nonce and the ciphertext (tag included) sealed under it.
pub fn blob_of(nonce: &[u8; NONCE_LEN], ciphertext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(1);
    out.extend_from_slice(nonce);
    out.extend_from_slice(ciphertext);
    out
}

/// A fresh random 96-bit nonce.
pub fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_differ_and_aad_is_bound() {
        let k = SymmetricKey::generate();
        let (n1, c1) = seal(&k, b"a", b"hello");
        let (n2, _) = seal(&k, b"a", b"hello");
        assert_ne!(n1, n2);
        assert_eq!(open(&k, &n1, b"a", &c1).unwrap(), b"hello");
        assert_eq!(open(&k, &n1, b"b", &c1), Err(CryptoError::DecryptionFailed));
    }

    #[test]
    fn blobs_bind_their_context() {
        let k = SymmetricKey::generate();
        let b = seal_blob(&k, b"outbox/1", b"x");
        assert_eq!(open_blob(&k, b"outbox/1", &b).unwrap(), b"x");
        assert_eq!(open_blob(&k, b"outbox/2", &b), Err(CryptoError::DecryptionFailed));
        let mut v9 = b.clone();
        v9[0] = 9;
        assert_eq!(open_blob(&k, b"outbox/1", &v9), Err(CryptoError::UnknownVersion(9)));
    }
}
