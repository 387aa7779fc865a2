//! The audit log and approvals against the real server binary: members chain entries
//! only admins can read; deleting, altering or rewriting a row in the database is
//! reported by the admins' verifier; "export everything" is refused without an
//! admin's signed approval, served with one, and leaves a note in the audit chain.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/client.rs"]
mod client;
#[path = "support/server.rs"]
mod server;

use client::{signup, Account, HttpTransport};
use server::TestServer;
use shared::api::approval_statement;
use shared::api::{
    path, Approval, ApprovalKind, Approvals, AuditAppend, AuditAppended, AuditPage, DecideApproval, NewApproval,
    PullResponse, SealedAudit,
};
use shared::audit::{self, AuditAction, AuditEvent, AuditRow, Opened, Problem};
use shared::chain::{Action, Role, TeamState};
use shared::domain::{Customer, Entity};
use shared::ids::{RecordId, TeamId};
use shared::sync::memory::MemoryStore;
use shared::sync::{Syncer, TransportError};

fn event(action: AuditAction, detail: &str) -> AuditEvent {
    AuditEvent {
        at_ms: 1_700_000_000_000,
        action,
        customer: Some(RecordId([9; 16])),
        record: None,
        detail: detail.into(),
    }
}

async fn write(who: &Account, team: TeamId, state: &TeamState, events: &[AuditEvent]) -> Result<u64, TransportError> {
    // One device stream per call is enough here: streams are checked by admins'
    // clients (shared::audit), the server only chains.
    let mut stream = audit::AuditStream::new();
    let entries =
        events.iter().map(|e| SealedAudit(audit::seal(state, &who.name, &who.identity, e, &mut stream))).collect();
    let r: AuditAppended = who.api.post(&path::fill(path::AUDIT, &team.to_string()), &AuditAppend { entries }).await?;
    Ok(r.seq)
}

async fn read(admin: &Account, team: TeamId) -> Vec<AuditRow> {
    let url = format!("{}?after=0", path::fill(path::AUDIT, &team.to_string()));
    let page: AuditPage = admin.api.get(&url).await.unwrap();
    assert!(!page.more);
    page.rows
}

