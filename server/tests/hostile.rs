//! A server that lies, against honest clients: the real server binary behind the
//! programmable proxy of `support/hostile.rs`, which rewrites its answers per scenario.
//! Each test tries one attack of issue 13 and checks that it is refused: nothing is
//! sealed under a key the attacker holds, nothing local is lost, and the client says
//! what it refused.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/server.rs"]
mod server;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use client::{login_checked, signup, signup_with, Account, HttpTransport};
use hostile::{Answer, HostileServer};
use server::TestServer;
use shared::api::{Change, PullResponse};
use shared::chain::{Action, Role};
use shared::crypto::envelope::RecordContext;
use shared::crypto::passphrase::KdfParams;
use shared::crypto::Scope;
use shared::domain::{field, Customer, Entity};
use shared::hlc::{Hlc, Stamp};
use shared::ids::{RecordId, TeamId};
use shared::record::{FieldState, RecordDoc, Value};
use shared::sync::memory::MemoryStore;
use shared::sync::seal::Sealer;
use shared::sync::TransportError;
use shared::sync::{SyncError, Syncer, Transport};
use shared::team::portfolio;

type Client = Syncer<MemoryStore, HttpTransport>;

fn now() -> u64 {
    client::wall_clock()
}

async fn client_of(who: &Account, team: TeamId) -> Client {
    Syncer::open(who.session(team).await, MemoryStore::new(), who.transport(team)).await.unwrap()
}

/// The same account, talking to the hostile proxy instead of the real server.
fn through(who: &Account, proxy: &HostileServer) -> Account {
    let mut api = who.api.clone();
    api.base = proxy.base.clone();
    Account { name: who.name.clone(), identity: who.identity.duplicate(), api, token: who.token.clone() }
}

/// The usual cast: the real server, the hostile proxy in front of it, Alice (admin)
/// with members Bob and Carol, and Carol's client talking through the proxy.
struct Cast {
    srv: TestServer,
    proxy: HostileServer,
    alice: Account,
    bob: Account,
    carol: Account,
    team: TeamId,
}

async fn cast(test: &str) -> Cast {
    let srv = TestServer::start();
    let proxy = HostileServer::start(&srv.base).await;
    let alice = signup(&srv.base, "alice", &format!("pass-alice-{test}")).await;
    let bob = signup(&srv.base, "bob", &format!("pass-bob-{test}")).await;
    let carol_direct = signup(&srv.base, "carol", &format!("pass-carol-{test}")).await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    alice.add_member(team, "carol", Role::Member).await;
    let carol = through(&carol_direct, &proxy);
    Cast { srv, proxy, alice, bob, carol, team }
}

/// What `who`'s modified client seals with: their own keys, any epoch it likes.
fn sealer_of<'a>(who: &'a Account, session: &'a shared::sync::Session, epoch: u32) -> Sealer<'a> {
    Sealer { me: &who.name, identity: &who.identity, keyring: &session.keyring, epoch, head: session.team.chain_head() }
}

/// Push one sealed version as `who`, straight to the server.
async fn push_as(who: &Account, team: TeamId, item: shared::api::PushItem) {
    let req = shared::api::PushRequest { items: vec![item], approval: None };
    who.transport(team).push(&req).await.unwrap_or_else(|_| panic!("push"));
}

/// From now on the server slips `changes` into the client's pulls: the next one only
/// (`once`), or every one until `proxy.honest()`.
fn slip_into_pulls(proxy: &HostileServer, changes: Vec<Change>, once: bool) {
    let done = Arc::new(AtomicBool::new(false));
    proxy.rewrite(move |x| {
        if !is_get(x, "/pull") || (once && done.swap(true, Ordering::SeqCst)) {
            return None;
        }
        let mut page: PullResponse = serde_json::from_slice(&x.body).ok()?;
        page.changes.extend(changes.iter().cloned());
        Answer::json(200, &serde_json::to_value(page).ok()?)
    });
}

fn is_get(x: &hostile::Exchange, suffix: &str) -> bool {
    x.method == axum::http::Method::GET && x.path.split('?').next().is_some_and(|p| p.ends_with(suffix))
}

/// Item 2: after a removal, a server that withholds the new epoch's key wraps cannot
/// keep an honest member writing under the old keys (which the removed member holds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withheld_epoch_keys_keep_edits_waiting_and_nothing_is_sealed_under_old_keys() {
    let Cast { srv: _srv, proxy, alice, bob: _, carol, team } = cast("withheld").await;
    let mut c = client_of(&carol, team).await;
    let before = RecordId::random();
    c.edit(before, Customer { name: "Before".into(), ..Default::default() }.to_fields(), now()).await.unwrap();
    c.sync().await.unwrap();

    // The server hides every wrap of epoch 2 and later from Carol.
    proxy.rewrite(|x| {
        if !is_get(x, "/wraps") {
            return None;
        }
        let mut v = x.json();
        v["wraps"].as_array_mut()?.retain(|w| w["epoch"].as_u64() < Some(2));
        Answer::json(200, &v)
    });
    alice.remove_member(team, &"bob".parse().unwrap()).await;
    c.session = carol.session(team).await;
    assert_eq!(c.session.team.epoch, 2, "the chain says epoch 2");
    assert!(c.session.keyring.get(c.session.team.shared_collection, 2, Scope::Basic).is_none());

    let after = RecordId::random();
    c.edit(after, Customer { name: "After Removal".into(), ..Default::default() }.to_fields(), now()).await.unwrap();
    proxy.take_seen();
    let refused = c.sync().await.unwrap_err();
    let seen = proxy.take_seen();
    assert!(seen.iter().all(|(_, p)| !p.ends_with("/push")), "nothing was sealed and sent: {seen:?}");
    assert!(matches!(refused, SyncError::AwaitingKeys(2)), "{refused}");
    assert!(refused.to_string().contains("Nothing was sent under older keys"), "{refused}");
    assert_eq!(c.replica.pending_count(), 1, "the edit waits in the outbox");
    assert_eq!(c.replica.records[&after].view.text(field::NAME), Some("After Removal"), "and stays visible");
    let mut a = client_of(&alice, team).await;
    a.sync().await.unwrap();
    assert!(!a.replica.records.contains_key(&after), "nothing reached the server");

    // Once the keys arrive, the edit goes out under epoch 2.
    proxy.honest();
    c.session = carol.session(team).await;
    c.sync().await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(a.replica.records[&after].view.text(field::NAME), Some("After Removal"));
    assert_eq!(a.replica.records[&after].epoch, 2);
}

/// Items 1 and 2: a server that freezes the chain at the head before a removal is
/// refused by a device that verified the longer chain; a chain of another team is
/// refused for the team asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_or_another_teams_chain_is_refused() {
    let srv = TestServer::start();
    let proxy = HostileServer::start(&srv.base).await;
    let alice = signup(&srv.base, "alice", "pass-alice-frozen").await;
    let _bob = signup(&srv.base, "bob", "pass-bob-frozen").await;
    let carol = signup(&srv.base, "carol", "pass-carol-frozen").await;
    let team = alice.create_team().await;
    let other = carol.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    alice.remove_member(team, &"bob".parse().unwrap()).await;
    let alice_h = through(&alice, &proxy);
    let seen = alice_h.chain(team, None).await.unwrap().known_head();

    proxy.rewrite(|x| {
        if !is_get(x, "/chain") {
            return None;
        }
        let mut v = x.json();
        v["entries"].as_array_mut()?.pop();
        Answer::json(200, &v)
    });
    let refused = alice_h.chain(team, Some(&seen)).await.unwrap_err();
    assert!(refused.contains("rollback"), "{refused}");

    // The other team's chain, served for this team's id.
    proxy.honest();
    let foreign = carol
        .api
        .get::<shared::api::ChainResponse>(&shared::api::path::fill(shared::api::path::CHAIN, &other.to_string()))
        .await
        .unwrap();
    let refused = shared::chain::TeamState::verify_team(&foreign.entries, team, None).unwrap_err();
    assert!(refused.to_string().contains("another team"), "{refused}");
}

/// Item 4: the server turns a support invitation into a manager one; the admin's
/// client admits nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_changed_invitation_role_is_refused() {
    let srv = TestServer::start();
    let proxy = HostileServer::start(&srv.base).await;
    let alice = signup(&srv.base, "alice", "pass-alice-role").await;
    let bob = signup(&srv.base, "bob", "pass-bob-role").await;
    let team = alice.create_team().await;
    let link = alice.create_invite(team, Role::Support).await;
    bob.accept_invite(&link).await.unwrap();

    proxy.rewrite(|x| {
        if !is_get(x, "/invites") {
            return None;
        }
        let mut v = x.json();
        for i in v["invites"].as_array_mut()? {
            i["role"] = "manager".into();
        }
        Answer::json(200, &v)
    });
    let alice_h = through(&alice, &proxy);
    let info = alice_h.invites(team).await.unwrap().into_iter().find(|i| i.invite == link.invite).unwrap();
    assert_eq!(info.role, Role::Manager, "the server lies");
    let refused = alice_h.admit(&link, &info).await.unwrap_err();
    assert!(refused.contains("lists the invitation as manager"), "{refused}");
    assert!(!alice.chain(team, None).await.unwrap().members.contains_key(&bob.name), "nobody was added");
}

