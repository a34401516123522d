//! What one run of a check says: a state, a machine-readable failure kind, and
//! one plain sentence a person can act on.

use std::time::Duration;

use jiff::Timestamp;

use crate::vocabulary::{FailureKind, State};

/// The result of running one check once.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// Up, degraded or down.
    pub state: State,
    /// Why it is not up; `None` when it is.
    pub kind: Option<FailureKind>,
    /// One plain sentence naming the service and what was found, with the
    /// likely fix where one is obvious.
    pub explanation: String,
    /// Time from the start of the check until the answer was complete, as a
    /// user would wait for it; `None` when no answer came.
    pub response_time: Option<Duration>,
    /// Where that time went, in order (e.g. `dns`, `connect`, `first_byte`,
    /// `download`); empty when the check cannot tell.
    pub phases: Vec<(&'static str, Duration)>,
    /// The HTTP status of the final answer, for HTTP checks that got one.
    pub http_status: Option<u16>,
    /// When the server's TLS certificate ends, for checks that saw one.
    pub certificate_expires: Option<Timestamp>,
    /// How far this computer's clock was ahead of the time the server gave
    /// in its answer's `Date` header (negative: behind), for HTTP answers
    /// that had one. `doctor` judges the clock by it, so comparing the
    /// clock costs no request of its own.
    pub clock_ahead: Option<jiff::SignedDuration>,
}

impl CheckOutcome {
    /// The service is up.
    pub fn up(explanation: impl Into<String>) -> Self {
        Self {
            state: State::Up,
            kind: None,
            explanation: explanation.into(),
            response_time: None,
            phases: Vec::new(),
            http_status: None,
            certificate_expires: None,
            clock_ahead: None,
        }
    }

    /// The service failed in the given way; the state follows from the kind.
    pub fn failed(kind: FailureKind, explanation: impl Into<String>) -> Self {
        Self {
            state: kind.state(),
            kind: Some(kind),
            ..Self::up(explanation)
        }
    }

    /// The same outcome with a response time.
    pub fn with_response_time(mut self, took: Duration) -> Self {
        self.response_time = Some(took);
        self
    }

    /// The same outcome with phase timings.
    pub fn with_phases(mut self, phases: Vec<(&'static str, Duration)>) -> Self {
        self.phases = phases;
        self
    }

    /// `true` when the state is [`State::Up`].
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// `false` when the check could not be run at all, so the outcome says
    /// nothing about the service.
    pub fn was_run(&self) -> bool {
        self.kind != Some(FailureKind::NotRun)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_outcome_takes_its_state_from_the_kind() {
        let outcome = CheckOutcome::failed(FailureKind::Slow, "Shop was slow.")
            .with_response_time(Duration::from_secs(3));
        assert_eq!(outcome.state, State::Degraded);
        assert_eq!(outcome.kind, Some(FailureKind::Slow));
        assert_eq!(outcome.response_time, Some(Duration::from_secs(3)));
        assert!(!outcome.is_up());
        assert!(CheckOutcome::up("Shop is up.").is_up());
    }
}
