//! Accounts and sessions. The server keeps a SHA-256 verifier of each client-derived
//! auth key, and session tokens only as hashes. Unknown usernames get a deterministic
//! fake salt with the default settings, so a pre-login answer for an ordinary account
//! looks like one for a missing name (what still tells them apart is in SECURITY.md's
//! limits). Who a request comes from is `session`'s. Every check of
//! a passphrase or a recovery key runs under [`crate::limits::Limits::guarded`]: wrong
//! guesses are counted per account and per client address, and back off.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::Router;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use shared::api::{
    path, ChangePassphraseRequest, Device, DeviceList, Empty, LoginRequest, PreloginRequest, PreloginResponse,
    RecoverRequest, RecoveryBundle, RecoveryBundleRequest, RevokeDeviceRequest, SealedPins, SessionResponse,
    SetRecoveryRequest, SignupRequest, UserKeys, WipeResponse,
};
use shared::crypto::identity::AccountBundle;
use shared::crypto::passphrase::{fake_salt, AuthKey, KdfParams, SaltBinding};
use shared::ids::Username;
use subtle::ConstantTimeEq;

use crate::db::{DbError, UserRow};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::limits::{ClientAddr, Target};
use crate::session::{token_hash, AuthUser};
use crate::{now_ms, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(path::SIGNUP, post(signup))
        .route(path::PRELOGIN, post(prelogin))
        .route(path::LOGIN, post(login))
        .route(path::LOGOUT, post(logout))
        .route(path::DEVICES, get(devices))
        .route(path::REVOKE_DEVICE, post(revoke_device))
        .route(path::USER, get(user_keys))
        .route(path::ACCOUNT_PINS, get(pins).put(put_pins))
        .route(path::PASSPHRASE, put(change_passphrase))
        .route(path::RECOVERY, put(set_recovery))
        .route(path::RECOVERY_BUNDLE, post(recovery_bundle))
        .route(path::RECOVER, post(recover))
}

/// What a sign-up or a passphrase change may store: settings in range with the salt
/// bound to the username (unbound ones are only ever read, for accounts from before),
/// and a sealed bundle of a plausible size.
fn check_credentials(kdf: &KdfParams, bundle: &AccountBundle) -> ApiResult<()> {
    kdf.validate().map_err(|_| ApiError::BadRequest("Argon2id parameters are out of the accepted range".into()))?;
    if kdf.binding != SaltBinding::Username {
        return Err(ApiError::BadRequest("the salt must be bound to the username (kdf.binding = \"username\")".into()));
    }
    if bundle.0.len() > 4096 || bundle.0.is_empty() {
        return Err(ApiError::BadRequest("account bundle has an implausible size".into()));
    }
    Ok(())
}

/// The caller's stored account, if `presented` is its current auth key (403 if not).
/// A stolen session could guess the passphrase here, so it counts like a log-in.
async fn prove_current(
    state: &AppState,
    user: &AuthUser,
    addr: Option<std::net::IpAddr>,
    presented: [u8; 32],
) -> ApiResult<UserRow> {
    let attempt = state.limits.attempt(&state.server_secret, Target::Account(&user.username), addr);
    let check = async {
        let stored = state.db.user(user.username.as_str()).await?.ok_or(ApiError::NotFound("no such user"))?;
        if !bool::from(AuthKey::from_bytes(presented).verifier().ct_eq(&stored.auth_hash)) {
            tracing::info!(username = %user.username, "wrong current passphrase");
            return Err(ApiError::Forbidden("the current passphrase is wrong"));
        }
        Ok(stored)
    };
    state.limits.guarded(&*state.db, &attempt, check).await
}

/// Set (replace) the caller's recovery kit, proven with the current passphrase.
async fn set_recovery(
    State(state): State<AppState>,
    user: AuthUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<SetRecoveryRequest>,
) -> ApiResult<ApiJson<Empty>> {
    if req.bundle.0.len() > 4096 || req.bundle.0.is_empty() {
        return Err(ApiError::BadRequest("recovery bundle has an implausible size".into()));
    }
    prove_current(&state, &user, addr, req.current_auth_key).await?;
    let verifier = AuthKey::from_bytes(req.recovery_auth_key).verifier();
    state.db.set_recovery(&user.username, &verifier, &req.bundle.0).await?;
    tracing::info!(username = %user.username, "recovery kit set");
    Ok(ApiJson(Empty {}))
}

