//! The alert engine over the store: opens and resolves alerts, decides who is
//! told and when (business hours, escalation steps, reminders, the summary at
//! the next opening, maintenance, flapping, `depends_on`), and turns what each
//! channel has to be told into messages in the outbox.
//!
//! Every decision is kept in the store as it is made, so a restart continues
//! where it stopped and the outbox never gets a message twice.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};

use super::Class;
use super::compose::{self, Batch, Item, NoticeKind};
use super::escalation::{self, AlertingConfig, Due, Progress};
use super::maintenance::{self, MaintenanceConfig, Target, Window};
use super::problems::{Decision, Problem, service_fingerprint};
use super::upcoming::{self, Plan, Stage, Whereabouts, is_open, policy_for};
use crate::calendar::Calendar;
use crate::checks::ServiceSpec;
use crate::store::{AlertRecord, NewAlert, RemoteServiceInfo, Store, StoreError};
use crate::vocabulary::Policy;
use crate::vocabulary::Severity;

/// Why an alert held back as flapping is, as kept with it.
const FLAPPING: &str = "flapping";

/// The longest the news of an emergency (opened, or got worse) waits after
/// the channel's last message, however long `group_wait` is: long enough to
/// gather the members of a storm whose checks fail a few seconds apart, short
/// enough that an emergency right after another message (the opening
/// summary, a warning) still reaches the admin within seconds, not after
/// the 30 s of grouping.
pub const EMERGENCY_GATHER: crate::units::Duration = crate::units::Duration::from_secs(5);

/// What [`Alerter::tend`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tended {
    /// Messages put in the outbox.
    pub queued: usize,
    /// When something is next due (a grouped message, a step, a reminder).
    pub next: Option<Timestamp>,
}

#[derive(Debug, Clone, Default)]
struct ServiceInfo {
    critical: bool,
    depends_on: Vec<String>,
}

/// The alerting settings in force, and what they are applied to.
#[derive(Debug, Clone)]
pub struct Alerter {
    settings: AlertingConfig,
    business: String,
    max_per_hour: HashMap<String, u32>,
    services: HashMap<String, ServiceInfo>,
    dependents: BTreeMap<String, Vec<String>>,
    windows: Vec<Window>,
}

impl Alerter {
    /// The alerting of `settings` for the business named `business`, with
    /// each channel's hourly limit in `max_per_hour`, applied to `services`
    /// and `maintenance` (`config::Config::alerter` gathers these from the
    /// file). Maintenance windows that do not parse were refused by
    /// validation; here they are left out.
    pub fn new(
        settings: &AlertingConfig,
        business: &str,
        max_per_hour: HashMap<String, u32>,
        services: &[ServiceSpec],
        maintenance: &[MaintenanceConfig],
    ) -> Self {
        let infos: HashMap<String, ServiceInfo> = services
            .iter()
            .map(|s| {
                let info = ServiceInfo {
                    critical: s.common.critical,
                    depends_on: s.common.depends_on.clone(),
                };
                (s.common.name.clone(), info)
            })
            .collect();
        let mut dependents: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for spec in services {
            for parent in &spec.common.depends_on {
                dependents
                    .entry(parent.clone())
                    .or_default()
                    .push(spec.common.name.clone());
            }
        }
        Self {
            settings: settings.clone(),
            business: business.to_owned(),
            max_per_hour,
            services: infos,
            dependents,
            windows: maintenance.iter().filter_map(|w| w.parse().ok()).collect(),
        }
    }

    /// This alerting, applied also to the services of a hub's agents (their
    /// settings as each agent sent them).
    pub fn with_remote(mut self, remote: &[RemoteServiceInfo]) -> Self {
        for service in remote {
            let info = ServiceInfo {
                critical: service.critical,
                depends_on: service.depends_on.clone(),
            };
            for parent in &service.depends_on {
                let dependents = self.dependents.entry(parent.clone()).or_default();
                if !dependents.contains(&service.name) {
                    dependents.push(service.name.clone());
                }
            }
            self.services.insert(service.name.clone(), info);
        }
        self
    }

    /// Whether `service` is marked critical.
    pub fn is_critical(&self, service: &str) -> bool {
        self.services.get(service).is_some_and(|s| s.critical)
    }

