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
use shared::crypto::envelope::Decryption;
use shared::crypto::{CryptoError, SymmetricKey};
use shared::sync::offload::{self, SectionDecryption};
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

/// The page's or the worker's WebCrypto (`None` where there is none: a page served over
/// plain HTTP from another host than localhost).
fn subtle() -> Option<SubtleCrypto> {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).ok()?;
    let subtle = js_sys::Reflect::get(&crypto, &"subtle".into()).ok()?;
    subtle.dyn_into::<SubtleCrypto>().ok()
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

/// [`shared::sync::Transport::decrypt`] by WebCrypto: a batch of records' sections (see
/// [`decrypt_all`]).
pub async fn decrypt_many(decryptions: &[&Decryption<'_>]) -> Option<Vec<Result<Vec<u8>, CryptoError>>> {
    // The keyring lends one reference per key, so the same key is the same address.
    let mut keys: Vec<&SymmetricKey> = Vec::new();
    let mut sections = Vec::with_capacity(decryptions.len());
    for d in decryptions {
        let key = match keys.iter().position(|k| std::ptr::eq(*k, d.key())) {
            Some(i) => i,
            None => {
                keys.push(d.key());
                keys.len() - 1
            }
        };
        sections.push(SectionDecryption { key, nonce: d.nonce(), aad: d.aad(), ciphertext: d.ciphertext() });
    }
    decrypt_all(&keys, sections).await
}

/// [`offload::Opening::decryptions`] by WebCrypto, in a worker (see [`decrypt_all`]).
pub async fn decrypt_opening(opening: &offload::Opening<'_>) -> Option<Vec<Result<Vec<u8>, CryptoError>>> {
    let keys: Vec<&SymmetricKey> = opening.keys().iter().collect();
    decrypt_all(&keys, opening.decryptions()).await
}

/// AES-256-GCM decryptions by WebCrypto: each key imported once, every decryption
/// issued before any is awaited (the browser runs them on its own threads). What each
/// returns is what `aead::open` would; `None` where there is no WebCrypto, and when a
/// section does not authenticate (the caller then decrypts with the crate, which says
/// which sections fail).
async fn decrypt_all<'s>(
    keys: &[&SymmetricKey],
    sections: impl IntoIterator<Item = SectionDecryption<'s>>,
) -> Option<Vec<Result<Vec<u8>, CryptoError>>> {
    let subtle = subtle()?;
    let mut imported = Vec::with_capacity(keys.len());
    for k in keys {
        imported.push(key(&subtle, k, "decrypt").await?);
    }
    let pending = Array::new();
    for d in sections {
        let decrypting = subtle
            .decrypt_with_object_and_u8_array(&params(d.nonce, d.aad), imported.get(d.key)?, d.ciphertext)
            .ok()?;
        pending.push(&decrypting);
    }
    // A section that does not authenticate (a server's tampering, never the usual
    // case) fails the batch here.
    let opened: Array = JsFuture::from(Promise::all(&pending)).await.ok()?.unchecked_into();
    let out = opened
        .iter()
        .map(|buffer| {
            let plain = Uint8Array::new(&buffer);
            let bytes = plain.to_vec();
            plain.fill(0, 0, plain.length());
            Ok(bytes)
        })
        .collect();
    Some(out)
}
