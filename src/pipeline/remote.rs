//! On a hub, what its agents send: a batch is stored with its place in the
//! agent's stream (one transaction), then handled like the hub's own
//! observations, except that the past stays the past:
//!
//! - Samples reach the rules only while they are fresh (taken within
//!   [`LIVE`] of the agent sending them) and new (after what the hub had):
//!   a backlog delivered after an outage is history, and a threshold crossed
//!   hours ago raises no alert now.
//! - A service's alert follows its state as the agent last saw it: a
//!   service that went down and came back during an outage raises nothing,
//!   one still down when the agent reports again raises its alert then (with
//!   the time it went down). Its incidents are filed as they happened, for
//!   reports.
//! - An agent not heard from for `silent_after` raises its own alert, which
//!   ends when it reports again; its clock, when more than [`CLOCK_OFF`] off
//!   the hub's, another (a warning).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::Pipeline;
use crate::alert::problems::{self, Decision};
use crate::calendar::Calendar;
use crate::protocol::{Ack, Batch, PROTOCOL, hub_name};
use crate::store::{Arrival, Incident, RemoteServiceInfo, ServiceStatus, Store, StoreError};
use crate::vocabulary::FailureKind;

/// Samples taken this long before their batch was sent count as fresh.
pub const LIVE: SignedDuration = SignedDuration::from_mins(2);
/// An agent's clock this far from the hub's is reported...
pub const CLOCK_OFF: SignedDuration = SignedDuration::from_mins(1);
/// ...until it is back within this.
const CLOCK_RIGHT: SignedDuration = SignedDuration::from_secs(45);

/// What the hub keeps in memory about each agent, between batches.
#[derive(Debug, Clone)]
struct Heard {
    /// When the hub last heard from it (its clock).
    last: Timestamp,
    /// Silence is counted from here: `last`, or the hub's own start when
    /// that is later (a hub that was down itself heard from nobody).
    counting_from: Timestamp,
    /// Its silence alert is open.
    silent: bool,
    /// Its clock alert is open.
    clock_off: bool,
}

/// The agents of a hub, as alerting sees them.
#[derive(Debug, Default)]
pub(crate) struct Agents {
    /// `None` until first read from the store.
    heard: Option<BTreeMap<String, Heard>>,
    /// What alerting needs of the agents' services.
    pub(crate) services: Vec<RemoteServiceInfo>,
}

impl Agents {
    /// The agents' services as the store has them, for alerting from the start.
    pub(crate) fn load(store: &Store) -> Self {
        let services = store.remote_services().unwrap_or_else(|err| {
            tracing::warn!("could not read the agents' services: {err}");
            Vec::new()
        });
        Self {
            heard: None,
            services,
        }
    }
}

