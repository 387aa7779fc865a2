//! Security operations in the app: audit entries (sealed for the admins, kept in
//! IndexedDB until the server has chained them), the admins' verified audit view,
//! approvals of risky actions, the encrypted export file and its restore, and the
//! admin's confirmation that the server was restored from a backup.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{
    path, Approval, ApprovalKind, Approvals, AuditAppend, AuditPage, DecideApproval, NewApproval, PullResponse,
    SealedAudit,
};
use shared::audit::{self, AuditAction, AuditEvent, Checkpoint, Opened, Problem};
use shared::chain::{Action, ChainEntry};
use shared::crypto::envelope::RecordContext;
use shared::crypto::passphrase::Passphrase;
use shared::domain::{field, is_sensitive};
use shared::ids::{RecordId, Username};
use shared::record::{RecordDoc, Value, DELETED};
use shared::sync::seal::open_record;

use crate::account::CHAIN_KEY;
use crate::error::AppError;
use crate::workspace::Workspace;

const AUDIT_PENDING: &str = "audit-pending";
/// This device's audit stream (id, counter, last digest): see `shared::audit`.
const AUDIT_STREAM: &str = "audit-stream";

/// One line of the audit page (entries of the audit chain and of the team chain).
#[derive(Clone)]
pub struct AuditLine {
    pub at_ms: i64,
    pub who: String,
    pub action: &'static str,
    pub customer: Option<RecordId>,
    pub detail: String,
}

/// The admins' view of the audit log: lines newest first, and what is wrong with it.
pub struct AuditView {
    pub lines: Vec<AuditLine>,
    pub problems: Vec<String>,
    pub entries: u64,
}

fn problem_text(p: &Problem) -> String {
    let (before, seq, after) = match p {
        Problem::Missing { seq } => ("entries before #", seq, " are missing"),
        Problem::Altered { seq } => ("entry #", seq, " was altered"),
        Problem::BadSignature { seq } => ("entry #", seq, " is not signed by its author"),
        Problem::Rollback { seen, .. } => {
            ("the log was cut short or rewritten: this device had verified it up to #", seen, "")
        }
        Problem::StreamGap { seq, author } => {
            return format!("entries written by {author} on one device are missing before #{seq}");
        }
        Problem::Repeated { seq, first } => {
            return format!("entry #{seq} repeats entry #{first} (an upload retried, or a replay)");
        }
    };
    format!("{before}{seq}{after}")
}

fn chain_text(a: &Action) -> String {
    match a {
        Action::Create { .. } | Action::Found { .. } => "created the team".into(),
        Action::AddMember { member } => {
            format!("added {} as {} (without their signed acceptance)", member.username, member.role.as_str())
        }
        Action::Admit { member, .. } => format!("added {} as {}", member.username, member.role.as_str()),
        Action::ChangeRole { username, role } => format!("made {username} {}", role.as_str()),
        Action::RemoveMember { username } => format!("removed {username} (new key epoch)"),
        Action::Rotate { epoch } => format!("rotated the team keys (epoch {epoch})"),
        Action::Retire { below } => format!("retired the keys of epochs before {below} (every record re-encrypted)"),
    }
}

fn err(e: impl ToString) -> String {
    e.to_string()
}

impl Workspace {
    fn team_url(&self, template: &str) -> String {
        path::fill(template, &self.team_id.to_string())
    }

    /// Write an audit entry: sealed for the team's admins and signed by me, durable on
    /// this device at once, uploaded as soon as the server is reachable.
    pub async fn audit(
        self: &Rc<Self>,
        action: AuditAction,
        customer: Option<RecordId>,
        record: Option<RecordId>,
        detail: String,
    ) {
        let event = AuditEvent { at_ms: crate::now_ms(), action, customer, record, detail };
        // This device's stream advances under the engine's lock and is saved before the
        // entry is queued, so a counter is never used twice (a crash in between loses
        // one entry, which admins see as a gap in this device's stream).
        {
            let s = self.syncer.lock().await;
            let (entry, stream) = {
                let mut stream = self.audit_stream.borrow_mut();
                let entry = audit::seal(&s.session.team, &self.me, &s.session.identity, &event, &mut stream);
                (entry, serde_json::to_vec(&*stream).unwrap_or_default())
            };
            let _ = self.unlocked.store.set_meta(AUDIT_STREAM, &stream).await;
            self.audit_queue.borrow_mut().push(SealedAudit(entry));
            self.save_audit_queue().await;
        }
        let ws = self.clone();
        spawn_local(async move { ws.flush_audit().await });
    }

