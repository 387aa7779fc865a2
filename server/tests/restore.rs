//! The restore drill: two clients push a storm of writes while `quietdesk-server
//! backup` copies the live database; the backup is restored into a fresh server and
//! the clients are pointed at it. Every write acknowledged before the backup started is
//! in the restored database; the clients notice the restore (their cursors are from the
//! old generation) and change nothing until the team's admin confirms it with a signed
//! notice (a member cannot); then they give back what the restored server lost (writes
//! acknowledged after the backup) and go on syncing: afterwards both hold the same
//! records, and so does the server.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use client::{login, signup, HttpTransport};
use server::TestServer;
use shared::chain::Role;
use shared::domain::{field, Customer, Entity};
use shared::ids::RecordId;
use shared::record::{RecordDoc, Value};
use shared::sync::memory::MemoryStore;
use shared::sync::{SyncError, Syncer, TransportError};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};

type Client = Syncer<MemoryStore, HttpTransport>;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// `rounds` rounds of 10 new customers plus an edit of an earlier one, each synced;
/// what the server acknowledged goes into `acked`.
async fn storm(c: &RefCell<Client>, who: &str, rounds: usize, acked: &RefCell<BTreeSet<RecordId>>) {
    let mut mine: Vec<RecordId> = Vec::new();
    for round in 0..rounds {
        let mut c = c.borrow_mut();
        let mut rows: Vec<(RecordId, Vec<(String, Option<Value>)>)> = (0..10)
            .map(|i| {
                let name = format!("Canary Restore {who} {round}-{i}");
                (RecordId::random(), Customer { name, ..Default::default() }.to_fields())
            })
            .collect();
        if let Some(&earlier) = mine.get(round) {
            rows.push((earlier, vec![(field::NOTES.into(), Some(Value::Text(format!("{who} edit {round}"))))]));
        }
        c.edit_many(rows.clone(), now()).await.unwrap();
        c.sync().await.unwrap();
        mine.extend(rows.iter().map(|(id, _)| *id));
        acked.borrow_mut().extend(rows.iter().map(|(id, _)| *id));
        drop(c);
        tokio::task::yield_now().await;
    }
}

async fn ids_on(db: &std::path::Path) -> BTreeSet<RecordId> {
    let mut conn = SqliteConnectOptions::new().filename(db).read_only(true).connect().await.unwrap();
    let rows = sqlx::query("SELECT record_id FROM records").fetch_all(&mut conn).await.unwrap();
    rows.iter().map(|r| RecordId::from_slice(r.get::<Vec<u8>, _>("record_id").as_slice()).unwrap()).collect()
}

