//! Restore notices on the wire (issue 31, item 7): only an admin of the team confirms a
//! restore, with a notice of their own, signed with their registered key, for the
//! generation the server runs as — and only on a server that was restored. Anything
//! else gets a 4xx with a JSON `{code, message}` body and stores nothing. Members read
//! the notice; strangers read nothing.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/inproc.rs"]
mod inproc;
#[path = "support/probe.rs"]
mod probe;

use client::signup;
use probe::{json, Body, Probe};
use quietdesk_server::{app, Config};
use reqwest::StatusCode;
use serde_json::json;
use shared::api::{path, RestoreStatus};
use shared::chain::Role;
use shared::ids::TeamId;
use shared::restore::RestoreNotice;

fn now_ms() -> i64 {
    client::wall_clock() as i64
}

fn body(n: &RestoreNotice) -> Body {
    json(&json!({ "notice": n }))
}

#[tokio::test]
async fn only_an_admins_own_notice_for_the_restored_generation_is_kept_and_members_read_it() {
    let srv = inproc::spawn(Config::default()).await;
    let p = Probe::new(&srv.base);
    let alice = signup(&srv.base, "alice", "pass-alice-notices").await;
    let bob = signup(&srv.base, "bob", "pass-bob-notices").await;
    let mallory = signup(&srv.base, "mallory", "pass-mallory-notices").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let url = path::fill(path::RESTORE, &team.to_string());
    let stored = || async { srv.db.rows("SELECT admin FROM restore_notices").await.len() };
    let sign =
        |generation: u64, at: i64| RestoreNotice::sign(team, generation, alice.name.clone(), at, &alice.identity);

    // A server never restored runs as generation 0 and takes no notice, not even an admin's.
    let status: RestoreStatus = bob.api.get(&url).await.unwrap();
    assert_eq!((status.generation, status.notice), (0, None));
    let (s, e) = p.refused("POST", &url, Some(&alice.token), body(&sign(0, now_ms()))).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"), "{e:?}");

    // The database is restored as generation 7 (what `restore` does), and served again.
    srv.db
        .exec(
            "INSERT INTO server_meta (key, value) VALUES ('generation', $1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&7u16.to_be_bytes()],
        )
        .await;
    let restored = quietdesk_server::open(&srv.db.url(), Config::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app(restored)).await.unwrap() });
    let p = Probe::new(&base);
    let (mut alice, mut bob, mut mallory) = (alice, bob, mallory);
    for who in [&mut alice, &mut bob, &mut mallory] {
        who.api.base = base.clone();
    }
    let tok = Some(alice.token.as_str());
    let sign =
        |generation: u64, at: i64| RestoreNotice::sign(team, generation, alice.name.clone(), at, &alice.identity);
    let good = sign(7, now_ms());

    // Not an admin, not a member, no such team, not a team id, no session.
    let by_bob = RestoreNotice::sign(team, 7, bob.name.clone(), now_ms(), &bob.identity);
    let (s, e) = p.refused("POST", &url, Some(&bob.token), body(&by_bob)).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"), "a member is not an admin");
    let (s, e) = p.refused("POST", &url, Some(&mallory.token), body(&good)).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"), "a stranger");
    let (s, _) = p.refused("POST", &path::fill(path::RESTORE, &TeamId::random().to_string()), tok, body(&good)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = p.refused("POST", &path::fill(path::RESTORE, "not-a-team"), tok, body(&good)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = p.refused("POST", &url, None, body(&good)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The admin's, but not theirs, not this team's, not this generation, not signed.
    let hers_in_bobs_name = RestoreNotice { admin: bob.name.clone(), ..good.clone() };
    let other_team = RestoreNotice::sign(TeamId::random(), 7, alice.name.clone(), now_ms(), &alice.identity);
    let altered = RestoreNotice { at_ms: good.at_ms + 86_400_000, ..good.clone() };
    for n in [hers_in_bobs_name, other_team, altered, sign(6, now_ms()), sign(0, now_ms())] {
        let (s, e) = p.refused("POST", &url, tok, body(&n)).await;
        assert_eq!((s, e.code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"), "{n:?}: {e:?}");
    }

    // Shapes that are not a notice at all.
    let v = serde_json::to_value(&good).unwrap();
    let mut short_signature = v.clone();
    short_signature["signature"] = json!("AAAA");
    let mut bodies = probe::malformed("notice", &v, &["team", "generation", "admin", "at_ms", "signature"]);
    bodies.push(json(&json!({ "notice": short_signature })));
    bodies.push(json(&json!({ "notice": { "team": team.to_string(), "generation": -1 } })));
    for b in bodies {
        let (s, e) = p.refused("POST", &url, tok, b).await;
        assert!(matches!(s.as_u16(), 400 | 413 | 415 | 422), "{s} {e:?}");
    }
    assert_eq!(stored().await, 0, "nothing was stored");
    let (s, _) = p.refused("GET", &url, Some(&mallory.token), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a stranger reads no notice");

    // The admin's own: kept, an older one never replacing it, and read by members.
    alice.confirm_restore(team).await.unwrap();
    let status: RestoreStatus = bob.api.get(&url).await.unwrap();
    assert_eq!(status.generation, 7);
    let kept = status.notice.expect("the admin's notice");
    assert_eq!((kept.team, kept.generation, kept.admin.clone()), (team, 7, alice.name.clone()));
    assert!(kept.verify_signature(&alice.identity.public()));
    let earlier = sign(7, kept.at_ms - 60_000);
    let _: shared::api::Empty = alice.api.post(&url, &json!({ "notice": earlier })).await.unwrap();
    assert_eq!(stored().await, 1, "one per generation");
    let status: RestoreStatus = bob.api.get(&url).await.unwrap();
    assert_eq!(status.notice, Some(kept), "an older notice does not replace a newer one");
    p.healthy().await;
}