/// Item 5: weaker key-derivation settings, or another salt than the device knows,
/// are refused before anything derived from the passphrase is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kdf_downgrades_and_swapped_salts_are_refused_before_login() {
    let srv = TestServer::start();
    let proxy = HostileServer::start(&srv.base).await;
    let pass = "pass-erin-kdf-downgrade";
    let erin = signup_with(&srv.base, "erin", pass, KdfParams::DEFAULT).await;
    drop(erin);
    let floor = KdfParams::DEFAULT;
    let honest = login_checked(&proxy.base, "erin", pass, floor, None).await.unwrap();
    drop(honest);
    let pre: shared::api::PreloginResponse = client::Api::new(&srv.base)
        .call(&shared::api::PreloginRequest { username: "erin".parse().unwrap() })
        .await
        .unwrap();
    let pin = Some((pre.salt, pre.kdf));
    proxy.take_seen();

    // From now on, the prelogin answer as `change` makes it (and the rest honest).
    let prelogin_becomes = |change: fn(&mut serde_json::Value)| {
        proxy.honest();
        proxy.rewrite(move |x| {
            if !x.path.ends_with("/auth/prelogin") {
                return None;
            }
            let mut v = x.json();
            change(&mut v);
            Answer::json(200, &v)
        });
    };
    fn one_salt() -> String {
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 16])
    }

    // Downgraded to the cheapest settings the format allows (about 5× cheaper).
    prelogin_becomes(|v| v["kdf"] = serde_json::to_value(KdfParams::MINIMUM).unwrap());
    let refused = login_checked(&proxy.base, "erin", pass, floor, None).await.err().unwrap();
    assert!(refused.contains("weaker passphrase protection"), "{refused}");
    assert!(proxy.take_seen().iter().all(|(_, p)| !p.ends_with("/auth/login")), "no auth key was sent");

    // One salt for everybody, used as it is (the unbound form of accounts from before
    // the binding): a new device refuses it, and so does a device that knows erin.
    prelogin_becomes(|v| {
        v["salt"] = one_salt().into();
        v["kdf"]["binding"] = "random".into();
    });
    let refused = login_checked(&proxy.base, "erin", pass, floor, None).await.err().unwrap();
    assert!(refused.contains("older passphrase protection"), "{refused}");
    let refused = login_checked(&proxy.base, "erin", pass, floor, pin).await.err().unwrap();
    assert!(refused.contains("other passphrase-protection settings"), "{refused}");
    assert!(proxy.take_seen().iter().all(|(_, p)| !p.ends_with("/auth/login")), "no auth key was sent");

    // Other bytes in the bound form: harmless (the salt is still erin's own, so nothing
    // a server learns serves against anyone else), and the log-in fails honestly.
    prelogin_becomes(|v| v["salt"] = one_salt().into());
    let refused = login_checked(&proxy.base, "erin", pass, floor, pin).await.err().unwrap();
    assert!(refused.contains("wrong username or passphrase"), "{refused}");
}

/// Item 3: a version whose fields are stamped far in the future is refused (it would
/// win every merge of its fields forever); after a retirement, an envelope under a
/// retired epoch — what a removed member could still seal — is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_future_stamps_and_envelopes_under_retired_epochs_are_refused() {
    let Cast { srv: _srv, proxy, alice, bob, carol, team } = cast("stamps").await;
    let mut c = client_of(&carol, team).await;
    let bob_session = bob.session(team).await;
    let shared_coll = bob_session.team.shared_collection;

    // Bob's modified client stamps a field at u64::MAX.
    let seal_as_bob = |record: RecordId, version: u64, epoch: u32, wall_ms: u64, name: &str| {
        let mut doc = RecordDoc::new();
        let stamp = Stamp { hlc: Hlc { wall_ms, counter: 0 }, author: bob.name.clone() };
        doc.apply(field::KIND, FieldState { value: Some(Value::Text("customer".into())), stamp: stamp.clone() });
        doc.apply(field::NAME, FieldState { value: Some(Value::Text(name.into())), stamp });
        let sealer = sealer_of(&bob, &bob_session, epoch);
        sealer.seal(&RecordContext { team, record }, shared_coll, version, &doc, None).unwrap().0
    };
    let forever = RecordId::random();
    let sealed = seal_as_bob(forever, 1, 1, u64::MAX, "Wins Forever");
    push_as(&bob, team, shared::api::PushItem { record: forever, base_version: 0, sealed, tombstone: false }).await;
    c.sync().await.unwrap();
    assert!(c.replica.unreadable.contains(&forever), "refused and reported");
    assert!(!c.replica.records.contains_key(&forever), "never shown");

    // Bob leaves; Alice re-encrypts everything onto epoch 2, then retires epoch 1.
    alice.remove_member(team, &bob.name).await;
    let mut a = client_of(&alice, team).await;
    a.sync().await.unwrap();
    while a.queue_reencryption(100) > 0 {
        a.sync().await.unwrap();
    }
    alice.append(team, Action::Retire { below: 2 }).await.unwrap();
    c.session = carol.session(team).await;
    assert_eq!(c.session.team.retired_below, 2);

    // The server slips in a record Bob sealed with the epoch-1 keys he kept.
    let injected = RecordId::random();
    let forged =
        Change { seq: 1_000_000, record: injected, version: 1, sealed: seal_as_bob(injected, 1, 1, now(), "Planted") };
    slip_into_pulls(&proxy, vec![forged], true);
    c.sync().await.unwrap();
    assert!(c.replica.unreadable.contains(&injected), "an envelope under a retired epoch is refused");
    assert!(!c.replica.records.contains_key(&injected));
}

/// Issue 31 item 11: a member's modified client stamps a field 23 hours ahead, or a
/// few minutes ahead with its counter at the maximum, to win every later merge of it
/// (and to drag every reader's clock along). Both versions are refused; a field stamped
/// within the allowed skew with an ordinary counter is taken, and a colleague's edit
/// made after it still wins: her clock moves past the stamp it saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamps_too_far_ahead_or_with_a_spent_counter_are_refused_and_later_edits_still_win() {
    let Cast { srv: _srv, proxy: _proxy, alice: _, bob, carol, team } = cast("counter").await;
    let mut c = client_of(&carol, team).await;
    let bob_session = bob.session(team).await;
    let shared_coll = bob_session.team.shared_collection;
    let seal_as_bob = |record: RecordId, hlc: Hlc, name: &str| {
        let mut doc = RecordDoc::new();
        let stamp = Stamp { hlc, author: bob.name.clone() };
        doc.apply(field::KIND, FieldState { value: Some(Value::Text("customer".into())), stamp: stamp.clone() });
        doc.apply(field::NAME, FieldState { value: Some(Value::Text(name.into())), stamp });
        let sealer = sealer_of(&bob, &bob_session, bob_session.team.epoch);
        sealer.seal(&RecordContext { team, record }, shared_coll, 1, &doc, None).unwrap().0
    };
    let minutes = |m: u64| m * 60_000;
    let cases = [
        ("a day ahead", Hlc { wall_ms: now() + 23 * 60 * minutes(1), counter: 0 }, false),
        ("spent counter", Hlc { wall_ms: now() + minutes(2), counter: u32::MAX }, false),
        ("just past the counter limit", Hlc { wall_ms: now(), counter: shared::hlc::COUNTER_LIMIT + 1 }, false),
        ("within the skew", Hlc { wall_ms: now() + minutes(3), counter: 1_000 }, true),
    ];
    let mut taken = None;
    for (what, hlc, accepted) in cases {
        let id = RecordId::random();
        let sealed = seal_as_bob(id, hlc, what);
        push_as(&bob, team, shared::api::PushItem { record: id, base_version: 0, sealed, tombstone: false }).await;
        c.sync().await.unwrap();
        assert_eq!(c.replica.records.contains_key(&id), accepted, "{what}");
        assert_eq!(c.replica.unreadable.contains(&id), !accepted, "{what}: refused and reported");
        if accepted {
            taken = Some((id, hlc));
        }
    }
    // Carol renames the customer whose name bob stamped three minutes ahead: hers is
    // later, and it wins on every device.
    let (id, _) = taken.unwrap();
    let fields = vec![(field::NAME.to_owned(), Some(Value::Text("Carol's later name".into())))];
    c.edit(id, fields, now()).await.unwrap();
    c.sync().await.unwrap();
    let mut b = Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    b.sync().await.unwrap();
    for (who, view) in [("carol", &c.replica.records[&id].view), ("bob", &b.replica.records[&id].view)] {
        assert_eq!(view.text(field::NAME).map(|t| t.to_string()), Some("Carol's later name".to_owned()), "{who}");
    }
}

