//! The ingest pipeline: what happens to a new observation, wherever it comes
//! from. Samples are written (buffered through a full disk) and fed to the
//! threshold rules; a service's result is recorded (its samples, its current
//! state, an incident when its confirmed state changes) and opens or ends its
//! alert; alert decisions go to the engine, which folds dependants under
//! their parent, and wait (in order, never forgotten) while the store
//! refuses writes. `Agent::tick` feeds it what it collects and checks today;
//! pushed data (heartbeat pings, samples from remote agents) goes through the
//! same calls, so it is stored, alerted and worded the same way.
//!
//! The pipeline takes the time from its caller, so tests drive it with any
//! clock, against a real store.

mod remote;
mod unrecorded;

pub use remote::{CLOCK_OFF, LIVE};

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use crate::alert::engine::Alerter;
use crate::alert::problems::{self, Decision};
use crate::alert::{Evaluator, RuleConfig};
use crate::calendar::Calendar;
use crate::checks::{CheckOutcome, Finished, Verdict};
use crate::notify::{Attempt, Held};
use crate::observation::{Sample, SeriesKey};
use crate::store::{
    BufferedWriter, HealthChange, IncidentChange, Recovery, ServiceStatus, StorageHealth, Store,
};
use crate::vocabulary::{FailureKind, State, service_metric, state_key};
use unrecorded::Unrecorded;

/// Alerting looks at least this often, for what changed outside the agent
/// (a maintenance window ended early from the command line).
const ALERTS_LOOK_EVERY: SignedDuration = SignedDuration::from_secs(60);

/// For this long after a start, measurements are written as they come, so
/// `keepwatch status` run right after `keepwatch run` shows every figure;
/// then they wait for `storage.write_every`.
const WRITE_AT_ONCE_AFTER_START: SignedDuration = SignedDuration::from_secs(60);

/// A steady service's current state (its explanation) is written this
/// often: when it was last checked and how fast it answered are in its
/// series, written with every batch, where `Store::service_statuses` reads
/// them. One row fewer in every write is one page of the file fewer.
const STEADY_STATES_EVERY: SignedDuration = SignedDuration::from_mins(5);

/// Everything between a new observation and the outbox, for one host.
pub struct Pipeline {
    host: String,
    writer: BufferedWriter,
    rules: Vec<RuleConfig>,
    evaluator: Evaluator,
    alerter: Alerter,
    calendar: Option<Calendar>,
    /// Samples of service results, written together by
    /// [`write_results`](Self::write_results).
    results: Vec<Sample>,
    /// The latest state of each service whose state did not change, written
    /// with the samples (a change is written at once).
    statuses: BTreeMap<String, ServiceStatus>,
    /// When what waits in memory is written next (`storage.write_every`).
    next_write: Timestamp,
    /// When the steady states of services are written next.
    next_steady_states: Timestamp,
    /// Until then, everything is written as it comes.
    write_at_once_until: Timestamp,
    /// Everything is written as it comes: an agent that sends to a hub
    /// (its windows to the hub follow its history in time order).
    write_as_measured: bool,
    /// Messages put in the outbox since the caller last asked.
    queued: usize,
    /// When alerting next has something due, and whether an alert opened or
    /// ended since it last looked: between the two it need not look.
    alerts_due: Timestamp,
    alerts_changed: bool,
    /// Alert decisions the store could not take yet (a full disk).
    pub(crate) unrecorded: Unrecorded,
    /// Messages composed while alerting runs in memory, for the sender.
    held: Held,
    /// On a hub, its agents.
    agents: remote::Agents,
}

impl Pipeline {
    /// The pipeline of `host` into `store`, with the threshold `rules`, the
    /// `alerter` (`config::Config::alerter`) and the business `calendar`
    /// (`None`: every hour counts as business hours). Alerting first looks at `now`.
    pub fn new(
        host: String,
        store: Store,
        rules: &[RuleConfig],
        alerter: Alerter,
        calendar: Option<Calendar>,
        now: Timestamp,
    ) -> Self {
        let agents = remote::Agents::load(&store);
        Self {
            host,
            writer: BufferedWriter::new(store),
            rules: rules.to_vec(),
            evaluator: Evaluator::new(rules),
            alerter: alerter.with_remote(&agents.services),
            agents,
            calendar,
            results: Vec::new(),
            statuses: BTreeMap::new(),
            next_write: now,
            next_steady_states: now,
            write_at_once_until: now.saturating_add(WRITE_AT_ONCE_AFTER_START).unwrap_or(now),
            write_as_measured: false,
            queued: 0,
            alerts_due: now,
            alerts_changed: false,
            unrecorded: Unrecorded::default(),
            held: Held::default(),
        }
    }

