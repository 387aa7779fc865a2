//! Freshness beacons on the wire (issue 31, item 14): only an admin of the team posts
//! one, their own, signed with their registered key, on a head the team's chain has
//! had; anything else gets a 4xx with a JSON `{code, message}` body and stores nothing.
//! Members read the latest each admin posted; strangers read nothing.

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
use quietdesk_server::Config;
use reqwest::StatusCode;
use serde_json::json;
use shared::api::{path, BeaconsResponse};
use shared::beacon::Beacon;
use shared::chain::Role;
use shared::crypto::envelope::ChainHead;
use shared::ids::TeamId;

fn now_ms() -> i64 {
    client::wall_clock() as i64
}

fn body(b: &Beacon) -> Body {
    json(&json!({ "beacon": b }))
}

#[tokio::test]
async fn only_an_admins_own_signed_beacon_on_the_chain_is_kept_and_members_read_it() {
    let srv = inproc::spawn(Config::default()).await;
    let p = Probe::new(&srv.base);
    let alice = signup(&srv.base, "alice", "pass-alice-beacons").await;
    let bob = signup(&srv.base, "bob", "pass-bob-beacons").await;
    let mallory = signup(&srv.base, "mallory", "pass-mallory-beacons").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let state = alice.chain(team, None).await.unwrap();
    let url = path::fill(path::BEACONS, &team.to_string());
    let tok = Some(alice.token.as_str());
    let stored = || async { srv.db.rows("SELECT admin FROM beacons").await.len() };
    let sign = |head: ChainHead, at: i64| Beacon::sign(team, head, alice.name.clone(), at, &alice.identity);
    let good = sign(state.chain_head(), now_ms());

    // Not an admin, not a member, no such team, not a team id, no session.
    let by_bob = Beacon::sign(team, state.chain_head(), bob.name.clone(), now_ms(), &bob.identity);
    let (s, e) = p.refused("POST", &url, Some(&bob.token), body(&by_bob)).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"), "a member is not an admin");
    let (s, e) = p.refused("POST", &url, Some(&mallory.token), body(&good)).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"), "a stranger");
    let (s, _) = p.refused("POST", &path::fill(path::BEACONS, &TeamId::random().to_string()), tok, body(&good)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = p.refused("POST", &path::fill(path::BEACONS, "not-a-team"), tok, body(&good)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = p.refused("POST", &url, None, body(&good)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The admin's, but not theirs, not this team's, not signed, not on the chain.
    let hers_in_bobs_name = Beacon { admin: bob.name.clone(), ..good.clone() };
    let other_team = Beacon::sign(TeamId::random(), state.chain_head(), alice.name.clone(), now_ms(), &alice.identity);
    let altered = Beacon { at_ms: good.at_ms + 86_400_000, ..good.clone() };
    let made_up = sign(ChainHead { len: state.len, hash: [7; 32] }, now_ms());
    let too_long = sign(ChainHead { len: state.len + 1, hash: state.head }, now_ms());
    let zero = sign(ChainHead { len: 0, hash: [0; 32] }, now_ms());
    for b in [hers_in_bobs_name, other_team, altered, made_up, too_long, zero] {
        let (s, e) = p.refused("POST", &url, tok, body(&b)).await;
        assert_eq!((s, e.code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"), "{b:?}: {e:?}");
    }

    // Shapes that are not a beacon at all.
    let v = serde_json::to_value(&good).unwrap();
    let mut short_head = v.clone();
    short_head["head"] = json!("AAAA");
    let mut bodies = probe::malformed("beacon", &v, &["team", "len", "head", "admin", "at_ms", "signature"]);
    bodies.push(json(&json!({ "beacon": short_head })));
    bodies.push(json(&json!({ "beacon": { "team": team.to_string(), "len": -1 } })));
    for b in bodies {
        let (s, e) = p.refused("POST", &url, tok, b).await;
        assert!(matches!(s.as_u16(), 400 | 413 | 415 | 422), "{s} {e:?}");
    }
    assert_eq!(stored().await, 0, "nothing was stored");
    let (s, _) = p.refused("GET", &url, Some(&mallory.token), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a stranger reads no beacons");

    // The admin's own: kept, the latest replacing the one before, and read by members.
    alice.publish_beacon(&state, now_ms() - 60_000).await.unwrap();
    alice.publish_beacon(&state, now_ms()).await.unwrap();
    assert_eq!(stored().await, 1, "one per admin");
    let read: BeaconsResponse = bob.api.get(&url).await.unwrap();
    assert_eq!(read.beacons.len(), 1);
    let b = &read.beacons[0];
    assert_eq!((b.admin.clone(), b.len, b.head), (alice.name.clone(), state.len, state.head));
    assert!(b.verify_signature(&alice.identity.public()));
    p.healthy().await;
}