/// Item 3: a member's modified client that changes a field and names another member
/// as its author ("Carol agreed to this") is refused by Carol's client, which holds the
/// version before and keeps it; the refusal names the field, the signer and the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_changed_in_another_members_name_is_refused() {
    let Cast { srv: _srv, proxy: _proxy, alice: _, bob, carol, team } = cast("authorship").await;
    let mut c = client_of(&carol, team).await;
    let id = RecordId::random();
    let fields = Customer { name: "Wang Fang".into(), notes: "asked for a quote".into(), ..Default::default() };
    c.edit(id, fields.to_fields(), now()).await.unwrap();
    c.sync().await.unwrap();

    let bob_session = bob.session(team).await;
    let mut b = Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    b.sync().await.unwrap();
    let mut doc = (*b.replica.records[&id].base).clone();
    let stamp = Stamp { hlc: Hlc { wall_ms: now(), counter: 0 }, author: carol.name.clone() };
    doc.apply(field::NOTES, FieldState { value: Some(Value::Text("Carol promised 50% off".into())), stamp });
    let sealer = sealer_of(&bob, &bob_session, bob_session.team.epoch);
    let collection = b.replica.records[&id].collection;
    let sealed = sealer.seal(&RecordContext { team, record: id }, collection, 2, &doc, None).unwrap().0;
    push_as(&bob, team, shared::api::PushItem { record: id, base_version: 1, sealed, tombstone: false }).await;

    c.sync().await.unwrap();
    let kept = &c.replica.records[&id];
    assert_eq!((kept.version, kept.view.text(field::NOTES)), (1, Some("asked for a quote")));
    let refusal = c.refused[&id].to_string();
    assert!(refusal.contains("signed by bob") && refusal.contains("\"notes\" in carol's name"), "{refusal}");
}

/// Item 6: a `reset` that serves an old version of a customer from when it lived in
/// the shared collection does not move it (and its sensitive fields) back there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_with_an_old_shared_version_does_not_widen_the_record() {
    let srv = TestServer::start();
    let proxy = HostileServer::start(&srv.base).await;
    let alice_direct = signup(&srv.base, "alice", "pass-alice-reset").await;
    let bob = signup(&srv.base, "bob", "pass-bob-reset").await;
    let team = alice_direct.create_team().await;
    alice_direct.add_member(team, "bob", Role::Member).await;
    let alice = through(&alice_direct, &proxy);
    let mut a = client_of(&alice, team).await;
    let shared_coll = a.session.team.shared_collection;
    let bobs = portfolio(team, &bob.name);

    // Keep every version the server sends or is sent, as a hostile server would.
    let kept: Arc<std::sync::Mutex<Vec<Change>>> = Arc::default();
    let keep = kept.clone();
    proxy.rewrite(move |x| {
        if is_get(x, "/pull") {
            if let Ok(page) = serde_json::from_slice::<PullResponse>(&x.body) {
                keep.lock().unwrap().extend(page.changes);
            }
        }
        if x.method == axum::http::Method::POST && x.path.ends_with("/push") && x.status == 200 {
            if let Ok(req) = serde_json::from_slice::<shared::api::PushRequest>(&x.request) {
                keep.lock().unwrap().extend(req.items.into_iter().map(|i| Change {
                    seq: 0,
                    record: i.record,
                    version: i.base_version + 1,
                    sealed: i.sealed,
                }));
            }
        }
        None
    });
    let id = RecordId::random();
    let customer = Customer { name: "Moved Customer".into(), phone: "13900001111".into(), ..Default::default() };
    a.edit(id, customer.to_fields(), now()).await.unwrap();
    let contact = RecordId::random();
    let person = shared::domain::Contact {
        customer: id.to_string(),
        name: "Li Contact".into(),
        phone: "13700002222".into(),
        ..Default::default()
    };
    a.edit(contact, person.to_fields(), now()).await.unwrap();
    a.sync().await.unwrap();
    a.sync().await.unwrap();
    let old = kept.lock().unwrap().iter().find(|c| c.record == id && c.version == 1).cloned().expect("v1 seen");
    assert_eq!(old.sealed.inspect().unwrap().collection, shared_coll);

    // Handed to Bob: the customer moves into his portfolio.
    a.edit(id, vec![(field::OWNER.into(), Some(Value::Text("bob".into())))], now()).await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(a.replica.records[&id].collection, bobs);
    assert_eq!(a.replica.records[&contact].collection, bobs, "the contact moved with its customer");

    // The server "restores from a backup": reset, and the old shared version, as
    // generation 5, which Alice (the admin) confirmed: the reset is acted on. From then
    // on the proxy answers as generation 5 from what the server holds.
    let generation = 5;
    let notice = shared::restore::RestoreNotice::sign(
        team,
        generation,
        alice_direct.name.clone(),
        now() as i64,
        &alice_direct.identity,
    );
    let once = Arc::new(AtomicBool::new(false));
    proxy.honest();
    proxy.rewrite(move |x| {
        if !is_get(x, "/pull") {
            return None;
        }
        let high = generation << shared::restore::CURSOR_SEQ_BITS;
        if once.swap(true, Ordering::SeqCst) {
            let mut page: PullResponse = serde_json::from_slice(&x.body).ok()?;
            page.reset = false;
            page.cursor |= high;
            return Answer::json(200, &serde_json::to_value(page).ok()?);
        }
        let page = PullResponse {
            changes: vec![old.clone()],
            cursor: high | old.seq,
            more: false,
            reset: true,
            restore: Some(notice.clone()),
            remaining: None,
        };
        Answer::json(200, &serde_json::to_value(page).ok()?)
    });
    // Every push the client sends from now on is kept: what it seals is what the
    // server gets, accepted or not.
    let pushed: Arc<std::sync::Mutex<Vec<shared::api::PushItem>>> = Arc::default();
    let sent = pushed.clone();
    proxy.rewrite(move |x| {
        if x.method == axum::http::Method::POST && x.path.ends_with("/push") {
            let req: shared::api::PushRequest = serde_json::from_slice(&x.request).ok()?;
            sent.lock().unwrap().extend(req.items);
        }
        None
    });
    a.sync().await.unwrap();
    a.sync().await.unwrap();
    let pushed = std::mem::take(&mut *pushed.lock().unwrap());
    assert!(pushed.iter().any(|i| i.record == contact), "the contact was sent back (a repair)");
    for item in pushed.iter().filter(|i| i.record == id || i.record == contact) {
        assert_eq!(item.sealed.inspect().unwrap().collection, bobs, "sealed where every member holds the key");
    }
    let local = &a.replica.records[&id];
    assert_eq!(local.collection, bobs, "the record stayed in Bob's portfolio");
    assert_eq!(local.view.text(field::OWNER), Some("bob"));
    assert_eq!(local.view.text(field::PHONE), Some("13900001111"), "nothing lost");
    // What the server holds now was sealed in Bob's portfolio, never in shared again.
    let mut fresh = client_of(&alice_direct, team).await;
    fresh.sync().await.unwrap();
    assert_eq!(fresh.replica.records[&id].collection, bobs);
    assert_eq!(a.replica.records[&contact].collection, bobs, "its contact too");
    assert_eq!(fresh.replica.records[&contact].collection, bobs, "and so on the server");
    assert_eq!(fresh.replica.records[&contact].view.text(field::PHONE), Some("13700002222"));
}

/// Item 7: a restore is an admin's signed event. The server rolls a customer back and
/// says `reset` — with no notice, with one Bob (a member) signed, with Alice's for
/// another generation, with Alice's from two months ago — and Carol's device changes
/// nothing each time: her cursor, the customer as she holds it and her unsent edit stay,
/// nothing is pushed, and her sync says it waits for an admin. The honest server, never
/// restored, refuses a notice (and a member's), and tells members it runs as generation 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_without_an_admins_signed_notice_changes_nothing() {
    let Cast { srv: _srv, proxy, alice, bob, carol, team } = cast("notice").await;
    let mut c = client_of(&carol, team).await;
    let id = RecordId::random();
    let customer = Customer { name: "Restored Customer".into(), phone: "13900003333".into(), ..Default::default() };
    c.edit(id, customer.to_fields(), now()).await.unwrap();
    c.sync().await.unwrap();
    // Version 1 as the server holds it, for the forged page.
    let page = alice.transport(team).pull(0, 100).await.unwrap();
    let old = page.changes.into_iter().find(|ch| ch.record == id).unwrap();
    c.edit(id, vec![(field::NOTES.into(), Some(Value::Text("met at the fair".into())))], now()).await.unwrap();
    c.sync().await.unwrap();
    c.edit(id, vec![(field::PHONE.into(), Some(Value::Text("13900004444".into())))], now()).await.unwrap();
    let (cursor, held) = (c.replica.cursor, c.replica.records[&id].version);
    assert_eq!(held, 2);

    let pushes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sign = |who: &Account, generation: u64, at: i64| {
        shared::restore::RestoreNotice::sign(team, generation, who.name.clone(), at, &who.identity)
    };
    let two_months_ago = now() as i64 - 60 * 24 * 3_600_000;
    let notices = [
        None,
        Some(sign(&bob, 7, now() as i64)),
        Some(sign(&alice, 6, now() as i64)),
        Some(sign(&alice, 7, two_months_ago)),
    ];
    for notice in notices {
        proxy.honest();
        let (page, counted) = (old.clone(), pushes.clone());
        proxy.rewrite(move |x| {
            if x.method == axum::http::Method::POST && x.path.ends_with("/push") {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            if !is_get(x, "/pull") {
                return None;
            }
            let forged = PullResponse {
                changes: vec![page.clone()],
                cursor: 7 << shared::restore::CURSOR_SEQ_BITS | page.seq,
                more: false,
                reset: true,
                restore: notice.clone(),
                remaining: None,
            };
            Answer::json(200, &serde_json::to_value(forged).ok()?)
        });
        let waits = c.sync().await.unwrap_err();
        assert!(matches!(waits, SyncError::RestoreUnconfirmed { generation: 7 }), "{waits}");
        assert_eq!(c.replica.cursor, cursor, "the cursor stays");
        let held_now = &c.replica.records[&id];
        assert_eq!((held_now.version, held_now.view.text(field::NOTES)), (2, Some("met at the fair")));
        assert_eq!(c.replica.pending_count(), 1, "the unsent edit stays");
    }
    assert_eq!(pushes.load(Ordering::SeqCst), 0, "nothing was put back");
    // The unsent edit goes on top of version 2 once the server answers honestly.
    proxy.honest();
    c.sync().await.unwrap();
    assert_eq!(c.replica.pending_count(), 0);
    assert_eq!(c.replica.records[&id].version, 3);

    // The honest server, never restored, takes no notice, and no member's.
    let status = carol.restore_status(team).await.unwrap();
    assert_eq!((status.generation, status.notice), (0, None));
    let refused = alice.confirm_restore_of(team, 0).await.unwrap_err();
    assert!(matches!(&refused, TransportError::Http { status: 400, .. }), "{refused:?}");
    let refused = bob.confirm_restore_of(team, 0).await.unwrap_err();
    assert!(matches!(&refused, TransportError::Http { status: 403, .. }), "{refused:?}");
}