    /// The messages this pipeline holds in memory while the database cannot
    /// be written: give it to the sender (`notify::Outbox::sending_held`).
    pub fn held(&self) -> Held {
        self.held.clone()
    }

    /// The store, for reading what was recorded.
    pub fn store(&self) -> &Store {
        self.writer.store()
    }

    /// The store, for what the agent records about itself.
    pub fn store_mut(&mut self) -> &mut Store {
        self.writer.store_mut()
    }

    /// How many samples wait in memory for the store.
    pub fn buffered(&self) -> usize {
        self.writer.buffered()
    }

    /// Takes new samples, of any host: the rules see them (with business
    /// hours at `now`) at once; they are written with everything else
    /// waiting once `storage.write_every` has passed since the last write
    /// ([`write_if_due`](Self::write_if_due)).
    pub fn ingest(&mut self, samples: &[Sample], now: Timestamp) {
        self.evaluate_rules(samples, now);
        self.writer.queue(samples);
        self.write_if_due(now);
    }

    /// Writes what waits in memory if its time has come, or at once while
    /// the store refuses writes (to notice when it takes them again).
    /// Measurements and service states wait up to `storage.write_every`, so
    /// a small server's disk is written every two minutes, not every second.
    pub fn write_if_due(&mut self, now: Timestamp) {
        let healthy = *self.writer.health() == StorageHealth::Healthy;
        let at_once = self.write_as_measured || now < self.write_at_once_until;
        if at_once || now >= self.next_write || !healthy {
            let steady = at_once || now >= self.next_steady_states;
            self.write(now, steady);
        }
    }

    /// Writes every service state and sample waiting in memory now, with
    /// when this agent was last seen and promises to write next, in one
    /// transaction (kept in memory while the store refuses, and the change
    /// of storage health recorded).
    pub fn write_waiting(&mut self, now: Timestamp) {
        self.write(now, true);
    }

    /// Writes what waits in memory, the steady states of services only if
    /// `steady` ([`STEADY_STATES_EVERY`]).
    fn write(&mut self, now: Timestamp, steady: bool) {
        let every = self.writer.store().config().write_every.signed();
        self.next_write = now.saturating_add(every).unwrap_or(now);
        let statuses: Vec<ServiceStatus> = match steady {
            true => self.statuses.values().cloned().collect(),
            false => Vec::new(),
        };
        let (last_seen, next_by) = (now.to_string(), self.next_write.to_string());
        let states = [
            (state_key::LAST_SEEN, last_seen.as_str()),
            (state_key::NEXT_BY, next_by.as_str()),
        ];
        let change = self.writer.flush(&statuses, &states);
        if *self.writer.health() == StorageHealth::Healthy && !statuses.is_empty() {
            self.statuses.clear();
            self.next_steady_states = now.saturating_add(STEADY_STATES_EVERY).unwrap_or(now);
        }
        self.report_health(change, now);
    }

    /// Writes everything as it comes (`true`) instead of every
    /// `storage.write_every`: for an agent that sends to a hub, whose
    /// windows to the hub assume its history is written in time order.
    pub fn write_as_measured(&mut self, yes: bool) {
        self.write_as_measured = yes;
    }

    /// When what waits in memory is written next.
    pub fn next_write(&self) -> Timestamp {
        self.next_write
    }

