// The SQL both backends share, written once (the helpers here, each area's methods in
// `common/<area>.rs`, as the `Db` traits group them): `sqlite.rs` and `postgres.rs` each
// `include!` them after naming their `Backend` (the sqlx database) and `Store` (the
// struct holding a `writer` and a `reader` pool). Placeholders are `$1, $2, …`, which
// both drivers take; the statements keep to what SQLite and PostgreSQL both accept
// (`ON CONFLICT … DO`, `RETURNING`, `NOT flag`).
//
// Read-then-write steps first take the row lock of what they depend on with a no-op
// `UPDATE` (SQLite has no `FOR UPDATE`, and its single writer serializes anyway): on
// PostgreSQL several server instances write at once under READ COMMITTED.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};

use super::*;
use shared::chain::Action;
use shared::crypto::envelope::SealedRecord;
use shared::crypto::Scope;
use shared::ids::CollectionId;

/// What [`approval_row`] reads.
const APPROVAL_COLUMNS: &str =
    "SELECT id, requester, kind, count, subject, created_at, expires_at, approver, signature, decided_at, used_at \
     FROM approvals";

fn approval_kind_str(k: shared::api::ApprovalKind) -> &'static str {
    match k {
        shared::api::ApprovalKind::ExportAll => "export_all",
        shared::api::ApprovalKind::BulkDelete => "bulk_delete",
        shared::api::ApprovalKind::GrantAdmin => "grant_admin",
    }
}

fn approval_row(r: &<Backend as sqlx::Database>::Row, now: i64) -> DbResult<Approval> {
    let corrupt = |what: &str| DbError::Corrupt(format!("approval {what}"));
    let kind = match r.get::<&str, _>("kind") {
        "export_all" => shared::api::ApprovalKind::ExportAll,
        "bulk_delete" => shared::api::ApprovalKind::BulkDelete,
        "grant_admin" => shared::api::ApprovalKind::GrantAdmin,
        _ => return Err(corrupt("kind")),
    };
    let signature: Option<[u8; 64]> =
        r.get::<Option<&[u8]>, _>("signature").map(|s| s.try_into().map_err(|_| corrupt("signature"))).transpose()?;
    let decided: Option<i64> = r.get("decided_at");
    let expires_ms: i64 = r.get("expires_at");
    let used: Option<i64> = r.get("used_at");
    let state = match (decided, signature) {
        _ if used.is_some() => "used",
        _ if expires_ms <= now => "expired",
        (None, _) => "pending",
        (Some(_), Some(_)) => "approved",
        (Some(_), None) => "refused",
    };
    Ok(Approval {
        id: RecordId::from_slice(r.get("id")).map_err(|_| corrupt("id"))?,
        requester: Username::parse(r.get::<&str, _>("requester")).map_err(|_| corrupt("requester"))?,
        kind,
        count: r.get::<i64, _>("count") as u64,
        subject: r
            .get::<Option<&str>, _>("subject")
            .map(Username::parse)
            .transpose()
            .map_err(|_| corrupt("subject"))?,
        created_ms: r.get("created_at"),
        expires_ms,
        state: state.into(),
        approver: r
            .get::<Option<&str>, _>("approver")
            .map(Username::parse)
            .transpose()
            .map_err(|_| corrupt("approver"))?,
        signature,
    })
}

pub(crate) fn role_from_str(s: &str) -> DbResult<Role> {
    Ok(match s {
        "admin" => Role::Admin,
        "manager" => Role::Manager,
        "member" => Role::Member,
        "support" => Role::Support,
        other => return Err(DbError::Corrupt(format!("unknown role {other}"))),
    })
}

fn scope_str(s: Scope) -> &'static str {
    match s {
        Scope::Basic => "basic",
        Scope::Sensitive => "sensitive",
    }
}

fn arr<const N: usize>(v: Vec<u8>) -> DbResult<[u8; N]> {
    <[u8; N]>::try_from(v.as_slice()).map_err(|_| DbError::Corrupt(format!("expected {N} bytes")))
}

