//! Storage behind the `Db` traits (one per area: accounts, sessions, teams, records,
//! the audit log, the server's own state), so the same handlers run on SQLite (the
//! default: one file, WAL) and PostgreSQL (several server instances on one database).
//! Both implement them with the same SQL (`db/common.rs` and `db/common/<area>.rs`).
//! Every method is one transaction.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use shared::api::{
    Alert, Approval, Change, Cursor, InviteAcceptance, InviteInfo, KeptVersion, KeptVersionInfo, PushAccepted,
    TeamSummary, WrapItem,
};
use shared::audit::AuditRow;
use shared::chain::{ChainEntry, Role};
use shared::crypto::identity::{AccountBundle, PublicIdentity};
use shared::crypto::passphrase::KdfParams;
use shared::ids::{InviteId, RecordId, TeamId, Username};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness rule refused the write (user exists, chain index taken, …).
    #[error("already exists")]
    Duplicate,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl DbError {
    /// The database could not take the write now (locked by another process, busy past
    /// the timeout, out of space, an I/O error) — the transaction rolled back, so the
    /// request can be tried again. SQLite's primary result codes BUSY (5), LOCKED (6),
    /// IOERR (10) and FULL (13); a pool that timed out.
    ///
    /// PostgreSQL: serialization failure and deadlock (class 40), insufficient
    /// resources such as a full disk (53), a lock not granted within `lock_timeout`
    /// (55P03), the server shutting down or not yet accepting connections
    /// (57P01–57P03), and lost connections (08).
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Sqlx(sqlx::Error::Database(e)) => match e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                Some(pg) => {
                    let code = pg.code();
                    ["40", "53", "08"].iter().any(|class| code.starts_with(class))
                        || matches!(code, "55P03" | "57P01" | "57P02" | "57P03")
                }
                None => {
                    e.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13))
                }
            },
            DbError::Sqlx(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => true,
            _ => false,
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// The back-off schedule of one kind of count (per account or per address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures that cost nothing (at least one).
    pub free: u64,
    pub first_ms: i64,
    pub max_ms: i64,
    /// How long a count lasts after its last failure, or after the end of its wait.
    pub forget_ms: i64,
}

impl Backoff {
    /// How long guesses wait after the `failures`-th failure in a row, if at all: the
    /// first wait once the free ones are spent, doubled for each failure after that.
    pub fn wait_ms(&self, failures: u64) -> Option<i64> {
        let free = self.free.max(1);
        if self.first_ms <= 0 || failures < free {
            return None;
        }
        let doublings = u32::try_from(failures - free).unwrap_or(u32::MAX).min(62);
        Some(self.first_ms.saturating_mul(1_i64 << doublings).min(self.max_ms.max(self.first_ms)))
    }
}

/// Which backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Option<Self> {
        match url.split_once(':')?.0 {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }
}

/// A stored account: what sign-up writes and log-in reads.
pub struct UserRow {
    pub username: Username,
    pub salt: [u8; 16],
    pub kdf: KdfParams,
    pub auth_hash: [u8; 32],
    pub identity: PublicIdentity,
    pub bundle: AccountBundle,
}

/// A new invitation as stored.
pub struct InviteRow {
    pub invite: InviteId,
    pub role: Role,
    pub created_by: Username,
    pub created_at: i64,
    pub expires_at: i64,
}

pub struct SessionRow {
    pub username: Username,
    pub expires_at: i64,
    pub last_seen_at: i64,
    /// Revoked: the device is signed out (and erases its data if the order checks out).
    pub wiped: bool,
    /// The signed wipe order (JSON), handed to the device with `device_wiped`.
    pub wipe_order: Option<String>,
    /// Asked with a team: `Some` if this session's access to that team ended (an admin's
    /// wipe there, with its signed order, or an incident or removal, without one).
    pub team_end: Option<Option<String>>,
}

/// A user's two-factor state.
pub struct TotpRow {
    /// Set once enabled.
    pub secret: Option<Vec<u8>>,
    /// Set while enrolment waits for its first code.
    pub pending: Option<Vec<u8>>,
    /// The last time step accepted (each is accepted once).
    pub last_step: i64,
    /// Hashes of the unused recovery codes.
    pub recovery: Vec<String>,
}

