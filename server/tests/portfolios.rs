//! Per-member portfolios against the real server binary: a member's customers are
//! sealed in their own collection; another member neither receives them (the server
//! filters, as defence in depth) nor could open them from the raw database rows (the
//! keys are the boundary); the server refuses a member's write into someone else's
//! portfolio and an admin's wrap of a portfolio key to a member it does not belong to;
//! support reads the mask; reassigning a customer moves it, with its interactions, to
//! the new owner's portfolio, and the previous owner's client drops its copy.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{signup, HttpTransport};
use server::TestServer;
use shared::api::{path, PullResponse, PushRequest};
use shared::chain::Role;
use shared::crypto::envelope::{Keyring, RecordContext};
use shared::crypto::wrap::{WrapContext, WrapPurpose};
use shared::crypto::{CryptoError, Scope, SymmetricKey};
use shared::domain::{field, Channel, Customer, Entity, Interaction};
use shared::ids::RecordId;
use shared::record::{RecordDoc, Value};
use shared::sync::memory::MemoryStore;
use shared::sync::seal::{open_record, Sealer};
use shared::sync::{SyncError, Syncer, Transport, TransportError};
use shared::team::{portfolio, Distributor};
use sqlx::Row;

type Client = Syncer<MemoryStore, HttpTransport>;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

