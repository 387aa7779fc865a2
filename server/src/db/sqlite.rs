//! SQLite backend: one file in WAL mode with `synchronous = FULL` (an acknowledged
//! push survives power loss), one writer connection (SQLite has one writer anyway;
//! a single connection avoids busy-upgrade deadlocks) and a small reader pool.

use std::str::FromStr;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqlitePool};

pub struct SqliteDb {
    writer: SqlitePool,
    reader: SqlitePool,
}

/// Open a database file read-only, run SQLite's integrity check, and describe it.
async fn check_database(path: &std::path::Path) -> Result<String, sqlx::Error> {
    let mut conn = SqliteConnectOptions::new().filename(path).read_only(true).connect().await?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await?;
    if check != "ok" {
        return Err(sqlx::Error::Protocol(format!("{} failed the integrity check: {check}", path.display())));
    }
    let (teams, records): (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM teams), (SELECT COUNT(*) FROM records)")
            .fetch_one(&mut conn)
            .await?;
    conn.close().await?;
    Ok(format!("{teams} teams, {records} records, integrity ok"))
}

impl SqliteDb {
    /// Open (creating if needed) and migrate. `url` is like `sqlite:data/quietdesk.sqlite`.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(parent) = opts.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
            }
        }
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(opts.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(opts.read_only(true)).await?;
        Ok(Self { writer, reader })
    }

    /// Online backup into a fresh file: `VACUUM INTO` copies one read snapshot (every
    /// transaction committed when it starts, nothing half-done) while writers go on.
    /// Written beside the target and renamed into place once checked, so a crash never
    /// leaves a partial file under the backup's name.
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<String, sqlx::Error> {
        if path.exists() {
            return Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists; choose a new file", path.display()),
            )));
        }
        let partial = path.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        sqlx::query("VACUUM INTO ?").bind(partial.to_string_lossy().into_owned()).execute(&self.reader).await?;
        let summary = check_database(&partial).await?;
        std::fs::rename(&partial, path).map_err(sqlx::Error::Io)?;
        Ok(summary)
    }

    /// Put the backup at `from` in place as the database at `url`, after checking it.
    /// Refuses to replace an existing database without `force`, and a database that
    /// another process (a running server) holds open.
    pub async fn restore(from: &std::path::Path, url: &str, force: bool) -> Result<String, sqlx::Error> {
        let summary = check_database(from).await?;
        let target = SqliteConnectOptions::from_str(url)?.get_filename().to_path_buf();
        if target.exists() {
            if !force {
                return Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} exists; pass --force to replace it", target.display()),
                )));
            }
            // An exclusive lock fails while a server has the database open.
            let mut conn = SqliteConnectOptions::new()
                .filename(&target)
                .locking_mode(sqlx::sqlite::SqliteLockingMode::Exclusive)
                .busy_timeout(Duration::from_millis(200))
                .connect()
                .await?;
            sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await?;
            sqlx::query("ROLLBACK").execute(&mut conn).await?;
            conn.close().await?;
        }
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
        }
        let staged = target.with_extension("restoring");
        std::fs::copy(from, &staged).map_err(sqlx::Error::Io)?;
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
        }
        std::fs::rename(&staged, &target).map_err(sqlx::Error::Io)?;
        // Migrate now (a backup from an older version), so the server starts cleanly,
        // and start a new generation: cursors handed out by the lost server (which may
        // have gone past the backup) no longer match, so clients start over and give
        // back what this copy lacks.
        let db = Self::connect(url).await?;
        let old = db.generation().await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let mut r = [0u8; 2];
        OsRng.fill_bytes(&mut r);
        let new = old.wrapping_add(1 + u16::from_be_bytes(r) % (u16::MAX - 1)).max(1);
        sqlx::query("INSERT OR REPLACE INTO server_meta (key, value) VALUES ('generation', ?)")
            .bind(new.to_be_bytes().as_slice())
            .execute(&db.writer)
            .await?;
        Ok(format!("{summary}, generation {new}"))
    }
}

type Backend = sqlx::Sqlite;
type Store = SqliteDb;
include!("common.rs");
include!("common/meta.rs");
include!("common/accounts.rs");
include!("common/sessions.rs");
include!("common/teams.rs");
include!("common/records.rs");
include!("common/audit.rs");

#[cfg(test)]
mod migration_tests {
    use shared::chain::{Action, ChainEntry, Member, Role};
    use shared::crypto::identity::IdentityKeys;
    use shared::ids::{CollectionId, TeamId, Username};

    /// The JSON an entry had while `Action` was internally tagged.
    fn old_json(e: &ChainEntry) -> String {
        let mut v = serde_json::to_value(e).unwrap();
        let (tag, inner) = v["action"].as_object().unwrap().clone().into_iter().next().unwrap();
        let mut inner = inner.as_object().unwrap().clone();
        inner.insert("type".into(), tag.into());
        v["action"] = inner.into();
        v.to_string()
    }

    #[tokio::test]
    async fn migration_0007_rewrites_stored_chain_entries_to_the_new_form() {
        let (keys, name) = (IdentityKeys::generate(), Username::parse("ann").unwrap());
        let team = TeamId::random();
        let member = Member { username: name.clone(), identity: keys.public(), role: Role::Admin };
        let genesis = ChainEntry::signed(
            team,
            0,
            [0; 32],
            &name,
            &keys,
            1,
            Action::Create { admin: member, shared_collection: CollectionId::random() },
        );
        let rotate = ChainEntry::signed(team, 1, genesis.hash(), &name, &keys, 2, Action::Rotate { epoch: 2 });
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE chain_entries (idx INTEGER, entry TEXT NOT NULL)").execute(&pool).await.unwrap();
        for (i, e) in [&genesis, &rotate].into_iter().enumerate() {
            assert!(serde_json::from_str::<ChainEntry>(&old_json(e)).is_err(), "the old form no longer parses");
            sqlx::query("INSERT INTO chain_entries VALUES (?, ?)")
                .bind(i as i64)
                .bind(old_json(e))
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::raw_sql(include_str!("../../migrations/sqlite/0007_action_external_tag.sql"))
            .execute(&pool)
            .await
            .unwrap();
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT entry FROM chain_entries ORDER BY idx").fetch_all(&pool).await.unwrap();
        for (row, e) in rows.iter().zip([&genesis, &rotate]) {
            let back: ChainEntry = serde_json::from_str(row).unwrap();
            assert_eq!(&back, e);
            assert_eq!(back.hash(), e.hash());
        }
    }
}