impl Pipeline {
    /// Takes a batch from the agent `host` at the hub's time `now`: stores
    /// it (all of it and its place in the stream, or nothing), then lets
    /// rules and alerting act on what is fresh. The error is the store's:
    /// the agent keeps the batch and sends it again.
    pub fn take_batch(
        &mut self,
        host: &str,
        batch: &Batch,
        now: Timestamp,
    ) -> Result<Ack, StoreError> {
        let samples = batch.samples(host);
        let incidents: Vec<Incident> = batch
            .incidents
            .iter()
            .filter_map(|incident| {
                Some(Incident {
                    id: 0,
                    service: hub_name(host, &incident.service),
                    started: Timestamp::from_millisecond(incident.started_ms).ok()?,
                    ended: incident
                        .ended_ms
                        .and_then(|ms| Timestamp::from_millisecond(ms).ok()),
                    state: incident.state,
                    kind: failure(incident.kind.as_deref()),
                    cause: incident.cause.clone(),
                })
            })
            .collect();
        let services: Vec<(ServiceStatus, RemoteServiceInfo)> = batch
            .services
            .iter()
            .filter_map(|service| {
                let name = hub_name(host, &service.name);
                let status = ServiceStatus {
                    name: name.clone(),
                    state: service.state,
                    kind: failure(service.kind.as_deref()),
                    explanation: service.explanation.clone(),
                    since: Timestamp::from_millisecond(service.since_ms).ok()?,
                    checked_at: Timestamp::from_millisecond(service.checked_ms).ok()?,
                    response_ms: service.response_ms,
                };
                let info = RemoteServiceInfo {
                    host: host.to_owned(),
                    name,
                    critical: service.critical,
                    depends_on: service
                        .depends_on
                        .iter()
                        .map(|parent| match parent.as_str() {
                            "internet" => parent.clone(),
                            _ => hub_name(host, parent),
                        })
                        .collect(),
                };
                Some((status, info))
            })
            .collect();
        let arrival = Arrival {
            host,
            session: &batch.session,
            seq: batch.seq,
            upto_ms: batch.upto_ms,
            sent_ms: batch.sent_ms,
            version: &batch.version,
            samples: &samples,
            incidents: &incidents,
            services: &services,
        };
        let taken = self.store_mut().take_batch(&arrival, now)?;
        let ack = Ack {
            host: host.to_owned(),
            upto_ms: batch.upto_ms,
            duplicate: taken.duplicate,
            protocol: PROTOCOL,
        };
        let sent = Timestamp::from_millisecond(batch.sent_ms).unwrap_or(now);
        self.heard_from(host, sent, now);
        if taken.duplicate {
            return Ok(ack);
        }
        self.learn_services(services.into_iter().map(|(_, info)| info));
        let known_upto = taken
            .previous
            .as_ref()
            .map_or(i64::MIN, |p| p.upto.as_millisecond());
        let fresh_from = sent.saturating_sub(LIVE).unwrap_or(sent).as_millisecond();
        let fresh: Vec<_> = samples
            .into_iter()
            .filter(|s| {
                let at = s.at.as_millisecond();
                at > known_upto && at >= fresh_from
            })
            .collect();
        self.evaluate_rules(&fresh, now);
        for (before, status) in taken.changed {
            let change = problems::service_changed(
                &status.name,
                host,
                before,
                status.state,
                &status.explanation,
                status.since,
            );
            if let Some(news) = &change.news {
                tracing::info!("{news}");
                self.event(now, "service", news);
            }
            self.record_alert(change.decision, &format!("for {}", status.name), now);
        }
        Ok(ack)
    }

    /// Adds or updates what alerting knows of agents' services.
    fn learn_services(&mut self, infos: impl Iterator<Item = RemoteServiceInfo>) {
        let mut learnt = false;
        for info in infos {
            match self
                .agents
                .services
                .iter_mut()
                .find(|s| s.name == info.name)
            {
                Some(known) if *known == info => {}
                Some(known) => {
                    *known = info;
                    learnt = true;
                }
                None => {
                    self.agents.services.push(info);
                    learnt = true;
                }
            }
        }
        if learnt {
            self.alerter = self.alerter.clone().with_remote(&self.agents.services);
        }
    }

    /// The agent `host` was heard from at `now`, its clock saying `sent`:
    /// its silence, if it was silent, is over; its clock is judged.
    fn heard_from(&mut self, host: &str, sent: Timestamp, now: Timestamp) {
        self.load_agents(now);
        let heard = self.agents.heard.get_or_insert_default();
        let entry = heard.entry(host.to_owned()).or_insert(Heard {
            last: now,
            counting_from: now,
            silent: false,
            clock_off: false,
        });
        let was_silent = std::mem::replace(&mut entry.silent, false);
        let since = entry.last;
        entry.last = now;
        entry.counting_from = now;
        let offset = now.duration_until(sent);
        let clock_change = if !entry.clock_off && offset.abs() > CLOCK_OFF {
            entry.clock_off = true;
            Some(problems::agent_clock_off(host, offset, now))
        } else if entry.clock_off && offset.abs() <= CLOCK_RIGHT {
            entry.clock_off = false;
            Some(problems::agent_clock_right(host, now))
        } else {
            None
        };
        if was_silent {
            let news = format!(
                "{host} reports again, after {} of silence",
                crate::plain::duration(since.duration_until(now).as_secs_f64())
            );
            tracing::info!("{news}");
            self.event(now, "agent", &news);
            if let Err(err) = self.store_mut().silence_ended(host, now) {
                tracing::warn!("could not note that {host} reports again: {err}");
            }
            self.record_alert(problems::agent_reports_again(host, now), "", now);
        }
        if let Some(decision) = clock_change {
            if let Decision::Raise(problem) = &decision {
                tracing::warn!("{}", problem.title);
                self.event(now, "agent", &problem.title);
            }
            self.record_alert(decision, &format!("about the clock of {host}"), now);
        }
    }