    /// The queue in IndexedDB: each sealed entry with a length prefix.
    async fn save_audit_queue(&self) {
        let mut w = shared::encoding::Writer::new();
        for e in self.audit_queue.borrow().iter() {
            w.bytes(&e.0);
        }
        let _ = self.unlocked.store.set_meta(AUDIT_PENDING, &w.finish()).await;
    }

    /// Upload queued audit entries (one upload at a time; the rest wait for the next).
    pub async fn flush_audit(&self) {
        if self.audit_flushing.replace(true) {
            return;
        }
        loop {
            let batch: Vec<SealedAudit> = self.audit_queue.borrow().iter().take(audit::MAX_APPEND).cloned().collect();
            if batch.is_empty() {
                break;
            }
            let n = batch.len();
            let url = self.team_url(path::AUDIT);
            // The answer (the last sequence number) is not needed; `Empty` reads any object.
            if self.unlocked.api.post::<_, shared::api::Empty>(&url, &AuditAppend { entries: batch }).await.is_err() {
                break;
            }
            self.audit_queue.borrow_mut().drain(..n);
            self.save_audit_queue().await;
        }
        self.audit_flushing.set(false);
    }

    /// At open: reload the queue, and note a first log-in on this device.
    pub(crate) async fn note_new_device(self: &Rc<Self>) {
        if let Some(stream) = self.unlocked.cached::<audit::AuditStream>(AUDIT_STREAM).await {
            *self.audit_stream.borrow_mut() = stream;
        }
        if let Ok(Some(bytes)) = self.unlocked.store.meta(AUDIT_PENDING).await {
            let mut r = shared::encoding::Reader::new(&bytes);
            let mut q = self.audit_queue.borrow_mut();
            while let Ok(e) = r.bytes() {
                q.push(SealedAudit(e.to_vec()));
            }
        }
        let key = format!("device-noted/{}", self.team_id);
        if self.unlocked.store.meta(&key).await.ok().flatten().is_none() {
            // Which kind of device is in the server's session list (Team page, devices).
            self.audit(AuditAction::NewDevice, None, None, "first log-in on this device".into()).await;
            let _ = self.unlocked.store.set_meta(&key, b"1").await;
        }
    }

    /// The audit entry for an edit of `record` (`before`: its view before the edit).
    pub(crate) fn audit_edit(
        self: &Rc<Self>,
        record: RecordId,
        fields: &[(String, Option<Value>)],
        before: Option<RecordDoc>,
    ) {
        let after = self.index.get_untracked().doc(&record);
        let doc = after.as_ref().or(before.as_ref());
        let kind = doc.and_then(|d| d.text(field::KIND)).unwrap_or("record").to_owned();
        let customer = match doc {
            Some(_) if kind == "customer" => Some(record),
            Some(d) => d.text(field::CUSTOMER).and_then(|c| c.parse().ok()),
            None => None,
        };
        let action = if fields.iter().any(|(f, v)| f == DELETED && v == &Some(Value::Bool(true))) {
            AuditAction::Delete
        } else if before.is_some() {
            AuditAction::Edit
        } else {
            AuditAction::Create
        };
        let names: Vec<&str> =
            fields.iter().map(|(f, _)| f.as_str()).filter(|f| *f != DELETED && *f != field::KIND).collect();
        let detail = if names.is_empty() { kind } else { format!("{kind}: {}", names.join(", ")) };
        let record = (customer != Some(record)).then_some(record);
        let ws = self.clone();
        spawn_local(async move { ws.audit(action, customer, record, detail).await });
    }

