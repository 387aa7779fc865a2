//! A full disk, simulated: the server process runs with a file-size limit
//! (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored), so once the database's WAL reaches it every
//! write fails the way a full disk fails them. Pushes then get `503 unavailable` with
//! `Retry-After` and store nothing, while reads keep being answered; once there is room
//! again (a restart without the limit) the client's outbox drains and every write the
//! server acknowledged is there. SQLite only: PostgreSQL's disk is its own server's.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use std::collections::BTreeSet;

use client::{signup, HttpTransport};
use server::TestServer;
use shared::domain::{Customer, Entity};
use shared::ids::RecordId;
use shared::sync::memory::MemoryStore;
use shared::sync::{SyncError, Syncer, TransportError};
use sqlx::Row;

type Client = Syncer<MemoryStore, HttpTransport>;

async fn ids_on(srv: &TestServer) -> BTreeSet<RecordId> {
    let rows = srv.db.rows("SELECT record_id FROM records").await;
    rows.iter().map(|r| RecordId::from_slice(r.get::<Vec<u8>, _>("record_id").as_slice()).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_stores_nothing_and_the_outbox_drains_once_there_is_room() {
    if backend::on_postgres() {
        eprintln!("skipped on PostgreSQL: the file-size limit simulates the SQLite server's own disk");
        return;
    }
    // 2 MiB per file: room for the account, the team and some records, not many more.
    let mut srv = TestServer::start_limited(&[], 2 << 20);
    let alice = signup(&srv.base, "alice", "pass-alice-full").await;
    let team = alice.create_team().await;
    let mut a: Client =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    a.batch = 10;

    let (mut acked, mut written, mut refused) = (BTreeSet::new(), BTreeSet::new(), None);
    for round in 0..600 {
        let rows: Vec<_> = (0..10)
            .map(|i| {
                let name = format!("Customer {round}-{i} {}", "x".repeat(900));
                (RecordId::random(), Customer { name, ..Default::default() }.to_fields())
            })
            .collect();
        let ids: Vec<RecordId> = rows.iter().map(|(id, _)| *id).collect();
        a.edit_many(rows, 1).await.unwrap();
        written.extend(ids.iter().copied());
        match a.sync().await {
            Ok(_) => acked.extend(ids),
            Err(SyncError::Transport(TransportError::Http { status, code, .. })) => {
                assert_eq!((status, code.as_str()), (503, "unavailable"), "a full disk is a 503");
                refused = Some(ids);
                break;
            }
            Err(e) => panic!("round {round}: {e:?}"),
        }
    }
    let refused = refused.expect("the disk filled up within 600 pushes");
    eprintln!("{} records acknowledged before the disk was full", acked.len());
    assert!(acked.len() >= 100, "some pushes went through first ({})", acked.len());
    assert_eq!(a.replica.pending_count(), refused.len(), "the refused edits wait in the outbox");

    // Still serving: health, and a fresh client's pull of everything acknowledged.
    let health = reqwest::get(format!("{}/api/v1/health", srv.base)).await.unwrap();
    assert!(health.status().is_success());
    let mut reader: Client =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    reader.sync().await.unwrap();
    let seen: BTreeSet<RecordId> = reader.replica.live().map(|(id, _)| *id).collect();
    assert_eq!(seen, acked, "reads answered while writes are refused");

    // Room again: restart without the limit; the outbox drains, nothing is lost.
    srv.restart(&[]);
    a.transport.api.base = srv.base.clone();
    let held = ids_on(&srv).await;
    assert!(acked.is_subset(&held), "every acknowledged write survived");
    assert!(refused.iter().all(|id| !held.contains(id)), "the refused push stored nothing");
    a.sync().await.unwrap();
    assert_eq!(a.replica.pending_count(), 0);
    assert_eq!(ids_on(&srv).await, written, "and now everything written is there");
}
