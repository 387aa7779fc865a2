//! Abuse limits the server can enforce without reading anything: a request rate per
//! session (answered with 429 and `Retry-After`), and a bulk-download detector that
//! notices a member pulling far more records than a normal client ever needs (one full
//! sync per device, then small changes) and alerts the team's admins, optionally
//! suspending the session at once.
//!
//! The request rate counts in memory, per instance (a restart forgets it; behind a load
//! balancer each instance allows its share). The hourly windows — records pulled and
//! unapproved deletions — live in the database, so every instance sees the same counts
//! and an alert goes out once per window whichever instance notices.
//!
//! Guesses at a secret — a passphrase at log-in or where a signed-in account proves it
//! again, a 2FA code, a recovery key — are counted in the database too, per account and
//! per client address ([`Limits::guarded`]): after a few free failures each further
//! guess waits, twice as long each time up to a cap, and a guess made while waiting is
//! refused without being checked. An unknown username is counted like a known one, so
//! the answers say nothing about who has an account.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use shared::ids::{TeamId, Username};

use crate::db::{Backoff, Db, DbResult};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// A team's stored bytes unless the operator says otherwise: 2 GiB.
pub const DEFAULT_TEAM_QUOTA_BYTES: u64 = 2 << 30;
/// One member's share unless the operator says otherwise: 512 MiB.
pub const DEFAULT_MEMBER_QUOTA_BYTES: u64 = 512 << 20;

/// What the operator configures (see the server's `--help`).
#[derive(Debug, Clone)]
pub struct LimitConfig {
    /// Sustained requests per minute per session; 0 turns the limit off.
    pub requests_per_minute: u32,
    /// Requests a session may make at once before the rate applies.
    pub burst: u32,
    /// A member who pulls more than `bulk_factor` × the team's records within an hour
    /// (and at least `bulk_min_records`) raises an alert.
    pub bulk_factor: u32,
    pub bulk_min_records: u64,
    /// Also end the session that crossed the line.
    pub bulk_suspend: bool,
    /// Deletions one member may push within an hour without an approved `bulk_delete`
    /// request (0: no limit).
    pub bulk_delete_threshold: u64,
    /// Stored bytes (the sealed current versions of records) a team may hold, and one
    /// member's pushes within it (0: no limit). Counted in the database with every
    /// push, so every instance on it agrees; kept versions are not counted.
    pub team_quota_bytes: u64,
    pub member_quota_bytes: u64,
    /// Failed guesses an account may take (log-in, 2FA code, recovery key; and, apart,
    /// the 2FA set-up's confirmation code) before each further one waits.
    pub login_failures_per_user: u32,
    /// Failed guesses one client address may take across all accounts (a spray of one
    /// passphrase over many usernames) before each further one waits.
    pub login_failures_per_address: u32,
    /// The first wait once the free failures are spent; it doubles with each further
    /// failure up to `login_backoff_max`. Zero turns the back-off off.
    pub login_backoff: Duration,
    pub login_backoff_max: Duration,
    /// A count is forgotten after this long without a failure (from the end of its wait).
    pub login_window: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client; any other peer is the
    /// client itself.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 1200,
            burst: 300,
            bulk_factor: 3,
            bulk_min_records: 5000,
            bulk_suspend: false,
            bulk_delete_threshold: 20,
            team_quota_bytes: DEFAULT_TEAM_QUOTA_BYTES,
            member_quota_bytes: DEFAULT_MEMBER_QUOTA_BYTES,
            login_failures_per_user: 5,
            login_failures_per_address: 20,
            login_backoff: Duration::from_secs(30),
            login_backoff_max: Duration::from_secs(15 * 60),
            login_window: Duration::from_secs(15 * 60),
            trusted_proxies: Vec::new(),
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

const BULK_WINDOW: Duration = Duration::from_secs(3600);
const PULLED: &str = "pulled";
const DELETED: &str = "deleted";

pub struct Limits {
    pub config: LimitConfig,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
    /// When this instance last deleted forgotten guess counts (Unix ms).
    last_sweep: AtomicI64,
}

/// What a pull of `n` records means for its member.
#[derive(Debug, PartialEq, Eq)]
pub enum BulkVerdict {
    Normal,
    /// The member just crossed the line in this window (reported once per window).
    Crossed {
        pulled: u64,
        threshold: u64,
    },
}

impl Limits {
    pub fn new(config: LimitConfig) -> Self {
        Self { config, buckets: Mutex::default(), last_sweep: AtomicI64::new(0) }
    }