    /// Note that a customer's sensitive fields were shown (opening the customer).
    pub fn audit_reveal(self: &Rc<Self>, customer: RecordId, doc: &RecordDoc) {
        let shown: Vec<&str> = doc
            .fields
            .iter()
            .filter(|(f, s)| is_sensitive(f) && s.value.as_ref().is_some_and(|v| v.as_text() != Some("")))
            .map(|(f, _)| f.as_str())
            .collect();
        if !shown.is_empty() {
            let (ws, detail) = (self.clone(), shown.join(", "));
            spawn_local(async move { ws.audit(AuditAction::Reveal, Some(customer), None, detail).await });
        }
    }

    /// Admin: the whole audit chain, verified (numbering, links, signatures, and the
    /// head this device verified last time), with the team chain's member and key events.
    pub async fn audit_view(&self) -> Result<AuditView, String> {
        let mut rows = Vec::new();
        loop {
            let after = rows.last().map_or(0, |r: &audit::AuditRow| r.seq);
            let page: AuditPage =
                self.unlocked.api.get(&format!("{}?after={after}", self.team_url(path::AUDIT))).await.map_err(err)?;
            let done = !page.more || page.rows.is_empty();
            rows.extend(page.rows);
            if done {
                break;
            }
        }
        // The checkpoint: this device's, or the account's pinned one (from another of
        // its devices), whichever is later — so a new device is not a blank slate.
        let head_key = format!("audit-head/{}", self.team_id);
        let mine: Option<Checkpoint> = self.unlocked.cached(&head_key).await;
        let pinned = self.unlocked.pin_audit(self.team_id, None).await;
        let known = mine.into_iter().chain(pinned).max_by_key(|c| c.seq);
        let v = {
            let s = self.syncer.lock().await;
            audit::verify(&s.session.team, &rows, known, &self.me, &s.session.identity)
        };
        if v.problems.is_empty() {
            let _ = self.unlocked.store.set_meta(&head_key, &serde_json::to_vec(&v.head).unwrap_or_default()).await;
            self.unlocked.pin_audit(self.team_id, Some(v.head)).await;
        }
        let mut lines: Vec<AuditLine> = rows
            .iter()
            .zip(v.opened)
            .map(|(row, opened)| {
                let (at_ms, action, customer, detail) = match opened {
                    Some(Opened::Event(e)) => (e.at_ms, e.action.as_str(), e.customer, e.detail),
                    Some(Opened::Note(n)) => (row.at_ms, "server", None, n),
                    Some(Opened::NotForMe) => (row.at_ms, "sealed", None, "not sealed to you".into()),
                    None => (row.at_ms, "invalid", None, format!("entry #{}", row.seq)),
                };
                // A server note is the server's word whoever it names as author.
                let who = if action == "server" { "the server".to_owned() } else { row.author.to_string() };
                AuditLine { at_ms, who, action, customer, detail }
            })
            .collect();
        let chain: Vec<ChainEntry> = self.unlocked.cached(CHAIN_KEY).await.unwrap_or_default();
        lines.extend(chain.iter().map(|e| AuditLine {
            at_ms: e.at_ms,
            who: e.author.to_string(),
            action: "team",
            customer: None,
            detail: chain_text(&e.action),
        }));
        // Incidents: their reason is an encrypted team record (it may name customers).
        // Who declared it: the admin who created the record, as signatures prove it
        // (shared::team::incident_declarer), never whoever signed its latest version;
        // one no admin declared is no incident. A reason someone else wrote since says so.
        let index = self.index.get_untracked();
        let declared: Vec<AuditLine> = {
            let s = self.syncer.lock().await;
            index
                .of_kind(shared::team::INCIDENT)
                .filter_map(|(id, d)| {
                    let signer = s.replica.records.get(id)?.signer.as_ref().unwrap_or(&s.session.me);
                    let by = shared::team::incident_declarer(d, signer, &s.session.team)?;
                    let reason = d.fields.get(field::SUMMARY);
                    let text = reason.and_then(|f| f.value.as_ref()?.as_text()).unwrap_or_default();
                    let detail = match reason.map(|f| &f.stamp.author) {
                        Some(author) if author != by => {
                            crate::i18n::tf("audit.incident_reason_by", &[("reason", &text), ("who", author)])
                        }
                        _ => text.to_owned(),
                    };
                    let at_ms = d.fields.get(field::KIND).map_or(0, |f| f.stamp.hlc.wall_ms as i64);
                    Some(AuditLine { at_ms, who: by.to_string(), action: "incident", customer: None, detail })
                })
                .collect()
        };
        lines.extend(declared);
        lines.sort_by_key(|l| std::cmp::Reverse(l.at_ms));
        Ok(AuditView { lines, problems: v.problems.iter().map(problem_text).collect(), entries: rows.len() as u64 })
    }

