//! A hub's side of its agents: each agent's stream (the last batch taken,
//! when it was heard from, its clock), what alerting needs of its services,
//! and when it went silent. A batch is taken in one transaction with its
//! place in the stream, so a hub killed at any moment has either all of a
//! batch and its cursor or neither, and the agent sends it again.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use rusqlite::{OptionalExtension, params};

use super::services::state_from;
use super::{Incident, ServiceStatus, Store, StoreError, write_samples};
use crate::observation::Sample;
use crate::vocabulary::{FailureKind, State};

/// What the hub knows of one agent's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAgent {
    /// The agent's name (its token's).
    pub name: String,
    /// The session of the last batch taken.
    pub session: String,
    /// That batch's number in its session.
    pub seq: u64,
    /// The end of its window: the agent's data up to here is on the hub
    /// (the agent's clock).
    pub upto: Timestamp,
    /// When the hub last heard from it (the hub's clock).
    pub seen: Timestamp,
    /// The agent's clock when it sent that batch.
    pub sent: Timestamp,
    /// When the hub first heard from it.
    pub first: Timestamp,
    /// Its keepwatch version.
    pub version: String,
}

impl RemoteAgent {
    /// How far the agent's clock was ahead of the hub's (behind, if
    /// negative) when its last batch came, give or take the time on the way.
    pub fn clock_offset(&self) -> SignedDuration {
        self.seen.duration_until(self.sent)
    }

    /// How much of its data had not reached the hub when it sent its last
    /// batch: zero when it is up to date, the length of its backlog while it
    /// catches up after an outage.
    pub fn behind(&self) -> SignedDuration {
        self.upto
            .duration_until(self.sent)
            .max(SignedDuration::ZERO)
    }
}

/// What the hub's alerting needs of one agent's service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteServiceInfo {
    /// The agent it runs on.
    pub host: String,
    /// Its name on the hub (`web2/shop`).
    pub name: String,
    /// Marked critical on the agent.
    pub critical: bool,
    /// Its hub names of the services it depends on.
    pub depends_on: Vec<String>,
}

/// One batch as the hub stores it, its names already the hub's.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// The agent.
    pub host: &'a str,
    /// The batch's session and number.
    pub session: &'a str,
    /// See `session`.
    pub seq: u64,
    /// The end of its window.
    pub upto_ms: i64,
    /// The agent's clock when it was sent.
    pub sent_ms: i64,
    /// The agent's keepwatch version.
    pub version: &'a str,
    /// Its samples, as series of `host`.
    pub samples: &'a [Sample],
    /// Its incidents (their ids are the agent's and are not kept).
    pub incidents: &'a [Incident],
    /// The state of its services, with their settings.
    pub services: &'a [(ServiceStatus, RemoteServiceInfo)],
}

/// What taking a batch did.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    /// It had been taken before: nothing was stored again.
    pub duplicate: bool,
    /// The stream before this batch (`None`: the agent's first).
    pub previous: Option<RemoteAgent>,
    /// The services whose state is new or changed: the state before
    /// (`None` for a new one) and as they stand now.
    pub changed: Vec<(Option<State>, ServiceStatus)>,
}

/// A time an agent was silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// The agent.
    pub host: String,
    /// When the hub last heard from it before.
    pub from: Timestamp,
    /// When it reported again; `None` while it is silent.
    pub to: Option<Timestamp>,
}

