//! The runtime of `keepwatch run`: collects each metric family on its
//! interval, writes to the store, throttles itself on a busy host, keeps the
//! store within its budget, and takes config changes without restarting.
//!
//! [`Agent`] holds the logic and is driven by [`Agent::tick`] with the time
//! from its clock, so tests walk it through days with a simulated clock;
//! [`run`] is the thin async loop around it that sleeps, listens for signals
//! and watches the config file.

mod instance;
mod runtime;
mod schedule;
mod services;
mod unrecorded;

pub use instance::{InstanceLock, LockError, claim};
pub use runtime::{Hangup, RunOptions, Shutdown, run};
pub use schedule::Schedule;
pub use services::{Finished, ServiceSchedule};

use std::collections::HashSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::alert::engine::{Alerter, Problem, service_fingerprint};
use crate::alert::{AlertEvent, Evaluator};
use crate::calendar::Calendar;
use crate::checks::{CheckOutcome, ServiceSpec, Verdict};
use crate::clock::Clock;
use crate::collect::{CollectError, Detail, Family, HostLoad, MetricsSource, Throttle};
use crate::config::Config;
use crate::observation::{Sample, SeriesKey};
use crate::printable;
use crate::store::{
    BufferedWriter, HealthChange, IncidentChange, Recovery, ServiceStatus, StorageHealth, Store,
};
use crate::vocabulary::{FailureKind, Severity, State, metric, state_key};
use unrecorded::{Decision, OwnedProblem, Unrecorded};

/// How often the store is compacted and trimmed when the host is calm.
const MAINTENANCE_EVERY: SignedDuration = SignedDuration::from_mins(10);
/// How often, at most, a tick that collected nothing records that the agent is alive.
const STATE_WRITE_EVERY: SignedDuration = SignedDuration::from_secs(5);
/// Alerting looks at least this often, for what changed outside the agent
/// (a maintenance window ended early from the command line).
const ALERTS_LOOK_EVERY: SignedDuration = SignedDuration::from_secs(60);

/// What [`Agent::tick`] leaves for the runtime to do.
#[derive(Debug)]
pub struct Tick {
    /// When the agent next has something to do.
    pub wake: Timestamp,
    /// Service checks to start now; report each with [`Agent::check_finished`].
    pub checks: Vec<Arc<ServiceSpec>>,
}

/// One monitored host: its schedule, its source of metrics and its store.
pub struct Agent {
    config: Config,
    host: String,
    pub(crate) clock: Arc<dyn Clock>,
    source: Box<dyn MetricsSource>,
    writer: BufferedWriter,
    throttle: Throttle,
    schedule: Schedule,
    services: ServiceSchedule,
    check_samples: Vec<Sample>,
    evaluator: Evaluator,
    alerter: Alerter,
    /// Messages put in the outbox since the runtime last asked.
    queued: usize,
    /// When alerting next has something due, and whether an alert opened or
    /// ended since it last looked: between the two it need not look.
    alerts_due: Timestamp,
    alerts_changed: bool,
    /// When the agent last recorded that it is alive.
    last_state_write: Option<Timestamp>,
    calendar: Option<Calendar>,
    told: HashSet<String>,
    last_cpu: Option<f64>,
    last_load: Option<f64>,
    next_maintenance: Timestamp,
    /// When the admin was last told that checks could not be run (this
    /// computer out of resources), so a long shortage is one warning per
    /// [`NOT_RUN_WARNING_EVERY`], not one per check.
    last_not_run_warning: Option<Timestamp>,
    /// Alert decisions the store could not take yet (a full disk).
    unrecorded: Unrecorded,
}

/// How often a shortage that keeps checks from running is reported again.
const NOT_RUN_WARNING_EVERY: SignedDuration = SignedDuration::from_mins(15);

