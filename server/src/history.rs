//! Kept versions of records (issue 31, item 12): every accepted push keeps the version
//! it replaces, sealed as it was, for the team's retention period, so a member who
//! blanks or junks records leaves behind what a colleague can put back. Members read
//! the kept versions of records in the collections they may read (the same rule as a
//! pull); an admin sets how many days they are kept. The server serves ciphertext it
//! held before and decides nothing: clients open a kept version as they open a pulled
//! one, its signature checked against the verified chain.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use shared::api::{path, KeptVersion, KeptVersions, Retention, MAX_RETENTION_DAYS};
use shared::ids::{RecordId, TeamId};

use crate::access::{readable, require_admin, require_member};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::session::AuthUser;
use crate::{now_ms, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(path::KEPT_VERSIONS, get(list))
        .route(path::KEPT_VERSION, get(one))
        .route(path::RETENTION, get(retention).put(set_retention))
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((team, record)): ApiPath<(TeamId, RecordId)>,
) -> ApiResult<ApiJson<KeptVersions>> {
    let role = require_member(&state, &team, &user.username).await?;
    let allowed = readable(&state, &team, &user.username, role).await?;
    let only = allowed.as_ref().map(|a| a.as_slice());
    let versions = state.db.kept_versions(&team, &record, only, now_ms()).await?;
    let retention_days = state.db.retention(&team).await?;
    Ok(ApiJson(KeptVersions { record, versions, retention_days }))
}

async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((team, record, version)): ApiPath<(TeamId, RecordId, u64)>,
) -> ApiResult<ApiJson<KeptVersion>> {
    let role = require_member(&state, &team, &user.username).await?;
    let allowed = readable(&state, &team, &user.username, role).await?;
    let only = allowed.as_ref().map(|a| a.as_slice());
    match state.db.kept_version(&team, &record, version, only, now_ms()).await? {
        Some(kept) => Ok(ApiJson(kept)),
        None => Err(ApiError::NotFound("no such kept version (or it is past the team's retention)")),
    }
}

async fn retention(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<ApiJson<Retention>> {
    require_member(&state, &team, &user.username).await?;
    Ok(ApiJson(Retention { days: state.db.retention(&team).await? }))
}

async fn set_retention(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<Retention>,
) -> ApiResult<ApiJson<Retention>> {
    require_admin(&state, &team, &user.username, "only an admin sets how long earlier versions are kept").await?;
    if req.days > MAX_RETENTION_DAYS {
        return Err(ApiError::BadRequest(format!("retention is 0 to {MAX_RETENTION_DAYS} days")));
    }
    state.db.set_retention(&team, req.days, now_ms()).await?;
    tracing::info!(%team, days = req.days, "retention of earlier versions set");
    Ok(ApiJson(req))
}
