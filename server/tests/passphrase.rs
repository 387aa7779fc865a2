//! Passphrase changes and the salt bound to the username, against the real server
//! binary: a change needs the current passphrase (a session token alone is not
//! enough), the old passphrase stops working and the identity keys stay; settings
//! with an unbound salt are never stored; and an account from before the binding is
//! refused on a new device, accepted on the device that pinned its salt, and upgraded
//! there to the bound form, after which every device logs in with the new salt.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{login, login_checked, signup, Account, Api};
use server::TestServer;
use shared::api::{ChangePassphraseRequest, PreloginRequest, PreloginResponse, SessionResponse, SignupRequest};
use shared::crypto::identity::IdentityKeys;
use shared::crypto::passphrase::{derive_account_keys, KdfParams, Passphrase, SaltBinding};
use shared::ids::Username;
use shared::sync::TransportError;

/// The change request a client sends to go from `old` to `new` under `kdf`.
async fn change_request(base: &str, who: &Account, old: &str, new: &str, kdf: KdfParams) -> ChangePassphraseRequest {
    let pre = prelogin(base, who.name.as_str()).await;
    let (current, _) = derive_account_keys(&Passphrase::new(old), &who.name, &pre.salt, pre.kdf).unwrap();
    let mut salt = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    let (auth, wrap) = derive_account_keys(&Passphrase::new(new), &who.name, &salt, kdf).unwrap();
    ChangePassphraseRequest {
        current_auth_key: *current.expose_secret(),
        salt,
        kdf,
        auth_key: *auth.expose_secret(),
        bundle: who.identity.seal_bundle(&wrap, who.name.as_str()),
    }
}

async fn prelogin(base: &str, name: &str) -> PreloginResponse {
    Api::new(base).call(&PreloginRequest { username: name.parse().unwrap() }).await.unwrap()
}

