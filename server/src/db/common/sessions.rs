// Sessions: created at log-in, touched as they are used, ended one by one, per member of a team, or everywhere. Included by `sqlite.rs` and `postgres.rs` after `common.rs` (see there).

#[async_trait]
impl Sessions for Store {
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
}
