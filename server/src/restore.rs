//! Restore notices ([`shared::restore`]): after the server is restored from a backup,
//! an admin confirms it by posting a notice signed for the generation the server now
//! runs as; members' clients start over on a `reset` only with it. The server checks
//! what it can (the poster is an admin, the notice is theirs, for this team and this
//! server's generation, signed with their registered key) so it stores no junk, and it
//! takes put-backs above a record's next version only under a notice
//! ([`declared`]). Members' clients judge the notice again against their chain.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use shared::api::{path, ConfirmRestoreRequest, Empty, RestoreStatus};
use shared::ids::TeamId;

use crate::access::{require_admin, require_member};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::session::AuthUser;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(path::RESTORE, get(status).post(confirm))
}

/// Whether this server runs as a restored generation that an admin of `team` confirmed.
pub async fn declared(state: &AppState, team: &TeamId) -> ApiResult<bool> {
    Ok(state.restored() && state.db.restore_notice(team, state.generation()).await?.is_some())
}

async fn confirm(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<ConfirmRestoreRequest>,
) -> ApiResult<ApiJson<Empty>> {
    require_admin(&state, &team, &user.username, "only admins confirm a restore").await?;
    let n = &req.notice;
    if n.team != team || n.admin != user.username {
        return Err(ApiError::BadRequest("the notice must be the caller's, for this team".into()));
    }
    if !state.restored() || n.generation != state.generation() {
        return Err(ApiError::BadRequest("the notice must name the generation this server runs as".into()));
    }
    let keys = state.db.user(user.username.as_str()).await?.ok_or(ApiError::NotFound("no such user"))?.identity;
    if !n.verify_signature(&keys) {
        return Err(ApiError::BadRequest("the notice's signature does not verify".into()));
    }
    state.db.put_restore_notice(n).await?;
    tracing::info!(%team, admin = %n.admin, generation = n.generation, "an admin confirmed the restore");
    Ok(ApiJson(Empty {}))
}

async fn status(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<ApiJson<RestoreStatus>> {
    require_member(&state, &team, &user.username).await?;
    let generation = state.generation();
    let notice = match state.restored() {
        true => state.db.restore_notice(&team, generation).await?,
        false => None,
    };
    Ok(ApiJson(RestoreStatus { generation, notice }))
}
