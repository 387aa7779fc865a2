//! The shared crypto core, run inside headless Chromium: the same bytes as natively.
#![cfg(target_arch = "wasm32")]

use shared::crypto::envelope::{EnvelopeHeader, RecordContext, SealedEnvelope};
use shared::crypto::identity::IdentityKeys;
use shared::crypto::passphrase::{derive_account_keys, KdfParams, Passphrase, SaltBinding};
use shared::crypto::wrap::{unwrap_key, wrap_key, WrapContext, WrapPurpose};
use shared::crypto::{Scope, SymmetricKey};
use shared::ids::{CollectionId, RecordId, TeamId, Username};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn argon2_derivation_matches_the_native_golden_verifier() {
    let pass = Passphrase::new("golden passphrase");
    let golden: Username = "golden".parse().unwrap();
    let legacy = KdfParams { binding: SaltBinding::Random, ..KdfParams::MINIMUM };
    let (auth, _) = derive_account_keys(&pass, &golden, &[1u8; 16], legacy).unwrap();
    assert_eq!(hex(&auth.verifier()), include_str!("../../shared/tests/golden/auth_verifier.hex").trim());
    let (auth, _) = derive_account_keys(&pass, &golden, &[1u8; 16], KdfParams::MINIMUM).unwrap();
    assert_eq!(hex(&auth.verifier()), include_str!("../../shared/tests/golden/auth_verifier_bound.hex").trim());
}

#[wasm_bindgen_test]
fn envelopes_seal_and_open_in_the_browser_and_refuse_tampering() {
    let key = SymmetricKey::generate();
    let author = IdentityKeys::generate();
    let ctx = RecordContext { team: TeamId::random(), record: RecordId::random() };
    let header = EnvelopeHeader {
        collection: CollectionId::random(),
        epoch: 1,
        scope: Scope::Basic,
        record_version: 1,
        author: Username::parse("browser").unwrap(),
        chain: Some(shared::crypto::envelope::ChainHead { len: 3, hash: [7; 32] }),
        deleted: Some(false),
    };
    let env = SealedEnvelope::seal(b"browser canary", &header, &ctx, &[0; 32], &key, &author);
    assert_eq!(env.open(&ctx, &[0; 32], &key, &author.public()).unwrap(), b"browser canary");
    let mut tampered = env.clone();
    let last = tampered.0.len() - 70;
    tampered.0[last] ^= 1;
    assert!(tampered.open(&ctx, &[0; 32], &key, &author.public()).is_err());
}

#[wasm_bindgen_test]
fn key_wraps_round_trip_in_the_browser() {
    let admin = IdentityKeys::generate();
    let member = IdentityKeys::generate();
    let name = Username::parse("admin").unwrap();
    let ctx = WrapContext {
        purpose: WrapPurpose::TeamKey,
        team: TeamId::random(),
        epoch: 1,
        collection: CollectionId::random(),
        scope: Scope::Sensitive,
        recipient: Username::parse("member").unwrap(),
    };
    let key = SymmetricKey::generate();
    let w = wrap_key(&key, &member.public(), &ctx, &admin, &name).unwrap();
    assert_eq!(unwrap_key(&w, &member, &ctx, &admin.public()).unwrap(), key);
    // A low-order recipient key is refused with an error, never a panic.
    let low = shared::crypto::identity::PublicIdentity { sign_pk: member.public().sign_pk, dh_pk: [0; 32] };
    assert!(wrap_key(&key, &low, &ctx, &admin, &name).is_err());
}

/// Lengths from the wire with 32-bit `usize` (wasm32): a padded plaintext whose length
/// prefix is near `u32::MAX` is refused, not an overflow and a panic in every reader.
#[wasm_bindgen_test]
fn hostile_lengths_do_not_overflow_on_wasm32() {
    assert_eq!(usize::BITS, 32, "this test is about 32-bit arithmetic");
    for n in [u32::MAX, u32::MAX - 3, u32::MAX - 4, 5] {
        let mut padded = n.to_be_bytes().to_vec();
        padded.extend_from_slice(&[0; 4]);
        assert!(shared::crypto::envelope::unpad(&padded).is_err(), "length {n}");
    }
    let mut ok = 4u32.to_be_bytes().to_vec();
    ok.extend_from_slice(b"abcd");
    assert_eq!(shared::crypto::envelope::unpad(&ok).unwrap(), b"abcd");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
