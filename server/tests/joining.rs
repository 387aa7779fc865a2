//! Issue 31 item 10: nobody joins a team without their signed acceptance, and an admin's
//! wipe, incident or removal reaches only what their team owns — never the member's
//! account or their other teams. Against the real server, with a lying proxy in front of
//! it for the scenario where the server takes (and serves) an addition nobody accepted.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/server.rs"]
mod server;

use client::{login, signup, Account};
use hostile::{Answer, HostileServer};
use server::TestServer;
use shared::api::{
    path, AppendChainRequest, ChainResponse, IncidentRequest, IncidentResponse, ServerEvent, TeamList, TeamSummary,
    WipeMemberRequest, WipeResponse,
};
use shared::chain::{Acceptance, Action, ChainEntry, Member, Role, TeamState};
use shared::crypto::identity::IdentityKeys;
use shared::ids::{InviteId, TeamId};
use shared::sync::TransportError;
use shared::wipe::{device_id, WipeOrder};

fn now() -> i64 {
    client::wall_clock() as i64
}

fn status<T>(r: &Result<T, TransportError>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(TransportError::Http { status, .. }) => *status,
        Err(TransportError::DeviceWiped(_)) => 401,
        Err(e) => panic!("unexpected {e}"),
    }
}

/// `admin`'s next entry of `team`'s chain, signed, with `action` (not sent).
async fn next_entry(admin: &Account, team: TeamId, action: Action) -> ChainEntry {
    let s = admin.chain(team, None).await.unwrap();
    ChainEntry::signed(team, s.len, s.head, &admin.name, &admin.identity, now(), action)
}

async fn append(admin: &Account, team: TeamId, entry: ChainEntry) -> Result<TeamSummary, TransportError> {
    admin.api.post(&path::fill(path::CHAIN, &team.to_string()), &AppendChainRequest { entry, approval: None }).await
}

/// An admin of team X adds a stranger who never accepted: the server refuses every form
/// of it and stores nothing; a lying server that takes it and serves the entry gets it
/// refused by the stranger's client and by the other members'. An invitation the
/// stranger answers (their client signs the acceptance) admits them as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_added_to_no_team_without_their_signed_acceptance() {
    let srv = TestServer::start();
    let mallory = signup(&srv.base, "mallory", "pass-mallory-join").await;
    let bob = signup(&srv.base, "bob", "pass-bob-join").await;
    signup(&srv.base, "carol", "pass-carol-join").await;
    let team = mallory.create_team().await;
    mallory.add_member(team, "carol", Role::Member).await;
    let len = mallory.chain(team, None).await.unwrap().len;

    // The old, unaccepted addition.
    let bob_member = Member { username: bob.name.clone(), identity: bob.identity.public(), role: Role::Member };
    let unaccepted = next_entry(&mallory, team, Action::AddMember { member: bob_member.clone() }).await;
    assert_eq!(status(&append(&mallory, team, unaccepted.clone()).await), 400, "no acceptance");
    // An "acceptance" the admin signed with keys that are not bob's.
    let forged = Acceptance::sign(team, InviteId::random(), Some(mallory.name.clone()), &bob_member, &mallory.identity);
    let forged = next_entry(&mallory, team, Action::Admit { member: bob_member.clone(), acceptance: forged }).await;
    assert_eq!(status(&append(&mallory, team, forged).await), 400, "an acceptance bob never signed");
    // A ghost "bob" with keys the admin made, accepting for himself: the chain alone
    // cannot tell, the server does (those are not bob's registered keys).
    let ghost_keys = IdentityKeys::generate();
    let ghost = Member { username: bob.name.clone(), identity: ghost_keys.public(), role: Role::Member };
    let ghost_acceptance = Acceptance::sign(team, InviteId::random(), Some(mallory.name.clone()), &ghost, &ghost_keys);
    let ghost = next_entry(&mallory, team, Action::Admit { member: ghost, acceptance: ghost_acceptance }).await;
    assert_eq!(status(&append(&mallory, team, ghost).await), 400, "not bob's registered keys");
    assert_eq!(mallory.chain(team, None).await.unwrap().len, len, "nothing stored");
    let bobs_view = bob.api.get::<ChainResponse>(&path::fill(path::CHAIN, &team.to_string())).await;
    assert_eq!(status(&bobs_view), 403, "bob is in no team of mallory's");
    let teams: TeamList = bob.api.get(path::TEAMS).await.unwrap();
    assert!(teams.teams.is_empty());

    // A lying server that took the unaccepted addition serves it to everyone.
    let proxy = HostileServer::start(&srv.base).await;
    let served = serde_json::to_value(&unaccepted).unwrap();
    let chain_path = path::fill(path::CHAIN, &team.to_string());
    proxy.rewrite(move |ex| {
        if ex.method != axum::http::Method::GET || ex.path != chain_path {
            return None;
        }
        let mut v = ex.json();
        v["entries"].as_array_mut()?.push(served.clone());
        Answer::json(200, &v)
    });
    let carol = login(&proxy.base, "carol", "pass-carol-join").await.unwrap();
    let refused = carol.chain(team, None).await.unwrap_err();
    assert!(refused.contains("only with their signed acceptance"), "carol's client: {refused}");
    let mallory_via = login(&proxy.base, "mallory", "pass-mallory-join").await.unwrap();
    let as_served: ChainResponse = mallory_via.api.get(&path::fill(path::CHAIN, &team.to_string())).await.unwrap();
    let refused = TeamState::verify_team(&as_served.entries, team, None).unwrap_err().to_string();
    assert!(refused.contains("only with their signed acceptance"), "bob's client, shown it: {refused}");
    proxy.honest();

    // Bob answers an invitation (his client signs the acceptance): he joins.
    let link = mallory.create_invite(team, Role::Member).await;
    bob.accept_invite(&link).await.unwrap();
    let info = mallory.invites(team).await.unwrap().into_iter().find(|i| i.invite == link.invite).unwrap();
    mallory.admit(&link, &info).await.unwrap();
    let state = carol.chain(team, None).await.unwrap();
    assert!(state.members.contains_key(&bob.name) && state.unaccepted.is_empty() && state.needs_acceptance);
    assert!(matches!(&state_entry(&carol, team).await, Action::Admit { member, .. } if member.username == bob.name));
}

