//! Devices and remote wipe against the real server binary: a user lists their signed-in
//! devices and revokes one with a signed order; the revoked device is answered
//! `401 device_wiped` with that order, which it verifies before erasing anything, while
//! the others keep working; an admin wipes every device of a member (signed as an admin
//! of the team); a member cannot wipe anyone, and an unsigned or wrongly signed order
//! is refused.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{login, signup};
use server::TestServer;
use shared::api::{path, ChainResponse, DeviceList, RevokeDeviceRequest, TeamList, WipeMemberRequest, WipeResponse};
use shared::chain::Role;
use shared::sync::TransportError;
use shared::wipe::{device_id, WipeOrder, WipeRefusal};

/// The order a revoked device was handed (it must have been told `device_wiped`).
fn wiped<T>(r: Result<T, TransportError>) -> WipeOrder {
    match r {
        Err(TransportError::DeviceWiped(Some(order))) => *order,
        other => panic!("expected device_wiped with an order, got {:?}", other.map(|_| ())),
    }
}

fn now() -> i64 {
    client::wall_clock() as i64
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

    assert_eq!(lost.id, device_id(&phone.token), "a device knows its own id");
    let url = path::fill(path::REVOKE_DEVICE, &lost.id);

    // Unsigned, signed by someone else, or for another device: refused, nothing revoked.
    let sign = |device: &str, keys: &shared::crypto::identity::IdentityKeys| {
        WipeOrder::sign(laptop.name.clone(), Some(device.to_owned()), now(), laptop.name.clone(), None, keys)
    };
    let mallory_keys = shared::crypto::identity::IdentityKeys::generate();
    for order in [sign(&lost.id, &mallory_keys), sign("00", &laptop.identity)] {
        let err = laptop.api.post::<_, WipeResponse>(&url, &RevokeDeviceRequest { order }).await.unwrap_err();
        assert!(matches!(err, TransportError::Http { status: 400, .. }), "{err}");
    }
    let _: TeamList = phone.api.get(path::TEAMS).await.unwrap();

    // From the laptop, revoke the phone with a signed order.
    let order = sign(&lost.id, &laptop.identity);
    let r: WipeResponse = laptop.api.post(&url, &RevokeDeviceRequest { order: order.clone() }).await.unwrap();
    assert_eq!(r.devices, 1);
    let told = wiped(phone.api.get::<TeamList>(path::TEAMS).await);
    assert_eq!(told, order);
    assert_eq!(wiped(phone.api.get::<TeamList>(path::TEAMS).await), order, "told every time");
    // The phone checks it: its own user's key, its own device, after its log-in.
    let me = phone.identity.public();
    assert_eq!(WipeOrder::check(Some(&told), &phone.name, &device_id(&phone.token), 0, now(), &me, None), Ok(()));
    assert_eq!(
        WipeOrder::check(Some(&told), &phone.name, &device_id(&phone.token), now() + 60_000, now(), &me, None),
        Err(WipeRefusal::Stale),
        "an order from before a later log-in is not obeyed"
    );
    let still: TeamList = laptop.api.get(path::TEAMS).await.unwrap();
    assert!(still.teams.is_empty());
    let list: DeviceList = laptop.api.get(path::DEVICES).await.unwrap();
    assert_eq!(list.devices.len(), 1);
    // Unknown ids, and other users' devices, are not found.
    let other = signup(&srv.base, "mallory", "pass-mallory-devices").await;
    let theirs: DeviceList = other.api.get(path::DEVICES).await.unwrap();
    let id = &theirs.devices[0].id;
    let order = sign(id, &laptop.identity);
    let err = laptop
        .api
        .post::<_, WipeResponse>(&path::fill(path::REVOKE_DEVICE, id), &RevokeDeviceRequest { order })
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

    let order_by = |who: &client::Account, whom: &client::Account| {
        WipeOrder::sign(whom.name.clone(), None, now(), who.name.clone(), Some(team), &who.identity)
    };
    let denied = bob
        .api
        .post::<_, WipeResponse>(
            &url,
            &WipeMemberRequest { username: alice.name.clone(), order: order_by(&bob, &alice) },
        )
        .await;
    assert!(matches!(denied, Err(TransportError::Http { status: 403, .. })));
    let unsigned = WipeOrder { signature: [0; 64], ..order_by(&alice, &bob) };
    let refused = alice
        .api
        .post::<_, WipeResponse>(&url, &WipeMemberRequest { username: bob.name.clone(), order: unsigned })
        .await;
    assert!(matches!(refused, Err(TransportError::Http { status: 400, .. })));
    let order = order_by(&alice, &bob);
    let r: WipeResponse =
        alice.api.post(&url, &WipeMemberRequest { username: bob.name.clone(), order: order.clone() }).await.unwrap();
    assert_eq!(r.devices, 2);
    let chain = alice.chain(team, None).await.unwrap();
    for device in [&bob, &bob_tablet] {
        // Told on this team's routes only: the account stays signed in (issue 31 item 10).
        let told = wiped(device.api.get::<ChainResponse>(&path::fill(path::CHAIN, &team.to_string())).await);
        let _: TeamList = device.api.get(path::TEAMS).await.unwrap();
        let here = device_id(&device.token);
        let me = device.identity.public();
        assert_eq!(WipeOrder::check(Some(&told), &device.name, &here, 0, now(), &me, Some(&chain)), Ok(()));
    }
    let _: TeamList = alice.api.get(path::TEAMS).await.unwrap();
    // Bob can log in again (a new session): the wipe ended his devices' sessions in the
    // team, not the account.
    let again = login(&srv.base, "bob", "pass-bob-wipe").await.unwrap();
    let teams: TeamList = again.api.get(path::TEAMS).await.unwrap();
    assert_eq!(teams.teams.len(), 1);
}
