//! The key hierarchy and every sealed format, built only from audited primitives:
//! AES-256-GCM (`aes-gcm`), X25519 (`x25519-dalek`), Ed25519 (`ed25519-dalek`),
//! HKDF-SHA-256 (`hkdf`), Argon2id (`argon2`).
//!
//! * [`passphrase`]: passphrase → Argon2id → master → HKDF → [`passphrase::AuthKey`]
//!   (proves the passphrase to the server) and [`passphrase::WrapKey`] (seals the
//!   account bundle). The server sees neither the passphrase nor the wrap key.
//! * [`identity`]: a member's Ed25519 + X25519 key pairs and the account bundle.
//! * [`wrap`]: team keys sealed to one member's X25519 key and signed by the admin.
//! * [`envelope`]: the versioned record envelope.
//!
//! Errors are deliberately coarse: a tampered, mis-keyed or forged input is always
//! [`CryptoError::DecryptionFailed`], never a hint about which check failed.

pub mod aead;
pub mod envelope;
pub mod identity;
pub mod passphrase;
pub mod recovery;
pub mod wrap;

use std::fmt;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Domain-separation labels. Every hash, KDF, signature and AAD starts with one, so
/// no value made for one purpose can be replayed as another.
pub mod label {
    pub const AUTH_KEY: &[u8] = b"quietdesk/v1/auth-key";
    pub const WRAP_KEY: &[u8] = b"quietdesk/v1/wrap-key";
    pub const AUTH_VERIFIER: &[u8] = b"quietdesk/v1/auth-verifier";
    pub const ACCOUNT_BUNDLE: &[u8] = b"quietdesk/v1/account-bundle";
    pub const KEY_WRAP: &[u8] = b"quietdesk/v1/key-wrap";
    pub const KEY_WRAP_SIG: &[u8] = b"quietdesk/v1/key-wrap-sig";
    pub const AUDIT_KEY_WRAP: &[u8] = b"quietdesk/v2/audit-key-wrap";
    pub const ENVELOPE: &[u8] = b"quietdesk/v1/envelope";
    pub const ENVELOPE_V2: &[u8] = b"quietdesk/v2/envelope";
    pub const ENVELOPE_V3: &[u8] = b"quietdesk/v3/envelope";
    pub const ENVELOPE_SIG: &[u8] = b"quietdesk/v1/envelope-sig";
    pub const CHAIN_ENTRY: &[u8] = b"quietdesk/v1/chain-entry";
    pub const CHAIN_SIG: &[u8] = b"quietdesk/v1/chain-sig";
    pub const LOCAL_BLOB: &[u8] = b"quietdesk/v1/local-blob";
    pub const FAKE_SALT: &[u8] = b"quietdesk/v1/fake-salt";
    pub const KDF_SALT: &[u8] = b"quietdesk/v1/kdf-salt";
    pub const RECOVERY: &[u8] = b"quietdesk/v1/recovery-key";
    pub const INVITE_MAC_KEY: &[u8] = b"quietdesk/v1/invite-mac-key";
    pub const INVITE_MAC: &[u8] = b"quietdesk/v1/invite-mac";
    pub const SAFETY_NUMBER: &[u8] = b"quietdesk/v1/safety-number";
    pub const AUDIT_ENTRY: &[u8] = b"quietdesk/v1/audit-entry";
    pub const AUDIT_SIG: &[u8] = b"quietdesk/v1/audit-sig";
    pub const AUDIT_CHAIN: &[u8] = b"quietdesk/v1/audit-chain";
    pub const APPROVAL: &[u8] = b"quietdesk/v1/approval";
    pub const EXPORT_FILE: &[u8] = b"quietdesk/v1/export-file";
    pub const WIPE_ORDER: &[u8] = b"quietdesk/v1/wipe-order";
    pub const TEAM_ID: &[u8] = b"quietdesk/v1/team-id";
    pub const TABS_KEY: &[u8] = b"quietdesk/v1/tabs-key";
    pub const TABS_MESSAGE: &[u8] = b"quietdesk/v1/tabs-message";
    pub const JOIN_ACCEPTANCE: &[u8] = b"quietdesk/v1/join-acceptance";
    pub const BEACON: &[u8] = b"quietdesk/v1/freshness-beacon";
    pub const RECORD_CREATION: &[u8] = b"quietdesk/v1/record-creation";
    pub const RESTORE_NOTICE: &[u8] = b"quietdesk/v1/restore-notice";
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// Wrong key, tampered bytes, bad signature, wrong context: deliberately one error.
    #[error("decryption failed")]
    DecryptionFailed,
    /// A format version this build does not know. Upgrade the app.
    #[error("unsupported format version {0}")]
    UnknownVersion(u8),
    /// The bytes are not shaped like the format at all.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// This client holds no key for that collection, epoch and scope.
    #[error("no key for this data")]
    NoKey,
    /// Key derivation parameters out of the accepted range.
    #[error("key derivation parameters are out of range")]
    BadKdfParams,
}

/// Which of a collection's two keys seals a section of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Name, company, masked phone, stage, tags, interactions.
    Basic = 1,
    /// Full phone, email, address, ID numbers, private notes.
    Sensitive = 2,
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::encoding::named(d, &[("basic", Scope::Basic), ("sensitive", Scope::Sensitive)])
    }
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::Basic, Scope::Sensitive];
    pub fn from_u8(b: u8) -> Result<Self, CryptoError> {
        match b {
            1 => Ok(Scope::Basic),
            2 => Ok(Scope::Sensitive),
            _ => Err(CryptoError::Malformed("scope")),
        }
    }
}

/// A 256-bit symmetric key. No `Debug` of the bytes, no `Serialize`, zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SymmetricKey([u8; 32]);

impl SymmetricKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        Self(k)
    }
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SymmetricKey([REDACTED])")
    }
}

/// HKDF-SHA-256 (RFC 5869) expanding to one 32-byte key.
pub(crate) fn hkdf32(salt: Option<&[u8]>, ikm: &[u8], info: &[&[u8]]) -> SymmetricKey {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(salt, ikm);
    let mut out = [0u8; 32];
    hk.expand_multi_info(info, &mut out).expect("32 bytes is a valid HKDF-SHA256 length");
    let key = SymmetricKey(out);
    out.zeroize();
    key
}

/// SHA-256 over a label and parts.
pub fn sha256(label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(label);
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_print() {
        let k = SymmetricKey::from_bytes([0x41; 32]);
        let s = format!("{k:?}");
        assert!(!s.contains("41") && s.contains("REDACTED"));
    }
}
