//! Freshness beacons ([`shared::beacon`]): an admin's device posts the chain head it
//! verified, signed, every few minutes while online; every member reads the latest
//! each current admin posted. The server checks what it can (the poster is an admin,
//! the beacon is theirs and signed with their registered key, its head is one the
//! team's chain has had) so it stores no junk; members' clients judge each beacon again
//! against the chain they verified, which is what counts.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use shared::api::{path, BeaconsResponse, Empty, PublishBeaconRequest};
use shared::ids::TeamId;

use crate::access::{require_admin, require_member};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::records::holds_head;
use crate::session::AuthUser;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(path::BEACONS, get(beacons).post(publish))
}

async fn publish(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<PublishBeaconRequest>,
) -> ApiResult<ApiJson<Empty>> {
    require_admin(&state, &team, &user.username, "only admins publish beacons").await?;
    let b = &req.beacon;
    if b.team != team || b.admin != user.username {
        return Err(ApiError::BadRequest("the beacon must be the caller's, for this team".into()));
    }
    let keys = state.db.user(user.username.as_str()).await?.ok_or(ApiError::NotFound("no such user"))?.identity;
    if !b.verify_signature(&keys) {
        return Err(ApiError::BadRequest("the beacon's signature does not verify".into()));
    }
    if !holds_head(&state, &team, b.len, &b.head).await? {
        return Err(ApiError::BadRequest("the beacon names a chain head this team's chain never had".into()));
    }
    state.db.put_beacon(b).await?;
    Ok(ApiJson(Empty {}))
}

async fn beacons(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<ApiJson<BeaconsResponse>> {
    require_member(&state, &team, &user.username).await?;
    Ok(ApiJson(BeaconsResponse { beacons: state.db.beacons(&team).await? }))
}
