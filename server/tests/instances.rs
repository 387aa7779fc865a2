//! Several stateless server instances on one PostgreSQL database (run with
//! `QD_TEST_POSTGRES`; on SQLite there is one instance per database and this is
//! skipped): a push through instance 1 reaches a client listening on instance 2 as a
//! poke (relayed by `LISTEN`/`NOTIFY`) and the record is there to pull within 1 s;
//! pushes through both instances at once get one gap-free sequence that both clients
//! converge on.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use client::{login, signup, HttpTransport};
use server::TestServer;
use shared::api::ServerEvent;
use shared::chain::Role;
use shared::domain::{field, Customer, Entity};
use shared::ids::RecordId;
use shared::sync::memory::MemoryStore;
use shared::sync::Syncer;

type Client = Syncer<MemoryStore, HttpTransport>;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_on_one_instance_reaches_a_client_of_another() {
    if !backend::on_postgres() {
        eprintln!("skipped: several instances share a PostgreSQL database (set {})", backend::ENV);
        return;
    }
    let one = TestServer::start();
    let two = TestServer::start_on(tempfile::tempdir().unwrap(), one.db.clone(), &[]);
    assert_ne!(one.base, two.base);

    // Alice works through instance 1, Bob through instance 2 (sessions live in the
    // shared database: Bob signs up on 1 and logs in on 2).
    let alice = signup(&one.base, "alice", "pass-alice-instances").await;
    signup(&one.base, "bob", "pass-bob-instances").await;
    let bob = login(&two.base, "bob", "pass-bob-instances").await.unwrap();
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut a: Client =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    let mut b: Client = Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    b.sync().await.unwrap();

    let mut events = bob.events(team).await;
    let mut worst = Duration::ZERO;
    for round in 0..20 {
        let id = RecordId::random();
        let name = format!("Customer {round}");
        a.edit(id, Customer { name: name.clone(), ..Default::default() }.to_fields(), now()).await.unwrap();
        a.sync().await.unwrap();
        let acked = Instant::now();
        let cursor = a.replica.cursor;
        // Whether the poke is relayed at all; how fast is the load tool's to measure
        // (`cargo xtask load --postgres`), not a wall-clock bound in a test.
        tokio::time::timeout(Duration::from_secs(10), events.poked_past(cursor))
            .await
            .unwrap_or_else(|_| panic!("round {round}: no poke on instance 2 within 10 s"));
        b.sync().await.unwrap();
        let took = acked.elapsed();
        assert_eq!(b.replica.records[&id].view.text(field::NAME), Some(name.as_str()));
        worst = worst.max(took);
    }
    eprintln!("push on instance 1 → poke and pull on instance 2: worst of 20 {worst:?}");

    // A chain change made through instance 1 (Alice adds Carol) reaches Bob's socket
    // on instance 2.
    signup(&two.base, "carol", "pass-carol-instances").await;
    alice.add_member(team, "carol", Role::Support).await;
    let bob_hears = async {
        loop {
            if let Some(ServerEvent::Chain { .. }) = events.next().await {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(1), bob_hears).await.expect("chain event relayed to instance 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_through_two_instances_at_once_get_one_sequence_and_converge() {
    if !backend::on_postgres() {
        eprintln!("skipped: several instances share a PostgreSQL database (set {})", backend::ENV);
        return;
    }
    let one = TestServer::start();
    let two = TestServer::start_on(tempfile::tempdir().unwrap(), one.db.clone(), &[]);
    let alice = signup(&one.base, "alice", "pass-alice-instances2").await;
    signup(&one.base, "bob", "pass-bob-instances2").await;
    let bob = login(&two.base, "bob", "pass-bob-instances2").await.unwrap();
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut a: Client =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    let mut b: Client = Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    a.batch = 10;
    b.batch = 10;

    // Both write 200 customers and edit one shared record, pushing at the same time.
    let shared_id = RecordId::random();
    a.edit(shared_id, Customer { name: "Shared".into(), ..Default::default() }.to_fields(), now()).await.unwrap();
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    async fn write(c: &mut Client, who: &str) -> BTreeSet<RecordId> {
        let mut mine = BTreeSet::new();
        for i in 0..200 {
            let id = RecordId::random();
            let name = format!("{who} {i}");
            c.edit(id, Customer { name, ..Default::default() }.to_fields(), now()).await.unwrap();
            mine.insert(id);
            if i % 20 == 19 {
                c.sync().await.unwrap();
            }
        }
        mine
    }
    for (c, who) in [(&mut a, "alice"), (&mut b, "bob")] {
        c.edit(shared_id, vec![(field::NOTES.into(), Some(shared::record::Value::Text(who.into())))], now())
            .await
            .unwrap();
    }
    let (mine_a, mine_b) = tokio::join!(write(&mut a, "alice"), write(&mut b, "bob"));
    for _ in 0..3 {
        a.sync().await.unwrap();
        b.sync().await.unwrap();
    }
    let live = |c: &Client| c.replica.live().map(|(id, r)| (*id, (*r.view).clone())).collect::<Vec<_>>();
    assert_eq!(live(&a), live(&b), "both clients hold the same records");
    let ids: BTreeSet<RecordId> = a.replica.live().map(|(id, _)| *id).collect();
    assert!(mine_a.is_subset(&ids) && mine_b.is_subset(&ids));
    assert_eq!(ids.len(), 401);

    // The server's sequence has no gaps and no repeats: 1 + 2 + 400 versions written
    // are numbered 1 to 403 (a push refused for a conflict gives its numbers back), and
    // the newest version of each record holds its own number.
    let rows = one.db.rows("SELECT seq FROM records ORDER BY seq").await;
    let seqs: Vec<i64> = rows.iter().map(|r| sqlx::Row::get::<i64, _>(r, "seq")).collect();
    let distinct: BTreeSet<i64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len(), seqs.len(), "no sequence number twice");
    let team_seq: Vec<i64> =
        one.db.rows("SELECT seq FROM teams").await.iter().map(|r| sqlx::Row::get::<i64, _>(r, "seq")).collect();
    assert_eq!(team_seq, vec![403], "every version written took the next number, none was skipped");
    assert_eq!(seqs.last(), Some(&403));
    assert_eq!(a.replica.cursor, b.replica.cursor);
    assert_eq!(a.replica.cursor, 403, "both clients pulled up to the last number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unapproved_deletion_allowance_is_shared_by_every_instance() {
    if !backend::on_postgres() {
        eprintln!("skipped: several instances share a PostgreSQL database (set {})", backend::ENV);
        return;
    }
    let args = ["--bulk-delete-threshold", "5"];
    let one = TestServer::start_with(&args);
    let two = TestServer::start_on(tempfile::tempdir().unwrap(), one.db.clone(), &args);
    let alice = signup(&one.base, "alice", "pass-alice-instances3").await;
    let phone = login(&two.base, "alice", "pass-alice-instances3").await.unwrap();
    let team = alice.create_team().await;
    let mut a: Client =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    let mut p: Client =
        Syncer::open(phone.session(team).await, MemoryStore::new(), phone.transport(team)).await.unwrap();
    let ids: Vec<RecordId> = (0..10).map(|_| RecordId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        a.edit(*id, Customer { name: format!("Keep {i}"), ..Default::default() }.to_fields(), now()).await.unwrap();
    }
    a.sync().await.unwrap();
    p.sync().await.unwrap();
    let delete =
        |id: &RecordId| (*id, vec![(shared::record::DELETED.to_owned(), Some(shared::record::Value::Bool(true)))]);

    // Four deletions through instance 1, then two more through instance 2: the hour's
    // allowance of five is one count, so the second push is refused whole.
    a.edit_many(ids[..4].iter().map(delete).collect(), now()).await.unwrap();
    a.sync().await.unwrap();
    p.sync().await.unwrap();
    p.edit_many(ids[4..6].iter().map(delete).collect(), now()).await.unwrap();
    match p.sync().await {
        Err(shared::sync::SyncError::Transport(shared::sync::TransportError::Http { status: 403, code, .. })) => {
            assert_eq!(code, "approval_required")
        }
        other => panic!("expected approval_required from instance 2, got {other:?}"),
    }
    a.sync().await.unwrap();
    assert_eq!(a.replica.live().count(), 6, "only the first four were deleted");
}
