//! Roles enforced by keys, and offboarding, against the real server binary:
//! a support member reads the masked phone and holds no key for the sensitive section;
//! removing a member ends their sessions at once and starts a new key epoch that only
//! the remaining members receive; a client still sealing under the old epoch is told
//! to fetch the new keys; and with the removed member's keys and the raw database rows,
//! nothing written after the removal opens. An admin's client then re-encrypts what is
//! left on the old epoch, after which the old wraps are shredded on the server.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{login, signup, HttpTransport};
use server::TestServer;
use shared::api::{path, ActivityResponse, ShredWrapsRequest, ShredWrapsResponse};
use shared::chain::Role;
use shared::crypto::envelope::{Keyring, RecordContext, SealedRecord};
use shared::crypto::Scope;
use shared::domain::{field, Customer, Entity};
use shared::ids::RecordId;
use shared::record::Value;
use shared::sync::memory::MemoryStore;
use shared::sync::seal::open_record;
use shared::sync::{EpochProgress, SyncError, Syncer, TransportError};
use sqlx::Row;

type Client = Syncer<MemoryStore, HttpTransport>;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

async fn client_of(who: &client::Account, team: shared::ids::TeamId) -> Client {
    Syncer::open(who.session(team).await, MemoryStore::new(), who.transport(team)).await.unwrap()
}

