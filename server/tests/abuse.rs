//! Abuse limits against the real server binary: a session bursting past its request
//! rate gets 429 with `Retry-After` and a JSON body while other sessions keep being
//! served; a member pulling far more records than the team holds raises an alert that
//! admins receive (event + list) and, when configured, loses the session.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::signup;
use server::TestServer;
use shared::api::{path, AlertsResponse, ErrorBody, ServerEvent, TeamList};
use shared::chain::Role;
use shared::domain::{Customer, Entity};
use shared::ids::RecordId;
use shared::sync::memory::MemoryStore;
use shared::sync::{Syncer, Transport, TransportError};

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_above_the_rate_gets_429_and_others_are_still_served() {
    let srv = TestServer::start_with(&["--rate-per-minute", "60", "--rate-burst", "5"]);
    let alice = signup(&srv.base, "alice", "pass-alice-ratelimit").await;
    let bob = signup(&srv.base, "bob", "pass-bob-ratelimit").await;
    let http = reqwest::Client::new();
    let url = format!("{}{}", srv.base, path::TEAMS);
    let token = alice.api.token.clone().unwrap();
    let mut limited = None;
    for _ in 0..12 {
        let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let resp = limited.expect("a burst of 12 past a burst allowance of 5 was never limited");
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    let body: ErrorBody = resp.json().await.unwrap();
    assert_eq!(body.code, "rate_limited");
    // Bob's session, and the unauthenticated health check, are served meanwhile.
    let teams: TeamList = bob.api.get(path::TEAMS).await.unwrap();
    assert!(teams.teams.is_empty());
    assert_eq!(http.get(format!("{}{}", srv.base, path::HEALTH)).send().await.unwrap().status(), 200);
    // After the wait, Alice is served again.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    assert_eq!(http.get(&url).bearer_auth(&token).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_pull_alerts_the_admins_and_suspends_the_session() {
    let srv = TestServer::start_with(&["--bulk-factor", "2", "--bulk-min-records", "50", "--bulk-suspend"]);
    let alice = signup(&srv.base, "alice", "pass-alice-bulk").await;
    let bob = signup(&srv.base, "bob", "pass-bob-bulk").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut a = Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    let rows = (0..40)
        .map(|i| (RecordId::random(), Customer { name: format!("Canary Bulk {i}"), ..Default::default() }.to_fields()))
        .collect();
    a.edit_many(rows, now()).await.unwrap();
    a.sync().await.unwrap();
    let mut events = alice.events(team).await;

    // One full sync, and a second device's: normal (80 ≤ 2 × 40).
    let transport = bob.transport(team);
    for _ in 0..2 {
        assert_eq!(transport.pull(0, 1000).await.unwrap().changes.len(), 40);
    }
    let alerts: AlertsResponse = alice.api.get(&path::fill(path::ALERTS, &team.to_string())).await.unwrap();
    assert!(alerts.alerts.is_empty());
    // A third full download crosses the line: refused, the session ended, admins told.
    let refused = transport.pull(0, 1000).await.unwrap_err();
    assert!(matches!(refused, TransportError::Http { status: 403, .. }), "{refused}");
    let after = transport.pull(0, 1000).await.unwrap_err();
    assert!(matches!(after, TransportError::Http { status: 401, .. }), "{after}");
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let Some(ServerEvent::Alert) = events.next().await {
                return;
            }
        }
    })
    .await;
    assert!(got.is_ok(), "no alert event reached the admin");
    let alerts: AlertsResponse = alice.api.get(&path::fill(path::ALERTS, &team.to_string())).await.unwrap();
    let [alert] = alerts.alerts.as_slice() else { panic!("{alerts:?}") };
    assert_eq!((alert.kind.as_str(), alert.username.as_str(), alert.suspended), ("bulk_download", "bob", true));
    assert!(
        alert.detail.starts_with("bob pulled 120 records") && alert.detail.ends_with("session suspended"),
        "{}",
        alert.detail
    );
    // Only admins see alerts.
    let bob_again = client::login(&srv.base, "bob", "pass-bob-bulk").await.unwrap();
    let denied = bob_again.api.get::<AlertsResponse>(&path::fill(path::ALERTS, &team.to_string())).await.unwrap_err();
    assert!(matches!(denied, TransportError::Http { status: 403, .. }), "{denied}");
}
