//! Bad input gets a 4xx with a JSON `{code, message}` body, stores nothing, and the
//! server keeps serving.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/inproc.rs"]
mod inproc;
#[path = "support/probe.rs"]
mod probe;

use probe::{json, Probe};

use std::time::Duration;

use quietdesk_server::Config;
use reqwest::StatusCode;
use shared::api::{path, PullResponse, PushItem, PushRequest, MAX_BODY_BYTES};
use shared::chain::Role;
use shared::crypto::envelope::SealedRecord;
use shared::domain::{Customer, Entity};
use shared::ids::{RecordId, TeamId};
use shared::sync::memory::MemoryStore;
use shared::sync::Syncer;

#[tokio::test]
async fn malformed_oversized_and_unauthenticated_requests_are_refused_cleanly() {
    let srv = inproc::spawn(Config::default()).await;
    let p = Probe::new(&srv.base);
    let alice = client::signup(&srv.base, "alice", "alice passphrase").await;
    let team = alice.create_team().await;
    let push_path = path::fill(path::PUSH, &team.to_string());
    let tok = Some(alice.token.as_str());

    // Malformed JSON, wrong shapes, wrong content type.
    let (s, e) = p.refused("POST", path::LOGIN, None, Some(("application/json", b"{not json".to_vec()))).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"));
    let (s, _) = p.refused("POST", path::SIGNUP, None, json(&serde_json::json!({"username": "x"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, e) = p.refused("POST", path::LOGIN, None, Some(("text/plain", b"hi".to_vec()))).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
    let (s, _) = p
        .refused(
            "POST",
            &push_path,
            tok,
            json(&serde_json::json!({"items": [{"record": "zz", "base_version": 0, "sealed": "AA=="}]})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = p.refused("GET", "/api/v1/teams/not-a-team/chain", tok, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Oversized body.
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    let (s, e) = p.refused("POST", &push_path, tok, Some(("application/json", big))).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));

    // Missing, forged and malformed tokens.
    let (s, e) = p.refused("GET", path::TEAMS, None, None).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, _) = p.refused("GET", path::TEAMS, Some("forged-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = p.refused("GET", path::TEAMS, Some(&"x".repeat(500)), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Wrong team: unknown → 404; someone else's → 403.
    let (s, _) = p.refused("GET", &path::fill(path::PULL, &TeamId::random().to_string()), tok, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "pull without ?since is a bad query");
    let (s, e) = p
        .refused("GET", &format!("{}?since=0", path::fill(path::PULL, &TeamId::random().to_string())), tok, None)
        .await;
    assert_eq!((s, e.code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    let mallory = client::signup(&srv.base, "mallory", "mallory passphrase").await;
    let (s, e) = p
        .refused("GET", &format!("{}?since=0", path::fill(path::PULL, &team.to_string())), Some(&mallory.token), None)
        .await;
    assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"));

    // Unknown API route.
    let (s, _) = p.refused("GET", "/api/v1/nothing-here", tok, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A real sealed record to corrupt.
    let mut a = Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    let coll = a.session.team.shared_collection;
    let id = RecordId::random();
    a.edit(id, Customer { name: "Someone".into(), ..Default::default() }.to_fields(), 1).await.unwrap();
    let sealed = {
        let doc = a.replica.records[&id].view.clone();
        let sealer = shared::sync::seal::Sealer {
            me: &a.session.me,
            identity: &a.session.identity,
            keyring: &a.session.keyring,
            epoch: a.session.team.epoch,
            head: a.session.team.chain_head(),
        };
        sealer.seal(&shared::crypto::envelope::RecordContext { team, record: id }, coll, 1, &doc, None).unwrap().0
    };
    let push = |items: Vec<PushItem>| json(&serde_json::to_value(PushRequest { items, approval: None }).unwrap());

    let mut v9 = sealed.clone();
    let (basic, _) = v9.envelopes().unwrap();
    let mut env = basic.0.clone();
    env[0] = 9;
    v9 = SealedRecord::from_envelopes(&shared::crypto::envelope::SealedEnvelope(env), None);
    let (s, e) = p
        .refused(
            "POST",
            &push_path,
            tok,
            push(vec![PushItem { record: id, base_version: 0, sealed: v9, tombstone: false }]),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e.message.contains("unknown envelope version 9"), "{}", e.message);

    let (s, e) = p
        .refused(
            "POST",
            &push_path,
            tok,
            push(vec![PushItem { record: id, base_version: 3, sealed: sealed.clone(), tombstone: false }]),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "sealed as v1 but claims base 3: {}", e.message);

    let good = PushItem { record: id, base_version: 0, sealed: sealed.clone(), tombstone: false };
    let (s, _) = p.refused("POST", &push_path, tok, push(vec![good.clone(), good.clone()])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "duplicate ids");
    let (s, _) = p.refused("POST", &push_path, tok, push(vec![])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "empty push");
    let (s, _) = p
        .refused(
            "POST",
            &push_path,
            tok,
            push(vec![PushItem {
                record: id,
                base_version: 0,
                sealed: SealedRecord(vec![1, 1, 0, 0, 0, 1, 1]),
                tombstone: false,
            }]),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "truncated envelope");

    // Another member cannot push records sealed in someone else's name.
    alice.add_member(team, "mallory", Role::Member).await;
    let (s, _) = p.refused("POST", &push_path, Some(&mallory.token), push(vec![good.clone()])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "author must be the pusher");

    // Nothing of the above was stored.
    let pulled: PullResponse =
        alice.api.get(&format!("{}?since=0", path::fill(path::PULL, &team.to_string()))).await.unwrap();
    assert!(pulled.changes.is_empty());
    assert_eq!(pulled.cursor, 0);

    // A real push works, and a stale one gets 409 with the current envelope.
    a.sync().await.unwrap();
    let body = serde_json::to_vec(&PushRequest { items: vec![good], approval: None }).unwrap();
    let r = p
        .http
        .post(format!("{}{}", srv.base, push_path))
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let conflict: shared::api::PushConflict = r.json().await.unwrap();
    assert_eq!(conflict.conflicts[0].version, 1);
    assert_eq!(conflict.code, "conflict");

    p.healthy().await;
}

#[tokio::test]
async fn expired_and_logged_out_sessions_are_refused() {
    let srv = inproc::spawn(Config { session_ttl: Duration::from_millis(300), ..Config::default() }).await;
    let p = Probe::new(&srv.base);
    let alice = client::signup(&srv.base, "alice", "alice passphrase").await;
    let r = p.http.get(format!("{}{}", srv.base, path::TEAMS)).bearer_auth(&alice.token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (s, e) = p.refused("GET", path::TEAMS, Some(&alice.token), None).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::UNAUTHORIZED, "session_expired"));

    let srv = inproc::spawn(Config::default()).await;
    let bob = client::signup(&srv.base, "bob", "bob passphrase").await;
    let _: shared::api::Empty = bob.api.post(path::LOGOUT, &serde_json::json!({})).await.unwrap();
    let (s, _) = p.refused("GET", path::TEAMS, Some(&bob.token), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let dup = reqwest::Client::new()
        .post(format!("{}{}", srv.base, path::PRELOGIN))
        .json(&serde_json::json!({"username": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::OK);
}

#[tokio::test]
async fn usernames_are_not_revealed_by_prelogin_and_taken_names_conflict() {
    let srv = inproc::spawn(Config::default()).await;
    let _alice = client::signup(&srv.base, "alice", "alice passphrase").await;
    let http = reqwest::Client::new();
    let pre = |name: &'static str| {
        let http = http.clone();
        let url = format!("{}{}", srv.base, path::PRELOGIN);
        async move {
            http.post(url)
                .json(&serde_json::json!({"username": name}))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let ghost1 = pre("ghost").await;
    let ghost2 = pre("ghost").await;
    assert_eq!(ghost1, ghost2, "fake salts are deterministic");
    assert_ne!(pre("ghost").await, pre("phantom").await);
    assert_eq!(
        ghost1.as_object().unwrap().keys().collect::<Vec<_>>(),
        pre("alice").await.as_object().unwrap().keys().collect::<Vec<_>>()
    );

    let p = Probe { http, base: srv.base.clone() };
    let body = serde_json::json!({
        "username": "alice", "salt": "AAAAAAAAAAAAAAAAAAAAAA==", "kdf": {"m_cost_kib": 19456, "t_cost": 2, "p_cost": 1, "binding": "username"},
        "auth_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "identity": {"sign_pk": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "dh_pk": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
        "bundle": "AQ=="
    });
    let (s, e) = p.refused("POST", path::SIGNUP, None, json(&body)).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::CONFLICT, "conflict"));
    let mut weak = body.clone();
    weak["username"] = "weakling".into();
    weak["kdf"]["m_cost_kib"] = 8.into();
    let (s, _) = p.refused("POST", path::SIGNUP, None, json(&weak)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    p.healthy().await;
}