    /// Raises the alert of each agent not heard from for `silent_after`
    /// (among those with a token: a removed agent's silence is expected, and
    /// its alert ends); returns when the next one would be due.
    pub fn watch_agents(
        &mut self,
        silent_after: SignedDuration,
        now: Timestamp,
    ) -> Option<Timestamp> {
        self.load_agents(now);
        if self.agents.heard.as_ref().is_none_or(BTreeMap::is_empty) {
            return None;
        }
        let current: Vec<String> = match self.store().tokens() {
            Ok(tokens) => tokens
                .into_iter()
                .filter(|t| t.role == crate::store::AGENT_ROLE)
                .map(|t| t.name)
                .collect(),
            Err(err) => {
                tracing::debug!("could not read the agents' tokens: {err}");
                return None;
            }
        };
        let heard = self.agents.heard.clone().unwrap_or_default();
        let zone = Calendar::zone_of(self.calendar.as_ref());
        let mut next: Option<Timestamp> = None;
        for (host, seen) in heard {
            let removed = !current.contains(&host);
            let due = seen
                .counting_from
                .saturating_add(silent_after)
                .unwrap_or(now);
            if removed && seen.silent {
                self.set_silent(&host, false);
                self.event(
                    now,
                    "agent",
                    &format!("{host} was removed; its silence no longer counts"),
                );
                self.record_alert(problems::agent_reports_again(&host, now), "", now);
            } else if !removed && !seen.silent && now >= due {
                self.set_silent(&host, true);
                let decision = problems::agent_silent(
                    &host,
                    silent_after.unsigned_abs(),
                    seen.last,
                    zone.clone(),
                );
                if let Decision::Raise(problem) = &decision {
                    tracing::warn!("{}", problem.title);
                    self.event(now, "agent", &problem.title);
                }
                if let Err(err) = self.store_mut().silence_began(&host, seen.last) {
                    tracing::warn!("could not note that {host} is silent: {err}");
                }
                self.record_alert(decision, &format!("about {host} being silent"), now);
            } else if !removed && !seen.silent {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next
    }

    fn set_silent(&mut self, host: &str, silent: bool) {
        if let Some(seen) = self
            .agents
            .heard
            .as_mut()
            .and_then(|heard| heard.get_mut(host))
        {
            seen.silent = silent;
        }
    }

    /// Reads the agents from the store the first time: when each was last
    /// heard from, and which alerts about them are open (a restarted hub
    /// carries on where it stopped). `now` is the hub's start.
    fn load_agents(&mut self, now: Timestamp) {
        if self.agents.heard.is_some() {
            return;
        }
        let store = self.store();
        let agents = match store.remote_agents() {
            Ok(agents) => agents,
            Err(err) => {
                tracing::debug!("could not read the agents: {err}");
                return;
            }
        };
        let open = |fingerprint: &str| store.open_alert(fingerprint).ok().flatten().is_some();
        let heard = agents
            .into_iter()
            .map(|agent| {
                let [silent, clock] = problems::agent_fingerprints(&agent.name);
                let heard = Heard {
                    last: agent.seen,
                    counting_from: agent.seen.max(now),
                    silent: open(&silent),
                    clock_off: open(&clock),
                };
                (agent.name, heard)
            })
            .collect();
        self.agents.heard = Some(heard);
    }
}

/// A failure kind by its name; one this version does not know (from a
/// newer agent) is none.
fn failure(kind: Option<&str>) -> Option<FailureKind> {
    kind.and_then(|kind| kind.parse().ok())
}

#[cfg(test)]
mod tests;