    /// Carries out `decision`, made at `at`: opens (or worsens) its alert or
    /// ends it.
    pub fn decide(
        &self,
        store: &mut Store,
        decision: &Decision,
        calendar: Option<&Calendar>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        match decision {
            Decision::Raise(problem) => self.raise(store, &problem.as_problem(), calendar, at),
            Decision::Clear { fingerprint, at } => self.clear(store, fingerprint, *at),
        }
    }

    /// Opens an alert for `problem`, or updates the open one if it got worse.
    /// Who is told is decided by [`tend`](Self::tend), which the caller runs next.
    pub fn raise(
        &self,
        store: &mut Store,
        problem: &Problem,
        calendar: Option<&Calendar>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let open = is_open(calendar, now);
        let critical = match problem.service {
            Some(service) => self.is_critical(service),
            // The host runs every service: it counts as critical.
            None => true,
        };
        let emergency =
            self.settings
                .emergencies
                .classify(problem.severity, critical, problem.emergency)
                == Class::Emergency;
        if let Some(alert) = store.open_alert(problem.fingerprint)? {
            if problem.severity <= alert.severity {
                return Ok(());
            }
            store.worsen_alert(
                alert.id,
                problem.severity,
                emergency,
                problem.title,
                problem.detail,
            )?;
            if let Some(service) = problem.service
                && problem.severity == Severity::Critical
            {
                self.adopt_dependents(store, service, alert.id, alert.cause)?;
            }
            if alert.silenced.is_some() {
                return Ok(());
            }
            // An alert waiting for the next opening that became an emergency
            // goes out now.
            let waiting = alert.steps_done == 0 && alert.policy_from.is_some_and(|at| at > now);
            if emergency && !open && waiting {
                store.set_alert_policy(alert.id, Some((Policy::OffHours, now)), None)?;
            }
            for channel in store.told_channels(alert.id)? {
                store.add_notice(alert.id, &channel, NoticeKind::Worse.as_str(), now)?;
            }
            return Ok(());
        }
        let target = Target {
            service: problem.service,
            host: problem.host,
        };
        let mut silenced = self.maintenance(store, &target, calendar, now)?;
        let mut flapping = false;
        if silenced.is_none() && problem.service.is_some() {
            let window = self.settings.flapping_window.signed();
            let since = now.saturating_sub(window).unwrap_or(now);
            let recent = store.alerts_opened_since(problem.fingerprint, since)? + 1;
            if store.flapping_alert(problem.fingerprint)?.is_some() {
                silenced = Some(FLAPPING.to_owned());
            } else if self.settings.flapping_changes > 0
                && recent >= self.settings.flapping_changes as usize
            {
                flapping = true;
            }
        }
        let policy = silenced
            .is_none()
            .then(|| policy_for(emergency, calendar, now));
        let cause = match problem.service {
            Some(service) => self.open_cause(store, service)?,
            None => None,
        };
        let adopts = problem.severity == Severity::Critical;
        let id = store.insert_alert(&NewAlert {
            fingerprint: problem.fingerprint,
            service: problem.service,
            host: problem.host,
            title: problem.title,
            detail: problem.detail,
            severity: problem.severity,
            emergency,
            opened_at: problem.since,
            policy,
            silenced: silenced.as_deref(),
            flapping,
            cause,
        })?;
        if let Some(service) = problem.service
            && adopts
        {
            self.adopt_dependents(store, service, id, cause)?;
        }
        Ok(())
    }

    /// Ends the open alert with `fingerprint`, if any, and tells everyone who
    /// was told about it.
    pub fn clear(
        &self,
        store: &mut Store,
        fingerprint: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(alert) = store.open_alert(fingerprint)? else {
            return Ok(());
        };
        store.resolve_alert(alert.id, at)?;
        if alert.silenced.is_some() || alert.flapping {
            return Ok(());
        }
        for channel in store.told_channels(alert.id)? {
            store.add_notice(alert.id, &channel, NoticeKind::Resolved.as_str(), at)?;
        }
        Ok(())
    }