    /// Take one request from the session's bucket, or say how long to wait.
    pub fn take(&self, session: &[u8; 32], now: Instant) -> Result<(), Duration> {
        let per_minute = self.config.requests_per_minute;
        if per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(per_minute) / 60.0;
        let burst = f64::from(self.config.burst.max(1));
        let mut buckets = self.buckets.lock().expect("not poisoned");
        if buckets.len() > 100_000 {
            buckets.retain(|_, b| now.duration_since(b.at) < Duration::from_secs(600));
        }
        let b = buckets.entry(*session).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }

    fn window_start(now_ms: i64) -> i64 {
        now_ms - BULK_WINDOW.as_millis() as i64
    }

    /// Count `n` records pulled by `who` in this hour's window; the hour's total when it
    /// is past the floor below which nothing is even looked up, else `None`.
    pub async fn pulled(
        &self,
        db: &dyn Db,
        team: TeamId,
        who: &Username,
        n: u64,
        now_ms: i64,
    ) -> DbResult<Option<u64>> {
        let total = db.add_to_window(&team, who, PULLED, n, now_ms, Self::window_start(now_ms)).await?;
        Ok((total > self.config.bulk_min_records).then_some(total))
    }

    /// Whether `who` may delete `n` more records without an approval this hour.
    pub async fn may_delete(&self, db: &dyn Db, team: TeamId, who: &Username, n: u64, now_ms: i64) -> DbResult<bool> {
        let limit = self.config.bulk_delete_threshold;
        if limit == 0 {
            return Ok(true);
        }
        let before = db.window(&team, who, DELETED, Self::window_start(now_ms)).await?;
        Ok(before + n <= limit)
    }

    /// Count `n` unapproved deletions by `who`.
    pub async fn deleted(&self, db: &dyn Db, team: TeamId, who: &Username, n: u64, now_ms: i64) -> DbResult<()> {
        db.add_to_window(&team, who, DELETED, n, now_ms, Self::window_start(now_ms)).await.map(drop)
    }

    /// Whether `pulled` records this hour is far more than a team of `team_records`
    /// needs; `Crossed` once per window.
    pub async fn bulk(
        &self,
        db: &dyn Db,
        team: TeamId,
        who: &Username,
        pulled: u64,
        team_records: u64,
        now_ms: i64,
    ) -> DbResult<BulkVerdict> {
        let threshold = (team_records * u64::from(self.config.bulk_factor)).max(self.config.bulk_min_records);
        if pulled <= threshold || !db.flag_window(&team, who, PULLED, Self::window_start(now_ms)).await? {
            return Ok(BulkVerdict::Normal);
        }
        Ok(BulkVerdict::Crossed { pulled, threshold })
    }
}

/// What a guess is aimed at: an account's secrets (its passphrase, 2FA codes and
/// recovery key, one count), or the 2FA set-up a signed-in account is confirming.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Account(&'a Username),
    TotpSetup(&'a Username),
}

/// One guess at a secret, and the counts it goes against: its target's, and its
/// client address's when the address is known.
pub struct Attempt {
    target: ([u8; 32], Backoff),
    address: Option<([u8; 32], Backoff)>,
}

impl Attempt {
    fn counts(&self) -> impl Iterator<Item = &([u8; 32], Backoff)> {
        std::iter::once(&self.target).chain(&self.address)
    }
}

const COUNT_LABEL: &[u8] = b"quietdesk/v1/login-failures";

/// The stored key of a count: a hash keyed with the server's secret, so the table
/// holds neither the usernames people type nor their addresses. IPv6 clients count by
/// their /64 (one subscriber's prefix; counting single addresses would give each
/// attacker 2^64 fresh counts).
fn count_key(secret: &[u8; 32], kind: &[u8], value: &[u8]) -> [u8; 32] {
    shared::crypto::sha256(COUNT_LABEL, &[secret, kind, &[0], value])
}

fn address_key(secret: &[u8; 32], addr: IpAddr) -> [u8; 32] {
    match addr.to_canonical() {
        IpAddr::V4(v4) => count_key(secret, b"ipv4", &v4.octets()),
        IpAddr::V6(v6) => count_key(secret, b"ipv6/64", &v6.octets()[..8]),
    }
}

impl Limits {
    fn backoff(&self, free: u32) -> Backoff {
        let c = &self.config;
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Backoff {
            free: u64::from(free),
            first_ms: ms(c.login_backoff),
            max_ms: ms(c.login_backoff_max),
            forget_ms: ms(c.login_window),
        }
    }