async fn client_of(who: &client::Account, team: shared::ids::TeamId) -> Client {
    Syncer::open(who.session(team).await, MemoryStore::new(), who.transport(team)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_decrypt_another_members_portfolio() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-portfolio").await;
    let bob = signup(&srv.base, "bob", "pass-bob-portfolio").await;
    let carol = signup(&srv.base, "carol", "pass-carol-portfolio").await;
    let sue = signup(&srv.base, "sue", "pass-sue-portfolio").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    alice.add_member(team, "carol", Role::Member).await;
    alice.add_member(team, "sue", Role::Support).await;
    let (mut a, mut b, mut c, mut s) = (
        client_of(&alice, team).await,
        client_of(&bob, team).await,
        client_of(&carol, team).await,
        client_of(&sue, team).await,
    );
    let (bobs, carols) = (portfolio(team, &bob.name), portfolio(team, &carol.name));

    // Bob's customer and his call with it are sealed in his portfolio.
    let (x, call) = (RecordId::random(), RecordId::random());
    let customer = Customer {
        name: "Canary Portfolio Owner".into(),
        phone: "13812341234".into(),
        owner: "bob".into(),
        private_notes: "canary-portfolio-note".into(),
        ..Default::default()
    };
    b.edit(x, customer.to_fields(), now()).await.unwrap();
    let i = Interaction { customer: x.to_string(), channel: Channel::WeChat, at_ms: 1, summary: "canary chat".into() };
    b.edit(call, i.to_fields(), now()).await.unwrap();
    b.sync().await.unwrap();
    assert_eq!(collections_on_server(&srv).await, vec![(x, bobs), (call, bobs)].into_iter().collect());

    // Carol, a member, is not sent them, and holds no key for them either: the raw
    // rows do not open with everything she holds.
    let r = c.sync().await.unwrap();
    assert_eq!((r.pulled, r.unreadable), (0, 0));
    assert!(c.replica.records.is_empty());
    // A first sync's progress count counts only what the puller is sent.
    let pull = path::fill(path::PULL, &team.to_string());
    let counted = format!("{pull}?since=0&limit=1&count=true");
    let for_alice: PullResponse = alice.api.get(&counted).await.unwrap();
    assert_eq!((for_alice.changes.len(), for_alice.more, for_alice.remaining), (1, true, Some(2)));
    let for_carol: PullResponse = carol.api.get(&counted).await.unwrap();
    assert_eq!((for_carol.changes.len(), for_carol.remaining), (0, Some(0)));
    let uncounted: PullResponse = carol.api.get(&format!("{pull}?since=0")).await.unwrap();
    assert_eq!(uncounted.remaining, None);
    assert!(c.session.keyring.collections().iter().all(|&k| k != bobs));
    for (record, version, sealed) in raw_rows(&srv).await {
        let opened =
            open_record(&sealed, &RecordContext { team, record }, version, &c.session.keyring, &c.session.team);
        assert!(matches!(opened, Err(CryptoError::NoKey)), "carol opened a row of bob's portfolio");
    }
    // Support reads the basic section of Bob's portfolio: the mask, not the number.
    s.sync().await.unwrap();
    let seen = &s.replica.records[&x].view;
    assert_eq!((seen.text(field::PHONE), seen.text(field::PHONE_MASKED)), (None, Some("138****1234")));
    assert_eq!(seen.text(field::PRIVATE_NOTES), None);

    // Defence in depth: a ciphertext Carol seals into Bob's portfolio id (under a key
    // she made up) is refused by the server, as is a wrap of Bob's key to Carol.
    let mut made_up = Keyring::new();
    made_up.insert(bobs, 1, Scope::Basic, SymmetricKey::generate());
    let sealer = Sealer {
        me: &carol.name,
        identity: &carol.identity,
        keyring: &made_up,
        epoch: 1,
        head: a.session.team.chain_head(),
    };
    let forged = RecordId::random();
    let (sealed, _) = sealer.seal(&RecordContext { team, record: forged }, bobs, 1, &RecordDoc::new(), None).unwrap();
    let item = shared::api::PushItem { record: forged, base_version: 0, sealed, tombstone: false };
    match carol.transport(team).push(&PushRequest { items: vec![item], approval: None }).await {
        Err(TransportError::Http { status: 403, .. }) => {}
        _ => panic!("the server took a member's write into another member's portfolio"),
    }
    let state = alice.chain(team, None).await.unwrap();
    let ctx = WrapContext {
        purpose: WrapPurpose::TeamKey,
        team,
        epoch: 1,
        collection: bobs,
        scope: Scope::Basic,
        recipient: carol.name.clone(),
    };
    let key = a.session.keyring.get(bobs, 1, Scope::Basic).unwrap();
    let wrap =
        Distributor { name: &alice.name, identity: &alice.identity }.wrap(ctx, key, &carol.identity.public()).unwrap();
    let refused = alice.put_wraps(team, vec![wrap]).await.unwrap_err();
    assert!(matches!(refused, TransportError::Http { status: 400, .. }), "{refused}");
    assert_eq!(state.epoch, 1);

    // Bob may not hand his customer to Carol: he holds no key for her portfolio.
    let to_carol = vec![(field::OWNER.to_owned(), Some(Value::Text("carol".into())))];
    assert!(matches!(b.edit(x, to_carol.clone(), now()).await, Err(SyncError::NotAllowed(_))));

    // The admin reassigns it: customer and interaction move to Carol's portfolio.
    a.sync().await.unwrap();
    a.edit(x, to_carol, now()).await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(collections_on_server(&srv).await, vec![(x, carols), (call, carols)].into_iter().collect());
    c.sync().await.unwrap();
    assert_eq!(c.replica.records[&x].view.text(field::PRIVATE_NOTES), Some("canary-portfolio-note"));
    assert_eq!(c.replica.records[&call].view.text(field::SUMMARY), Some("canary chat"));
    // Bob's client learns the records left his portfolio and drops them.
    b.sync().await.unwrap();
    assert!(!b.replica.records.contains_key(&x) && !b.replica.records.contains_key(&call));
}

async fn collections_on_server(srv: &TestServer) -> std::collections::BTreeMap<RecordId, shared::ids::CollectionId> {
    raw_rows(srv).await.into_iter().map(|(id, _, sealed)| (id, sealed.inspect().unwrap().collection)).collect()
}

async fn raw_rows(srv: &TestServer) -> Vec<(RecordId, u64, shared::crypto::envelope::SealedRecord)> {
    let rows = srv.db.rows("SELECT record_id, version, sealed FROM records").await;
    rows.into_iter()
        .map(|row| {
            (
                RecordId::from_slice(row.get::<Vec<u8>, _>("record_id").as_slice()).unwrap(),
                row.get::<i64, _>("version") as u64,
                shared::crypto::envelope::SealedRecord(row.get("sealed")),
            )
        })
        .collect()
}