    /// Carries out what is due at `now`: lifts silences that ended, escalates,
    /// reminds, sends the summary at opening, and composes the messages each
    /// channel may get now into the outbox.
    pub fn tend(
        &self,
        store: &mut Store,
        calendar: Option<&Calendar>,
        now: Timestamp,
    ) -> Result<Tended, StoreError> {
        let mut next = Next::default();
        for alert in store.alerts_to_tend()? {
            self.tend_alert(store, alert, calendar, now, &mut next)?;
        }
        self.settle_flapping(store, now, &mut next)?;
        let queued = self.flush(store, calendar, now, &mut next)?;
        Ok(Tended {
            queued,
            next: next.0,
        })
    }

    fn tend_alert(
        &self,
        store: &mut Store,
        mut alert: AlertRecord,
        calendar: Option<&Calendar>,
        now: Timestamp,
        next: &mut Next,
    ) -> Result<(), StoreError> {
        // Only open silenced alerts come here (see `Store::alerts_to_tend`).
        if let Some(reason) = &alert.silenced {
            let target = Target {
                service: alert.service.as_deref(),
                host: &alert.host,
            };
            let still = if reason == FLAPPING {
                let steady_at = self.steady_at(&alert, now);
                next.at(steady_at);
                (steady_at > now).then(|| reason.clone())
            } else {
                self.maintenance(store, &target, calendar, now)?
            };
            if still.is_some() {
                return Ok(());
            }
            let policy = policy_for(alert.emergency, calendar, now);
            store.set_alert_policy(alert.id, Some(policy), None)?;
            alert.silenced = None;
            alert.policy = Some(policy.0);
            alert.policy_from = Some(policy.1);
            alert.steps_done = 0;
        }
        let Some(plan) = upcoming::plan(&alert, &self.settings, calendar, now) else {
            return Ok(());
        };
        let (Some(policy), Some(stored)) = (alert.policy, alert.policy_from) else {
            return Ok(());
        };
        // The calendar changed while it waited for an opening: re-planned.
        if plan.from != stored {
            store.set_alert_policy(alert.id, Some((policy, plan.from)), None)?;
        }
        let Plan {
            from,
            steps,
            steps_done,
            remind,
            stage,
        } = plan;
        let due = match stage {
            Stage::Acknowledged => return Ok(()),
            Stage::Opening(at) => {
                next.at(at);
                return Ok(());
            }
            Stage::Paused { until, .. } => {
                next.maybe(until);
                return Ok(());
            }
            Stage::Due(due) => due,
        };
        let progress = Progress {
            from,
            steps_done,
            last_told: alert.told_at,
        };
        match due {
            Due::Steps(indexes) => {
                for &index in &indexes {
                    // It waited for the opening: it began while closed.
                    let waited = policy == Policy::BusinessHours
                        && alert.opened_at < from
                        && !is_open(calendar, alert.opened_at);
                    let kind = match (index, waited, alert.flapping) {
                        (0, _, true) => NoticeKind::Flapping,
                        (0, true, _) => NoticeKind::Digest,
                        (0, _, _) => NoticeKind::Opened,
                        _ => NoticeKind::Step,
                    };
                    for channel in &steps[index].notify {
                        store.add_notice(alert.id, channel, kind.as_str(), now)?;
                    }
                }
                let done = indexes.last().map_or(alert.steps_done, |last| last + 1);
                store.set_alert_progress(alert.id, done, now)?;
                // Ask again for the step or reminder after these.
                let progress = Progress {
                    steps_done: done,
                    last_told: Some(now),
                    ..progress
                };
                if let Due::Later(at) = escalation::due(steps, progress, remind, now) {
                    next.maybe(at);
                }
            }
            Due::Reminder => {
                if let Some(last) = steps.last() {
                    for channel in &last.notify {
                        store.add_notice(alert.id, channel, NoticeKind::Reminder.as_str(), now)?;
                    }
                }
                store.set_alert_progress(alert.id, alert.steps_done, now)?;
                next.maybe(now.checked_add(self.settings.remind_every.signed()).ok());
            }
            Due::Later(at) => next.maybe(at),
        }
        Ok(())
    }

    /// When an alert held back as flapping counts as steady.
    fn steady_at(&self, alert: &AlertRecord, now: Timestamp) -> Timestamp {
        alert
            .opened_at
            .saturating_add(self.settings.flapping_window.signed())
            .unwrap_or(now)
    }