    /// Takes the result of a run of the service `name`: `outcome` is what the
    /// run saw, `finished` what it amounts to after confirmation
    /// ([`crate::checks::Confirmer`]). Its samples wait for
    /// [`write_results`](Self::write_results); its current state is saved;
    /// a confirmed change of state opens or closes an incident and the
    /// service's alert at once. A slow answer's explanation says how long the
    /// service usually takes.
    pub fn service_result(
        &mut self,
        name: &str,
        mut outcome: CheckOutcome,
        finished: &Finished,
        now: Timestamp,
    ) {
        if outcome.kind == Some(FailureKind::Slow)
            && let Some(usual) = self.usual_response_time(name, now)
        {
            outcome.explanation = format!(
                "{} It usually answers in {}.",
                outcome.explanation,
                crate::plain::short_duration(usual)
            );
        }
        let key = |metric: &str| SeriesKey::new(self.host.clone(), metric, name);
        self.results.push(Sample {
            key: key(service_metric::STATE),
            at: now,
            value: f64::from(outcome.state.severity()),
        });
        if let Some(took) = outcome.response_time {
            self.results.push(Sample {
                key: key(service_metric::RESPONSE_MS),
                at: now,
                value: took.as_secs_f64() * 1000.0,
            });
        }
        if let Some(expires) = outcome.certificate_expires {
            self.results.push(Sample {
                key: key(service_metric::CERTIFICATE_EXPIRES),
                at: now,
                value: expires.as_second() as f64,
            });
        }
        let changed = matches!(finished.verdict, Verdict::Changed { .. });
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
        if !changed {
            self.statuses.insert(name.to_owned(), status);
            return;
        }
        // A change is written at once, for `status` and the API; an older
        // steady state still waiting must not overwrite it.
        self.statuses.remove(name);
        if let Err(err) = self.writer.store_mut().save_service_status(&status) {
            // While storage is degraded that was said once, with the
            // reason: not again at every check of every service.
            match self.writer.health() {
                StorageHealth::Healthy => {
                    tracing::warn!("could not save the state of {name}: {err}")
                }
                StorageHealth::Degraded { .. } => {
                    tracing::debug!("could not save the state of {name}: {err}")
                }
            }
        }
    }

    /// Writes the samples of the service results taken since the last call,
    /// in one transaction, and lets alerting act on them.
    pub fn write_results(&mut self, now: Timestamp) {
        if self.results.is_empty() {
            return;
        }
        let samples = std::mem::take(&mut self.results);
        self.ingest(&samples, now);
        self.tend(now);
    }

    /// The median response time of `name` over the last day, for saying how
    /// unusual a slow answer is; `None` without enough history.
    fn usual_response_time(&self, name: &str, now: Timestamp) -> Option<std::time::Duration> {
        let key = SeriesKey::new(self.host.clone(), service_metric::RESPONSE_MS, name);
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
        let change =
            problems::service_changed(name, &self.host, from, to, &outcome.explanation, now);
        let incident = self.writer.store_mut().record_transition(
            name,
            now,
            to,
            outcome.kind,
            &outcome.explanation,
        );
        if let Some(news) = &change.news {
            match incident {
                Ok(IncidentChange::Opened(id) | IncidentChange::Worsened(id)) => {
                    tracing::warn!("{news} (incident {id})")
                }
                Ok(IncidentChange::Closed(id)) => {
                    tracing::info!("{news} (incident {id} closed)")
                }
                Ok(IncidentChange::None) => tracing::info!("{news}"),
                Err(err) => tracing::warn!("{news} (could not record the incident: {err})"),
            }
            self.event(now, "service", news);
        }
        self.record_alert(change.decision, &format!("for {name}"), now);
    }

    /// Feeds new samples to the alert rules, with business hours from the calendar.
    fn evaluate_rules(&mut self, samples: &[Sample], now: Timestamp) {
        if self.rules.is_empty() {
            return;
        }
        let business_hours = self
            .calendar
            .as_ref()
            .is_none_or(|c| c.period_at(now).is_open());
        let time_zone = Calendar::zone_of(self.calendar.as_ref());
        for sample in samples {
            for event in self.evaluator.observe(sample, business_hours) {
                let change = problems::rule_event(&event, &self.rules, time_zone.clone());
                match change.decision {
                    Decision::Clear { .. } => tracing::info!("{}", change.news),
                    Decision::Raise(_) => tracing::warn!("{}", change.news),
                }
                let rule = match &event {
                    crate::alert::AlertEvent::Opened { rule, .. }
                    | crate::alert::AlertEvent::Escalated { rule, .. }
                    | crate::alert::AlertEvent::Resolved { rule, .. } => rule,
                };
                self.record_alert(change.decision, &format!("\"{rule}\""), now);
                self.event(now, "alert", &change.news);
            }
        }
    }

