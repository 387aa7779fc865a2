//! Two native clients (the shared sync engine over real HTTP and websocket) against the
//! real server binary on a temporary SQLite file: offline edits converge, the second
//! client learns of the first one's push through a websocket poke, and afterwards no
//! byte the server wrote contains any customer data or secret.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use std::sync::atomic::Ordering;
use std::time::Duration;

use client::{login, signup, HttpTransport};
use server::{contains, TestServer};
use shared::chain::Role;
use shared::domain::{field, Channel, Customer, Entity, Interaction};
use shared::ids::RecordId;
use shared::record::{RecordDoc, Value};
use shared::sync::memory::MemoryStore;
use shared::sync::{SyncError, Syncer, TransportError};

const ALICE_PASS: &str = "canary-pass-alice-Hx7!winter";
const BOB_PASS: &str = "canary-pass-bob-Qm2!summer";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn text(s: &str) -> Option<Value> {
    Some(Value::Text(s.into()))
}

type Client = Syncer<MemoryStore, HttpTransport>;

fn visible(c: &Client) -> Vec<(RecordId, RecordDoc)> {
    c.replica.live().map(|(id, r)| (*id, (*r.view).clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_converge_through_the_blind_server() {
    let mut srv = TestServer::start();
    let alice = signup(&srv.base, "alice", ALICE_PASS).await;
    let bob_signup = signup(&srv.base, "bob", BOB_PASS).await;
    drop(bob_signup);
    // Bob logs in from a "new device": his keys come back from the sealed bundle.
    let bob = login(&srv.base, "bob", BOB_PASS).await.unwrap();
    assert!(login(&srv.base, "bob", "wrong passphrase").await.is_err());

    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;

    let mut a: Client =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    let mut b: Client = Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    let coll = a.session.team.shared_collection;
    assert_eq!(b.session.team.shared_collection, coll);

    // Both go offline and write.
    alice.api.offline.store(true, Ordering::SeqCst);
    bob.api.offline.store(true, Ordering::SeqCst);
    a.transport.api.offline.store(true, Ordering::SeqCst);
    b.transport.api.offline.store(true, Ordering::SeqCst);

    let shared_id = RecordId::random();
    let zhang = Customer {
        name: "Canary Zhang Wei".into(),
        company: "Canary Steel Works".into(),
        phone: "13811112222".into(),
        email: "canary.zhang@example.cn".into(),
        notes: "canary-note: wants a discount before Spring Festival".into(),
        private_notes: "canary-private: owes us money".into(),
        ..Default::default()
    };
    a.edit(shared_id, zhang.to_fields(), now()).await.unwrap();
    let a_only = RecordId::random();
    a.edit(
        a_only,
        Customer { name: "Canary Li Na".into(), phone: "13933334444".into(), ..Default::default() }.to_fields(),
        now(),
    )
    .await
    .unwrap();
    let b_only = RecordId::random();
    b.edit(
        b_only,
        Customer { name: "Canary Wang Fang".into(), email: "canary.wang@example.cn".into(), ..Default::default() }
            .to_fields(),
        now(),
    )
    .await
    .unwrap();
    let interaction = RecordId::random();
    b.edit(
        interaction,
        Interaction {
            customer: b_only.to_string(),
            channel: Channel::WeChat,
            at_ms: now() as i64,
            summary: "canary-wechat: sent the quote".into(),
        }
        .to_fields(),
        now(),
    )
    .await
    .unwrap();
    assert!(matches!(a.sync().await, Err(SyncError::Transport(TransportError::Offline))));
    assert_eq!(a.replica.pending_count(), 2);

    // Reconnect: everyone converges.
    for c in [&a, &b] {
        c.transport.api.offline.store(false, Ordering::SeqCst);
    }
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(visible(&a), visible(&b));
    assert_eq!(visible(&a).len(), 4);
    assert_eq!(Customer::from_doc(&a.replica.records[&shared_id].view).unwrap(), zhang);

    // Concurrent offline edits of one record: different fields, and the same field.
    for c in [&a, &b] {
        c.transport.api.offline.store(true, Ordering::SeqCst);
    }
    a.edit(shared_id, vec![(field::PHONE.into(), text("13855556666"))], now()).await.unwrap();
    b.edit(shared_id, vec![(field::NOTES.into(), text("canary-note: prefers WeChat after 6pm"))], now()).await.unwrap();
    a.edit(shared_id, vec![(field::COMPANY.into(), text("Canary Steel (Alice)"))], now()).await.unwrap();
    b.edit(shared_id, vec![(field::COMPANY.into(), text("Canary Steel (Bob)"))], now()).await.unwrap();
    for c in [&a, &b] {
        c.transport.api.offline.store(false, Ordering::SeqCst);
    }
    a.sync().await.unwrap();
    // Bob reads first (a sync pulls, then pushes): Alice's version is merged into his
    // before his edits are sealed (a 409, when pushes race, merges the same way: see
    // the engine's tests).
    let report = b.sync().await.unwrap();
    assert!(report.pulled + report.conflicts_merged >= 1, "bob took in alice's newer version: {report:?}");
    a.sync().await.unwrap();
    assert_eq!(visible(&a), visible(&b));
    let merged = &a.replica.records[&shared_id].view;
    assert_eq!(merged.text(field::PHONE), Some("13855556666"), "alice's phone edit survived");
    assert_eq!(merged.text(field::NOTES), Some("canary-note: prefers WeChat after 6pm"), "bob's notes edit survived");
    let company = merged.text(field::COMPANY).unwrap();
    assert!(company == "Canary Steel (Alice)" || company == "Canary Steel (Bob)");
    assert_eq!(b.replica.records[&shared_id].view.text(field::COMPANY), Some(company), "same winner on both");

    // Bob listens; Alice pushes; Bob hears a poke (no polling) and only then pulls.
    let mut events = bob.events(team).await;
    let fresh = RecordId::random();
    a.edit(
        fresh,
        Customer { name: "Canary Zhao Lei".into(), phone: "13677778888".into(), ..Default::default() }.to_fields(),
        now(),
    )
    .await
    .unwrap();
    assert!(!b.replica.records.contains_key(&fresh));
    a.sync().await.unwrap();
    let pushed_cursor = a.replica.cursor;
    let poked = tokio::time::timeout(Duration::from_secs(10), events.poked_past(pushed_cursor))
        .await
        .expect("poke within 10 s");
    assert!(poked >= pushed_cursor);
    b.sync().await.unwrap();
    assert_eq!(b.replica.records[&fresh].view.text(field::NAME), Some("Canary Zhao Lei"));
    assert_eq!(visible(&a), visible(&b));

    // Zero knowledge: nothing the server wrote holds a canary or a secret.
    let canaries = [
        "Canary",
        "canary",
        "13811112222",
        "13855556666",
        "13933334444",
        "13677778888",
        "example.cn",
        "Spring Festival",
        "owes us money",
        "sent the quote",
        "prefers WeChat",
        ALICE_PASS,
        BOB_PASS,
        &alice.token,
        &bob.token,
    ];
    let written = srv.everything_written().await;
    if srv.db.sqlite_path().is_some() {
        assert!(written.iter().any(|(n, b)| n == "quietdesk.sqlite-wal" && !b.is_empty()), "WAL checked while live");
    } else {
        assert!(written.iter().any(|(n, b)| n == "records" && b.len() > 1000), "the records table was read");
    }
    assert!(written.iter().any(|(n, b)| n == "server.log" && !b.is_empty()));
    srv.stop();
    let mut after = srv.everything_written().await;
    after.extend(written);
    for (file, bytes) in &after {
        for c in canaries {
            assert!(!contains(bytes, c), "{file} contains {c:?}");
        }
    }
    // The log did record the activity (so the check above is not vacuous).
    let log = String::from_utf8_lossy(&after.iter().find(|(n, _)| n == "server.log").unwrap().1).into_owned();
    assert!(log.contains("push committed") && log.contains("login"));
}
