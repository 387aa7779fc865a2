//! What the server benchmarks share: sealed 1 KiB records, and the raw SQLite insert
//! baseline they are measured against in the same run.
#![allow(dead_code)]

use std::str::FromStr;
use std::time::{Duration, Instant};

use shared::crypto::envelope::{RecordContext, SealedRecord};
use shared::ids::RecordId;
use shared::record::{FieldState, RecordDoc, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// `n` records of 1 KiB plaintext, sealed by `session`'s member into the shared
/// collection, once up front.
pub fn sealed_records(session: &shared::sync::Session, n: usize) -> Vec<(RecordId, SealedRecord)> {
    let coll = session.team.shared_collection;
    let sealer = shared::sync::seal::Sealer {
        me: &session.me,
        identity: &session.identity,
        keyring: &session.keyring,
        epoch: session.team.epoch,
        head: session.team.chain_head(),
    };
    let stamp = shared::hlc::Stamp { hlc: Default::default(), author: session.me.clone() };
    (0..n)
        .map(|i| {
            let mut doc = RecordDoc::new();
            doc.apply(
                "notes",
                FieldState { value: Some(Value::Text(format!("{i:06}{}", "x".repeat(1018)))), stamp: stamp.clone() },
            );
            let id = RecordId::random();
            let ctx = RecordContext { team: session.team.team, record: id };
            (id, sealer.seal(&ctx, coll, 1, &doc, None).unwrap().0)
        })
        .collect()
}

/// One INSERT per row of `chunk` in transaction `tx` (either backend: both take `$n`).
macro_rules! insert_rows {
    ($tx:ident, $chunk:expr, $team:expr, $coll:expr, $seq:ident) => {
        for (id, s) in $chunk {
            $seq += 1;
            sqlx::query(
                "INSERT INTO records (team_id, record_id, collection, version, seq, epoch, author, sealed, updated_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            )
            .bind($team.as_slice())
            .bind(id.as_bytes().as_slice())
            .bind($coll.as_slice())
            .bind(1i64)
            .bind($seq)
            .bind(1i64)
            .bind("alice")
            .bind(s.0.as_slice())
            .bind(0i64)
            .execute(&mut *$tx)
            .await
            .unwrap();
        }
    };
}

/// The raw baseline: `records` inserted into a fresh database in `dir` with the
/// server's schema and durability settings, `per_tx` rows per transaction; with
/// `multi_row` one `INSERT … VALUES` per transaction (what the server does), else one
/// INSERT per row (the plain way).
pub async fn raw_insert(
    records: &[(RecordId, SealedRecord)],
    dir: &std::path::Path,
    per_tx: usize,
    multi_row: bool,
) -> Duration {
    let url = format!("sqlite:{}", dir.join(if multi_row { "raw-multi.sqlite" } else { "raw.sqlite" }).display());
    // Same schema (via the server's migrations) and the same durability settings.
    drop(quietdesk_server::db::sqlite::SqliteDb::connect(&url).await.unwrap());
    let opts = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.unwrap();
    let team = [7u8; 16];
    sqlx::query("INSERT INTO teams (team_id, seq, created_at) VALUES (?, 0, 0)")
        .bind(team.as_slice())
        .execute(&pool)
        .await
        .unwrap();
    let coll = [9u8; 16];
    let start = Instant::now();
    let mut seq = 0i64;
    for chunk in records.chunks(per_tx) {
        let mut tx = pool.begin().await.unwrap();
        if multi_row {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO records (team_id, record_id, collection, version, seq, epoch, author, sealed, updated_at) ",
            );
            q.push_values(chunk, |mut b, (id, s)| {
                seq += 1;
                b.push_bind(team.as_slice())
                    .push_bind(id.as_bytes().as_slice())
                    .push_bind(coll.as_slice())
                    .push_bind(1i64)
                    .push_bind(seq)
                    .push_bind(1i64)
                    .push_bind("alice")
                    .push_bind(s.0.as_slice())
                    .push_bind(0i64);
            });
            q.build().execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
            continue;
        }
        insert_rows!(tx, chunk, team, coll, seq);
        tx.commit().await.unwrap();
    }
    start.elapsed()
}

/// The raw PostgreSQL baseline: `records` inserted one INSERT per row, `per_tx` rows
/// per transaction, into the server's schema (its migrations) in the database `url`
/// names, with the server's durability (synchronous commit on).
pub async fn raw_insert_pg(records: &[(RecordId, SealedRecord)], url: &str, per_tx: usize) -> Duration {
    let db = quietdesk_server::db::postgres::PgDb::connect_with(url, 2).await.unwrap();
    let pool = db.pool().clone();
    let team = [7u8; 16];
    sqlx::query("INSERT INTO teams (team_id, seq, created_at) VALUES ($1, 0, 0)")
        .bind(team.as_slice())
        .execute(&pool)
        .await
        .unwrap();
    let coll = [9u8; 16];
    let start = Instant::now();
    let mut seq = 0i64;
    for chunk in records.chunks(per_tx) {
        let mut tx = pool.begin().await.unwrap();
        insert_rows!(tx, chunk, team, coll, seq);
        tx.commit().await.unwrap();
    }
    let took = start.elapsed();
    pool.close().await;
    took
}
