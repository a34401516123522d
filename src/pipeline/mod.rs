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

mod unrecorded;

use jiff::{SignedDuration, Timestamp};

use crate::alert::engine::Alerter;
use crate::alert::problems::{self, Decision};
use crate::alert::{Evaluator, RuleConfig};
use crate::calendar::Calendar;
use crate::checks::{CheckOutcome, Finished, Verdict};
use crate::observation::{Sample, SeriesKey};
use crate::store::{
    BufferedWriter, HealthChange, IncidentChange, Recovery, ServiceStatus, StorageHealth, Store,
};
use crate::vocabulary::{FailureKind, State, service_metric};
use unrecorded::Unrecorded;

/// Alerting looks at least this often, for what changed outside the agent
/// (a maintenance window ended early from the command line).
const ALERTS_LOOK_EVERY: SignedDuration = SignedDuration::from_secs(60);

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
    /// Messages put in the outbox since the caller last asked.
    queued: usize,
    /// When alerting next has something due, and whether an alert opened or
    /// ended since it last looked: between the two it need not look.
    alerts_due: Timestamp,
    alerts_changed: bool,
    /// Alert decisions the store could not take yet (a full disk).
    pub(crate) unrecorded: Unrecorded,
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
        Self {
            host,
            writer: BufferedWriter::new(store),
            rules: rules.to_vec(),
            evaluator: Evaluator::new(rules),
            alerter,
            calendar,
            results: Vec::new(),
            queued: 0,
            alerts_due: now,
            alerts_changed: false,
            unrecorded: Unrecorded::default(),
        }
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
    /// hours at `now`), then they are written in one transaction (or kept in
    /// memory while the store refuses, and the change of storage health
    /// recorded).
    pub fn ingest(&mut self, samples: &[Sample], now: Timestamp) {
        self.evaluate_rules(samples, now);
        let change = self.writer.push(samples);
        self.report_health(change, now);
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

    /// Records an alert decision; one the store cannot take yet (a full
    /// disk) waits and is retried by [`retry_unrecorded`](Self::retry_unrecorded),
    /// never forgotten.
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

    /// Records the alert decisions that waited for the store, if it takes
    /// them now; the agent calls it at every tick.
    pub fn retry_unrecorded(&mut self) {
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

    /// Carries out what alerting has due at `now` (messages, escalation
    /// steps, reminders); returns when it next has something due.
    pub fn tend(&mut self, now: Timestamp) -> Timestamp {
        if !self.alerts_changed && now < self.alerts_due {
            return self.alerts_due;
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
        self.alerts_due
    }

    /// How many messages went into the outbox since the last call: the
    /// runtime wakes the sender when there are any.
    pub fn take_queued(&mut self) -> usize {
        std::mem::take(&mut self.queued)
    }

    /// Writes what waits in memory, if the store takes it now.
    pub fn flush(&mut self, now: Timestamp) {
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
        self.alerter = alerter;
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
