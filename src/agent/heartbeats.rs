//! The heartbeats the agent watches: their reports so far, folded from the
//! pings in the store (the API and `keepwatch ping` write them, from this
//! process or another), and when each must be judged again. A heartbeat is
//! judged when a ping of it arrives and at its `next_look` (a deadline);
//! its outcome then goes through the same confirmation and pipeline as a
//! check's, so it alerts, recovers and follows business hours and
//! maintenance like any service.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::checks::heartbeat::{HeartbeatSpec, Reports};
use crate::checks::pings;
use crate::checks::{CheckOutcome, CheckSpec, ServiceSpec};
use crate::store::Store;

#[derive(Debug)]
struct Watched {
    name: String,
    spec: HeartbeatSpec,
    reports: Reports,
    next_look: Option<Timestamp>,
    /// A ping came (or it is new) since it was last judged.
    stale: bool,
}

/// Every configured heartbeat and the last ping taken.
#[derive(Debug, Default)]
pub struct Heartbeats {
    watched: Vec<Watched>,
    last_ping: i64,
}

impl Heartbeats {
    /// The heartbeats among `specs`, with their ping keys (made now for new
    /// ones) and what their stored pings amount to.
    pub fn new(specs: &[ServiceSpec], store: &mut Store, now: Timestamp) -> Self {
        let mut heartbeats = Self::default();
        heartbeats.reconfigure(specs, store, now);
        heartbeats
    }

    /// After a config change: the heartbeats are read again from the store,
    /// and each is judged at the next look.
    pub fn reconfigure(&mut self, specs: &[ServiceSpec], store: &mut Store, now: Timestamp) {
        self.watched.clear();
        if pings::heartbeats(specs).next().is_none() {
            return;
        }
        // Read first: a ping written meanwhile is taken twice, which changes
        // nothing, rather than not at all.
        match store.last_ping_id() {
            Ok(id) => self.last_ping = id,
            Err(err) => tracing::warn!("could not read the heartbeat pings: {err}"),
        }
        let keys = match pings::keys(store, specs, now) {
            Ok(keys) => keys,
            Err(err) => {
                tracing::error!("heartbeats cannot be watched: {err}");
                return;
            }
        };
        for (spec, key) in pings::heartbeats(specs).zip(keys) {
            let CheckSpec::Heartbeat(heartbeat) = &spec.check else {
                continue;
            };
            let reports = pings::reports(store, &key).unwrap_or_else(|err| {
                tracing::warn!(
                    "could not read the pings of {}: {err}",
                    crate::printable::name(&key.service)
                );
                Reports::new(key.since)
            });
            self.watched.push(Watched {
                name: key.service,
                spec: heartbeat.clone(),
                reports,
                next_look: None,
                stale: true,
            });
        }
    }

    /// Takes the pings that arrived since the last look and judges, at
    /// `now` in `tz`, every heartbeat that got one or reached its next
    /// look; returns their outcomes by name.
    pub fn look(
        &mut self,
        store: &Store,
        now: Timestamp,
        tz: &TimeZone,
    ) -> Vec<(String, CheckOutcome)> {
        if self.watched.is_empty() {
            return Vec::new();
        }
        match store.pings_after(self.last_ping) {
            Ok(arrived) => {
                for stored in arrived {
                    self.last_ping = self.last_ping.max(stored.id);
                    if let Some(watched) =
                        self.watched.iter_mut().find(|w| w.name == stored.service)
                    {
                        watched.reports.take(&pings::ping_of(&stored));
                        watched.stale = true;
                    }
                }
            }
            Err(err) => tracing::debug!("could not read new heartbeat pings, will retry: {err}"),
        }
        let mut judged = Vec::new();
        for watched in &mut self.watched {
            if !watched.stale && watched.next_look.is_none_or(|at| at > now) {
                continue;
            }
            let judgement = watched.spec.judge(&watched.name, &watched.reports, now, tz);
            watched.next_look = judgement.next_look;
            watched.stale = false;
            judged.push((watched.name.clone(), judgement.outcome));
        }
        judged
    }

    /// The earliest time a heartbeat must be judged even without a ping.
    pub fn next_look(&self) -> Option<Timestamp> {
        self.watched.iter().filter_map(|w| w.next_look).min()
    }
}
