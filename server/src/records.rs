//! Push and pull of sealed records. The server checks structure, versions and
//! signatures, never content: an envelope of an unknown version, a record sealed as the
//! wrong version, a section whose signature does not hold under its author's key, a
//! duplicate id or an oversized batch is refused before anything is stored.

use std::collections::HashSet;

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use shared::api::{
    path, Alert, PullQuery, PullResponse, PushRequest, PushResponse, ServerEvent, MAX_PULL_LIMIT, MAX_PUSH_RECORDS,
};
use shared::crypto::envelope::{RecordContext, SealedEnvelope, SealedRecord, SignatureCheck};
use shared::crypto::identity::PublicIdentity;
use shared::crypto::CryptoError;
use shared::ids::{RecordId, TeamId, Username};

use crate::access::{readable, require_member, require_member_at};
use crate::db::{DbError, PushResult, PushRow};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::limits::BulkVerdict;
use crate::session::AuthUser;
use crate::{now_ms, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route(path::PUSH, post(push)).route(path::PULL, get(pull))
}

async fn push(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(req): ApiJson<PushRequest>,
) -> ApiResult<ApiJson<PushResponse>> {
    let (role, epoch) = require_member_at(&state, &team, &user.username).await?;
    let allowed = readable(&state, &team, &user.username, role).await?;
    if req.items.is_empty() || req.items.len() > MAX_PUSH_RECORDS {
        return Err(ApiError::BadRequest(format!("a push carries 1 to {MAX_PUSH_RECORDS} records")));
    }
    let mut seen = HashSet::with_capacity(req.items.len());
    let mut rows = Vec::with_capacity(req.items.len());
    let mut signatures = Signatures::new(&state, team);
    let settings = shared::team::settings_record(team);
    for item in req.items {
        if !seen.insert(item.record) {
            return Err(ApiError::BadRequest(format!("record {} appears twice in one push", item.record)));
        }
        if item.record == settings && role != shared::chain::Role::Admin {
            return Err(ApiError::Forbidden("only an admin writes the team's settings"));
        }
        let info = item.sealed.inspect().map_err(|e| match e {
            CryptoError::UnknownVersion(v) => {
                ApiError::BadRequest(format!("record {}: unknown envelope version {v}", item.record))
            }
            e => ApiError::BadRequest(format!("record {}: {e}", item.record)),
        })?;
        // Sealed as the next version; or above it, when a client puts a record back
        // above every version its account saw after a restore (checked below).
        if info.record_version <= item.base_version {
            return Err(ApiError::BadRequest(format!(
                "record {}: sealed as version {} but pushed on base version {}",
                item.record, info.record_version, item.base_version
            )));
        }
        if info.author != user.username {
            return Err(ApiError::BadRequest(format!("record {}: sealed by someone else", item.record)));
        }
        if allowed.is_some_and(|a| !a.contains(info.collection.as_bytes())) {
            return Err(ApiError::Forbidden("you may not write to another member's portfolio"));
        }
        if info.epoch < epoch {
            return Err(ApiError::StaleEpoch { record: item.record.to_string(), got: info.epoch, current: epoch });
        }
        // Whether the version deletes the record is its signed header's word (envelope
        // v3), not the push's: a modified client cannot delete uncounted.
        let tombstone = match info.deleted {
            Some(deleted) if deleted == item.tombstone => deleted,
            Some(deleted) => {
                return Err(ApiError::BadRequest(format!(
                    "record {}: pushed with tombstone {} but its signed header says deleted {deleted}",
                    item.record, item.tombstone
                )))
            }
            None => {
                return Err(ApiError::BadRequest(format!(
                    "record {}: a new version is sealed as envelope version 3 (its header carries the deletion flag)",
                    item.record
                )))
            }
        };
        signatures.add(item.record, &item.sealed).await?;
        check_head(&state, &team, item.record, &item.sealed).await?;
        rows.push(PushRow {
            record: item.record,
            base_version: item.base_version,
            version: info.record_version,
            collection: *info.collection.as_bytes(),
            epoch: info.min_epoch,
            author: info.author.to_string(),
            sealed: item.sealed.0,
            tombstone,
        });
    }
    signatures.all_hold()?;
    // A record put back above its next version is taken only by a server restored from
    // a backup, once an admin confirmed the restore (the clients that put back act on
    // nothing less); another is told what moved on first (the client merges and seals
    // on the current version), else refused: skipping versions would hide from readers
    // which version changed a field.
    let above: Vec<PushRow> = rows.iter().filter(|r| r.version != r.base_version + 1).cloned().collect();
    let put_back: Vec<_> = rows.iter().filter(|r| r.base_version > 0).map(|r| r.record).collect();
    let declared = match above.is_empty() && put_back.is_empty() {
        true => false,
        false => crate::restore::declared(&state, &team).await?,
    };
    if !above.is_empty() && !declared {
        let moved = state.db.moved_on(&team, &above).await?;
        if !moved.is_empty() {
            return Err(ApiError::PushConflict(moved));
        }
        return Err(ApiError::BadRequest(
            "a record is sealed as its next version; only a server restored from a backup, under an admin's notice, \
             takes one above it"
                .into(),
        ));
    }
    // A record is created at version 1. One the server does not hold, pushed on a later
    // base version, is a client giving back what a restored server lost; on a server
    // never restored it would be a member creating a record "at version 2" in a
    // colleague's name, with a history no reader can check.
    if !put_back.is_empty() && !declared && state.db.held_among(&team, &put_back).await? < put_back.len() as u64 {
        return Err(ApiError::BadRequest(
            "a new record starts at version 1: only a server restored from a backup, under an admin's notice, takes \
             records it lacks at later versions"
                .into(),
        ));
    }
    // Deletions: within the hour's threshold, or covered by an approved request.
    let deleting: Vec<_> = rows.iter().filter(|r| r.tombstone).map(|r| r.record).collect();
    let deletes = if deleting.is_empty() { 0 } else { state.db.live_among(&team, &deleting).await? };
    let mut spent = None;
    if deletes > 0 && !state.limits.may_delete(&*state.db, team, &user.username, deletes, now_ms()).await? {
        match req.approval {
            Some(id) if state.db.spend_approval(&team, &id, &user.username, deletes as i64, now_ms()).await? => {
                spent = Some(id);
            }
            _ => {
                tracing::warn!(%team, user = %user.username, deletes, "bulk deletion refused: no approval");
                return Err(ApiError::ApprovalRequired(deletes, state.limits.config.bulk_delete_threshold));
            }
        }
    }
    let quota = crate::db::Quota {
        team_bytes: state.limits.config.team_quota_bytes,
        member_bytes: state.limits.config.member_quota_bytes,
    };
    let result = state.db.push(&team, &rows, now_ms(), quota).await;
    if let (Some(id), false) = (spent, matches!(result, Ok(PushResult::Accepted { .. }))) {
        // Nothing was deleted: give the approval its deletions back.
        state.db.spend_approval(&team, &id, &user.username, -(deletes as i64), now_ms()).await?;
    }
    match result {
        Ok(PushResult::Accepted { accepted, cursor }) => {
            // Approved deletions do not use up the unapproved allowance. The push is
            // committed: failing to count it must not make the client think otherwise.
            if spent.is_none() && deletes > 0 {
                if let Err(e) = state.limits.deleted(&*state.db, team, &user.username, deletes, now_ms()).await {
                    tracing::warn!(%team, user = %user.username, error = %e, "could not count deletions");
                }
            }
            let cursor = state.cursor_out(cursor);
            state.hub.send(&team, ServerEvent::Poke { cursor });
            tracing::info!(%team, records = accepted.len(), cursor, "push committed");
            Ok(ApiJson(PushResponse { accepted, cursor }))
        }
        Ok(PushResult::Conflict(conflicts)) => Err(ApiError::PushConflict(conflicts)),
        Ok(PushResult::OverQuota { team: whole, would_hold, quota }) => {
            tracing::warn!(%team, user = %user.username, whole, would_hold, quota, "push refused: over quota");
            Err(ApiError::QuotaExceeded { team: whole, would_hold, quota })
        }
        Err(DbError::NotFound) => {
            Err(ApiError::BadRequest("a base version refers to a record that does not exist".into()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn pull(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(team): ApiPath<TeamId>,
    ApiQuery(q): ApiQuery<PullQuery>,
) -> ApiResult<ApiJson<PullResponse>> {
    let role = require_member(&state, &team, &user.username).await?;
    let page = read_page(&state, &team, &user.username, role, q.since, q.limit, q.count).await?;
    tracing::debug!(%team, changes = page.changes.len(), "pull");
    let pulled = page.changes.len() as u64;
    // Counted before anything is served (a pull that cannot be counted is refused, so
    // the detector cannot be outrun), in the database so every instance adds up.
    let total = match pulled {
        0 => None,
        n => state.limits.pulled(&*state.db, team, &user.username, n, now_ms()).await?,
    };
    if let Some(total) = total {
        let team_records = state.db.record_count(&team).await?;
        if let BulkVerdict::Crossed { pulled, threshold } =
            state.limits.bulk(&*state.db, team, &user.username, total, team_records, now_ms()).await?
        {
            let suspend = state.limits.config.bulk_suspend;
            let alert = Alert {
                at_ms: now_ms(),
                kind: "bulk_download".into(),
                username: user.username.clone(),
                detail: format!(
                    "{} pulled {pulled} records within an hour; the team holds {team_records} (alert above \
                     {threshold}){}",
                    user.username,
                    if suspend { "; session suspended" } else { "" }
                ),
                suspended: suspend,
                line: String::new(),
            };
            state.db.add_alert(&team, &alert).await?;
            state.hub.send(&team, ServerEvent::Alert);
            tracing::warn!(%team, user = %user.username, pulled, threshold, suspend, "bulk download alert");
            if suspend {
                state.db.delete_session(&user.token_hash).await?;
                // Its open sockets (on every team, on every instance) close too.
                state.hub.sessions_ended(Some(&user.username));
                return Err(ApiError::Forbidden(
                    "this session was suspended after an unusually large download; your admins were alerted",
                ));
            }
        }
    }
    Ok(ApiJson(page))
}

/// One page of the changes `user` (in `role`) may read after the client's cursor
/// `since`: what a pull and an approved export both answer.
pub(crate) async fn read_page(
    state: &AppState,
    team: &TeamId,
    user: &shared::ids::Username,
    role: shared::chain::Role,
    since: shared::api::Cursor,
    limit: Option<u32>,
    count: bool,
) -> ApiResult<PullResponse> {
    let allowed = readable(state, team, user, role).await?;
    let limit = limit.unwrap_or(MAX_PULL_LIMIT).clamp(1, MAX_PULL_LIMIT);
    // A cursor from before this database was restored from a backup: start the
    // client over from the beginning (it then gives back what the backup lacks).
    let since = state.cursor_in(since);
    let reset = since.is_none();
    if reset {
        tracing::warn!(%team, "a client's cursor is from before a restore; starting it over");
    }
    let only = allowed.as_ref().map(|a| a.as_slice());
    let from = since.unwrap_or(0);
    let (changes, cursor, more) = state.db.pull(team, from, limit, only).await?;
    // Counted after the page is read: what a push added in between is counted too.
    let remaining = match count {
        true => Some(state.db.count_changes(team, from, only).await?.max(changes.len() as u64)),
        false => None,
    };
    let restore = match reset {
        true => state.db.restore_notice(team, state.generation()).await?,
        false => None,
    };
    Ok(PullResponse { changes, cursor: state.cursor_out(cursor), more, reset, restore, remaining })
}

/// The signatures of a push's sections, checked together (one batch) against the keys
/// this server registered for their authors. Clients check every signature against the
/// verified chain whatever the server does; this keeps an honest server from storing
/// and relaying what no member signed (a modified client's junk, a section in another
/// member's name), so it never reaches another member's tab at all.
struct Signatures<'s> {
    state: &'s AppState,
    team: TeamId,
    keys: std::collections::HashMap<Username, PublicIdentity>,
    checks: Vec<(RecordId, SignatureCheck)>,
}

impl<'s> Signatures<'s> {
    fn new(state: &'s AppState, team: TeamId) -> Self {
        Self { state, team, keys: Default::default(), checks: Vec::new() }
    }

    async fn key(&mut self, who: &Username, record: RecordId) -> ApiResult<PublicIdentity> {
        if let Some(k) = self.keys.get(who) {
            return Ok(*k);
        }
        let key = self
            .state
            .db
            .user(who.as_str())
            .await?
            .map(|u| u.identity)
            .ok_or_else(|| ApiError::BadRequest(format!("record {record}: sealed by someone unknown")))?;
        self.keys.insert(who.clone(), key);
        Ok(key)
    }

    /// The checks of `sealed`'s sections: the basic one by its author over the sensitive
    /// section's digest, the sensitive one (perhaps carried from an earlier version) by
    /// its own author.
    async fn add(&mut self, record: RecordId, sealed: &SealedRecord) -> ApiResult<()> {
        let malformed = |e: CryptoError| ApiError::BadRequest(format!("record {record}: {e}"));
        let (basic, sensitive) = sealed.envelopes().map_err(malformed)?;
        let ctx = RecordContext { team: self.team, record };
        let companion = sensitive.as_ref().map(SealedEnvelope::digest).unwrap_or([0; 32]);
        let author = basic.header().map_err(malformed)?.author;
        let key = self.key(&author, record).await?;
        self.checks.push((record, basic.signature_check(&ctx, &companion, &key).map_err(malformed)?));
        if let Some(s) = sensitive {
            let author = s.header().map_err(malformed)?.author;
            let key = self.key(&author, record).await?;
            self.checks.push((record, s.signature_check(&ctx, &[0; 32], &key).map_err(malformed)?));
        }
        Ok(())
    }

    fn all_hold(self) -> ApiResult<()> {
        let checks: Vec<&SignatureCheck> = self.checks.iter().map(|(_, c)| c).collect();
        let held = SignatureCheck::all_hold(&checks);
        match self.checks.iter().zip(held).find(|(_, ok)| !ok) {
            Some(((record, _), _)) => Err(ApiError::BadRequest(format!("record {record}: a signature does not hold"))),
            None => Ok(()),
        }
    }
}

/// The writer's chain head bound into a pushed section (envelope v2) must be one this
/// server's chain of the team has had: a head it never held (a made-up length or hash)
/// would make every reader doubt the team's chain. Clients judge heads against their
/// verified chain whatever the server does; this keeps an honest server from relaying
/// a member's bogus one. A section carried from an earlier version keeps its head.
async fn check_head(state: &AppState, team: &TeamId, record: RecordId, sealed: &SealedRecord) -> ApiResult<()> {
    let malformed = |e: CryptoError| ApiError::BadRequest(format!("record {record}: {e}"));
    let (basic, sensitive) = sealed.envelopes().map_err(malformed)?;
    for section in std::iter::once(&basic).chain(sensitive.as_ref()) {
        let Some(head) = section.header().map_err(malformed)?.chain else { continue };
        if !holds_head(state, team, head.len, &head.hash).await? {
            return Err(ApiError::BadRequest(format!(
                "record {record}: sealed on a chain head this team's chain never had"
            )));
        }
    }
    Ok(())
}

pub(crate) async fn holds_head(state: &AppState, team: &TeamId, len: u64, hash: &[u8; 32]) -> ApiResult<bool> {
    let Ok(at) = usize::try_from(len) else { return Ok(false) };
    if at == 0 {
        return Ok(false);
    }
    let cached =
        |heads: &std::collections::HashMap<TeamId, Vec<[u8; 32]>>| heads.get(team).map(|h| h.get(at - 1).copied());
    let known = cached(&state.chain_heads.lock().expect("not poisoned"));
    let head = match known {
        Some(Some(h)) => Some(h),
        // Not cached, or longer than what is: read the chain again.
        _ => {
            let heads: Vec<[u8; 32]> = state.db.chain(team).await?.iter().map(|e| e.hash()).collect();
            let head = heads.get(at - 1).copied();
            state.chain_heads.lock().expect("not poisoned").insert(*team, heads);
            head
        }
    };
    Ok(head.is_some_and(|h| &h == hash))
}