/// Item 2 and "two truths": the server freezes Carol's chain at the head before Bob's
/// removal and withholds the new epoch's keys. She would go on sealing under keys Bob
/// holds — but Alice's next record carries Alice's chain head, longer than Carol's, so
/// Carol's client stops writing as soon as it reads it, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_chain_is_noticed_from_another_members_record_and_nothing_is_sealed() {
    let Cast { srv: _srv, proxy, alice, bob: _, carol, team } = cast("frozen").await;
    let mut c = client_of(&carol, team).await;
    c.sync().await.unwrap();
    let frozen_len = c.session.team.len as usize;

    // From now on Carol is shown the chain as it is, and no key of a later epoch.
    proxy.rewrite(move |x| {
        let mut v = x.json();
        if is_get(x, "/chain") {
            v["entries"].as_array_mut()?.truncate(frozen_len);
        } else if is_get(x, "/wraps") {
            v["wraps"].as_array_mut()?.retain(|w| w["epoch"].as_u64() < Some(2));
        } else {
            return None;
        }
        Answer::json(200, &v)
    });
    alice.remove_member(team, &"bob".parse().unwrap()).await;
    let mut a = client_of(&alice, team).await;
    let after = RecordId::random();
    a.edit(after, Customer { name: "Written After".into(), ..Default::default() }.to_fields(), now()).await.unwrap();
    a.sync().await.unwrap();

    c.set_session(carol.session(team).await);
    assert_eq!(c.session.team.epoch, 1, "the frozen chain says nothing happened");
    let mine = RecordId::random();
    c.edit(mine, Customer { name: "Carol's Edit".into(), ..Default::default() }.to_fields(), now()).await.unwrap();
    proxy.take_seen();
    let refused = c.sync().await.unwrap_err();
    assert!(matches!(&refused, SyncError::ChainDoubt(shared::sync::ChainDoubt::Behind { .. })), "{refused}");
    assert!(refused.to_string().contains("alice wrote on a newer version of the team"), "{refused}");
    assert!(proxy.take_seen().iter().all(|(_, p)| !p.ends_with("/push")), "nothing sealed for Bob was sent");
    // Asking again does not help while the server keeps the chain frozen.
    c.set_session(carol.session(team).await);
    assert!(matches!(c.sync().await, Err(SyncError::ChainDoubt(_))));
    assert_eq!(c.replica.pending_count(), 1, "the edit waits");

    // Once Carol gets the real chain (and keys), the doubt clears and the edit goes out
    // under the new epoch.
    proxy.honest();
    c.set_session(carol.session(team).await);
    assert!(c.doubt.is_none());
    c.sync().await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(a.replica.records[&mine].epoch, 2);
}

/// "Two truths": the server shows Carol a history in which Alice's last entry is
/// another one Alice also signed (a fork). Alice's next record carries her real head;
/// Carol's client sees it differs from her chain at that entry, names the fork, and
/// stops sealing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_chain_is_detected_from_another_members_record() {
    let srv = TestServer::start();
    let proxy = HostileServer::start(&srv.base).await;
    let alice = signup(&srv.base, "alice", "pass-alice-fork").await;
    let carol_direct = signup(&srv.base, "carol", "pass-carol-fork").await;
    let _erin = signup(&srv.base, "erin", "pass-erin-fork").await;
    let frank = signup(&srv.base, "frank", "pass-frank-fork").await;
    let team = alice.create_team().await;
    alice.add_member(team, "carol", Role::Member).await;
    let before = alice.chain(team, None).await.unwrap();

    // Alice adds Erin (the real history); the server also holds another entry Alice
    // signed at the same place (Frank), and shows Carol that one.
    alice.add_member(team, "erin", Role::Member).await;
    let other =
        shared::chain::ChainEntry::signed(team, before.len, before.head, &alice.name, &alice.identity, now() as i64, {
            let member = shared::chain::Member {
                username: frank.name.clone(),
                identity: frank.identity.public(),
                role: Role::Member,
            };
            let invite = shared::ids::InviteId::random();
            let acceptance =
                shared::chain::Acceptance::sign(team, invite, Some(alice.name.clone()), &member, &frank.identity);
            Action::Admit { member, acceptance }
        });
    let fork_at = before.len as usize;
    let forked = serde_json::to_value(&other).unwrap();
    proxy.rewrite(move |x| {
        if !is_get(x, "/chain") {
            return None;
        }
        let mut v = x.json();
        let entries = v["entries"].as_array_mut()?;
        entries.truncate(fork_at);
        entries.push(forked.clone());
        Answer::json(200, &v)
    });
    let carol = through(&carol_direct, &proxy);
    let mut c = client_of(&carol, team).await;
    assert!(c.session.team.members.contains_key(&frank.name), "Carol sees the forked team");
    let fingerprint_carol = c.session.team.fingerprint();

    let mut a = client_of(&alice, team).await;
    assert_ne!(a.session.team.fingerprint(), fingerprint_carol, "two teams, two fingerprints");
    let id = RecordId::random();
    a.edit(id, Customer { name: "On The Real History".into(), ..Default::default() }.to_fields(), now()).await.unwrap();
    a.sync().await.unwrap();

    let mine = RecordId::random();
    c.edit(mine, Customer { name: "Carol Waits".into(), ..Default::default() }.to_fields(), now()).await.unwrap();
    let refused = c.sync().await.unwrap_err();
    assert!(matches!(&refused, SyncError::ChainDoubt(shared::sync::ChainDoubt::Fork { .. })), "{refused}");
    assert!(refused.to_string().contains("different history of the team"), "{refused}");
    assert_eq!(c.replica.pending_count(), 1, "nothing was sealed for the forked team");
}

