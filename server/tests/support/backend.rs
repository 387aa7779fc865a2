//! Which database the tests run on. By default each test gets a fresh SQLite file; with
//! `QD_TEST_POSTGRES=postgres://user@host:port/db` each gets a fresh schema in that
//! PostgreSQL database instead (dropped when the test ends), so the same tests cover
//! both backends. Raw SQL (tampering, inspection) goes through sqlx's `Any` driver with
//! `$1`-style placeholders, which both backends take.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Connection, Row};

pub const ENV: &str = "QD_TEST_POSTGRES";

pub enum TestDb {
    Sqlite(PathBuf),
    Postgres { base: String, schema: String },
}

pub fn on_postgres() -> bool {
    std::env::var(ENV).is_ok_and(|v| !v.is_empty())
}

impl TestDb {
    /// A new, empty database for one test (`dir` holds the SQLite file).
    pub fn fresh(dir: &Path) -> Self {
        match std::env::var(ENV) {
            Ok(base) if !base.is_empty() => {
                let mut r = [0u8; 8];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut r);
                let schema = format!("qd_t_{}", r.iter().map(|b| format!("{b:02x}")).collect::<String>());
                TestDb::Postgres { base, schema }
            }
            _ => TestDb::Sqlite(dir.join("quietdesk.sqlite")),
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(p) => format!("sqlite:{}", p.display()),
            TestDb::Postgres { base, schema } => {
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-c%20search_path%3D{schema}")
            }
        }
    }

    /// The SQLite file (tests of SQLite-only tools: backup, restore, file locks).
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            TestDb::Sqlite(p) => Some(p),
            TestDb::Postgres { .. } => None,
        }
    }

    pub async fn connect(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.url()).await.expect("test database connects")
    }

    /// Run one statement with byte-string parameters `$1, $2, …`.
    pub async fn exec(&self, sql: &str, binds: &[&[u8]]) {
        let mut conn = self.connect().await;
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(b.to_vec());
        }
        q.execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await.ok();
    }

    pub async fn rows(&self, sql: &str) -> Vec<AnyRow> {
        let mut conn = self.connect().await;
        let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await.ok();
        rows
    }

    /// Every value in every table, as bytes (table name, bytes): what a stolen copy of
    /// the database holds. (A SQLite file is read whole by the caller instead.)
    pub async fn every_value(&self) -> Vec<(String, Vec<u8>)> {
        let mut conn = self.connect().await;
        let tables: Vec<String> = match self {
            TestDb::Sqlite(_) => sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'"),
            TestDb::Postgres { .. } => sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
            ),
        }
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut out = vec![];
        for table in tables {
            // PostgreSQL: every column as bytes or text (the `Any` driver reads no
            // timestamps); SQLite columns are blobs, text or numbers already.
            let select = match self {
                TestDb::Sqlite(_) => "*".to_owned(),
                TestDb::Postgres { .. } => {
                    let cols: Vec<(String, String)> = sqlx::query_as(
                        "SELECT column_name::text, data_type::text FROM information_schema.columns \
                         WHERE table_schema = current_schema() AND table_name = $1",
                    )
                    .bind(&table)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                    let cols: Vec<String> = cols
                        .into_iter()
                        .map(|(c, t)| if t == "bytea" { format!("\"{c}\"") } else { format!("\"{c}\"::text") })
                        .collect();
                    cols.join(", ")
                }
            };
            let rows = sqlx::query(&format!("SELECT {select} FROM {table}")).fetch_all(&mut conn).await.unwrap();
            let mut bytes = vec![];
            for row in &rows {
                for i in 0..row.columns().len() {
                    if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                        bytes.extend(b);
                    } else if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                        bytes.extend(s.into_bytes());
                    }
                    bytes.push(0);
                }
            }
            out.push((table, bytes));
        }
        conn.close().await.ok();
        out
    }
}

/// A PostgreSQL test schema goes when its last user does (a SQLite file goes with its
/// directory).
impl Drop for TestDb {
    fn drop(&mut self) {
        let url = self.url();
        let TestDb::Postgres { schema, .. } = &*self else { return };
        let schema = schema.clone();
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                sqlx::any::install_default_drivers();
                if let Ok(mut c) = AnyConnection::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut c).await;
                    let _ = c.close().await;
                }
            })
        })
        .join();
    }
}
