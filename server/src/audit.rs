//! The audit log, approvals of risky actions, and the approved export.
//!
//! The server chains audit entries it cannot read (each sealed for the team's admins
//! and signed by its author, see [`shared::audit`]) and adds notes of what only it
//! witnesses: an approval decided, an approved export served. Approvals are signed by
//! an admin's identity key over [`shared::api::approval_statement`]; the server
//! verifies the signature against the key the admin registered, and serves "export
//! everything" only on such an approval of the requester's.

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use shared::api::approval_statement;
use shared::api::{
    path, Approval, ApprovalKind, Approvals, AuditAppend, AuditAppended, AuditPage, AuditQuery, DecideApproval,
    ExportQuery, NewApproval, PullResponse, ServerEvent, MAX_AUDIT_PAGE,
};
use shared::audit::{author_of, note, MAX_APPEND, MAX_ENTRY_BYTES};
use shared::chain::Role;
use shared::ids::{RecordId, TeamId};

use crate::access::{admin_count, require_admin, require_member};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::records::read_page;
use crate::session::AuthUser;
use crate::{now_ms, AppState};

/// How long a request waits for a decision, and an approval stays usable.
pub const APPROVAL_LIFETIME_MS: i64 = 24 * 3_600_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(path::AUDIT, get(read_audit).post(append_audit))
        .route(path::APPROVALS, get(list_approvals).post(ask_approval))
        .route(path::DECIDE_APPROVAL, post(decide_approval))
        .route(path::EXPORT, get(export))
}

async fn append_audit(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<AuditAppend>,
) -> ApiResult<ApiJson<AuditAppended>> {
    require_member(&state, &team, &user.username).await?;
    if req.entries.is_empty() || req.entries.len() > MAX_APPEND {
        return Err(ApiError::BadRequest(format!("an append carries 1 to {MAX_APPEND} entries")));
    }
    let mut entries = Vec::with_capacity(req.entries.len());
    for (i, e) in req.entries.into_iter().enumerate() {
        if e.0.len() > MAX_ENTRY_BYTES {
            return Err(ApiError::BadRequest(format!("entry {i} is larger than {MAX_ENTRY_BYTES} bytes")));
        }
        match author_of(&e.0) {
            Ok(author) if author == user.username => entries.push(e.0),
            Ok(_) => return Err(ApiError::BadRequest(format!("entry {i} is written in someone else's name"))),
            Err(err) => return Err(ApiError::BadRequest(format!("entry {i}: {err}"))),
        }
    }
    let seq = state.db.append_audit(&team, &user.username, &entries, now_ms()).await?;
    tracing::info!(%team, entries = entries.len(), seq, "audit entries chained");
    Ok(ApiJson(AuditAppended { seq }))
}

