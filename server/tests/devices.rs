//! Devices and remote wipe against the real server binary: a user lists their signed-in
//! devices and revokes one; the revoked device is answered `401 device_wiped` (its app
//! then erases its local data) while the others keep working; an admin wipes every
//! device of a member; a member cannot wipe anyone.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{login, signup};
use server::TestServer;
use shared::api::{path, DeviceList, TeamList, WipeMemberRequest, WipeResponse};
use shared::chain::Role;
use shared::sync::TransportError;

fn code(r: Result<TeamList, TransportError>) -> (u16, String) {
    match r {
        Err(TransportError::Http { status, code, .. }) => (status, code),
        other => panic!("expected an HTTP error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_told_to_wipe_and_the_others_carry_on() {
    let srv = TestServer::start();
    let phone = signup(&srv.base, "alice", "pass-alice-devices").await;
    let laptop = login(&srv.base, "alice", "pass-alice-devices").await.unwrap();
    let list: DeviceList = laptop.api.get(path::DEVICES).await.unwrap();
    assert_eq!(list.devices.len(), 2);
    assert_eq!(list.devices.iter().filter(|d| d.current).count(), 1);
    let lost = list.devices.iter().find(|d| !d.current).unwrap();

    // From the laptop, revoke the phone.
    let r: WipeResponse =
        laptop.api.post(&path::fill(path::REVOKE_DEVICE, &lost.id), &shared::api::Empty {}).await.unwrap();
    assert_eq!(r.devices, 1);
    assert_eq!(code(phone.api.get::<TeamList>(path::TEAMS).await), (401, "device_wiped".to_owned()));
    assert_eq!(code(phone.api.get::<TeamList>(path::TEAMS).await), (401, "device_wiped".to_owned()), "told every time");
    let still: TeamList = laptop.api.get(path::TEAMS).await.unwrap();
    assert!(still.teams.is_empty());
    let list: DeviceList = laptop.api.get(path::DEVICES).await.unwrap();
    assert_eq!(list.devices.len(), 1);
    // Unknown ids, and other users' devices, are not found.
    let other = signup(&srv.base, "mallory", "pass-mallory-devices").await;
    let theirs: DeviceList = other.api.get(path::DEVICES).await.unwrap();
    let err = laptop
        .api
        .post::<_, WipeResponse>(&path::fill(path::REVOKE_DEVICE, &theirs.devices[0].id), &shared::api::Empty {})
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Http { status: 404, .. }), "{err}");
    let _: TeamList = other.api.get(path::TEAMS).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_wipes_every_device_of_a_member() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-wipe").await;
    let bob = signup(&srv.base, "bob", "pass-bob-wipe").await;
    let bob_tablet = login(&srv.base, "bob", "pass-bob-wipe").await.unwrap();
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let url = path::fill(path::WIPE_MEMBER, &team.to_string());

    let denied = bob.api.post::<_, WipeResponse>(&url, &WipeMemberRequest { username: alice.name.clone() }).await;
    assert!(matches!(denied, Err(TransportError::Http { status: 403, .. })));
    let r: WipeResponse = alice.api.post(&url, &WipeMemberRequest { username: bob.name.clone() }).await.unwrap();
    assert_eq!(r.devices, 2);
    for device in [&bob, &bob_tablet] {
        assert_eq!(code(device.api.get::<TeamList>(path::TEAMS).await), (401, "device_wiped".to_owned()));
    }
    let _: TeamList = alice.api.get(path::TEAMS).await.unwrap();
    // Bob can log in again (a new session): the wipe ended devices, not the account.
    let again = login(&srv.base, "bob", "pass-bob-wipe").await.unwrap();
    let teams: TeamList = again.api.get(path::TEAMS).await.unwrap();
    assert_eq!(teams.teams.len(), 1);
}
