//! Kept versions (issue 31, item 12): the server keeps every version a push replaces
//! for the team's retention period, and a colleague puts a junked record back by
//! opening a kept version as a pulled one is opened (its signature checked against the
//! verified chain) and writing its fields on top, as their own edit. A kept version the
//! server forges (another record's, the current one relabelled, changed bytes) is
//! refused and nothing is written.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/inproc.rs"]
mod inproc;
#[path = "support/probe.rs"]
mod probe;
#[path = "support/server.rs"]
mod server;

use client::{signup, HttpTransport};
use hostile::{Answer, HostileServer};
use probe::{json, Probe};
use quietdesk_server::Config;
use reqwest::StatusCode;
use serde_json::json;
use server::TestServer;
use shared::api::{path, KeptVersion, KeptVersions, Retention};
use shared::chain::Role;
use shared::domain::{field, Customer, Entity};
use shared::ids::{RecordId, TeamId};
use shared::record::Value;
use shared::sync::memory::MemoryStore;
use shared::sync::{SyncError, Syncer, Transport};

fn kept_path(team: TeamId, record: RecordId) -> String {
    path::fill(&path::fill(path::KEPT_VERSIONS, &team.to_string()), &record.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_junked_customer_is_put_back_from_its_kept_version_and_a_forged_one_is_refused() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-history").await;
    let bob = signup(&srv.base, "bob", "pass-bob-history").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut b: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    let ids: Vec<RecordId> = (0..20).map(|_| RecordId::random()).collect();
    let name = |i: usize| format!("History Canary {i}");
    for (i, id) in ids.iter().enumerate() {
        let c = Customer { name: name(i), company: "Canary Works".into(), owner: "bob".into(), ..Default::default() };
        b.edit(*id, c.to_fields(), 1).await.unwrap();
    }
    b.sync().await.unwrap();

    // Bob junks all twenty: no deletion, so no approval is asked; the server keeps what
    // each push replaced.
    let junk = |i: usize| {
        vec![
            (field::NAME.to_owned(), Some(Value::Text(format!("JUNK {i}")))),
            (field::COMPANY.to_owned(), None),
            (field::NOTES.to_owned(), Some(Value::Text("junk".into()))),
        ]
    };
    b.edit_many(ids.iter().enumerate().map(|(i, id)| (*id, junk(i))).collect(), 2).await.unwrap();
    b.sync().await.unwrap();

    let mut a: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(a.replica.records[&ids[0]].view.text(field::NAME), Some("JUNK 0"));
    let listed = a.kept_versions(ids[0]).await.unwrap();
    assert_eq!(listed.versions.iter().map(|v| (v.version, v.author.as_str())).collect::<Vec<_>>(), [(1, "bob")]);
    assert_eq!(listed.retention_days, 30);

    // A lying server, between Alice's other device and the real one.
    let proxy = HostileServer::start(&srv.base).await;
    let mut via = alice.transport(team);
    via.api.base = proxy.base.clone();
    let mut h: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(alice.session(team).await, MemoryStore::new(), via).await.unwrap();
    h.sync().await.unwrap();
    let other: KeptVersion = alice.api.get(&format!("{}/1", kept_path(team, ids[1]))).await.unwrap();
    let current = alice.transport(team).pull(0, 1000).await.unwrap();
    let junked = current.changes.iter().find(|c| c.record == ids[1]).unwrap().sealed.clone();
    let (r0, r1, r2) = (ids[0], ids[1], ids[2]);
    proxy.rewrite(move |x| {
        let forged = |sealed: &shared::crypto::envelope::SealedRecord, record: RecordId| {
            let mut v = x.json();
            v["record"] = json!(record.to_string());
            v["sealed"] = serde_json::to_value(sealed).unwrap();
            Answer::json(200, &v)
        };
        if x.path.ends_with(&format!("/records/{r0}/versions/1")) {
            // Another record's kept version, offered as this one's.
            forged(&other.sealed, r0)
        } else if x.path.ends_with(&format!("/records/{r1}/versions/1")) {
            // The junked version itself, offered as the one before it.
            forged(&junked, r1)
        } else if x.path.ends_with(&format!("/records/{r2}/versions/1")) {
            // The real kept version, one byte changed.
            let mut sealed: KeptVersion = serde_json::from_value(x.json()).unwrap();
            let at = sealed.sealed.0.len() / 2;
            sealed.sealed.0[at] ^= 1;
            forged(&sealed.sealed, r2)
        } else {
            None
        }
    });
    for id in [r0, r1, r2] {
        match h.put_back(id, 1, 3).await {
            Err(SyncError::Crypto(_)) => {}
            other => panic!("a forged kept version must be refused, got {other:?}"),
        }
    }
    assert!(matches!(h.put_back(ids[3], 2, 3).await, Err(SyncError::NotAllowed(_))), "the current version");
    assert_eq!(h.replica.pending_count(), 0, "nothing was written on a forged version's word");
    assert_eq!(h.replica.records[&r0].view.text(field::NAME), Some("JUNK 0"));

    // Alice puts every one back from its kept version, verified: her own edit, signed
    // by her, which everyone takes.
    for id in &ids {
        assert!(a.put_back(*id, 1, 4).await.unwrap() >= 3, "name, company and notes");
    }
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    for (i, id) in ids.iter().enumerate() {
        for c in [&a, &b] {
            let local = &c.replica.records[id];
            assert_eq!(local.view.text(field::NAME), Some(name(i).as_str()));
            assert_eq!(local.view.text(field::COMPANY), Some("Canary Works"));
            assert_eq!(local.view.text(field::NOTES), Some(""), "as it was");
            assert_eq!((local.version, local.signer.as_ref().map(|s| s.as_str())), (3, Some("alice")));
        }
    }
    let listed = b.kept_versions(ids[0]).await.unwrap();
    assert_eq!(listed.versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);
}

#[tokio::test]
async fn kept_versions_and_retention_refuse_bad_input_strangers_and_non_admins() {
    let srv = inproc::spawn(Config::default()).await;
    let p = Probe::new(&srv.base);
    let alice = signup(&srv.base, "alice", "pass-alice-kept").await;
    let bob = signup(&srv.base, "bob", "pass-bob-kept").await;
    let carol = signup(&srv.base, "carol", "pass-carol-kept").await;
    let mallory = signup(&srv.base, "mallory", "pass-mallory-kept").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    alice.add_member(team, "carol", Role::Member).await;
    let mut b: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    let id = RecordId::random();
    let c = Customer { name: "Kept Canary".into(), owner: "bob".into(), ..Default::default() };
    b.edit(id, c.to_fields(), 1).await.unwrap();
    b.sync().await.unwrap();
    b.edit(id, vec![(field::NAME.to_owned(), Some(Value::Text("Kept Canary 2".into())))], 2).await.unwrap();
    b.sync().await.unwrap();
    let kept = kept_path(team, id);
    let one = format!("{kept}/1");
    let retention = path::fill(path::RETENTION, &team.to_string());
    let rows = || async { srv.db.rows("SELECT version FROM record_history").await.len() };
    assert_eq!(rows().await, 1);

    // Bob, who may read his portfolio, and Alice (an admin) see the kept version;
    // Carol, a member whose portfolio it is not, sees none of it; a stranger nothing.
    for who in [&alice, &bob] {
        let listed: KeptVersions = who.api.get(&kept).await.unwrap();
        assert_eq!(listed.versions.len(), 1);
        let _: KeptVersion = who.api.get(&one).await.unwrap();
    }
    let listed: KeptVersions = carol.api.get(&kept).await.unwrap();
    assert!(listed.versions.is_empty(), "another member's portfolio");
    let (s, e) = p.refused("GET", &one, Some(&carol.token), None).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    for url in [&kept, &one, &retention] {
        let (s, e) = p.refused("GET", url, Some(&mallory.token), None).await;
        assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"), "a stranger: {url}");
        let (s, _) = p.refused("GET", url, None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let tok = Some(alice.token.as_str());
    for bad in
        [format!("{kept}/0"), format!("{kept}/2"), format!("{kept}/99"), kept_path(team, RecordId::random()) + "/1"]
    {
        let (s, e) = p.refused("GET", &bad, tok, None).await;
        assert_eq!((s, e.code.as_str()), (StatusCode::NOT_FOUND, "not_found"), "{bad}");
    }
    for bad in [
        format!("{kept}/-1"),
        format!("{kept}/abc"),
        format!("{kept}/99999999999999999999999"),
        path::fill(&path::fill(path::KEPT_VERSIONS, &team.to_string()), "not-a-record"),
        path::fill(&path::fill(path::KEPT_VERSIONS, "not-a-team"), &id.to_string()),
    ] {
        let (s, _) = p.refused("GET", &bad, tok, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (s, e) = p.refused("GET", &kept_path(TeamId::random(), id), tok, None).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::NOT_FOUND, "not_found"));

    // Only an admin sets the retention, within 0..=3650 days; a refused request
    // changes nothing.
    let (s, e) = p.refused("PUT", &retention, Some(&bob.token), json(&json!({"days": 0}))).await;
    assert_eq!((s, e.code.as_str()), (StatusCode::FORBIDDEN, "forbidden"), "a member is not an admin");
    for b in [
        json(&json!({"days": 3651})),
        json(&json!({"days": -1})),
        json(&json!({"days": "30"})),
        json(&json!({})),
        Some(("application/json", b"{\"days\":".to_vec())),
        Some(("text/plain", b"{\"days\":1}".to_vec())),
    ] {
        let (s, e) = p.refused("PUT", &retention, tok, b).await;
        assert!(matches!(s.as_u16(), 400 | 415 | 422), "{s} {e:?}");
    }
    let now: Retention = bob.api.get(&retention).await.unwrap();
    assert_eq!(now.days, 30);
    assert_eq!(rows().await, 1, "nothing was forgotten");

    // Set to nothing, nothing is kept: what was is forgotten at once, and new pushes
    // keep nothing.
    let set: Retention = alice.api.put(&retention, &Retention { days: 0 }).await.unwrap();
    assert_eq!(set.days, 0);
    let listed: KeptVersions = bob.api.get(&kept).await.unwrap();
    assert!(listed.versions.is_empty());
    b.edit(id, vec![(field::NAME.to_owned(), Some(Value::Text("Kept Canary 3".into())))], 3).await.unwrap();
    b.sync().await.unwrap();
    assert_eq!(rows().await, 0);
    let set: Retention = alice.api.put(&retention, &Retention { days: 3650 }).await.unwrap();
    assert_eq!(set.days, 3650);
    p.healthy().await;
}
