//! The runtime of `keepwatch run`: collects each metric family on its
//! interval, writes to the store, throttles itself on a busy host, keeps the
//! store within its budget, and takes config changes without restarting.
//!
//! [`Agent`] holds the logic and is driven by [`Agent::tick`] with the time
//! from its clock, so tests walk it through days with a simulated clock;
//! [`run`] is the thin async loop around it that sleeps, listens for signals
//! and watches the config file. What is collected and checked goes to the
//! [`crate::pipeline::Pipeline`]. Besides what is due to run, the service
//! schedule answers what is overdue: a check started and never reported back
//! by its deadline is reported and started again. Once a day the database
//! is checked for damage off the hot path ([`integrity`]).

mod heartbeats;
mod hub;
mod instance;
pub mod integrity;
mod runtime;
mod schedule;
mod services;
mod summary;
pub mod uplink;

pub use heartbeats::Heartbeats;
pub use hub::Delivery;
pub use instance::{InstanceLock, LockError, claim};
pub use runtime::{Ended, Hangup, RunOptions, Shutdown, new_runtime, run};
pub use schedule::Schedule;
pub use services::ServiceSchedule;
pub use summary::{Whereabouts, start_summary};

use std::collections::HashSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::calendar::Calendar;
use crate::checks::{CheckOutcome, ServiceSpec};
use crate::clock::Clock;
use crate::collect::{CollectError, Detail, Family, HostLoad, MetricsSource, Throttle};
use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::store::{Recovery, Store};
use crate::vocabulary::{State, metric, state_key};