async fn state_entry(who: &Account, team: TeamId) -> Action {
    let c: ChainResponse = who.api.get(&path::fill(path::CHAIN, &team.to_string())).await.unwrap();
    c.entries.last().unwrap().action.clone()
}

/// Bob is in team X (Alice's) and team Y (Yann's). Alice wipes his devices, declares an
/// incident, removes him: each ends his sessions in X only. His account stays signed in,
/// his sessions keep working in Y, and his socket on Y stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wipe_an_incident_or_a_removal_in_one_team_leaves_the_members_other_teams() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-scope").await;
    let yann = signup(&srv.base, "yann", "pass-yann-scope").await;
    let bob = signup(&srv.base, "bob", "pass-bob-scope").await;
    let (x, y) = (alice.create_team().await, yann.create_team().await);
    alice.add_member(x, "bob", Role::Member).await;
    yann.add_member(y, "bob", Role::Member).await;
    let mut bob_on_y = bob.events(y).await;
    let chain = |t: TeamId| path::fill(path::CHAIN, &t.to_string());
    let works = |who: &Account, t: TeamId| {
        let (api, p) = (who.api.clone(), chain(t));
        async move { api.get::<ChainResponse>(&p).await.map(|_| ()) }
    };

    // A wipe: his devices are told so (with the admin's order, for X) on X's routes only.
    let order = WipeOrder::sign(bob.name.clone(), None, now(), alice.name.clone(), Some(x), &alice.identity);
    let wipe = path::fill(path::WIPE_MEMBER, &x.to_string());
    let r: WipeResponse =
        alice.api.post(&wipe, &WipeMemberRequest { username: bob.name.clone(), order }).await.unwrap();
    assert_eq!(r.devices, 1);
    let told = match works(&bob, x).await {
        Err(TransportError::DeviceWiped(Some(order))) => *order,
        other => panic!("expected device_wiped with an order in X, got {other:?}"),
    };
    let x_chain = alice.chain(x, None).await.unwrap();
    let me = bob.identity.public();
    assert_eq!(WipeOrder::check(Some(&told), &bob.name, &device_id(&bob.token), 0, now(), &me, Some(&x_chain)), Ok(()));
    assert_eq!(told.team, Some(x), "the order names X: the device erases X's data, nothing of Y's");
    works(&bob, y).await.expect("Y still answers bob's session");
    let _: TeamList = bob.api.get(path::TEAMS).await.expect("the account is still signed in");

    // An incident in X: bob's new session ends in X, not in Y.
    let bob_phone = login(&srv.base, "bob", "pass-bob-scope").await.unwrap();
    works(&bob_phone, x).await.unwrap();
    let incident = path::fill(path::INCIDENT, &x.to_string());
    let r: IncidentResponse = alice.api.post(&incident, &IncidentRequest {}).await.unwrap();
    assert_eq!(r.sessions_ended, 1, "bob's phone (his first session had ended in X already)");
    assert_eq!(status(&works(&bob_phone, x).await), 401);
    works(&bob_phone, y).await.expect("Y still answers bob's phone");
    works(&yann, y).await.expect("Yann is untouched");

    // A removal from X: the same.
    let bob_laptop = login(&srv.base, "bob", "pass-bob-scope").await.unwrap();
    alice.remove_member(x, &bob.name).await;
    assert_eq!(status(&works(&bob_laptop, x).await), 401);
    works(&bob_laptop, y).await.expect("Y still answers bob's laptop");
    for session in [&bob, &bob_phone, &bob_laptop] {
        let _: TeamList = session.api.get(path::TEAMS).await.expect("still signed in");
    }

    // His socket on Y stayed open through all of it: it hears Y's next chain entry.
    yann.append(y, Action::Rotate { epoch: 2 }).await.unwrap();
    let heard = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match bob_on_y.next().await {
                Some(ServerEvent::Chain { len }) => return Some(len),
                Some(_) => continue,
                None => return None,
            }
        }
    })
    .await
    .expect("an event within 10 s");
    assert_eq!(heard, Some(3), "bob's socket on Y is still open");
}
