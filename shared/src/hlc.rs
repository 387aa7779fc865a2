//! Hybrid logical clocks (Kulkarni et al., 2014): wall-clock milliseconds plus a
//! counter, so stamps follow real time where clocks agree and still order causally
//! where they do not. A [`Stamp`] adds the author, which makes the order total.

use serde::{Deserialize, Serialize};

use crate::ids::Username;

/// A hybrid logical clock reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u32,
}

/// How far ahead of this device's clock another device's stamps may be. A stamp
/// further ahead would win every merge of its field until that time (a stamp at
/// `u64::MAX`: forever), and a clock that observed it would carry everyone's later
/// edits that far ahead too, so a version carrying one is refused, not merged. Ten
/// minutes: devices keep their clocks by the network, and a writer ten minutes ahead is
/// refused rather than allowed to decide merges for the next day.
pub const MAX_CLOCK_SKEW_MS: u64 = 10 * 60_000;

/// The highest counter a stamp may carry. A clock whose counter reaches it moves its
/// wall time on by a millisecond instead (a counter never saturates, so every tick is
/// later than the one before); a stamp from elsewhere above it is refused by readers
/// (`sync::Session::in_time`): it could only come from a client stamping to win.
/// Honest counters stay far below: they count edits within one millisecond, or while
/// this device's clock is behind a stamp it has seen.
pub const COUNTER_LIMIT: u32 = 1 << 20;

/// One device's clock. `tick` for every local edit, `observe` for every remote stamp.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    last: Hlc,
}

impl Clock {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next stamp: strictly greater than every stamp issued or observed before.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        self.last = if now_ms > self.last.wall_ms {
            Hlc { wall_ms: now_ms, counter: 0 }
        } else if self.last.counter >= COUNTER_LIMIT {
            Hlc { wall_ms: self.last.wall_ms.saturating_add(1), counter: 0 }
        } else {
            Hlc { wall_ms: self.last.wall_ms, counter: self.last.counter + 1 }
        };
        self.last
    }

    /// Move past a stamp seen from another device, so our next edit orders after it.
    pub fn observe(&mut self, remote: Hlc) {
        if remote > self.last {
            self.last = remote;
        }
    }

    pub fn last(&self) -> Hlc {
        self.last
    }
}

/// When and by whom a field was written. Ordered by clock, then author.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub hlc: Hlc,
    pub author: Username,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_strictly_increasing_even_when_the_wall_clock_goes_back() {
        let mut c = Clock::new();
        let a = c.tick(1_000);
        let b = c.tick(900);
        let d = c.tick(1_000);
        assert!(a < b && b < d);
        c.observe(Hlc { wall_ms: 5_000, counter: 3 });
        let e = c.tick(1_000);
        assert_eq!(e, Hlc { wall_ms: 5_000, counter: 4 });
    }

    /// A counter never saturates: at the limit the clock moves on a millisecond, so an
    /// edit made after a stamp with a spent counter is still later than it.
    #[test]
    fn a_spent_counter_moves_the_clock_on() {
        let mut c = Clock::new();
        let seen = Hlc { wall_ms: 5_000, counter: COUNTER_LIMIT };
        c.observe(seen);
        let next = c.tick(1_000);
        assert!(next > seen);
        assert_eq!(next, Hlc { wall_ms: 5_001, counter: 0 });
        assert!(c.tick(1_000) > next);
    }
}
