//! Who may do what in a team, as the server enforces it: members reach their team's
//! routes, admins its administration, and each role the collections its keys open.
//! Defence in depth: the keys are the boundary (a member without a key reads nothing it
//! seals), this keeps an honest server from handing out or taking what nobody should
//! ask for. Who a request comes from is `session`'s.

use shared::chain::{Action, Role, TeamState};
use shared::ids::{CollectionId, TeamId, Username};
use shared::team::{access, portfolio};

use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The caller's role in `team`: 404 for an unknown team, 403 for a non-member.
pub async fn require_member(state: &AppState, team: &TeamId, user: &Username) -> ApiResult<Role> {
    Ok(require_member_at(state, team, user).await?.0)
}

/// [`require_member`], with the team's current key epoch (read in the same query).
pub async fn require_member_at(state: &AppState, team: &TeamId, user: &Username) -> ApiResult<(Role, u32)> {
    match state.db.member_access(team, user).await? {
        Some((_, true, _)) => Err(ApiError::TwoFactorRequired),
        Some((role, false, epoch)) => Ok((role, epoch)),
        None if state.db.team_exists(team).await? => Err(ApiError::Forbidden("you are not a member of this team")),
        None => Err(ApiError::NotFound("no such team")),
    }
}

/// The caller must be an admin of `team`; `why` explains the refusal otherwise.
pub async fn require_admin(state: &AppState, team: &TeamId, user: &Username, why: &'static str) -> ApiResult<()> {
    if require_member(state, team, user).await? != Role::Admin {
        return Err(ApiError::Forbidden(why));
    }
    Ok(())
}

/// The collections `user` may read and write in `team`, or `None` for all: a member
/// reaches only the shared collection and their own portfolio, every other role every
/// collection (the same table the keys follow, [`access`]). Defence in depth: the keys
/// are the boundary, this only keeps the server from handing out what nobody should
/// ask for.
pub async fn readable(
    state: &AppState,
    team: &TeamId,
    user: &Username,
    role: Role,
) -> ApiResult<Option<[[u8; 16]; 2]>> {
    if !access(role, false).is_empty() {
        return Ok(None);
    }
    let shared = shared_collection(state, team).await?;
    Ok(Some([*shared.as_bytes(), *portfolio(*team, user).as_bytes()]))
}

/// The team's shared collection, from its genesis entry (which never changes, so it
/// is read once per team and process).
pub async fn shared_collection(state: &AppState, team: &TeamId) -> ApiResult<CollectionId> {
    if let Some(c) = state.shared_collections.lock().expect("not poisoned").get(team) {
        return Ok(*c);
    }
    let chain = state.db.chain(team).await?;
    let Some(Action::Create { shared_collection, .. } | Action::Found { shared_collection, .. }) =
        chain.first().map(|e| &e.action)
    else {
        return Err(ApiError::Internal("stored chain has no genesis".into()));
    };
    state.shared_collections.lock().expect("not poisoned").insert(*team, *shared_collection);
    Ok(*shared_collection)
}

/// How many admins the team's chain names.
pub async fn admin_count(state: &AppState, team: &TeamId) -> ApiResult<usize> {
    let chain = state.db.chain(team).await?;
    let verified =
        TeamState::verify(&chain, None).map_err(|e| ApiError::Internal(format!("stored chain invalid: {e}")))?;
    Ok(verified.members.values().filter(|m| m.role == Role::Admin).count())
}
