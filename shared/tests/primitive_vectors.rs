//! The primitives under the golden vectors, checked against their standards' own test
//! vectors: the golden files freeze Quietdesk's formats with bytes this code wrote,
//! these prove the primitives beneath them compute what RFC 7748 (X25519), RFC 8032
//! (Ed25519, through the batch verifier every record signature goes through), RFC 5869
//! (HKDF-SHA256), RFC 9106 (Argon2id) and the GCM specification (AES-256-GCM) say they
//! must.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ed25519_dalek::{Signer, SigningKey};
use hkdf::Hkdf;
use sha2::Sha256;

fn bytes<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).expect("hex").try_into().expect("length")
}

#[test]
fn x25519_agrees_with_rfc_7748() {
    // RFC 7748, section 6.1.
    let alice = x25519_dalek::StaticSecret::from(bytes::<32>(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ));
    let bob = x25519_dalek::StaticSecret::from(bytes::<32>(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    ));
    let alice_public = x25519_dalek::PublicKey::from(&alice);
    let bob_public = x25519_dalek::PublicKey::from(&bob);
    assert_eq!(
        hex::encode(alice_public.as_bytes()),
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
    assert_eq!(hex::encode(bob_public.as_bytes()), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    assert_eq!(hex::encode(alice.diffie_hellman(&bob_public).as_bytes()), shared);
    assert_eq!(hex::encode(bob.diffie_hellman(&alice_public).as_bytes()), shared);
}

/// RFC 8032, section 7.1, tests 1 to 3: secret key, public key, message, signature.
const ED25519: &[(&str, &str, &str, &str)] = &[
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

#[test]
fn ed25519_signs_and_the_batch_verifier_checks_as_rfc_8032_says() {
    let mut keys = Vec::new();
    let mut messages = Vec::new();
    let mut signatures = Vec::new();
    for (secret, public, message, signature) in ED25519 {
        let key = SigningKey::from_bytes(&bytes::<32>(secret));
        assert_eq!(hex::encode(key.verifying_key().as_bytes()), *public);
        let message = hex::decode(message).unwrap();
        assert_eq!(hex::encode(key.sign(&message).to_bytes()), *signature, "deterministic signatures");
        keys.push(bytes::<32>(public));
        messages.push(message);
        signatures.push(bytes::<64>(signature));
    }
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let verify = quietdesk_shared::crypto::identity::verify_record_signatures;
    assert_eq!(verify(&keys, &refs, &signatures), vec![true; ED25519.len()]);
    // One bit changed in a signature, or a signature under another key: only that one fails.
    let mut bad = signatures.clone();
    bad[1][5] ^= 1;
    assert_eq!(verify(&keys, &refs, &bad), vec![true, false, true]);
    let swapped = [keys[1], keys[0], keys[2]];
    assert_eq!(verify(&swapped, &refs, &signatures), vec![false, false, true]);
}

#[test]
fn hkdf_sha256_agrees_with_rfc_5869() {
    // RFC 5869, appendix A.1.
    let ikm = [0x0b_u8; 22];
    let salt = hex::decode("000102030405060708090a0b0c").unwrap();
    let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
    let (prk, hk) = Hkdf::<Sha256>::extract(Some(&salt), &ikm);
    assert_eq!(hex::encode(prk), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    let mut okm = [0u8; 42];
    hk.expand(&info, &mut okm).unwrap();
    assert_eq!(
        hex::encode(okm),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    );
}

#[test]
fn aes_256_gcm_agrees_with_the_gcm_specification() {
    // The GCM specification's test cases 13 and 14: a zero key and nonce, with no
    // plaintext and with one zero block (ciphertext ‖ tag).
    let cipher = Aes256Gcm::new(&[0u8; 32].into());
    let nonce = Nonce::from_slice(&[0u8; 12]);
    let empty = cipher.encrypt(nonce, Payload { msg: &[], aad: &[] }).unwrap();
    assert_eq!(hex::encode(&empty), "530f8afbc74536b9a963b4f1c4cb738b");
    let block = cipher.encrypt(nonce, Payload { msg: &[0u8; 16], aad: &[] }).unwrap();
    assert_eq!(hex::encode(&block), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
    assert_eq!(cipher.decrypt(nonce, Payload { msg: &block, aad: &[] }).unwrap(), vec![0u8; 16]);
    let mut tampered = block.clone();
    tampered[0] ^= 1;
    assert!(cipher.decrypt(nonce, Payload { msg: &tampered, aad: &[] }).is_err());
}

#[test]
fn argon2id_agrees_with_rfc_9106() {
    // RFC 9106, section 5.3: 32 KiB, 3 passes, 4 lanes, with a secret and associated data.
    use argon2::{Algorithm, Argon2, AssociatedData, ParamsBuilder, Version};
    let params = ParamsBuilder::new()
        .m_cost(32)
        .t_cost(3)
        .p_cost(4)
        .output_len(32)
        .data(AssociatedData::new(&[0x04; 12]).unwrap())
        .build()
        .unwrap();
    let argon = Argon2::new_with_secret(&[0x03; 8], Algorithm::Argon2id, Version::V0x13, params).unwrap();
    let mut tag = [0u8; 32];
    argon.hash_password_into(&[0x01; 32], &[0x02; 16], &mut tag).unwrap();
    assert_eq!(hex::encode(tag), "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
}
