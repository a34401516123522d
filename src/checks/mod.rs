//! Service checks: is each service a business depends on working, as its users
//! see it, and if not, what exactly is wrong?
//!
//! A `[[service]]` table in the config becomes a [`ServiceSpec`]; a
//! [`Checker`] runs it once and returns a [`CheckOutcome`]: a [`State`], a
//! [`FailureKind`] a program can act on, and one sentence a person can act
//! on. A [`Confirmer`] turns a series of outcomes into believable state
//! changes, so one lost packet is not an outage.
//!
//! One file per check type ([`http`], [`tcp`], [`postgres`], [`mysql`],
//! [`redis`]); [`heartbeat`] is the one type that is not run but judged from
//! the reports (pings) its job sends, with [`cron`] schedules. What they share lives in `net` (connection failures), `tls`
//! (trust, certificates), `db` (logging in to a database, and its failures)
//! and `wording` (how dates and names read; lengths of time are `plain`).
//!
//! Adding a check type (e.g. `dns`):
//! 1. `dns.rs` with a `DnsSpec` (serde, `deny_unknown_fields`, no key that
//!    [`Common`] already has: a test checks) and
//!    `async fn run(&Common, &DnsSpec) -> CheckOutcome` that keeps to
//!    `common.timeout` and words failures through `net` and `wording`;
//! 2. a `Dns(DnsSpec)` variant in [`CheckSpec`], with its name in
//!    `CheckSpec::TYPES`, `CheckSpec::type_name` and
//!    `CheckSpec::deserialize_settings` (same file);
//! 3. its arm in [`Checker::run`];
//! 4. tests against a real peer in `tests/checks_dns.rs`, one per failure kind,
//!    asserting the kind and that the explanation names the service and cause.

mod batch;
mod certificate;
mod confirm;
pub mod cron;
mod db;
pub mod dns;
pub mod heartbeat;
pub mod http;
pub mod local;
pub mod mysql;
mod net;
mod outcome;
pub mod ping;
pub mod pings;
pub mod postgres;
pub mod redis;
mod settings;
mod spec;
pub mod tcp;
#[cfg(test)]
mod testing;
pub(crate) mod wording;

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use batch::check_all;
pub use confirm::{Confirmer, Finished, Verdict};
pub use outcome::CheckOutcome;
pub use settings::SettingProblem;
pub use spec::{CheckSpec, Common, ServiceSpec};

use crate::clock::Clock;
use crate::vocabulary::{FailureKind, State};

/// Running service checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChecksConfig {
    /// At most this many checks run at the same time; the rest wait their turn.
    pub max_concurrent: usize,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        Self { max_concurrent: 64 }
    }
}

/// Runs checks. Holds what all checks share: the clock (certificate validity
/// is judged at the clock's time, so a simulated clock can age certificates).
#[derive(Debug)]
pub struct Checker {
    clock: Arc<dyn Clock>,
}

impl Checker {
    /// A checker reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }

    /// The clock checks judge time by.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    fn clock_arc(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Runs the service's check once. Never takes much longer than the
    /// service's `timeout`, and never fails: every problem is an outcome.
    pub async fn run(&self, spec: &ServiceSpec) -> CheckOutcome {
        // Explanations name the service as people read it: a name of any
        // length, or with line breaks, cut and escaped (they go to the log,
        // `status` and mail).
        let shown = match crate::printable::name(&spec.common.name) {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(name) => Some(Common {
                name,
                ..spec.common.clone()
            }),
        };
        let common = shown.as_ref().unwrap_or(&spec.common);
        let check = async {
            match &spec.check {
                CheckSpec::Http(http) => http::run(common, http, self).await,
                CheckSpec::Tcp(tcp) => tcp::run(common, tcp).await,
                CheckSpec::Dns(dns) => dns::run(common, dns).await,
                CheckSpec::Ping(ping) => ping::run(common, ping).await,
                CheckSpec::Postgres(pg) => postgres::run(common, pg, self).await,
                CheckSpec::Mysql(mysql) => mysql::run(common, mysql).await,
                CheckSpec::Redis(redis) => redis::run(common, redis).await,
                // Judged from its pings (`heartbeat::HeartbeatSpec::judge`), never run.
                CheckSpec::Heartbeat(_) => CheckOutcome::failed(
                    FailureKind::NotRun,
                    format!(
                        "{} is a heartbeat: it is judged by the reports of its job, not checked.",
                        common.name
                    ),
                ),
            }
        };
        // Each check keeps to the timeout itself and says where it stopped;
        // this is the backstop for one that does not.
        let backstop = common.timeout.std() + std::time::Duration::from_secs(1);
        let outcome = match tokio::time::timeout(backstop, check).await {
            Ok(outcome) => outcome,
            Err(_) => CheckOutcome::failed(
                FailureKind::Timeout,
                format!(
                    "{} did not finish within {} (timeout).",
                    common.name,
                    crate::plain::short_duration(common.timeout.std())
                ),
            ),
        };
        local::judge(&common.name, apply_budget(common, outcome))
    }
}

