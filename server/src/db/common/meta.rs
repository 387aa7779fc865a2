// What the server keeps about itself: its secret and which life of the database this is. Included by `sqlite.rs` and `postgres.rs` after `common.rs` (see there).

#[async_trait]
impl Meta for Store {
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
}