impl Store {
    /// Stores a batch from an agent and its place in the agent's stream, in
    /// one transaction, at the hub's time `now`. A batch whose session and
    /// number were taken already only counts as a sign of life.
    pub fn take_batch(&mut self, batch: &Arrival<'_>, now: Timestamp) -> Result<Taken, StoreError> {
        let previous = self.remote_agent(batch.host)?;
        let Store {
            conn, path, ids, ..
        } = self;
        let fail = |source| StoreError::sqlite("storing an agent's batch", path, source);
        let tx = conn.transaction().map_err(fail)?;
        let now_ms = now.as_millisecond();
        let duplicate = previous
            .as_ref()
            .is_some_and(|p| p.session == batch.session && p.seq >= batch.seq);
        if duplicate {
            tx.execute(
                "UPDATE remote_agents SET seen_ms = ?2 WHERE name = ?1",
                params![batch.host, now_ms],
            )
            .map_err(fail)?;
            tx.commit().map_err(fail)?;
            return Ok(Taken {
                duplicate,
                previous,
                changed: Vec::new(),
            });
        }
        let mut new_ids = HashMap::new();
        write_samples(&tx, ids, &mut new_ids, batch.samples).map_err(fail)?;
        for incident in batch.incidents {
            mirror_incident(&tx, incident).map_err(fail)?;
        }
        let mut changed = Vec::new();
        for (status, info) in batch.services {
            let before: Option<(String, i64)> = tx
                .prepare_cached("SELECT state, checked_ms FROM service_status WHERE name = ?1")
                .and_then(|mut s| {
                    s.query_row([&status.name], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(fail)?;
            let checked_ms = status.checked_at.as_millisecond();
            match before {
                // Older than what the hub has (sent again after a newer one).
                Some((_, before_ms)) if before_ms > checked_ms => continue,
                Some((state, _)) if state_from(&state) == status.state => {}
                before => changed.push((before.map(|(s, _)| state_from(&s)), status.clone())),
            }
            super::services::upsert_status(&tx, status).map_err(fail)?;
            tx.prepare_cached(
                "INSERT INTO remote_services (host, name, critical, depends_on) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (host, name) DO UPDATE
                 SET critical = excluded.critical, depends_on = excluded.depends_on",
            )
            .and_then(|mut s| {
                s.execute(params![
                    info.host,
                    info.name,
                    info.critical,
                    info.depends_on.join("\n")
                ])
            })
            .map_err(fail)?;
        }
        tx.prepare_cached(
            "INSERT INTO remote_agents (name, session, seq, upto_ms, seen_ms, sent_ms, first_ms, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, ?7)
             ON CONFLICT (name) DO UPDATE SET session = excluded.session, seq = excluded.seq,
               upto_ms = excluded.upto_ms, seen_ms = excluded.seen_ms,
               sent_ms = excluded.sent_ms, version = excluded.version",
        )
        .and_then(|mut s| {
            s.execute(params![
                batch.host,
                batch.session,
                i64::try_from(batch.seq).unwrap_or(i64::MAX),
                batch.upto_ms,
                now_ms,
                batch.sent_ms,
                batch.version
            ])
        })
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        ids.extend(new_ids);
        Ok(Taken {
            duplicate,
            previous,
            changed,
        })
    }

    /// One agent's stream, if the hub ever heard from it.
    pub fn remote_agent(&self, name: &str) -> Result<Option<RemoteAgent>, StoreError> {
        Ok(self
            .remote_agents()?
            .into_iter()
            .find(|agent| agent.name == name))
    }

    /// Every agent the hub has heard from, by name.
    pub fn remote_agents(&self) -> Result<Vec<RemoteAgent>, StoreError> {
        let fail = |source| StoreError::sqlite("reading the agents", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, session, seq, upto_ms, seen_ms, sent_ms, first_ms, version
                 FROM remote_agents ORDER BY name",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    [r.get::<_, i64>(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(fail)?;
        let mut agents = Vec::new();
        for row in rows {
            let (name, session, seq, [upto, seen, sent, first], version) = row.map_err(fail)?;
            agents.push(RemoteAgent {
                name,
                session,
                seq: u64::try_from(seq).unwrap_or(0),
                upto: self.timestamp(upto)?,
                seen: self.timestamp(seen)?,
                sent: self.timestamp(sent)?,
                first: self.timestamp(first)?,
                version,
            });
        }
        Ok(agents)
    }

    /// What alerting needs of every agent's services.
    pub fn remote_services(&self) -> Result<Vec<RemoteServiceInfo>, StoreError> {
        let fail = |source| StoreError::sqlite("reading the agents' services", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT host, name, critical, depends_on FROM remote_services ORDER BY host, name",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |r| {
                let depends_on: String = r.get(3)?;
                Ok(RemoteServiceInfo {
                    host: r.get(0)?,
                    name: r.get(1)?,
                    critical: r.get(2)?,
                    depends_on: depends_on
                        .split('\n')
                        .filter(|name| !name.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Notes that `host` has been silent since `from` (once per silence).
    pub fn silence_began(&mut self, host: &str, from: Timestamp) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO silences (host, from_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![host, from.as_millisecond()],
            )
            .map_err(|source| StoreError::sqlite("noting a silent agent", &self.path, source))?;
        Ok(())
    }

    /// Notes that `host` reported again at `at`, ending its silence.
    pub fn silence_ended(&mut self, host: &str, at: Timestamp) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE silences SET to_ms = ?2 WHERE host = ?1 AND to_ms IS NULL",
                params![host, at.as_millisecond()],
            )
            .map_err(|source| StoreError::sqlite("noting a silent agent", &self.path, source))?;
        Ok(())
    }

    /// The silences that overlap `from..to`, oldest first.
    pub fn silences(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Silence>, StoreError> {
        let fail = |source| StoreError::sqlite("reading silent agents", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT host, from_ms, to_ms FROM silences
                 WHERE from_ms < ?2 AND (to_ms IS NULL OR to_ms >= ?1) ORDER BY from_ms, host",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([from.as_millisecond(), to.as_millisecond()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })
            .map_err(fail)?;
        let mut silences = Vec::new();
        for row in rows {
            let (host, from, to) = row.map_err(fail)?;
            silences.push(Silence {
                host,
                from: self.timestamp(from)?,
                to: to.map(|ms| self.timestamp(ms)).transpose()?,
            });
        }
        Ok(silences)
    }
}

/// Stores an agent's incident, found again by its service and start: sent
/// twice (or again while it lasts, as it worsens and ends), it is one.
fn mirror_incident(tx: &rusqlite::Transaction<'_>, incident: &Incident) -> rusqlite::Result<()> {
    let started = incident.started.as_millisecond();
    let ended = incident.ended.map(Timestamp::as_millisecond);
    let kind = incident.kind.map(FailureKind::as_str);
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM incidents WHERE service = ?1 AND started_ms = ?2")?
        .query_row(params![incident.service, started], |r| r.get(0))
        .optional()?;
    match existing {
        Some(id) => tx
            .prepare_cached(
                "UPDATE incidents SET ended_ms = ?2, state = ?3, kind = ?4, cause = ?5 WHERE id = ?1",
            )?
            .execute(params![id, ended, incident.state.as_str(), kind, incident.cause])?,
        None => tx
            .prepare_cached(
                "INSERT INTO incidents (service, started_ms, ended_ms, state, kind, cause)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                incident.service,
                started,
                ended,
                incident.state.as_str(),
                kind,
                incident.cause
            ])?,
    };
    Ok(())
}

#[cfg(test)]
mod tests;