async fn read_audit(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<ApiJson<AuditPage>> {
    require_admin(&state, &team, &user.username, "only admins read the audit log").await?;
    let limit = q.limit.unwrap_or(MAX_AUDIT_PAGE).clamp(1, MAX_AUDIT_PAGE);
    let mut rows = state.db.audit(&team, q.after, limit + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok(ApiJson(AuditPage { rows, more }))
}

async fn ask_approval(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<NewApproval>,
) -> ApiResult<ApiJson<Approval>> {
    require_member(&state, &team, &user.username).await?;
    if req.count > 100_000_000 {
        return Err(ApiError::BadRequest("count is out of range".into()));
    }
    if (req.kind == ApprovalKind::GrantAdmin) != req.subject.is_some() {
        return Err(ApiError::BadRequest("a subject goes with grant_admin requests, and only with them".into()));
    }
    let now = now_ms();
    let a = Approval {
        id: RecordId::random(),
        requester: user.username.clone(),
        kind: req.kind,
        count: req.count,
        subject: req.subject,
        created_ms: now,
        expires_ms: now + APPROVAL_LIFETIME_MS,
        state: "pending".into(),
        approver: None,
        signature: None,
    };
    state.db.create_approval(&team, &a).await?;
    state.hub.send(&team, ServerEvent::Approval);
    tracing::info!(%team, user = %user.username, kind = ?a.kind, "approval requested");
    Ok(ApiJson(a))
}

async fn list_approvals(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<ApiJson<Approvals>> {
    let role = require_member(&state, &team, &user.username).await?;
    let only = (role != Role::Admin).then_some(&user.username);
    Ok(ApiJson(Approvals { approvals: state.db.approvals(&team, only, now_ms()).await? }))
}

async fn decide_approval(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((team, id)): ApiPath<(TeamId, RecordId)>,
    ApiJson(req): ApiJson<DecideApproval>,
) -> ApiResult<ApiJson<Approval>> {
    require_admin(&state, &team, &user.username, "only admins decide approvals").await?;
    let now = now_ms();
    let a = state.db.approval(&team, &id, now).await?.ok_or(ApiError::NotFound("no such approval request"))?;
    if a.state != "pending" {
        return Err(ApiError::Conflict("this request was already decided or has expired"));
    }
    // Four eyes where there are four: an admin's own request needs another admin,
    // unless they are the team's only one.
    if req.approve && a.requester == user.username && admin_count(&state, &team).await? > 1 {
        return Err(ApiError::Forbidden("another admin must approve your own request"));
    }
    let signature = match (req.approve, req.signature) {
        (true, Some(sig)) => {
            let admin = state.db.user(user.username.as_str()).await?.ok_or(ApiError::Unauthorized("no such user"))?;
            admin
                .identity
                .verify(&approval_statement(&team, &a), &sig)
                .map_err(|_| ApiError::BadRequest("the approval signature does not verify".into()))?;
            Some(sig)
        }
        (true, None) => return Err(ApiError::BadRequest("an approval must be signed".into())),
        (false, _) => None,
    };
    if !state.db.decide_approval(&team, &id, &user.username, signature.as_ref(), now).await? {
        return Err(ApiError::Conflict("this request was already decided or has expired"));
    }
    let verdict = if req.approve { "approved" } else { "refused" };
    let text = format!("{} {verdict} {}'s request: {}", user.username, a.requester, a.describe());
    state.db.append_audit(&team, &a.requester, &[note(&text)], now).await?;
    state.hub.send(&team, ServerEvent::Approval);
    tracing::info!(%team, admin = %user.username, requester = %a.requester, verdict, "approval decided");
    let decided = state.db.approval(&team, &id, now).await?.ok_or(ApiError::NotFound("no such approval request"))?;
    Ok(ApiJson(decided))
}

/// "Export everything": a pull of everything the caller may read, only on an
/// approved `export_all` request of theirs (usable until it expires, so a large
/// export can page). Its first page leaves a note in the audit chain. Approved
/// exports do not count towards the bulk-download alert.
async fn export(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<ApiJson<PullResponse>> {
    let role = require_member(&state, &team, &user.username).await?;
    let now = now_ms();
    let approved = state
        .db
        .approval(&team, &q.approval, now)
        .await?
        .filter(|a| a.requester == user.username && a.kind == ApprovalKind::ExportAll && a.state == "approved");
    let Some(approval) = approved else {
        tracing::warn!(%team, user = %user.username, "export refused: no approval");
        return Err(ApiError::Forbidden("exporting everything needs an admin's approval"));
    };
    let page = read_page(&state, &team, &user.username, role, q.since, q.limit, false).await?;
    if state.cursor_in(q.since).unwrap_or(0) == 0 {
        let approver = approval.approver.map(|a| a.to_string()).unwrap_or_default();
        let text = format!("{} began an approved export of everything (approved by {approver})", user.username);
        state.db.append_audit(&team, &user.username, &[note(&text)], now).await?;
        tracing::info!(%team, user = %user.username, "approved export started");
    }
    Ok(ApiJson(page))
}