/// Whether `presented` proves the recovery key of `username` (compared in constant
/// time, against a dummy when there is no kit, so timing says little; counted against
/// the account like a log-in, kit or not).
async fn recovery_of(
    state: &AppState,
    username: &Username,
    addr: Option<std::net::IpAddr>,
    presented: [u8; 32],
) -> ApiResult<Vec<u8>> {
    let attempt = state.limits.attempt(&state.server_secret, Target::Account(username), addr);
    let check = async {
        let kit = state.db.recovery(username.as_str()).await?;
        let expected = kit.as_ref().map_or([0xFF; 32], |k| k.0);
        let ok: bool = AuthKey::from_bytes(presented).verifier().ct_eq(&expected).into();
        match kit.filter(|_| ok) {
            Some((_, bundle)) => Ok(bundle),
            None => {
                tracing::info!(username = %username, "failed recovery");
                Err(ApiError::Unauthorized("wrong username or recovery key"))
            }
        }
    };
    state.limits.guarded(&*state.db, &attempt, check).await
}

/// The recovery-sealed bundle, to whoever proves the recovery key (it opens only with
/// the key, which the server never sees).
async fn recovery_bundle(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<RecoveryBundleRequest>,
) -> ApiResult<ApiJson<RecoveryBundle>> {
    let bundle = recovery_of(&state, &req.username, addr, req.recovery_auth_key).await?;
    Ok(ApiJson(RecoveryBundle { bundle: AccountBundle(bundle) }))
}

/// Store a new passphrase's salt, settings, auth verifier and bundle in place of
/// `stored`'s, unless they changed since it was read (409).
async fn replace_credentials(
    state: &AppState,
    stored: UserRow,
    salt: [u8; 16],
    kdf: KdfParams,
    auth_key: [u8; 32],
    bundle: AccountBundle,
) -> ApiResult<()> {
    let current = stored.auth_hash;
    let row = UserRow { salt, kdf, auth_hash: AuthKey::from_bytes(auth_key).verifier(), bundle, ..stored };
    if !state.db.set_credentials(&row, &current).await? {
        return Err(ApiError::Conflict("the passphrase was changed meanwhile; log in again"));
    }
    Ok(())
}

/// A new passphrase for a forgotten one, proven with the recovery key. The old
/// passphrase stops working; the kit stays valid. Logging in afterwards still needs
/// the second factor if the account has one.
async fn recover(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<RecoverRequest>,
) -> ApiResult<ApiJson<Empty>> {
    check_credentials(&req.kdf, &req.bundle)?;
    recovery_of(&state, &req.username, addr, req.recovery_auth_key).await?;
    let stored = state.db.user(req.username.as_str()).await?.ok_or(ApiError::NotFound("no such user"))?;
    replace_credentials(&state, stored, req.salt, req.kdf, req.auth_key, req.bundle).await?;
    // Whoever held the old passphrase is signed out everywhere.
    let ended = state.db.end_other_sessions(&req.username, None).await?;
    state.hub.sessions_ended(Some(&req.username));
    tracing::info!(username = %req.username, ended, "passphrase reset with the recovery key");
    Ok(ApiJson(Empty {}))
}

/// Change the caller's passphrase. Proven with the current auth key; the caller's
/// session stays, every other one of theirs ends (a passphrase is changed when it may
/// be known to someone else: a session that person opened must not outlive it). The
/// other devices keep their data and log in again with the new passphrase.
async fn change_passphrase(
    State(state): State<AppState>,
    user: AuthUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<ChangePassphraseRequest>,
) -> ApiResult<ApiJson<Empty>> {
    check_credentials(&req.kdf, &req.bundle)?;
    let stored = prove_current(&state, &user, addr, req.current_auth_key).await?;
    replace_credentials(&state, stored, req.salt, req.kdf, req.auth_key, req.bundle).await?;
    let ended = state.db.end_other_sessions(&user.username, Some(&user.token_hash)).await?;
    state.hub.sessions_ended(Some(&user.username));
    tracing::info!(username = %user.username, ended, "passphrase changed");
    Ok(ApiJson(Empty {}))
}