/// A live session as its owner's device list shows it.
pub struct DeviceRow {
    pub token_hash: [u8; 32],
    pub device: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// One record of a push, validated by the handler.
#[derive(Clone)]
pub struct PushRow {
    pub record: RecordId,
    pub base_version: u64,
    /// The version it is sealed as: `base_version + 1`, or higher for a put-back on a
    /// restored server (so no device sees the record's version go down).
    pub version: u64,
    pub collection: [u8; 16],
    /// The oldest epoch any section is sealed under (what crypto-shredding checks).
    pub epoch: u32,
    pub author: String,
    pub sealed: Vec<u8>,
    /// This version deletes the record (its signed header's flag, which the push's matched).
    pub tombstone: bool,
}

pub enum PushResult {
    Accepted {
        accepted: Vec<PushAccepted>,
        cursor: Cursor,
    },
    Conflict(Vec<Change>),
    /// Nothing stored: the push would take the team (`team`) or its pusher past their
    /// quota of stored bytes; what they would hold after it, and the quota.
    OverQuota {
        team: bool,
        would_hold: u64,
        quota: u64,
    },
}

/// The stored bytes a push must keep within (0: no limit): the sealed current versions
/// of a team's records, and of those a member pushed. Only a push's growth is judged,
/// and a deletion's growth is not counted: deleting and shrinking work over a quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    pub team_bytes: u64,
    pub member_bytes: u64,
}

/// Everything the server stores, by area: one backend implements every area (SQLite and
/// PostgreSQL, with the same SQL in `db/common/*.rs`). Handlers hold an `Arc<dyn Db>`,
/// on which every area's methods are callable; code holding a backend's own type brings
/// them into scope with `use crate::db::prelude::*`.
pub trait Db: Meta + Accounts + Sessions + Teams + Records + AuditLog {}

impl<T: Meta + Accounts + Sessions + Teams + Records + AuditLog> Db for T {}

/// The area traits, for calling their methods on a `dyn Db`.
pub mod prelude {
    pub use super::{Accounts, AuditLog, Meta, Records, Sessions, Teams};
}

/// What the server keeps about itself: its secret and which life of the database this is.
#[async_trait]
pub trait Meta: Send + Sync + 'static {
    /// A 32-byte secret created on first use (keys the fake salts).
    async fn server_secret(&self) -> DbResult<[u8; 32]>;
    /// Which life of this database this is: 0 until it is first restored from a
    /// backup, a new value after each restore (see [`crate::AppState::cursor_out`]).
    async fn generation(&self) -> DbResult<u16>;
}

/// Accounts: users, their sealed bundles and pins, credentials and recovery, 2FA, and the counted wrong guesses at log-in.
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    async fn create_user(&self, user: &UserRow, now: i64) -> DbResult<()>;
    async fn user(&self, username: &str) -> DbResult<Option<UserRow>>;
    /// The account's sealed pins and their version, if any are stored.
    async fn pins(&self, username: &Username) -> DbResult<Option<(u64, Vec<u8>)>>;
    /// Store pins if `version` is higher than the stored one; false if it is not.
    async fn put_pins(&self, username: &Username, version: u64, blob: &[u8]) -> DbResult<bool>;
    /// Replace an account's salt, settings, auth verifier and sealed bundle (a changed
    /// passphrase), if its verifier is still `current`; false if it is not.
    async fn set_credentials(&self, user: &UserRow, current: &[u8; 32]) -> DbResult<bool>;
    /// Set (replace) an account's recovery kit: the verifier and the recovery-sealed bundle.
    async fn set_recovery(&self, username: &Username, verifier: &[u8; 32], bundle: &[u8]) -> DbResult<()>;
    /// An account's recovery kit, if it has one.
    async fn recovery(&self, username: &str) -> DbResult<Option<([u8; 32], Vec<u8>)>>;
    async fn totp(&self, username: &Username) -> DbResult<Option<TotpRow>>;
    async fn set_totp_pending(&self, username: &Username, secret: &[u8]) -> DbResult<()>;
    async fn enable_totp(&self, username: &Username, secret: &[u8], step: i64, recovery: &[String]) -> DbResult<()>;
    /// Accept time step `step` if it is newer than the last accepted; false otherwise.
    async fn use_totp_step(&self, username: &Username, step: i64) -> DbResult<bool>;
    /// Use up a recovery code (by hash); false if it was not (or no longer) there.
    async fn use_recovery_code(&self, username: &Username, hash: &str) -> DbResult<bool>;
    /// Claim one guess against `key` at `now`: refused while the key waits
    /// (`Some(until)`, the time in ms it waits until; nothing changes); otherwise
    /// counted as a wrong guess at once — until [`Db::refund_login_attempt`] or
    /// [`Db::clear_login_failures`] says otherwise — with the wait `backoff` gives the
    /// new count. Claiming before checking means guesses sent all at once are counted
    /// one by one, not all let through before the first failure is recorded.
    async fn claim_login_attempt(&self, key: &[u8; 32], now: i64, backoff: &Backoff) -> DbResult<Option<i64>>;
    /// Give back a claimed guess that was not wrong (a right one, or one that never got
    /// compared), and the wait it set: a claim that set a wait refused every other claim
    /// while it was checked, so the wait was its own.
    async fn refund_login_attempt(&self, key: &[u8; 32]) -> DbResult<()>;
    /// Forget `key`'s count (a right guess).
    async fn clear_login_failures(&self, key: &[u8; 32]) -> DbResult<()>;
    /// Delete the counts forgotten by `now`; how many.
    async fn forget_login_failures(&self, now: i64) -> DbResult<u64>;
}

