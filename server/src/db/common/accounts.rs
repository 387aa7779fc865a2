// Accounts: users, their sealed bundles and pins, credentials and recovery, 2FA, and the counted wrong guesses at log-in. Included by `sqlite.rs` and `postgres.rs` after `common.rs` (see there).

#[async_trait]
impl Accounts for Store {
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
}
