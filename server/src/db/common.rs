// Long: the one SQL body both backends include; splitting it by area is a known debt (ARCHITECTURE.md).
// The SQL both backends share, written once: `sqlite.rs` and `postgres.rs` each
// `include!` it after naming their `Backend` (the sqlx database) and `Store` (the
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

#[async_trait]
impl Db for Store {
    async fn server_secret(&self) -> DbResult<[u8; 32]> {
        let mut fresh = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut fresh);
        sqlx::query("INSERT INTO server_meta (key, value) VALUES ('secret', $1) ON CONFLICT (key) DO NOTHING")
            .bind(fresh.as_slice())
            .execute(&self.writer)
            .await?;
        let v: Vec<u8> =
            sqlx::query_scalar("SELECT value FROM server_meta WHERE key = 'secret'").fetch_one(&self.writer).await?;
        arr(v)
    }

    async fn generation(&self) -> DbResult<u16> {
        let v: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM server_meta WHERE key = 'generation'")
            .fetch_optional(&self.reader)
            .await?;
        Ok(v.and_then(|v| <[u8; 2]>::try_from(v.as_slice()).ok()).map_or(0, u16::from_be_bytes))
    }

    async fn create_user(&self, u: &UserRow, now: i64) -> DbResult<()> {
        let kdf = serde_json::to_string(&u.kdf).expect("serializable");
        let r = sqlx::query(
            "INSERT INTO users (username, salt, kdf, auth_hash, sign_pk, dh_pk, bundle, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(u.username.as_str())
        .bind(u.salt.as_slice())
        .bind(kdf)
        .bind(u.auth_hash.as_slice())
        .bind(u.identity.sign_pk.as_slice())
        .bind(u.identity.dh_pk.as_slice())
        .bind(u.bundle.0.as_slice())
        .bind(now)
        .execute(&self.writer)
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => Err(DbError::Duplicate),
            r => r.map(drop).map_err(Into::into),
        }
    }

    async fn pins(&self, username: &Username) -> DbResult<Option<(u64, Vec<u8>)>> {
        let row = sqlx::query("SELECT version, blob FROM account_pins WHERE username = $1")
            .bind(username.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| (r.get::<i64, _>("version") as u64, r.get("blob"))))
    }

    async fn put_pins(&self, username: &Username, version: u64, blob: &[u8]) -> DbResult<bool> {
        let version = i64::try_from(version).map_err(|_| DbError::Corrupt("pins version".into()))?;
        let r = sqlx::query(
            "INSERT INTO account_pins (username, version, blob) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO UPDATE SET version = excluded.version, blob = excluded.blob \
             WHERE account_pins.version < excluded.version",
        )
        .bind(username.as_str())
        .bind(version)
        .bind(blob)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn set_credentials(&self, u: &UserRow, current: &[u8; 32]) -> DbResult<bool> {
        let kdf = serde_json::to_string(&u.kdf).expect("serializable");
        let r = sqlx::query(
            "UPDATE users SET salt = $1, kdf = $2, auth_hash = $3, bundle = $4 WHERE username = $5 AND auth_hash = $6",
        )
        .bind(u.salt.as_slice())
        .bind(kdf)
        .bind(u.auth_hash.as_slice())
        .bind(u.bundle.0.as_slice())
        .bind(u.username.as_str())
        .bind(current.as_slice())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn set_recovery(&self, username: &Username, verifier: &[u8; 32], bundle: &[u8]) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO account_recovery (username, verifier, bundle) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO UPDATE SET verifier = excluded.verifier, bundle = excluded.bundle",
        )
        .bind(username.as_str())
        .bind(verifier.as_slice())
        .bind(bundle)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn recovery(&self, username: &str) -> DbResult<Option<([u8; 32], Vec<u8>)>> {
        let row = sqlx::query("SELECT verifier, bundle FROM account_recovery WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| Ok((arr(r.get("verifier"))?, r.get("bundle")))).transpose()
    }

    async fn user(&self, username: &str) -> DbResult<Option<UserRow>> {
        let row =
            sqlx::query("SELECT username, salt, kdf, auth_hash, sign_pk, dh_pk, bundle FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.reader)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let name: String = row.get("username");
        Ok(Some(UserRow {
            username: Username::parse(&name).map_err(|e| DbError::Corrupt(e.to_string()))?,
            salt: arr(row.get("salt"))?,
            kdf: serde_json::from_str(row.get::<&str, _>("kdf")).map_err(|e| DbError::Corrupt(e.to_string()))?,
            auth_hash: arr(row.get("auth_hash"))?,
            identity: PublicIdentity { sign_pk: arr(row.get("sign_pk"))?, dh_pk: arr(row.get("dh_pk"))? },
            bundle: AccountBundle(row.get("bundle")),
        }))
    }

    async fn create_session(
        &self,
        token_hash: &[u8; 32],
        username: &Username,
        device: &str,
        now: i64,
        expires_at: i64,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, username, created_at, expires_at, last_seen_at, device)
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(token_hash.as_slice())
        .bind(username.as_str())
        .bind(now)
        .bind(expires_at)
        .bind(now)
        .bind(device)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &[u8; 32], team: Option<&TeamId>) -> DbResult<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT s.username, s.expires_at, s.last_seen_at, s.wiped_at, s.wipe_order, e.ended_at AS team_ended_at,
                    e.wipe_order AS team_wipe_order
             FROM sessions s LEFT JOIN team_session_ends e ON e.token_hash = s.token_hash AND e.team_id = $2
             WHERE s.token_hash = $1",
        )
        .bind(token_hash.as_slice())
        .bind(team.map(|t| t.as_bytes().as_slice()))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(SessionRow {
                username: Username::parse(r.get("username")).map_err(|e| DbError::Corrupt(e.to_string()))?,
                expires_at: r.get("expires_at"),
                last_seen_at: r.get("last_seen_at"),
                wiped: r.get::<Option<i64>, _>("wiped_at").is_some(),
                wipe_order: r.get("wipe_order"),
                team_end: r.get::<Option<i64>, _>("team_ended_at").map(|_| r.get("team_wipe_order")),
            })
        })
        .transpose()
    }

    async fn touch_session(&self, token_hash: &[u8; 32], now: i64) -> DbResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash.as_slice())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn member_sessions(&self, team: &TeamId, now: i64) -> DbResult<Vec<(Username, i64, String)>> {
        let rows = sqlx::query(
            "SELECT s.username, s.last_seen_at, s.device FROM sessions s
             JOIN team_members m ON m.username = s.username AND m.team_id = $1
             WHERE s.expires_at > $2 AND s.wiped_at IS NULL",
        )
        .bind(team.as_bytes().as_slice())
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|r| {
                let u = Username::parse(r.get("username")).map_err(|e| DbError::Corrupt(e.to_string()))?;
                Ok((u, r.get("last_seen_at"), r.get("device")))
            })
            .collect()
    }

    async fn totp(&self, username: &Username) -> DbResult<Option<TotpRow>> {
        let row = sqlx::query(
            "SELECT totp_secret, totp_pending, totp_last_step, recovery_codes FROM users WHERE username = $1",
        )
        .bind(username.as_str())
        .fetch_optional(&self.writer)
        .await?;
        row.map(|r| {
            Ok(TotpRow {
                secret: r.get("totp_secret"),
                pending: r.get("totp_pending"),
                last_step: r.get("totp_last_step"),
                recovery: serde_json::from_str(r.get("recovery_codes"))
                    .map_err(|e| DbError::Corrupt(format!("recovery codes: {e}")))?,
            })
        })
        .transpose()
    }

    async fn set_totp_pending(&self, username: &Username, secret: &[u8]) -> DbResult<()> {
        sqlx::query("UPDATE users SET totp_pending = $1 WHERE username = $2")
            .bind(secret)
            .bind(username.as_str())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn enable_totp(&self, username: &Username, secret: &[u8], step: i64, recovery: &[String]) -> DbResult<()> {
        sqlx::query(
            "UPDATE users SET totp_secret = $1, totp_pending = NULL, totp_last_step = $2, recovery_codes = $3 WHERE username = $4",
        )
        .bind(secret)
        .bind(step)
        .bind(serde_json::to_string(recovery).expect("serializable"))
        .bind(username.as_str())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn use_totp_step(&self, username: &Username, step: i64) -> DbResult<bool> {
        let r = sqlx::query("UPDATE users SET totp_last_step = $1 WHERE username = $2 AND totp_last_step < $3")
            .bind(step)
            .bind(username.as_str())
            .bind(step)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn use_recovery_code(&self, username: &Username, hash: &str) -> DbResult<bool> {
        let mut tx = self.writer.begin().await?;
        // Lock the row: two log-ins with the same code must not both succeed.
        sqlx::query("UPDATE users SET recovery_codes = recovery_codes WHERE username = $1")
            .bind(username.as_str())
            .execute(&mut *tx)
            .await?;
        let codes: String = sqlx::query_scalar("SELECT recovery_codes FROM users WHERE username = $1")
            .bind(username.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let mut codes: Vec<String> =
            serde_json::from_str(&codes).map_err(|e| DbError::Corrupt(format!("recovery codes: {e}")))?;
        let before = codes.len();
        codes.retain(|c| c != hash);
        if codes.len() == before {
            return Ok(false);
        }
        sqlx::query("UPDATE users SET recovery_codes = $1 WHERE username = $2")
            .bind(serde_json::to_string(&codes).expect("serializable"))
            .bind(username.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_team_2fa(&self, team: &TeamId, required: bool) -> DbResult<()> {
        sqlx::query("UPDATE teams SET require_2fa = $1 WHERE team_id = $2")
            .bind(required)
            .bind(team.as_bytes().as_slice())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn member_access(&self, team: &TeamId, username: &Username) -> DbResult<Option<(Role, bool, u32)>> {
        let row = sqlx::query(
            "SELECT m.role, (t.require_2fa AND u.totp_secret IS NULL) AS blocked, t.epoch FROM team_members m
             JOIN teams t ON t.team_id = m.team_id JOIN users u ON u.username = m.username
             WHERE m.team_id = $1 AND m.username = $2",
        )
        .bind(team.as_bytes().as_slice())
        .bind(username.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            let role = role_from_str(r.get("role"))?;
            let epoch = u32::try_from(r.get::<i64, _>("epoch"))
                .map_err(|_| DbError::Corrupt("team epoch out of range".into()))?;
            Ok((role, r.get::<bool, _>("blocked"), epoch))
        })
        .transpose()
    }

    async fn end_team_sessions(&self, team: &TeamId, keep: &[u8; 32], now: i64) -> DbResult<u64> {
        let r = sqlx::query(
            "INSERT INTO team_session_ends (team_id, token_hash, ended_at)
             SELECT m.team_id, s.token_hash, $1 FROM sessions s
             JOIN team_members m ON m.username = s.username AND m.team_id = $2
             WHERE s.token_hash <> $3 AND s.wiped_at IS NULL AND s.expires_at > $4
             ON CONFLICT (team_id, token_hash) DO NOTHING",
        )
        .bind(now)
        .bind(team.as_bytes().as_slice())
        .bind(keep.as_slice())
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected())
    }

    async fn end_member_team_sessions(
        &self,
        team: &TeamId,
        username: &Username,
        now: i64,
        order: &str,
    ) -> DbResult<u64> {
        let mut tx = self.writer.begin().await?;
        let n = end_in_team(&mut tx, team, username, now, Some(order)).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn user_sessions(&self, username: &Username, now: i64) -> DbResult<Vec<DeviceRow>> {
        let rows = sqlx::query(
            "SELECT token_hash, device, created_at, last_seen_at FROM sessions
             WHERE username = $1 AND expires_at > $2 AND wiped_at IS NULL ORDER BY last_seen_at DESC",
        )
        .bind(username.as_str())
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DeviceRow {
                    token_hash: arr(r.get("token_hash"))?,
                    device: r.get("device"),
                    created_at: r.get("created_at"),
                    last_seen_at: r.get("last_seen_at"),
                })
            })
            .collect()
    }

    async fn wipe_sessions(
        &self,
        username: &Username,
        only: Option<&[u8; 32]>,
        now: i64,
        order: &str,
    ) -> DbResult<u64> {
        let r = sqlx::query(
            "UPDATE sessions SET wiped_at = $1, wipe_order = $5 \
             WHERE username = $2 AND wiped_at IS NULL AND ($3 IS NULL OR token_hash = $4)",
        )
        .bind(now)
        .bind(username.as_str())
        .bind(only.map(|h| h.as_slice()))
        .bind(only.map(|h| h.as_slice()))
        .bind(order)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected())
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> DbResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.as_slice())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn end_other_sessions(&self, username: &Username, keep: Option<&[u8; 32]>) -> DbResult<u64> {
        let keep: &[u8] = keep.map_or(&[], |k| k.as_slice());
        let r = sqlx::query("DELETE FROM sessions WHERE username = $1 AND token_hash <> $2")
            .bind(username.as_str())
            .bind(keep)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected())
    }

    async fn create_team(&self, genesis: &ChainEntry, members: &[(Username, Role)], now: i64) -> DbResult<()> {
        let team = genesis.team.as_bytes().as_slice();
        let mut tx = self.writer.begin().await?;
        let r = sqlx::query("INSERT INTO teams (team_id, seq, created_at) VALUES ($1, 0, $2)")
            .bind(team)
            .bind(now)
            .execute(&mut *tx)
            .await;
        if let Err(e) = r {
            return Err(if is_unique_violation(&e) { DbError::Duplicate } else { e.into() });
        }
        insert_entry(&mut tx, genesis).await?;
        replace_members(&mut tx, &genesis.team, members).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn chain(&self, team: &TeamId) -> DbResult<Vec<ChainEntry>> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT entry FROM chain_entries WHERE team_id = $1 ORDER BY idx")
            .bind(team.as_bytes().as_slice())
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|s| serde_json::from_str(s).map_err(|e| DbError::Corrupt(e.to_string()))).collect()
    }

    async fn append_chain(&self, entry: &ChainEntry, members: &[(Username, Role)], epoch: u32) -> DbResult<()> {
        let mut tx = self.writer.begin().await?;
        insert_entry(&mut tx, entry).await?;
        replace_members(&mut tx, &entry.team, members).await?;
        sqlx::query("UPDATE teams SET epoch = $1 WHERE team_id = $2")
            .bind(i64::from(epoch))
            .bind(entry.team.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
        match &entry.action {
            Action::RemoveMember { username } => {
                end_in_team(&mut tx, &entry.team, username, crate::now_ms(), None).await?;
            }
            Action::AddMember { member } | Action::Admit { member, .. } => {
                sqlx::query("DELETE FROM invites WHERE team_id = $1 AND accepted_by = $2")
                    .bind(entry.team.as_bytes().as_slice())
                    .bind(member.username.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
        tx.commit().await?;
        Ok(())
    }

    async fn team_epoch(&self, team: &TeamId) -> DbResult<u32> {
        let e: Option<i64> = sqlx::query_scalar("SELECT epoch FROM teams WHERE team_id = $1")
            .bind(team.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await?;
        let e = e.ok_or(DbError::NotFound)?;
        u32::try_from(e).map_err(|_| DbError::Corrupt("team epoch out of range".into()))
    }

    async fn role(&self, team: &TeamId, username: &Username) -> DbResult<Option<Role>> {
        let r: Option<String> =
            sqlx::query_scalar("SELECT role FROM team_members WHERE team_id = $1 AND username = $2")
                .bind(team.as_bytes().as_slice())
                .bind(username.as_str())
                .fetch_optional(&self.reader)
                .await?;
        r.map(|s| role_from_str(&s)).transpose()
    }

    async fn team_exists(&self, team: &TeamId) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM teams WHERE team_id = $1")
            .bind(team.as_bytes().as_slice())
            .fetch_one(&self.reader)
            .await?;
        Ok(n > 0)
    }

    async fn teams_of(&self, username: &Username) -> DbResult<Vec<TeamSummary>> {
        let rows = sqlx::query(
            "SELECT m.team_id, (SELECT COUNT(*) FROM chain_entries c WHERE c.team_id = m.team_id) AS len
             FROM team_members m WHERE m.username = $1 ORDER BY m.team_id",
        )
        .bind(username.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|r| Ok(TeamSummary { team: TeamId(arr(r.get("team_id"))?), chain_len: r.get::<i64, _>("len") as u64 }))
            .collect()
    }

    async fn put_wraps(&self, team: &TeamId, wraps: &[WrapItem]) -> DbResult<()> {
        let mut tx = self.writer.begin().await?;
        for w in wraps {
            sqlx::query(
                "INSERT INTO key_wraps (team_id, epoch, recipient, collection, scope, wrap) VALUES ($1,$2,$3,$4,$5,$6)
                 ON CONFLICT (team_id, recipient, epoch, collection, scope) DO UPDATE SET wrap = excluded.wrap",
            )
            .bind(team.as_bytes().as_slice())
            .bind(w.epoch as i64)
            .bind(w.recipient.as_str())
            .bind(w.collection.as_bytes().as_slice())
            .bind(scope_str(w.scope))
            .bind(w.wrap.0.as_slice())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_invite(&self, team: &TeamId, i: &InviteRow) -> DbResult<()> {
        let r = sqlx::query(
            "INSERT INTO invites (invite_id, team_id, role, created_by, created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(i.invite.as_bytes().as_slice())
        .bind(team.as_bytes().as_slice())
        .bind(i.role.as_str())
        .bind(i.created_by.as_str())
        .bind(i.created_at)
        .bind(i.expires_at)
        .execute(&self.writer)
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => Err(DbError::Duplicate),
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    async fn invite_role(&self, team: &TeamId, invite: &InviteId) -> DbResult<Option<Role>> {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM invites WHERE invite_id = $1 AND team_id = $2")
            .bind(invite.as_bytes().as_slice())
            .bind(team.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await?;
        role.map(|r| role_from_str(&r)).transpose()
    }

    async fn invites(&self, team: &TeamId, now: i64) -> DbResult<Vec<InviteInfo>> {
        let rows = sqlx::query(
            "SELECT invite_id, role, created_by, expires_at, accepted_by, sign_pk, dh_pk, mac, acceptance FROM invites
             WHERE team_id = $1 AND expires_at > $2 ORDER BY created_at",
        )
        .bind(team.as_bytes().as_slice())
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        let name = |s: String| Username::parse(&s).map_err(|e| DbError::Corrupt(e.to_string()));
        rows.into_iter()
            .map(|r| {
                let accepted = match r.get::<Option<String>, _>("accepted_by") {
                    Some(u) => Some(InviteAcceptance {
                        username: name(u)?,
                        identity: PublicIdentity {
                            sign_pk: arr(r.get::<Option<Vec<u8>>, _>("sign_pk").unwrap_or_default())?,
                            dh_pk: arr(r.get::<Option<Vec<u8>>, _>("dh_pk").unwrap_or_default())?,
                        },
                        mac: arr(r.get::<Option<Vec<u8>>, _>("mac").unwrap_or_default())?,
                        acceptance: r
                            .get::<Option<String>, _>("acceptance")
                            .map(|a| serde_json::from_str(&a).map_err(|e| DbError::Corrupt(e.to_string())))
                            .transpose()?,
                    }),
                    None => None,
                };
                Ok(InviteInfo {
                    invite: InviteId(arr(r.get("invite_id"))?),
                    role: role_from_str(r.get("role"))?,
                    created_by: name(r.get("created_by"))?,
                    expires_at: r.get("expires_at"),
                    accepted,
                })
            })
            .collect()
    }

    async fn accept_invite(&self, team: &TeamId, invite: &InviteId, a: &InviteAcceptance, now: i64) -> DbResult<()> {
        let mut tx = self.writer.begin().await?;
        let row: Option<Option<String>> = sqlx::query_scalar(
            "SELECT accepted_by FROM invites WHERE invite_id = $1 AND team_id = $2 AND expires_at > $3",
        )
        .bind(invite.as_bytes().as_slice())
        .bind(team.as_bytes().as_slice())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            None => return Err(DbError::NotFound),
            Some(Some(_)) => return Err(DbError::Duplicate),
            Some(None) => {}
        }
        // `accepted_by IS NULL` again: another answer may have committed meanwhile.
        let done = sqlx::query(
            "UPDATE invites SET accepted_by = $1, sign_pk = $2, dh_pk = $3, mac = $4, accepted_at = $5, acceptance = $7 \
             WHERE invite_id = $6 AND accepted_by IS NULL",
        )
        .bind(a.username.as_str())
        .bind(a.identity.sign_pk.as_slice())
        .bind(a.identity.dh_pk.as_slice())
        .bind(a.mac.as_slice())
        .bind(now)
        .bind(invite.as_bytes().as_slice())
        .bind(a.acceptance.as_ref().map(|a| serde_json::to_string(a).expect("serializable")))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(DbError::Duplicate);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn shred_wraps(&self, team: &TeamId, before: u32) -> DbResult<Option<u64>> {
        let mut tx = self.writer.begin().await?;
        lock_team(&mut tx, team).await?;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE team_id = $1 AND epoch < $2")
            .bind(team.as_bytes().as_slice())
            .bind(i64::from(before))
            .fetch_one(&mut *tx)
            .await?;
        if left > 0 {
            return Ok(None);
        }
        // Kept versions sealed under those epochs go with their keys: once the wraps are
        // gone no new device could open them, and old keys are what shredding retires.
        sqlx::query("DELETE FROM record_history WHERE team_id = $1 AND epoch < $2")
            .bind(team.as_bytes().as_slice())
            .bind(i64::from(before))
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM key_wraps WHERE team_id = $1 AND epoch < $2")
            .bind(team.as_bytes().as_slice())
            .bind(i64::from(before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(done.rows_affected()))
    }

    async fn wraps_for(&self, team: &TeamId, recipient: &Username) -> DbResult<Vec<WrapItem>> {
        let rows = sqlx::query(
            "SELECT epoch, collection, scope, wrap FROM key_wraps WHERE team_id = $1 AND recipient = $2 ORDER BY epoch, collection, scope",
        )
        .bind(team.as_bytes().as_slice())
        .bind(recipient.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(WrapItem {
                    epoch: r.get::<i64, _>("epoch") as u32,
                    collection: CollectionId(arr(r.get("collection"))?),
                    scope: match r.get::<&str, _>("scope") {
                        "basic" => Scope::Basic,
                        "sensitive" => Scope::Sensitive,
                        s => return Err(DbError::Corrupt(format!("scope {s}"))),
                    },
                    recipient: recipient.clone(),
                    wrap: shared::crypto::wrap::KeyWrap(r.get("wrap")),
                })
            })
            .collect()
    }

    async fn push(&self, team: &TeamId, rows: &[PushRow], now: i64, quota: Quota) -> DbResult<PushResult> {
        let team_b = team.as_bytes().as_slice();
        let mut tx = self.writer.begin().await?;
        // Number the rows first: this takes the team's row lock, so versions cannot
        // change before commit. The lock is held for three statements: this, the
        // conditional upsert and the commit (a conflict rolls the numbers back).
        // Each member's share: a push adds its own versions, and takes off what each
        // version it replaces weighed, from that one's author. What it adds is counted
        // into the team's total here; what it replaces, below (only edits replace).
        let added: i64 = rows.iter().map(|r| r.sealed.len() as i64).sum();
        let (last, retention, team_after): (i64, i64, i64) = sqlx::query_as(
            "UPDATE teams SET seq = seq + $1, stored_bytes = stored_bytes + $2 WHERE team_id = $3 \
             RETURNING seq, retention_days, stored_bytes",
        )
        .bind(rows.len() as i64)
        .bind(added)
        .bind(team_b)
        .fetch_one(&mut *tx)
        .await?;
        let team_bytes = team_after - added;
        let first = last - rows.len() as i64 + 1;
        // Its growth, as quotas judge it, counts no deletion's growth. A row pushed on
        // base version 0 replaces nothing if the push is taken (were the record held,
        // the push would be a conflict): only edits are looked up.
        let mut bytes: HashMap<String, i64> = HashMap::new();
        let mut old: HashMap<[u8; 16], i64> = HashMap::new();
        for chunk in rows.chunks(1000).filter(|c| c.iter().any(|r| r.base_version > 0)) {
            let mut q = QueryBuilder::new(
                "SELECT record_id, author, CAST(LENGTH(sealed) AS BIGINT) AS size FROM records WHERE team_id = ",
            );
            q.push_bind(team_b).push(" AND record_id IN (");
            let mut sep = q.separated(", ");
            for r in chunk.iter().filter(|r| r.base_version > 0) {
                sep.push_bind(r.record.as_bytes().as_slice());
            }
            q.push(")");
            for row in q.build().fetch_all(&mut *tx).await? {
                let size = row.get::<i64, _>("size");
                *bytes.entry(row.get::<String, _>("author")).or_default() -= size;
                old.insert(arr(row.get("record_id"))?, size);
            }
        }
        let replaced: i64 = old.values().sum();
        let mut growth = 0i64;
        for r in rows {
            let added = r.sealed.len() as i64;
            *bytes.entry(r.author.clone()).or_default() += added;
            let grows = added - old.get(&r.record.0).copied().unwrap_or(0);
            growth += if r.tombstone { grows.min(0) } else { grows };
        }

        // A record the server does not hold is taken at any base version (after a
        // restore from a backup, clients upload what they hold that the server lost);
        // one it holds is replaced only if the push was made on its current version.
        let mut accepted = Vec::with_capacity(rows.len());
        let mut written = 0u64;
        for (chunk_no, chunk) in rows.chunks(1000).enumerate() {
            // (A chunk of new records replaces nothing: no statement for it.)
            if retention > 0 && chunk.iter().any(|r| r.base_version > 0) {
                // The versions this push replaces are kept, sealed as they were (a
                // conflict rolls this back with the rest).
                let mut q = QueryBuilder::new(
                    "INSERT INTO record_history (team_id, record_id, version, collection, epoch, author, sealed, \
                     written_at, replaced_at) SELECT team_id, record_id, version, collection, epoch, author, sealed, \
                     updated_at, ",
                );
                q.push_bind(now).push(" FROM records WHERE team_id = ").push_bind(team_b).push(" AND record_id IN (");
                let mut sep = q.separated(", ");
                for r in chunk {
                    sep.push_bind(r.record.as_bytes().as_slice());
                }
                q.push(") ON CONFLICT (team_id, record_id, version) DO NOTHING");
                q.build().execute(&mut *tx).await?;
            }
            // A row sealed above its base version + 1 is a put-back on a restored server
            // (see `records.rs`): compared with its base version on its own statement.
            let (next, above): (Vec<_>, Vec<_>) =
                chunk.iter().enumerate().partition(|(_, r)| r.version == r.base_version + 1);
            macro_rules! upsert {
                ($rows:expr) => {{
                    let rows: &[(usize, &PushRow)] = $rows;
                    let mut q = QueryBuilder::new(
                        "INSERT INTO records (team_id, record_id, collection, version, seq, epoch, author, sealed, \
                         updated_at, tombstone) ",
                    );
                    q.push_values(rows.iter(), |mut b, (i, r)| {
                        let seq = first + (chunk_no * 1000 + i) as i64;
                        b.push_bind(team_b)
                            .push_bind(r.record.as_bytes().as_slice())
                            .push_bind(r.collection.as_slice())
                            .push_bind(r.version as i64)
                            .push_bind(seq)
                            .push_bind(r.epoch as i64)
                            .push_bind(r.author.as_str())
                            .push_bind(r.sealed.as_slice())
                            .push_bind(now)
                            .push_bind(r.tombstone);
                    });
                    q.push(
                        " ON CONFLICT (team_id, record_id) DO UPDATE SET
                          moved_from = CASE WHEN records.collection = excluded.collection THEN records.moved_from
                                            ELSE records.collection END,
                          collection = excluded.collection, version = excluded.version,
                          seq = excluded.seq, epoch = excluded.epoch, author = excluded.author, sealed = excluded.sealed,
                          updated_at = excluded.updated_at, tombstone = excluded.tombstone
                          WHERE records.version = ",
                    );
                    q
                }};
            }
            if !next.is_empty() {
                let mut q = upsert!(&next);
                q.push("excluded.version - 1");
                written += q.build().execute(&mut *tx).await?.rows_affected();
            }
            for row in &above {
                let mut q = upsert!(std::slice::from_ref(row));
                q.push_bind(row.1.base_version as i64);
                written += q.build().execute(&mut *tx).await?.rows_affected();
            }
            for (i, r) in chunk.iter().enumerate() {
                accepted.push(PushAccepted {
                    record: r.record,
                    version: r.version,
                    seq: (first + (chunk_no * 1000 + i) as i64) as u64,
                });
            }
        }
        if written == rows.len() as u64 {
            let pusher = rows.first().map(|r| r.author.as_str()).unwrap_or_default();
            if let Some(over) =
                count_stored_bytes(&mut tx, team, &bytes, replaced, pusher, growth, team_bytes, quota).await?
            {
                tx.rollback().await?;
                return Ok(over);
            }
            // Pruned when the team's sequence crosses a multiple of 64, not on every push:
            // a version is kept at least its retention, a few pushes longer at most.
            if (last as u64) / 64 != (first as u64 - 1) / 64 {
                forget_kept(&mut tx, team, retention, now).await?;
            }
            tx.commit().await?;
            return Ok(PushResult::Accepted { accepted, cursor: last as u64 });
        }

        // Some records moved on since the client's base version: nothing is stored,
        // and the client gets their current state to merge (read after the rollback;
        // versions only grow, so these are still not the client's base).
        tx.rollback().await?;
        let conflicts = self.moved_on(team, rows).await?;
        if conflicts.is_empty() {
            return Err(DbError::Corrupt("a push was refused but no record had moved on".into()));
        }
        Ok(PushResult::Conflict(conflicts))
    }

    async fn pull(
        &self,
        team: &TeamId,
        since: Cursor,
        limit: u32,
        only: Option<&[[u8; 16]]>,
    ) -> DbResult<(Vec<Change>, Cursor, bool)> {
        let team_b = team.as_bytes().as_slice();
        // Everything up to the team's sequence now is committed (a push bumps it in
        // the same transaction): a filtered pull may skip to it when nothing is left.
        let upto: i64 = sqlx::query_scalar("SELECT seq FROM teams WHERE team_id = $1")
            .bind(team_b)
            .fetch_optional(&self.reader)
            .await?
            .ok_or(DbError::NotFound)?;
        let mut q = QueryBuilder::new("SELECT seq, record_id, version, sealed FROM records WHERE team_id = ");
        q.push_bind(team_b).push(" AND seq > ").push_bind(since as i64).push(" AND seq <= ").push_bind(upto);
        only_collections(&mut q, only);
        q.push(" ORDER BY seq LIMIT ").push_bind(limit as i64 + 1);
        let rows = q.build().fetch_all(&self.reader).await?;
        let more = rows.len() > limit as usize;
        let changes = rows
            .into_iter()
            .take(limit as usize)
            .map(|r| {
                Ok(Change {
                    seq: r.get::<i64, _>("seq") as u64,
                    record: RecordId(arr(r.get("record_id"))?),
                    version: r.get::<i64, _>("version") as u64,
                    sealed: SealedRecord(r.get("sealed")),
                })
            })
            .collect::<DbResult<Vec<_>>>()?;
        let cursor = match changes.last() {
            Some(c) if more => c.seq,
            _ => (upto as u64).max(since),
        };
        Ok((changes, cursor, more))
    }

    async fn count_changes(&self, team: &TeamId, since: Cursor, only: Option<&[[u8; 16]]>) -> DbResult<u64> {
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM records WHERE team_id = ");
        q.push_bind(team.as_bytes().as_slice()).push(" AND seq > ").push_bind(since as i64);
        only_collections(&mut q, only);
        let n: i64 = q.build_query_scalar().fetch_one(&self.reader).await?;
        Ok(n as u64)
    }

    async fn record_count(&self, team: &TeamId) -> DbResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE team_id = $1")
            .bind(team.as_bytes().as_slice())
            .fetch_one(&self.reader)
            .await?;
        Ok(n as u64)
    }

    async fn kept_versions(
        &self,
        team: &TeamId,
        record: &RecordId,
        only: Option<&[[u8; 16]]>,
        now: i64,
    ) -> DbResult<Vec<KeptVersionInfo>> {
        let mut q = QueryBuilder::new(
            "SELECT h.version, h.author, h.written_at, h.replaced_at, CAST(LENGTH(h.sealed) AS BIGINT) AS size FROM record_history h",
        );
        kept_filter(&mut q, team, record, only, now);
        q.push(" ORDER BY h.version DESC");
        let corrupt = |_| DbError::Corrupt("kept version author".into());
        q.build()
            .fetch_all(&self.reader)
            .await?
            .into_iter()
            .map(|r| {
                Ok(KeptVersionInfo {
                    version: r.get::<i64, _>("version") as u64,
                    author: Username::parse(r.get::<&str, _>("author")).map_err(corrupt)?,
                    written_ms: r.get("written_at"),
                    replaced_ms: r.get("replaced_at"),
                    size: r.get::<i64, _>("size") as u64,
                })
            })
            .collect()
    }

    async fn kept_version(
        &self,
        team: &TeamId,
        record: &RecordId,
        version: u64,
        only: Option<&[[u8; 16]]>,
        now: i64,
    ) -> DbResult<Option<KeptVersion>> {
        let mut q = QueryBuilder::new("SELECT h.sealed, h.written_at, h.replaced_at FROM record_history h");
        kept_filter(&mut q, team, record, only, now);
        q.push(" AND h.version = ").push_bind(version as i64);
        Ok(q.build().fetch_optional(&self.reader).await?.map(|r| KeptVersion {
            record: *record,
            version,
            sealed: SealedRecord(r.get("sealed")),
            written_ms: r.get("written_at"),
            replaced_ms: r.get("replaced_at"),
        }))
    }

    async fn retention(&self, team: &TeamId) -> DbResult<u32> {
        let days: Option<i64> = sqlx::query_scalar("SELECT retention_days FROM teams WHERE team_id = $1")
            .bind(team.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await?;
        days.map(|d| d as u32).ok_or(DbError::NotFound)
    }

    async fn set_retention(&self, team: &TeamId, days: u32, now: i64) -> DbResult<()> {
        let mut tx = self.writer.begin().await?;
        let n = sqlx::query("UPDATE teams SET retention_days = $1 WHERE team_id = $2")
            .bind(i64::from(days))
            .bind(team.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(DbError::NotFound);
        }
        forget_kept(&mut tx, team, i64::from(days), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_alert(&self, team: &TeamId, a: &Alert) -> DbResult<()> {
        sqlx::query("INSERT INTO alerts (team_id, at, kind, username, detail, suspended) VALUES ($1,$2,$3,$4,$5,$6)")
            .bind(team.as_bytes().as_slice())
            .bind(a.at_ms)
            .bind(&a.kind)
            .bind(a.username.as_str())
            .bind(&a.detail)
            .bind(a.suspended)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn alerts(&self, team: &TeamId, limit: u32) -> DbResult<Vec<Alert>> {
        let rows = sqlx::query(
            "SELECT at, kind, username, detail, suspended FROM alerts WHERE team_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(team.as_bytes().as_slice())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Alert {
                    at_ms: r.get("at"),
                    kind: r.get("kind"),
                    username: Username::parse(r.get::<&str, _>("username"))
                        .map_err(|e| DbError::Corrupt(format!("alert username: {e}")))?,
                    detail: r.get("detail"),
                    suspended: r.get("suspended"),
                    line: String::new(),
                })
            })
            .collect()
    }

    async fn append_audit(&self, team: &TeamId, author: &Username, entries: &[Vec<u8>], now: i64) -> DbResult<u64> {
        let mut tx = self.writer.begin().await?;
        lock_team(&mut tx, team).await?;
        let last = sqlx::query("SELECT seq, hash FROM audit WHERE team_id = $1 ORDER BY seq DESC LIMIT 1")
            .bind(team.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await?;
        let (mut seq, mut prev) = match last {
            Some(r) => (
                r.get::<i64, _>("seq") as u64,
                <[u8; 32]>::try_from(r.get::<&[u8], _>("hash"))
                    .map_err(|_| DbError::Corrupt("audit hash length".into()))?,
            ),
            None => (0, [0u8; 32]),
        };
        for entry in entries {
            seq += 1;
            let hash = shared::audit::link_hash(team, &prev, seq, now, author, entry);
            sqlx::query("INSERT INTO audit (team_id, seq, at, author, entry, hash) VALUES ($1,$2,$3,$4,$5,$6)")
                .bind(team.as_bytes().as_slice())
                .bind(seq as i64)
                .bind(now)
                .bind(author.as_str())
                .bind(entry.as_slice())
                .bind(hash.as_slice())
                .execute(&mut *tx)
                .await?;
            prev = hash;
        }
        tx.commit().await?;
        Ok(seq)
    }

    async fn audit(&self, team: &TeamId, after: u64, limit: u32) -> DbResult<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT seq, at, author, entry, hash FROM audit WHERE team_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(team.as_bytes().as_slice())
        .bind(after as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditRow {
                    seq: r.get::<i64, _>("seq") as u64,
                    at_ms: r.get("at"),
                    author: Username::parse(r.get::<&str, _>("author"))
                        .map_err(|e| DbError::Corrupt(format!("audit author: {e}")))?,
                    entry: r.get("entry"),
                    // A wrong length is not corrupt storage to hide: the verifier
                    // reports the row as altered.
                    hash: <[u8; 32]>::try_from(r.get::<&[u8], _>("hash")).unwrap_or([0; 32]),
                })
            })
            .collect()
    }

    async fn create_approval(&self, team: &TeamId, a: &Approval) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO approvals (id, team_id, requester, kind, count, subject, created_at, expires_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(a.id.as_bytes().as_slice())
        .bind(team.as_bytes().as_slice())
        .bind(a.requester.as_str())
        .bind(approval_kind_str(a.kind))
        .bind(a.count as i64)
        .bind(a.subject.as_ref().map(Username::as_str))
        .bind(a.created_ms)
        .bind(a.expires_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn approvals(&self, team: &TeamId, requester: Option<&Username>, now: i64) -> DbResult<Vec<Approval>> {
        let rows = sqlx::query(&format!(
            "{APPROVAL_COLUMNS} WHERE team_id = $1 AND ($2 IS NULL OR requester = $3) ORDER BY created_at DESC LIMIT 200"
        ))
        .bind(team.as_bytes().as_slice())
        .bind(requester.map(Username::as_str))
        .bind(requester.map(Username::as_str))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|r| approval_row(r, now)).collect()
    }

    async fn approval(&self, team: &TeamId, id: &RecordId, now: i64) -> DbResult<Option<Approval>> {
        let row = sqlx::query(&format!("{APPROVAL_COLUMNS} WHERE team_id = $1 AND id = $2"))
            .bind(team.as_bytes().as_slice())
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| approval_row(&r, now)).transpose()
    }

    async fn decide_approval(
        &self,
        team: &TeamId,
        id: &RecordId,
        approver: &Username,
        signature: Option<&[u8; 64]>,
        now: i64,
    ) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE approvals SET approver = $1, signature = $2, decided_at = $3 \
             WHERE team_id = $4 AND id = $5 AND decided_at IS NULL AND expires_at > $6",
        )
        .bind(approver.as_str())
        .bind(signature.map(|s| s.as_slice()))
        .bind(now)
        .bind(team.as_bytes().as_slice())
        .bind(id.as_bytes().as_slice())
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn live_among(&self, team: &TeamId, records: &[RecordId]) -> DbResult<u64> {
        self.count_among(team, records, "NOT tombstone AND ").await
    }

    async fn held_among(&self, team: &TeamId, records: &[RecordId]) -> DbResult<u64> {
        self.count_among(team, records, "").await
    }

    async fn moved_on(&self, team: &TeamId, rows: &[PushRow]) -> DbResult<Vec<Change>> {
        let mut conflicts = Vec::new();
        for chunk in rows.chunks(500) {
            let mut q = QueryBuilder::new("SELECT record_id, seq, version, sealed FROM records WHERE team_id = ");
            q.push_bind(team.as_bytes().as_slice()).push(" AND record_id IN (");
            let mut sep = q.separated(", ");
            for r in chunk {
                sep.push_bind(r.record.as_bytes().as_slice());
            }
            q.push(")");
            let base: HashMap<[u8; 16], u64> = chunk.iter().map(|r| (r.record.0, r.base_version)).collect();
            for row in q.build().fetch_all(&self.writer).await? {
                let record = RecordId(arr(row.get("record_id"))?);
                let version = row.get::<i64, _>("version") as u64;
                if base.get(&record.0).is_some_and(|&b| b != version) {
                    conflicts.push(Change {
                        seq: row.get::<i64, _>("seq") as u64,
                        record,
                        version,
                        sealed: SealedRecord(row.get("sealed")),
                    });
                }
            }
        }
        Ok(conflicts)
    }

    async fn spend_approval(
        &self,
        team: &TeamId,
        id: &RecordId,
        requester: &Username,
        n: i64,
        now: i64,
    ) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE approvals SET spent = spent + $1 WHERE team_id = $2 AND id = $3 AND requester = $4 \
             AND kind = 'bulk_delete' AND signature IS NOT NULL AND expires_at > $5 AND spent + $6 <= count",
        )
        .bind(n)
        .bind(team.as_bytes().as_slice())
        .bind(id.as_bytes().as_slice())
        .bind(requester.as_str())
        .bind(now)
        .bind(n)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn window(&self, team: &TeamId, who: &Username, kind: &str, since: i64) -> DbResult<u64> {
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT count FROM usage_windows WHERE team_id = $1 AND username = $2 AND kind = $3 AND started_at > $4",
        )
        .bind(team.as_bytes().as_slice())
        .bind(who.as_str())
        .bind(kind)
        .bind(since)
        .fetch_optional(&self.writer)
        .await?;
        Ok(n.unwrap_or(0) as u64)
    }

    async fn add_to_window(
        &self,
        team: &TeamId,
        who: &Username,
        kind: &str,
        n: u64,
        now: i64,
        since: i64,
    ) -> DbResult<u64> {
        // Every SET expression reads the row as it was, in both databases.
        let count: i64 = sqlx::query_scalar(
            "INSERT INTO usage_windows (team_id, username, kind, started_at, count, alerted) \
             VALUES ($1, $2, $3, $4, $5, FALSE) \
             ON CONFLICT (team_id, username, kind) DO UPDATE SET \
               count = CASE WHEN usage_windows.started_at <= $6 THEN excluded.count \
                            ELSE usage_windows.count + excluded.count END, \
               alerted = CASE WHEN usage_windows.started_at <= $6 THEN FALSE ELSE usage_windows.alerted END, \
               started_at = CASE WHEN usage_windows.started_at <= $6 THEN excluded.started_at \
                                 ELSE usage_windows.started_at END \
             RETURNING count",
        )
        .bind(team.as_bytes().as_slice())
        .bind(who.as_str())
        .bind(kind)
        .bind(now)
        .bind(n as i64)
        .bind(since)
        .fetch_one(&self.writer)
        .await?;
        Ok(count as u64)
    }

    async fn flag_window(&self, team: &TeamId, who: &Username, kind: &str, since: i64) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE usage_windows SET alerted = TRUE \
             WHERE team_id = $1 AND username = $2 AND kind = $3 AND started_at > $4 AND NOT alerted",
        )
        .bind(team.as_bytes().as_slice())
        .bind(who.as_str())
        .bind(kind)
        .bind(since)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_approval(&self, team: &TeamId, id: &RecordId, now: i64) -> DbResult<bool> {
        let done = sqlx::query("UPDATE approvals SET used_at = $1 WHERE team_id = $2 AND id = $3 AND used_at IS NULL")
            .bind(now)
            .bind(team.as_bytes().as_slice())
            .bind(id.as_bytes().as_slice())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_login_attempt(&self, key: &[u8; 32], now: i64, backoff: &Backoff) -> DbResult<Option<i64>> {
        let mut tx = self.writer.begin().await?;
        // No row comes back while the key waits (the `WHERE` of the update is false);
        // a count whose time has passed starts again from one. PostgreSQL evaluates the
        // update on the newest version of the row under its lock, so claims sent at once
        // are taken one after another.
        let claimed: Option<(i64, i64)> = sqlx::query_as(
            "INSERT INTO login_failures (key_hash, failures, locked_until, forget_at) VALUES ($1, 1, 0, $2) \
             ON CONFLICT (key_hash) DO UPDATE SET \
               failures = CASE WHEN login_failures.forget_at <= $3 THEN 1 ELSE login_failures.failures + 1 END, \
               locked_until = CASE WHEN login_failures.forget_at <= $3 THEN 0 ELSE login_failures.locked_until END \
             WHERE login_failures.locked_until <= $3 OR login_failures.forget_at <= $3 \
             RETURNING failures, locked_until",
        )
        .bind(key.as_slice())
        .bind(now + backoff.forget_ms)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((failures, locked_until)) = claimed else {
            let until: i64 = sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE key_hash = $1")
                .bind(key.as_slice())
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Some(until));
        };
        let until = backoff.wait_ms(failures as u64).map_or(0, |w| now + w).max(locked_until);
        sqlx::query("UPDATE login_failures SET locked_until = $1, forget_at = $2 WHERE key_hash = $3")
            .bind(until)
            .bind(until.max(now) + backoff.forget_ms)
            .bind(key.as_slice())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn refund_login_attempt(&self, key: &[u8; 32]) -> DbResult<()> {
        sqlx::query(
            "UPDATE login_failures SET failures = failures - 1, locked_until = 0 WHERE key_hash = $1 AND failures > 0",
        )
        .bind(key.as_slice())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn clear_login_failures(&self, key: &[u8; 32]) -> DbResult<()> {
        sqlx::query("DELETE FROM login_failures WHERE key_hash = $1")
            .bind(key.as_slice())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn forget_login_failures(&self, now: i64) -> DbResult<u64> {
        let done =
            sqlx::query("DELETE FROM login_failures WHERE forget_at <= $1").bind(now).execute(&self.writer).await?;
        Ok(done.rows_affected())
    }

    async fn put_beacon(&self, b: &shared::beacon::Beacon) -> DbResult<()> {
        let len = i64::try_from(b.len).map_err(|_| DbError::Corrupt("beacon length".into()))?;
        sqlx::query(
            "INSERT INTO beacons (team_id, admin, chain_len, head, at_ms, signature) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (team_id, admin) DO UPDATE SET chain_len = excluded.chain_len, head = excluded.head, \
             at_ms = excluded.at_ms, signature = excluded.signature",
        )
        .bind(b.team.as_bytes().as_slice())
        .bind(b.admin.as_str())
        .bind(len)
        .bind(b.head.as_slice())
        .bind(b.at_ms)
        .bind(b.signature.as_slice())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn beacons(&self, team: &TeamId) -> DbResult<Vec<shared::beacon::Beacon>> {
        let rows = sqlx::query(
            "SELECT b.admin, b.chain_len, b.head, b.at_ms, b.signature FROM beacons b \
             JOIN team_members m ON m.team_id = b.team_id AND m.username = b.admin \
             WHERE b.team_id = $1 AND m.role = 'admin' ORDER BY b.admin",
        )
        .bind(team.as_bytes().as_slice())
        .fetch_all(&self.reader)
        .await?;
        let corrupt = |what: &str| DbError::Corrupt(format!("beacon {what}"));
        rows.iter()
            .map(|r| {
                Ok(shared::beacon::Beacon {
                    team: *team,
                    len: r.get::<i64, _>("chain_len") as u64,
                    head: r.get::<&[u8], _>("head").try_into().map_err(|_| corrupt("head"))?,
                    admin: Username::parse(r.get::<&str, _>("admin")).map_err(|_| corrupt("admin"))?,
                    at_ms: r.get("at_ms"),
                    signature: r.get::<&[u8], _>("signature").try_into().map_err(|_| corrupt("signature"))?,
                })
            })
            .collect()
    }

    async fn put_restore_notice(&self, n: &shared::restore::RestoreNotice) -> DbResult<()> {
        let generation = i64::try_from(n.generation).map_err(|_| DbError::Corrupt("restore generation".into()))?;
        sqlx::query(
            "INSERT INTO restore_notices (team_id, generation, admin, at_ms, signature) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (team_id, generation) DO UPDATE SET admin = excluded.admin, at_ms = excluded.at_ms, \
             signature = excluded.signature WHERE excluded.at_ms >= restore_notices.at_ms",
        )
        .bind(n.team.as_bytes().as_slice())
        .bind(generation)
        .bind(n.admin.as_str())
        .bind(n.at_ms)
        .bind(n.signature.as_slice())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn restore_notice(&self, team: &TeamId, generation: u64) -> DbResult<Option<shared::restore::RestoreNotice>> {
        let Ok(g) = i64::try_from(generation) else { return Ok(None) };
        let row =
            sqlx::query("SELECT admin, at_ms, signature FROM restore_notices WHERE team_id = $1 AND generation = $2")
                .bind(team.as_bytes().as_slice())
                .bind(g)
                .fetch_optional(&self.reader)
                .await?;
        let corrupt = |what: &str| DbError::Corrupt(format!("restore notice {what}"));
        row.map(|r| {
            Ok(shared::restore::RestoreNotice {
                team: *team,
                generation,
                admin: Username::parse(r.get::<&str, _>("admin")).map_err(|_| corrupt("admin"))?,
                at_ms: r.get("at_ms"),
                signature: r.get::<&[u8], _>("signature").try_into().map_err(|_| corrupt("signature"))?,
            })
        })
        .transpose()
    }

    async fn cursor(&self, team: &TeamId) -> DbResult<Cursor> {
        let s: Option<i64> = sqlx::query_scalar("SELECT seq FROM teams WHERE team_id = $1")
            .bind(team.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await?;
        s.map(|s| s as u64).ok_or(DbError::NotFound)
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