/// Sessions: created at log-in, touched as they are used, ended one by one, per member of a team, or everywhere.
#[async_trait]
pub trait Sessions: Send + Sync + 'static {
    async fn create_session(
        &self,
        token_hash: &[u8; 32],
        username: &Username,
        device: &str,
        now: i64,
        expires_at: i64,
    ) -> DbResult<()>;
    /// Note that a session was used at `now`.
    async fn touch_session(&self, token_hash: &[u8; 32], now: i64) -> DbResult<()>;
    /// Every live session (expiring after `now`) of the team's members: username, last
    /// seen, device label.
    async fn member_sessions(&self, team: &TeamId, now: i64) -> DbResult<Vec<(Username, i64, String)>>;
    /// The session `token_hash`; with `team`, also whether it was ended in that team.
    async fn session(&self, token_hash: &[u8; 32], team: Option<&TeamId>) -> DbResult<Option<SessionRow>>;
    async fn delete_session(&self, token_hash: &[u8; 32]) -> DbResult<()>;
    /// End every session of `username` but `keep` (the caller's own, if any): after a
    /// passphrase change or a reset with the recovery key. How many ended.
    async fn end_other_sessions(&self, username: &Username, keep: Option<&[u8; 32]>) -> DbResult<u64>;
    /// The member's role, whether the team requires 2FA that they have not set up, and
    /// the team's key epoch.
    async fn member_access(&self, team: &TeamId, username: &Username) -> DbResult<Option<(Role, bool, u32)>>;
    /// End, in `team` only, every live session of every member of `team` except `keep`
    /// (an incident): the accounts stay signed in for their other teams. How many ended.
    async fn end_team_sessions(&self, team: &TeamId, keep: &[u8; 32], now: i64) -> DbResult<u64>;
    /// End, in `team` only, every live session of `username`, with the signed wipe order
    /// (JSON) their devices get for this team (an admin's wipe). How many ended.
    async fn end_member_team_sessions(
        &self,
        team: &TeamId,
        username: &Username,
        now: i64,
        order: &str,
    ) -> DbResult<u64>;
    /// `username`'s live (unexpired, not wiped) sessions.
    async fn user_sessions(&self, username: &Username, now: i64) -> DbResult<Vec<DeviceRow>>;
    /// Mark `username`'s sessions (or just `only`) wiped; how many were.
    /// Mark sessions as wiped, with the signed order (JSON) their devices will get.
    async fn wipe_sessions(&self, username: &Username, only: Option<&[u8; 32]>, now: i64, order: &str)
        -> DbResult<u64>;
}

