//! The deletion flag is signed (issue 31 item 12): whether a version deletes its record
//! is in the basic section's signed header (envelope v3), and the server counts
//! deletions from it. A member's modified client, sealing with real keys, cannot delete
//! more than the unapproved allowance by saying `tombstone: false`: the server refuses
//! a push whose word disagrees with the header, and a header that lies about the
//! sealed content makes the version open nowhere (readers keep the version before).

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{signup, HttpTransport};
use server::TestServer;
use shared::api::{PushItem, PushRequest};
use shared::chain::Role;
use shared::crypto::envelope::{EnvelopeHeader, RecordContext, SealedEnvelope, SealedRecord};
use shared::crypto::Scope;
use shared::domain::{Customer, Entity};
use shared::hlc::{Hlc, Stamp};
use shared::ids::RecordId;
use shared::record::{FieldState, Value, DELETED};
use shared::sync::memory::MemoryStore;
use shared::sync::seal::Sealer;
use shared::sync::{Syncer, Transport, TransportError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modified_client_cannot_delete_past_the_threshold_by_saying_it_does_not() {
    let srv = TestServer::start_with(&["--bulk-delete-threshold", "20"]);
    let alice = signup(&srv.base, "alice", "pass-alice-flag").await;
    let bob = signup(&srv.base, "bob", "pass-bob-flag").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut b: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    let ids: Vec<RecordId> = (0..30).map(|_| RecordId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        let c = Customer { name: format!("Flag Canary {i}"), owner: "bob".into(), ..Default::default() };
        b.edit(*id, c.to_fields(), 1).await.unwrap();
    }
    b.sync().await.unwrap();
    let mut a: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(a.replica.live().count(), 30);

    // Bob's modified client: every one of his 30 customers deleted, in one push.
    let session = bob.session(team).await;
    let sealer = Sealer {
        me: &bob.name,
        identity: &bob.identity,
        keyring: &session.keyring,
        epoch: session.team.epoch,
        head: session.team.chain_head(),
    };
    let stamp = Stamp { hlc: Hlc { wall_ms: client::wall_clock(), counter: 0 }, author: bob.name.clone() };
    let deleted = |id: &RecordId| {
        let mut doc = (*b.replica.records[id].base).clone();
        doc.apply(DELETED, FieldState { value: Some(Value::Bool(true)), stamp: stamp.clone() });
        doc
    };
    let push = |items: Vec<PushItem>| {
        let req = PushRequest { items, approval: None };
        let t = bob.transport(team);
        async move { t.push(&req).await }
    };
    let refusal = |r: Result<shared::sync::PushOutcome, TransportError>| match r {
        Err(TransportError::Http { status, code, message }) => (status, code, message),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    };
    let item = |id: &RecordId, sealed: SealedRecord, tombstone: bool| PushItem {
        record: *id,
        base_version: b.replica.records[id].version,
        sealed,
        tombstone,
    };

    // Sealed honestly (the header says "deleted"), pushed as no deletion: refused whole.
    let honest: Vec<PushItem> = ids
        .iter()
        .map(|id| {
            let local = &b.replica.records[id];
            let ctx = RecordContext { team, record: *id };
            let sealed = sealer.seal(&ctx, local.collection, local.version + 1, &deleted(id), None).unwrap().0;
            item(id, sealed, false)
        })
        .collect();
    let (status, _, message) = refusal(push(honest.clone()).await);
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("signed header says deleted true"), "{message}");
    // Said as deletions, they are counted: over the threshold, an approval is needed.
    let said: Vec<PushItem> = honest.into_iter().map(|i| PushItem { tombstone: true, ..i }).collect();
    let (status, code, _) = refusal(push(said).await);
    assert_eq!((status, code.as_str()), (403, "approval_required"));

    // A header that lies about what it seals ("not deleted" over a deletion): the
    // server cannot see the content and takes it, but it opens on no member's device,
    // which keeps the version before.
    let lying: Vec<PushItem> = ids
        .iter()
        .map(|id| {
            let local = &b.replica.records[id];
            let ctx = RecordContext { team, record: *id };
            let header = EnvelopeHeader {
                collection: local.collection,
                epoch: session.team.epoch,
                scope: Scope::Basic,
                record_version: local.version + 1,
                author: bob.name.clone(),
                chain: Some(session.team.chain_head()),
                deleted: Some(false),
            };
            let key = session.keyring.get(local.collection, session.team.epoch, Scope::Basic).unwrap();
            let plain = serde_json::to_vec(&deleted(id)).unwrap();
            let env = SealedEnvelope::seal(&plain, &header, &ctx, &[0; 32], key, &bob.identity);
            item(id, SealedRecord::from_envelopes(&env, None), false)
        })
        .collect();
    push(lying).await.expect("the server cannot see a lie inside the ciphertext");
    a.sync().await.unwrap();
    assert_eq!(a.replica.live().count(), 30, "Alice keeps every customer");
    assert!(ids.iter().all(|id| a.replica.unreadable.contains(id)), "none of the lying versions opened");
    assert!(ids.iter().all(|id| a.replica.records[id].version == 1));

    // An envelope without the flag (version 2, what clients wrote before) is no longer
    // taken as a new version.
    let v2 = {
        let id = RecordId::random();
        let ctx = RecordContext { team, record: id };
        let header = EnvelopeHeader {
            collection: session.team.shared_collection,
            epoch: session.team.epoch,
            scope: Scope::Basic,
            record_version: 1,
            author: bob.name.clone(),
            chain: Some(session.team.chain_head()),
            deleted: None,
        };
        let key = session.keyring.get(header.collection, header.epoch, Scope::Basic).unwrap();
        let env = SealedEnvelope::seal(b"{\"fields\":{}}", &header, &ctx, &[0; 32], key, &bob.identity);
        PushItem { record: id, base_version: 0, sealed: SealedRecord::from_envelopes(&env, None), tombstone: false }
    };
    let (status, _, message) = refusal(push(vec![v2]).await);
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("envelope version 3"), "{message}");
}
