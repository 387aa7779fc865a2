//! Quotas of stored bytes (issue 31, item 12): a member cannot push more than their
//! share, nor a team more than its quota, of sealed record versions, so no one fills
//! the tabs that load the team's records at unlock. A push over is refused whole with a
//! code the client names in a sentence; deletions still go through; the counts are the
//! database's (every instance on it agrees).

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{signup, HttpTransport};
use server::TestServer;
use shared::chain::Role;
use shared::domain::{field, Customer, Entity};
use shared::ids::RecordId;
use shared::record::{Value, DELETED};
use shared::sync::memory::MemoryStore;
use shared::sync::{SyncError, Syncer, TransportError};

fn refused_code(r: Result<shared::sync::SyncReport, SyncError>) -> String {
    match r {
        Err(SyncError::Transport(TransportError::Http { status: 403, code, .. })) => code,
        other => panic!("expected a quota refusal, got {other:?}"),
    }
}

/// Write customers named `prefix i` one push at a time until the server refuses one:
/// how many it took, and the refusal's code.
async fn fill(s: &mut Syncer<MemoryStore, HttpTransport>, prefix: &str, owner: &str) -> (Vec<RecordId>, String) {
    let mut taken = Vec::new();
    for i in 0..200 {
        let id = RecordId::random();
        let c = Customer { name: format!("{prefix} {i}"), owner: owner.into(), ..Default::default() };
        s.edit(id, c.to_fields(), 1).await.unwrap();
        match s.sync().await {
            Ok(_) => taken.push(id),
            r => return (taken, refused_code(r)),
        }
    }
    panic!("no quota was reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_past_the_member_or_team_quota_is_refused_and_deletions_still_go_through() {
    // A customer seals to well under 1 KiB: Bob may hold a few, the team a few more.
    let srv = TestServer::start_with(&["--member-quota-bytes", "6000", "--team-quota-bytes", "10000"]);
    let alice = signup(&srv.base, "alice", "pass-alice-quota").await;
    let bob = signup(&srv.base, "bob", "pass-bob-quota").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut b: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    let mut a: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();

    let (bobs, code) = fill(&mut b, "Quota Canary", "bob").await;
    assert_eq!(code, "member_quota_exceeded");
    assert!(bobs.len() >= 3, "Bob's share holds a few customers: {}", bobs.len());
    assert_eq!(b.replica.pending_count(), 1, "the refused edit waits on Bob's device");
    let (_, code) = fill(&mut a, "Quota Canary A", "alice").await;
    assert_eq!(code, "team_quota_exceeded");

    // Over both quotas, Bob still deletes customers (from his phone, which has no
    // refused edit waiting): a deletion's growth is not judged.
    let mut phone: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    phone.sync().await.unwrap();
    let delete = |id: &RecordId| (*id, vec![(DELETED.to_owned(), Some(Value::Bool(true)))]);
    phone.edit_many(bobs[..2].iter().map(delete).collect(), 2).await.unwrap();
    phone.sync().await.expect("deleting is never refused for space");
    assert_eq!(phone.replica.live().count(), bobs.len() - 2, "Alice's are in her portfolio");
    // Alice takes the freed space back until the team is full again; then Bob's waiting
    // customer, with a long note added to another of his, is refused naming the team
    // (the team's quota is judged first; the note outgrows whatever space is left).
    let (_, code) = fill(&mut a, "Quota Canary A2", "alice").await;
    assert_eq!(code, "team_quota_exceeded");
    b.edit(bobs[2], vec![(field::NOTES.to_owned(), Some(Value::Text("n".repeat(1500))))], 3).await.unwrap();
    assert_eq!(refused_code(b.sync().await), "team_quota_exceeded");
}