fn views(c: &Client) -> BTreeMap<RecordId, RecordDoc> {
    c.replica.live().map(|(id, r)| (*id, (*r.view).clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_clients_push_restores_and_the_clients_carry_on() {
    if backend::on_postgres() {
        // `backup`/`restore` copy SQLite files; PostgreSQL is backed up with pg_dump.
        eprintln!("skipped on PostgreSQL: the backup and restore commands are for SQLite");
        return;
    }
    let mut old = TestServer::start();
    let alice = signup(&old.base, "alice", "pass-alice-restore").await;
    let bob = signup(&old.base, "bob", "pass-bob-restore").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let a =
        RefCell::new(Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap());
    let b = RefCell::new(Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap());
    let acked = RefCell::new(BTreeSet::new());
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("quietdesk.backup");

    // Both clients push while, part-way, the backup runs against the live database.
    let before_backup = RefCell::new(BTreeSet::new());
    let take_backup = async {
        while acked.borrow().len() < 100 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        *before_backup.borrow_mut() = acked.borrow().clone();
        let (db, to) = (old.db_path(), backup.clone());
        let out = tokio::task::spawn_blocking(move || TestServer::run(&db, &["backup", "--to", to.to_str().unwrap()]))
            .await
            .unwrap();
        assert!(out.status.success(), "backup failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("integrity ok"));
    };
    tokio::join!(storm(&a, "alice", 25, &acked), storm(&b, "bob", 25, &acked), take_backup);
    let before_backup = before_backup.into_inner();
    let all_acked = acked.into_inner();
    assert!(all_acked.len() > before_backup.len(), "the storm went on after the backup");
    old.stop();

    // Restore into a fresh server (refused over an existing database without --force).
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("restored.sqlite");
    let out = TestServer::run(&db, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(out.status.success(), "restore failed: {}", String::from_utf8_lossy(&out.stderr));
    let again = TestServer::run(&db, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(!again.status.success(), "a restore over an existing database needs --force");
    let restored_ids = ids_on(&db).await;
    let missing: Vec<_> = before_backup.difference(&restored_ids).collect();
    assert!(missing.is_empty(), "{} writes acknowledged before the backup are missing", missing.len());
    let new = TestServer::start_on(dir, std::sync::Arc::new(backend::TestDb::Sqlite(db.clone())), &[]);

    // Point the clients at the restored server: they notice, and give back what it lost.
    let (mut a, mut b) = (a.into_inner(), b.into_inner());
    a.transport.api.base = new.base.clone();
    b.transport.api.base = new.base.clone();
    // They change nothing on the server's word: the restore waits for an admin.
    let waits = a.sync().await.unwrap_err();
    assert!(matches!(waits, SyncError::RestoreUnconfirmed { .. }), "{waits}");
    assert!(matches!(b.sync().await, Err(SyncError::RestoreUnconfirmed { .. })));
    let (a_cursor, b_pending) = (a.replica.cursor, b.replica.pending_count());
    assert!(a_cursor > 0 && shared::restore::generation_of(a_cursor) == 0);
    // Bob, a member, cannot confirm it; Alice, the team's admin, does.
    let alice = login(&new.base, "alice", "pass-alice-restore").await.unwrap();
    let bob = login(&new.base, "bob", "pass-bob-restore").await.unwrap();
    let refused = bob.confirm_restore(team).await.unwrap_err();
    assert!(matches!(&refused, TransportError::Http { status: 403, .. }), "{refused:?}");
    assert_eq!(b.replica.pending_count(), b_pending);
    alice.confirm_restore(team).await.unwrap();
    let status = alice.restore_status(team).await.unwrap();
    assert!(status.generation > 0 && status.notice.as_ref().is_some_and(|n| n.admin == alice.name));
    let ra = a.sync().await.unwrap();
    assert!(ra.repaired > 0, "{ra:?}");
    b.sync().await.unwrap();
    a.sync().await.unwrap();
    let held = ids_on(&db).await;
    let lost: Vec<_> = all_acked.difference(&held).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes are not on the restored server after the clients synced",
        lost.len()
    );
    assert_eq!(held.len(), all_acked.len());
    let (va, vb) = (views(&a), views(&b));
    let differ: Vec<String> = va
        .iter()
        .filter(|(id, d)| vb.get(id) != Some(d))
        .map(|(id, d)| {
            let other = vb.get(id);
            let fields: Vec<&String> = d
                .fields
                .iter()
                .filter(|(f, s)| other.and_then(|o| o.fields.get(*f)) != Some(s))
                .map(|(f, _)| f)
                .collect();
            format!("{id}: {}", if other.is_none() { "missing at bob".to_owned() } else { format!("{fields:?}") })
        })
        .take(5)
        .collect();
    assert!(differ.is_empty() && va.len() == vb.len(), "{} vs {} records; differ: {differ:?}", va.len(), vb.len());
    assert_eq!(views(&a).len(), all_acked.len());

    // And they keep syncing: a new write reaches the other client.
    let fresh = RecordId::random();
    a.edit(fresh, Customer { name: "Canary After Restore".into(), ..Default::default() }.to_fields(), now())
        .await
        .unwrap();
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    assert_eq!(b.replica.records[&fresh].view.text(field::NAME), Some("Canary After Restore"));
    assert!(a.replica.pending_count() == 0 && b.replica.pending_count() == 0);
}
