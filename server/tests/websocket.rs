//! The event socket refuses whoever may not hear a team, and closes on whoever stops
//! being allowed to: a forged, expired or logged-out token, a non-member, a malformed
//! first message get a close frame (1008, the refusal's code as its reason) and no
//! `ready`; a member removed from the team, logged out, signed out remotely or whose
//! session expires loses an open socket at once and hears no poke after. Every time,
//! the server keeps serving the others: another member's socket still gets its pokes.
//!
//! Not tested here: a socket that never sends its first message is closed after 10 s
//! (`AUTH_WAIT` in events.rs), too long a wait for this suite.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/inproc.rs"]
mod inproc;
#[path = "support/server.rs"]
mod server;

use std::time::Duration;

use client::{login, signup, Account, HttpTransport};
use futures::{SinkExt, StreamExt};
use quietdesk_server::Config;
use reqwest::StatusCode;
use shared::api::{
    path, ClientEvent, Cursor, DeviceList, Empty, ErrorBody, RevokeDeviceRequest, ServerEvent, WipeMemberRequest,
    WipeResponse,
};
use shared::chain::Role;
use shared::domain::{Customer, Entity};
use shared::ids::{RecordId, TeamId};
use shared::sync::memory::MemoryStore;
use shared::sync::Syncer;
use shared::wipe::WipeOrder;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn now() -> i64 {
    client::wall_clock() as i64
}

fn events_url(base: &str, team: &str) -> String {
    format!("{}{}", base.replacen("http", "ws", 1), path::fill(path::EVENTS, team))
}

fn auth(token: &str) -> Message {
    Message::Text(serde_json::to_string(&ClientEvent::Auth { token: token.into() }).unwrap().into())
}

/// A socket for `team` whose first message is `first` (sent as is; the server may hang
/// up before it has all of it).
async fn open(base: &str, team: TeamId, first: Message) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(events_url(base, &team.to_string())).await.unwrap();
    let _ = ws.send(first).await;
    ws
}

/// `who`'s socket for `team`, past its `ready`.
async fn listening(who: &Account, team: TeamId) -> Ws {
    let mut ws = open(&who.api.base, team, auth(&who.token)).await;
    match timeout(Duration::from_secs(5), next_event(&mut ws)).await {
        Ok(Some(ServerEvent::Ready { .. })) => ws,
        other => panic!("{}: expected ready, got {other:?}", who.name),
    }
}

async fn next_event(ws: &mut Ws) -> Option<ServerEvent> {
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            return Some(serde_json::from_str(&t).unwrap());
        }
    }
    None
}

/// Wait (5 s at most) for the server to close `ws`, asserting it sent nothing before
/// (no `ready`, no poke) and nothing after; the close frame's reason.
async fn closed(ws: &mut Ws, what: &str) -> String {
    let reason = timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                Some(Ok(Message::Text(t))) => panic!("{what}: the socket carried {t} instead of closing"),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return String::new(),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: the socket is still open after 5 s"));
    let after = timeout(Duration::from_secs(1), ws.next()).await.expect("closed for good");
    assert!(matches!(after, None | Some(Err(_))), "{what}: {after:?} after the close");
    reason
}

