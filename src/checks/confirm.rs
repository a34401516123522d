//! Confirmation: one lost packet is not an outage. A worse state only becomes
//! the service's state after the failed run was retried at once (`retries`)
//! and then seen in enough consecutive runs (`confirm_after`). A better state
//! is believed at once: a service that answers correctly is up.

use jiff::Timestamp;

use crate::vocabulary::State;

/// What the scheduler should do with one observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Run the check again now; this failure does not count until the retry says so.
    RetryNow,
    /// The service is still in the state it was in.
    Steady(State),
    /// Something worse was seen, but not often enough yet to believe it.
    Pending {
        /// The state that was seen.
        seen: State,
        /// Consecutive runs that saw something worse, including this one.
        streak: u32,
        /// How many it takes.
        needed: u32,
    },
    /// The service's state changed (`from` is `None` for the very first state).
    Changed {
        /// The state before.
        from: Option<State>,
        /// The state now.
        to: State,
    },
}

/// What a finished check amounts to: the confirmer's verdict on it and the
/// confirmed state, as the scheduler hands it to the ingest pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// The confirmer's verdict on this run.
    pub verdict: Verdict,
    /// The confirmed state after it (the run's own state until one is confirmed).
    pub state: State,
    /// Since when that state holds.
    pub since: Timestamp,
    /// Whether the service is critical (its checks are never stretched).
    pub critical: bool,
}

/// Turns a series of observed states into confirmed state changes. Pure: the
/// caller runs the checks and feeds each result to [`Confirmer::observe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmer {
    retries: u32,
    confirm_after: u32,
    confirmed: Option<State>,
    streak: u32,
    /// The least severe state seen during the current streak: what the streak
    /// has proven at least.
    streak_state: State,
    retries_left: u32,
}

impl Confirmer {
    /// `retries` immediate re-runs of a failed run, then `confirm_after`
    /// consecutive failed runs (0 counts as 1) before the state changes.
    pub fn new(retries: u32, confirm_after: u32) -> Self {
        Self {
            retries,
            confirm_after: confirm_after.max(1),
            confirmed: None,
            streak: 0,
            streak_state: State::Down,
            retries_left: retries,
        }
    }

    /// The confirmed state, `None` until the first one is known.
    pub fn state(&self) -> Option<State> {
        self.confirmed
    }

    /// Takes the state one run of the check saw, and says what follows.
    pub fn observe(&mut self, seen: State) -> Verdict {
        if self.confirmed == Some(seen) {
            self.end_streak();
            return Verdict::Steady(seen);
        }
        let better = match self.confirmed {
            Some(confirmed) => seen.severity() < confirmed.severity(),
            None => seen == State::Up,
        };
        if better {
            return self.change_to(seen);
        }
        if self.retries_left > 0 {
            self.retries_left -= 1;
            return Verdict::RetryNow;
        }
        self.retries_left = self.retries;
        self.streak += 1;
        self.streak_state = if self.streak == 1 || seen.severity() < self.streak_state.severity() {
            seen
        } else {
            self.streak_state
        };
        if self.streak >= self.confirm_after {
            let to = self.streak_state;
            return self.change_to(to);
        }
        Verdict::Pending {
            seen,
            streak: self.streak,
            needed: self.confirm_after,
        }
    }

    fn change_to(&mut self, to: State) -> Verdict {
        let from = self.confirmed.replace(to);
        self.end_streak();
        Verdict::Changed { from, to }
    }

    fn end_streak(&mut self) {
        self.streak = 0;
        self.retries_left = self.retries;
    }
}

#[cfg(test)]
mod tests {
    use super::State::{Degraded, Down, Up};
    use super::*;

    fn feed(confirmer: &mut Confirmer, states: &[State]) -> Vec<Verdict> {
        states.iter().map(|s| confirmer.observe(*s)).collect()
    }

    #[test]
    fn the_first_success_is_believed_at_once() {
        let mut c = Confirmer::new(1, 3);
        assert_eq!(c.state(), None);
        assert_eq!(c.observe(Up), Verdict::Changed { from: None, to: Up });
        assert_eq!(c.observe(Up), Verdict::Steady(Up));
        assert_eq!(c.state(), Some(Up));
    }

