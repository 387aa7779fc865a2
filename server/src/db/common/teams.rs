// Teams: the chain, key wraps, invitations, the team's 2FA rule, alerts, freshness beacons and restore notices. Included by `sqlite.rs` and `postgres.rs` after `common.rs` (see there).

#[async_trait]
impl Teams for Store {
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

    async fn set_team_2fa(&self, team: &TeamId, required: bool) -> DbResult<()> {
        sqlx::query("UPDATE teams SET require_2fa = $1 WHERE team_id = $2")
            .bind(required)
            .bind(team.as_bytes().as_slice())
            .execute(&self.writer)
            .await?;
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
}