    /// Ask the admins to approve a risky action.
    pub async fn ask_approval(
        self: &Rc<Self>,
        kind: ApprovalKind,
        count: u64,
        subject: Option<Username>,
    ) -> Result<Approval, String> {
        let req = NewApproval { kind, count, subject };
        let a: Approval = self.unlocked.api.post(&self.team_url(path::APPROVALS), &req).await.map_err(err)?;
        self.audit(AuditAction::Approval, None, None, format!("asked for approval to {}", a.describe())).await;
        Ok(a)
    }

    /// Approval requests: every one for admins, my own for everyone else.
    pub async fn approvals(&self) -> Result<Vec<Approval>, String> {
        let r: Approvals = self.unlocked.api.get(&self.team_url(path::APPROVALS)).await.map_err(err)?;
        Ok(r.approvals)
    }

    /// Admin: approve (signed with my identity key) or refuse a request.
    pub async fn decide(self: &Rc<Self>, a: &Approval, approve: bool) -> Result<(), String> {
        let signature =
            approve.then(|| self.unlocked.identity.sign(&shared::api::approval_statement(&self.team_id, a)));
        let url = path::fill(&self.team_url(path::DECIDE_APPROVAL), &a.id.to_string());
        let _: Approval = self.unlocked.api.post(&url, &DecideApproval { approve, signature }).await.map_err(err)?;
        let verdict = if approve { "approved" } else { "refused" };
        let detail = format!("{verdict} {}'s request to {}", a.requester, a.describe());
        self.audit(AuditAction::Approval, None, None, detail).await;
        Ok(())
    }

    /// Wait (polling every 2 s) until request `id` is decided. The server checked the
    /// approver's signature; this client does not check it again: an approval only
    /// lets the server serve or take what this member asks of it, so a server faking
    /// one gains nothing it could not do anyway.
    pub async fn await_decision(&self, id: RecordId) -> Result<Approval, String> {
        loop {
            if let Some(a) = self.approvals().await?.into_iter().find(|a| a.id == id && a.state != "pending") {
                return if a.state == "approved" {
                    Ok(a)
                } else {
                    Err(crate::i18n::tf("approvals.request_was", &[("state", &a.state)]))
                };
            }
            gloo_timers::future::TimeoutFuture::new(2_000).await;
        }
    }

    /// The server refused a push that deletes more records than may be deleted
    /// unapproved: ask for an approval of exactly what is pending, wait for it (the
    /// status bar says so; the deletions stay queued), then sync with it.
    pub(crate) async fn approve_deletions(self: &Rc<Self>) {
        let ids = self.syncer.lock().await.pending_deletions();
        let n = ids.len().max(1) as u64;
        let status = self.status;
        let say = move |m: String| status.update(|s| s.notice = Some(m));
        match self.approved(ApprovalKind::BulkDelete, n, None, &say).await {
            // The next successful sync clears the notice.
            Ok(a) => self.syncer.lock().await.approval = Some(a.id),
            // Refused (or expired): the deletions are undone, so nothing stays stuck.
            Err(e) => {
                let undo =
                    ids.into_iter().map(|id| (id, vec![(DELETED.to_owned(), Some(Value::Bool(false)))])).collect();
                let _ = self.edit_many(undo).await;
                say(crate::i18n::tf("approvals.delete_refused", &[("n", &n), ("error", &e)]));
            }
        }
        self.asking_approval.set(false);
        self.request_sync();
    }

