//! AES-256-GCM by the browser's WebCrypto, for the large local blobs (the replica
//! cache: megabytes at 100,000 customers) and for batches of records' sections (a
//! first sync decrypts 200,000): the same primitive and the same bytes as
//! `shared::crypto::aead`'s (wasm tests check each opens the other's), but hardware
//! AES, off the page's thread — the crate's constant-time software AES takes ~0.7 s for
//! the cache of 100,000 customers and ~4 s of the page for their records. A key is
//! imported as a non-extractable `CryptoKey` for one operation or one batch. Where
//! WebCrypto is missing (a page served over plain HTTP from another host than
//! localhost has none), `None`: the caller uses the crate.

use js_sys::{Array, Promise, Uint8Array};
use shared::crypto::aead::{blob_aad, blob_of, blob_parts, random_nonce};
use shared::crypto::envelope::{Decryption, Encryption};
use shared::crypto::{CryptoError, SymmetricKey};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

async fn key(subtle: &SubtleCrypto, key: &SymmetricKey, usage: &str) -> Option<CryptoKey> {
    let raw = Uint8Array::from(&key.expose_secret()[..]);
    let usages = Array::of1(&JsValue::from_str(usage));
    let imported = subtle.import_key_with_str("raw", &raw, "AES-GCM", false, &usages).ok()?;
    let result = JsFuture::from(imported).await.ok()?.dyn_into::<CryptoKey>().ok();
    raw.fill(0, 0, 32);
    result
}

fn params(nonce: &[u8], aad: &[u8]) -> AesGcmParams {
    let params = AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(nonce));
    params.set_additional_data_u8_array(&Uint8Array::from(aad));
    params.set_tag_length(128);
    params
}

fn subtle() -> Option<SubtleCrypto> {
    Some(web_sys::window()?.crypto().ok()?.subtle())
}

/// [`shared::crypto::aead::seal_blob`], by WebCrypto.
pub async fn seal_blob(key: &SymmetricKey, context: &[u8], plain: &[u8]) -> Option<Vec<u8>> {
    Some(seal_blob_js(key, context, plain).await?.to_vec())
}

/// [`seal_blob`], the blob left in the browser's memory (to store from there).
pub async fn seal_blob_js(key_: &SymmetricKey, context: &[u8], plain: &[u8]) -> Option<Uint8Array> {
    let subtle = subtle()?;
    let key = key(&subtle, key_, "encrypt").await?;
    let nonce = random_nonce();
    let sealing = subtle.encrypt_with_object_and_u8_array(&params(&nonce, &blob_aad(context)), &key, plain).ok()?;
    let sealed = Uint8Array::new(&JsFuture::from(sealing).await.ok()?);
    // `blob_of`'s layout, put together where the ciphertext already is.
    let head = blob_of(&nonce, &[]);
    let blob = Uint8Array::new_with_length((head.len() + sealed.length() as usize) as u32);
    blob.set(&Uint8Array::from(&head[..]), 0);
    blob.set(&sealed, head.len() as u32);
    Some(blob)
}

/// [`shared::crypto::aead::open_blob`], by WebCrypto: `Some(Err)` when the blob is
/// malformed or does not authenticate.
pub async fn open_blob(key_: &SymmetricKey, context: &[u8], blob: &[u8]) -> Option<Result<Vec<u8>, CryptoError>> {
    let (nonce, ciphertext) = match blob_parts(blob) {
        Ok(parts) => parts,
        Err(e) => return Some(Err(e)),
    };
    let subtle = subtle()?;
    let key = key(&subtle, key_, "decrypt").await?;
    let opening =
        subtle.decrypt_with_object_and_u8_array(&params(&nonce, &blob_aad(context)), &key, ciphertext).ok()?;
    Some(match JsFuture::from(opening).await {
        Ok(plain) => Ok(Uint8Array::new(&plain).to_vec()),
        Err(_) => Err(CryptoError::DecryptionFailed),
    })
}

/// [`shared::sync::Transport::decrypt`] by WebCrypto: a batch of records' sections,
/// each distinct key imported once, every decryption issued before any is awaited
/// (the browser runs them on its own threads). `None` where there is no WebCrypto, and
/// when a section does not authenticate (the crate then tells which).
pub async fn decrypt_many(decryptions: &[&Decryption<'_>]) -> Option<Vec<Result<Vec<u8>, CryptoError>>> {
    let subtle = subtle()?;
    // The keyring lends one reference per key, so the same key is the same address.
    let mut keys: Vec<(&SymmetricKey, CryptoKey)> = Vec::new();
    for d in decryptions {
        if !keys.iter().any(|(k, _)| std::ptr::eq(*k, d.key())) {
            keys.push((d.key(), key(&subtle, d.key(), "decrypt").await?));
        }
    }
    let pending = Array::new_with_length(decryptions.len() as u32);
    for (i, d) in decryptions.iter().enumerate() {
        let (_, key) = keys.iter().find(|(k, _)| std::ptr::eq(*k, d.key()))?;
        let decrypting =
            subtle.decrypt_with_object_and_u8_array(&params(d.nonce(), d.aad()), key, d.ciphertext()).ok()?;
        pending.set(i as u32, decrypting.into());
    }
    // A section that does not authenticate (a server's tampering, never the usual
    // case) fails the batch here: the caller then opens it with the crate, which says
    // which sections fail.
    let opened: Array = JsFuture::from(Promise::all(&pending)).await.ok()?.unchecked_into();
    let out: Vec<_> = opened
        .iter()
        .map(|buffer| {
            let plain = Uint8Array::new(&buffer);
            let bytes = plain.to_vec();
            plain.fill(0, 0, plain.length());
            Ok(bytes)
        })
        .collect();
    (out.len() == decryptions.len()).then_some(out)
}

/// [`shared::sync::Transport::encrypt`] by WebCrypto: a batch of sections being sealed,
/// each distinct key imported once, every encryption issued before any is awaited.
/// `None` where there is no WebCrypto (the caller uses the crate).
pub async fn encrypt_many(encryptions: &[&Encryption]) -> Option<Vec<Vec<u8>>> {
    let subtle = subtle()?;
    let mut keys: Vec<(&SymmetricKey, CryptoKey)> = Vec::new();
    for e in encryptions {
        if !keys.iter().any(|(k, _)| *k == e.key()) {
            keys.push((e.key(), key(&subtle, e.key(), "encrypt").await?));
        }
    }
    let pending = Array::new_with_length(encryptions.len() as u32);
    for (i, e) in encryptions.iter().enumerate() {
        let (_, key) = keys.iter().find(|(k, _)| *k == e.key())?;
        // The browser copies the plaintext before `encrypt` returns (WebCrypto takes a
        // copy of its input), from the module's memory, where it is wiped on drop.
        let encrypting =
            subtle.encrypt_with_object_and_u8_array(&params(e.nonce(), e.aad()), key, e.plaintext()).ok()?;
        pending.set(i as u32, encrypting.into());
    }
    let sealed: Array = JsFuture::from(Promise::all(&pending)).await.ok()?.unchecked_into();
    let out: Vec<Vec<u8>> = sealed.iter().map(|buffer| Uint8Array::new(&buffer).to_vec()).collect();
    (out.len() == encryptions.len()).then_some(out)
}
