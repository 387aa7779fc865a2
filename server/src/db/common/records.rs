// Records: pushes and pulls, kept versions and their retention, deletions counted against the hour's allowance, and download windows. Included by `sqlite.rs` and `postgres.rs` after `common.rs` (see there).

#[async_trait]
impl Records for Store {
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

    async fn cursor(&self, team: &TeamId) -> DbResult<Cursor> {
        let s: Option<i64> = sqlx::query_scalar("SELECT seq FROM teams WHERE team_id = $1")
            .bind(team.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await?;
        s.map(|s| s as u64).ok_or(DbError::NotFound)
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
}
