//! Team administration, in one place: members, invitations and roles, the keys and
//! their rotation, re-encryption and shredding, the freshness beacons, incident mode,
//! alerts, activity and retention. Admins' devices run the background parts.

use super::*;

impl Workspace {
    /// An admin's client moves every record still sealed under an older epoch onto the
    /// newest one, a batch at a time through the outbox (durable: a reload resumes it,
    /// and any other admin's client may share the work), then has the server shred the
    /// old epochs' key wraps. Progress goes to [`Workspace::reencryption`].
    pub(super) async fn reencrypt(self: &Rc<Self>) {
        if !self.team.with_untracked(|t| t.me_admin) {
            return;
        }
        // A scheduled rotation that has fallen due starts here (any admin's client).
        let due = {
            let s = self.syncer.lock().await;
            let team = &s.session.team;
            let id = settings_record(team.team);
            // A setting edited here and not yet sent is this (admin's) device's own.
            let pending = s.replica.outbox.iter().any(|p| p.record == id);
            let days = s.replica.records.get(&id).map_or(0, |r| {
                let signer = if pending { Some(&s.session.me) } else { r.signer.as_ref() };
                rotation_days(&r.view, signer, team)
            });
            team.rotation_due(days, now() as i64)
        };
        if due {
            if let Err(e) = self.rotate_keys().await {
                web_sys::console::warn_1(&format!("quietdesk: scheduled key rotation failed: {e}").into());
            }
        }
        loop {
            let (progress, queued, epoch) = {
                let mut s = self.syncer.lock().await;
                let p = s.epoch_progress();
                let idle = s.replica.pending_count() == 0 && s.replica.reseal.is_empty();
                let queued = if p.old > 0 && idle { s.queue_reencryption(REENCRYPT_BATCH) } else { 0 };
                (p, queued, s.session.team.epoch)
            };
            self.reencryption.set(progress);
            if queued == 0 || self.stopped.get() {
                if progress.old == 0 && epoch > self.shredded_before.get() {
                    self.shred(epoch).await;
                }
                return;
            }
            self.refresh().await;
            self.sync_now().await;
            if self.status.with_untracked(|s| s.error.is_some() || !s.online) {
                return; // try again on the next round
            }
        }
    }

    /// An admin's device signs the chain head it verified and posts it, so members'
    /// clients know no change of the team is withheld from them (shared::beacon). A
    /// refusal or an unreachable server is left to the next round.
    pub(super) async fn publish_beacon(&self) {
        if !self.team.with_untracked(|t| t.me_admin) {
            return;
        }
        let beacon = {
            let s = self.syncer.lock().await;
            let team = &s.session.team;
            shared::beacon::Beacon::sign(
                team.team,
                team.chain_head(),
                s.session.me.clone(),
                now() as i64,
                &s.session.identity,
            )
        };
        let url = path::fill(path::BEACONS, &beacon.team.to_string());
        let req = shared::api::PublishBeaconRequest { beacon };
        if let Err(e) = self.unlocked.api.post::<_, shared::api::Empty>(&url, &req).await {
            if e != TransportError::Offline {
                web_sys::console::warn_1(&format!("quietdesk: beacon not published: {e}").into());
            }
        }
    }

    pub(super) async fn shred(&self, before_epoch: u32) {
        let team = self.syncer.lock().await.session.team.team;
        let url = path::fill(path::SHRED_WRAPS, &team.to_string());
        let req = shared::api::ShredWrapsRequest { before_epoch };
        match self.unlocked.api.post::<_, shared::api::ShredWrapsResponse>(&url, &req).await {
            Ok(r) => {
                self.shredded_before.set(before_epoch);
                web_sys::console::info_1(&format!("quietdesk: {} key wraps of old epochs shredded", r.deleted).into());
                self.retire_epochs(before_epoch).await;
            }
            Err(TransportError::Offline) => {} // next round
            // Refused (e.g. records this device cannot see are still on an old epoch):
            // not again until the next start, so the server is not asked every round.
            Err(e) => {
                self.shredded_before.set(before_epoch);
                web_sys::console::warn_1(&format!("quietdesk: old key wraps not shredded: {e}").into());
            }
        }
    }

    /// Re-read the chain and the key wraps (the team changed, or new keys were shared).
    /// The network round trip happens without holding the engine.
    pub async fn refresh_session(&self) -> Result<(), String> {
        let team = self.syncer.lock().await.session.team.team;
        let (mut session, fresh) = self.unlocked.verified_session_read(team).await?;
        if !fresh {
            // Offline: this device's own copy of the chain answers no doubt (the engine
            // takes a session as the chain read again), and nothing else changed.
            return Ok(());
        }
        let view = TeamView::of(&session);
        let (progress, reopened) = {
            let mut s = self.syncer.lock().await;
            // Keys held in memory stay usable for reading what they sealed, even once
            // their wraps are shredded on the server (or withheld by it).
            session.keyring.keep_missing_from(&s.session.keyring);
            let gained = session.keyring.len() > s.session.keyring.len();
            s.set_session(session);
            let reopened = if gained { s.reopen_with_new_keys().await.unwrap_or(0) } else { 0 };
            (s.epoch_progress(), reopened)
        };
        if reopened > 0 {
            self.refresh().await;
        }
        self.reencryption.set(progress);
        self.team.set(view);
        Ok(())
    }

