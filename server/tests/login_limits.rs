//! Back-off on guesses at a secret, against the real server binary (issue 31, item 13):
//! after a few free wrong guesses even the right passphrase waits (429
//! `too_many_attempts` with Retry-After) and works once the wait is over; the counts
//! live in the database, so a second instance on it refuses too; wrong 2FA codes at
//! log-in and at set-up, and wrong recovery keys, count the same way; an unknown
//! username gets exactly the answers a known one gets; and one address spraying many
//! usernames is stopped by its own count (behind a trusted proxy, per forwarded client).
//! The waits are set to seconds by flags, so the tests stay short.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use std::time::Duration;

use client::{signup, Account, Api};
use server::TestServer;
use shared::api::{path, LoginRequest, PreloginRequest, RecoveryBundleRequest, TotpCode, TotpSetup};
use shared::crypto::passphrase::{derive_account_keys, Passphrase};
use shared::ids::Username;
use totp_rs::{Algorithm, Secret, TOTP};

/// A server whose accounts get `per_user` free wrong guesses and whose addresses get
/// `per_address`, then wait `wait` s, doubling to at most twice that (seconds: long
/// enough that a slow request on a busy machine does not outlast a wait), with `extra`
/// flags; on `db` when given (another instance's).
fn start(per_user: u32, per_address: u32, wait: u64, extra: &[&str], db: Option<&TestServer>) -> TestServer {
    let numbers = [per_user.to_string(), per_address.to_string(), wait.to_string(), (2 * wait).to_string()];
    let mut flags = vec![
        "--login-failures-per-user",
        &numbers[0],
        "--login-failures-per-address",
        &numbers[1],
        "--login-backoff-seconds",
        &numbers[2],
        "--login-backoff-max-seconds",
        &numbers[3],
        "--login-window-seconds",
        "600",
    ];
    flags.extend(extra);
    match db {
        Some(other) => TestServer::start_on(tempfile::tempdir().unwrap(), other.db.clone(), &flags),
        None => TestServer::start_with(&flags),
    }
}

/// What the server answered, as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    code: String,
    retry_after: Option<u64>,
}

impl Answer {
    fn is(&self, status: u16, code: &str) -> bool {
        self.status == status && self.code == code
    }
}

async fn post(base: &str, path: &str, body: &impl serde::Serialize, extra: Option<(&str, &str)>) -> Answer {
    let mut req = reqwest::Client::new().post(format!("{base}{path}")).json(body);
    if let Some((name, value)) = extra {
        req = req.header(name, value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
    let body: serde_json::Value = resp.json().await.unwrap();
    let code = if status == 200 { String::new() } else { body["code"].as_str().unwrap().to_owned() };
    Answer { status, code, retry_after }
}

/// The auth key `passphrase` gives for `name`, with the salt the server offers.
async fn auth_key(base: &str, name: &str, passphrase: &str) -> [u8; 32] {
    let name = Username::parse(name).unwrap();
    let pre = Api::new(base).call(&PreloginRequest { username: name.clone() }).await.unwrap();
    let (auth, _) = derive_account_keys(&Passphrase::new(passphrase), &name, &pre.salt, pre.kdf).unwrap();
    *auth.expose_secret()
}

async fn log_in(base: &str, name: &str, auth_key: [u8; 32], totp: Option<String>) -> Answer {
    log_in_from(base, name, auth_key, totp, None).await
}

/// A log-in carrying `X-Forwarded-For: forwarded_for` (what a proxy in front adds).
async fn log_in_from(
    base: &str,
    name: &str,
    auth_key: [u8; 32],
    totp: Option<String>,
    forwarded_for: Option<&str>,
) -> Answer {
    let req = LoginRequest { username: Username::parse(name).unwrap(), auth_key, totp };
    post(base, path::LOGIN, &req, forwarded_for.map(|f| ("x-forwarded-for", f))).await
}

/// A guess that is wrong for every account (no derivation needed: the server cannot
/// tell a random key from a wrong passphrase's).
fn wrong_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut k);
    k
}

