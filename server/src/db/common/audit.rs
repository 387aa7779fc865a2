// The audit chain and approvals of risky actions. Included by `sqlite.rs` and `postgres.rs` after `common.rs` (see there).

#[async_trait]
impl AuditLog for Store {
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

    async fn use_approval(&self, team: &TeamId, id: &RecordId, now: i64) -> DbResult<bool> {
        let done = sqlx::query("UPDATE approvals SET used_at = $1 WHERE team_id = $2 AND id = $3 AND used_at IS NULL")
            .bind(now)
            .bind(team.as_bytes().as_slice())
            .bind(id.as_bytes().as_slice())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