/// `AND` records in (or last moved out of) one of `only`'s collections, when given.
fn only_collections<'a>(q: &mut QueryBuilder<'a, Backend>, only: Option<&'a [[u8; 16]]>) {
    let Some(only) = only else { return };
    for column in ["collection", "moved_from"] {
        q.push(if column == "collection" { " AND (" } else { " OR " }).push(column).push(" IN (");
        let mut sep = q.separated(", ");
        for c in only {
            sep.push_bind(c.as_slice());
        }
        q.push(")");
    }
    q.push(")");
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    /// How many of `records` exist in `team` and match `filter` (an SQL condition and
    /// `AND `, or nothing), 500 ids a query.
    async fn count_among(&self, team: &TeamId, records: &[RecordId], filter: &'static str) -> DbResult<u64> {
        let mut n = 0i64;
        for chunk in records.chunks(500) {
            let mut q = QueryBuilder::new("SELECT COUNT(*) FROM records WHERE ");
            q.push(filter).push("team_id = ").push_bind(team.as_bytes().as_slice()).push(" AND record_id IN (");
            let mut sep = q.separated(", ");
            for r in chunk {
                sep.push_bind(r.as_bytes().as_slice());
            }
            q.push(")");
            n += q.build_query_scalar::<i64>().fetch_one(&self.reader).await?;
        }
        Ok(n as u64)
    }
}


/// End `username`'s live sessions in `team` only, with the wipe order their devices get
/// there (if an admin's wipe); how many ended.
async fn end_in_team(
    tx: &mut sqlx::Transaction<'_, Backend>,
    team: &TeamId,
    username: &Username,
    now: i64,
    order: Option<&str>,
) -> DbResult<u64> {
    let r = sqlx::query(
        "INSERT INTO team_session_ends (team_id, token_hash, ended_at, wipe_order)
         SELECT $1, token_hash, $2, $3 FROM sessions WHERE username = $4 AND wiped_at IS NULL AND expires_at > $5
         ON CONFLICT (team_id, token_hash) DO UPDATE SET wipe_order = COALESCE(excluded.wipe_order, team_session_ends.wipe_order)",
    )
    .bind(team.as_bytes().as_slice())
    .bind(now)
    .bind(order)
    .bind(username.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected())
}

async fn insert_entry(tx: &mut sqlx::Transaction<'_, Backend>, e: &ChainEntry) -> DbResult<()> {
    let json = serde_json::to_string(e).expect("serializable");
    let r = sqlx::query("INSERT INTO chain_entries (team_id, idx, hash, entry) VALUES ($1,$2,$3,$4)")
        .bind(e.team.as_bytes().as_slice())
        .bind(e.index as i64)
        .bind(e.hash().as_slice())
        .bind(json)
        .execute(&mut **tx)
        .await;
    match r {
        Err(err) if is_unique_violation(&err) => Err(DbError::Duplicate),
        r => r.map(drop).map_err(Into::into),
    }
}

