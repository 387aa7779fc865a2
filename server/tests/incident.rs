//! Incident mode against the real server binary: one admin action ends every session
//! of every member in the team (the admin's own stays; their accounts stay signed in), records who declared it (the reason stays
//! in the team's encrypted records, never on the server), and is refused to members.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{login, signup};
use server::TestServer;
use shared::api::{path, AlertsResponse, ChainResponse, IncidentRequest, IncidentResponse, TeamList};
use shared::chain::Role;
use shared::sync::TransportError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_ends_every_session_and_records_why() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-incident").await;
    let alice_laptop = login(&srv.base, "alice", "pass-alice-incident").await.unwrap();
    let bob = signup(&srv.base, "bob", "pass-bob-incident").await;
    let bob_phone = login(&srv.base, "bob", "pass-bob-incident").await.unwrap();
    let outsider = signup(&srv.base, "olga", "pass-olga-incident").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let url = path::fill(path::INCIDENT, &team.to_string());

    let denied = bob.api.post::<_, IncidentResponse>(&url, &IncidentRequest {}).await;
    assert!(matches!(denied, Err(TransportError::Http { status: 403, .. })));

    let r: IncidentResponse = alice.api.post(&url, &IncidentRequest {}).await.unwrap();
    assert_eq!(r.sessions_ended, 3, "bob's two and alice's other device");
    // Their sessions ended in this team; their accounts stay signed in (issue 31 item 10).
    let chain = path::fill(path::CHAIN, &team.to_string());
    for ended in [&bob, &bob_phone, &alice_laptop] {
        let e = ended.api.get::<ChainResponse>(&chain).await.unwrap_err();
        assert!(matches!(e, TransportError::Http { status: 401, .. }), "{e}");
        let _: TeamList = ended.api.get(path::TEAMS).await.unwrap();
    }
    // The declaring admin carries on (to rotate the keys); people outside the team too.
    let _: TeamList = alice.api.get(path::TEAMS).await.unwrap();
    let _: TeamList = outsider.api.get(path::TEAMS).await.unwrap();
    let alerts: AlertsResponse = alice.api.get(&path::fill(path::ALERTS, &team.to_string())).await.unwrap();
    let a = &alerts.alerts[0];
    assert_eq!((a.kind.as_str(), a.username.as_str()), ("incident", "alice"));
    assert!(a.detail.starts_with("alice declared an incident: 3 sessions ended"), "{}", a.detail);
    // Members log in again afterwards.
    login(&srv.base, "bob", "pass-bob-incident").await.unwrap();
}
