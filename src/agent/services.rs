//! When each service is next checked, and what a finished check means for its
//! confirmed state. Pure: the runtime runs the checks and reports back.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::checks::{CheckOutcome, Confirmer, Finished, ServiceSpec, Verdict};

#[derive(Debug)]
struct Entry {
    spec: Arc<ServiceSpec>,
    next: Timestamp,
    running: bool,
    confirmer: Confirmer,
    since: Option<Timestamp>,
}

impl Entry {
    fn new(spec: ServiceSpec, now: Timestamp) -> Self {
        let confirmer = Confirmer::new(spec.common.retries, spec.common.confirm_after);
        Self {
            next: now.saturating_add(spread(&spec)).unwrap_or(now),
            spec: Arc::new(spec),
            running: false,
            confirmer,
            since: None,
        }
    }
}

/// Where in its interval a service's first check falls: derived from its
/// name, so 1,000 services at 30 s run ~33 a second instead of all at once,
/// and the same service keeps the same slot across restarts.
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

/// Every configured service's schedule and confirmation state.
#[derive(Debug, Default)]
pub struct ServiceSchedule {
    entries: Vec<Entry>,
}

impl ServiceSchedule {
    /// The services of the config, each first due at its slot in its interval.
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
            .filter(|e| !e.running && e.next <= now)
            .map(|e| {
                e.running = true;
                e.spec.clone()
            })
            .collect()
    }

    /// The earliest time a check that is not running is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.entries
            .iter()
            .filter(|e| !e.running)
            .map(|e| e.next)
            .min()
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
        entry.running = false;
        let verdict = entry.confirmer.observe(outcome.state);
        let critical = entry.spec.common.critical;
        let factor = if critical {
            1
        } else {
            i32::try_from(stretch.max(1)).unwrap_or(1)
        };
        entry.next = match verdict {
            Verdict::RetryNow => now,
            _ => now
                .saturating_add(entry.spec.common.interval.signed() * factor)
                .unwrap_or(now),
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
            entry.running = false;
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
    use crate::vocabulary::{FailureKind, State};

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
    fn first_runs_are_spread_over_the_interval_and_stable() {
        let many: Vec<ServiceSpec> = (0..100)
            .map(|i| {
                specs(&format!(
                    "[[service]]\nname = \"s{i}\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\n"
                ))
                .remove(0)
            })
            .collect();
        let mut schedule = ServiceSchedule::new(&many, t(0));
        let first_second = schedule.take_due(t(1)).len();
        assert!(
            first_second < 15,
            "{first_second} of 100 checks due in the first second of 30"
        );
        assert_eq!(schedule.take_due(t(30)).len(), 100 - first_second);
        assert_eq!(spread(&many[7]), spread(&many[7].clone()));
    }

    #[test]
    fn a_running_check_is_not_started_twice_and_runs_again_an_interval_later() {
        let mut schedule = ServiceSchedule::new(&two(), t(0));
        assert_eq!(schedule.take_due(t(60)).len(), 2);
        assert!(schedule.take_due(t(120)).is_empty(), "both still running");
        assert_eq!(schedule.next_due(), None);
        let done = schedule
            .finished("Shop", &CheckOutcome::up("ok"), t(61), 1)
            .unwrap();
        assert_eq!(
            done.verdict,
            Verdict::Changed {
                from: None,
                to: State::Up
            }
        );
        assert_eq!(schedule.next_due(), Some(t(91)));
        assert!(
            schedule
                .finished("Gone", &CheckOutcome::up("ok"), t(61), 1)
                .is_none()
        );
    }

    #[test]
    fn a_failure_is_retried_at_once_before_the_state_changes() {
        let mut schedule = ServiceSchedule::new(&two(), t(0));
        schedule.take_due(t(60));
        schedule.finished("Shop", &CheckOutcome::up("ok"), t(60), 1);
        schedule.take_due(t(90));
        let first = schedule.finished("Shop", &down(), t(90), 1).unwrap();
        assert_eq!(first.verdict, Verdict::RetryNow);
        assert_eq!(first.state, State::Up);
        assert_eq!(first.since, t(60));
        assert_eq!(
            schedule.take_due(t(90)).len(),
            1,
            "the retry is due at once"
        );
        let second = schedule.finished("Shop", &down(), t(91), 1).unwrap();
        assert_eq!(
            second.verdict,
            Verdict::Changed {
                from: Some(State::Up),
                to: State::Down
            }
        );
        assert_eq!((second.state, second.since), (State::Down, t(91)));
    }

    #[test]
    fn a_busy_host_stretches_only_services_that_are_not_critical() {
        let mut schedule = ServiceSchedule::new(&two(), t(0));
        schedule.take_due(t(60));
        schedule.finished("Shop", &CheckOutcome::up("ok"), t(60), 4);
        schedule.finished("Pay", &CheckOutcome::up("ok"), t(60), 4);
        assert_eq!(
            schedule.take_due(t(120)).len(),
            1,
            "Pay is critical: due after its 1 minute"
        );
        assert_eq!(schedule.take_due(t(180)).len(), 1, "Shop: 4 × 30 s");
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
}
