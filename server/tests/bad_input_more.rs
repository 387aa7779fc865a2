//! Bad input to the endpoints `bad_input.rs` does not reach — pre-login, user lookup,
//! team creation, invitation creation, the approvals list and the 2FA set-up — gets a
//! 4xx with a JSON `{code, message}` body, stores nothing, and the next good request
//! works.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/inproc.rs"]
mod inproc;
#[path = "support/probe.rs"]
mod probe;

use probe::{json, Body, Probe};

use client::{signup, Account};
use quietdesk_server::Config;
use reqwest::StatusCode;
use serde_json::json;
use shared::api::{
    path, Approval, Approvals, CreateTeamRequest, PreloginResponse, RecoveryCodes, TeamList, TeamSummary, TotpCode,
    TotpSetup, TotpStatus, UserKeys, MAX_BODY_BYTES,
};
use shared::chain::{Action, ChainEntry, Member, Role};
use shared::crypto::identity::IdentityKeys;
use shared::ids::{CollectionId, InviteId, TeamId};
use totp_rs::{Algorithm, Secret, TOTP};

fn raw(ct: &'static str, b: &[u8]) -> Body {
    Some((ct, b.to_vec()))
}

/// A JSON body just over the limit.
fn oversized() -> Body {
    let mut b = b"{\"pad\":\"".to_vec();
    b.resize(MAX_BODY_BYTES + 16, b'x');
    b.extend(b"\"}");
    Some(("application/json", b))
}

async fn count(srv: &inproc::InProc, sql: &str) -> usize {
    srv.db.rows(sql).await.len()
}

fn now_ms() -> i64 {
    client::wall_clock() as i64
}

#[tokio::test]
async fn prelogin_refuses_malformed_usernames_and_wrong_shapes() {
    let srv = inproc::spawn(Config::default()).await;
    let p = Probe::new(&srv.base);
    let _alice = signup(&srv.base, "alice", "pass-alice-more").await;
    let (users, sessions) =
        (count(&srv, "SELECT username FROM users").await, count(&srv, "SELECT username FROM sessions").await);

    let long = "a".repeat(33);
    let huge = "a".repeat(100_000);
    let bodies = [
        json(&json!({"username": ""})),
        json(&json!({"username": "Alice"})),
        json(&json!({"username": "al"})),
        json(&json!({"username": long})),
        json(&json!({"username": huge})),
        json(&json!({"username": "alice\u{0}"})),
        json(&json!({"username": "ālice"})),
        json(&json!({"username": " alice"})),
        json(&json!({"username": 5})),
        json(&json!({"username": null})),
        json(&json!({"username": ["alice"]})),
        json(&json!({"user": "alice"})),
        json(&json!({})),
        json(&json!([])),
        json(&json!("alice")),
        raw("application/json", b"{\"username\": \"alice\""),
        raw("application/json", b""),
        raw("text/plain", b"{\"username\": \"alice\"}"),
        oversized(),
    ];
    for body in bodies {
        let (s, e) = p.refused("POST", path::PRELOGIN, None, body).await;
        assert!(matches!(s.as_u16(), 400 | 413 | 415 | 422), "prelogin: {s} {}: {}", e.code, e.message);
    }

    assert_eq!(count(&srv, "SELECT username FROM users").await, users, "no account was made");
    assert_eq!(count(&srv, "SELECT username FROM sessions").await, sessions, "no session was made");
    let ok = p.http.post(format!("{}{}", srv.base, path::PRELOGIN)).json(&json!({"username": "alice"})).send().await;
    let ok: PreloginResponse = ok.unwrap().json().await.unwrap();
    assert_ne!(ok.salt, [0; 16]);
    p.healthy().await;
}