    /// Admin: offboard a member in one action: out of the chain, their sessions ended
    /// by the server, a new key epoch wrapped for the remaining members only.
    pub async fn remove_member(self: &Rc<Self>, who: &str) -> Result<(), String> {
        let who = Username::parse(who).map_err(|e| e.to_string())?;
        {
            let _writing = self.chain_for_writing().await?;
            {
                let s = self.syncer.lock().await;
                self.unlocked.remove_member(&s.session, &who).await?;
            }
            self.refresh_session().await?;
        }
        self.start_reencryption();
        Ok(())
    }

    /// Begin moving records to the new epoch now rather than at the next round.
    pub(super) fn start_reencryption(self: &Rc<Self>) {
        let ws = self.clone();
        spawn_local(async move { ws.reencrypt().await });
    }

    /// Admin: open an invitation; returns the link to send (its secret is in the fragment).
    pub async fn create_invite(&self, role: shared::chain::Role) -> Result<String, String> {
        let s = self.syncer.lock().await;
        self.unlocked.create_invite(&s.session, role).await
    }

    /// Admin: require (or stop requiring) 2FA of every member.
    pub async fn require_2fa(&self, required: bool) -> Result<(), String> {
        let url = path::fill(path::TEAM_2FA, &self.team_id.to_string());
        let _: shared::api::Empty = self
            .unlocked
            .api
            .put(&url, &shared::api::Require2fa { required })
            .await
            .map_err(|e| AppError::from(e).to_string())?;
        Ok(())
    }

    /// Admin: sign out every device of a member, with an order signed as an admin of
    /// this team (each device checks it against the team's verified chain).
    pub async fn wipe_member(&self, who: &str) -> Result<(), String> {
        let username: Username = who.parse().map_err(|_| "not a username".to_owned())?;
        let url = path::fill(path::WIPE_MEMBER, &self.team_id.to_string());
        let me = self.unlocked.account.username.clone();
        let order =
            WipeOrder::sign(username.clone(), None, now() as i64, me, Some(self.team_id), &self.unlocked.identity);
        let _: shared::api::Empty = self
            .unlocked
            .api
            .post(&url, &shared::api::WipeMemberRequest { username, order })
            .await
            .map_err(|e| AppError::from(e).to_string())?;
        Ok(())
    }

    /// Admin: the server's security alerts for the team, newest first.
    pub async fn alerts(&self) -> Result<Vec<AlertLine>, String> {
        let url = path::fill(path::ALERTS, &self.team_id.to_string());
        let r: Lean<AlertLine> = self.unlocked.api.get(&url).await.map_err(|e| AppError::from(e).to_string())?;
        Ok(r.alerts)
    }

    /// How many days the server keeps replaced versions of records (any member reads it).
    pub async fn retention(&self) -> Result<u32, String> {
        let url = path::fill(path::RETENTION, &self.team_id.to_string());
        let r: shared::api::Retention = self.unlocked.api.get(&url).await.map_err(|e| AppError::from(e).to_string())?;
        Ok(r.days)
    }

    /// Admin: set how many days replaced versions are kept (the server refuses others);
    /// the days as the server answers them.
    pub async fn set_retention(&self, days: u32) -> Result<u32, String> {
        let url = path::fill(path::RETENTION, &self.team_id.to_string());
        let r: shared::api::Retention = self
            .unlocked
            .api
            .put(&url, &shared::api::Retention { days })
            .await
            .map_err(|e| AppError::from(e).to_string())?;
        Ok(r.days)
    }

    pub async fn activity(&self) -> Result<Vec<shared::api::MemberActivity>, String> {
        let url = path::fill(path::ACTIVITY, &self.team_id.to_string());
        let r: shared::api::ActivityResponse =
            self.unlocked.api.get(&url).await.map_err(|e| AppError::from(e).to_string())?;
        Ok(r.members)
    }

    /// Admin: open invitations and what this device can say of each.
    pub async fn invitations(&self) -> Result<Vec<(shared::api::InviteInfo, crate::account::InviteCheck)>, String> {
        let s = self.syncer.lock().await;
        self.unlocked.invitations(&s.session).await
    }

    /// Admin's device: add everyone who answered an invitation made on this device and
    /// whose keys verify against it, as soon as it hears of the answer — nobody has to
    /// press "Check invitations". Says so in a toast. An invitation as admin still
    /// waits for an approval, which a person asks for on the Team page.
    pub(crate) async fn admit_answered(self: &Rc<Self>) {
        if !self.team.with_untracked(|t| t.me_admin) || self.admitting.replace(true) {
            return;
        }
        if let Ok(list) = self.invitations().await {
            for (info, check) in list {
                if check != crate::account::InviteCheck::Verified || info.role == shared::chain::Role::Admin {
                    continue;
                }
                let who = info.accepted.as_ref().map(|a| a.username.to_string()).unwrap_or_default();
                match self.admit(&info, &|_| {}).await {
                    Ok(()) => crate::toast(&crate::i18n::tf("invite.added", &[("who", &who)])),
                    Err(e) => web_sys::console::warn_1(&format!("quietdesk: {who} not added: {e}").into()),
                }
            }
        }
        self.admitting.set(false);
    }