/// Teams: the chain, key wraps, invitations, the team's 2FA rule, alerts, freshness beacons and restore notices.
#[async_trait]
pub trait Teams: Send + Sync + 'static {
    /// Create a team from its verified genesis entry.
    async fn create_team(&self, genesis: &ChainEntry, members: &[(Username, Role)], now: i64) -> DbResult<()>;
    async fn chain(&self, team: &TeamId) -> DbResult<Vec<ChainEntry>>;
    /// Append a verified entry at `entry.index`; `Duplicate` if that index is taken.
    /// In the same transaction: replace the derived member list and the team's epoch;
    /// for a removal, end the removed user's sessions in this team (their account and
    /// other teams stay); for an addition, close the invitation that user answered.
    async fn append_chain(&self, entry: &ChainEntry, members: &[(Username, Role)], epoch: u32) -> DbResult<()>;
    /// The team's current key epoch (1 for a team that never rotated).
    async fn team_epoch(&self, team: &TeamId) -> DbResult<u32>;
    async fn role(&self, team: &TeamId, username: &Username) -> DbResult<Option<Role>>;
    async fn team_exists(&self, team: &TeamId) -> DbResult<bool>;
    async fn teams_of(&self, username: &Username) -> DbResult<Vec<TeamSummary>>;
    async fn put_wraps(&self, team: &TeamId, wraps: &[WrapItem]) -> DbResult<()>;
    async fn wraps_for(&self, team: &TeamId, recipient: &Username) -> DbResult<Vec<WrapItem>>;
    async fn create_invite(&self, team: &TeamId, invite: &InviteRow) -> DbResult<()>;
    /// The role an invitation of `team` offers, if it exists (answered or not).
    async fn invite_role(&self, team: &TeamId, invite: &InviteId) -> DbResult<Option<Role>>;
    /// The team's open invitations (not yet used, not expired at `now`).
    async fn invites(&self, team: &TeamId, now: i64) -> DbResult<Vec<InviteInfo>>;
    /// Record a joiner's answer: `NotFound` for an unknown, expired or other team's
    /// invitation, `Duplicate` if it was already answered.
    async fn accept_invite(
        &self,
        team: &TeamId,
        invite: &InviteId,
        acceptance: &InviteAcceptance,
        now: i64,
    ) -> DbResult<()>;
    /// Delete the wraps of epochs below `before` — only if no record is still sealed
    /// (in any section) under such an epoch; `Ok(None)` when some are.
    async fn shred_wraps(&self, team: &TeamId, before: u32) -> DbResult<Option<u64>>;
    async fn set_team_2fa(&self, team: &TeamId, required: bool) -> DbResult<()>;
    async fn add_alert(&self, team: &TeamId, alert: &Alert) -> DbResult<()>;
    /// The newest `limit` alerts, newest first.
    async fn alerts(&self, team: &TeamId, limit: u32) -> DbResult<Vec<Alert>>;
    /// Keep `beacon` as the latest its admin posted for its team (replacing theirs).
    async fn put_beacon(&self, beacon: &shared::beacon::Beacon) -> DbResult<()>;
    /// The latest beacon each current admin of `team` posted.
    async fn beacons(&self, team: &TeamId) -> DbResult<Vec<shared::beacon::Beacon>>;
    /// Keep `notice` as its team's newest for its generation (replacing an older one).
    async fn put_restore_notice(&self, notice: &shared::restore::RestoreNotice) -> DbResult<()>;
    /// The newest restore notice posted for `team` at `generation`.
    async fn restore_notice(&self, team: &TeamId, generation: u64) -> DbResult<Option<shared::restore::RestoreNotice>>;
}

