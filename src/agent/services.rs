//! When each service is next checked, what a finished check means for its
//! confirmed state, and which checks are overdue: started and not reported
//! back by their deadline (a check task that died, say). Pure: the runtime
//! runs the checks and reports back; the caller says what time it is.
//!
//! # When checks run
//!
//! A service is checked **at once** when keepwatch starts (or when it is added
//! to the config), so the admin learns within seconds whether all is well;
//! `[checks] max_concurrent` bounds how many run side by side. After that
//! first round each service moves to **its own slot** in its interval, derived
//! from its name: 1,000 services at 30 s then run about 33 a second instead
//! of all together at every interval, and a service keeps its slot across
//! restarts. The second check comes at the first slot at least half an
//! interval after the first (so between half and one and a half intervals
//! later); from then on, one interval after the previous.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::checks::{CheckOutcome, CheckSpec, Confirmer, Finished, ServiceSpec, Verdict};
use crate::vocabulary::State;

/// How long past its own timeout (which the checker enforces, with a second
/// of backstop) a started check may take to report back (waiting for a free
/// slot under `max_concurrent` included) before it counts as lost.
const REPORT_MARGIN: SignedDuration = SignedDuration::from_mins(5);

#[derive(Debug)]
struct Entry {
    spec: Arc<ServiceSpec>,
    /// A heartbeat: never run, judged from its pings (`agent::heartbeats`).
    judged: bool,
    next: Timestamp,
    /// A moment of the service's own slot: its runs after the first round
    /// fall at this time plus whole intervals.
    slot: Timestamp,
    /// Still in the first round: its first check (and the retries that
    /// confirm it) has not given a verdict yet.
    first_round: bool,
    /// When the run in progress was started; `None` while none is.
    running: Option<Timestamp>,
    confirmer: Confirmer,
    since: Option<Timestamp>,
}

impl Entry {
    /// When the run in progress should have reported back by.
    fn deadline(&self) -> Option<Timestamp> {
        let started = self.running?;
        let allowed = self.spec.common.timeout.signed() + REPORT_MARGIN;
        Some(started.saturating_add(allowed).unwrap_or(Timestamp::MAX))
    }

    fn new(spec: ServiceSpec, now: Timestamp) -> Self {
        // A heartbeat's judgement needs no retry or confirmation: the job
        // itself said so, or its deadline passed.
        let confirmer = match spec.check {
            CheckSpec::Heartbeat(_) => Confirmer::new(0, 1),
            _ => Confirmer::new(spec.common.retries, spec.common.confirm_after),
        };
        let judged = matches!(spec.check, CheckSpec::Heartbeat(_));
        Self {
            next: now,
            slot: now.saturating_add(spread(&spec)).unwrap_or(now),
            first_round: !judged,
            judged,
            spec: Arc::new(spec),
            running: None,
            confirmer,
            since: None,
        }
    }
}

/// Where in its interval a service's slot falls: derived from its name, so
/// 1,000 services at 30 s run ~33 a second instead of all at once, and the
/// same service keeps the same slot across restarts.
fn spread(spec: &ServiceSpec) -> SignedDuration {
    let interval_ms = spec.common.interval.std().as_millis().max(1) as u64;
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let hash = spec
        .common
        .name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    SignedDuration::from_millis(i64::try_from(hash % interval_ms).unwrap_or(0))
}

/// The first time of `slot` plus whole multiples of `every` that is at least
/// half of `every` after `now`.
fn next_slot(slot: Timestamp, every: SignedDuration, now: Timestamp) -> Timestamp {
    let every_ms = every.as_millis().max(1);
    let earliest = now.saturating_add(every / 2).unwrap_or(now);
    let behind_ms = earliest.duration_since(slot).as_millis();
    // Whole intervals from the slot to the earliest allowed time, rounded up.
    let steps = behind_ms.div_euclid(every_ms) + i128::from(behind_ms.rem_euclid(every_ms) > 0);
    let offset = i64::try_from(steps.saturating_mul(every_ms)).unwrap_or(i64::MAX);
    slot.saturating_add(SignedDuration::from_millis(offset))
        .unwrap_or(earliest)
}

/// A check started and not reported back by its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    /// The service.
    pub name: String,
    /// When its run was started.
    pub started: Timestamp,
    /// When its result should have arrived by.
    pub deadline: Timestamp,
}

/// Every configured service's schedule and confirmation state.
#[derive(Debug, Default)]
pub struct ServiceSchedule {
    entries: Vec<Entry>,
}

impl ServiceSchedule {
    /// The services of the config, each due at once for its first round.
    pub fn new(specs: &[ServiceSpec], now: Timestamp) -> Self {
        Self {
            entries: specs
                .iter()
                .cloned()
                .map(|spec| Entry::new(spec, now))
                .collect(),
        }
    }