/// How often the store is compacted and trimmed when the host is calm.
const MAINTENANCE_EVERY: SignedDuration = SignedDuration::from_mins(10);

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
    /// Where what is collected and checked goes: the store, the rules, alerting.
    pub(crate) pipeline: Pipeline,
    throttle: Throttle,
    schedule: Schedule,
    services: ServiceSchedule,
    /// The heartbeats among the services: judged from their pings.
    heartbeats: Heartbeats,
    /// The business time zone, in which heartbeat schedules are read.
    zone: jiff::tz::TimeZone,
    told: HashSet<String>,
    last_cpu: Option<f64>,
    last_load: Option<f64>,
    next_maintenance: Timestamp,
    /// When the admin was last told that checks could not be run (this
    /// computer out of resources), so a long shortage is one warning per
    /// [`NOT_RUN_WARNING_EVERY`], not one per check.
    last_not_run_warning: Option<Timestamp>,
    /// A first round of checks (at start, or of services just added) is
    /// under way: keepwatch's own CPU is not judged during it, and measured
    /// afresh once it is done (`MetricsSource::restart_own_cpu`).
    first_round: bool,
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
        let calendar = calendar_of(&config);
        let mut agent = Self {
            throttle: Throttle::new(&config.throttle),
            schedule: Schedule::new(&config.collect, now),
            services: ServiceSchedule::new(&config.services, now),
            pipeline: Pipeline::new(
                host.clone(),
                store,
                &config.rules,
                config.alerter(),
                calendar.clone(),
                now,
            ),
            heartbeats: Heartbeats::default(),
            zone: Calendar::zone_of(calendar.as_ref()),
            config,
            host,
            clock,
            source,
            told: HashSet::new(),
            last_cpu: None,
            last_load: None,
            next_maintenance: now.saturating_add(MAINTENANCE_EVERY).unwrap_or(now),
            last_not_run_warning: None,
            first_round: false,
        };
        agent.first_round = agent.services.first_round_pending();
        let agent_of_a_hub = agent.config.hub.is_set();
        agent.pipeline.write_as_measured(agent_of_a_hub);
        agent.note_started(now);
        agent.heartbeats = Heartbeats::new(&agent.config.services, agent.pipeline.store_mut(), now);
        agent
    }

    fn note_started(&mut self, now: Timestamp) {
        let store = self.pipeline.store_mut();
        let results = [
            store.remove_state(state_key::STOPPED_AT),
            store.set_state(state_key::LAST_SEEN, &now.to_string()),
            store.set_state(state_key::THROTTLE, "normal intervals"),
            store.set_state(state_key::VERSION, env!("CARGO_PKG_VERSION")),
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
        self.pipeline.store()
    }

    /// The messages held in memory while the database cannot be written,
    /// for the sender.
    pub fn held(&self) -> crate::notify::Held {
        self.pipeline.held()
    }

    /// How many times the configured intervals are stretched right now.
    pub fn stretch(&self) -> u32 {
        self.throttle.stretch()
    }

    /// Does everything that is due now; returns the checks to start and when
    /// something is next due.
    pub fn tick(&mut self) -> Tick {
        let now = self.clock.now();
        self.give_up_on_lost_checks(now);
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
            self.pipeline.ingest(&samples, now);
            self.evaluate_throttle(now);
            for family in due {
                self.schedule
                    .ran(family, now, &self.config.collect, self.throttle.stretch());
            }
        }
        self.judge_heartbeats(now);
        let silent_after = self.config.hub.silent_after;
        let agents_next = if silent_after.is_off() {
            None
        } else {
            self.pipeline.watch_agents(silent_after.signed(), now)
        };
        self.pipeline.write_if_due(now);
        self.pipeline.settle();
        let alerts_next = self.pipeline.tend(now).max(now);
        if now >= self.next_maintenance {
            self.maintain(now);
        }
        let wake = [
            self.schedule.next_due(),
            self.services.next_due(),
            self.services.next_deadline(),
            self.heartbeats.next_look(),
            agents_next,
            Some(alerts_next),
            Some(self.pipeline.next_write()),
        ]
        .into_iter()
        .flatten()
        .fold(self.next_maintenance, Timestamp::min);
        Tick { wake, checks }
    }

    /// Takes the outcome of a service check started by [`tick`](Self::tick):
    /// its samples wait for [`save_check_results`](Self::save_check_results);
    /// a confirmed change of state opens or closes an incident at once.
    pub fn check_finished(&mut self, name: &str, outcome: CheckOutcome) {
        let now = self.clock.now();
        if !outcome.was_run() {
            self.services.not_run(name, now);
            self.warn_not_run(&outcome.explanation, now);
            return;
        }
        let Some(finished) = self
            .services
            .finished(name, &outcome, now, self.throttle.stretch())
        else {
            return;
        };
        self.pipeline.service_result(name, outcome, &finished, now);
        self.end_of_first_round();
    }

    /// Once every service has had its first check, keepwatch's own CPU is
    /// measured from then on: the round's burst (1,000 services at once cost
    /// about a quarter of a second of CPU) is a one-off, not a reason to
    /// throttle.
    fn end_of_first_round(&mut self) {
        if self.first_round && !self.services.first_round_pending() {
            self.first_round = false;
            self.source.restart_own_cpu();
            tracing::info!("{}", first_round_told(&self.services.states()));
        }
    }

    /// Takes the heartbeat pings that arrived (from the API, `keepwatch ping`)
    /// and judges the heartbeats that got one or reached a deadline; their
    /// outcomes go the way a check's do.
    fn judge_heartbeats(&mut self, now: Timestamp) {
        let judged = self.heartbeats.look(self.pipeline.store(), now, &self.zone);
        if judged.is_empty() {
            return;
        }
        for (name, outcome) in judged {
            if let Some(finished) = self.services.finished(&name, &outcome, now, 1) {
                self.pipeline.service_result(&name, outcome, &finished, now);
            }
        }
        self.pipeline.write_results(now);
    }

    /// Starts again the checks that were started and never reported back
    /// (the task running one panicked), telling the admin: without this, such a
    /// service would never be checked again and its last state would stand.
    fn give_up_on_lost_checks(&mut self, now: Timestamp) {
        for late in self.services.overdue(now) {
            self.services.lost(&late.name, now);
            let waited = now.duration_since(late.started).as_secs_f64().max(0.0);
            let message = format!(
                "The check of {} started {} ago never reported back; keepwatch has started it again. If this happens again, please report it: it is a fault in keepwatch.",
                crate::printable::name(&late.name),
                crate::plain::duration(waited)
            );
            tracing::error!("{message}");
            self.event(now, "keepwatch", &message);
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

    /// How many messages went into the outbox since the last call: the
    /// runtime wakes the sender when there are any.
    pub fn take_queued(&mut self) -> usize {
        self.pipeline.take_queued()
    }

    /// Writes the samples of the checks finished since the last call, in one transaction.
    pub fn save_check_results(&mut self) {
        let now = self.clock.now();
        self.pipeline.write_results(now);
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
            own_cpu_percent: match self.first_round {
                true => None,
                false => self.source.own_cpu_percent(),
            },
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
                .pipeline
                .store_mut()
                .set_state(state_key::THROTTLE, &state)
            {
                tracing::debug!("could not record the throttling state: {err}");
            }
        }
    }

    fn maintain(&mut self, now: Timestamp) {
        let every = MAINTENANCE_EVERY * i32::try_from(self.throttle.stretch()).unwrap_or(1);
        self.next_maintenance = now.saturating_add(every).unwrap_or(now);
        match self.pipeline.store_mut().maintain(now) {
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
        self.first_round |= self.services.first_round_pending();
        let calendar = calendar_of(&config);
        self.zone = Calendar::zone_of(calendar.as_ref());
        self.pipeline
            .reconfigure(&config.rules, config.alerter(), calendar);
        self.pipeline.write_as_measured(config.hub.is_set());
        self.heartbeats
            .reconfigure(&config.services, self.pipeline.store_mut(), now);
        self.throttle.update_config(&config.throttle);
        self.pipeline.store_mut().update_config(&config.storage);
        self.config = config;
        self.event(now, "config", "configuration reloaded");
    }

    /// Tells the admin, through the log, the event history and an alert on
    /// the channels, that the database was damaged and replaced, and what
    /// was saved and lost. The alert stays open until acknowledged.
    pub fn database_recovered(&mut self, recovery: &Recovery) {
        let now = self.clock.now();
        self.pipeline.database_recovered(recovery, now);
    }

    /// Records something notable for `status`; failures to do so are only logged.
    pub fn event(&mut self, now: Timestamp, kind: &str, message: &str) {
        self.pipeline.event(now, kind, message);
    }

    /// Writes everything waiting in memory now, without waiting for
    /// `storage.write_every` (at a stop, or before reading the store in
    /// the same process).
    pub fn write_waiting(&mut self) {
        let now = self.clock.now();
        self.save_check_results();
        self.pipeline.write_waiting(now);
    }

    /// Saves everything still in memory and records a clean stop.
    pub fn shutdown(&mut self) {
        let now = self.clock.now();
        self.write_waiting();
        let pending = self.pipeline.buffered();
        if pending > 0 {
            tracing::error!(
                "{pending} measurements could not be saved before stopping (storage unavailable)"
            );
        }
        self.event(now, "stopped", "keepwatch stopped");
        if let Err(err) = self
            .pipeline
            .store_mut()
            .set_state(state_key::STOPPED_AT, &now.to_string())
        {
            tracing::warn!("could not record the clean stop: {err}");
        }
    }
}

/// The business calendar of `config`; `None` (every hour counts as business
/// hours) only if it cannot be built, which validation rules out.
fn calendar_of(config: &Config) -> Option<Calendar> {
    Calendar::from_config(&config.business, jiff::tz::TimeZone::system())
        .map_err(|err| {
            tracing::warn!("business hours unusable, treating every hour as open: {err}")
        })
        .ok()
}

/// The log line once every service has had its first check: how many are
/// up, and which are not.
fn first_round_told(states: &[(&str, State)]) -> String {
    let named = |wanted: State| {
        let names: Vec<String> = states
            .iter()
            .filter(|(_, state)| *state == wanted)
            .map(|(name, _)| crate::printable::name(name).into_owned())
            .collect();
        match names.len() {
            0 => String::new(),
            _ => format!(" ({})", names.join(", ")),
        }
    };
    let count = |wanted: State| states.iter().filter(|(_, s)| *s == wanted).count();
    let noun = match states.len() {
        1 => "service",
        _ => "services",
    };
    format!(
        "checked {} {noun}: {} up, {} degraded{}, {} down{}",
        states.len(),
        count(State::Up),
        count(State::Degraded),
        named(State::Degraded),
        count(State::Down),
        named(State::Down)
    )
}

#[cfg(test)]
mod tests;