/// Records: pushes and pulls, kept versions and their retention, deletions counted against the hour's allowance, and download windows.
#[async_trait]
pub trait Records: Send + Sync + 'static {
    /// All or nothing: every row's base version must be current. The versions it
    /// replaces are kept (see [`Db::kept_versions`]) unless the team keeps none, and
    /// what the team's retention no longer keeps is forgotten.
    /// Every row's author is the pusher, whose stored bytes `quota` bounds with the
    /// team's ([`PushResult::OverQuota`]).
    async fn push(&self, team: &TeamId, rows: &[PushRow], now: i64, quota: Quota) -> DbResult<PushResult>;
    /// Changes after `since`, oldest first, and the cursor to continue from; `true` if
    /// more remain. With `only`, just records in (or last moved out of) those
    /// collections; the cursor then skips past everything else already committed.
    async fn pull(
        &self,
        team: &TeamId,
        since: Cursor,
        limit: u32,
        only: Option<&[[u8; 16]]>,
    ) -> DbResult<(Vec<Change>, Cursor, bool)>;
    /// How many changes a pull from `since` (with the same `only`) would give in all.
    async fn count_changes(&self, team: &TeamId, since: Cursor, only: Option<&[[u8; 16]]>) -> DbResult<u64>;
    async fn cursor(&self, team: &TeamId) -> DbResult<Cursor>;
    /// How many records the team holds.
    async fn record_count(&self, team: &TeamId) -> DbResult<u64>;
    /// The kept (replaced) versions of `record` still within the team's retention at
    /// `now`, newest first; with `only`, just those sealed in one of its collections.
    async fn kept_versions(
        &self,
        team: &TeamId,
        record: &RecordId,
        only: Option<&[[u8; 16]]>,
        now: i64,
    ) -> DbResult<Vec<KeptVersionInfo>>;
    /// One kept version (as [`Db::kept_versions`] filters them), sealed.
    async fn kept_version(
        &self,
        team: &TeamId,
        record: &RecordId,
        version: u64,
        only: Option<&[[u8; 16]]>,
        now: i64,
    ) -> DbResult<Option<KeptVersion>>;
    /// The team's retention of replaced versions, in days.
    async fn retention(&self, team: &TeamId) -> DbResult<u32>;
    /// Set it, and forget at once what it no longer keeps.
    async fn set_retention(&self, team: &TeamId, days: u32, now: i64) -> DbResult<()>;
    /// How many of `records` exist in `team` and are not deleted: what deleting them
    /// all would delete.
    async fn live_among(&self, team: &TeamId, records: &[RecordId]) -> DbResult<u64>;
    /// How many of `records` exist in `team`, deleted ones included.
    async fn held_among(&self, team: &TeamId, records: &[RecordId]) -> DbResult<u64>;
    /// The current state of each of `rows`' records the server holds at another
    /// version than the row's base: what a push conflicts on.
    async fn moved_on(&self, team: &TeamId, rows: &[PushRow]) -> DbResult<Vec<Change>>;
    /// `who`'s count of `kind` in the window that started after `since` (0 if the
    /// window is older or there is none).
    async fn window(&self, team: &TeamId, who: &Username, kind: &str, since: i64) -> DbResult<u64>;
    /// Add `n` to `who`'s count of `kind`, starting a new window at `now` if the
    /// current one started at or before `since`; the count after.
    async fn add_to_window(
        &self,
        team: &TeamId,
        who: &Username,
        kind: &str,
        n: u64,
        now: i64,
        since: i64,
    ) -> DbResult<u64>;
    /// Mark the current window (started after `since`) as alerted; true if this call
    /// did (an alert goes out once per window, whichever instance sees it first).
    async fn flag_window(&self, team: &TeamId, who: &Username, kind: &str, since: i64) -> DbResult<bool>;
}

/// The audit chain and approvals of risky actions.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Chain `entries` to the team's audit log in one transaction (each linked to the
    /// one before with [`shared::audit::link_hash`]); the last sequence number.
    async fn append_audit(&self, team: &TeamId, author: &Username, entries: &[Vec<u8>], now: i64) -> DbResult<u64>;
    /// Audit rows after `after`, oldest first.
    async fn audit(&self, team: &TeamId, after: u64, limit: u32) -> DbResult<Vec<AuditRow>>;
    async fn create_approval(&self, team: &TeamId, a: &Approval) -> DbResult<()>;
    /// The team's approvals (or only `requester`'s), newest first, their state as of `now`.
    async fn approvals(&self, team: &TeamId, requester: Option<&Username>, now: i64) -> DbResult<Vec<Approval>>;
    async fn approval(&self, team: &TeamId, id: &RecordId, now: i64) -> DbResult<Option<Approval>>;
    /// Decide a pending request (approve with a signature, or refuse); false if it
    /// was no longer pending.
    async fn decide_approval(
        &self,
        team: &TeamId,
        id: &RecordId,
        approver: &Username,
        signature: Option<&[u8; 64]>,
        now: i64,
    ) -> DbResult<bool>;
    /// Let an approved `bulk_delete` request cover `n` more deletions, if its count
    /// allows and it has not expired; false otherwise. A negative `n` gives back what a
    /// push that did not commit had taken.
    async fn spend_approval(
        &self,
        team: &TeamId,
        id: &RecordId,
        requester: &Username,
        n: i64,
        now: i64,
    ) -> DbResult<bool>;
    /// Use up an approved single-use request; false if it was already used.
    async fn use_approval(&self, team: &TeamId, id: &RecordId, now: i64) -> DbResult<bool>;
}
