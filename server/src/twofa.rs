//! Two-factor authentication with TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps, the
//! form every authenticator app reads): enrolment with a QR code, confirmation with a
//! first code, ten single-use recovery codes (stored as hashes), codes required at
//! log-in once enabled (each step accepted once, so an observed code cannot be
//! replayed), and a team setting that admins use to require it of every member.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::Router;
use rand_core::{OsRng, RngCore};
use shared::api::{path, Empty, RecoveryCodes, Require2fa, TotpCode, TotpSetup, TotpStatus};
use shared::crypto::sha256;
use shared::ids::{TeamId, Username};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::access::require_admin;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::limits::{ClientAddr, Target};
use crate::session::AuthUser;
use crate::AppState;

const STEP_S: u64 = 30;
const RECOVERY_CODES: usize = 10;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(path::TOTP, get(status))
        .route(path::TOTP_SETUP, post(setup))
        .route(path::TOTP_ENABLE, post(enable))
        .route(path::TEAM_2FA, put(require_for_team))
}

fn totp(secret: Vec<u8>, account: &Username) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, STEP_S, secret, Some("Quietdesk".into()), account.to_string())
}

fn now_s() -> u64 {
    (crate::now_ms() / 1000) as u64
}

/// The time step `code` belongs to (this one, or one either side for clock skew).
pub fn matching_step(secret: &[u8], account: &Username, code: &str, now_s: u64) -> Option<u64> {
    let t = totp(secret.to_vec(), account);
    let now = now_s / STEP_S;
    (now.saturating_sub(1)..=now + 1).find(|s| bool::from(t.generate(s * STEP_S).as_bytes().ct_eq(code.as_bytes())))
}

fn recovery_hash(code: &str) -> String {
    let normalized: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
    sha256(b"quietdesk/v1/recovery-code", &[normalized.as_bytes()]).iter().map(|b| format!("{b:02x}")).collect()
}

/// Check a log-in's second factor for `user` (who has 2FA on): a fresh TOTP code, or an
/// unused recovery code (which is then used up).
pub async fn verify_login(state: &AppState, user: &Username, code: Option<&str>) -> ApiResult<()> {
    let Some(t) = state.db.totp(user).await? else { return Ok(()) };
    let Some(secret) = t.secret else { return Ok(()) };
    let code = code.map(str::trim).filter(|c| !c.is_empty()).ok_or(ApiError::TotpRequired)?;
    if let Some(step) = matching_step(&secret, user, code, now_s()) {
        // Each step once: a code seen over someone's shoulder does not work again.
        if step as i64 > t.last_step && state.db.use_totp_step(user, step as i64).await? {
            return Ok(());
        }
        return Err(ApiError::TotpInvalid);
    }
    let hash = recovery_hash(code);
    if t.recovery.contains(&hash) && state.db.use_recovery_code(user, &hash).await? {
        tracing::warn!(%user, "log-in with a recovery code");
        return Ok(());
    }
    Err(ApiError::TotpInvalid)
}

async fn status(State(state): State<AppState>, user: AuthUser) -> ApiResult<ApiJson<TotpStatus>> {
    let enabled = state.db.totp(&user.username).await?.is_some_and(|t| t.secret.is_some());
    Ok(ApiJson(TotpStatus { enabled }))
}

/// Start enrolment: a new random 160-bit secret, kept pending until a code confirms it.
async fn setup(State(state): State<AppState>, user: AuthUser) -> ApiResult<ApiJson<TotpSetup>> {
    let mut secret = vec![0u8; 20];
    OsRng.fill_bytes(&mut secret);
    state.db.set_totp_pending(&user.username, &secret).await?;
    let t = totp(secret, &user.username);
    Ok(ApiJson(TotpSetup { secret: t.get_secret_base32(), uri: t.get_url() }))
}

/// Confirm enrolment with a code from the app; returns the recovery codes (once).
async fn enable(
    State(state): State<AppState>,
    user: AuthUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<TotpCode>,
) -> ApiResult<ApiJson<RecoveryCodes>> {
    let pending = state.db.totp(&user.username).await?.and_then(|t| t.pending);
    let Some(secret) = pending else {
        return Err(ApiError::BadRequest("start the set-up first".into()));
    };
    // Something that is not a code at all is a mistake in the form, not a guess: it is
    // explained, and costs no try.
    let code = req.code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest("a code is the six digits your authenticator app shows".into()));
    }
    // Counted apart from the account's log-in count: fumbling the set-up does not lock
    // its owner out of logging in.
    let attempt = state.limits.attempt(&state.server_secret, Target::TotpSetup(&user.username), addr);
    let check = async { matching_step(&secret, &user.username, code, now_s()).ok_or(ApiError::TotpInvalid) };
    let step = state.limits.guarded(&*state.db, &attempt, check).await?;
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut b = [0u8; 5];
            OsRng.fill_bytes(&mut b);
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("{}-{}", &hex[..5], &hex[5..])
        })
        .collect();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
    state.db.enable_totp(&user.username, &secret, step as i64, &hashes).await?;
    tracing::info!(user = %user.username, "two-factor authentication enabled");
    Ok(ApiJson(RecoveryCodes { codes }))
}

async fn require_for_team(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<Require2fa>,
) -> ApiResult<ApiJson<Empty>> {
    require_admin(&state, &team, &user.username, "only admins change the team's sign-in rules").await?;
    if req.required && state.db.totp(&user.username).await?.is_none_or(|t| t.secret.is_none()) {
        return Err(ApiError::BadRequest("turn on two-factor authentication for yourself first".into()));
    }
    state.db.set_team_2fa(&team, req.required).await?;
    tracing::info!(%team, required = req.required, "team two-factor requirement changed");
    Ok(ApiJson(Empty {}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_the_neighbours_only() {
        let (secret, who) = (vec![7u8; 20], Username::parse("ann").unwrap());
        let t = totp(secret.clone(), &who);
        let now = 1_800_000_000;
        let code = t.generate(now);
        assert_eq!(matching_step(&secret, &who, &code, now), Some(now / STEP_S));
        assert_eq!(matching_step(&secret, &who, &code, now + STEP_S), Some(now / STEP_S), "30 s of skew");
        assert_eq!(matching_step(&secret, &who, &code, now + 3 * STEP_S), None);
        assert_eq!(matching_step(&secret, &who, "000000", now).filter(|_| code != "000000"), None);
        // RFC 6238 test vector (SHA-1, T = 59 s, 8 digits 94287082 → 6 digits 287082).
        let rfc = b"12345678901234567890".to_vec();
        assert_eq!(matching_step(&rfc, &who, "287082", 59), Some(1));
        assert_eq!(recovery_hash("AB12c-3dE45"), recovery_hash("ab12c3de45"));
    }
}
