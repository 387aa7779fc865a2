//! Who a request comes from: the bearer token looked up as a live session (and, under a
//! team's path, one that still reaches that team). Every route that needs a signed-in
//! user takes an [`AuthUser`]; the websocket handshake asks [`authenticate`] and
//! [`live_until`] itself. Signing up, logging in and out are in `auth`.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use shared::api::path;
use shared::ids::{TeamId, Username};

use crate::error::{ApiError, ApiResult};
use crate::{now_ms, AppState};

/// How stale `last_seen_at` may get before a request rewrites it.
const TOUCH_EVERY_MS: i64 = 60_000;

/// What the database keeps of a session token: its hash, never the token.
pub fn token_hash(token: &str) -> [u8; 32] {
    shared::wipe::session_token_hash(token)
}

/// A request made with a live session.
pub struct AuthUser {
    pub username: Username,
    pub token_hash: [u8; 32],
}

/// Look a bearer token up; shared by the extractor and the websocket handshake. With
/// `team`, the session must also still reach that team ([`team_end`]).
pub async fn authenticate(state: &AppState, token: &str, team: Option<&TeamId>) -> ApiResult<AuthUser> {
    if token.is_empty() || token.len() > 128 {
        return Err(ApiError::Unauthorized("invalid session token"));
    }
    let hash = token_hash(token);
    // Counted before the database is asked, so a flood costs the server little.
    if let Err(wait) = state.limits.take(&hash, std::time::Instant::now()) {
        return Err(ApiError::RateLimited(wait.as_secs().max(1)));
    }
    let s = state.db.session(&hash, team).await?.ok_or(ApiError::Unauthorized("invalid session token"))?;
    let now = now_ms();
    if s.wiped {
        return Err(ApiError::DeviceWiped(s.wipe_order));
    }
    if s.expires_at <= now {
        state.db.delete_session(&hash).await?;
        return Err(ApiError::SessionExpired);
    }
    if now - s.last_seen_at >= TOUCH_EVERY_MS {
        state.db.touch_session(&hash, now).await?;
    }
    team_end(s.team_end)?;
    Ok(AuthUser { username: s.username, token_hash: hash })
}

/// When the session `token_hash` ends (Unix ms), if it is live now (not logged out,
/// revoked, wiped or expired) and, with `team`, still reaches that team. Unlike
/// [`authenticate`] it takes nothing from the session's request budget and writes
/// nothing: an open websocket asks it whenever the session may have ended, and a burst
/// of team events must not close an honest one.
pub async fn live_until(state: &AppState, token_hash: &[u8; 32], team: Option<&TeamId>) -> ApiResult<i64> {
    let s = state.db.session(token_hash, team).await?.ok_or(ApiError::Unauthorized("invalid session token"))?;
    if s.wiped {
        return Err(ApiError::DeviceWiped(None));
    }
    if s.expires_at <= now_ms() {
        return Err(ApiError::SessionExpired);
    }
    team_end(s.team_end)?;
    Ok(s.expires_at)
}

/// Whether a session may still reach a team, from its end there (`SessionRow::team_end`):
/// an admin's wipe, an incident or a removal ends a session in that team only
/// (`device_wiped` with the admin's order for a wipe, which the device checks before
/// erasing the team's data; a plain 401 otherwise), never the account's other teams.
fn team_end(end: Option<Option<String>>) -> ApiResult<()> {
    match end {
        None => Ok(()),
        Some(Some(order)) => Err(ApiError::DeviceWiped(Some(order))),
        Some(None) => Err(ApiError::Unauthorized("this session was signed out of this team; log in again")),
    }
}

/// The team a request's path names (`/api/v1/teams/{team}/…`), if any.
fn team_in_path(path: &str) -> Option<TeamId> {
    let rest = path.strip_prefix(path::TEAMS)?.strip_prefix('/')?;
    rest.split('/').next()?.parse().ok()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

impl<S> FromRequestParts<S> for AuthUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthorized("missing bearer token"))?;
        // Every team's routes are under its path: one check covers them all.
        authenticate(&state, token, team_in_path(parts.uri.path()).as_ref()).await
    }
}
