//! The shared crypto core, run inside headless Chromium: the same bytes as natively.
#![cfg(target_arch = "wasm32")]

use shared::crypto::envelope::{EnvelopeHeader, RecordContext, SealedEnvelope};
use shared::crypto::identity::IdentityKeys;
use shared::crypto::passphrase::{derive_account_keys, KdfParams, Passphrase};
use shared::crypto::wrap::{unwrap_key, wrap_key, WrapContext};
use shared::crypto::{Scope, SymmetricKey};
use shared::ids::{CollectionId, RecordId, TeamId, Username};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn argon2_derivation_matches_the_native_golden_verifier() {
    let (auth, _) = derive_account_keys(&Passphrase::new("golden passphrase"), &[1u8; 16], KdfParams::MINIMUM).unwrap();
    let golden = include_str!("../../shared/tests/golden/auth_verifier.hex").trim();
    assert_eq!(hex(&auth.verifier()), golden);
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
        team: TeamId::random(),
        epoch: 1,
        collection: CollectionId::random(),
        scope: Scope::Sensitive,
        recipient: Username::parse("member").unwrap(),
    };
    let key = SymmetricKey::generate();
    let w = wrap_key(&key, &member.public(), &ctx, &admin, &name);
    assert_eq!(unwrap_key(&w, &member, &ctx, &admin.public()).unwrap(), key);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
