//! The encrypted export file: every record its maker could read, sealed under a
//! passphrase of their choosing, so it can be kept offline and restored from later
//! without the server or any team key.
//!
//! Layout v1: `"QDX" | 1 | salt(16) | m_cost(4) | t_cost(4) | p_cost(4) | nonce(12) | ct`.
//! Key: Argon2id(passphrase, salt, params) → HKDF (label `export-file`); AES-256-GCM with
//! the header (everything before the nonce) as associated data. Plaintext: JSON list of
//! `[record id, record]` with every field's stamp and author, so a restore can tell what
//! is missing. The KDF parameters are read from the file but must lie in the accepted
//! range, so a crafted file cannot make the app allocate gigabytes.

use rand_core::{OsRng, RngCore};

use crate::crypto::passphrase::{derive_file_key, KdfParams, Passphrase, SaltBinding};
use crate::crypto::{aead, CryptoError};
use crate::encoding::{Reader, Writer};
use crate::ids::RecordId;
use crate::record::RecordDoc;

const MAGIC: &[u8; 3] = b"QDX";
const VERSION: u8 = 1;

/// Seal `records` under `passphrase` with `params` (the app uses [`KdfParams::DEFAULT`]).
pub fn seal(
    passphrase: &Passphrase,
    params: KdfParams,
    records: &[(RecordId, RecordDoc)],
) -> Result<Vec<u8>, CryptoError> {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let key = derive_file_key(passphrase, &salt, params)?;
    let mut w = Writer::with_capacity(64);
    w.fixed(MAGIC).u8(VERSION).fixed(&salt).u32(params.m_cost_kib).u32(params.t_cost).u32(params.p_cost);
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(records).map_err(|_| CryptoError::Malformed("records"))?);
    let (nonce, ct) = aead::seal(&key, w.as_slice(), &plain);
    w.fixed(&nonce).fixed(&ct);
    Ok(w.finish())
}

/// Open a file made by [`seal`]. A wrong passphrase and a damaged file are the same error.
pub fn open(passphrase: &Passphrase, file: &[u8]) -> Result<Vec<(RecordId, RecordDoc)>, CryptoError> {
    open_with(file, |salt, params| derive_file_key(passphrase, salt, params))
}

/// [`open`] with the file key from `key_for(salt, params)` (the passphrase's, through
/// Argon2id within the accepted range): the fuzzer supplies one it derived once, so
/// each run reaches the parsing and decryption without a key derivation.
pub fn open_with(
    file: &[u8],
    key_for: impl FnOnce(&[u8; 16], KdfParams) -> Result<crate::crypto::SymmetricKey, CryptoError>,
) -> Result<Vec<(RecordId, RecordDoc)>, CryptoError> {
    let bad = |_| CryptoError::Malformed("export file");
    let mut r = Reader::new(file);
    if r.fixed(3).map_err(bad)? != MAGIC {
        return Err(CryptoError::Malformed("export file"));
    }
    match r.u8().map_err(bad)? {
        VERSION => {}
        v => return Err(CryptoError::UnknownVersion(v)),
    }
    let salt = r.array::<16>().map_err(bad)?;
    let params = KdfParams {
        m_cost_kib: r.u32().map_err(bad)?,
        t_cost: r.u32().map_err(bad)?,
        p_cost: r.u32().map_err(bad)?,
        // A file's salt is its own random bytes; the binding is for account salts.
        binding: SaltBinding::Random,
    };
    let header_len = file.len() - r.remaining();
    let nonce = r.array::<12>().map_err(bad)?;
    let key = key_for(&salt, params)?;
    let plain = zeroize::Zeroizing::new(aead::open(&key, &nonce, &file[..header_len], r.rest())?);
    serde_json::from_slice(&plain).map_err(|_| CryptoError::Malformed("export file"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::{Hlc, Stamp};
    use crate::ids::Username;
    use crate::record::{FieldState, Value};

    fn records() -> Vec<(RecordId, RecordDoc)> {
        let mut doc = RecordDoc::new();
        let stamp = Stamp { hlc: Hlc { wall_ms: 5, counter: 0 }, author: Username::parse("ada").unwrap() };
        doc.apply("name", FieldState { value: Some(Value::Text("Canary Export Co".into())), stamp });
        vec![(RecordId([3; 16]), doc)]
    }

    #[test]
    fn round_trip_and_the_wrong_passphrase_or_a_flipped_bit_fails() {
        let pass = Passphrase::new("export passphrase");
        let file = seal(&pass, KdfParams::MINIMUM, &records()).unwrap();
        assert_eq!(open(&pass, &file).unwrap(), records());
        assert!(!file.windows(6).any(|w| w == b"Canary"), "no plaintext in the file");
        assert_eq!(open(&Passphrase::new("export passphrasf"), &file), Err(CryptoError::DecryptionFailed));
        for i in [0, 4, 20, 36, file.len() - 1] {
            let mut t = file.clone();
            t[i] ^= 1;
            assert!(open(&pass, &t).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn a_crafted_file_cannot_ask_for_a_huge_kdf() {
        let pass = Passphrase::new("p");
        let mut file = seal(&pass, KdfParams::MINIMUM, &records()).unwrap();
        file[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(open(&pass, &file), Err(CryptoError::BadKdfParams));
    }
}
