//! PostgreSQL backend: the scale path. Several stateless server instances share one
//! database; each push is one transaction that takes its team's row lock first, so
//! per-team sequence numbers follow commit order on every instance. Pokes between
//! instances travel by `LISTEN`/`NOTIFY` (see [`crate::events`]).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub struct PgDb {
    /// One pool: PostgreSQL takes concurrent writers (`writer` and `reader` share it).
    writer: PgPool,
    reader: PgPool,
}

impl PgDb {
    /// Connect and migrate. `url` is like `postgres://user@host:5432/db`; a
    /// `?options=-c%20search_path%3Dname` suffix keeps the tables in schema `name`
    /// (created if missing).
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        Self::connect_with(url, 32).await
    }

    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        // Waiting for a lock gives up after 10 s (SQLite's busy timeout here too): the
        // request gets 503 and its transaction rolls back.
        let options = PgConnectOptions::from_str(url)?.options([("lock_timeout", "10s")]);
        if let Some(schema) = search_path(url) {
            // The schema must exist before the pool's connections use it.
            let admin = PgPoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).execute(&admin).await?;
            admin.close().await;
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { writer: pool.clone(), reader: pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.writer
    }
}

/// The schema named by `search_path` in the URL's `options`, if it is a plain name.
fn search_path(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let options = query.split('&').find_map(|kv| kv.strip_prefix("options="))?;
    let decoded = percent_decode(options);
    let value = decoded.split_once("search_path=")?.1.split_whitespace().next()?.to_owned();
    value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_').then_some(value)
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let (bytes, mut out, mut i) = (s.as_bytes(), Vec::with_capacity(s.len()), 0);
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? << 4 | hex(bytes[i + 2])?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

type Backend = sqlx::Postgres;
type Store = PgDb;
include!("common.rs");
include!("common/meta.rs");
include!("common/accounts.rs");
include!("common/sessions.rs");
include!("common/teams.rs");
include!("common/records.rs");
include!("common/audit.rs");

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_comes_from_the_url_options() {
        let url = "postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3Dqd_t_1";
        assert_eq!(super::search_path(url).as_deref(), Some("qd_t_1"));
        assert_eq!(super::search_path("postgres://h/db"), None);
        assert_eq!(super::search_path("postgres://h/db?options=-c%20search_path%3Dx;drop"), None);
    }
}