/// Item 1: a new device of the account starts from the account's sealed pins: a
/// made-up genesis for the pinned team (a ghost admin), or a chain shorter than the
/// pinned head, is refused; the server cannot read, forge or roll back the pins it
/// stores (it can only refuse an older version).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_starts_from_the_accounts_pins() {
    use shared::api::{path, SealedPins};
    use shared::chain::{ChainEntry, Member};
    use shared::pins::AccountPins;

    let srv = TestServer::start();
    let proxy = HostileServer::start(&srv.base).await;
    let pass = "pass-alice-pins";
    let alice = signup(&srv.base, "alice", pass).await;
    let mallory = signup(&srv.base, "mallory", "pass-mallory-pins").await;
    let team = alice.create_team().await;
    alice.append(team, Action::Rotate { epoch: 2 }).await.unwrap();

    // Alice's first device pins the team it verified.
    let state = alice.chain(team, None).await.unwrap();
    let mut pins = AccountPins::new([0; 16], KdfParams::MINIMUM);
    pins.note_head(team, state.genesis_hash(), state.known_head());
    let sealed = SealedPins { version: 1, blob: pins.seal(&alice.name, &alice.identity) };
    let _: SealedPins = alice.api.put(path::ACCOUNT_PINS, &sealed).await.unwrap();
    let stale = alice.api.put::<_, SealedPins>(path::ACCOUNT_PINS, &sealed).await.unwrap_err();
    assert!(matches!(stale, shared::sync::TransportError::Http { status: 409, .. }), "only newer versions: {stale}");
    for bad in [SealedPins { version: 9, blob: vec![] }, SealedPins { version: 0, blob: vec![1] }] {
        let e = alice.api.put::<_, SealedPins>(path::ACCOUNT_PINS, &bad).await.unwrap_err();
        assert!(matches!(e, shared::sync::TransportError::Http { status: 400, .. }), "{e}");
    }
    let stored: Vec<Vec<u8>> =
        srv.db.rows("SELECT blob FROM account_pins").await.iter().map(|r| sqlx::Row::get::<Vec<u8>, _>(r, 0)).collect();
    assert!(!stored.is_empty());
    for needle in [team.as_bytes().to_vec(), team.to_string().into_bytes()] {
        assert!(
            stored.iter().all(|v| !v.windows(needle.len()).any(|w| w == needle.as_slice())),
            "the server cannot read which teams are pinned"
        );
    }

    // A new device: log in, read the pins (through the hostile server).
    let device = client::login(&proxy.base, "alice", pass).await.unwrap();
    let got: SealedPins = device.api.get(path::ACCOUNT_PINS).await.unwrap();
    let pins = AccountPins::open(&got.blob, &device.name, &device.identity).unwrap();
    let pin = pins.team(team).expect("the team is pinned");

    // The server invents a genesis for the same team id, with Mallory as its admin.
    let ghost = ChainEntry::signed(
        team,
        0,
        [0; 32],
        &mallory.name,
        &mallory.identity,
        now() as i64,
        Action::Create {
            admin: Member { username: mallory.name.clone(), identity: mallory.identity.public(), role: Role::Admin },
            shared_collection: shared::ids::CollectionId::random(),
        },
    );
    let refused = shared::pins::verify_pinned(std::slice::from_ref(&ghost), team, Some(pin), None, false).unwrap_err();
    assert!(refused.to_string().contains("genesis this account pinned"), "{refused}");
    // Or the real chain, cut back to before the rotation.
    let real: shared::api::ChainResponse = device.api.get(&path::fill(path::CHAIN, &team.to_string())).await.unwrap();
    let refused = shared::pins::verify_pinned(&real.entries[..1], team, Some(pin), None, false).unwrap_err();
    assert!(matches!(refused, shared::chain::ChainError::Rollback { .. }), "{refused}");
    assert!(shared::pins::verify_pinned(&real.entries, team, Some(pin), None, false).is_ok(), "the real one passes");

    // A blob the server altered does not open.
    let mut altered = got.blob.clone();
    altered[10] ^= 1;
    assert!(AccountPins::open(&altered, &device.name, &device.identity).is_err());
}

/// Item 7: the server says `device_wiped` — with no order, or with one it made up — and
/// the device's check refuses to erase anything (the app signs out and keeps its data;
/// the browser test shows it end to end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_device_wiped_is_not_obeyed() {
    use shared::sync::TransportError;
    use shared::wipe::{device_id, WipeOrder, WipeRefusal};
    let Cast { srv: _srv, proxy, alice: _, bob, carol, team } = cast("wipe").await;
    let chain = carol.chain(team, None).await.unwrap();
    let forged = std::sync::Arc::new(std::sync::Mutex::new(None::<serde_json::Value>));
    let answer = forged.clone();
    proxy.rewrite(move |x| {
        let mut body = serde_json::json!({ "code": "device_wiped", "message": "signed out remotely" });
        if let Some(order) = answer.lock().unwrap().clone() {
            body["order"] = order;
        }
        x.path.starts_with("/api/v1/teams").then(|| Answer { status: 401, body: body.to_string().into_bytes() })
    });
    let check = |order: Option<&WipeOrder>| {
        WipeOrder::check(
            order,
            &carol.name,
            &device_id(&carol.token),
            0,
            now() as i64,
            &carol.identity.public(),
            Some(&chain),
        )
    };
    let told = |r: Result<shared::api::TeamList, TransportError>| match r {
        Err(TransportError::DeviceWiped(order)) => order.map(|o| *o),
        other => panic!("expected device_wiped, got {:?}", other.map(|_| ())),
    };

    // No order at all.
    let order = told(carol.api.get(shared::api::path::TEAMS).await);
    assert_eq!(check(order.as_ref()), Err(WipeRefusal::Missing));
    // An order "from an admin" that the server signed with a key of its own, and one a
    // mere member (Bob) signed.
    let server_key = shared::crypto::identity::IdentityKeys::generate();
    for (signer, keys) in [("alice", &server_key), ("bob", &bob.identity)] {
        let o = WipeOrder::sign(carol.name.clone(), None, now() as i64, signer.parse().unwrap(), Some(team), keys);
        *forged.lock().unwrap() = Some(serde_json::to_value(&o).unwrap());
        let order = told(carol.api.get(shared::api::path::TEAMS).await);
        assert_eq!(check(order.as_ref()), Err(WipeRefusal::BadSignature), "signed as {signer}");
    }
}

/// Item 8: a joiner registers a low-order X25519 key and answers an invitation with a
/// valid MAC over it; the admin's client refuses to add them (every later wrap to that
/// key would be predictable), and nothing reaches the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_order_key_from_an_invitee_is_refused() {
    use shared::api::{path, SessionResponse, SignupRequest};
    use shared::crypto::identity::{IdentityKeys, PublicIdentity};
    use shared::crypto::passphrase::{derive_account_keys, Passphrase};
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-lowkey").await;
    let team = alice.create_team().await;
    let link = alice.create_invite(team, Role::Member).await;

    let keys = IdentityKeys::generate();
    let low = PublicIdentity { sign_pk: keys.public().sign_pk, dh_pk: [0; 32] };
    let (auth, wrap) = derive_account_keys(
        &Passphrase::new("pass-mallory-lowkey"),
        &"mallory".parse().unwrap(),
        &[4; 16],
        KdfParams::MINIMUM,
    )
    .unwrap();
    let mut api = client::Api::new(&srv.base);
    let resp: SessionResponse = api
        .call(&SignupRequest {
            username: "mallory".parse().unwrap(),
            salt: [4; 16],
            kdf: KdfParams::MINIMUM,
            auth_key: *auth.expose_secret(),
            identity: low,
            bundle: keys.seal_bundle(&wrap, "mallory"),
        })
        .await
        .unwrap();
    api.token = Some(resp.token.clone());
    let mallory = Account { name: "mallory".parse().unwrap(), identity: keys, api, token: resp.token };
    let mac = link.secret.authenticate(team, link.invite, link.role, &mallory.name, &low);
    let low_member = shared::chain::Member { username: mallory.name.clone(), identity: low, role: link.role };
    let acceptance =
        shared::chain::Acceptance::sign(team, link.invite, Some(alice.name.clone()), &low_member, &mallory.identity);
    let _: shared::api::TeamSummary = mallory
        .api
        .post(
            &path::fill(path::ACCEPT_INVITE, &link.invite.to_string()),
            &shared::api::AcceptInviteRequest { team, identity: low, mac, acceptance: acceptance.clone() },
        )
        .await
        .unwrap();
    let info = alice.invites(team).await.unwrap().into_iter().find(|i| i.invite == link.invite).unwrap();
    assert_eq!(info.accepted.as_ref().unwrap().identity, low);
    assert!(alice.admit(&link, &info).await.is_err(), "refused at invitation verification");
    // And had a client signed it anyway, the chain refuses it.
    let state = alice.chain(team, None).await.unwrap();
    let entry = shared::chain::ChainEntry::signed(
        team,
        state.len,
        state.head,
        &alice.name,
        &alice.identity,
        now() as i64,
        Action::Admit { member: low_member, acceptance },
    );
    let mut next = state.clone();
    let refused = next.apply(&entry).unwrap_err().to_string();
    assert!(refused.contains("low-order"), "the chain keeps low-order keys out: {refused}");
    assert!(!alice.chain(team, None).await.unwrap().members.contains_key(&mallory.name));
}