async fn replace_members(
    tx: &mut sqlx::Transaction<'_, Backend>,
    team: &TeamId,
    members: &[(Username, Role)],
) -> DbResult<()> {
    sqlx::query("DELETE FROM team_members WHERE team_id = $1")
        .bind(team.as_bytes().as_slice())
        .execute(&mut **tx)
        .await?;
    for (u, role) in members {
        sqlx::query("INSERT INTO team_members (team_id, username, role) VALUES ($1,$2,$3)")
            .bind(team.as_bytes().as_slice())
            .bind(u.as_str())
            .bind(role.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Hold the team row's lock until the transaction ends: pushes, audit appends and key
/// shredding of one team take turns (and a push's sequence numbers follow commit order).
/// The quota a push that grows stored bytes by `growth` would break, if any: the
/// team's, which holds `team_bytes`, or its pusher's. Only growth is judged: a push that
/// deletes or shrinks is taken over a quota.
/// Count a push's change in stored bytes: take `replaced` (what the versions it
/// replaces weighed) off the team's total, which already holds what it added, and
/// `bytes` (the change by member) into each member's. The push is over a quota if
/// its `growth` takes the team (which held `team_bytes`) or its `pusher` past one:
/// then the caller rolls everything back.
#[allow(clippy::too_many_arguments)]
async fn count_stored_bytes(
    tx: &mut sqlx::Transaction<'_, Backend>,
    team: &TeamId,
    bytes: &HashMap<String, i64>,
    replaced: i64,
    pusher: &str,
    growth: i64,
    team_bytes: i64,
    quota: Quota,
) -> DbResult<Option<PushResult>> {
    let over = |held: i64, limit: u64| {
        let would_hold = held.saturating_add(growth).max(0) as u64;
        (growth > 0 && limit > 0 && would_hold > limit).then_some(would_hold)
    };
    if let Some(would_hold) = over(team_bytes, quota.team_bytes) {
        return Ok(Some(PushResult::OverQuota { team: true, would_hold, quota: quota.team_bytes }));
    }
    let team_b = team.as_bytes().as_slice();
    if replaced != 0 {
        sqlx::query("UPDATE teams SET stored_bytes = stored_bytes - $1 WHERE team_id = $2")
            .bind(replaced)
            .bind(team_b)
            .execute(&mut **tx)
            .await?;
    }
    for (member, delta) in bytes.iter().filter(|(m, d)| **d != 0 || m.as_str() == pusher) {
        // The member's total after the push: the pusher's before it is that less its change.
        let after: i64 = sqlx::query_scalar(
            "INSERT INTO member_bytes (team_id, username, bytes) VALUES ($1, $2, $3) ON CONFLICT (team_id, username) \
             DO UPDATE SET bytes = member_bytes.bytes + excluded.bytes RETURNING bytes",
        )
        .bind(team_b)
        .bind(member.as_str())
        .bind(*delta)
        .fetch_one(&mut **tx)
        .await?;
        if member == pusher {
            if let Some(would_hold) = over(after - delta, quota.member_bytes) {
                return Ok(Some(PushResult::OverQuota { team: false, would_hold, quota: quota.member_bytes }));
            }
        }
    }
    Ok(None)
}

const DAY_MS: i64 = 86_400_000;

/// ` JOIN teams … WHERE` a kept version of `record` in `team`, replaced within the
/// team's retention at `now`, and (with `only`) sealed in one of those collections.
fn kept_filter<'a>(
    q: &mut QueryBuilder<'a, Backend>,
    team: &'a TeamId,
    record: &'a RecordId,
    only: Option<&'a [[u8; 16]]>,
    now: i64,
) {
    q.push(" JOIN teams t ON t.team_id = h.team_id WHERE h.team_id = ")
        .push_bind(team.as_bytes().as_slice())
        .push(" AND h.record_id = ")
        .push_bind(record.as_bytes().as_slice())
        .push(" AND h.replaced_at >= ")
        .push_bind(now)
        .push(" - t.retention_days * ")
        .push_bind(DAY_MS);
    if let Some(only) = only {
        q.push(" AND h.collection IN (");
        let mut sep = q.separated(", ");
        for c in only {
            sep.push_bind(c.as_slice());
        }
        q.push(")");
    }
}

/// Forget the kept versions of `team` replaced longer ago than `retention_days` before `now`.
async fn forget_kept(
    tx: &mut sqlx::Transaction<'_, Backend>,
    team: &TeamId,
    retention_days: i64,
    now: i64,
) -> DbResult<()> {
    sqlx::query("DELETE FROM record_history WHERE team_id = $1 AND replaced_at < $2")
        .bind(team.as_bytes().as_slice())
        .bind(now - retention_days * DAY_MS)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn lock_team(tx: &mut sqlx::Transaction<'_, Backend>, team: &TeamId) -> DbResult<()> {
    let n = sqlx::query("UPDATE teams SET seq = seq WHERE team_id = $1")
        .bind(team.as_bytes().as_slice())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}