    /// Admin: verify an answered invitation and add the joiner.
    /// Admitting someone as an admin waits for an approval first (`status` says so).
    pub async fn admit(self: &Rc<Self>, info: &shared::api::InviteInfo, status: &dyn Fn(String)) -> Result<(), String> {
        let approval = match (info.role, &info.accepted) {
            (shared::chain::Role::Admin, Some(a)) => Some(self.grant_approval(&a.username, status).await?),
            _ => None,
        };
        let _writing = self.chain_for_writing().await?;
        {
            let s = self.syncer.lock().await;
            self.unlocked.admit(&s.session, info, approval).await?;
        }
        self.refresh_session().await
    }

    /// An approved request to make `who` an admin: another admin's, or the only
    /// admin's own.
    pub(super) async fn grant_approval(
        self: &Rc<Self>,
        who: &Username,
        status: &dyn Fn(String),
    ) -> Result<RecordId, String> {
        let kind = shared::api::ApprovalKind::GrantAdmin;
        Ok(self.approved(kind, 0, Some(who.clone()), status).await?.id)
    }

    /// Admin: change a member's role (rotating the keys when the role loses access).
    /// Making someone an admin waits for an approval first (`status` says so).
    pub async fn change_role(
        self: &Rc<Self>,
        who: &str,
        role: shared::chain::Role,
        status: &dyn Fn(String),
    ) -> Result<(), String> {
        let who = Username::parse(who).map_err(|e| e.to_string())?;
        let approval = match role {
            shared::chain::Role::Admin => Some(self.grant_approval(&who, status).await?),
            _ => None,
        };
        {
            let _writing = self.chain_for_writing().await?;
            {
                let s = self.syncer.lock().await;
                self.unlocked.change_role(&s.session, &who, role, approval).await?;
            }
            self.refresh_session().await?;
        }
        self.start_reencryption();
        Ok(())
    }

    /// Admin: incident mode — rotate every key, end every other session of every
    /// member (the server records who and when), and keep the reason as an encrypted
    /// team record (it may name customers, so it never goes to the server in the clear).
    pub async fn declare_incident(self: &Rc<Self>, reason: String) -> Result<(), String> {
        self.rotate_keys().await?;
        let url = path::fill(path::INCIDENT, &self.team_id.to_string());
        let _: shared::api::Empty = self
            .unlocked
            .api
            .post(&url, &shared::api::IncidentRequest {})
            .await
            .map_err(|e| AppError::from(e).to_string())?;
        // When and by whom: the fields' stamps carry both.
        let fields = vec![
            (field::KIND.into(), Some(Value::Text("incident".into()))),
            (field::SUMMARY.into(), Some(Value::Text(reason))),
        ];
        self.edit(RecordId::random(), fields).await
    }

    /// Admin: start a new key epoch now.
    pub async fn rotate_keys(self: &Rc<Self>) -> Result<(), String> {
        {
            let _writing = self.chain_for_writing().await?;
            {
                let s = self.syncer.lock().await;
                self.unlocked.rotate_keys(&s.session).await?;
            }
            self.refresh_session().await?;
        }
        self.start_reencryption();
        Ok(())
    }

    /// Hold the chain for writing, the session read again from the server's chain first:
    /// what this device signs then builds on the head the server has now, a change it
    /// made in the background (retiring old epochs) included.
    pub(super) async fn chain_for_writing(&self) -> Result<MutexGuard<'_, ()>, String> {
        let writing = self.chain_writer.lock().await;
        self.refresh_session().await?;
        Ok(writing)
    }

    /// Admin: once the server has shredded the wraps of epochs below `below` (no record
    /// is sealed under one any more), retire them in the chain: from then on every
    /// member's client refuses an envelope still under one — what a removed member
    /// could seal with the keys they kept. Signed on a freshly read chain, under the
    /// chain lock, so it never races a change the user makes.
    pub(super) async fn retire_epochs(&self, below: u32) {
        let _writing = match self.chain_for_writing().await {
            Ok(writing) => writing,
            Err(e) => {
                web_sys::console::warn_1(&format!("quietdesk: old epochs not retired: {e}").into());
                return;
            }
        };
        let appended = {
            let s = self.syncer.lock().await;
            self.unlocked.retire_epochs(&s.session, below).await
        };
        match appended {
            Ok(true) => {
                let _ = self.refresh_session().await;
            }
            Ok(false) => {}
            Err(e) => web_sys::console::warn_1(&format!("quietdesk: old epochs not retired: {e}").into()),
        }
    }
}