    #[test]
    fn one_immediate_retry_confirms_a_failure() {
        let mut c = Confirmer::new(1, 1);
        c.observe(Up);
        assert_eq!(c.observe(Down), Verdict::RetryNow);
        assert_eq!(
            c.observe(Down),
            Verdict::Changed {
                from: Some(Up),
                to: Down
            }
        );
        assert_eq!(c.state(), Some(Down));
    }

    #[test]
    fn a_retry_that_succeeds_keeps_the_service_up_and_the_next_failure_is_retried_again() {
        let mut c = Confirmer::new(1, 1);
        c.observe(Up);
        assert_eq!(
            feed(&mut c, &[Down, Up]),
            [Verdict::RetryNow, Verdict::Steady(Up)]
        );
        assert_eq!(c.observe(Down), Verdict::RetryNow);
    }

    #[test]
    fn n_consecutive_failed_runs_confirm_without_retries() {
        let mut c = Confirmer::new(0, 3);
        c.observe(Up);
        let verdicts = feed(&mut c, &[Down, Down, Down]);
        assert_eq!(
            verdicts,
            [
                Verdict::Pending {
                    seen: Down,
                    streak: 1,
                    needed: 3
                },
                Verdict::Pending {
                    seen: Down,
                    streak: 2,
                    needed: 3
                },
                Verdict::Changed {
                    from: Some(Up),
                    to: Down
                },
            ]
        );
    }

    #[test]
    fn a_success_in_between_restarts_the_count() {
        let mut c = Confirmer::new(0, 2);
        c.observe(Up);
        let verdicts = feed(&mut c, &[Down, Up, Down]);
        assert_eq!(verdicts[1], Verdict::Steady(Up));
        assert_eq!(
            verdicts[2],
            Verdict::Pending {
                seen: Down,
                streak: 1,
                needed: 2
            }
        );
        assert_eq!(c.state(), Some(Up));
    }

    #[test]
    fn retries_happen_in_every_failed_run_of_a_streak() {
        let mut c = Confirmer::new(1, 2);
        c.observe(Up);
        let verdicts = feed(&mut c, &[Down, Down, Down, Down]);
        assert_eq!(
            verdicts,
            [
                Verdict::RetryNow,
                Verdict::Pending {
                    seen: Down,
                    streak: 1,
                    needed: 2
                },
                Verdict::RetryNow,
                Verdict::Changed {
                    from: Some(Up),
                    to: Down
                },
            ]
        );
    }

    #[test]
    fn a_mixed_streak_confirms_the_least_severe_state_seen() {
        let mut c = Confirmer::new(0, 3);
        c.observe(Up);
        let verdicts = feed(&mut c, &[Down, Degraded, Down]);
        assert_eq!(
            verdicts[2],
            Verdict::Changed {
                from: Some(Up),
                to: Degraded
            }
        );
    }

    #[test]
    fn recovery_is_immediate_even_when_partial() {
        let mut c = Confirmer::new(0, 1);
        feed(&mut c, &[Up, Down]);
        assert_eq!(
            c.observe(Degraded),
            Verdict::Changed {
                from: Some(Down),
                to: Degraded
            }
        );
        assert_eq!(
            c.observe(Up),
            Verdict::Changed {
                from: Some(Degraded),
                to: Up
            }
        );
    }

    #[test]
    fn a_first_failure_is_confirmed_like_any_other() {
        let mut c = Confirmer::new(1, 1);
        assert_eq!(c.observe(Down), Verdict::RetryNow);
        assert_eq!(
            c.observe(Down),
            Verdict::Changed {
                from: None,
                to: Down
            }
        );
    }

    #[test]
    fn confirm_after_zero_means_one() {
        let mut c = Confirmer::new(0, 0);
        c.observe(Up);
        assert_eq!(
            c.observe(Degraded),
            Verdict::Changed {
                from: Some(Up),
                to: Degraded
            }
        );
    }

    #[test]
    fn worse_after_degraded_needs_confirmation_too() {
        let mut c = Confirmer::new(0, 2);
        feed(&mut c, &[Up, Degraded, Degraded]);
        assert_eq!(c.state(), Some(Degraded));
        assert_eq!(
            c.observe(Down),
            Verdict::Pending {
                seen: Down,
                streak: 1,
                needed: 2
            }
        );
        assert_eq!(
            c.observe(Down),
            Verdict::Changed {
                from: Some(Degraded),
                to: Down
            }
        );
    }
}
