//! Wall time that follows Tokio's paused test clock, so the real
//! `keepwatch::agent::run` (which sleeps with Tokio's timers and asks its
//! `Clock` what time it is) can be driven through nights and escalation
//! steps in milliseconds: the test sleeps, the paused clock jumps from one
//! timer to the next whenever nothing is left to do, and keepwatch's clock
//! jumps with it.
//!
//! Include it with `#[path = "support/paused_clock.rs"] mod paused_clock;`.

// Each test binary uses only some of it.
#![allow(dead_code)]

use jiff::{SignedDuration, Timestamp};
use keepwatch::clock::Clock;

/// `start` at the moment it was made, then as far on as Tokio's clock went.
#[derive(Debug)]
pub struct PausedClock {
    start: Timestamp,
    base: tokio::time::Instant,
}

impl PausedClock {
    /// A clock that reads `start` now; needs a Tokio runtime.
    pub fn starting_at(start: Timestamp) -> Self {
        Self {
            start,
            base: tokio::time::Instant::now(),
        }
    }

    /// Tokio's instant at which this clock reads `at` (now, if that passed).
    pub fn instant_of(&self, at: Timestamp) -> tokio::time::Instant {
        let ahead =
            std::time::Duration::try_from(self.now().duration_until(at)).unwrap_or_default();
        tokio::time::Instant::now() + ahead
    }
}

impl Clock for PausedClock {
    fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.base.elapsed()).unwrap_or_default();
        self.start + elapsed
    }
}
