//! The server checks every pushed section's signature against its author's registered
//! key (issue 31 item 12): a member's modified client cannot have the server store and
//! relay a section nobody signed, or one in a colleague's name. Clients check every
//! signature against the verified chain whatever the server does; this keeps an honest
//! server from handing junk to every member's tab.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::signup;
use server::TestServer;
use shared::api::{PushItem, PushRequest};
use shared::chain::Role;
use shared::crypto::envelope::{RecordContext, SealedEnvelope, SealedRecord};
use shared::domain::field;
use shared::hlc::{Hlc, Stamp};
use shared::ids::RecordId;
use shared::record::{FieldState, RecordDoc, Value};
use shared::sync::seal::Sealer;
use shared::sync::{Transport, TransportError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_signatures_do_not_hold_is_refused_and_stores_nothing() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-signatures").await;
    let bob = signup(&srv.base, "bob", "pass-bob-signatures").await;
    let carol = signup(&srv.base, "carol", "pass-carol-signatures").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    alice.add_member(team, "carol", Role::Member).await;
    let bob_session = bob.session(team).await;
    let carol_session = carol.session(team).await;
    let coll = bob_session.team.shared_collection;
    let seal = |who: &client::Account, session: &shared::sync::Session, record: RecordId, name: &str| {
        let mut doc = RecordDoc::new();
        let stamp = Stamp { hlc: Hlc { wall_ms: client::wall_clock(), counter: 0 }, author: who.name.clone() };
        doc.apply(field::KIND, FieldState { value: Some(Value::Text("customer".into())), stamp: stamp.clone() });
        doc.apply(field::NAME, FieldState { value: Some(Value::Text(name.into())), stamp });
        let sealer = Sealer {
            me: &who.name,
            identity: &who.identity,
            keyring: &session.keyring,
            epoch: session.team.epoch,
            head: session.team.chain_head(),
        };
        sealer.seal(&RecordContext { team, record }, coll, 1, &doc, None).unwrap().0
    };
    let push = |who: &client::Account, sealed: SealedRecord, record: RecordId| {
        let req =
            PushRequest { items: vec![PushItem { record, base_version: 0, sealed, tombstone: false }], approval: None };
        let t = who.transport(team);
        async move { t.push(&req).await }
    };
    let refused = |r: Result<shared::sync::PushOutcome, TransportError>| match r {
        Err(TransportError::Http { status, code, message }) => (status, format!("{code}: {message}")),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    };

    // A signature byte changed: junk the server must not relay.
    let id = RecordId::random();
    let mut junk = seal(&bob, &bob_session, id, "Junk").0;
    let last = junk.len() - 1;
    junk[last] ^= 1;
    let (status, body) = refused(push(&bob, SealedRecord(junk), id).await);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("signature does not hold"), "{body}");

    // Carol's header (her name, her ciphertext) under Bob's signature: whoever pushes it,
    // it is not Carol's signature.
    let (carols, _) = seal(&carol, &carol_session, id, "Carol's").envelopes().unwrap();
    let (bobs, _) = seal(&bob, &bob_session, id, "Bob's").envelopes().unwrap();
    let mut spliced = carols.0[..carols.0.len() - 64].to_vec();
    spliced.extend_from_slice(&bobs.0[bobs.0.len() - 64..]);
    let forged = SealedRecord::from_envelopes(&SealedEnvelope(spliced), None);
    let (status, body) = refused(push(&carol, forged.clone(), id).await);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("signature does not hold"), "{body}");
    let (status, body) = refused(push(&bob, forged, id).await);
    assert_eq!(status, 400, "sealed by someone else: {body}");

    // Nothing was stored: an honest push of the same record, as its first version, goes through.
    let honest = seal(&bob, &bob_session, id, "Honest");
    push(&bob, honest, id).await.expect("an honest push is taken");
}

