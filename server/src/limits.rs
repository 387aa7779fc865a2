//! Abuse limits the server can enforce without reading anything: a request rate per
//! session (answered with 429 and `Retry-After`), and a bulk-download detector that
//! notices a member pulling far more records than a normal client ever needs (one full
//! sync per device, then small changes) and alerts the team's admins, optionally
//! suspending the session at once.
//!
//! Both count in memory: a restart forgets the counts (the limits are a brake, not a
//! ledger), and several server instances each count their own share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shared::ids::{TeamId, Username};

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

struct Window {
    started: Instant,
    records: u64,
    alerted: bool,
}

const BULK_WINDOW: Duration = Duration::from_secs(3600);

pub struct Limits {
    pub config: LimitConfig,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
    pulls: Mutex<HashMap<(TeamId, Username), Window>>,
    deletions: Mutex<HashMap<(TeamId, Username), Window>>,
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
        Self { config, buckets: Mutex::default(), pulls: Mutex::default(), deletions: Mutex::default() }
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

    /// Count `n` records pulled by `who` this hour. Returns the hour's total when it is
    /// past the floor and not yet reported: then the caller looks up how many records
    /// the team holds and asks [`Limits::bulk`] (so the count query runs only then).
    pub fn pulled(&self, team: TeamId, who: &Username, n: u64, now: Instant) -> Option<u64> {
        let mut pulls = self.pulls.lock().expect("not poisoned");
        if pulls.len() > 100_000 {
            pulls.retain(|_, w| now.duration_since(w.started) < BULK_WINDOW);
        }
        let w = pulls.entry((team, who.clone())).or_insert(Window { started: now, records: 0, alerted: false });
        if now.duration_since(w.started) >= BULK_WINDOW {
            *w = Window { started: now, records: 0, alerted: false };
        }
        w.records += n;
        (w.records > self.config.bulk_min_records && !w.alerted).then_some(w.records)
    }

    /// Whether `pulled` records in an hour is far more than a team of `team_records`
    /// explains; reported once per window.
    /// Whether `who` may delete `n` more records now without an approval (within the
    /// hour's threshold); count them with [`Limits::deleted`] once committed.
    pub fn may_delete(&self, team: TeamId, who: &Username, n: u64, now: Instant) -> bool {
        let limit = self.config.bulk_delete_threshold;
        let deletions = self.deletions.lock().expect("not poisoned");
        let before = match deletions.get(&(team, who.clone())) {
            Some(w) if now.duration_since(w.started) < BULK_WINDOW => w.records,
            _ => 0,
        };
        limit == 0 || before + n <= limit
    }

    /// Count `n` committed deletions by `who`.
    pub fn deleted(&self, team: TeamId, who: &Username, n: u64, now: Instant) {
        let mut deletions = self.deletions.lock().expect("not poisoned");
        if deletions.len() > 100_000 {
            deletions.retain(|_, w| now.duration_since(w.started) < BULK_WINDOW);
        }
        let w = deletions.entry((team, who.clone())).or_insert(Window { started: now, records: 0, alerted: false });
        if now.duration_since(w.started) >= BULK_WINDOW {
            *w = Window { started: now, records: 0, alerted: false };
        }
        w.records += n;
    }

    pub fn bulk(&self, team: TeamId, who: &Username, pulled: u64, team_records: u64) -> BulkVerdict {
        let threshold = (team_records * u64::from(self.config.bulk_factor)).max(self.config.bulk_min_records);
        if pulled <= threshold {
            return BulkVerdict::Normal;
        }
        let mut pulls = self.pulls.lock().expect("not poisoned");
        match pulls.get_mut(&(team, who.clone())) {
            Some(w) if !w.alerted => {
                w.alerted = true;
                BulkVerdict::Crossed { pulled, threshold }
            }
            _ => BulkVerdict::Normal,
        }
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

    #[test]
    fn deletions_beyond_the_hours_threshold_need_an_approval() {
        let limits = Limits::new(LimitConfig { bulk_delete_threshold: 20, ..Default::default() });
        let (team, bob, t0) = (TeamId::random(), Username::parse("bob").unwrap(), Instant::now());
        assert!(limits.may_delete(team, &bob, 20, t0));
        assert!(!limits.may_delete(team, &bob, 21, t0));
        limits.deleted(team, &bob, 15, t0);
        assert!(limits.may_delete(team, &bob, 5, t0) && !limits.may_delete(team, &bob, 6, t0));
        assert!(limits.may_delete(team, &Username::parse("carol").unwrap(), 20, t0), "per member");
        assert!(limits.may_delete(team, &bob, 20, t0 + BULK_WINDOW), "a new hour");
    }

    #[test]
    fn pulling_far_more_than_the_team_holds_is_reported_once_per_window() {
        let limits = Limits::new(LimitConfig { bulk_factor: 3, bulk_min_records: 100, ..Default::default() });
        let (team, bob, t0) = (TeamId::random(), Username::parse("bob").unwrap(), Instant::now());
        let pull = |n: u64, at: Instant| {
            limits.pulled(team, &bob, n, at).map_or(BulkVerdict::Normal, |total| limits.bulk(team, &bob, total, 1000))
        };
        // A full sync of a 1,000-record team, twice (two devices): normal.
        assert_eq!(pull(2000, t0), BulkVerdict::Normal);
        assert_eq!(pull(1001, t0), BulkVerdict::Crossed { pulled: 3001, threshold: 3000 });
        assert_eq!(pull(5000, t0), BulkVerdict::Normal, "reported once");
        assert_eq!(pull(10, t0 + BULK_WINDOW), BulkVerdict::Normal, "a new window");
        // Below the floor nothing is even looked up.
        let sue = Username::parse("sue").unwrap();
        assert_eq!(limits.pulled(team, &sue, 100, t0), None);
        assert_eq!(limits.pulled(team, &sue, 1, t0), Some(101));
    }
}