    /// The counts a guess at `target` from `addr` goes against.
    pub fn attempt(&self, secret: &[u8; 32], target: Target<'_>, addr: Option<IpAddr>) -> Attempt {
        let key = match target {
            Target::Account(u) => count_key(secret, b"account", u.as_str().as_bytes()),
            Target::TotpSetup(u) => count_key(secret, b"2fa-setup", u.as_str().as_bytes()),
        };
        Attempt {
            target: (key, self.backoff(self.config.login_failures_per_user)),
            address: addr.map(|a| (address_key(secret, a), self.backoff(self.config.login_failures_per_address))),
        }
    }

    /// Run `check` (which compares a guess with the secret) unless one of `attempt`'s
    /// counts is waiting — then 429 `too_many_attempts` with the wait, and the guess is
    /// never compared, so it tells nothing and costs the guesser its turn. The guess is
    /// counted as wrong before it is checked (guesses sent at once cannot all pass
    /// before the first failure is stored) and given back unless it was: a right one
    /// clears the target's count and gives the address's back (a success never clears
    /// an address, or an attacker would clear it with an account of their own); one
    /// that was never compared ([`ApiError::is_wrong_secret`] false) gives both back.
    pub async fn guarded<T>(
        &self,
        db: &dyn Db,
        attempt: &Attempt,
        check: impl Future<Output = ApiResult<T>>,
    ) -> ApiResult<T> {
        if self.config.login_backoff.is_zero() {
            return check.await;
        }
        let now = crate::now_ms();
        self.forget_old_counts(db, now).await?;
        let mut claimed: Vec<&[u8; 32]> = Vec::with_capacity(2);
        for (key, backoff) in attempt.counts() {
            if let Some(until) = db.claim_login_attempt(key, now, backoff).await? {
                for key in claimed {
                    db.refund_login_attempt(key).await?;
                }
                tracing::info!("a guess refused unchecked: too many failed attempts");
                return Err(ApiError::TooManyAttempts(((until - now).max(1) as u64).div_ceil(1000)));
            }
            claimed.push(key);
        }
        let result = check.await;
        if !matches!(&result, Err(e) if e.is_wrong_secret()) {
            match &result {
                Ok(_) => db.clear_login_failures(&attempt.target.0).await?,
                Err(_) => db.refund_login_attempt(&attempt.target.0).await?,
            }
            if let Some((address, _)) = &attempt.address {
                db.refund_login_attempt(address).await?;
            }
        }
        result
    }

    /// Delete forgotten counts, at most once a minute per instance (a forgotten count
    /// is already ignored; this only keeps the table small).
    async fn forget_old_counts(&self, db: &dyn Db, now: i64) -> DbResult<()> {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now - last < 60_000
            || self.last_sweep.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return Ok(());
        }
        db.forget_login_failures(now).await.map(drop)
    }
}

/// The client's address: the socket's peer, or — when the peer is a trusted proxy —
/// the nearest address in `X-Forwarded-For` that is not one. Unknown (`None`) when the
/// router is driven without a socket (in-process tests): then only the target counts.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S> FromRequestParts<S> for ClientAddr
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(ClientAddr(None));
        };
        let state = AppState::from_ref(state);
        Ok(ClientAddr(Some(client_address(peer.ip(), &parts.headers, &state.config.limits.trusted_proxies))))
    }
}