    /// The checks due at `now` that are not already running; they count as
    /// running until [`finished`](Self::finished) is called for them.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<Arc<ServiceSpec>> {
        self.entries
            .iter_mut()
            .filter(|e| !e.judged && e.running.is_none() && e.next <= now)
            .map(|e| {
                e.running = Some(now);
                e.spec.clone()
            })
            .collect()
    }

    /// The earliest time a check that is not running is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.entries
            .iter()
            .filter(|e| !e.judged && e.running.is_none())
            .map(|e| e.next)
            .min()
    }

    /// The earliest time a running check becomes overdue.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.entries.iter().filter_map(Entry::deadline).min()
    }

    /// The checks that were started and have not reported back by their
    /// deadline at `now` (their timeout plus [`REPORT_MARGIN`]): a result
    /// that should have arrived and did not.
    pub fn overdue(&self, now: Timestamp) -> Vec<Overdue> {
        self.entries
            .iter()
            .filter_map(|e| {
                let deadline = e.deadline()?;
                (deadline <= now).then(|| Overdue {
                    name: e.spec.common.name.clone(),
                    started: e.running.unwrap_or(now),
                    deadline,
                })
            })
            .collect()
    }

    /// Gives up waiting for the overdue run of `name`: it counts as not run
    /// (state and confirmation streak stay) and is due again at `now`.
    pub fn lost(&mut self, name: &str, now: Timestamp) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.spec.common.name == name) {
            entry.running = None;
            entry.next = now;
        }
    }

    /// Takes the outcome of a run of `name`. A failure that needs confirming
    /// is due again at once; otherwise the next run is one interval later,
    /// stretched `stretch` times for services that are not critical while the
    /// host is busy. `None` when the service is no longer configured.
    pub fn finished(
        &mut self,
        name: &str,
        outcome: &CheckOutcome,
        now: Timestamp,
        stretch: u32,
    ) -> Option<Finished> {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.spec.common.name == name)?;
        entry.running = None;
        let verdict = entry.confirmer.observe(outcome.state);
        let critical = entry.spec.common.critical;
        let factor = if critical {
            1
        } else {
            i32::try_from(stretch.max(1)).unwrap_or(1)
        };
        let every = entry.spec.common.interval.signed() * factor;
        entry.next = match verdict {
            Verdict::RetryNow => now,
            _ if entry.first_round => {
                entry.first_round = false;
                next_slot(entry.slot, every, now)
            }
            _ => now.saturating_add(every).unwrap_or(now),
        };
        if matches!(verdict, Verdict::Changed { .. }) || entry.since.is_none() {
            entry.since = Some(now);
        }
        Some(Finished {
            verdict,
            state: entry.confirmer.state().unwrap_or(outcome.state),
            since: entry.since.unwrap_or(now),
            critical,
        })
    }

    /// Takes a run of `name` that could not be done (this computer out of
    /// resources): it says nothing about the service, so its state and
    /// confirmation streak stay; it is tried again one interval later.
    pub fn not_run(&mut self, name: &str, now: Timestamp) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.spec.common.name == name) {
            entry.running = None;
            entry.next = now
                .saturating_add(entry.spec.common.interval.signed())
                .unwrap_or(now);
        }
    }

    /// After a config change: unchanged services keep their schedule and
    /// confirmed state; changed or new ones start afresh; removed ones go.
    pub fn reconfigure(&mut self, specs: &[ServiceSpec], now: Timestamp) {
        let mut old = std::mem::take(&mut self.entries);
        self.entries = specs
            .iter()
            .map(|spec| match old.iter().position(|e| *e.spec == *spec) {
                Some(index) => old.swap_remove(index),
                None => Entry::new(spec.clone(), now),
            })
            .collect();
    }

    /// `true` while a service has not had the verdict of its first check
    /// (at start, or after it was added).
    pub fn first_round_pending(&self) -> bool {
        self.entries.iter().any(|e| e.first_round)
    }

    /// Each checked service's confirmed state, in the order of the config.
    pub fn states(&self) -> Vec<(&str, State)> {
        self.entries
            .iter()
            .filter_map(|e| Some((e.spec.common.name.as_str(), e.confirmer.state()?)))
            .collect()
    }

    /// How many services are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no services are configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::FailureKind;

    fn specs(text: &str) -> Vec<ServiceSpec> {
        crate::config::parse(std::path::Path::new("k.toml"), text)
            .unwrap()
            .services
    }

    fn two() -> Vec<ServiceSpec> {
        specs(
            "[[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\ninterval = \"30s\"\n\
             [[service]]\nname = \"Pay\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 2\ninterval = \"1m\"\ncritical = true\nretries = 0\n",
        )
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + secs).unwrap()
    }

    fn down() -> CheckOutcome {
        CheckOutcome::failed(FailureKind::ConnectionRefused, "refused")
    }

    #[test]
    fn every_service_is_checked_at_once_at_start_then_spread_over_its_interval() {
        let many: Vec<ServiceSpec> = (0..1000)
            .map(|i| {
                specs(&format!(
                    "[[service]]\nname = \"s{i}\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\n"
                ))
                .remove(0)
            })
            .collect();
        let mut schedule = ServiceSchedule::new(&many, t(0));
        let first = schedule.take_due(t(0));
        assert_eq!(first.len(), 1000, "every service at once at start");
        assert!(schedule.first_round_pending());
        for spec in &first {
            schedule.finished(&spec.common.name, &CheckOutcome::up("ok"), t(1), 1);
        }
        assert!(!schedule.first_round_pending());
        // The second round: each at its slot, half to one and a half 30 s
        // intervals after the first, about 33 a second.
        assert_eq!(schedule.next_due().map(|at| at >= t(16)), Some(true));
        let mut busiest = 0;
        let mut seen = 0;
        for second in 16..=46 {
            let due = schedule.take_due(t(second));
            busiest = busiest.max(due.len());
            seen += due.len();
            for spec in due {
                schedule.finished(&spec.common.name, &CheckOutcome::up("ok"), t(second), 1);
            }
        }
        assert_eq!(seen, 1000, "every service had its second check");
        assert!(
            busiest < 80,
            "{busiest} checks in one second; 33 on average"
        );
        // ...and the third round keeps the spread: one interval later each.
        let third: Vec<usize> = (46..=76).map(|s| schedule.take_due(t(s)).len()).collect();
        assert_eq!(third.iter().sum::<usize>(), 1000);
        assert!(third.iter().all(|n| *n < 80), "{third:?}");
        // The slot comes from the name: the same after a restart.
        assert_eq!(spread(&many[7]), spread(&many[7].clone()));
        assert_ne!(spread(&many[7]), spread(&many[8]));
    }

    #[test]
    fn the_second_check_is_never_sooner_than_half_an_interval() {
        let every = SignedDuration::from_secs(30);
        // A slot just after the first check: not then, one interval later.
        assert_eq!(next_slot(t(1), every, t(0)), t(31));
        assert_eq!(next_slot(t(15), every, t(0)), t(15));
        assert_eq!(next_slot(t(14), every, t(0)), t(44));
        // A first round that took long (1,000 services, slow ones): the next
        // slot after it.
        assert_eq!(next_slot(t(5), every, t(100)), t(125));
    }

    #[test]
    fn a_running_check_is_not_started_twice_and_runs_again_an_interval_later() {
        let mut schedule = ServiceSchedule::new(&two(), t(0));
        assert_eq!(schedule.take_due(t(0)).len(), 2, "both at once at start");
        assert!(schedule.take_due(t(120)).is_empty(), "both still running");
        assert_eq!(schedule.next_due(), None);
        let done = schedule
            .finished("Shop", &CheckOutcome::up("ok"), t(1), 1)
            .unwrap();
        assert_eq!(
            done.verdict,
            Verdict::Changed {
                from: None,
                to: State::Up
            }
        );
        let second = schedule.next_due().unwrap();
        assert!(second >= t(16) && second < t(46), "{second}");
        assert_eq!(schedule.take_due(second).len(), 1);
        let after = second + SignedDuration::from_secs(1);
        schedule.finished("Shop", &CheckOutcome::up("ok"), after, 1);
        assert_eq!(
            schedule.next_due(),
            Some(after + SignedDuration::from_secs(30))
        );
        assert!(
            schedule
                .finished("Gone", &CheckOutcome::up("ok"), t(61), 1)
                .is_none()
        );
    }

    #[test]
    fn a_failure_is_retried_at_once_before_the_state_changes() {
        let mut schedule = ServiceSchedule::new(&two(), t(0));
        schedule.take_due(t(0));
        schedule.finished("Shop", &CheckOutcome::up("ok"), t(0), 1);
        let next = schedule.next_due().unwrap();
        schedule.take_due(next);
        let first = schedule.finished("Shop", &down(), next, 1).unwrap();
        assert_eq!(first.verdict, Verdict::RetryNow);
        assert_eq!(first.state, State::Up);
        assert_eq!(first.since, t(0));
        assert_eq!(schedule.take_due(next).len(), 1, "the retry is due at once");
        let confirmed = next + SignedDuration::from_secs(1);
        let second = schedule.finished("Shop", &down(), confirmed, 1).unwrap();
        assert_eq!(
            second.verdict,
            Verdict::Changed {
                from: Some(State::Up),
                to: State::Down
            }
        );
        assert_eq!((second.state, second.since), (State::Down, confirmed));
    }

    #[test]
    fn a_service_down_at_start_is_confirmed_within_the_first_round() {
        let mut schedule = ServiceSchedule::new(&two(), t(0));
        schedule.take_due(t(0));
        let first = schedule.finished("Shop", &down(), t(0), 1).unwrap();
        assert_eq!(first.verdict, Verdict::RetryNow);
        assert!(schedule.first_round_pending());
        assert_eq!(schedule.take_due(t(0)).len(), 1, "the retry is due at once");
        let confirmed = schedule.finished("Shop", &down(), t(1), 1).unwrap();
        assert_eq!(
            confirmed.verdict,
            Verdict::Changed {
                from: None,
                to: State::Down
            }
        );
        assert!(
            schedule.next_due().is_some_and(|at| at >= t(16)),
            "then at its slot"
        );
    }

    #[test]
    fn a_busy_host_stretches_only_services_that_are_not_critical() {
        let mut schedule = ServiceSchedule::new(&two(), t(0));
        schedule.take_due(t(0));
        schedule.finished("Shop", &CheckOutcome::up("ok"), t(0), 1);
        schedule.finished("Pay", &CheckOutcome::up("ok"), t(0), 1);
        assert_eq!(schedule.take_due(t(200)).len(), 2);
        schedule.finished("Shop", &CheckOutcome::up("ok"), t(200), 4);
        schedule.finished("Pay", &CheckOutcome::up("ok"), t(200), 4);
        assert_eq!(
            schedule.take_due(t(260)).len(),
            1,
            "Pay is critical: due after its 1 minute"
        );
        assert_eq!(schedule.take_due(t(320)).len(), 1, "Shop: 4 × 30 s");
    }

    #[test]
    fn reconfiguring_keeps_unchanged_services_and_their_state() {
        let mut schedule = ServiceSchedule::new(&two(), t(0));
        schedule.take_due(t(60));
        schedule.finished("Pay", &down(), t(60), 1);
        let mut changed = two();
        changed[0].common.interval = crate::units::Duration::from_secs(10);
        changed.push(
            specs("[[service]]\nname = \"New\"\ntype = \"tcp\"\nhost = \"h\"\nport = 3\n")
                .remove(0),
        );
        schedule.reconfigure(&changed[1..], t(61));
        assert_eq!(schedule.len(), 2);
        let added = schedule.take_due(t(61));
        assert_eq!(added.len(), 1, "a service just added is checked at once");
        assert_eq!(added[0].common.name, "New");
        assert!(schedule.first_round_pending());
        let pay = schedule.finished("Pay", &down(), t(62), 1).unwrap();
        assert_eq!(
            pay.verdict,
            Verdict::Steady(State::Down),
            "Pay kept its confirmed state"
        );
        assert!(
            schedule.finished("Shop", &down(), t(62), 1).is_none(),
            "Shop was removed"
        );
        assert!(!schedule.is_empty());
    }

    #[test]
    fn a_check_that_never_reports_back_is_overdue_after_its_deadline_and_runs_again() {
        let mut schedule = ServiceSchedule::new(&two(), t(0));
        assert_eq!(schedule.take_due(t(60)).len(), 2);
        schedule.finished("Pay", &CheckOutcome::up("ok"), t(61), 1);
        // Shop's run never reports back (its task died). Its timeout is 10 s.
        let deadline = t(60) + SignedDuration::from_secs(10) + REPORT_MARGIN;
        assert_eq!(
            schedule.overdue(deadline - SignedDuration::from_secs(1)),
            []
        );
        assert_eq!(
            schedule.next_deadline(),
            Some(deadline),
            "the agent wakes to notice"
        );
        let late = schedule.overdue(deadline);
        assert_eq!(
            late,
            [Overdue {
                name: "Shop".to_owned(),
                started: t(60),
                deadline
            }]
        );
        assert!(
            schedule
                .take_due(deadline)
                .iter()
                .all(|s| s.common.name != "Shop"),
            "an overdue run is not started twice on its own"
        );
        schedule.lost("Shop", deadline);
        assert_eq!(schedule.overdue(deadline), []);
        let again = schedule.take_due(deadline);
        assert!(
            again.iter().any(|s| s.common.name == "Shop"),
            "Shop runs again"
        );
        let after = schedule
            .finished("Shop", &CheckOutcome::up("ok"), deadline, 1)
            .unwrap();
        assert_eq!(
            after.verdict,
            Verdict::Changed {
                from: None,
                to: State::Up
            },
            "the lost run counted for nothing"
        );
    }
}
