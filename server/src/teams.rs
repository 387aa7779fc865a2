//! Teams, their membership chain and key wraps. The server verifies every chain entry
//! exactly as clients do (so it refuses garbage and forks early), but it cannot make
//! an entry of its own: it holds no admin key.

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use shared::api::{
    path, ActivityResponse, Alert, AlertsResponse, AppendChainRequest, ChainResponse, CreateTeamRequest,
    IncidentRequest, IncidentResponse, MemberActivity, PutWrapsRequest, ServerEvent, ShredWrapsRequest,
    ShredWrapsResponse, TeamList, TeamSummary, WipeMemberRequest, WipeResponse, WrapsResponse,
};
use shared::chain::{Action, ChainEntry, Role, TeamState};
use shared::crypto::wrap::wrap_signer;
use shared::ids::{TeamId, Username};
use shared::team::{access, portfolio};

use crate::access::{require_admin, require_member, shared_collection};
use crate::db::DbError;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::session::AuthUser;
use crate::{now_ms, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(path::TEAMS, get(list_teams).post(create_team))
        .route(path::CHAIN, get(get_chain).post(append_chain))
        .route(path::WRAPS, get(get_wraps).put(put_wraps))
        .route(path::SHRED_WRAPS, post(shred_wraps))
        .route(path::ACTIVITY, get(activity))
        .route(path::ALERTS, get(alerts))
        .route(path::WIPE_MEMBER, post(wipe_member))
        .route(path::INCIDENT, post(incident))
}

fn members_of(s: &TeamState) -> Vec<(Username, Role)> {
    s.members.values().map(|m| (m.username.clone(), m.role)).collect()
}

async fn create_team(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateTeamRequest>,
) -> ApiResult<ApiJson<TeamSummary>> {
    if req.genesis.author != user.username {
        return Err(ApiError::Forbidden("the genesis entry must be signed by you"));
    }
    // New teams take members only with their signed acceptance (`Action::Found`).
    if !matches!(req.genesis.action, Action::Found { .. }) {
        return Err(ApiError::BadRequest("a new team's genesis must be `found` (members join by acceptance)".into()));
    }
    let verified = TeamState::verify(std::slice::from_ref(&req.genesis), None)
        .map_err(|e| ApiError::BadRequest(format!("invalid genesis entry: {e}")))?;
    let registered = state.db.user(user.username.as_str()).await?.ok_or(ApiError::Unauthorized("unknown user"))?;
    if verified.members[&user.username].identity != registered.identity {
        return Err(ApiError::BadRequest("the genesis entry must carry your registered public keys".into()));
    }
    match state.db.create_team(&req.genesis, &members_of(&verified), now_ms()).await {
        Err(DbError::Duplicate) => return Err(ApiError::Conflict("a team with that id exists")),
        r => r?,
    }
    tracing::info!(team = %req.genesis.team, "team created");
    Ok(ApiJson(TeamSummary { team: req.genesis.team, chain_len: 1 }))
}

async fn list_teams(State(state): State<AppState>, user: AuthUser) -> ApiResult<ApiJson<TeamList>> {
    Ok(ApiJson(TeamList { teams: state.db.teams_of(&user.username).await? }))
}