/// Issue 31 item 5: a member's modified client (or one whose clock runs a year ahead)
/// writes a customer with a field stamped a year ahead, or changed in a colleague's
/// name; the server takes it, and Carol's client refuses it, naming Bob and the
/// version. That does not stop the team: Carol's edit lands in one push, on top of the
/// version she took before; Alice's lands on Carol's; both see the same customer,
/// without Bob's field; and a server that serves Bob's refused version again changes
/// nothing (Carol's next edit still lands in one push).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_version_does_not_stop_the_others_writing_the_record() {
    let Cast { srv: _srv, proxy, alice, bob, carol, team } = cast("refused-head").await;
    let mut a = client_of(&alice, team).await;
    let mut c = client_of(&carol, team).await;
    let bob_session = bob.session(team).await;
    let year_ahead = now() + 365 * 24 * 3_600_000;
    let cases = [("a year ahead", Some(year_ahead), bob.name.clone()), ("in carol's name", None, carol.name.clone())];
    for (what, wall_ms, author) in cases {
        let id = RecordId::random();
        let fields = Customer { name: "Wang Fang".into(), notes: "asked for a quote".into(), ..Default::default() };
        a.edit(id, fields.to_fields(), now()).await.unwrap();
        a.sync().await.unwrap();
        c.sync().await.unwrap();

        // Bob's client writes the notes, sealed with his real keys; the server takes it.
        let mut b = client_of(&bob, team).await;
        b.sync().await.unwrap();
        let mut doc = (*b.replica.records[&id].base).clone();
        let stamp = Stamp { hlc: Hlc { wall_ms: wall_ms.unwrap_or_else(now), counter: 0 }, author };
        doc.apply(field::NOTES, FieldState { value: Some(Value::Text("Bob's notes".into())), stamp });
        let sealer = sealer_of(&bob, &bob_session, bob_session.team.epoch);
        let collection = b.replica.records[&id].collection;
        let refused = sealer.seal(&RecordContext { team, record: id }, collection, 2, &doc, None).unwrap().0;
        let item = shared::api::PushItem { record: id, base_version: 1, sealed: refused.clone(), tombstone: false };
        push_as(&bob, team, item).await;

        // Carol refuses it, names Bob, and her edit lands at once on version 1's notes.
        c.sync().await.unwrap();
        let refusal = c.refused[&id].clone();
        assert_eq!((refusal.version, &refusal.signer, refusal.field.as_str()), (2, &bob.name, field::NOTES), "{what}");
        assert!(refusal.to_string().starts_with("A change signed by bob"), "{what}: {refusal}");
        let fields = vec![(field::NAME.to_owned(), Some(Value::Text("Wang Fang Ltd".into())))];
        c.edit(id, fields, now()).await.unwrap();
        proxy.take_seen();
        c.sync().await.unwrap();
        let pushes = proxy.take_seen().into_iter().filter(|(_, p)| p.ends_with("/push")).count();
        assert_eq!((pushes, c.replica.pending_count(), c.replica.records[&id].version), (1, 0, 3), "{what}");

        // Alice writes next, on Carol's version, at once; Carol takes Alice's.
        a.sync().await.unwrap();
        a.edit(id, vec![(field::COMPANY.to_owned(), Some(Value::Text("Wang Trading".into())))], now()).await.unwrap();
        let report = a.sync().await.unwrap();
        assert_eq!((report.pushed, report.conflicts_merged, a.replica.pending_count()), (1, 0, 0), "{what}");
        c.sync().await.unwrap();
        let mut fresh = client_of(&alice, team).await;
        fresh.sync().await.unwrap();
        for (who, r) in [
            ("alice", &a.replica.records[&id]),
            ("carol", &c.replica.records[&id]),
            ("new", &fresh.replica.records[&id]),
        ] {
            let seen = (r.version, r.view.text(field::NAME), r.view.text(field::COMPANY), r.view.text(field::NOTES));
            assert_eq!(
                seen,
                (4, Some("Wang Fang Ltd"), Some("Wang Trading"), Some("asked for a quote")),
                "{what}: {who}"
            );
        }

        // The server serves Bob's refused version to Carol again, as new.
        let replayed = Change { seq: 1_000_000, record: id, version: 2, sealed: refused };
        slip_into_pulls(&proxy, vec![replayed], true);
        c.edit(id, vec![(field::NOTES.to_owned(), Some(Value::Text("quote sent".into())))], now()).await.unwrap();
        proxy.take_seen();
        c.sync().await.unwrap();
        proxy.honest();
        let pushes = proxy.take_seen().into_iter().filter(|(_, p)| p.ends_with("/push")).count();
        assert_eq!((pushes, c.replica.records[&id].version), (1, 5), "{what}");
        a.sync().await.unwrap();
        assert_eq!(a.replica.records[&id].view.text(field::NOTES), Some("quote sent"), "{what}");
    }
}

/// Issue 31 item 4: Bob's modified client seals, with his real keys, a customer's next
/// version and a new customer on a chain head the team's chain does not have — five
/// entries past it with a made-up hash, then a fork at the length it has. (The server
/// refuses such a head on push; here the hostile server slips Bob's versions into
/// Carol's pull.) Carol's client reads the chain again for the longer head, as the app
/// does when told, and at once isolates Bob for the fork: it names him and the versions
/// refused, takes none of them, and her edits — of another customer and of that very
/// one — land; Alice takes them, and nothing of Bob's reaches anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_made_up_chain_head_isolates_that_member_and_the_team_keeps_writing() {
    use shared::crypto::envelope::ChainHead;
    let Cast { srv: _srv, proxy, alice, bob, carol, team } = cast("made-up-head").await;
    let mut a = client_of(&alice, team).await;
    let mut c = client_of(&carol, team).await;
    let (id, other) = (RecordId::random(), RecordId::random());
    for (record, name) in [(id, "Zhou Qi"), (other, "Wu Ba")] {
        let fields = Customer { name: name.into(), notes: "first notes".into(), ..Default::default() };
        a.edit(record, fields.to_fields(), now()).await.unwrap();
    }
    a.sync().await.unwrap();
    c.sync().await.unwrap();
    let bob_session = bob.session(team).await;
    let real = bob_session.team.chain_head();
    let cases = [
        ("a longer chain", ChainHead { len: real.len + 5, hash: [7; 32] }),
        ("a fork", ChainHead { len: real.len, hash: [9; 32] }),
    ];
    for (what, bogus) in cases {
        let sealer = Sealer { head: bogus, ..sealer_of(&bob, &bob_session, bob_session.team.epoch) };
        let held = &c.replica.records[&id];
        let (version, collection) = (held.version + 1, held.collection);
        let stamp = Stamp { hlc: Hlc { wall_ms: now(), counter: 0 }, author: bob.name.clone() };
        let mut doc = (*held.base).clone();
        doc.apply(field::NOTES, FieldState { value: Some(Value::Text("Bob's notes".into())), stamp: stamp.clone() });
        let planted = RecordId::random();
        let mut planted_doc = RecordDoc::new();
        planted_doc
            .apply(field::KIND, FieldState { value: Some(Value::Text("customer".into())), stamp: stamp.clone() });
        planted_doc.apply(field::NAME, FieldState { value: Some(Value::Text("Planted".into())), stamp });
        let seal = |record: RecordId, version: u64, doc: &RecordDoc| {
            sealer.seal(&RecordContext { team, record }, collection, version, doc, None).unwrap().0
        };
        let slipped = vec![
            Change { seq: 1_000_000, record: id, version, sealed: seal(id, version, &doc) },
            Change { seq: 1_000_000, record: planted, version: 1, sealed: seal(planted, 1, &planted_doc) },
        ];
        slip_into_pulls(&proxy, slipped, true);

        let notes = format!("Carol's notes, {what}");
        c.edit(other, vec![(field::NOTES.to_owned(), Some(Value::Text(notes.clone())))], now()).await.unwrap();
        proxy.take_seen();
        if what == "a longer chain" {
            let refused = c.sync().await.unwrap_err();
            assert!(
                matches!(&refused, SyncError::ChainDoubt(shared::sync::ChainDoubt::Behind { writer, .. }) if writer == &bob.name),
                "{refused}"
            );
            assert!(proxy.take_seen().iter().all(|(_, p)| !p.ends_with("/push")), "nothing sealed before a re-read");
            c.set_session(carol.session(team).await); // the chain read again: it has no such head
        }
        c.sync().await.unwrap();
        proxy.honest();
        assert_eq!(c.replica.pending_count(), 0, "{what}: Carol's edit went out");
        assert!(c.doubt.is_none(), "{what}");
        let flag = c.unknown_heads[&bob.name].clone();
        assert_eq!((flag.refused.get(&id), flag.refused.get(&planted)), (Some(&version), Some(&1)), "{what}");
        assert!(flag.to_string().starts_with("bob signed changes on a team history"), "{what}: {flag}");
        let r = &c.replica.records[&id];
        assert_eq!((r.version, r.view.text(field::NOTES)), (version - 1, Some("first notes")), "{what}");
        assert!(!c.replica.records.contains_key(&planted), "{what}");

        // Carol's edit of that very customer lands too.
        let name = format!("Zhou Qi Ltd, {what}");
        c.edit(id, vec![(field::NAME.to_owned(), Some(Value::Text(name.clone())))], now()).await.unwrap();
        c.sync().await.unwrap();
        assert_eq!(c.replica.pending_count(), 0, "{what}");
        a.sync().await.unwrap();
        let r = &a.replica.records[&id];
        assert_eq!((r.view.text(field::NAME), r.view.text(field::NOTES)), (Some(name.as_str()), Some("first notes")));
        assert_eq!(a.replica.records[&other].view.text(field::NOTES), Some(notes.as_str()), "{what}");
        assert!(!a.replica.records.contains_key(&planted), "{what}: the server never held it");
    }
}

