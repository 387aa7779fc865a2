//! The server stores the team chain but cannot bend it: wrong links, forks, entries by
//! non-admins or signed by someone other than the caller are refused, and membership
//! (who may push and pull) follows the verified chain.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/inproc.rs"]
mod inproc;

use quietdesk_server::Config;
use shared::api::{path, AppendChainRequest, ChainResponse, TeamSummary};
use shared::chain::{Acceptance, Action, ChainEntry, Member, Role};
use shared::ids::InviteId;
use shared::sync::TransportError;

fn status(r: Result<TeamSummary, TransportError>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(TransportError::Http { status, .. }) => status,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn the_server_refuses_bad_links_forks_and_non_admin_entries() {
    let srv = inproc::spawn(Config::default()).await;
    let alice = client::signup(&srv.base, "alice", "alice passphrase").await;
    let bob = client::signup(&srv.base, "bob", "bob passphrase").await;
    let carol = client::signup(&srv.base, "carol", "carol passphrase").await;
    let team = alice.create_team().await;
    let chain_path = path::fill(path::CHAIN, &team.to_string());

    // Non-members cannot read the chain.
    assert!(matches!(bob.api.get::<ChainResponse>(&chain_path).await, Err(TransportError::Http { status: 403, .. })));

    alice.add_member(team, "bob", Role::Member).await;
    let state = alice.chain(team, None).await.unwrap();
    let add_carol = |prev, index| {
        ChainEntry::signed(team, index, prev, &alice.name, &alice.identity, 0, {
            let member =
                Member { username: carol.name.clone(), identity: carol.identity.public(), role: Role::Support };
            let acceptance =
                Acceptance::sign(team, InviteId([1; 16]), Some(alice.name.clone()), &member, &carol.identity);
            Action::Admit { member, acceptance }
        })
    };

    // Wrong prev-hash.
    let bad = add_carol([7; 32], state.len);
    assert_eq!(status(alice.api.post(&chain_path, &AppendChainRequest { entry: bad, approval: None }).await), 400);
    // A stale index (a fork of entry 1).
    let fork = add_carol(alice.chain(team, None).await.unwrap().head, 1);
    assert_eq!(status(alice.api.post(&chain_path, &AppendChainRequest { entry: fork, approval: None }).await), 409);
    // Bob is a member, not an admin.
    let by_bob = ChainEntry::signed(
        team,
        state.len,
        state.head,
        &bob.name,
        &bob.identity,
        0,
        Action::ChangeRole { username: bob.name.clone(), role: Role::Admin },
    );
    assert_eq!(status(bob.api.post(&chain_path, &AppendChainRequest { entry: by_bob, approval: None }).await), 400);
    // Bob uploading an entry signed by Alice.
    let alices = add_carol(state.head, state.len);
    assert_eq!(
        status(bob.api.post(&chain_path, &AppendChainRequest { entry: alices.clone(), approval: None }).await),
        403
    );
    // The right one is accepted, once.
    assert_eq!(
        status(alice.api.post(&chain_path, &AppendChainRequest { entry: alices.clone(), approval: None }).await),
        200
    );
    assert_eq!(status(alice.api.post(&chain_path, &AppendChainRequest { entry: alices, approval: None }).await), 409);

    let c: ChainResponse = carol.api.get(&chain_path).await.unwrap();
    assert_eq!(c.entries.len(), 3, "carol is now a member and reads the chain");

    // Removal takes effect on access at once.
    let s = alice.chain(team, None).await.unwrap();
    let remove = ChainEntry::signed(
        team,
        s.len,
        s.head,
        &alice.name,
        &alice.identity,
        0,
        Action::RemoveMember { username: carol.name.clone() },
    );
    assert_eq!(status(alice.api.post(&chain_path, &AppendChainRequest { entry: remove, approval: None }).await), 200);
    // Her sessions ended in this team with the removal; a fresh log-in is no longer a member.
    assert!(matches!(carol.api.get::<ChainResponse>(&chain_path).await, Err(TransportError::Http { status: 401, .. })));
    let carol = client::login(&srv.base, "carol", "carol passphrase").await.unwrap();
    assert!(matches!(carol.api.get::<ChainResponse>(&chain_path).await, Err(TransportError::Http { status: 403, .. })));
}