/// An up outcome slower than the service's `slow_after` becomes degraded.
fn apply_budget(common: &Common, outcome: CheckOutcome) -> CheckOutcome {
    let (Some(budget), Some(took)) = (common.slow_after, outcome.response_time) else {
        return outcome;
    };
    if !outcome.is_up() || took <= budget.std() {
        return outcome;
    }
    CheckOutcome {
        state: State::Degraded,
        kind: Some(FailureKind::Slow),
        explanation: format!(
            "{} answered in {}, over its {} budget.",
            common.name,
            crate::plain::short_duration(took),
            crate::plain::short_duration(budget.std())
        ),
        ..outcome
    }
}

/// The seam for whatever schedules checks: run one service's check once.
/// [`Checker`] is the real one; tests of a scheduler can script outcomes.
pub trait Check: Send + Sync {
    /// Runs `spec`'s check once.
    fn check<'a>(
        &'a self,
        spec: &'a ServiceSpec,
    ) -> Pin<Box<dyn Future<Output = CheckOutcome> + Send + 'a>>;
}

impl Check for Checker {
    fn check<'a>(
        &'a self,
        spec: &'a ServiceSpec,
    ) -> Pin<Box<dyn Future<Output = CheckOutcome> + Send + 'a>> {
        Box::pin(self.run(spec))
    }
}

/// Runs `spec` once through `confirmer`, retrying at once as long as it asks
/// to; returns the last outcome and the verdict on it.
pub async fn run_confirmed(
    check: &dyn Check,
    spec: &ServiceSpec,
    confirmer: &mut Confirmer,
) -> (CheckOutcome, Verdict) {
    loop {
        let outcome = check.check(spec).await;
        let verdict = confirmer.observe(outcome.state);
        if verdict != Verdict::RetryNow {
            return (outcome, verdict);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    fn common(slow_after: Option<u64>) -> Common {
        Common {
            name: "Payment gateway".into(),
            slow_after: slow_after
                .map(|ms| crate::units::Duration::from(Duration::from_millis(ms))),
            ..Common::default()
        }
    }

    #[test]
    fn an_answer_over_budget_is_slow_and_says_by_how_much() {
        let up = CheckOutcome::up("fine").with_response_time(Duration::from_millis(8_200));
        let outcome = apply_budget(&common(Some(2_000)), up.clone());
        assert_eq!(outcome.state, State::Degraded);
        assert_eq!(outcome.kind, Some(FailureKind::Slow));
        assert_eq!(
            outcome.explanation,
            "Payment gateway answered in 8.2 s, over its 2 s budget."
        );
        assert_eq!(outcome.response_time, up.response_time);

        assert_eq!(apply_budget(&common(Some(9_000)), up.clone()), up);
        assert_eq!(apply_budget(&common(None), up.clone()), up);
        let down = CheckOutcome::failed(FailureKind::HttpStatus, "no")
            .with_response_time(Duration::from_secs(9));
        assert_eq!(apply_budget(&common(Some(1)), down.clone()), down);
    }

    #[derive(Debug)]
    struct Scripted(Mutex<Vec<State>>);

    impl Check for Scripted {
        fn check<'a>(
            &'a self,
            _: &'a ServiceSpec,
        ) -> Pin<Box<dyn Future<Output = CheckOutcome> + Send + 'a>> {
            let state = self.0.lock().unwrap().remove(0);
            Box::pin(async move {
                match state {
                    State::Up => CheckOutcome::up("up"),
                    _ => CheckOutcome::failed(FailureKind::Timeout, "down"),
                }
            })
        }
    }

    #[tokio::test]
    async fn a_confirmed_run_retries_until_the_confirmer_decides() {
        let spec = ServiceSpec {
            common: common(None),
            check: CheckSpec::Tcp(tcp::TcpSpec {
                host: "localhost".into(),
                port: 1,
                expect_banner: None,
            }),
        };
        let script = Scripted(Mutex::new(vec![
            State::Up,
            State::Down,
            State::Up,
            State::Down,
            State::Down,
        ]));
        let mut confirmer = Confirmer::new(1, 1);
        let (_, verdict) = run_confirmed(&script, &spec, &mut confirmer).await;
        assert_eq!(
            verdict,
            Verdict::Changed {
                from: None,
                to: State::Up
            }
        );
        let (outcome, verdict) = run_confirmed(&script, &spec, &mut confirmer).await;
        assert_eq!(
            (outcome.state, verdict),
            (State::Up, Verdict::Steady(State::Up))
        );
        let (outcome, verdict) = run_confirmed(&script, &spec, &mut confirmer).await;
        assert_eq!(outcome.kind, Some(FailureKind::Timeout));
        assert_eq!(
            verdict,
            Verdict::Changed {
                from: Some(State::Up),
                to: State::Down
            }
        );
        assert!(script.0.lock().unwrap().is_empty());
    }
}