    /// Everything I may read, fetched through the export endpoint on an approved
    /// request (the server refuses it otherwise) and opened with my keys; `progress`
    /// counts records fetched.
    pub async fn export_records(
        &self,
        approval: &Approval,
        progress: RwSignal<u64>,
    ) -> Result<Vec<(RecordId, RecordDoc)>, String> {
        let mut records = Vec::new();
        let mut since = 0;
        loop {
            let url = format!("{}?approval={}&since={since}", self.team_url(path::EXPORT), approval.id);
            let page: PullResponse = self.unlocked.api.get(&url).await.map_err(err)?;
            {
                let s = self.syncer.lock().await;
                for c in &page.changes {
                    let ctx = RecordContext { team: self.team_id, record: c.record };
                    let opened = open_record(&c.sealed, &ctx, c.version, &s.session.keyring, &s.session.team);
                    if let Some(o) = opened.ok().filter(|o| !o.doc.is_deleted()) {
                        records.push((c.record, o.doc));
                    }
                }
            }
            progress.set(records.len() as u64);
            since = page.cursor;
            if !page.more {
                break;
            }
        }
        Ok(records)
    }

    /// Ask for an approval and wait for it. A member's request waits for an admin; an
    /// admin's waits for another admin, unless they are the team's only admin (then
    /// they sign it themselves — it is still recorded). The approval, verified.
    pub async fn approved(
        self: &Rc<Self>,
        kind: ApprovalKind,
        count: u64,
        subject: Option<Username>,
        status: &dyn Fn(String),
    ) -> Result<Approval, String> {
        status(crate::i18n::t("approvals.asking").into());
        let a = self.ask_approval(kind, count, subject).await?;
        let (me_admin, admins) =
            self.team.with_untracked(|t| (t.me_admin, t.members.iter().filter(|m| m.1 == "admin").count()));
        if me_admin && admins == 1 {
            self.decide(&a, true).await?;
        } else {
            status(crate::i18n::tf("approvals.waiting", &[("what", &crate::i18n::approval_what(&a))]));
        }
        self.await_decision(a.id).await
    }

    /// Restore from an encrypted export: records this device does not hold (or holds
    /// deleted) come back as new edits; records it holds are left as they are.
    /// Returns (restored, already here).
    pub async fn restore_export(self: &Rc<Self>, file: &[u8], passphrase: String) -> Result<(usize, usize), String> {
        let records = shared::export::open(&Passphrase::new(passphrase), file)
            .map_err(|_| crate::i18n::t("restore.wrong_file").to_owned())?;
        let index = self.index.get_untracked();
        let total = records.len();
        let edits: Vec<_> = records
            .into_iter()
            .filter(|(id, d)| !d.is_deleted() && !index.records.contains_key(id))
            .map(|(id, d)| {
                let mut fields: Vec<(String, Option<Value>)> =
                    d.fields.into_iter().filter_map(|(k, s)| s.value.map(|v| (k, Some(v)))).collect();
                fields.push((DELETED.into(), Some(Value::Bool(false))));
                (id, fields)
            })
            .collect();
        let restored = edits.len();
        for chunk in edits.chunks(500) {
            self.edit_many(chunk.to_vec()).await?;
        }
        self.request_sync();
        self.audit(AuditAction::Import, None, None, format!("restored {restored} records from an encrypted export"))
            .await;
        Ok((restored, total - restored))
    }
}

impl Workspace {
    /// The generation the team's server runs as, and the admin's notice of its restore
    /// (the server's word: the sync engine checks a notice before acting on it).
    pub async fn restore_status(&self) -> Result<shared::api::RestoreStatus, String> {
        let url = path::fill(path::RESTORE, &self.team_id.to_string());
        self.unlocked.api.get(&url).await.map_err(|e| AppError::from(e).to_string())
    }

    /// Admin: sign a notice that the server was restored from a backup and runs as
    /// `generation`, post it, and sync (`shared::restore`): every device of the team
    /// then starts over and gives back what the backup lacks.
    pub async fn confirm_restore(self: &Rc<Self>, generation: u64) -> Result<(), String> {
        let notice = {
            let s = self.syncer.lock().await;
            shared::restore::RestoreNotice::sign(
                s.session.team.team,
                generation,
                s.session.me.clone(),
                crate::now_ms(),
                &s.session.identity,
            )
        };
        let url = path::fill(path::RESTORE, &self.team_id.to_string());
        let req = shared::api::ConfirmRestoreRequest { notice };
        let _: shared::api::Empty =
            self.unlocked.api.post(&url, &req).await.map_err(|e| AppError::from(e).to_string())?;
        self.request_sync();
        Ok(())
    }
}
