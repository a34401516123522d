//! The runtime of `keepwatch run`: collects each metric family on its
//! interval, writes to the store, throttles itself on a busy host, keeps the
//! store within its budget, and takes config changes without restarting.
//!
//! [`Agent`] holds the logic and is driven by [`Agent::tick`] with the time
//! from its clock, so tests walk it through days with a simulated clock;
//! [`run`] is the thin async loop around it that sleeps, listens for signals
//! and watches the config file.

mod runtime;
mod schedule;

pub use runtime::{RunOptions, Shutdown, run};
pub use schedule::Schedule;

use std::collections::HashSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::clock::Clock;
use crate::collect::{CollectError, Detail, Family, HostLoad, MetricsSource, Throttle, metric};
use crate::config::Config;
use crate::store::{BufferedWriter, HealthChange, StorageHealth, Store};

/// How often the store is compacted and trimmed when the host is calm.
const MAINTENANCE_EVERY: SignedDuration = SignedDuration::from_mins(10);

/// Keys of the agent's entries in the store's state table, read by `status`.
pub mod state_key {
    /// When the running agent last recorded anything (RFC 3339).
    pub const LAST_SEEN: &str = "last_seen";
    /// When the agent last stopped cleanly; removed while it runs.
    pub const STOPPED_AT: &str = "stopped_at";
    /// The current throttling state, in words.
    pub const THROTTLE: &str = "throttle";
    /// When the running agent expects to record again (RFC 3339), to tell a
    /// running agent from a silent one.
    pub const NEXT_BY: &str = "next_by";
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
    told: HashSet<String>,
    last_cpu: Option<f64>,
    last_load: Option<f64>,
    next_maintenance: Timestamp,
}

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
            writer: BufferedWriter::new(store),
            config,
            host,
            clock,
            source,
            told: HashSet::new(),
            last_cpu: None,
            last_load: None,
            next_maintenance: now.saturating_add(MAINTENANCE_EVERY).unwrap_or(now),
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

    /// Does everything that is due now; returns when something is next due.
    pub fn tick(&mut self) -> Timestamp {
        let now = self.clock.now();
        let due = self.schedule.due(now);
        if !due.is_empty() {
            let detail = if self.throttle.skips_optional_work() || !self.config.collect.per_core {
                Detail::Essential
            } else {
                Detail::Full
            };
            let mut samples = Vec::new();
            for family in &due {
                samples.extend(self.collect(*family, detail, now));
            }
            let change = self.writer.push(&samples);
            self.report_health(change, now);
            self.evaluate_throttle(now);
            for family in due {
                self.schedule
                    .ran(family, now, &self.config.collect, self.throttle.stretch());
            }
        }
        self.flush(now);
        if now >= self.next_maintenance {
            self.maintain(now);
        }
        let wake = self
            .schedule
            .next_due()
            .unwrap_or(self.next_maintenance)
            .min(self.next_maintenance);
        let store = self.writer.store_mut();
        for (key, value) in [(state_key::LAST_SEEN, now), (state_key::NEXT_BY, wake)] {
            if let Err(err) = store.set_state(key, &value.to_string()) {
                tracing::debug!("could not record {key}: {err}");
            }
        }
        wake
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
        self.throttle.update_config(&config.throttle);
        self.writer.store_mut().update_config(&config.storage);
        self.config = config;
        self.event(now, "config", "configuration reloaded");
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