    /// Where open `alert` stands at `now`: what each channel got of it, and
    /// what comes next by the plan [`tend`](Self::tend) follows.
    pub fn whereabouts(
        &self,
        store: &Store,
        alert: &AlertRecord,
        calendar: Option<&Calendar>,
        now: Timestamp,
    ) -> Result<Whereabouts, StoreError> {
        let told = upcoming::told(&store.alert_deliveries(alert.id)?);
        let next = match &alert.silenced {
            Some(reason) if reason == FLAPPING => upcoming::Next::Held {
                reason: reason.clone(),
                until: Some(self.steady_at(alert, now)),
            },
            Some(reason) => {
                let target = Target {
                    service: alert.service.as_deref(),
                    host: &alert.host,
                };
                let until = self
                    .maintenance_until(store, &target, calendar, now)?
                    .and_then(|(_, until)| until);
                upcoming::Next::Held {
                    reason: reason.clone(),
                    until,
                }
            }
            None => {
                let plan = upcoming::plan(alert, &self.settings, calendar, now);
                upcoming::next(plan.as_ref(), now)
            }
        };
        Ok(Whereabouts { told, next })
    }

    /// A flapping service that stayed steady for the flapping window gets one
    /// more message saying so.
    fn settle_flapping(
        &self,
        store: &mut Store,
        now: Timestamp,
        next: &mut Next,
    ) -> Result<(), StoreError> {
        let window = self.settings.flapping_window.signed();
        for alert in store.flapping_alerts()? {
            let last = store
                .last_alert(&alert.fingerprint)?
                .unwrap_or_else(|| alert.clone());
            let last_change = last.resolved_at.unwrap_or(last.opened_at);
            let steady_at = last_change.saturating_add(window).unwrap_or(now);
            if steady_at > now {
                next.at(steady_at);
                continue;
            }
            store.set_alert_flapping(alert.id, false)?;
            // Said of the service's latest alert: up for good, or still failing.
            for channel in store.told_channels(alert.id)? {
                store.add_notice(last.id, &channel, NoticeKind::Settled.as_str(), now)?;
            }
        }
        Ok(())
    }

    /// Composes one message per channel from the notices it may get now.
    fn flush(
        &self,
        store: &mut Store,
        calendar: Option<&Calendar>,
        now: Timestamp,
        next: &mut Next,
    ) -> Result<usize, StoreError> {
        let mut by_channel: BTreeMap<String, Vec<crate::store::Notice>> = BTreeMap::new();
        for notice in store.waiting_notices()? {
            by_channel
                .entry(notice.channel.clone())
                .or_default()
                .push(notice);
        }
        let hour_ago = now
            .saturating_sub(SignedDuration::from_hours(1))
            .unwrap_or(now);
        let time_zone = Calendar::zone_of(calendar);
        let mut queued = 0;
        for (channel, due) in by_channel {
            let sent = store.messages_composed_since(&channel, hour_ago)?;
            let limit = self.max_per_hour.get(&channel).copied().unwrap_or(20);
            // Recoveries of everything the last message told are an
            // all-clear: nothing is left to gather, so they go at once.
            let all_clear = due.iter().all(|n| n.kind == NoticeKind::Resolved.as_str())
                && store.last_message_all_over(&channel)?;
            let wait = if all_clear {
                crate::units::Duration::from_secs(0)
            } else if news_of_an_emergency(store, &due)? {
                self.settings.group_wait.min(EMERGENCY_GATHER)
            } else {
                self.settings.group_wait
            };
            let slot = escalation::next_slot(&sent, wait, limit, now);
            if slot > now {
                next.at(slot);
                continue;
            }
            let mut items: Vec<Item> = Vec::new();
            let mut causes = BTreeMap::new();
            for notice in &due {
                let (Some(kind), Some(alert)) = (
                    NoticeKind::parse(&notice.kind),
                    store.alert(notice.alert_id)?,
                ) else {
                    continue;
                };
                if let Some(cause) = alert.cause
                    && let Some(record) = store.alert(cause)?
                {
                    causes.insert(cause, record);
                }
                // One line per alert: the latest news of it wins.
                match items.iter_mut().find(|i| i.alert.id == alert.id) {
                    Some(item) => item.kind = item.kind.max(kind),
                    None => items.push(Item { kind, alert }),
                }
            }
            let ids: Vec<i64> = due.iter().map(|n| n.id).collect();
            if items.is_empty() {
                // Notices about alerts that no longer exist: nothing to say.
                store.drop_notices(&ids)?;
                continue;
            }
            let batch = Batch {
                id: format!("{}.{}", now.as_millisecond(), ids[0]),
                business: &self.business,
                items,
                causes,
                dependents: &self.dependents,
                time_zone: &time_zone,
                now,
            };
            let message = compose::compose(&batch);
            let json = serde_json::to_string(&message).unwrap_or_default();
            store.enqueue_message(&channel, &json, &ids, now)?;
            queued += 1;
        }
        Ok(queued)
    }