/// Issue 31 item 8: the team's settings are an admin's. Bob (a member) cannot change
/// them through the engine; his modified client's version, sealed with his real keys,
/// is refused by the honest server; slipped into Carol's pull by a lying one, her
/// client refuses it, names him, and keeps the rotation schedule Alice set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_version_of_the_team_settings_is_refused_and_the_admins_stand() {
    let Cast { srv: _srv, proxy, alice, bob, carol, team } = cast("settings").await;
    let settings = shared::team::settings_record(team);
    let kind = (field::KIND.to_owned(), Some(Value::Text("settings".into())));
    let mut a = client_of(&alice, team).await;
    a.edit(settings, vec![kind.clone(), (shared::team::ROTATION_DAYS.to_owned(), Some(Value::Int(30)))], now())
        .await
        .unwrap();
    a.sync().await.unwrap();
    let mut c = client_of(&carol, team).await;
    c.sync().await.unwrap();
    let days = |c: &Client| {
        let r = &c.replica.records[&settings];
        shared::team::rotation_days(&r.view, r.signer.as_ref(), &c.session.team)
    };
    assert_eq!(days(&c), 30);

    let mut b = client_of(&bob, team).await;
    b.sync().await.unwrap();
    let refused = b.edit(settings, vec![(shared::team::ROTATION_DAYS.to_owned(), Some(Value::Int(0)))], now()).await;
    assert!(matches!(refused, Err(SyncError::NotAllowed(_))), "{refused:?}");

    // Bob's modified client seals the settings' next version with his real keys.
    let bob_session = bob.session(team).await;
    let mut doc = (*b.replica.records[&settings].base).clone();
    let stamp = Stamp { hlc: Hlc { wall_ms: now(), counter: 0 }, author: bob.name.clone() };
    doc.apply(shared::team::ROTATION_DAYS, FieldState { value: Some(Value::Int(0)), stamp });
    let sealer = sealer_of(&bob, &bob_session, bob_session.team.epoch);
    let collection = b.replica.records[&settings].collection;
    let sealed = sealer.seal(&RecordContext { team, record: settings }, collection, 2, &doc, None).unwrap().0;
    let req = shared::api::PushRequest {
        items: vec![shared::api::PushItem {
            record: settings,
            base_version: 1,
            sealed: sealed.clone(),
            tombstone: false,
        }],
        approval: None,
    };
    let answer = bob.transport(team).push(&req).await;
    let refused = answer.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("only an admin"), "{refused}");

    // A lying server serves it to Carol anyway.
    let forged = Change { seq: 1_000_000, record: settings, version: 2, sealed };
    slip_into_pulls(&proxy, vec![forged], false);
    c.sync().await.unwrap();
    proxy.honest();
    let refusal = c.refused[&settings].clone();
    assert_eq!((refusal.signer, refusal.reason), (bob.name.clone(), shared::sync::RefusalReason::NotAnAdmin));
    assert_eq!((c.replica.records[&settings].version, days(&c)), (1, 30), "the schedule Alice set stands");

    // Alice changes the schedule: it lands, and Carol takes it.
    a.edit(settings, vec![(shared::team::ROTATION_DAYS.to_owned(), Some(Value::Int(60)))], now()).await.unwrap();
    a.sync().await.unwrap();
    c.sync().await.unwrap();
    assert_eq!((c.replica.records[&settings].version, days(&c)), (2, 60));
}

/// Issue 31 item 15, on the real server: Alice's edit of the notes reaches the server
/// first, Carol's concurrent later one second and wins; Alice is told, with what she
/// wrote and who replaced it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_replaced_by_a_concurrent_one_pushed_second_is_reported_to_its_author() {
    let Cast { srv: _srv, proxy: _proxy, alice, bob: _, carol, team } = cast("replaced").await;
    let mut a = client_of(&alice, team).await;
    let mut c = client_of(&carol, team).await;
    let id = RecordId::random();
    a.edit(id, Customer { name: "Wang Fang".into(), ..Default::default() }.to_fields(), now()).await.unwrap();
    a.sync().await.unwrap();
    c.sync().await.unwrap();
    let notes = |s: &str| vec![(field::NOTES.to_owned(), Some(Value::Text(s.into())))];
    a.edit(id, notes("Alice: renewal in May"), now()).await.unwrap();
    c.edit(id, notes("Carol: asked for a demo"), now() + 1).await.unwrap();
    a.sync().await.unwrap();
    c.sync().await.unwrap();
    a.sync().await.unwrap();
    assert!(c.superseded.is_empty());
    let told = std::mem::take(&mut a.superseded);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!((told[0].field.as_str(), &told[0].by), (field::NOTES, &carol.name));
    assert_eq!(told[0].mine, Some(Value::Text("Alice: renewal in May".into())));
    assert_eq!(a.replica.records[&id].view.text(field::NOTES), Some("Carol: asked for a demo"));
}

/// The clock of [`a_frozen_view_stops_sealing_once_the_beacon_lease_is_over`]'s
/// clients: the wall clock moved on by this much (time injected, not slept).
static LEASE_TEST_AHEAD_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn lease_test_clock() -> u64 {
    now() + LEASE_TEST_AHEAD_MS.load(Ordering::SeqCst)
}

/// Item 14: a consistent frozen view. The server shows Carol the chain as it was
/// before Bob's removal, filters out every newer record, serves her only the beacons
/// from before the removal and answers her pushes itself. Within the team's beacon
/// lease (an hour, set by Alice) nothing tells her (the limit); once the lease is over
/// her client says no admin confirmed the team for that long, and seals nothing new.
/// With the real answers back, Alice's fresh beacon is ahead of Carol's chain: her
/// client reads the chain again and the edit goes out under the new epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_view_stops_sealing_once_the_beacon_lease_is_over() {
    let Cast { srv: _srv, proxy, alice, bob: _, carol, team } = cast("lease").await;
    let mut a_session = alice.session(team).await;
    a_session.now_ms = lease_test_clock;
    let mut a = Syncer::open(a_session, MemoryStore::new(), alice.transport(team)).await.unwrap();
    let settings = shared::team::settings_record(team);
    let lease = vec![
        (field::KIND.to_owned(), Some(Value::Text("settings".into()))),
        (shared::team::BEACON_LEASE_HOURS.to_owned(), Some(Value::Int(1))),
    ];
    a.edit(settings, lease, lease_test_clock()).await.unwrap();
    a.sync().await.unwrap();
    alice.publish_beacon(&a.session.team, lease_test_clock() as i64).await.unwrap();

    let mut c_session = carol.session(team).await;
    c_session.now_ms = lease_test_clock;
    let mut c = Syncer::open(c_session, MemoryStore::new(), carol.transport(team)).await.unwrap();
    c.sync().await.unwrap();
    let fresh = c.freshness().expect("the server serves beacons");
    assert_eq!(fresh.lease_ms, 3_600_000, "the lease Alice set");
    assert!(!fresh.lapsed());

    // From now on Carol sees the team as it is: the chain, the records, the keys and
    // the beacons of this moment; her pushes are answered by the proxy.
    let frozen_len = c.session.team.len;
    let frozen_cursor = c.replica.cursor;
    proxy.rewrite(move |x| {
        let mut v = if x.method == axum::http::Method::POST { serde_json::json!({}) } else { x.json() };
        if is_get(x, "/chain") {
            v["entries"].as_array_mut()?.truncate(frozen_len as usize);
        } else if is_get(x, "/wraps") {
            v["wraps"].as_array_mut()?.retain(|w| w["epoch"].as_u64() < Some(2));
        } else if is_get(x, "/pull") {
            v["changes"].as_array_mut()?.retain(|c| c["seq"].as_u64() <= Some(frozen_cursor));
            v["cursor"] = frozen_cursor.into();
            v["more"] = false.into();
        } else if is_get(x, "/beacons") {
            v["beacons"].as_array_mut()?.retain(|b| b["len"].as_u64() <= Some(frozen_len));
        } else if x.method == axum::http::Method::POST && x.path.ends_with("/push") {
            let req: shared::api::PushRequest = serde_json::from_slice(&x.request).ok()?;
            let accepted: Vec<serde_json::Value> = req
                .items
                .iter()
                .map(|i| serde_json::json!({"record": i.record, "version": i.base_version + 1, "seq": frozen_cursor}))
                .collect();
            v = serde_json::json!({"accepted": accepted, "cursor": frozen_cursor});
        } else {
            return None;
        }
        Answer::json(200, &v)
    });
    alice.remove_member(team, &"bob".parse().unwrap()).await;
    a.set_session({
        let mut s = alice.session(team).await;
        s.now_ms = lease_test_clock;
        s
    });
    let after = RecordId::random();
    a.edit(after, Customer { name: "Written After".into(), ..Default::default() }.to_fields(), lease_test_clock())
        .await
        .unwrap();
    a.sync().await.unwrap();
    alice.publish_beacon(&a.session.team, lease_test_clock() as i64).await.unwrap();

    // Within the lease, the frozen view goes unnoticed: Carol's edit is sealed under
    // the epoch Bob holds (fork consistency within the lease window is the limit).
    let within = RecordId::random();
    let fields = Customer { name: "Within The Lease".into(), ..Default::default() }.to_fields();
    c.edit(within, fields, lease_test_clock()).await.unwrap();
    c.sync().await.unwrap();
    assert_eq!(c.session.team.epoch, 1);
    assert_eq!(c.replica.records[&within].epoch, 1, "the lease window");

    // Two hours later, still frozen: Carol is told, and nothing new is sealed.
    LEASE_TEST_AHEAD_MS.store(2 * 3_600_000, Ordering::SeqCst);
    let mine = RecordId::random();
    let fields = Customer { name: "Carol's Late Edit".into(), ..Default::default() }.to_fields();
    c.edit(mine, fields, lease_test_clock()).await.unwrap();
    proxy.take_seen();
    c.set_session({
        let mut s = carol.session(team).await;
        s.now_ms = lease_test_clock;
        s
    });
    let refused = c.sync().await.unwrap_err();
    assert!(matches!(refused, SyncError::Unconfirmed { hours: 2 }), "{refused}");
    assert!(refused.to_string().starts_with("No admin has confirmed this team's membership for 2 hours"), "{refused}");
    assert!(c.freshness().unwrap().lapsed());
    assert!(proxy.take_seen().iter().all(|(_, p)| !p.ends_with("/push")), "nothing sealed was sent");
    assert_eq!(c.replica.pending_count(), 1, "the edit waits");
    assert!(matches!(c.sync().await, Err(SyncError::Unconfirmed { .. })), "asking again does not help");

    // The honest path: Alice's device, online, publishes a fresh beacon; with the real
    // answers back, it is ahead of Carol's chain, her client reads the chain again, and
    // the edit goes out under the new epoch.
    proxy.honest();
    alice.publish_beacon(&a.session.team, lease_test_clock() as i64).await.unwrap();
    let behind = c.sync().await.unwrap_err();
    assert!(matches!(&behind, SyncError::ChainDoubt(shared::sync::ChainDoubt::Behind { .. })), "{behind}");
    c.set_session({
        let mut s = carol.session(team).await;
        s.now_ms = lease_test_clock;
        s
    });
    assert_eq!(c.session.team.epoch, 2);
    c.sync().await.unwrap();
    assert!(!c.freshness().unwrap().lapsed());
    assert_eq!(c.replica.pending_count(), 0);
    a.sync().await.unwrap();
    assert_eq!(a.replica.records[&mine].epoch, 2, "sealed under the epoch Bob does not hold");
}