/// A section sealed on a chain head the team's chain never had (a made-up length or
/// hash, what a member's modified client would use to make every reader doubt the
/// chain) is refused by the server (issue 31 item 4, its defence while honest); one
/// sealed on an older head the chain did have is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_section_sealed_on_a_head_the_chain_never_had_is_refused() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-heads").await;
    let bob = signup(&srv.base, "bob", "pass-bob-heads").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let session = bob.session(team).await;
    let real = session.team.chain_head();
    let seal = |record: RecordId, head: shared::crypto::envelope::ChainHead| {
        let mut doc = RecordDoc::new();
        let stamp = Stamp { hlc: Hlc { wall_ms: client::wall_clock(), counter: 0 }, author: bob.name.clone() };
        doc.apply(field::KIND, FieldState { value: Some(Value::Text("customer".into())), stamp });
        let sealer = Sealer {
            me: &bob.name,
            identity: &bob.identity,
            keyring: &session.keyring,
            epoch: session.team.epoch,
            head,
        };
        let coll = session.team.shared_collection;
        sealer.seal(&RecordContext { team, record }, coll, 1, &doc, None).unwrap().0
    };
    let push = |record: RecordId, sealed: SealedRecord| {
        let req =
            PushRequest { items: vec![PushItem { record, base_version: 0, sealed, tombstone: false }], approval: None };
        let t = bob.transport(team);
        async move { t.push(&req).await }
    };
    use shared::crypto::envelope::ChainHead;
    for (what, head) in [
        ("longer than the chain", ChainHead { len: real.len + 5, hash: [7; 32] }),
        ("a fork at a length it has", ChainHead { len: real.len, hash: [9; 32] }),
        ("length 0", ChainHead { len: 0, hash: real.hash }),
    ] {
        let id = RecordId::random();
        match push(id, seal(id, head)).await {
            Err(TransportError::Http { status: 400, message, .. }) => {
                assert!(message.contains("chain head"), "{what}: {message}")
            }
            other => panic!("{what}: expected a refusal, got {:?}", other.map(|_| ())),
        }
    }
    // The head before Alice added Bob (length 1, the genesis): a real, older head.
    let genesis = ChainHead { len: 1, hash: session.team.heads[0] };
    for head in [real, genesis] {
        let id = RecordId::random();
        push(id, seal(id, head)).await.expect("a head the chain had is taken");
    }
}

/// A new record starts at version 1 (issue 31 item 3): a member's client cannot create
/// one "at version 2" — a history with an earlier version nobody can check — on a
/// server that was never restored. (After a restore, clients give back at the versions
/// they hold what the restored copy lacks; `server/tests/restore.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_record_above_version_1_is_refused_on_a_server_never_restored() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-versions").await;
    let team = alice.create_team().await;
    let session = alice.session(team).await;
    let sealer = Sealer {
        me: &alice.name,
        identity: &alice.identity,
        keyring: &session.keyring,
        epoch: session.team.epoch,
        head: session.team.chain_head(),
    };
    let mut doc = RecordDoc::new();
    let stamp = Stamp { hlc: Hlc { wall_ms: client::wall_clock(), counter: 0 }, author: alice.name.clone() };
    doc.apply(field::KIND, FieldState { value: Some(Value::Text("customer".into())), stamp });
    let id = RecordId::random();
    let ctx = RecordContext { team, record: id };
    let coll = session.team.shared_collection;
    let push = |base_version: u64| {
        let sealed = sealer.seal(&ctx, coll, base_version + 1, &doc, None).unwrap().0;
        let req = PushRequest {
            items: vec![PushItem { record: id, base_version, sealed, tombstone: false }],
            approval: None,
        };
        let t = alice.transport(team);
        async move { t.push(&req).await }
    };
    match push(1).await {
        Err(TransportError::Http { status: 400, message, .. }) => assert!(message.contains("version 1"), "{message}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    push(0).await.expect("created at version 1");
    push(1).await.expect("then its version 2");

    // Sealed above its next version (what a put-back after a restore does): on a server
    // never restored, a stale base is told what moved on, a current one is refused.
    let above = |base_version: u64, version: u64| {
        let sealed = sealer.seal(&ctx, coll, version, &doc, None).unwrap().0;
        let req = PushRequest {
            items: vec![PushItem { record: id, base_version, sealed, tombstone: false }],
            approval: None,
        };
        let t = alice.transport(team);
        async move { t.push(&req).await }
    };
    match above(1, 5).await {
        Ok(shared::sync::PushOutcome::Conflict(moved)) => assert_eq!(moved[0].version, 2),
        other => panic!("expected a conflict, got {:?}", other.map(|_| ())),
    }
    match above(2, 5).await {
        Err(TransportError::Http { status: 400, message, .. }) => assert!(message.contains("restored"), "{message}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    push(2).await.expect("its next version still goes");
}