#[tokio::test]
async fn user_lookup_refuses_malformed_names_strangers_and_unknown_users() {
    let srv = inproc::spawn(Config::default()).await;
    let p = Probe::new(&srv.base);
    let alice = signup(&srv.base, "alice", "pass-alice-more").await;
    let bob = signup(&srv.base, "bob", "pass-bob-more").await;
    let tok = Some(alice.token.as_str());
    let user = |name: &str| path::fill(path::USER, name);

    for name in ["Bob", "bo", &"b".repeat(33), &"b".repeat(5000), "b%00b", "%FF%FE", "bob%20", "b%2Fob", "bob;drop"] {
        let (s, e) = p.refused("GET", &user(name), tok, None).await;
        assert_eq!((s, e.code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"), "{name}");
    }
    let (s, e) = p.refused("GET", &user("ghost"), tok, None).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    let (s, e) = p.refused("GET", &user("bob"), None, None).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, _) = p.refused("GET", &user("bob"), Some("forged-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let keys: UserKeys = alice.api.get(&user("bob")).await.unwrap();
    assert_eq!(keys.identity, bob.identity.public());
    p.healthy().await;
}

/// A genesis entry for `team` signed by `keys` as `author`, with `action`.
fn genesis(team: TeamId, index: u64, author: &Account, keys: &IdentityKeys, action: Action) -> ChainEntry {
    ChainEntry::signed(team, index, [0; 32], &author.name, keys, now_ms(), action)
}

fn create(admin: &Account, identity: shared::crypto::identity::PublicIdentity, role: Role) -> Action {
    Action::Found {
        admin: Member { username: admin.name.clone(), identity, role },
        shared_collection: CollectionId::random(),
    }
}

#[tokio::test]
async fn team_creation_refuses_bad_genesis_entries_and_stores_nothing() {
    let srv = inproc::spawn(Config::default()).await;
    let p = Probe::new(&srv.base);
    let alice = signup(&srv.base, "alice", "pass-alice-more").await;
    let bob = signup(&srv.base, "bob", "pass-bob-more").await;
    let tok = Some(alice.token.as_str());
    let existing = alice.create_team().await;
    let teams = || async { count(&srv, "SELECT team_id FROM teams").await };
    let entries = || async { count(&srv, "SELECT team_id FROM chain_entries").await };
    let (teams_before, entries_before) = (teams().await, entries().await);
    let me = alice.identity.public();
    let body = |g: ChainEntry| json(&serde_json::to_value(CreateTeamRequest { genesis: g }).unwrap());

    let mut tampered = genesis(TeamId::random(), 0, &alice, &alice.identity, create(&alice, me, Role::Admin));
    tampered.signature[0] ^= 1;
    let mut low_order = me;
    low_order.dh_pk = [0; 32];
    let mut relinked = genesis(TeamId::random(), 0, &alice, &alice.identity, create(&alice, me, Role::Admin));
    relinked.prev = [7; 32];
    let stranger = IdentityKeys::generate();
    let cases = [
        (tampered, "a tampered signature"),
        (genesis(TeamId::random(), 1, &alice, &alice.identity, create(&alice, me, Role::Admin)), "index 1"),
        (relinked, "a previous link (re-signed after)"),
        (
            genesis(TeamId::random(), 0, &alice, &alice.identity, create(&alice, me, Role::Member)),
            "a member, not an admin",
        ),
        (
            genesis(
                TeamId::random(),
                0,
                &alice,
                &alice.identity,
                Action::AddMember {
                    member: Member { username: bob.name.clone(), identity: bob.identity.public(), role: Role::Admin },
                },
            ),
            "no Create action",
        ),
        (
            genesis(TeamId::random(), 0, &alice, &alice.identity, create(&bob, bob.identity.public(), Role::Admin)),
            "someone else as the admin",
        ),
        (
            genesis(TeamId::random(), 0, &alice, &stranger, create(&alice, stranger.public(), Role::Admin)),
            "keys that are not the registered ones",
        ),
        (
            genesis(TeamId::random(), 0, &alice, &alice.identity, create(&alice, low_order, Role::Admin)),
            "a low-order X25519 key",
        ),
    ];
    for (g, what) in cases {
        let (s, e) = p.refused("POST", path::TEAMS, tok, body(g)).await;
        assert_eq!((s, e.code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"), "{what}: {}", e.message);
    }
    // An entry in Bob's name (signed by Bob) sent by Alice.
    let bobs = ChainEntry::signed(
        TeamId::random(),
        0,
        [0; 32],
        &bob.name,
        &bob.identity,
        now_ms(),
        create(&bob, bob.identity.public(), Role::Admin),
    );
    let (s, e) = p.refused("POST", path::TEAMS, tok, body(bobs)).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    // A team id that exists already.
    let (s, e) = p
        .refused(
            "POST",
            path::TEAMS,
            tok,
            body(genesis(existing, 0, &alice, &alice.identity, create(&alice, me, Role::Admin))),
        )
        .await;
    assert_eq!((s, e.code.as_str()), (StatusCode::CONFLICT, "conflict"));

    // Wrong shapes, wrong types, too big, no session.
    let good = serde_json::to_value(CreateTeamRequest {
        genesis: genesis(TeamId::random(), 0, &alice, &alice.identity, create(&alice, me, Role::Admin)),
    })
    .unwrap();
    let mut short_sig = good.clone();
    short_sig["genesis"]["signature"] = "AAAA".into();
    let mut bad_team = good.clone();
    bad_team["genesis"]["team"] = "not-a-team".into();
    let mut bad_action = good.clone();
    bad_action["genesis"]["action"] = json!({"explode": {}});
    let mut negative = good.clone();
    negative["genesis"]["index"] = (-1).into();
    for b in [
        json(&short_sig),
        json(&bad_team),
        json(&bad_action),
        json(&negative),
        json(&json!({"genesis": {}})),
        json(&json!({"genesis": "x"})),
        json(&json!({})),
        json(&json!([good])),
        raw("application/json", b"{\"genesis\":"),
        raw("text/plain", &serde_json::to_vec(&good).unwrap()),
        oversized(),
    ] {
        let (s, _) = p.refused("POST", path::TEAMS, tok, b).await;
        assert!(matches!(s.as_u16(), 400 | 413 | 415 | 422), "{s}");
    }
    let (s, _) = p.refused("POST", path::TEAMS, None, json(&good)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    assert_eq!((teams().await, entries().await), (teams_before, entries_before), "no team was stored");
    let list: TeamList = alice.api.get(path::TEAMS).await.unwrap();
    assert_eq!(list.teams.len(), 1);
    let made: TeamSummary = alice.api.post(path::TEAMS, &good).await.unwrap();
    assert_eq!(made.chain_len, 1);
    alice.create_team().await;
    p.healthy().await;
}

/// Alice's team with Bob as a member, and Mallory, who is in no team of theirs.
async fn team_and_stranger(base: &str) -> (Account, Account, Account, shared::ids::TeamId) {
    let alice = signup(base, "alice", "pass-alice-more").await;
    let bob = signup(base, "bob", "pass-bob-more").await;
    let mallory = signup(base, "mallory", "pass-mallory-more").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    (alice, bob, mallory, team)
}

#[tokio::test]
async fn invitation_creation_refuses_bad_roles_strangers_and_unknown_teams() {
    let srv = inproc::spawn(Config::default()).await;
    let p = Probe::new(&srv.base);
    let (alice, bob, mallory, team) = team_and_stranger(&srv.base).await;
    let open = alice.create_invite(team, Role::Member).await;
    let url = path::fill(path::INVITES, &team.to_string());
    let tok = Some(alice.token.as_str());
    let invites = || async { count(&srv, "SELECT invite_id FROM invites").await };
    let before = invites().await;
    let fresh = || InviteId::random().to_string();

    for b in [
        json(&json!({"invite": fresh(), "role": "owner"})),
        json(&json!({"invite": fresh(), "role": "Admin"})),
        json(&json!({"invite": fresh(), "role": ""})),
        json(&json!({"invite": fresh(), "role": 0})),
        json(&json!({"invite": fresh()})),
        json(&json!({"invite": "zz", "role": "member"})),
        json(&json!({"invite": 7, "role": "member"})),
        json(&json!({"role": "member"})),
        raw("application/json", b"{\"invite\":"),
        raw("text/plain", b"{}"),
        oversized(),
    ] {
        let (s, e) = p.refused("POST", &url, tok, b).await;
        assert!(matches!(s.as_u16(), 400 | 413 | 415 | 422), "{s} {e:?}");
    }
    let good = || json(&json!({"invite": fresh(), "role": "member"}));
    let (s, e) = p.refused("POST", &url, Some(&bob.token), good()).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"), "a member is not an admin");
    let (s, e) = p.refused("POST", &url, Some(&mallory.token), good()).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"), "a stranger");
    let (s, e) = p.refused("POST", &path::fill(path::INVITES, &TeamId::random().to_string()), tok, good()).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    let (s, _) = p.refused("POST", &path::fill(path::INVITES, "not-a-team"), tok, good()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = p.refused("POST", &url, None, good()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, e) =
        p.refused("POST", &url, tok, json(&json!({"invite": open.invite.to_string(), "role": "support"}))).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::CONFLICT, "conflict"), "an id in use");
    assert_eq!(invites().await, before, "no invitation was stored");

    // The expiry is the server's: one the request names is not taken.
    let id = InviteId::random();
    let r = p
        .http
        .post(format!("{}{url}", srv.base))
        .bearer_auth(&alice.token)
        .json(&json!({"invite": id.to_string(), "role": "member", "expires_at": i64::MAX}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let listed = alice.invites(team).await.unwrap();
    let info = listed.iter().find(|i| i.invite == id).unwrap();
    let week = 7 * 24 * 3_600_000;
    assert!((info.expires_at - (now_ms() + week)).abs() < 60_000, "expires {}", info.expires_at);
    assert_eq!(listed.len(), before + 1);
    alice.create_invite(team, Role::Support).await;
    p.healthy().await;
}

#[tokio::test]
async fn the_approvals_list_refuses_strangers_and_bad_paths() {
    let srv = inproc::spawn(Config::default()).await;
    let p = Probe::new(&srv.base);
    let (alice, bob, mallory, team) = team_and_stranger(&srv.base).await;
    let url = path::fill(path::APPROVALS, &team.to_string());
    let asked: Approval = bob.api.post(&url, &json!({"kind": "export_all", "count": 0})).await.unwrap();
    let tok = Some(alice.token.as_str());
    let approvals = || async { count(&srv, "SELECT id FROM approvals").await };
    let before = approvals().await;

    let (s, e) = p.refused("GET", &url, Some(&mallory.token), None).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"), "a stranger");
    let (s, e) = p.refused("GET", &path::fill(path::APPROVALS, &TeamId::random().to_string()), tok, None).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    for bad in ["not-a-team", "00000000000000000000000000000000zz", &"a".repeat(5000)] {
        let (s, _) = p.refused("GET", &path::fill(path::APPROVALS, bad), tok, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (s, _) = p.refused("GET", &url, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = p.refused("GET", &url, Some("forged-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Asking with a bad request stores nothing either.
    for b in [
        json(&json!({"kind": "everything", "count": 0})),
        json(&json!({"kind": "bulk_delete", "count": -1})),
        json(&json!({"kind": "bulk_delete", "count": 1_000_000_000u64})),
        json(&json!({"kind": "grant_admin", "count": 0})),
        json(&json!({"kind": "export_all", "count": 0, "subject": "bob"})),
        json(&json!({"kind": "grant_admin", "count": 0, "subject": "Not A Name"})),
        raw("application/json", b"{"),
    ] {
        let (s, _) = p.refused("POST", &url, Some(&bob.token), b).await;
        assert!(matches!(s.as_u16(), 400 | 422), "{s}");
    }
    assert_eq!(approvals().await, before, "no request was stored");

    // The list takes no parameters: any given are ignored, not an error.
    for query in ["?since=abc&limit=-1", "?only=mallory", "?%FF=%FE"] {
        let list: Approvals = alice.api.get(&format!("{url}{query}")).await.unwrap();
        assert_eq!(list.approvals.iter().map(|a| a.id).collect::<Vec<_>>(), vec![asked.id], "{query}");
    }
    let mine: Approvals = bob.api.get(&url).await.unwrap();
    assert_eq!(mine.approvals.len(), 1);
    p.healthy().await;
}

fn code_at(setup: &TotpSetup, t: u64) -> String {
    let secret = Secret::Encoded(setup.secret.clone()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret, None, String::new()).generate(t)
}

fn now_s() -> u64 {
    client::wall_clock() / 1000
}

#[tokio::test]
async fn two_factor_set_up_refuses_no_session_and_malformed_codes() {
    let srv = inproc::spawn(Config::default()).await;
    let p = Probe::new(&srv.base);
    let alice = signup(&srv.base, "alice", "pass-alice-more").await;
    let tok = Some(alice.token.as_str());
    let enabled = || async { count(&srv, "SELECT username FROM users WHERE totp_secret IS NOT NULL").await };

    // No session, a forged one; confirming before any set-up.
    for token in [None, Some("forged-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] {
        let (s, _) = p.refused("POST", path::TOTP_SETUP, token, json(&json!({}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = p.refused("POST", path::TOTP_ENABLE, token, json(&json!({"code": "123456"}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(count(&srv, "SELECT username FROM users WHERE totp_pending IS NOT NULL").await, 0);
    let (s, e) = p.refused("POST", path::TOTP_ENABLE, tok, json(&json!({"code": "123456"}))).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"), "no set-up to confirm");

    // Set up twice in a row: the second secret replaces the first, whose codes no
    // longer confirm anything.
    let first: TotpSetup = alice.api.post(path::TOTP_SETUP, &json!({})).await.unwrap();
    let second: TotpSetup = alice.api.post(path::TOTP_SETUP, &json!({})).await.unwrap();
    assert_ne!(first.secret, second.secret);
    let near: Vec<String> = [now_s() - 30, now_s(), now_s() + 30].iter().map(|&t| code_at(&second, t)).collect();
    let stale = code_at(&first, now_s());
    if !near.contains(&stale) {
        let (s, e) = p.refused("POST", path::TOTP_ENABLE, tok, json(&json!({"code": stale}))).await;
        assert_eq!((s, e.code.as_str()), (StatusCode::UNAUTHORIZED, "totp_invalid"), "the first set-up's code");
    }

    // Malformed codes: explained, and they cost no try (more of them than the five
    // wrong guesses the back-off allows).
    let long = "1".repeat(10_000);
    for code in ["", " ", "abcdef", "12345", "1234567", "12 345", "１２３４５６", "12345\u{0}", "-12345", &long] {
        let (s, e) = p.refused("POST", path::TOTP_ENABLE, tok, json(&json!({"code": code}))).await;
        assert_eq!((s, e.code.as_str()), (StatusCode::BAD_REQUEST, "bad_request"), "{code:?}: {}", e.message);
    }
    for b in [
        json(&json!({"code": 123456})),
        json(&json!({"code": null})),
        json(&json!({})),
        raw("application/json", b"{\"code\":"),
        raw("text/plain", b"123456"),
        oversized(),
    ] {
        let (s, e) = p.refused("POST", path::TOTP_ENABLE, tok, b).await;
        assert!(matches!(s.as_u16(), 400 | 413 | 415 | 422), "{s} {e:?}");
    }
    let status: TotpStatus = alice.api.get(path::TOTP).await.unwrap();
    assert!(!status.enabled);
    assert_eq!(enabled().await, 0, "nothing was turned on");

    // The second set-up's real code still confirms it.
    let codes: RecoveryCodes =
        alice.api.post(path::TOTP_ENABLE, &TotpCode { code: code_at(&second, now_s()) }).await.unwrap();
    assert_eq!(codes.codes.len(), 10);
    let status: TotpStatus = alice.api.get(path::TOTP).await.unwrap();
    assert!(status.enabled);
    assert_eq!(enabled().await, 1);
    p.healthy().await;
}

/// A route asked with a method it does not take answers 405 with the JSON error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_gets_a_json_405() {
    let srv = inproc::spawn(Config::default()).await;
    let r = reqwest::Client::new().get(format!("{}/api/v1/auth/prelogin", srv.base)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed", "{body}");
}
