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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shared::ids::{TeamId, Username};

use crate::db::{Db, DbResult};

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
        Self { config, buckets: Mutex::default() }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
