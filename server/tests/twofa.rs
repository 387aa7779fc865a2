//! Two-factor authentication against the real server binary: enrolment (QR code,
//! confirmation code, recovery codes); once on, a log-in without a code, with a wrong
//! one or with a replayed one fails and with a fresh one succeeds; a recovery code
//! works once; an admin requiring 2FA locks members without it out of the team's data
//! until they set it up.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{login, login_with, signup, Account};
use server::TestServer;
use shared::api::{
    path, DeviceList, Empty, RecoveryCodes, Require2fa, TeamList, TotpCode, TotpSetup, TotpStatus, WrapsResponse,
};
use shared::chain::Role;
use shared::sync::TransportError;
use totp_rs::{Algorithm, Secret, TOTP};

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn code_at(setup: &TotpSetup, t: u64) -> String {
    let secret = Secret::Encoded(setup.secret.clone()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret, None, String::new()).generate(t)
}

fn status_code<T: std::fmt::Debug>(r: Result<T, TransportError>) -> (u16, String) {
    match r {
        Err(TransportError::Http { status, code, .. }) => (status, code),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

async fn enrol(who: &Account) -> (TotpSetup, Vec<String>) {
    let setup: TotpSetup = who.api.post(path::TOTP_SETUP, &shared::api::Empty {}).await.unwrap();
    let codes: RecoveryCodes =
        who.api.post(path::TOTP_ENABLE, &TotpCode { code: code_at(&setup, now_s()) }).await.unwrap();
    (setup, codes.codes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_on_a_log_in_needs_a_fresh_code_or_a_recovery_code() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-2fa").await;
    let s: TotpStatus = alice.api.get(path::TOTP).await.unwrap();
    assert!(!s.enabled);
    // No markup from the server, ever: the app draws the QR code from the secret.
    let raw: serde_json::Value = alice.api.post(path::TOTP_SETUP, &shared::api::Empty {}).await.unwrap();
    assert!(!raw.to_string().contains('<'), "no markup in the set-up answer: {raw}");
    let setup: TotpSetup = alice.api.post(path::TOTP_SETUP, &shared::api::Empty {}).await.unwrap();
    assert!(
        setup.secret.len() == 32 && setup.secret.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    assert!(setup.uri.starts_with("otpauth://totp/Quietdesk:alice?"));
    // Until confirmed, nothing changes; a wrong code does not confirm.
    assert!(login(&srv.base, "alice", "pass-alice-2fa").await.is_ok());
    let wrong = alice.api.post::<_, RecoveryCodes>(path::TOTP_ENABLE, &TotpCode { code: "000000".into() }).await;
    if code_at(&setup, now_s()) != "000000" {
        assert_eq!(status_code(wrong), (401, "totp_invalid".into()));
    }
    let codes: RecoveryCodes =
        alice.api.post(path::TOTP_ENABLE, &TotpCode { code: code_at(&setup, now_s()) }).await.unwrap();
    assert_eq!(codes.codes.len(), 10);
    let s: TotpStatus = alice.api.get(path::TOTP).await.unwrap();
    assert!(s.enabled);
    let d: DeviceList = alice.api.get(path::DEVICES).await.unwrap();
    assert!(d.two_factor);

    // Without a code, with a wrong one: refused.
    assert_eq!(
        status_code(login(&srv.base, "alice", "pass-alice-2fa").await.map(|_| ())),
        (401, "totp_required".into())
    );
    let bad = login_with(&srv.base, "alice", "pass-alice-2fa", Some("12345".into())).await;
    assert_eq!(status_code(bad.map(|_| ())), (401, "totp_invalid".into()));
    // A wrong passphrase with a right code says nothing about the code.
    let next = code_at(&setup, now_s() + 30);
    let wrong_pass = login_with(&srv.base, "alice", "not-her-passphrase", Some(next.clone())).await;
    assert_eq!(status_code(wrong_pass.map(|_| ())).0, 401);
    // The next step's code (clock skew allowed) works; the same code again does not.
    let ok = login_with(&srv.base, "alice", "pass-alice-2fa", Some(next.clone())).await.unwrap();
    let _: TeamList = ok.api.get(path::TEAMS).await.unwrap();
    let replay = login_with(&srv.base, "alice", "pass-alice-2fa", Some(next)).await;
    assert_eq!(status_code(replay.map(|_| ())), (401, "totp_invalid".into()));
    // A recovery code works once.
    let rc = codes.codes[3].to_uppercase();
    login_with(&srv.base, "alice", "pass-alice-2fa", Some(rc.clone())).await.unwrap();
    let again = login_with(&srv.base, "alice", "pass-alice-2fa", Some(rc)).await;
    assert_eq!(status_code(again.map(|_| ())), (401, "totp_invalid".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_that_requires_2fa_shuts_out_members_without_it() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-team2fa").await;
    let bob = signup(&srv.base, "bob", "pass-bob-team2fa").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let url = path::fill(path::TEAM_2FA, &team.to_string());
    let wraps = path::fill(path::WRAPS, &team.to_string());

    // An admin without 2FA cannot require it; a member cannot at all.
    let r = alice.api.put::<_, Empty>(&url, &Require2fa { required: true }).await;
    assert_eq!(status_code(r).0, 400);
    enrol(&alice).await;
    let r = bob.api.put::<_, Empty>(&url, &Require2fa { required: true }).await;
    assert_eq!(status_code(r).0, 403);
    let _: Empty = alice.api.put(&url, &Require2fa { required: true }).await.unwrap();

    assert_eq!(status_code(bob.api.get::<WrapsResponse>(&wraps).await), (403, "2fa_required".into()));
    let _: WrapsResponse = alice.api.get(&wraps).await.unwrap();
    // Bob sets it up (those endpoints stay open to him) and is back in.
    enrol(&bob).await;
    let _: WrapsResponse = bob.api.get(&wraps).await.unwrap();
}