    /// Tells the admin, through the log, the event history and an alert on
    /// the channels, that the database was damaged and replaced, and what
    /// was saved and lost. The alert stays open until acknowledged.
    pub fn database_recovered(&mut self, recovery: &Recovery, now: Timestamp) {
        let summary = recovery.summary();
        tracing::error!("{summary}");
        self.event(now, "storage", &summary);
        let decision = problems::database_replaced(&self.host, &summary, now);
        self.record_alert(decision, "about the damaged database", now);
    }

    /// Records an alert decision. One the database cannot take (a full
    /// disk) moves alerting to memory, where it is recorded and its messages
    /// composed and sent; if even that fails it waits and is retried by
    /// [`settle`](Self::settle), never forgotten.
    fn record_alert(&mut self, decision: Decision, what: &str, now: Timestamp) {
        self.alerts_changed = true;
        let store = self.writer.store_mut();
        let mut result =
            self.unrecorded
                .record(&self.alerter, store, self.calendar.as_ref(), decision, now);
        if result.is_err() && self.alerting_to_memory(now) {
            let store = self.writer.store_mut();
            result = self
                .unrecorded
                .retry(&self.alerter, store, self.calendar.as_ref())
                .map(|_| ());
        }
        if let Err(err) = result {
            tracing::error!(
                "could not record the alert {what} yet ({err}); it is kept and tried again until it is ({} waiting)",
                self.unrecorded.len()
            );
        }
    }

    /// Moves alerting to memory because the database refuses writes; `true`
    /// if it moved now.
    fn alerting_to_memory(&mut self, now: Timestamp) -> bool {
        let store = self.writer.store_mut();
        if store.alerting_in_memory() {
            return false;
        }
        match store.alerting_to_memory(now) {
            Ok(()) => {
                tracing::warn!(
                    "the database refuses writes: alerts are kept and sent from memory until it takes them again"
                );
                true
            }
            Err(err) => {
                tracing::error!("could not move alerting to memory: {err}");
                false
            }
        }
    }

    /// Records the alert decisions that waited for the store, if it takes
    /// them now, and once the database takes writes again writes back what
    /// alerting did in memory; the agent calls it at every tick.
    pub fn settle(&mut self) {
        if !self.unrecorded.is_empty() {
            let store = self.writer.store_mut();
            match self
                .unrecorded
                .retry(&self.alerter, store, self.calendar.as_ref())
            {
                Ok(done) => {
                    tracing::info!(
                        "recorded {done} alert decision(s) that had waited for the store"
                    );
                }
                Err(err) => tracing::debug!("alert decisions still waiting for the store: {err}"),
            }
            self.alerts_changed = true;
        }
        if self.writer.store().alerting_in_memory()
            && *self.writer.health() == StorageHealth::Healthy
        {
            self.alerting_to_file();
        }
    }

    /// Writes back what alerting did in memory, with what became of each
    /// message held for the sender; while the sender is still sending one,
    /// or the database still refuses, it stays in memory and is tried at
    /// the next tick.
    fn alerting_to_file(&mut self) {
        let Some((messages, dropped)) = self.held.take_all() else {
            return;
        };
        let store = self.writer.store_mut();
        let mut noted = Ok(());
        for message in &messages {
            for attempt in &message.attempts {
                let id = message.entry.id;
                noted = noted.and_then(|()| match attempt {
                    Attempt::Delivered(at) => store.mark_delivered(id, *at),
                    Attempt::Failed { reason, next } => store.mark_failed(id, reason, *next),
                    Attempt::GaveUp { reason, at } => store.give_up(id, reason, *at),
                });
            }
        }
        match noted.and_then(|()| store.alerting_to_file()) {
            Ok(()) => {
                let delivered = messages
                    .iter()
                    .filter(|m| matches!(m.attempts.last(), Some(Attempt::Delivered(_))))
                    .count();
                tracing::info!(
                    "the database takes writes again: alerting is back on it, with the {delivered} message(s) sent from memory meanwhile"
                );
                if dropped > 0 {
                    tracing::error!(
                        "{dropped} message(s) composed while the disk was full did not fit in memory and were lost"
                    );
                }
                self.alerts_changed = true;
            }
            Err(err) => {
                tracing::debug!("alerting stays in memory: {err}");
                // What became of them is in the copy in memory now: hold
                // again those still to send.
                if let Err(err) = self.hold_composed() {
                    tracing::error!(
                        "could not hand the messages composed in memory to the sender: {err}"
                    );
                }
            }
        }
    }

