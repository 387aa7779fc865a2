//! The recovery kit: a random 160-bit recovery key, shown to the user once (printed or
//! downloaded), that resets a forgotten passphrase on a new device without the server
//! learning anything.
//!
//! From the key, HKDF-SHA-256 derives (with the username in the info) an auth key —
//! the server keeps only its verifier and hands out the sealed bundle to whoever
//! proves it — and a wrap key that seals the account bundle. The key is already
//! high-entropy, so no Argon2 is needed. Written as 32 characters from an alphabet
//! without look-alikes (no I, O, 0, 1), in groups of four.

use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use super::passphrase::{AuthKey, WrapKey};
use super::{hkdf32, label};
use crate::ids::Username;

const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A recovery key. No `Debug`, no `Serialize`.
pub struct RecoveryKey(Zeroizing<[u8; 20]>);

impl RecoveryKey {
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 20]);
        OsRng.fill_bytes(k.as_mut());
        Self(k)
    }

    /// `ABCD-EFGH-…`: 8 groups of 4.
    pub fn display(&self) -> Zeroizing<String> {
        let mut bits: u64 = 0;
        let mut n = 0;
        let mut out = Zeroizing::new(String::with_capacity(40));
        for &b in self.0.iter() {
            bits = (bits << 8) | u64::from(b);
            n += 8;
            while n >= 5 {
                n -= 5;
                if !out.is_empty() && (out.len() + 1) % 5 == 0 {
                    out.push('-');
                }
                out.push(ALPHABET[((bits >> n) & 31) as usize] as char);
            }
        }
        out
    }

    /// Read what the user typed: case, spaces and dashes do not matter.
    pub fn parse(text: &str) -> Option<Self> {
        let mut k = Zeroizing::new([0u8; 20]);
        let (mut bits, mut n, mut at) = (0u64, 0, 0);
        for c in text.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')) {
            let v = ALPHABET.iter().position(|&a| a as char == c.to_ascii_uppercase())? as u64;
            bits = (bits << 5) | v;
            n += 5;
            if n >= 8 {
                n -= 8;
                *k.get_mut(at)? = ((bits >> n) & 0xFF) as u8;
                at += 1;
            }
        }
        (at == 20 && n == 0).then_some(Self(k))
    }

    /// The auth key (proves the recovery key to the server) and the wrap key (seals
    /// the account bundle for recovery) of `username`.
    pub fn keys(&self, username: &Username) -> (AuthKey, WrapKey) {
        let name = username.as_str().as_bytes();
        let auth = hkdf32(Some(label::RECOVERY), self.0.as_ref(), &[label::AUTH_KEY, name]);
        let wrap = hkdf32(Some(label::RECOVERY), self.0.as_ref(), &[label::WRAP_KEY, name]);
        (AuthKey::from_bytes(*auth.expose_secret()), WrapKey::from_bytes(*wrap.expose_secret()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_as_written_and_typos_are_refused() {
        let k = RecoveryKey::generate();
        let shown = k.display();
        assert_eq!(shown.len(), 39, "{}", shown.as_str());
        let back = RecoveryKey::parse(&shown.to_lowercase().replace('-', " ")).unwrap();
        assert_eq!(*back.0, *k.0);
        assert!(RecoveryKey::parse(&shown[..30]).is_none(), "too short");
        assert!(RecoveryKey::parse(&format!("0{}", &shown[1..])).is_none(), "not in the alphabet");
        assert!(RecoveryKey::parse(&format!("{}AAAA", shown.as_str())).is_none(), "too long");
    }

    /// Frozen: changing the derivation would make every kit useless.
    #[test]
    fn golden_recovery_keys() {
        let k = RecoveryKey(Zeroizing::new([7u8; 20]));
        assert_eq!(k.display().as_str(), "A6DS-QB2H-A6DS-QB2H-A6DS-QB2H-A6DS-QB2H");
        let (auth, _) = k.keys(&"golden".parse().unwrap());
        assert_eq!(hex::encode(auth.verifier()), include_str!("../../tests/golden/recovery_verifier.hex").trim());
    }
}