/// Walk `X-Forwarded-For` from the right (the entry the nearest proxy appended) past
/// trusted proxies; the first other address is the client. Entries further left are
/// the client's own word and never read; an entry that is not an address ends the walk
/// at the last proxy.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |a: IpAddr| trusted.iter().any(|t| t.to_canonical() == a);
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let parsed = hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()));
        let Some(addr) = parsed.map(|a| a.to_canonical()) else { break };
        client = addr;
        if !is_trusted(addr) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::prelude::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_applies_per_session() {
        let limits = Limits::new(LimitConfig { requests_per_minute: 60, burst: 3, ..Default::default() });
        let (a, b, t0) = ([1; 32], [2; 32], Instant::now());
        for _ in 0..3 {
            assert!(limits.take(&a, t0).is_ok());
        }
        let wait = limits.take(&a, t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::from_millis(900), "{wait:?}");
        assert!(limits.take(&b, t0).is_ok(), "another session is not affected");
        assert!(limits.take(&a, t0 + Duration::from_secs(1)).is_ok(), "one request per second refills");
        let off = Limits::new(LimitConfig { requests_per_minute: 0, ..Default::default() });
        assert!((0..10_000).all(|_| off.take(&a, t0).is_ok()));
    }

    async fn db() -> (tempfile::TempDir, crate::db::sqlite::SqliteDb) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("t.sqlite").display());
        (dir, crate::db::sqlite::SqliteDb::connect(&url).await.unwrap())
    }

    #[tokio::test]
    async fn deletions_beyond_the_hours_threshold_need_an_approval() {
        let (_dir, db) = db().await;
        let limits = Limits::new(LimitConfig { bulk_delete_threshold: 20, ..Default::default() });
        let (team, bob, t0) = (TeamId::random(), Username::parse("bob").unwrap(), 1_800_000_000_000);
        assert!(limits.may_delete(&db, team, &bob, 20, t0).await.unwrap());
        assert!(!limits.may_delete(&db, team, &bob, 21, t0).await.unwrap());
        limits.deleted(&db, team, &bob, 15, t0).await.unwrap();
        assert!(limits.may_delete(&db, team, &bob, 5, t0).await.unwrap());
        assert!(!limits.may_delete(&db, team, &bob, 6, t0).await.unwrap());
        let carol = Username::parse("carol").unwrap();
        assert!(limits.may_delete(&db, team, &carol, 20, t0).await.unwrap(), "per member");
        let hour = BULK_WINDOW.as_millis() as i64;
        assert!(limits.may_delete(&db, team, &bob, 20, t0 + hour).await.unwrap(), "a new hour");
        // Another instance (another `Limits`, the same database) sees the same count.
        let other = Limits::new(limits.config.clone());
        assert!(!other.may_delete(&db, team, &bob, 6, t0 + 1).await.unwrap());
    }

    #[tokio::test]
    async fn pulling_far_more_than_the_team_holds_is_reported_once_per_window() {
        let (_dir, db) = db().await;
        let limits = Limits::new(LimitConfig { bulk_factor: 3, bulk_min_records: 100, ..Default::default() });
        let other = Limits::new(limits.config.clone());
        let (team, bob, t0) = (TeamId::random(), Username::parse("bob").unwrap(), 1_800_000_000_000);
        let hour = BULK_WINDOW.as_millis() as i64;
        async fn pull(l: &Limits, db: &dyn Db, team: TeamId, who: &Username, n: u64, at: i64) -> BulkVerdict {
            match l.pulled(db, team, who, n, at).await.unwrap() {
                Some(total) => l.bulk(db, team, who, total, 1000, at).await.unwrap(),
                None => BulkVerdict::Normal,
            }
        }
        // A full sync of a 1,000-record team, twice (two devices): normal.
        assert_eq!(pull(&limits, &db, team, &bob, 2000, t0).await, BulkVerdict::Normal);
        assert_eq!(
            pull(&other, &db, team, &bob, 1001, t0).await,
            BulkVerdict::Crossed { pulled: 3001, threshold: 3000 },
            "counted across instances"
        );
        assert_eq!(pull(&limits, &db, team, &bob, 5000, t0).await, BulkVerdict::Normal, "reported once");
        assert_eq!(pull(&limits, &db, team, &bob, 10, t0 + hour).await, BulkVerdict::Normal, "a new window");
        // Below the floor nothing is even looked up.
        let sue = Username::parse("sue").unwrap();
        assert_eq!(limits.pulled(&db, team, &sue, 100, t0).await.unwrap(), None);
        assert_eq!(limits.pulled(&db, team, &sue, 1, t0).await.unwrap(), Some(101));
    }
    #[test]
    fn the_wait_starts_after_the_free_failures_and_doubles_up_to_the_cap() {
        let b = Backoff { free: 5, first_ms: 30_000, max_ms: 900_000, forget_ms: 900_000 };
        let waits: Vec<_> = (1..=12).map(|n| b.wait_ms(n)).collect();
        let s = |secs: i64| Some(secs * 1000);
        assert_eq!(waits, [None, None, None, None, s(30), s(60), s(120), s(240), s(480), s(900), s(900), s(900)]);
        assert_eq!(b.wait_ms(u64::MAX), s(900), "no overflow");
        assert_eq!(Backoff { first_ms: 0, ..b }.wait_ms(100), None, "off");
        assert_eq!(Backoff { free: 0, ..b }.wait_ms(1), s(30), "at least one free failure");
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let xff = |v: &[&str]| {
            let mut h = HeaderMap::new();
            for x in v {
                h.append("x-forwarded-for", x.parse().unwrap());
            }
            h
        };
        let proxy = [ip("10.0.0.1"), ip("10.0.0.2")];
        let spoofed = xff(&["6.6.6.6"]);
        assert_eq!(client_address(ip("203.0.113.9"), &spoofed, &proxy), ip("203.0.113.9"), "untrusted peer");
        assert_eq!(client_address(ip("10.0.0.1"), &spoofed, &[]), ip("10.0.0.1"), "no proxy trusted");
        // The client's own entries (left) are never read; trusted hops are skipped.
        let chain = xff(&["6.6.6.6, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client_address(ip("10.0.0.1"), &chain, &proxy), ip("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.1"), &xff(&["junk, 10.0.0.2"]), &proxy), ip("10.0.0.2"));
        assert_eq!(client_address(ip("10.0.0.1"), &HeaderMap::new(), &proxy), ip("10.0.0.1"));
        assert_eq!(client_address(ip("::ffff:10.0.0.1"), &xff(&["[2001:db8::1]:443"]), &proxy), ip("2001:db8::1"));
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_keys_depend_on_the_secret() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let secret = [9; 32];
        assert_eq!(address_key(&secret, ip("2001:db8:1:2::1")), address_key(&secret, ip("2001:db8:1:2:ffff::9")));
        assert_ne!(address_key(&secret, ip("2001:db8:1:2::1")), address_key(&secret, ip("2001:db8:1:3::1")));
        assert_eq!(address_key(&secret, ip("192.0.2.1")), address_key(&secret, ip("::ffff:192.0.2.1")));
        assert_ne!(address_key(&secret, ip("192.0.2.1")), address_key(&[8; 32], ip("192.0.2.1")));
    }

    #[tokio::test]
    async fn claimed_guesses_lock_a_key_in_the_database_until_given_back_or_forgotten() {
        let (_dir, db) = db().await;
        let b = Backoff { free: 2, first_ms: 1000, max_ms: 4000, forget_ms: 60_000 };
        let (k, other, t0) = ([1; 32], [2; 32], 1_800_000_000_000);
        assert_eq!(db.claim_login_attempt(&k, t0, &b).await.unwrap(), None, "one free");
        assert_eq!(db.claim_login_attempt(&k, t0, &b).await.unwrap(), None, "two free, then a wait");
        assert_eq!(db.claim_login_attempt(&k, t0 + 999, &b).await.unwrap(), Some(t0 + 1000), "refused");
        assert_eq!(db.claim_login_attempt(&other, t0, &b).await.unwrap(), None, "per key");
        assert_eq!(db.claim_login_attempt(&k, t0 + 1000, &b).await.unwrap(), None);
        assert_eq!(db.claim_login_attempt(&k, t0 + 1000, &b).await.unwrap(), Some(t0 + 3000), "doubled");
        // A claim given back (a right guess) takes its wait with it.
        db.refund_login_attempt(&k).await.unwrap();
        assert_eq!(db.claim_login_attempt(&k, t0 + 1000, &b).await.unwrap(), None);
        // Forgotten a window after the wait ends: counting starts again from one.
        let later = t0 + 3000 + 60_000;
        assert_eq!(db.forget_login_failures(t0 + 59_999).await.unwrap(), 0, "nothing forgotten yet");
        assert_eq!(db.claim_login_attempt(&k, later, &b).await.unwrap(), None);
        assert_eq!(db.claim_login_attempt(&k, later, &b).await.unwrap(), None, "the second is free again");
        db.clear_login_failures(&k).await.unwrap();
        assert_eq!(db.claim_login_attempt(&k, later, &b).await.unwrap(), None);
        assert_eq!(db.forget_login_failures(later + 60_000).await.unwrap(), 2, "both keys' rows");
    }
}
