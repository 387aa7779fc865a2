//! Invitations a server cannot hijack, against the real server binary: the joiner's
//! keys travel through the server with a MAC made from the link's secret (which the
//! server never sees); an admin's client adds only keys that verify. A server that
//! swaps the keys in transit — done here by rewriting the stored row — is caught.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{signup, Invitation};
use server::TestServer;
use shared::api::{path, AcceptInviteRequest, InviteList};
use shared::chain::{Acceptance, Member, Role};
use shared::crypto::identity::IdentityKeys;
use shared::ids::InviteId;
use shared::invite::InviteSecret;
use shared::sync::TransportError;

fn status<T: std::fmt::Debug>(r: &Result<T, TransportError>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(TransportError::Http { status, .. }) => *status,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_admit_the_real_joiner_and_refuse_swapped_keys() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-invite").await;
    let bob = signup(&srv.base, "bob", "pass-bob-invite").await;
    let carol = signup(&srv.base, "carol", "pass-carol-invite").await;
    let team = alice.create_team().await;

    // Bob answers the link; Alice's client verifies and adds him with the invited role.
    let link = alice.create_invite(team, Role::Support).await;
    let invite = link.invite;
    assert_eq!(status(&bob.invites(team).await), 403, "only admins list invitations");
    bob.accept_invite(&link).await.unwrap();
    assert_eq!(status(&carol.accept_invite(&link).await), 409, "one answer per invitation");
    let info = alice.invites(team).await.unwrap().into_iter().find(|i| i.invite == invite).unwrap();
    assert_eq!(info.accepted.as_ref().unwrap().username, bob.name);
    alice.admit(&link, &info).await.unwrap();
    let state = alice.chain(team, None).await.unwrap();
    assert_eq!(state.members[&bob.name].role, Role::Support);
    assert_eq!(state.members[&bob.name].identity, bob.identity.public());
    assert!(alice.invites(team).await.unwrap().is_empty(), "a used invitation is closed");
    let bob_keys = bob.session(team).await.keyring;
    // The basic key of each collection (shared, and the admin's portfolio), nothing else.
    assert_eq!(bob_keys.len(), 2);
    assert!(
        bob_keys.iter().all(|(_, _, scope, _)| scope == shared::crypto::Scope::Basic),
        "support holds basic keys only"
    );

    // Carol answers a second link, then the "server" swaps her keys for Mallory's.
    let link2 = alice.create_invite(team, Role::Member).await;
    let invite2 = link2.invite;
    carol.accept_invite(&link2).await.unwrap();
    let mallory = IdentityKeys::generate().public();
    srv.db
        .exec(
            "UPDATE invites SET sign_pk = $1, dh_pk = $2 WHERE invite_id = $3",
            &[mallory.sign_pk.as_slice(), mallory.dh_pk.as_slice(), invite2.as_bytes().as_slice()],
        )
        .await;
    let info2 = alice.invites(team).await.unwrap().into_iter().find(|i| i.invite == invite2).unwrap();
    assert_eq!(info2.accepted.as_ref().unwrap().identity, mallory);
    let refused = alice.admit(&link2, &info2).await.unwrap_err();
    assert!(refused.contains("do not match"), "{refused}");
    assert!(!alice.chain(team, None).await.unwrap().members.contains_key(&carol.name), "nobody was added");

    // A guessed secret, another team's id, or keys that are not the caller's: refused.
    let link3 = alice.create_invite(team, Role::Member).await;
    let invite3 = link3.invite;
    let other_team = carol.create_team().await;
    let elsewhere = |team, invite| Invitation {
        team,
        invite,
        secret: InviteSecret::generate(),
        role: Role::Member,
        inviter: alice.name.clone(),
    };
    assert_eq!(status(&carol.accept_invite(&elsewhere(other_team, invite3)).await), 409, "already a member there");
    let dave = signup(&srv.base, "dave", "pass-dave-invite").await;
    assert_eq!(status(&dave.accept_invite(&elsewhere(other_team, invite3)).await), 404, "wrong team for the id");
    assert_eq!(status(&dave.accept_invite(&elsewhere(team, InviteId::random())).await), 404);
    let as_mallory = Member { username: dave.name.clone(), identity: mallory, role: Role::Member };
    let acceptance = Acceptance::sign(team, invite3, Some(alice.name.clone()), &as_mallory, &dave.identity);
    let forged = AcceptInviteRequest { team, identity: mallory, mac: [0; 32], acceptance };
    let r: Result<shared::api::TeamSummary, _> =
        dave.api.post(&path::fill(path::ACCEPT_INVITE, &invite3.to_string()), &forged).await;
    assert_eq!(status(&r), 400, "not the caller's registered keys");
    dave.accept_invite(&elsewhere(team, invite3)).await.unwrap();
    let info3 = alice.invites(team).await.unwrap().into_iter().find(|i| i.invite == invite3).unwrap();
    assert!(alice.admit(&link3, &info3).await.is_err(), "a MAC made without the real secret");
    let _: InviteList = alice.api.get(&path::fill(path::INVITES, &team.to_string())).await.unwrap();
}