async fn wait_out(a: &Answer) {
    assert!(a.is(429, "too_many_attempts"), "{a:?}");
    let secs = a.retry_after.expect("a Retry-After header");
    assert!((1..=4).contains(&secs), "{a:?}");
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn code_at(setup: &TotpSetup, t: u64) -> String {
    let secret = Secret::Encoded(setup.secret.clone()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret, None, String::new()).generate(t)
}

/// A code that is not the current one (nor a neighbour's, which are also accepted).
fn wrong_code(setup: &TotpSetup) -> String {
    let near: Vec<String> = [now_s() - 30, now_s(), now_s() + 30].iter().map(|&t| code_at(setup, t)).collect();
    (0..).map(|i| format!("{:06}", 111_111 * (i % 9) + i / 9)).find(|c| !near.contains(c)).unwrap()
}

async fn enable_code(who: &Account, code: String) -> Answer {
    let bearer = format!("Bearer {}", who.token);
    post(&who.api.base, path::TOTP_ENABLE, &TotpCode { code }, Some(("authorization", &bearer))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_free_failures_even_the_right_passphrase_waits_then_works() {
    let srv = start(3, 1000, 2, &[], None);
    signup(&srv.base, "alice", "pass-alice-limits").await;
    let right = auth_key(&srv.base, "alice", "pass-alice-limits").await;

    for _ in 0..3 {
        assert!(log_in(&srv.base, "alice", wrong_key(), None).await.is(401, "unauthorized"));
    }
    let refused = log_in(&srv.base, "alice", right, None).await;
    assert!(refused.is(429, "too_many_attempts"), "{refused:?}");
    assert!(matches!(refused.retry_after, Some(1..=2)), "{refused:?}");
    // Guesses while waiting are not checked, and do not lengthen the wait.
    assert!(log_in(&srv.base, "alice", wrong_key(), None).await.is(429, "too_many_attempts"));
    wait_out(&refused).await;
    // One more wrong guess doubles the wait.
    assert!(log_in(&srv.base, "alice", wrong_key(), None).await.is(401, "unauthorized"));
    let doubled = log_in(&srv.base, "alice", right, None).await;
    assert!(matches!(doubled.retry_after, Some(3..=4)), "{doubled:?}");
    wait_out(&doubled).await;
    assert!(log_in(&srv.base, "alice", right, None).await.is(200, ""));

    // The success cleared the account's count: two wrong guesses are free again.
    for _ in 0..2 {
        assert!(log_in(&srv.base, "alice", wrong_key(), None).await.is(401, "unauthorized"));
    }
    assert!(log_in(&srv.base, "alice", right, None).await.is(200, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_sent_all_at_once_are_counted_one_by_one() {
    let srv = start(3, 1000, 60, &[], None);
    signup(&srv.base, "hana", "pass-hana-limits").await;
    let burst = (0..20).map(|_| log_in(&srv.base, "hana", wrong_key(), None));
    let answers = futures::future::join_all(burst).await;
    let checked = answers.iter().filter(|a| a.is(401, "unauthorized")).count();
    let refused = answers.iter().filter(|a| a.is(429, "too_many_attempts")).count();
    assert_eq!((checked, refused), (3, 17), "only the free guesses were compared: {answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_share_the_counts() {
    let one = start(3, 1000, 2, &[], None);
    let two = start(3, 1000, 2, &[], Some(&one));
    signup(&one.base, "bob", "pass-bob-limits").await;
    let right = auth_key(&two.base, "bob", "pass-bob-limits").await;

    for _ in 0..3 {
        assert!(log_in(&one.base, "bob", wrong_key(), None).await.is(401, "unauthorized"));
    }
    let refused = log_in(&two.base, "bob", right, None).await;
    assert!(refused.is(429, "too_many_attempts"), "failures on instance 1 lock bob on instance 2: {refused:?}");
    wait_out(&refused).await;
    assert!(log_in(&two.base, "bob", right, None).await.is(200, ""));
    // ... and the success on instance 2 cleared the count for instance 1 too.
    for _ in 0..2 {
        assert!(log_in(&two.base, "bob", wrong_key(), None).await.is(401, "unauthorized"));
    }
    assert!(log_in(&one.base, "bob", right, None).await.is(200, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_2fa_codes_back_off_at_log_in_and_at_set_up() {
    let srv = start(3, 1000, 2, &[], None);
    let carol = signup(&srv.base, "carol", "pass-carol-limits").await;
    let setup: TotpSetup = carol.api.post(path::TOTP_SETUP, &shared::api::Empty {}).await.unwrap();

    // Set-up: three wrong confirmation codes, then even the right one waits.
    for _ in 0..3 {
        assert!(enable_code(&carol, wrong_code(&setup)).await.is(401, "totp_invalid"));
    }
    let refused = enable_code(&carol, code_at(&setup, now_s())).await;
    // Fumbling the set-up does not lock its owner out of logging in.
    let right = auth_key(&srv.base, "carol", "pass-carol-limits").await;
    assert!(log_in(&srv.base, "carol", right, None).await.is(200, ""));
    wait_out(&refused).await;
    assert!(enable_code(&carol, code_at(&setup, now_s())).await.is(200, ""));

    // Log-in: a missing code is no guess (only a right passphrase gets that answer)…
    for _ in 0..4 {
        assert!(log_in(&srv.base, "carol", right, None).await.is(401, "totp_required"));
    }
    // … a wrong one is.
    for _ in 0..3 {
        assert!(log_in(&srv.base, "carol", right, Some(wrong_code(&setup))).await.is(401, "totp_invalid"));
    }
    let refused = log_in(&srv.base, "carol", right, Some(code_at(&setup, now_s()))).await;
    wait_out(&refused).await;
    // The code refused unchecked was never used: it (or the next) works now.
    let code = code_at(&setup, now_s() + 30);
    assert!(log_in(&srv.base, "carol", right, Some(code)).await.is(200, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_username_gets_the_answers_a_known_one_gets() {
    // A long wait: nothing here waits it out, and no answer changes with timing.
    let srv = start(3, 1000, 60, &[], None);
    signup(&srv.base, "dora", "pass-dora-limits").await;
    let mut seen = vec![];
    for name in ["dora", "nobody-here"] {
        let mut answers = vec![];
        for _ in 0..3 {
            answers.push(log_in(&srv.base, name, wrong_key(), None).await);
        }
        answers.push(log_in(&srv.base, name, wrong_key(), None).await);
        let recovery = RecoveryBundleRequest { username: Username::parse(name).unwrap(), recovery_auth_key: [7; 32] };
        answers.push(post(&srv.base, path::RECOVERY_BUNDLE, &recovery, None).await);
        seen.push(answers);
    }
    let waits = |answers: &[Answer]| answers.iter().filter_map(|a| a.retry_after).collect::<Vec<_>>();
    assert!(waits(&seen[0]).iter().chain(&waits(&seen[1])).all(|w| (55..=60).contains(w)), "{seen:?}");
    let shape = |answers: &[Answer]| {
        answers.iter().map(|a| (a.status, a.code.clone(), a.retry_after.is_some())).collect::<Vec<_>>()
    };
    assert_eq!(shape(&seen[0]), shape(&seen[1]), "dora and an unknown name are answered alike");
    let locked = (429, "too_many_attempts".to_owned(), true);
    let wrong = (401, "unauthorized".to_owned(), false);
    let expected = [wrong.clone(), wrong.clone(), wrong, locked.clone(), locked];
    assert_eq!(shape(&seen[0]), expected, "a recovery guess waits like a log-in");

    // Wrong recovery keys count against the account like wrong passphrases.
    signup(&srv.base, "erin", "pass-erin-limits").await;
    for name in ["erin", "nobody-else"] {
        let recovery = RecoveryBundleRequest { username: Username::parse(name).unwrap(), recovery_auth_key: [7; 32] };
        for _ in 0..3 {
            assert!(post(&srv.base, path::RECOVERY_BUNDLE, &recovery, None).await.is(401, "unauthorized"));
        }
    }
    let right = auth_key(&srv.base, "erin", "pass-erin-limits").await;
    assert!(log_in(&srv.base, "erin", right, None).await.is(429, "too_many_attempts"));
    assert!(log_in(&srv.base, "nobody-else", wrong_key(), None).await.is(429, "too_many_attempts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_spraying_many_usernames_is_stopped_by_its_own_count() {
    let srv = start(3, 5, 2, &[], None);
    signup(&srv.base, "frank", "pass-frank-limits").await;
    let right = auth_key(&srv.base, "frank", "pass-frank-limits").await;

    // One guess per name, each from a "different" client by a header nobody trusts.
    for i in 0..4 {
        let a = log_in_from(&srv.base, &format!("user-{i}"), wrong_key(), None, Some(&format!("198.51.100.{i}"))).await;
        assert!(a.is(401, "unauthorized"), "{a:?}");
    }
    // A success does not clear the address's count (an attacker's own account would).
    assert!(log_in(&srv.base, "frank", right, None).await.is(200, ""));
    assert!(log_in(&srv.base, "user-4", wrong_key(), None).await.is(401, "unauthorized"));
    let refused = log_in(&srv.base, "frank", right, None).await;
    assert!(refused.is(429, "too_many_attempts"), "the address is waiting, whichever the name: {refused:?}");
    assert!(log_in(&srv.base, "user-99", wrong_key(), None).await.is(429, "too_many_attempts"));
    wait_out(&refused).await;
    assert!(log_in(&srv.base, "frank", right, None).await.is(200, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_counts_apart() {
    let srv = start(3, 2, 2, &["--trusted-proxy", "127.0.0.1"], None);
    signup(&srv.base, "gina", "pass-gina-limits").await;
    let right = auth_key(&srv.base, "gina", "pass-gina-limits").await;

    // The client's own entry (left) is not believed: the proxy's (right) counts.
    let attacker = "10.9.9.9, 203.0.113.7";
    for i in 0..2 {
        let a = log_in_from(&srv.base, &format!("user-{i}"), wrong_key(), None, Some(attacker)).await;
        assert!(a.is(401, "unauthorized"), "{a:?}");
    }
    let a = log_in_from(&srv.base, "gina", right, None, Some("10.9.9.8, 203.0.113.7")).await;
    assert!(a.is(429, "too_many_attempts"), "{a:?}");
    let a = log_in_from(&srv.base, "gina", right, None, Some("203.0.113.8")).await;
    assert!(a.is(200, ""), "another client behind the proxy: {a:?}");
}