async fn sql(srv: &TestServer, q: &str) {
    srv.db.exec(q, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_or_altering_an_audit_row_is_reported_by_the_verifier() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-audit").await;
    let bob = signup(&srv.base, "bob", "pass-bob-audit").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let state = bob.chain(team, None).await.unwrap();

    let bobs = [
        event(AuditAction::Reveal, "phone"),
        event(AuditAction::Edit, "name, notes"),
        event(AuditAction::Export, "12 records"),
    ];
    assert_eq!(write(&bob, team, &state, &bobs).await.unwrap(), 3);
    assert_eq!(write(&alice, team, &state, &[event(AuditAction::Delete, "1 record")]).await.unwrap(), 4);

    // Members write but do not read; nobody writes in someone else's name; garbage is refused.
    let url = path::fill(path::AUDIT, &team.to_string());
    assert!(matches!(bob.api.get::<AuditPage>(&url).await, Err(TransportError::Http { status: 403, .. })));
    let forged = AuditAppend {
        entries: vec![SealedAudit(audit::seal(
            &state,
            &alice.name,
            &bob.identity,
            &bobs[0],
            &mut audit::AuditStream::new(),
        ))],
    };
    assert!(matches!(
        bob.api.post::<_, AuditAppended>(&url, &forged).await,
        Err(TransportError::Http { status: 400, .. })
    ));
    let junk = AuditAppend { entries: vec![SealedAudit(vec![1, 2, 3])] };
    assert!(matches!(
        bob.api.post::<_, AuditAppended>(&url, &junk).await,
        Err(TransportError::Http { status: 400, .. })
    ));
    let note = AuditAppend { entries: vec![SealedAudit(audit::note("a client posing as the server"))] };
    assert!(matches!(
        bob.api.post::<_, AuditAppended>(&url, &note).await,
        Err(TransportError::Http { status: 400, .. })
    ));

    // The admin reads and verifies the whole chain.
    let rows = read(&alice, team).await;
    let verify = |rows: &[AuditRow], known| audit::verify(&state, rows, known, &alice.name, &alice.identity);
    let ok = verify(&rows, None);
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
    assert_eq!(ok.opened[1], Some(Opened::Event(bobs[1].clone())));
    assert_eq!(rows.iter().map(|r| r.author.as_str()).collect::<Vec<_>>(), ["bob", "bob", "bob", "alice"]);
    // The server's copy holds no plaintext.
    assert!(!rows.iter().any(|r| r.entry.windows(5).any(|w| w == b"phone")));

    // Altering a row in the database is reported: its time, its author, its content.
    sql(&srv, "UPDATE audit SET at = at + 1 WHERE seq = 2").await;
    let p = verify(&read(&alice, team).await, Some(ok.head)).problems;
    assert!(p.contains(&Problem::Altered { seq: 2 }), "{p:?}");
    sql(&srv, "UPDATE audit SET at = at - 1 WHERE seq = 2").await;
    assert!(verify(&read(&alice, team).await, Some(ok.head)).problems.is_empty(), "undone");
    sql(&srv, "UPDATE audit SET author = 'alice' WHERE seq = 1").await;
    assert!(!verify(&read(&alice, team).await, None).problems.is_empty(), "re-attributed");
    sql(&srv, "UPDATE audit SET author = 'bob' WHERE seq = 1").await;
    sql(&srv, "UPDATE audit SET entry = hash WHERE seq = 3").await;
    let p = verify(&read(&alice, team).await, Some(ok.head)).problems;
    assert!(p.contains(&Problem::Altered { seq: 3 }) && p.contains(&Problem::BadSignature { seq: 3 }), "{p:?}");

    // Deleting a row is reported.
    sql(&srv, "DELETE FROM audit WHERE seq = 3").await;
    let p = verify(&read(&alice, team).await, Some(ok.head)).problems;
    assert!(p.contains(&Problem::Missing { seq: 4 }), "{p:?}");

    // Deleting the newest row (nothing after it to break) is caught by the checkpoint.
    sql(&srv, "DELETE FROM audit WHERE seq = 4").await;
    let p = verify(&read(&alice, team).await, Some(ok.head)).problems;
    assert!(p.contains(&Problem::Rollback { seen: 4, got: 2 }), "{p:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_all_is_refused_without_approval_and_served_and_audited_with_one() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-export").await;
    let bob = signup(&srv.base, "bob", "pass-bob-export").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut b: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    for i in 0..3 {
        let c = Customer { name: format!("Export Canary {i}"), owner: "bob".into(), ..Default::default() };
        b.edit(RecordId::random(), c.to_fields(), 1).await.unwrap();
    }
    b.sync().await.unwrap();

    let t = team.to_string();
    let export = |who: &Account, approval: RecordId| {
        let url = format!("{}?approval={approval}&since=0", path::fill(path::EXPORT, &t));
        let api = who.api.clone();
        async move { api.get::<PullResponse>(&url).await }
    };
    // Without an approval (an unknown id) it is refused.
    assert!(matches!(export(&bob, RecordId::random()).await, Err(TransportError::Http { status: 403, .. })));

    // Bob asks; while it is pending the export is still refused.
    let approvals = path::fill(path::APPROVALS, &t);
    let asked: Approval = bob
        .api
        .post(&approvals, &NewApproval { kind: ApprovalKind::ExportAll, count: 0, subject: None })
        .await
        .unwrap();
    assert_eq!(asked.state, "pending");
    assert!(matches!(export(&bob, asked.id).await, Err(TransportError::Http { status: 403, .. })));
    let listed: Approvals = alice.api.get(&approvals).await.unwrap();
    assert_eq!(listed.approvals, vec![asked.clone()]);

    let decide = path::fill(&path::fill(path::DECIDE_APPROVAL, &t), &asked.id.to_string());
    // Only admins decide; an approval must carry a valid signature by the deciding admin.
    let sig = alice.identity.sign(&approval_statement(&team, &asked));
    let approve = DecideApproval { approve: true, signature: Some(sig) };
    assert!(matches!(
        bob.api.post::<_, Approval>(&decide, &approve).await,
        Err(TransportError::Http { status: 403, .. })
    ));
    let wrong =
        DecideApproval { approve: true, signature: Some(bob.identity.sign(&approval_statement(&team, &asked))) };
    assert!(matches!(
        alice.api.post::<_, Approval>(&decide, &wrong).await,
        Err(TransportError::Http { status: 400, .. })
    ));
    let unsigned = DecideApproval { approve: true, signature: None };
    assert!(matches!(
        alice.api.post::<_, Approval>(&decide, &unsigned).await,
        Err(TransportError::Http { status: 400, .. })
    ));
    let approved: Approval = alice.api.post(&decide, &approve).await.unwrap();
    assert_eq!((approved.state.as_str(), approved.approver.as_ref().map(|a| a.as_str())), ("approved", Some("alice")));
    // The requester can check the approval is really the admin's.
    let admin_key = bob.chain(team, None).await.unwrap().members[&alice.name].identity;
    admin_key.verify(&approval_statement(&team, &approved), &approved.signature.unwrap()).unwrap();
    assert!(matches!(
        alice.api.post::<_, Approval>(&decide, &approve).await,
        Err(TransportError::Http { status: 409, .. })
    ));

    // Nobody else can use Bob's approval; Bob's export is served, everything he may read.
    assert!(matches!(export(&alice, asked.id).await, Err(TransportError::Http { status: 403, .. })));
    let served = export(&bob, asked.id).await.unwrap();
    assert_eq!(served.changes.len(), 3);

    // …and audited: the decision and the export are notes in the chain the admin verifies.
    let rows = read(&alice, team).await;
    let state = alice.chain(team, None).await.unwrap();
    let v = audit::verify(&state, &rows, None, &alice.name, &alice.identity);
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    let notes: Vec<String> =
        v.opened.into_iter().filter_map(|o| if let Some(Opened::Note(n)) = o { Some(n) } else { None }).collect();
    assert_eq!(
        notes,
        [
            "alice approved bob's request: export everything".to_string(),
            "bob began an approved export of everything (approved by alice)".to_string(),
        ]
    );

    // A refused request stays refused.
    let again: Approval = bob
        .api
        .post(&approvals, &NewApproval { kind: ApprovalKind::ExportAll, count: 0, subject: None })
        .await
        .unwrap();
    let decide = path::fill(&path::fill(path::DECIDE_APPROVAL, &t), &again.id.to_string());
    let refused: Approval = alice.api.post(&decide, &DecideApproval { approve: false, signature: None }).await.unwrap();
    assert_eq!(refused.state, "refused");
    assert!(matches!(export(&bob, again.id).await, Err(TransportError::Http { status: 403, .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granting_admin_needs_an_approval_and_another_admins_where_there_is_one() {
    let srv = TestServer::start();
    let alice = signup(&srv.base, "alice", "pass-alice-grant").await;
    let bob = signup(&srv.base, "bob", "pass-bob-grant").await;
    let carol = signup(&srv.base, "carol", "pass-carol-grant").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    alice.add_member(team, "carol", Role::Member).await;
    let t = team.to_string();
    let approvals = path::fill(path::APPROVALS, &t);
    let promote = |who: &Account| Action::ChangeRole { username: who.name.clone(), role: Role::Admin };
    let ask = |admin: &Account, who: &Account| {
        let (api, url) = (admin.api.clone(), approvals.clone());
        let req = NewApproval { kind: ApprovalKind::GrantAdmin, count: 0, subject: Some(who.name.clone()) };
        async move { api.post::<_, Approval>(&url, &req).await.unwrap() }
    };
    let decide = |admin: &Account, a: &Approval| {
        let url = path::fill(&path::fill(path::DECIDE_APPROVAL, &t), &a.id.to_string());
        let sig = admin.identity.sign(&approval_statement(&team, a));
        let api = admin.api.clone();
        async move { api.post::<_, Approval>(&url, &DecideApproval { approve: true, signature: Some(sig) }).await }
    };
    let status = |r: Result<TeamState, TransportError>| match r {
        Ok(_) => 200,
        Err(TransportError::Http { status, .. }) => status,
        Err(e) => panic!("{e}"),
    };

    // Without an approval the server refuses; a grant_admin request needs its subject.
    assert_eq!(status(alice.append(team, promote(&bob)).await), 403);
    let bare = NewApproval { kind: ApprovalKind::GrantAdmin, count: 0, subject: None };
    assert!(matches!(
        alice.api.post::<_, Approval>(&approvals, &bare).await,
        Err(TransportError::Http { status: 400, .. })
    ));

    // The only admin approves their own request, which then works once, for that member.
    let a = ask(&alice, &bob).await;
    assert_eq!(a.describe(), "make bob an admin");
    decide(&alice, &a).await.unwrap();
    assert_eq!(status(alice.append_approved(team, promote(&carol), Some(a.id)).await), 403, "another member");
    assert_eq!(status(alice.append_approved(team, promote(&bob), Some(a.id)).await), 200);
    alice.append(team, Action::ChangeRole { username: bob.name.clone(), role: Role::Member }).await.unwrap();
    assert_eq!(status(alice.append_approved(team, promote(&bob), Some(a.id)).await), 403, "used up");
    let a = ask(&alice, &bob).await;
    decide(&alice, &a).await.unwrap();
    alice.append_approved(team, promote(&bob), Some(a.id)).await.unwrap();

    // Two admins now: Alice cannot approve her own request to promote Carol; Bob can.
    let c = ask(&alice, &carol).await;
    assert!(matches!(decide(&alice, &c).await, Err(TransportError::Http { status: 403, .. })));
    decide(&bob, &c).await.unwrap();
    alice.append_approved(team, promote(&carol), Some(c.id)).await.unwrap();
    // The same rule holds for an admin's own export.
    let e: Approval = alice
        .api
        .post(&approvals, &NewApproval { kind: ApprovalKind::ExportAll, count: 0, subject: None })
        .await
        .unwrap();
    assert!(matches!(decide(&alice, &e).await, Err(TransportError::Http { status: 403, .. })));

    // Each grant is a note in the verified audit chain.
    let rows = read(&alice, team).await;
    let state = alice.chain(team, None).await.unwrap();
    let v = audit::verify(&state, &rows, None, &alice.name, &alice.identity);
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    let notes: Vec<String> =
        v.opened.into_iter().filter_map(|o| if let Some(Opened::Note(n)) = o { Some(n) } else { None }).collect();
    assert!(notes.contains(&"alice made carol an admin (approved by bob)".to_string()), "{notes:?}");
    assert_eq!(notes.iter().filter(|n| n.starts_with("alice made bob an admin")).count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_more_than_the_threshold_within_an_hour_needs_an_approval() {
    let srv = TestServer::start_with(&["--bulk-delete-threshold", "20"]);
    let alice = signup(&srv.base, "alice", "pass-alice-delete").await;
    let bob = signup(&srv.base, "bob", "pass-bob-delete").await;
    let team = alice.create_team().await;
    alice.add_member(team, "bob", Role::Member).await;
    let mut b: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    let mut a: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(alice.session(team).await, MemoryStore::new(), alice.transport(team)).await.unwrap();
    let ids: Vec<RecordId> = (0..30).map(|_| RecordId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        let c = Customer { name: format!("Delete Canary {i}"), owner: "bob".into(), ..Default::default() };
        b.edit(*id, c.to_fields(), 1).await.unwrap();
    }
    b.sync().await.unwrap();
    let delete =
        |id: &RecordId| (*id, vec![(shared::record::DELETED.to_owned(), Some(shared::record::Value::Bool(true)))]);

    // Twenty within the hour are allowed unapproved.
    b.edit_many(ids[..20].iter().map(delete).collect(), 2).await.unwrap();
    b.sync().await.unwrap();
    // Five more are not: refused whole, nothing deleted, the edits kept for later.
    b.edit_many(ids[20..25].iter().map(delete).collect(), 3).await.unwrap();
    assert_eq!(b.pending_deletions().len(), 5);
    match b.sync().await {
        Err(shared::sync::SyncError::Transport(TransportError::Http { status: 403, code, .. })) => {
            assert_eq!(code, "approval_required")
        }
        other => panic!("expected approval_required, got {other:?}"),
    }
    a.sync().await.unwrap();
    assert_eq!(a.replica.live().count(), 10, "the refused deletions did not happen");

    // With an approved request for five they go through; a sixth needs another.
    let t = team.to_string();
    let req = NewApproval { kind: ApprovalKind::BulkDelete, count: 5, subject: None };
    let asked: Approval = bob.api.post(&path::fill(path::APPROVALS, &t), &req).await.unwrap();
    let decide = path::fill(&path::fill(path::DECIDE_APPROVAL, &t), &asked.id.to_string());
    let sig = alice.identity.sign(&approval_statement(&team, &asked));
    let _: Approval = alice.api.post(&decide, &DecideApproval { approve: true, signature: Some(sig) }).await.unwrap();
    b.approval = Some(asked.id);
    b.sync().await.unwrap();
    assert!(b.pending_deletions().is_empty());
    a.sync().await.unwrap();
    assert_eq!(a.replica.live().count(), 5);
    b.edit_many(vec![delete(&ids[25])], 4).await.unwrap();
    assert!(matches!(
        b.sync().await,
        Err(shared::sync::SyncError::Transport(TransportError::Http { status: 403, .. }))
    ));

    // Edits of records already deleted are not deletions (e.g. re-encryption): Bob,
    // over his threshold, on another device, still writes them.
    let mut phone: Syncer<MemoryStore, HttpTransport> =
        Syncer::open(bob.session(team).await, MemoryStore::new(), bob.transport(team)).await.unwrap();
    phone.sync().await.unwrap();
    phone.edit_many(ids[..5].iter().map(delete).collect(), 5).await.unwrap();
    phone.sync().await.unwrap();
}
