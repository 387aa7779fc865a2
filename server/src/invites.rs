//! Invitations. An admin opens one (id and role only: the secret is in the link's
//! fragment and never reaches this server); the joiner answers with their public keys
//! and a MAC made with that secret; the admin's client fetches the answer and verifies
//! the MAC before it adds anyone to the chain. This server stores and relays; were it
//! to swap the keys, the MAC would not verify and the admin's client would refuse.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use shared::api::{path, AcceptInviteRequest, CreateInviteRequest, Empty, InviteAcceptance, InviteList, TeamSummary};
use shared::chain::Member;
use shared::ids::{InviteId, TeamId};

use crate::access::require_admin;
use crate::db::{DbError, InviteRow};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::session::AuthUser;
use crate::{now_ms, AppState};

/// How long an invitation link stays valid.
const INVITE_TTL_MS: i64 = 7 * 24 * 3_600_000;
/// Open invitations one team may have at once (bounds what one admin can pile up).
const MAX_OPEN_INVITES: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(path::INVITES, post(create_invite).get(list_invites))
        .route(path::ACCEPT_INVITE, post(accept_invite))
}

async fn create_invite(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<CreateInviteRequest>,
) -> ApiResult<ApiJson<Empty>> {
    require_admin(&state, &team, &user.username, "only admins manage invitations").await?;
    let now = now_ms();
    if state.db.invites(&team, now).await?.len() >= MAX_OPEN_INVITES {
        return Err(ApiError::Conflict("too many open invitations; use or let some expire first"));
    }
    let row = InviteRow {
        invite: req.invite,
        role: req.role,
        created_by: user.username.clone(),
        created_at: now,
        expires_at: now + INVITE_TTL_MS,
    };
    match state.db.create_invite(&team, &row).await {
        Err(DbError::Duplicate) => return Err(ApiError::Conflict("an invitation with that id exists")),
        r => r?,
    }
    tracing::info!(%team, role = req.role.as_str(), "invitation opened");
    Ok(ApiJson(Empty {}))
}

async fn list_invites(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<ApiJson<InviteList>> {
    require_admin(&state, &team, &user.username, "only admins manage invitations").await?;
    Ok(ApiJson(InviteList { invites: state.db.invites(&team, now_ms()).await? }))
}

async fn accept_invite(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(invite): ApiPath<InviteId>,
    ApiJson(req): ApiJson<AcceptInviteRequest>,
) -> ApiResult<ApiJson<TeamSummary>> {
    if state.db.role(&req.team, &user.username).await?.is_some() {
        return Err(ApiError::Conflict("you are already a member of this team"));
    }
    // An honest server checks the keys are the caller's registered ones; the admin's
    // MAC check is what protects against a dishonest one.
    let registered = state.db.user(user.username.as_str()).await?.ok_or(ApiError::Unauthorized("unknown user"))?;
    if registered.identity != req.identity {
        return Err(ApiError::BadRequest("those are not your registered public keys".into()));
    }
    // The joiner's consent, checked here so junk is not stored (every client checks it
    // again in the chain entry that carries it).
    let role = state
        .db
        .invite_role(&req.team, &invite)
        .await?
        .ok_or(ApiError::NotFound("no such invitation (or it expired)"))?;
    let member = Member { username: user.username.clone(), identity: req.identity, role };
    if req.acceptance.invite != invite || !req.acceptance.verify(req.team, &member) {
        return Err(ApiError::BadRequest("the acceptance is not yours for this invitation, team and role".into()));
    }
    let acceptance = InviteAcceptance {
        username: user.username.clone(),
        identity: req.identity,
        mac: req.mac,
        acceptance: Some(req.acceptance),
    };
    match state.db.accept_invite(&req.team, &invite, &acceptance, now_ms()).await {
        Err(DbError::NotFound) => return Err(ApiError::NotFound("no such invitation (or it expired)")),
        Err(DbError::Duplicate) => return Err(ApiError::Conflict("this invitation was already used")),
        r => r?,
    }
    let chain_len = state.db.chain(&req.team).await?.len() as u64;
    state.hub.send(&req.team, shared::api::ServerEvent::Chain { len: chain_len });
    tracing::info!(team = %req.team, "invitation answered");
    Ok(ApiJson(TeamSummary { team: req.team, chain_len }))
}