/// The caller's sealed pins (version 0 and no bytes if none are stored yet).
async fn pins(State(state): State<AppState>, user: AuthUser) -> ApiResult<ApiJson<SealedPins>> {
    let (version, blob) = state.db.pins(&user.username).await?.unwrap_or_default();
    Ok(ApiJson(SealedPins { version, blob }))
}

/// Store the caller's pins if they are newer than the stored ones (409 otherwise:
/// another device stored a newer version; read, merge, store again).
async fn put_pins(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<SealedPins>,
) -> ApiResult<ApiJson<SealedPins>> {
    if req.blob.is_empty() || req.blob.len() > shared::pins::MAX_PINS_BYTES {
        return Err(ApiError::BadRequest(format!("pins must be 1 to {} bytes", shared::pins::MAX_PINS_BYTES)));
    }
    if req.version == 0 || i64::try_from(req.version).is_err() {
        return Err(ApiError::BadRequest("pins version out of range".into()));
    }
    if !state.db.put_pins(&user.username, req.version, &req.blob).await? {
        return Err(ApiError::Conflict("newer pins are stored; read them, merge and store again"));
    }
    Ok(ApiJson(req))
}

/// A coarse device label from a User-Agent ("Chrome on Android"): enough for a member to
/// recognise their devices, not a fingerprint. The header itself is not stored.
pub fn device_label(headers: &HeaderMap) -> String {
    let ua = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let browser = [("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
        .iter()
        .find(|(needle, _)| ua.contains(needle))
        .map_or("an unknown browser", |(_, name)| name);
    let os = [("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"), ("Windows", "Windows"), ("Mac OS", "macOS")]
        .iter()
        .chain(&[("CrOS", "ChromeOS"), ("Linux", "Linux")])
        .find(|(needle, _)| ua.contains(needle))
        .map_or("an unknown system", |(_, name)| name);
    format!("{browser} on {os}")
}

async fn new_session(state: &AppState, username: &Username, device: &str) -> ApiResult<(String, i64)> {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let now = now_ms();
    let expires_at = now + state.config.session_ttl.as_millis() as i64;
    state.db.create_session(&token_hash(&token), username, device, now, expires_at).await?;
    Ok((token, expires_at))
}

async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SignupRequest>,
) -> ApiResult<ApiJson<SessionResponse>> {
    check_credentials(&req.kdf, &req.bundle)?;
    let user = UserRow {
        username: req.username.clone(),
        salt: req.salt,
        kdf: req.kdf,
        auth_hash: AuthKey::from_bytes(req.auth_key).verifier(),
        identity: req.identity,
        bundle: req.bundle.clone(),
    };
    match state.db.create_user(&user, now_ms()).await {
        Err(DbError::Duplicate) => return Err(ApiError::Conflict("that username is taken")),
        r => r?,
    }
    tracing::info!(username = %req.username, "account created");
    let (token, expires_at) = new_session(&state, &req.username, &device_label(&headers)).await?;
    Ok(ApiJson(SessionResponse { token, expires_at, identity: req.identity, bundle: req.bundle }))
}

async fn prelogin(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PreloginRequest>,
) -> ApiResult<ApiJson<PreloginResponse>> {
    let resp = match state.db.user(req.username.as_str()).await? {
        Some(u) => PreloginResponse { salt: u.salt, kdf: u.kdf },
        None => {
            PreloginResponse { salt: fake_salt(&state.server_secret, req.username.as_str()), kdf: KdfParams::DEFAULT }
        }
    };
    Ok(ApiJson(resp))
}

/// The account `req` proves: its auth key, then its second factor if it has one.
async fn check_login(state: &AppState, req: &LoginRequest) -> ApiResult<UserRow> {
    let presented = AuthKey::from_bytes(req.auth_key).verifier();
    let user = state.db.user(req.username.as_str()).await?;
    // Compare against a dummy for unknown users too, so timing says little.
    let expected = user.as_ref().map(|u| u.auth_hash).unwrap_or([0xFF; 32]);
    let ok: bool = presented.ct_eq(&expected).into();
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(username = %req.username, "failed login");
        return Err(ApiError::Unauthorized("wrong username or passphrase"));
    };
    crate::twofa::verify_login(state, &user.username, req.totp.as_deref()).await?;
    Ok(user)
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<ApiJson<SessionResponse>> {
    let attempt = state.limits.attempt(&state.server_secret, Target::Account(&req.username), addr);
    let user = state.limits.guarded(&*state.db, &attempt, check_login(&state, &req)).await?;
    let (token, expires_at) = new_session(&state, &user.username, &device_label(&headers)).await?;
    tracing::info!(username = %user.username, "login");
    Ok(ApiJson(SessionResponse { token, expires_at, identity: user.identity, bundle: user.bundle }))
}

async fn logout(State(state): State<AppState>, user: AuthUser) -> ApiResult<ApiJson<Empty>> {
    state.db.delete_session(&user.token_hash).await?;
    state.hub.sessions_ended(Some(&user.username));
    Ok(ApiJson(Empty {}))
}

/// The id a device is revoked by: a hash of the stored token hash (so a leaked list
/// is not a list of lookup keys either).
fn device_id(token_hash: &[u8; 32]) -> String {
    shared::wipe::device_id_of_hash(token_hash)
}

async fn devices(State(state): State<AppState>, user: AuthUser) -> ApiResult<ApiJson<DeviceList>> {
    let rows = state.db.user_sessions(&user.username, now_ms()).await?;
    let devices = rows
        .into_iter()
        .map(|r| Device {
            id: device_id(&r.token_hash),
            device: r.device,
            created_ms: r.created_at,
            last_seen_ms: r.last_seen_at,
            current: r.token_hash == user.token_hash,
        })
        .collect();
    let two_factor = state.db.totp(&user.username).await?.is_some_and(|t| t.secret.is_some());
    Ok(ApiJson(DeviceList { devices, two_factor }))
}

/// Sign out one of the caller's own devices (this one too, if asked), with the order
/// the caller signed for it: the device erases its local data at its next contact if
/// the order checks out against the caller's identity key.
async fn revoke_device(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RevokeDeviceRequest>,
) -> ApiResult<ApiJson<WipeResponse>> {
    let o = &req.order;
    if o.username != user.username || o.signer != user.username || o.team.is_some() || o.device.as_ref() != Some(&id) {
        return Err(ApiError::BadRequest("the wipe order must be the caller's own, for this device".into()));
    }
    let keys = state.db.user(user.username.as_str()).await?.ok_or(ApiError::NotFound("no such user"))?.identity;
    if !o.verify_signature(&keys) {
        return Err(ApiError::BadRequest("the wipe order's signature does not verify".into()));
    }
    let rows = state.db.user_sessions(&user.username, now_ms()).await?;
    let target = rows.iter().find(|r| device_id(&r.token_hash) == id).ok_or(ApiError::NotFound("no such device"))?;
    let order = serde_json::to_string(o).map_err(|e| ApiError::Internal(e.to_string()))?;
    let n = state.db.wipe_sessions(&user.username, Some(&target.token_hash), now_ms(), &order).await?;
    state.hub.sessions_ended(Some(&user.username));
    tracing::info!(user = %user.username, "device revoked");
    Ok(ApiJson(WipeResponse { devices: n }))
}

async fn user_keys(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiPath(username): ApiPath<Username>,
) -> ApiResult<ApiJson<UserKeys>> {
    let u = state.db.user(username.as_str()).await?.ok_or(ApiError::NotFound("no such user"))?;
    Ok(ApiJson(UserKeys { username: u.username, identity: u.identity }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_labels_are_coarse() {
        let label = |ua: &str| {
            let mut h = HeaderMap::new();
            h.insert(axum::http::header::USER_AGENT, ua.parse().unwrap());
            device_label(&h)
        };
        let chrome_android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";
        assert_eq!(label(chrome_android), "Chrome on Android");
        let safari_iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(label(safari_iphone), "Safari on iOS");
        assert_eq!(
            label("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            "Firefox on Windows"
        );
        assert_eq!(device_label(&HeaderMap::new()), "an unknown browser on an unknown system");
    }
}