    /// Hands the messages composed in memory to the sender.
    fn hold_composed(&mut self) -> Result<(), crate::store::StoreError> {
        let composed = self.writer.store().messages_in_memory()?;
        self.held.hold(composed);
        Ok(())
    }

    /// Carries out what alerting has due at `now` (messages, escalation
    /// steps, reminders); returns when it next has something due.
    pub fn tend(&mut self, now: Timestamp) -> Timestamp {
        if !self.alerts_changed && now < self.alerts_due {
            return self.alerts_due;
        }
        let look_again = now.saturating_add(ALERTS_LOOK_EVERY).unwrap_or(now);
        self.alerts_changed = false;
        self.alerts_due = look_again;
        let mut tended = self
            .alerter
            .tend(self.writer.store_mut(), self.calendar.as_ref(), now);
        if tended.is_err() && self.alerting_to_memory(now) {
            tended = self
                .alerter
                .tend(self.writer.store_mut(), self.calendar.as_ref(), now);
        }
        match tended {
            Ok(tended) => {
                self.queued += tended.queued;
                self.alerts_due = tended.next.map_or(look_again, |at| at.min(look_again));
            }
            Err(err) => {
                tracing::error!("alerting could not read or update the store, will retry: {err}");
            }
        }
        if self.writer.store().alerting_in_memory()
            && let Err(err) = self.hold_composed()
        {
            tracing::error!("could not hand the messages composed in memory to the sender: {err}");
        }
        self.alerts_due
    }

    /// How many messages went into the outbox since the last call: the
    /// runtime wakes the sender when there are any.
    pub fn take_queued(&mut self) -> usize {
        std::mem::take(&mut self.queued)
    }

    /// Logs a change of storage health once, records it for `status`, and
    /// raises (or ends) the alert that tells the admin; the write-ahead log
    /// is cut to nothing either way, handing its space back to the disk.
    fn report_health(&mut self, change: Option<HealthChange>, now: Timestamp) {
        let Some(change) = change else { return };
        let decision = match &change.health {
            StorageHealth::Healthy => {
                tracing::info!("{change}");
                problems::storage_healthy(now)
            }
            StorageHealth::Degraded { reason } => {
                tracing::error!("{change}");
                // Even where a small write still fits, alerting must not
                // depend on it: a decision half written, a delivery not
                // recorded and sent again.
                self.alerting_to_memory(now);
                let disk_full = change.disk_full;
                problems::storage_degraded(&self.host, disk_full, reason, now)
            }
        };
        if let Err(err) = self.writer.store().checkpoint() {
            tracing::debug!("could not cut the write-ahead log: {err}");
        }
        self.event(now, "storage", &change.to_string());
        self.record_alert(decision, "about the database refusing writes", now);
    }

    /// Puts new settings in force: the rules (their memory of each series
    /// kept unless they changed), the alerting and the business calendar.
    /// Alerting looks again at its next [`tend`](Self::tend).
    pub fn reconfigure(
        &mut self,
        rules: &[RuleConfig],
        alerter: Alerter,
        calendar: Option<Calendar>,
    ) {
        if rules != self.rules.as_slice() {
            self.evaluator = Evaluator::new(rules);
            self.rules = rules.to_vec();
        }
        self.alerter = alerter.with_remote(&self.agents.services);
        self.alerts_changed = true;
        self.calendar = calendar;
    }

    /// Records something notable for `status`; failures to do so are only logged.
    pub fn event(&mut self, now: Timestamp, kind: &str, message: &str) {
        if let Err(err) = self.writer.store_mut().record_event(now, kind, message) {
            tracing::debug!("could not record event {kind}: {err}");
        }
    }
}

#[cfg(test)]
mod tests;