/// Issue 31 item 6, on the real server: Bob's device, offline, edits two customers;
/// Alice removes him (the server then refuses his pushes). A lying server slips his
/// versions into Carol's pull: the one signed on the chain as it was before his
/// removal is taken and flagged, with the value before; the one signed on a chain that
/// held his removal is refused and names him.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_members_late_edit_is_flagged_and_one_provably_after_the_removal_refused() {
    let Cast { srv: _srv, proxy, alice, bob, carol, team } = cast("left").await;
    let mut a = client_of(&alice, team).await;
    let (first, second) = (RecordId::random(), RecordId::random());
    for (id, name) in [(first, "Wang Fang"), (second, "Li Lei")] {
        let fields = Customer { name: name.into(), notes: "list price".into(), ..Default::default() };
        a.edit(id, fields.to_fields(), now()).await.unwrap();
    }
    a.sync().await.unwrap();
    let mut c = client_of(&carol, team).await;
    c.sync().await.unwrap();
    let bob_session = bob.session(team).await;
    let mut b = client_of(&bob, team).await;
    b.sync().await.unwrap();
    let bobs = |id: RecordId, head: shared::crypto::envelope::ChainHead| {
        let mut doc = (*b.replica.records[&id].base).clone();
        let stamp = Stamp { hlc: Hlc { wall_ms: now(), counter: 0 }, author: bob.name.clone() };
        doc.apply(field::NOTES, FieldState { value: Some(Value::Text("Bob: 50% off".into())), stamp });
        let sealer = Sealer { head, ..sealer_of(&bob, &bob_session, 1) };
        let collection = b.replica.records[&id].collection;
        sealer.seal(&RecordContext { team, record: id }, collection, 2, &doc, None).unwrap().0
    };
    let before = bobs(first, bob_session.team.chain_head());

    alice.remove_member(team, &bob.name).await;
    c.session = carol.session(team).await;
    let after = bobs(second, c.session.team.chain_head());
    let slipped = vec![
        Change { seq: 1_000_000, record: first, version: 2, sealed: before },
        Change { seq: 1_000_001, record: second, version: 2, sealed: after },
    ];
    slip_into_pulls(&proxy, slipped, false);
    c.sync().await.unwrap();
    proxy.honest();

    assert_eq!(c.replica.records[&first].view.text(field::NOTES), Some("Bob: 50% off"));
    let flagged: Vec<_> = c.superseded.iter().filter(|n| n.former).collect();
    assert_eq!(flagged.len(), 1, "{:?}", c.superseded);
    assert_eq!((flagged[0].record, &flagged[0].by), (first, &bob.name));
    assert_eq!(flagged[0].mine, Some(Value::Text("list price".into())));
    let refusal = &c.refused[&second];
    assert_eq!((&refusal.signer, refusal.reason), (&bob.name, shared::sync::RefusalReason::AfterLeaving));
    assert!(refusal.to_string().contains("after bob left the team"), "{refusal}");
    assert_eq!(c.replica.records[&second].view.text(field::NOTES), Some("list price"));
}

/// Issue 31 item 3: who logged an interaction comes from signatures, not stamps. Alice's
/// client certifies the interaction she logs; Bob edits it. Bob's modified client then
/// seals two interactions "logged by Alice" at version 2, which a lying server slips
/// into Carol's first pull (a new device, which never saw a version 1): the one with no
/// certificate is named as Bob's (he signed what Carol holds), the one carrying the
/// certificate copied from Alice's real interaction is refused whole and named on the
/// sync bar; Alice's real one is still hers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_made_up_in_a_colleagues_name_is_named_for_its_signer_or_refused() {
    use shared::domain::{Channel, Interaction};
    use shared::record::{creator, CREATED};
    use shared::sync::RefusalReason;
    let Cast { srv: _srv, proxy, alice, bob, carol, team } = cast("creator").await;
    let mut a = client_of(&alice, team).await;
    let (customer, logged) = (RecordId::random(), RecordId::random());
    a.edit(customer, Customer { name: "Wang Fang".into(), ..Default::default() }.to_fields(), now()).await.unwrap();
    let call = |summary: &str| {
        let at_ms = now() as i64;
        Interaction { customer: customer.to_string(), channel: Channel::Call, at_ms, summary: summary.into() }
    };
    a.edit(logged, call("asked for a quote").to_fields(), now()).await.unwrap();
    a.sync().await.unwrap();
    let mut b = client_of(&bob, team).await;
    b.sync().await.unwrap();
    b.edit(logged, vec![(field::SUMMARY.into(), Some(Value::Text("quote sent".into())))], now()).await.unwrap();
    b.sync().await.unwrap();
    let certified = (*b.replica.records[&logged].base).clone();
    assert!(certified.fields.contains_key(CREATED), "Alice's client certified what she logged");

    // Bob's modified client: two interactions "logged by Alice", sealed as version 2.
    let bob_session = bob.session(team).await;
    let sealer = sealer_of(&bob, &bob_session, bob_session.team.epoch);
    let collection = b.replica.records[&logged].collection;
    let in_alices_name = |summary: &str| {
        let stamp = Stamp { hlc: Hlc { wall_ms: now(), counter: 0 }, author: alice.name.clone() };
        let mut doc = RecordDoc::new();
        for (f, value) in call(summary).to_fields() {
            doc.apply(&f, FieldState { value, stamp: stamp.clone() });
        }
        doc
    };
    let (bare, copied) = (RecordId::random(), RecordId::random());
    let mut with_copy = in_alices_name("Alice promised 50% off");
    for f in [field::KIND, CREATED] {
        with_copy.fields.insert(f.to_owned(), certified.fields[f].clone());
    }
    let forged: Vec<Change> = [(bare, in_alices_name("Alice gave the price list away")), (copied, with_copy)]
        .into_iter()
        .map(|(record, doc)| {
            let ctx = RecordContext { team, record };
            let sealed = sealer.seal(&ctx, collection, 2, &doc, None).unwrap().0;
            Change { seq: 0, record, version: 2, sealed }
        })
        .collect();
    slip_into_pulls(&proxy, forged, true);

    let mut c = client_of(&carol, team).await;
    c.sync().await.unwrap();
    let named = |id: RecordId| {
        let r = &c.replica.records[&id];
        creator(&r.view, r.signer.as_ref().unwrap()).map(|u| u.to_string())
    };
    assert_eq!(named(logged).as_deref(), Some("alice"), "certified: still Alice's after Bob's edit");
    assert_eq!(named(bare).as_deref(), Some("bob"), "no certificate: named for the member who signed it");
    assert!(!c.replica.records.contains_key(&copied), "a copied certificate gets the record refused");
    let refusal = &c.refused[&copied];
    assert_eq!(
        (refusal.reason, refusal.signer.as_str(), refusal.named.as_str()),
        (RefusalReason::CreatedInAnothersName, "bob", "alice")
    );
    assert!(refusal.to_string().contains("signed by bob names alice as the record's creator"), "{refusal}");
}