/// Wait for a poke announcing `cursor` or later (other events pass by).
async fn poked_past(ws: &mut Ws, cursor: Cursor, who: &str) {
    let heard = timeout(Duration::from_secs(5), async {
        loop {
            match next_event(ws).await {
                Some(ServerEvent::Poke { cursor: c }) if c >= cursor => return,
                Some(_) => {}
                None => panic!("{who}'s socket closed"),
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "{who} heard no poke within 5 s");
}

/// `who` pushes a new customer; the cursor it got.
async fn push_one(who: &Account, team: TeamId) -> Cursor {
    let mut s: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(who.session(team).await, MemoryStore::new(), who.transport(team)).await.unwrap();
    s.sync().await.unwrap();
    let fields = Customer { name: "Someone".into(), ..Default::default() }.to_fields();
    s.edit(RecordId::random(), fields, now() as u64).await.unwrap();
    s.sync().await.unwrap();
    s.replica.cursor
}

#[tokio::test]
async fn forged_and_malformed_tokens_get_no_socket() {
    let srv = inproc::spawn(Config::default()).await;
    let alice = signup(&srv.base, "alice", "pass-alice-ws").await;
    let team = alice.create_team().await;
    let mut heard = listening(&alice, team).await;

    for (token, what) in [
        ("forged-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(), "a forged token"),
        (String::new(), "an empty token"),
        ("x".repeat(600), "an over-long token"),
        (alice.token.to_uppercase(), "a token with its case changed"),
    ] {
        let mut ws = open(&srv.base, team, auth(&token)).await;
        assert_eq!(closed(&mut ws, what).await, "unauthorized", "{what}");
    }

    let cursor = push_one(&alice, team).await;
    poked_past(&mut heard, cursor, "alice").await;
}

#[tokio::test]
async fn non_members_and_unknown_teams_get_no_socket() {
    let srv = inproc::spawn(Config::default()).await;
    let alice = signup(&srv.base, "alice", "pass-alice-ws").await;
    let mallory = signup(&srv.base, "mallory", "pass-mallory-ws").await;
    let team = alice.create_team().await;
    let _own = mallory.create_team().await; // a member elsewhere is a stranger here
    let mut heard = listening(&alice, team).await;

    let mut ws = open(&srv.base, team, auth(&mallory.token)).await;
    assert_eq!(closed(&mut ws, "a member of another team").await, "forbidden");
    let mut ws = open(&srv.base, TeamId::random(), auth(&alice.token)).await;
    assert_eq!(closed(&mut ws, "an unknown team").await, "not_found");

    // Not a websocket, or not a team: an HTTP refusal with the usual JSON body.
    let http = reqwest::Client::new();
    for (url, want) in [
        (format!("{}{}", srv.base, path::fill(path::EVENTS, &team.to_string())), StatusCode::BAD_REQUEST),
        (format!("{}{}", srv.base, path::fill(path::EVENTS, "not-a-team")), StatusCode::BAD_REQUEST),
    ] {
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), want, "{url}");
        let body: ErrorBody = serde_json::from_str(&r.text().await.unwrap()).expect("a JSON error body");
        assert_eq!(body.code, "bad_request");
    }
    let refused = tokio_tungstenite::connect_async(events_url(&srv.base, "not-a-team")).await;
    assert!(refused.is_err(), "no upgrade for a malformed team id");

    // Mallory's requests changed nothing for the team's members.
    let cursor = push_one(&alice, team).await;
    poked_past(&mut heard, cursor, "alice").await;
}

#[tokio::test]
async fn a_malformed_first_message_closes_the_socket() {
    let srv = inproc::spawn(Config::default()).await;
    let alice = signup(&srv.base, "alice", "pass-alice-ws").await;
    let team = alice.create_team().await;
    let mut heard = listening(&alice, team).await;

    let token_json = serde_json::to_string(&alice.token).unwrap();
    let huge = format!(r#"{{"type":"auth","token":{token_json},"pad":"{}"}}"#, "x".repeat(64 * 1024));
    let cases: Vec<(Message, &str, &str)> = vec![
        (Message::Text("hello".into()), "not JSON", "bad_request"),
        (Message::Text(r#"{"type":"hello"}"#.into()), "an unknown message type", "bad_request"),
        (Message::Text(r#"{"type":"auth"}"#.into()), "auth without a token", "bad_request"),
        (Message::Text(r#"{"type":"auth","token":5}"#.into()), "a token that is not a string", "bad_request"),
        (Message::Text(format!(r#"{{"token":{token_json}}}"#).into()), "a real token, untagged", "bad_request"),
        (Message::Text(format!(r#"[{token_json}]"#).into()), "a real token in an array", "bad_request"),
        (Message::Binary(auth(&alice.token).into_data()), "a real auth message sent as binary", "bad_request"),
        (Message::Text(huge.into()), "a real token in a 64 KiB message", ""),
    ];
    for (first, what, want) in cases {
        let mut ws = open(&srv.base, team, first).await;
        let reason = closed(&mut ws, what).await;
        // Past the size limit the server may hang up before it can say why.
        assert!(reason == want || (want.is_empty() && reason == "bad_request"), "{what}: closed with {reason:?}");
    }

    let cursor = push_one(&alice, team).await;
    poked_past(&mut heard, cursor, "alice").await;
    listening(&alice, team).await;
}

#[tokio::test]
async fn a_removed_member_loses_the_socket_and_hears_nothing_more() {
    let srv = inproc::spawn(Config::default()).await;
    let alice = signup(&srv.base, "alice", "pass-alice-ws").await;
    let bob = signup(&srv.base, "bob", "pass-bob-ws").await;
    let carol = signup(&srv.base, "carol", "pass-carol-ws").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    alice.add_member(team, "carol", Role::Member).await;
    let mut bob_ws = listening(&bob, team).await;
    let mut carol_ws = listening(&carol, team).await;

    alice.remove_member(team, &bob.name).await;
    // The removal ended his sessions, and his membership with them.
    let reason = closed(&mut bob_ws, "a removed member's socket").await;
    assert!(reason == "unauthorized" || reason == "forbidden", "closed with {reason:?}");

    let cursor = push_one(&alice, team).await;
    poked_past(&mut carol_ws, cursor, "carol").await;

    // Logged in again, he is no member: no socket.
    let bob = login(&srv.base, "bob", "pass-bob-ws").await.unwrap();
    let mut ws = open(&srv.base, team, auth(&bob.token)).await;
    assert_eq!(closed(&mut ws, "a removed member's new socket").await, "forbidden");
    let cursor = push_one(&alice, team).await;
    poked_past(&mut carol_ws, cursor, "carol").await;
}

#[tokio::test]
async fn logging_out_closes_the_session_s_socket_at_once() {
    let srv = inproc::spawn(Config::default()).await;
    let alice = signup(&srv.base, "alice", "pass-alice-ws").await;
    let bob = signup(&srv.base, "bob", "pass-bob-ws").await;
    let bob_tablet = login(&srv.base, "bob", "pass-bob-ws").await.unwrap();
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut bob_ws = listening(&bob, team).await;
    let mut tablet_ws = listening(&bob_tablet, team).await;
    let mut alice_ws = listening(&alice, team).await;

    let _: Empty = bob.api.post(path::LOGOUT, &serde_json::json!({})).await.unwrap();
    assert_eq!(closed(&mut bob_ws, "a logged-out session's socket").await, "unauthorized");
    let mut ws = open(&srv.base, team, auth(&bob.token)).await;
    assert_eq!(closed(&mut ws, "a logged-out token").await, "unauthorized");

    // His other device, and the rest of the team, hear on.
    let cursor = push_one(&alice, team).await;
    poked_past(&mut tablet_ws, cursor, "bob's tablet").await;
    poked_past(&mut alice_ws, cursor, "alice").await;
}

#[tokio::test]
async fn a_revoked_or_wiped_device_loses_the_socket() {
    let srv = inproc::spawn(Config::default()).await;
    let alice = signup(&srv.base, "alice", "pass-alice-ws").await;
    let phone = signup(&srv.base, "bob", "pass-bob-ws").await;
    let laptop = login(&srv.base, "bob", "pass-bob-ws").await.unwrap();
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut phone_ws = listening(&phone, team).await;
    let mut laptop_ws = listening(&laptop, team).await;
    let mut alice_ws = listening(&alice, team).await;

    // Bob signs his lost phone out from the laptop.
    let list: DeviceList = laptop.api.get(path::DEVICES).await.unwrap();
    let lost = list.devices.iter().find(|d| !d.current).unwrap().id.clone();
    let order =
        WipeOrder::sign(laptop.name.clone(), Some(lost.clone()), now(), laptop.name.clone(), None, &laptop.identity);
    let _: WipeResponse =
        laptop.api.post(&path::fill(path::REVOKE_DEVICE, &lost), &RevokeDeviceRequest { order }).await.unwrap();
    assert_eq!(closed(&mut phone_ws, "a revoked device's socket").await, "device_wiped");
    let cursor = push_one(&alice, team).await;
    poked_past(&mut laptop_ws, cursor, "bob's laptop").await;

    // Alice wipes every device of Bob's: the laptop's socket goes too.
    let order = WipeOrder::sign(laptop.name.clone(), None, now(), alice.name.clone(), Some(team), &alice.identity);
    let url = path::fill(path::WIPE_MEMBER, &team.to_string());
    let _: WipeResponse =
        alice.api.post(&url, &WipeMemberRequest { username: laptop.name.clone(), order }).await.unwrap();
    assert_eq!(closed(&mut laptop_ws, "a wiped member's socket").await, "device_wiped");
    let cursor = push_one(&alice, team).await;
    poked_past(&mut alice_ws, cursor, "alice").await;
}

#[tokio::test]
async fn an_expired_session_gets_no_socket_and_its_open_one_closes() {
    // Sessions last 3 s: long enough to sign up, make a team and open a socket.
    let srv = inproc::spawn(Config { session_ttl: Duration::from_secs(3), ..Config::default() }).await;
    let alice = signup(&srv.base, "alice", "pass-alice-ws").await;
    let team = alice.create_team().await;
    let mut ws = listening(&alice, team).await;
    assert_eq!(closed(&mut ws, "an expiring session's socket").await, "session_expired");
    let mut ws = open(&srv.base, team, auth(&alice.token)).await;
    let reason = closed(&mut ws, "an expired token").await;
    assert!(reason == "session_expired" || reason == "unauthorized", "closed with {reason:?}");

    // A fresh log-in listens again, and hears its pushes.
    let alice = login(&srv.base, "alice", "pass-alice-ws").await.unwrap();
    let mut ws = listening(&alice, team).await;
    let cursor = push_one(&alice, team).await;
    poked_past(&mut ws, cursor, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_through_one_instance_closes_its_socket_on_another() {
    if !backend::on_postgres() {
        eprintln!("skipped: several instances share a PostgreSQL database (set {})", backend::ENV);
        return;
    }
    let one = server::TestServer::start();
    let two = server::TestServer::start_on(tempfile::tempdir().unwrap(), one.db.clone(), &[]);
    let alice = signup(&one.base, "alice", "pass-alice-ws").await;
    signup(&one.base, "bob", "pass-bob-ws").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    // Both listen through instance 2; Bob logs out through instance 1.
    let mut bob = login(&two.base, "bob", "pass-bob-ws").await.unwrap();
    let mut bob_ws = listening(&bob, team).await;
    let mut api = alice.api.clone();
    api.base = two.base.clone();
    let mut alice_on_two = Account { api, ..alice };
    let mut alice_ws = listening(&alice_on_two, team).await;
    bob.api.base = one.base.clone();
    let _: Empty = bob.api.post(path::LOGOUT, &serde_json::json!({})).await.unwrap();
    assert_eq!(closed(&mut bob_ws, "a socket on another instance").await, "unauthorized");

    alice_on_two.api.base = one.base.clone();
    let cursor = push_one(&alice_on_two, team).await;
    poked_past(&mut alice_ws, cursor, "alice (instance 2)").await;
}