async fn get_chain(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<ApiJson<ChainResponse>> {
    require_member(&state, &team, &user.username).await?;
    Ok(ApiJson(ChainResponse { entries: state.db.chain(&team).await? }))
}

async fn append_chain(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<AppendChainRequest>,
) -> ApiResult<ApiJson<TeamSummary>> {
    require_member(&state, &team, &user.username).await?;
    let entry: ChainEntry = req.entry;
    if entry.team != team {
        return Err(ApiError::BadRequest("the entry belongs to another team".into()));
    }
    if entry.author != user.username {
        return Err(ApiError::Forbidden("you can only append entries you signed"));
    }
    let chain = state.db.chain(&team).await?;
    let mut verified =
        TeamState::verify(&chain, None).map_err(|e| ApiError::Internal(format!("stored chain invalid: {e}")))?;
    if entry.index != verified.len {
        return Err(ApiError::Conflict("the chain has moved on; re-read it and sign again"));
    }
    verified.apply(&entry).map_err(|e| ApiError::BadRequest(format!("invalid chain entry: {e}")))?;
    check_joiner(&state, &entry.action).await?;
    let grant = match &entry.action {
        Action::ChangeRole { username, role: Role::Admin } => Some(username),
        Action::Admit { member, .. } if member.role == Role::Admin => Some(&member.username),
        _ => None,
    };
    let approval = match grant {
        Some(who) => Some(grant_approval(&state, &team, &user.username, who, req.approval).await?),
        None => None,
    };
    match state.db.append_chain(&entry, &members_of(&verified), verified.epoch).await {
        Err(DbError::Duplicate) => return Err(ApiError::Conflict("the chain has moved on; re-read it and sign again")),
        r => r?,
    }
    if let (Some(a), Some(who)) = (approval, grant) {
        let now = now_ms();
        state.db.use_approval(&team, &a.id, now).await?;
        let approver = a.approver.map(|a| a.to_string()).unwrap_or_default();
        let text = format!("{} made {who} an admin (approved by {approver})", user.username);
        state.db.append_audit(&team, &user.username, &[shared::audit::note(&text)], now).await?;
    }
    state.hub.send(&team, ServerEvent::Chain { len: verified.len });
    if let Action::RemoveMember { username } = &entry.action {
        // Their sessions ended in this team with the append: its sockets close on the
        // Chain event (and on this, on every instance); their other teams are untouched.
        state.hub.sessions_ended(Some(username));
        tracing::info!(%team, index = entry.index, removed = %username, epoch = verified.epoch, "member removed");
    } else {
        tracing::info!(%team, index = entry.index, epoch = verified.epoch, "chain entry appended");
    }
    Ok(ApiJson(TeamSummary { team, chain_len: verified.len }))
}

/// Nobody joins without saying so (defence while the server is honest; clients check
/// the acceptance themselves): an addition must be an `Admit` whose joiner is an account
/// here, with the keys it registered — the acceptance is signed with those keys, so the
/// account's owner made it. The old, unaccepted `AddMember` is refused, in every team.
async fn check_joiner(state: &AppState, action: &Action) -> ApiResult<()> {
    let member = match action {
        Action::AddMember { .. } => {
            return Err(ApiError::BadRequest("a member joins only with their signed acceptance (`admit`)".into()))
        }
        Action::Admit { member, .. } => member,
        _ => return Ok(()),
    };
    match state.db.user(member.username.as_str()).await? {
        Some(u) if u.identity == member.identity => Ok(()),
        Some(_) => Err(ApiError::BadRequest("those are not the joiner's registered public keys".into())),
        None => Err(ApiError::BadRequest("no such user".into())),
    }
}

/// The approved, unused `grant_admin` request of `admin`'s for `who` that the append
/// names, or a refusal.
async fn grant_approval(
    state: &AppState,
    team: &TeamId,
    admin: &Username,
    who: &Username,
    id: Option<shared::ids::RecordId>,
) -> ApiResult<shared::api::Approval> {
    let found = match id {
        Some(id) => state.db.approval(team, &id, now_ms()).await?,
        None => None,
    };
    found
        .filter(|a| {
            a.kind == shared::api::ApprovalKind::GrantAdmin
                && a.requester == *admin
                && a.subject.as_ref() == Some(who)
                && a.state == "approved"
        })
        .ok_or(ApiError::Forbidden("making someone an admin needs an admin's approval of that request"))
}

async fn put_wraps(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<PutWrapsRequest>,
) -> ApiResult<ApiJson<WrapsResponse>> {
    require_admin(&state, &team, &user.username, "only admins distribute keys").await?;
    if req.wraps.len() > 10_000 {
        return Err(ApiError::BadRequest("too many wraps in one request".into()));
    }
    let shared = shared_collection(&state, &team).await?;
    for w in &req.wraps {
        let Some(role) = state.db.role(&team, &w.recipient).await? else {
            return Err(ApiError::BadRequest(format!("{} is not a member of this team", w.recipient)));
        };
        let own_or_shared = w.collection == shared || w.collection == portfolio(team, &w.recipient);
        if !access(role, own_or_shared).contains(&w.scope) {
            return Err(ApiError::BadRequest(format!("{} may not hold that key", w.recipient)));
        }
        let signer = wrap_signer(&w.wrap).map_err(|e| ApiError::BadRequest(format!("malformed key wrap: {e}")))?;
        if signer != user.username {
            return Err(ApiError::BadRequest("key wraps must be signed by the uploader".into()));
        }
    }
    state.db.put_wraps(&team, &req.wraps).await?;
    // Members re-read their keys on this event (e.g. the new epoch after a removal).
    let len = state.db.chain(&team).await?.len() as u64;
    state.hub.send(&team, ServerEvent::Chain { len });
    Ok(ApiJson(WrapsResponse { wraps: vec![] }))
}

async fn get_wraps(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<ApiJson<WrapsResponse>> {
    require_member(&state, &team, &user.username).await?;
    Ok(ApiJson(WrapsResponse { wraps: state.db.wraps_for(&team, &user.username).await? }))
}

/// Crypto-shredding after a rotation: once no record is sealed under an epoch below
/// `before_epoch`, the wraps of those epochs go, and with them every way to old keys.
async fn shred_wraps(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<ShredWrapsRequest>,
) -> ApiResult<ApiJson<ShredWrapsResponse>> {
    require_admin(&state, &team, &user.username, "only admins shred keys").await?;
    if req.before_epoch > state.db.team_epoch(&team).await? {
        return Err(ApiError::BadRequest("that epoch has not started".into()));
    }
    match state.db.shred_wraps(&team, req.before_epoch).await? {
        Some(deleted) => {
            tracing::info!(%team, before_epoch = req.before_epoch, deleted, "old key wraps shredded");
            Ok(ApiJson(ShredWrapsResponse { deleted }))
        }
        None => Err(ApiError::Conflict("records are still sealed under an older epoch; re-encrypt them first")),
    }
}

/// Admin: end a member's sessions in this team; each device erases this team's local
/// data at its next contact here (a lost or stolen phone), on the admin's signed order.
/// The member's account stays signed in, and their other teams are untouched: an admin
/// reaches only what the team owns.
async fn wipe_member(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<WipeMemberRequest>,
) -> ApiResult<ApiJson<WipeResponse>> {
    require_admin(&state, &team, &user.username, "only admins wipe members' devices").await?;
    if state.db.role(&team, &req.username).await?.is_none() {
        return Err(ApiError::NotFound("no such member in this team"));
    }
    let o = &req.order;
    if o.username != req.username || o.signer != user.username || o.team != Some(team) || o.device.is_some() {
        return Err(ApiError::BadRequest("the wipe order must be the caller's, for this member and team".into()));
    }
    let keys = state.db.user(user.username.as_str()).await?.ok_or(ApiError::NotFound("no such user"))?.identity;
    if !o.verify_signature(&keys) {
        return Err(ApiError::BadRequest("the wipe order's signature does not verify".into()));
    }
    let order = serde_json::to_string(o).map_err(|e| ApiError::Internal(e.to_string()))?;
    let devices = state.db.end_member_team_sessions(&team, &req.username, now_ms(), &order).await?;
    state.hub.sessions_ended(Some(&req.username));
    tracing::warn!(%team, member = %req.username, devices, "member's devices wiped by an admin");
    Ok(ApiJson(WipeResponse { devices }))
}

/// Admin: incident mode. Every member's sessions end in this team at once (the caller's
/// own stays, to finish the response), their websockets on it close, and an alert
/// records who declared it. Their accounts stay signed in for their other teams. The admin's client rotates every key in the same action and keeps the reason in
/// an encrypted team record (free text may name customers: the server never sees it).
async fn incident(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(_): ApiJson<IncidentRequest>,
) -> ApiResult<ApiJson<IncidentResponse>> {
    require_admin(&state, &team, &user.username, "only admins declare an incident").await?;
    let sessions_ended = state.db.end_team_sessions(&team, &user.token_hash, now_ms()).await?;
    let alert = Alert {
        at_ms: now_ms(),
        kind: "incident".into(),
        username: user.username.clone(),
        detail: format!(
            "{} declared an incident: {sessions_ended} sessions ended, keys rotated (the reason is in the team's records)",
            user.username
        ),
        suspended: true,
        line: String::new(),
    };
    state.db.add_alert(&team, &alert).await?;
    // The alert wakes admins' lists, and every socket on this team checks its session
    // again (on every instance): the members' sockets on other teams stay open.
    state.hub.send(&team, ServerEvent::Alert);
    tracing::warn!(%team, by = %user.username, sessions_ended, "incident declared");
    Ok(ApiJson(IncidentResponse { sessions_ended }))
}

/// Admin: the newest security alerts the server raised for the team.
async fn alerts(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<ApiJson<AlertsResponse>> {
    require_admin(&state, &team, &user.username, "only admins see security alerts").await?;
    let mut alerts = state.db.alerts(&team, 200).await?;
    for a in &mut alerts {
        a.line = format!("{}: {}", crate::utc_text(a.at_ms), a.detail);
    }
    Ok(ApiJson(AlertsResponse { alerts }))
}

/// Admin: each member's last use of the service and its device (from live sessions).
async fn activity(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<ApiJson<ActivityResponse>> {
    require_admin(&state, &team, &user.username, "only admins see member activity").await?;
    let mut by_member: std::collections::BTreeMap<Username, MemberActivity> = std::collections::BTreeMap::new();
    for (username, seen, device) in state.db.member_sessions(&team, now_ms()).await? {
        let a = by_member.entry(username.clone()).or_insert(MemberActivity {
            username,
            last_seen_ms: None,
            device: None,
            sessions: 0,
        });
        a.sessions += 1;
        if a.last_seen_ms.is_none_or(|s| seen > s) {
            a.last_seen_ms = Some(seen);
            a.device = Some(device);
        }
    }
    Ok(ApiJson(ActivityResponse { members: by_member.into_values().collect() }))
}