fn status(r: Result<impl Sized, TransportError>) -> (u16, String) {
    match r {
        Err(TransportError::Http { status, code, .. }) => (status, code),
        Err(e) => panic!("expected an HTTP error, got {e}"),
        Ok(_) => panic!("expected an HTTP error, got success"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_passphrase_needs_the_current_one_and_replaces_it() {
    let srv = TestServer::start();
    let old = "pass-frank-first-one";
    let frank = signup(&srv.base, "frank", old).await;
    let public = frank.identity.public();

    // A session token with a wrong current passphrase changes nothing.
    let mut wrong =
        change_request(&srv.base, &frank, "not-franks-passphrase", "pass-frank-second", KdfParams::MINIMUM).await;
    assert_eq!(status(frank.api.call(&wrong).await), (403, "forbidden".into()));
    assert!(login(&srv.base, "frank", old).await.is_ok(), "the old passphrase still works");

    // Settings with an unbound salt are never stored.
    let good = change_request(&srv.base, &frank, old, "pass-frank-second", KdfParams::MINIMUM).await;
    wrong = good.clone();
    wrong.kdf.binding = SaltBinding::Random;
    assert_eq!(status(frank.api.call(&wrong).await), (400, "bad_request".into()));
    assert!(login(&srv.base, "frank", old).await.is_ok());

    // Another device of Frank's, signed in with the old passphrase (or by whoever knew it).
    let laptop = login(&srv.base, "frank", old).await.unwrap();
    laptop.api.get::<shared::api::TeamList>(shared::api::path::TEAMS).await.unwrap();
    frank.api.call(&good).await.unwrap();
    assert!(matches!(login(&srv.base, "frank", old).await.err(), Some(TransportError::Http { status: 401, .. })));
    let again = login(&srv.base, "frank", "pass-frank-second").await.unwrap();
    assert_eq!(again.identity.public(), public, "the identity keys stay; only the bundle's seal changed");
    // The session that changed it keeps working; every other one ended with the old passphrase.
    frank.api.get::<shared::api::TeamList>(shared::api::path::TEAMS).await.unwrap();
    let ended = laptop.api.get::<shared::api::TeamList>(shared::api::path::TEAMS).await;
    assert!(matches!(ended, Err(TransportError::Http { status: 401, .. })), "the other session ended");
    again.api.get::<shared::api::TeamList>(shared::api::path::TEAMS).await.unwrap();
}

/// An account from before the binding: its stored settings read as unbound. Made here
/// as the app of that time made it (the server now refuses to store the form).
async fn legacy_account(srv: &TestServer, name: &str, passphrase: &str) -> ([u8; 16], KdfParams) {
    let username: Username = name.parse().unwrap();
    let salt = [0x5A; 16];
    let legacy = KdfParams { binding: SaltBinding::Random, ..KdfParams::MINIMUM };
    let (auth, wrap) = derive_account_keys(&Passphrase::new(passphrase), &username, &salt, legacy).unwrap();
    let identity = IdentityKeys::generate();
    let _: SessionResponse = Api::new(&srv.base)
        .call(&SignupRequest {
            username: username.clone(),
            salt,
            kdf: KdfParams::MINIMUM,
            auth_key: *auth.expose_secret(),
            identity: identity.public(),
            bundle: identity.seal_bundle(&wrap, name),
        })
        .await
        .unwrap();
    let old_json = serde_json::to_string(&legacy).unwrap();
    assert!(!old_json.contains("binding"), "stored exactly as before the binding: {old_json}");
    srv.db.exec(&format!("UPDATE users SET kdf = '{old_json}' WHERE username = '{name}'"), &[]).await;
    (salt, legacy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbound_account_is_upgraded_by_a_device_that_pinned_it() {
    let srv = TestServer::start();
    let pass = "pass-gina-from-before";
    let pin = legacy_account(&srv, "gina", pass).await;
    let floor = KdfParams::MINIMUM;
    let pre = prelogin(&srv.base, "gina").await;
    assert_eq!((pre.salt, pre.kdf), pin, "the server hands out the stored, unbound form");

    // A new device cannot tell this salt from one the server hands everybody.
    let refused = login_checked(&srv.base, "gina", pass, floor, None).await.err().unwrap();
    assert!(refused.contains("older passphrase protection"), "{refused}");

    // The device that pinned it logs in, and upgrades the account as the app does: the
    // same passphrase under a fresh salt bound to the username.
    let gina = login_checked(&srv.base, "gina", pass, floor, Some(pin)).await.unwrap();
    let upgrade = change_request(&srv.base, &gina, pass, pass, KdfParams::MINIMUM).await;
    gina.api.call(&upgrade).await.unwrap();
    let pre = prelogin(&srv.base, "gina").await;
    assert_eq!(pre.kdf.binding, SaltBinding::Username);

    // Now a new device logs in, and so does the old one (its pin was the unbound form;
    // a bound salt at least as strong is what an upgrade or a change elsewhere gives).
    login_checked(&srv.base, "gina", pass, floor, None).await.unwrap();
    login_checked(&srv.base, "gina", pass, floor, Some(pin)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signups_with_an_unbound_salt_are_refused() {
    let srv = TestServer::start();
    let username: Username = "hana".parse().unwrap();
    let legacy = KdfParams { binding: SaltBinding::Random, ..KdfParams::MINIMUM };
    let (auth, wrap) = derive_account_keys(&Passphrase::new("pass-hana-signup"), &username, &[1; 16], legacy).unwrap();
    let identity = IdentityKeys::generate();
    let r = Api::new(&srv.base)
        .call(&SignupRequest {
            username,
            salt: [1; 16],
            kdf: legacy,
            auth_key: *auth.expose_secret(),
            identity: identity.public(),
            bundle: identity.seal_bundle(&wrap, "hana"),
        })
        .await;
    assert_eq!(status(r), (400, "bad_request".into()));
    // Nothing was stored: the name is free, and unknown names look like new accounts.
    assert_eq!(prelogin(&srv.base, "hana").await.kdf.binding, SaltBinding::Username);
    signup(&srv.base, "hana", "pass-hana-signup").await;
}

/// The recovery kit: set with the current passphrase; its bundle goes only to whoever
/// proves the recovery key and opens only with it; a forgotten passphrase is replaced
/// with it, and the old one stops working. The server never sees the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_key_resets_a_forgotten_passphrase() {
    use shared::api::{RecoverRequest, RecoveryBundleRequest, SetRecoveryRequest};
    use shared::crypto::recovery::RecoveryKey;
    let srv = TestServer::start();
    let old = "pass-iris-forgotten";
    let iris = signup(&srv.base, "iris", old).await;
    let name: Username = "iris".parse().unwrap();
    let kit = RecoveryKey::generate();
    let (rec_auth, rec_wrap) = kit.keys(&name);
    let pre = prelogin(&srv.base, "iris").await;
    let (current, _) = derive_account_keys(&Passphrase::new(old), &name, &pre.salt, pre.kdf).unwrap();
    let mut set = SetRecoveryRequest {
        current_auth_key: [9; 32],
        recovery_auth_key: *rec_auth.expose_secret(),
        bundle: iris.identity.seal_bundle(&rec_wrap, "iris"),
    };
    assert_eq!(status(iris.api.call(&set).await), (403, "forbidden".into()));
    set.current_auth_key = *current.expose_secret();
    iris.api.call(&set).await.unwrap();

    let anon = Api::new(&srv.base);
    let wrong = RecoveryBundleRequest { username: name.clone(), recovery_auth_key: [1; 32] };
    assert_eq!(status(anon.call(&wrong).await), (401, "unauthorized".into()));
    let nobody = RecoveryBundleRequest { username: "nobody".parse().unwrap(), recovery_auth_key: [1; 32] };
    assert_eq!(status(anon.call(&nobody).await), (401, "unauthorized".into()), "same answer for no account");

    // A new device with only the username and the recovery key.
    let typed = RecoveryKey::parse(&kit.display()).unwrap();
    let (auth, wrap) = typed.keys(&name);
    let ask = RecoveryBundleRequest { username: name.clone(), recovery_auth_key: *auth.expose_secret() };
    let got = anon.call(&ask).await.unwrap();
    let identity = IdentityKeys::open_bundle(&got.bundle, &wrap, "iris").unwrap();
    assert_eq!(identity.public(), iris.identity.public());
    let new = "pass-iris-remembered";
    let salt = [0x33; 16];
    let (new_auth, new_wrap) = derive_account_keys(&Passphrase::new(new), &name, &salt, KdfParams::MINIMUM).unwrap();
    let recover = RecoverRequest {
        username: name.clone(),
        recovery_auth_key: *auth.expose_secret(),
        salt,
        kdf: KdfParams::MINIMUM,
        auth_key: *new_auth.expose_secret(),
        bundle: identity.seal_bundle(&new_wrap, "iris"),
    };
    let mut bad = recover.clone();
    bad.recovery_auth_key = [2; 32];
    assert_eq!(status(anon.call(&bad).await), (401, "unauthorized".into()));
    iris.api.get::<shared::api::TeamList>(shared::api::path::TEAMS).await.unwrap();
    anon.call(&recover).await.unwrap();
    assert!(matches!(login(&srv.base, "iris", old).await.err(), Some(TransportError::Http { status: 401, .. })));
    // Every session opened with the forgotten passphrase ended with it.
    let ended = iris.api.get::<shared::api::TeamList>(shared::api::path::TEAMS).await;
    assert!(matches!(ended, Err(TransportError::Http { status: 401, .. })), "signed out everywhere");
    let back = login(&srv.base, "iris", new).await.unwrap();
    assert_eq!(back.identity.public(), iris.identity.public());
}