    /// Why alerts about `target` are held back now, if a maintenance window
    /// covers it: "maintenance: new switch".
    fn maintenance(
        &self,
        store: &Store,
        target: &Target<'_>,
        calendar: Option<&Calendar>,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .maintenance_until(store, target, calendar, now)?
            .map(|(reason, _)| reason))
    }

    /// [`maintenance`](Self::maintenance), with when the window ends.
    fn maintenance_until(
        &self,
        store: &Store,
        target: &Target<'_>,
        calendar: Option<&Calendar>,
        now: Timestamp,
    ) -> Result<Option<(String, Option<Timestamp>)>, StoreError> {
        let time_zone = Calendar::zone_of(calendar);
        let stored: Vec<Window> = store
            .maintenance_windows(now)?
            .into_iter()
            .map(|w| Window::ad_hoc(w.name, w.start, w.end, w.services))
            .collect();
        let all: Vec<Window> = self.windows.iter().cloned().chain(stored).collect();
        Ok(
            maintenance::covering(&all, now, &time_zone, target).map(|window| {
                let reason = format!("maintenance: {}", window.name());
                (reason, window.active_until(now, &time_zone))
            }),
        )
    }

    /// The open alert of the nearest service `service` depends on, if any.
    fn open_cause(&self, store: &Store, service: &str) -> Result<Option<i64>, StoreError> {
        for parent in self.ancestors(service) {
            if let Some(alert) = store.open_alert(&service_fingerprint(&parent))?
                && alert.severity == Severity::Critical
            {
                return Ok(Some(alert.id));
            }
        }
        Ok(None)
    }

    /// What `service` depends on, directly or through others, nearest first;
    /// each once, so a dependency cycle ends.
    fn ancestors(&self, service: &str) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        let mut next = 0;
        let mut current = service.to_owned();
        loop {
            if let Some(info) = self.services.get(&current) {
                for parent in &info.depends_on {
                    if parent != service && !found.contains(parent) {
                        found.push(parent.clone());
                    }
                }
            }
            let Some(parent) = found.get(next) else {
                return found;
            };
            current = parent.clone();
            next += 1;
        }
    }

    /// Open alerts of services depending on `service` are explained by its
    /// alert `id` from now on: they stop escalating on their own. The alert
    /// that explains `id` itself (`cause`, in a dependency cycle) is not.
    fn adopt_dependents(
        &self,
        store: &mut Store,
        service: &str,
        id: i64,
        cause: Option<i64>,
    ) -> Result<(), StoreError> {
        for alert in store.open_alerts()? {
            if Some(alert.id) == cause {
                continue;
            }
            let Some(child) = &alert.service else {
                continue;
            };
            if alert.cause.is_none() && self.ancestors(child).iter().any(|a| a == service) {
                store.set_alert_cause(alert.id, Some(id))?;
            }
        }
        Ok(())
    }
}

/// Whether any of `due` is the first news of an emergency: it opened, or
/// it got worse.
fn news_of_an_emergency(store: &Store, due: &[crate::store::Notice]) -> Result<bool, StoreError> {
    for notice in due {
        let news = matches!(
            NoticeKind::parse(&notice.kind),
            Some(NoticeKind::Opened | NoticeKind::Worse)
        );
        if news
            && store
                .alert(notice.alert_id)?
                .is_some_and(|alert| alert.emergency)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The earliest of the times something is next due.
#[derive(Debug, Default)]
struct Next(Option<Timestamp>);

impl Next {
    fn at(&mut self, at: Timestamp) {
        self.0 = Some(self.0.map_or(at, |t| t.min(at)));
    }

    fn maybe(&mut self, at: Option<Timestamp>) {
        if let Some(at) = at {
            self.at(at);
        }
    }
}

#[cfg(test)]
mod tests;