impl Agent {
    /// An agent for `host`, everything due at once.
    pub fn new(
        config: Config,
        host: String,
        clock: Arc<dyn Clock>,
        source: Box<dyn MetricsSource>,
        store: Store,
    ) -> Self {
        let now = clock.now();
        let mut agent = Self {
            throttle: Throttle::new(&config.throttle),
            schedule: Schedule::new(&config.collect, now),
            services: ServiceSchedule::new(&config.services, now),
            check_samples: Vec::new(),
            evaluator: Evaluator::new(&config.rules),
            alerter: config.alerter(),
            queued: 0,
            alerts_due: now,
            alerts_changed: false,
            last_state_write: None,
            calendar: calendar_of(&config),
            writer: BufferedWriter::new(store),
            config,
            host,
            clock,
            source,
            told: HashSet::new(),
            last_cpu: None,
            last_load: None,
            next_maintenance: now.saturating_add(MAINTENANCE_EVERY).unwrap_or(now),
            last_not_run_warning: None,
            unrecorded: Unrecorded::default(),
        };
        agent.note_started(now);
        agent
    }

    fn note_started(&mut self, now: Timestamp) {
        let store = self.writer.store_mut();
        let results = [
            store.remove_state(state_key::STOPPED_AT),
            store.set_state(state_key::LAST_SEEN, &now.to_string()),
            store.set_state(state_key::THROTTLE, "normal intervals"),
            store.record_event(
                now,
                "started",
                &format!("keepwatch started, watching {}", self.host),
            ),
        ];
        for result in results {
            if let Err(err) = result {
                tracing::warn!("could not record the start in the store: {err}");
            }
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store, for reading what was recorded.
    pub fn store(&self) -> &Store {
        self.writer.store()
    }

    /// How many times the configured intervals are stretched right now.
    pub fn stretch(&self) -> u32 {
        self.throttle.stretch()
    }

    /// Does everything that is due now; returns the checks to start and when
    /// something is next due.
    pub fn tick(&mut self) -> Tick {
        let now = self.clock.now();
        let checks = self.services.take_due(now);
        let due = self.schedule.due(now);
        let collected = !due.is_empty();
        if collected {
            let detail = if self.throttle.skips_optional_work() || !self.config.collect.per_core {
                Detail::Essential
            } else {
                Detail::Full
            };
            let mut samples = Vec::new();
            for family in &due {
                samples.extend(self.collect(*family, detail, now));
            }
            self.evaluate_rules(&samples, now);
            let change = self.writer.push(&samples);
            self.report_health(change, now);
            self.evaluate_throttle(now);
            for family in due {
                self.schedule
                    .ran(family, now, &self.config.collect, self.throttle.stretch());
            }
        }
        self.flush(now);
        self.retry_unrecorded();
        let alerts_next = self.tend_alerts(now);
        if now >= self.next_maintenance {
            self.maintain(now);
        }
        let wake = [
            self.schedule.next_due(),
            self.services.next_due(),
            alerts_next.map(|at| at.max(now)),
        ]
        .into_iter()
        .flatten()
        .fold(self.next_maintenance, Timestamp::min);
        // A tick for a single check need not be recorded: `status` allows
        // much more than these few seconds of lateness.
        let recent = self
            .last_state_write
            .is_some_and(|at| now.duration_since(at) < STATE_WRITE_EVERY);
        if collected || !recent {
            self.last_state_write = Some(now);
            let (last_seen, next_by) = (now.to_string(), wake.to_string());
            let times = [
                (state_key::LAST_SEEN, last_seen.as_str()),
                (state_key::NEXT_BY, next_by.as_str()),
            ];
            if let Err(err) = self.writer.store_mut().set_states(&times) {
                tracing::debug!(
                    "could not record when keepwatch last measured and measures next: {err}"
                );
            }
        }
        Tick { wake, checks }
    }

    /// Takes the outcome of a service check started by [`tick`](Self::tick):
    /// its samples wait for [`save_check_results`](Self::save_check_results);
    /// a confirmed change of state opens or closes an incident at once.
    pub fn check_finished(&mut self, name: &str, mut outcome: CheckOutcome) {
        let now = self.clock.now();
        if !outcome.was_run() {
            self.services.not_run(name, now);
            self.warn_not_run(&outcome.explanation, now);
            return;
        }
        if outcome.kind == Some(FailureKind::Slow)
            && let Some(usual) = self.usual_response_time(name, now)
        {
            outcome.explanation = format!(
                "{} It usually answers in {}.",
                outcome.explanation,
                crate::checks::wording::duration(usual)
            );
        }
        let Some(finished) = self
            .services
            .finished(name, &outcome, now, self.throttle.stretch())
        else {
            return;
        };
        let key = |metric: &str| SeriesKey::new(self.host.clone(), metric, name);
        self.check_samples.push(Sample {
            key: key(crate::vocabulary::service_metric::STATE),
            at: now,
            value: f64::from(outcome.state.severity()),
        });
        if let Some(took) = outcome.response_time {
            self.check_samples.push(Sample {
                key: key(crate::vocabulary::service_metric::RESPONSE_MS),
                at: now,
                value: took.as_secs_f64() * 1000.0,
            });
        }
        if let Some(expires) = outcome.certificate_expires {
            self.check_samples.push(Sample {
                key: key(crate::vocabulary::service_metric::CERTIFICATE_EXPIRES),
                at: now,
                value: expires.as_second() as f64,
            });
        }
        match finished.verdict {
            Verdict::Changed { from, to } => self.service_changed(name, from, to, &outcome, now),
            Verdict::RetryNow => {
                tracing::debug!("{}; checking again at once to confirm", outcome.explanation)
            }
            Verdict::Pending { streak, needed, .. } => {
                tracing::info!(
                    "{} (seen {streak} of {needed} times needed to confirm)",
                    outcome.explanation
                );
            }
            Verdict::Steady(_) => {}
        }
        let status = ServiceStatus {
            name: name.to_owned(),
            state: finished.state,
            kind: outcome.kind,
            explanation: outcome.explanation,
            since: finished.since,
            checked_at: now,
            response_ms: outcome
                .response_time
                .map(|took| took.as_secs_f64() * 1000.0),
        };
        if let Err(err) = self.writer.store_mut().save_service_status(&status) {
            tracing::warn!("could not save the state of {name}: {err}");
        }
    }

    /// Tells the admin (the log and the event history) that a check could not
    /// be run, at most once per [`NOT_RUN_WARNING_EVERY`].
    fn warn_not_run(&mut self, explanation: &str, now: Timestamp) {
        let recently = self
            .last_not_run_warning
            .is_some_and(|at| now.duration_since(at) < NOT_RUN_WARNING_EVERY);
        if recently {
            tracing::debug!("{explanation}");
            return;
        }
        self.last_not_run_warning = Some(now);
        tracing::warn!("{explanation} (said at most every 15 minutes while it lasts)");
        self.event(now, "keepwatch", explanation);
    }

    /// The median response time of `name` over the last day, for saying how
    /// unusual a slow answer is; `None` without enough history.
    fn usual_response_time(&self, name: &str, now: Timestamp) -> Option<std::time::Duration> {
        let key = SeriesKey::new(
            self.host.clone(),
            crate::vocabulary::service_metric::RESPONSE_MS,
            name,
        );
        let from = now
            .saturating_sub(SignedDuration::from_hours(24))
            .unwrap_or(now);
        let mut times: Vec<f64> = self
            .store()
            .range(&key, from, now)
            .ok()?
            .into_iter()
            .map(|(_, ms)| ms)
            .collect();
        if times.len() < 5 {
            return None;
        }
        times.sort_by(f64::total_cmp);
        Some(std::time::Duration::from_secs_f64(
            times[times.len() / 2].max(0.0) / 1000.0,
        ))
    }

    fn service_changed(
        &mut self,
        name: &str,
        from: Option<State>,
        to: State,
        outcome: &CheckOutcome,
        now: Timestamp,
    ) {
        let change = self.writer.store_mut().record_transition(
            name,
            now,
            to,
            outcome.kind,
            &outcome.explanation,
        );
        // The first state seen after a start is news only if it is a
        // problem; up, it still ends an alert left open from before.
        let message = match (from, to) {
            (None, State::Up) => None,
            (_, State::Up) => Some(format!("{name} is up again: {}", outcome.explanation)),
            (_, State::Degraded) => Some(format!("{name} is degraded: {}", outcome.explanation)),
            (_, State::Down) => Some(format!("{name} is down: {}", outcome.explanation)),
        };
        if let Some(message) = message {
            match change {
                Ok(IncidentChange::Opened(id) | IncidentChange::Worsened(id)) => {
                    tracing::warn!("{message} (incident {id})")
                }
                Ok(IncidentChange::Closed(id)) => {
                    tracing::info!("{message} (incident {id} closed)")
                }
                Ok(IncidentChange::None) => tracing::info!("{message}"),
                Err(err) => tracing::warn!("{message} (could not record the incident: {err})"),
            }
            self.event(now, "service", &message);
        }
        let fingerprint = service_fingerprint(name);
        let decision = match to {
            State::Up => Decision::Clear {
                fingerprint,
                at: now,
            },
            State::Degraded | State::Down => {
                // The title is what people read; the fingerprint keeps the name whole.
                let shown = printable::name(name);
                let (title, severity) = match to {
                    State::Down => (format!("{shown} is down"), Severity::Critical),
                    _ => (format!("{shown} is degraded"), Severity::Warning),
                };
                let problem = Problem {
                    fingerprint: &fingerprint,
                    service: Some(name),
                    host: &self.host,
                    title: &title,
                    detail: &outcome.explanation,
                    severity,
                    since: now,
                    emergency: None,
                };
                Decision::Raise(OwnedProblem::of(&problem))
            }
        };
        self.record_alert(decision, &format!("for {name}"), now);
    }

    /// Carries out what alerting has due now (messages, escalation steps,
    /// reminders); returns when it next has something due.
    fn tend_alerts(&mut self, now: Timestamp) -> Option<Timestamp> {
        if !self.alerts_changed && now < self.alerts_due {
            return Some(self.alerts_due);
        }
        let look_again = now.saturating_add(ALERTS_LOOK_EVERY).unwrap_or(now);
        self.alerts_changed = false;
        self.alerts_due = look_again;
        match self
            .alerter
            .tend(self.writer.store_mut(), self.calendar.as_ref(), now)
        {
            Ok(tended) => {
                self.queued += tended.queued;
                self.alerts_due = tended.next.map_or(look_again, |at| at.min(look_again));
            }
            Err(err) => {
                tracing::error!("alerting could not read or update the store, will retry: {err}");
            }
        }
        Some(self.alerts_due)
    }

    /// How many messages went into the outbox since the last call: the
    /// runtime wakes the sender when there are any.
    pub fn take_queued(&mut self) -> usize {
        std::mem::take(&mut self.queued)
    }

    /// Writes the samples of the checks finished since the last call, in one transaction.
    pub fn save_check_results(&mut self) {
        if self.check_samples.is_empty() {
            return;
        }
        let samples = std::mem::take(&mut self.check_samples);
        let now = self.clock.now();
        self.evaluate_rules(&samples, now);
        let change = self.writer.push(&samples);
        self.report_health(change, now);
        self.tend_alerts(now);
    }

    /// Feeds new samples to the alert rules, with business hours from the calendar.
    fn evaluate_rules(&mut self, samples: &[Sample], now: Timestamp) {
        if self.config.rules.is_empty() {
            return;
        }
        let business_hours = self
            .calendar
            .as_ref()
            .is_none_or(|c| c.period_at(now).is_open());
        for sample in samples {
            for event in self.evaluator.observe(sample, business_hours) {
                self.alert(&event, now);
            }
        }
    }

    /// Turns a rule's event into an alert (opened, worse or resolved), and
    /// logs and records it for `status`.
    fn alert(&mut self, event: &AlertEvent, now: Timestamp) {
        let (rule, key, severity, value, verb) = match event {
            AlertEvent::Opened {
                rule,
                key,
                severity,
                value,
                ..
            } => (rule, key, *severity, value, "opened"),
            AlertEvent::Escalated {
                rule,
                key,
                severity,
                value,
                ..
            } => (rule, key, *severity, value, "escalated"),
            AlertEvent::Resolved {
                rule,
                key,
                severity,
                value,
                ..
            } => (rule, key, *severity, value, "resolved"),
        };
        let what = if key.instance.is_empty() {
            format!("{} on {}", key.metric, key.host)
        } else {
            format!("{} of {} on {}", key.metric, key.instance, key.host)
        };
        let level = format!("{severity:?}").to_lowercase();
        let message = format!("Alert \"{rule}\" {verb}: {what} is {value:.1} ({level})");
        let fingerprint = format!("rule:{rule}:{}:{}:{}", key.host, key.metric, key.instance);
        let service = key
            .metric
            .starts_with("service.")
            .then_some(key.instance.as_str());
        let time_zone = Calendar::zone_of(self.calendar.as_ref());
        let decision = match event {
            AlertEvent::Resolved { at, .. } => {
                tracing::info!("{message}");
                Decision::Clear {
                    fingerprint,
                    at: *at,
                }
            }
            AlertEvent::Opened { since, .. } | AlertEvent::Escalated { since, .. } => {
                tracing::warn!("{message}");
                let title = format!("{rule}: {what} is {value:.1}");
                let detail = format!(
                    "The rule \"{rule}\" is above its {level} threshold (since {}).",
                    since.to_zoned_datetime(time_zone).strftime("%H:%M")
                );
                let problem = Problem {
                    fingerprint: &fingerprint,
                    service,
                    host: &key.host,
                    title: &title,
                    detail: &detail,
                    severity,
                    since: *since,
                    emergency: self
                        .config
                        .rules
                        .iter()
                        .find(|r| r.name == *rule)
                        .and_then(|r| r.emergency),
                };
                Decision::Raise(OwnedProblem::of(&problem))
            }
        };
        self.record_alert(decision, &format!("\"{rule}\""), now);
        self.event(now, "alert", &message);
    }

    fn collect(
        &mut self,
        family: Family,
        detail: Detail,
        now: Timestamp,
    ) -> Vec<crate::observation::Sample> {
        match self.source.collect(family, detail) {
            Ok(readings) => {
                for reading in &readings {
                    match reading.metric {
                        metric::CPU_USAGE_PERCENT => self.last_cpu = Some(reading.value),
                        metric::LOAD_1 => self.last_load = Some(reading.value),
                        _ => {}
                    }
                }
                readings
                    .iter()
                    .map(|r| r.to_sample(&self.host, now))
                    .collect()
            }
            Err(err) => {
                if matches!(err, CollectError::Unsupported { .. }) {
                    self.schedule.drop_family(family);
                }
                let message = err.to_string();
                if self.told.insert(message.clone()) {
                    tracing::warn!("{message}");
                    self.event(now, "collect", &message);
                }
                Vec::new()
            }
        }
    }

    fn evaluate_throttle(&mut self, now: Timestamp) {
        let cores = self.source.cpu_count().max(1) as f64;
        let load = HostLoad {
            cpu_percent: self.last_cpu,
            load_per_core: self.last_load.map(|load| load / cores),
            own_cpu_percent: self.source.own_cpu_percent(),
        };
        if let Some(change) = self.throttle.observe(load, now) {
            let message = change.to_string();
            tracing::warn!("{message}");
            self.event(now, "throttle", &message);
            let state = match self.throttle.stretch() {
                1 => "normal intervals".to_owned(),
                n => format!("host busy, measuring {n}× less often"),
            };
            if let Err(err) = self
                .writer
                .store_mut()
                .set_state(state_key::THROTTLE, &state)
            {
                tracing::debug!("could not record the throttling state: {err}");
            }
        }
    }

    fn flush(&mut self, now: Timestamp) {
        let change = self.writer.flush();
        self.report_health(change, now);
    }

    /// Logs a change of storage health once, and records it for `status`.
    fn report_health(&mut self, change: Option<HealthChange>, now: Timestamp) {
        let Some(change) = change else { return };
        match change.health {
            StorageHealth::Healthy => tracing::info!("{change}"),
            StorageHealth::Degraded { .. } => tracing::error!("{change}"),
        }
        self.event(now, "storage", &change.to_string());
    }

    fn maintain(&mut self, now: Timestamp) {
        let every = MAINTENANCE_EVERY * i32::try_from(self.throttle.stretch()).unwrap_or(1);
        self.next_maintenance = now.saturating_add(every).unwrap_or(now);
        match self.writer.store_mut().maintain(now) {
            Ok(report) => tracing::debug!("storage maintenance: {report:?}"),
            Err(err) => tracing::warn!("storage maintenance failed, will retry: {err}"),
        }
    }

    /// Puts a new config in force: intervals, throttling and storage limits
    /// change at once; the host name and data folder need a restart.
    pub fn apply(&mut self, config: Config) {
        let now = self.clock.now();
        if config.agent != self.config.agent {
            tracing::warn!(
                "changes to [agent] (name, data_dir) take effect when keepwatch restarts"
            );
        }
        self.schedule.reconfigure(&config.collect, now);
        self.services.reconfigure(&config.services, now);
        if config.rules != self.config.rules {
            self.evaluator = Evaluator::new(&config.rules);
        }
        self.alerter = config.alerter();
        self.alerts_changed = true;
        self.calendar = calendar_of(&config);
        self.throttle.update_config(&config.throttle);
        self.writer.store_mut().update_config(&config.storage);
        self.config = config;
        self.event(now, "config", "configuration reloaded");
    }

    /// Tells the admin, through the log, the event history and an alert on
    /// the channels, that the database was damaged and replaced, and what
    /// was saved and lost. The alert stays open until acknowledged.
    pub fn database_recovered(&mut self, recovery: &Recovery) {
        let now = self.clock.now();
        let summary = recovery.summary();
        tracing::error!("{summary}");
        self.event(now, "storage", &summary);
        let fingerprint = format!("keepwatch:database-replaced:{}", now.as_millisecond());
        let problem = Problem {
            fingerprint: &fingerprint,
            service: None,
            host: &self.host,
            title: "keepwatch's database was damaged and has been replaced",
            detail: &summary,
            severity: Severity::Critical,
            since: now,
            emergency: None,
        };
        let decision = Decision::Raise(OwnedProblem::of(&problem));
        self.record_alert(decision, "about the damaged database", now);
    }

    /// Records an alert decision; one the store cannot take yet (a full
    /// disk) waits and is retried at every tick, never forgotten.
    fn record_alert(&mut self, decision: Decision, what: &str, now: Timestamp) {
        self.alerts_changed = true;
        let store = self.writer.store_mut();
        if let Err(err) =
            self.unrecorded
                .record(&self.alerter, store, self.calendar.as_ref(), decision, now)
        {
            tracing::error!(
                "could not record the alert {what} yet ({err}); it is kept and tried again until it is ({} waiting)",
                self.unrecorded.len()
            );
        }
    }

    /// Records the alert decisions that waited for the store, if it takes them now.
    fn retry_unrecorded(&mut self) {
        if self.unrecorded.is_empty() {
            return;
        }
        let store = self.writer.store_mut();
        match self
            .unrecorded
            .retry(&self.alerter, store, self.calendar.as_ref())
        {
            Ok(done) => {
                tracing::info!("recorded {done} alert decision(s) that had waited for the store");
                self.alerts_changed = true;
            }
            Err(err) => {
                tracing::debug!("alert decisions still waiting for the store: {err}");
                self.alerts_changed = true;
            }
        }
    }

    /// Records something notable for `status`; failures to do so are only logged.
    pub fn event(&mut self, now: Timestamp, kind: &str, message: &str) {
        if let Err(err) = self.writer.store_mut().record_event(now, kind, message) {
            tracing::debug!("could not record event {kind}: {err}");
        }
    }

    /// Saves everything still in memory and records a clean stop.
    pub fn shutdown(&mut self) {
        let now = self.clock.now();
        self.save_check_results();
        self.flush(now);
        let pending = self.writer.buffered();
        if pending > 0 {
            tracing::error!(
                "{pending} measurements could not be saved before stopping (storage unavailable)"
            );
        }
        self.event(now, "stopped", "keepwatch stopped");
        if let Err(err) = self
            .writer
            .store_mut()
            .set_state(state_key::STOPPED_AT, &now.to_string())
        {
            tracing::warn!("could not record the clean stop: {err}");
        }
    }
}

#[cfg(test)]
mod tests;

/// The business calendar of `config`; `None` (every hour counts as business
/// hours) only if it cannot be built, which validation rules out.
fn calendar_of(config: &Config) -> Option<Calendar> {
    Calendar::from_config(&config.business, jiff::tz::TimeZone::system())
        .map_err(|err| {
            tracing::warn!("business hours unusable, treating every hour as open: {err}")
        })
        .ok()
}
