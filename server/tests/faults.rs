//! Fault injection against the real server binary: `kill -9` in the middle of a push
//! storm from two clients, five times over on the same database. After each kill, the
//! database (WAL included, as SQLite recovers it) holds every write the server
//! acknowledged and no half of any push; after each restart the clients' outboxes
//! drain to completion and both clients converge on the same records.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::time::Duration;

use backend::TestDb;
use client::{signup, HttpTransport};
use server::TestServer;
use shared::chain::Role;
use shared::domain::{Customer, Entity};
use shared::ids::RecordId;
use shared::sync::memory::MemoryStore;
use shared::sync::Syncer;
use sqlx::Row;

type Client = Syncer<MemoryStore, HttpTransport>;

/// Rounds of 40 new customers, each one push (the batch is 50), until the server is gone.
/// Every round's ids go into `batches`; those the server acknowledged into `acked`.
async fn storm(c: &mut Client, who: &str, batches: &mut Vec<Vec<RecordId>>, acked: &mut BTreeSet<RecordId>) {
    for round in 0.. {
        let rows: Vec<_> = (0..40)
            .map(|i| {
                let name = format!("Canary Fault {who} {}-{round}-{i}", batches.len());
                (RecordId::random(), Customer { name, ..Default::default() }.to_fields())
            })
            .collect();
        let ids: Vec<RecordId> = rows.iter().map(|(id, _)| *id).collect();
        c.edit_many(rows, 1).await.unwrap();
        batches.push(ids.clone());
        if c.sync().await.is_err() {
            return;
        }
        acked.extend(ids);
    }
}

async fn ids_on(db: &TestDb) -> BTreeSet<RecordId> {
    // SQLite: not read-only, so opening replays the WAL the killed server left, as a
    // restart would.
    let rows = db.rows("SELECT record_id FROM records").await;
    rows.iter().map(|r| RecordId::from_slice(r.get::<Vec<u8>, _>("record_id").as_slice()).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_push_storm_loses_nothing_acknowledged_five_times_over() {
    let mut srv = TestServer::start();
    let db = srv.db.clone();
    let alice = signup(&srv.base, "alice", "pass-alice-faults").await;
    let bob = signup(&srv.base, "bob", "pass-bob-faults").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut a: Client =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    let mut b: Client = Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    a.batch = 50;
    b.batch = 50;
    let (mut batches, mut acked) = (Vec::new(), BTreeSet::new());

    for round in 0..5 {
        let (mut ba, mut bb, mut aa, mut ab) = (Vec::new(), Vec::new(), BTreeSet::new(), BTreeSet::new());
        let wait = 300
            + u64::from(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() % 700,
            );
        let killer = async {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            srv.kill9();
        };
        tokio::join!(storm(&mut a, "alice", &mut ba, &mut aa), storm(&mut b, "bob", &mut bb, &mut ab), killer);
        batches.extend(ba.into_iter().chain(bb));
        acked.extend(aa.into_iter().chain(ab));

        // What the killed server left: every acknowledged write, and whole pushes only.
        let held = ids_on(&db).await;
        let lost = acked.difference(&held).count();
        assert_eq!(lost, 0, "round {round}: {lost} acknowledged writes lost");
        for batch in &batches {
            let present = batch.iter().filter(|id| held.contains(id)).count();
            assert!(
                present == 0 || present == batch.len(),
                "round {round}: a push is half there ({present} of {})",
                batch.len()
            );
        }

        // Restart on the same database; the clients drain their outboxes.
        srv.restart(&[]);
        for c in [&mut a, &mut b] {
            c.transport.api.base = srv.base.clone();
        }
        for _ in 0..10 {
            let (ra, rb) = (a.sync().await, b.sync().await);
            if ra.is_ok() && rb.is_ok() && a.replica.pending_count() == 0 && b.replica.pending_count() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!((a.replica.pending_count(), b.replica.pending_count()), (0, 0), "round {round}: outboxes drained");
        a.sync().await.unwrap();
        let held = ids_on(&db).await;
        let written: BTreeSet<RecordId> = batches.iter().flatten().copied().collect();
        assert!(
            written.is_subset(&held),
            "round {round}: {} writes missing after the drain",
            written.difference(&held).count()
        );
        acked.extend(written);
        let (va, vb): (BTreeSet<_>, BTreeSet<_>) =
            (a.replica.live().map(|(id, _)| *id).collect(), b.replica.live().map(|(id, _)| *id).collect());
        assert_eq!(va, vb, "round {round}: both clients hold the same records");
        assert_eq!(va, held, "round {round}: and the same as the server");
    }
    assert!(acked.len() >= 5 * 80, "the storms did push ({} records)", acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_answers_503_stores_nothing_and_the_outbox_drains_later() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-locked").await;
    let team = alice.create_team().await;
    let mut a: Client =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    let id = RecordId::random();
    a.edit(id, Customer { name: "Canary Locked".into(), ..Default::default() }.to_fields(), 1).await.unwrap();

    // Another process holds the write lock past the server's busy timeout (10 s):
    // SQLite's database lock, or an exclusive lock on PostgreSQL's records table.
    let mut lock = srv.db.connect().await;
    let sql = if srv.db.sqlite_path().is_some() { "BEGIN EXCLUSIVE" } else { "BEGIN" };
    sqlx::query(sql).execute(&mut lock).await.unwrap();
    if srv.db.sqlite_path().is_none() {
        sqlx::query("LOCK TABLE records IN ACCESS EXCLUSIVE MODE").execute(&mut lock).await.unwrap();
    }
    match a.sync().await {
        Err(shared::sync::SyncError::Transport(shared::sync::TransportError::Http { status, code, .. })) => {
            assert_eq!((status, code.as_str()), (503, "unavailable"))
        }
        other => panic!("expected 503, got {other:?}"),
    }
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    assert!(!ids_on(&srv.db).await.contains(&id), "nothing stored");
    assert_eq!(a.replica.pending_count(), 1, "the edit waits in the outbox");

    // The server kept serving; once the lock is gone the outbox drains.
    a.sync().await.unwrap();
    assert_eq!(a.replica.pending_count(), 0);
    assert!(ids_on(&srv.db).await.contains(&id));
}