fn http_status(e: &SyncError) -> Option<(u16, String)> {
    match e {
        SyncError::Transport(TransportError::Http { status, code, .. }) => Some((*status, code.clone())),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_sees_masks_and_a_removed_member_can_read_nothing_written_after() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-offboard").await;
    let bob = signup(&srv.base, "bob", "pass-bob-offboard").await;
    let sue = signup(&srv.base, "sue", "pass-sue-offboard").await;
    let carol = signup(&srv.base, "carol", "pass-carol-offboard").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    alice.add_member(team, "sue", Role::Support).await;
    alice.add_member(team, "carol", Role::Member).await;

    let mut b = client_of(&bob, team).await;
    let mut s = client_of(&sue, team).await;
    let mut c = client_of(&carol, team).await;
    let coll = b.session.team.shared_collection;

    // Support holds the basic key only: it reads the mask, never the number.
    assert!(s.session.keyring.get(coll, 1, Scope::Sensitive).is_none());
    let before = RecordId::random();
    let customer = Customer {
        name: "Before Removal".into(),
        phone: "13812345678".into(),
        private_notes: "written while bob was in".into(),
        ..Default::default()
    };
    b.edit(before, customer.to_fields(), now()).await.unwrap();
    b.sync().await.unwrap();
    s.sync().await.unwrap();
    let seen = &s.replica.records[&before];
    assert!(!seen.complete);
    assert_eq!(seen.view.text(field::PHONE), None);
    assert_eq!(seen.view.text(field::PRIVATE_NOTES), None);
    assert_eq!(seen.view.text(field::PHONE_MASKED), Some("138****5678"));
    c.sync().await.unwrap();
    let cursor_at_removal = c.replica.cursor;

    // Alice offboards Bob: a new epoch, his sessions gone at once.
    alice.remove_member(team, &bob.name).await;
    let after_removal = b.sync().await.unwrap_err();
    assert_eq!(http_status(&after_removal).map(|s| s.0), Some(401), "{after_removal}");
    let bob_again = login(&srv.base, "bob", "pass-bob-offboard").await.unwrap();
    let refused = bob_again.chain(team, None).await.unwrap_err();
    assert!(refused.contains("403"), "{refused}");

    // Carol still seals under epoch 1: the server sends her for the new keys.
    let after = RecordId::random();
    let secret = Customer {
        name: "After Removal".into(),
        phone: "13987654321".into(),
        notes: "bob must never read this".into(),
        ..Default::default()
    };
    c.edit(after, secret.to_fields(), now()).await.unwrap();
    let stale = c.sync().await.unwrap_err();
    assert_eq!(http_status(&stale), Some((409, "stale_epoch".to_owned())), "{stale}");
    c.session = carol.session(team).await;
    assert_eq!(c.session.team.epoch, 2);
    assert!(c.session.keyring.get(coll, 2, Scope::Sensitive).is_some());
    c.edit(after, vec![(field::STAGE.into(), Some(Value::Text("won".into())))], now()).await.unwrap();
    c.sync().await.unwrap();
    // Support gets the new basic key too, and still no sensitive one.
    s.session = sue.session(team).await;
    assert!(s.session.keyring.get(coll, 2, Scope::Basic).is_some());
    assert!(s.session.keyring.get(coll, 2, Scope::Sensitive).is_none());
    s.sync().await.unwrap();
    assert_eq!(s.replica.records[&after].view.text(field::NAME), Some("After Removal"));

    // The raw rows, opened with everything Bob ever held: what was written before his
    // removal opens, nothing written after does.
    let opens = |row: &RawRow, keys: &Keyring| {
        open_record(&row.sealed, &RecordContext { team, record: row.record }, row.version, keys, &c.session.team)
            .is_ok()
    };
    let rows = raw_rows(&srv).await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        if row.seq > cursor_at_removal {
            assert!(!opens(row, &b.session.keyring), "a record written after the removal opened with bob's keys");
            assert!(row.epoch >= 2);
        } else {
            assert!(opens(row, &b.session.keyring));
        }
    }

    // The admin sees when each remaining member was last active, and on what device;
    // the removed member no longer appears, and a member may not look.
    let act: ActivityResponse = alice.api.get(&path::fill(path::ACTIVITY, &team.to_string())).await.unwrap();
    let names: Vec<&str> = act.members.iter().map(|m| m.username.as_str()).collect();
    assert_eq!(names, ["alice", "carol", "sue"]);
    assert!(act.members.iter().all(|m| m.sessions == 1 && m.last_seen_ms.is_some_and(|t| t > 0)));
    assert_eq!(act.members[0].device.as_deref(), Some("an unknown browser on an unknown system"));
    let denied = carol.api.get::<ActivityResponse>(&path::fill(path::ACTIVITY, &team.to_string())).await;
    assert!(matches!(denied, Err(TransportError::Http { status: 403, .. })));

    // Alice's client re-encrypts what is left on epoch 1; until then shredding is refused.
    let mut a = client_of(&alice, team).await;
    a.sync().await.unwrap();
    assert_eq!(a.epoch_progress(), EpochProgress { total: 2, old: 1 });
    let shred = path::fill(path::SHRED_WRAPS, &team.to_string());
    let early = alice.api.post::<_, ShredWrapsResponse>(&shred, &ShredWrapsRequest { before_epoch: 2 }).await;
    assert!(matches!(early, Err(TransportError::Http { status: 409, .. })), "{early:?}");
    assert_eq!(a.queue_reencryption(500), 1);
    a.sync().await.unwrap();
    assert_eq!(a.epoch_progress(), EpochProgress { total: 2, old: 0 });
    let done: ShredWrapsResponse = alice.api.post(&shred, &ShredWrapsRequest { before_epoch: 2 }).await.unwrap();
    assert!(done.deleted > 0);

    // Now no row opens with Bob's keys, and the remaining members read everything
    // with the epoch-2 keys alone (the epoch-1 wraps are gone from the server).
    let carol_keys = carol.session(team).await.keyring;
    assert!(carol_keys.get(coll, 1, Scope::Basic).is_none(), "old wraps were shredded");
    for row in &raw_rows(&srv).await {
        assert_eq!(row.epoch, 2);
        assert!(!opens(row, &b.session.keyring));
        assert!(opens(row, &carol_keys));
    }
}

struct RawRow {
    record: RecordId,
    version: u64,
    seq: u64,
    epoch: i64,
    sealed: SealedRecord,
}

/// Every record row, read straight from the server's database.
async fn raw_rows(srv: &TestServer) -> Vec<RawRow> {
    let rows = srv.db.rows("SELECT record_id, version, seq, epoch, sealed FROM records").await;
    rows.into_iter()
        .map(|row| RawRow {
            record: RecordId::from_slice(row.get::<Vec<u8>, _>("record_id").as_slice()).unwrap(),
            version: row.get::<i64, _>("version") as u64,
            seq: row.get::<i64, _>("seq") as u64,
            epoch: row.get("epoch"),
            sealed: SealedRecord(row.get("sealed")),
        })
        .collect()
}
