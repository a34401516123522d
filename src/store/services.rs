//! What the store keeps about services beyond their response-time history:
//! each service's current state with the last explanation, and incidents
//! (from the confirmed start of a problem to the confirmed recovery), which
//! alerts and reports read.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::vocabulary::{FailureKind, State, service_metric};

/// The current state of one service, as `keepwatch status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStatus {
    /// The service's configured name.
    pub name: String,
    /// The confirmed state.
    pub state: State,
    /// The failure the last run found, if any.
    pub kind: Option<FailureKind>,
    /// The last run's explanation.
    pub explanation: String,
    /// Since when the confirmed state holds.
    pub since: Timestamp,
    /// When the check last ran.
    pub checked_at: Timestamp,
    /// How long the last answer took, in milliseconds.
    pub response_ms: Option<f64>,
}

/// One problem with one service, from its confirmed start to its recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Stable identifier.
    pub id: i64,
    /// The service's name.
    pub service: String,
    /// When the problem was confirmed.
    pub started: Timestamp,
    /// When the service was confirmed up again; `None` while it lasts.
    pub ended: Option<Timestamp>,
    /// The worst state during the incident.
    pub state: State,
    /// The failure behind that worst state.
    pub kind: Option<FailureKind>,
    /// The explanation of that failure.
    pub cause: String,
}

/// What a state change did to the incidents of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentChange {
    /// A new incident began.
    Opened(i64),
    /// The open incident got worse (e.g. from slow to down).
    Worsened(i64),
    /// The open incident ended.
    Closed(i64),
    /// Nothing to open or close (e.g. the first state seen is up).
    None,
}

pub(super) fn state_from(text: &str) -> State {
    match text {
        "up" => State::Up,
        "degraded" => State::Degraded,
        _ => State::Down,
    }
}

/// Saves the current states of services in the transaction `tx`, each
/// replacing its previous one, and lets the cursor to the hub know.
pub(super) fn save_statuses(
    tx: &rusqlite::Transaction<'_>,
    statuses: &[ServiceStatus],
) -> rusqlite::Result<()> {
    for status in statuses {
        upsert_status(tx, status)?;
    }
    if let Some(earliest) = statuses.iter().map(|s| s.checked_at.as_millisecond()).min() {
        super::outgoing::recorded_at(tx, earliest)?;
    }
    Ok(())
}

/// Writes the current state of one service over its previous one.
pub(super) fn upsert_status(
    tx: &rusqlite::Transaction<'_>,
    status: &ServiceStatus,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO service_status (name, state, kind, explanation, since_ms, checked_ms, response_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (name) DO UPDATE SET state = excluded.state, kind = excluded.kind,
           explanation = excluded.explanation, since_ms = excluded.since_ms,
           checked_ms = excluded.checked_ms, response_ms = excluded.response_ms",
    )?
    .execute(params![
        status.name,
        status.state.as_str(),
        status.kind.map(FailureKind::as_str),
        status.explanation,
        status.since.as_millisecond(),
        status.checked_at.as_millisecond(),
        status.response_ms,
    ])?;
    Ok(())
}

impl Store {
    /// Saves the current state of a service, replacing the previous one.
    pub fn save_service_status(&mut self, status: &ServiceStatus) -> Result<(), StoreError> {
        let path = self.path.clone();
        let fail = |source| StoreError::sqlite("saving a service's state", &path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        save_statuses(&tx, std::slice::from_ref(status)).map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// The current state of every service that has been checked, by name.
    ///
    /// A steady service's row is rewritten only every few minutes (its
    /// state changes are written at once), while its state and response
    /// time are written as series with every batch: when it was last
    /// checked, and how fast it answered then, come from the newest of the
    /// two.
    pub fn service_statuses(&self) -> Result<Vec<ServiceStatus>, StoreError> {
        let fail = |source| StoreError::sqlite("reading service states", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "WITH newest AS (
                     SELECT s.instance AS name, s.metric, max(l.at_ms) AS at_ms, l.value
                     FROM series s JOIN latest l ON l.series_id = s.id
                     WHERE s.metric IN (?1, ?2) AND s.instance IN (SELECT name FROM service_status)
                     GROUP BY s.instance, s.metric
                 )
                 SELECT ss.name, ss.state, ss.kind, ss.explanation, ss.since_ms,
                   CASE WHEN c.at_ms > ss.checked_ms THEN c.at_ms ELSE ss.checked_ms END,
                   CASE WHEN c.at_ms > ss.checked_ms
                        THEN (CASE WHEN r.at_ms = c.at_ms THEN r.value END)
                        ELSE ss.response_ms END
                 FROM service_status ss
                 LEFT JOIN newest c ON c.name = ss.name AND c.metric = ?1
                 LEFT JOIN newest r ON r.name = ss.name AND r.metric = ?2
                 ORDER BY ss.name",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([service_metric::STATE, service_metric::RESPONSE_MS], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<f64>>(6)?,
                ))
            })
            .map_err(fail)?;
        let mut statuses = Vec::new();
        for row in rows {
            let (name, state, kind, explanation, since, checked, response_ms) =
                row.map_err(fail)?;
            statuses.push(ServiceStatus {
                name,
                state: state_from(&state),
                kind: kind.and_then(|k| k.parse().ok()),
                explanation,
                since: self.timestamp(since)?,
                checked_at: self.timestamp(checked)?,
                response_ms,
            });
        }
        Ok(statuses)
    }

    /// Records a confirmed state change of `service`: a problem opens an
    /// incident (or worsens the open one), recovery closes it.
    pub fn record_transition(
        &mut self,
        service: &str,
        at: Timestamp,
        to: State,
        kind: Option<FailureKind>,
        cause: &str,
    ) -> Result<IncidentChange, StoreError> {
        let fail = |source| StoreError::sqlite("recording an incident", &self.path, source);
        let open: Option<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, state FROM incidents WHERE service = ?1 AND ended_ms IS NULL",
            )
            .and_then(|mut s| {
                s.query_row([service], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(fail)?;
        let at_ms = at.as_millisecond();
        let change = match (open, to) {
            (Some((id, _)), State::Up) => {
                self.conn
                    .prepare_cached("UPDATE incidents SET ended_ms = ?2 WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![id, at_ms]))
                    .map_err(fail)?;
                IncidentChange::Closed(id)
            }
            (None, State::Up) => IncidentChange::None,
            (Some((id, state)), _) if to.severity() > state_from(&state).severity() => {
                self.conn
                    .prepare_cached(
                        "UPDATE incidents SET state = ?2, kind = ?3, cause = ?4 WHERE id = ?1",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            id,
                            to.as_str(),
                            kind.map(FailureKind::as_str),
                            cause
                        ])
                    })
                    .map_err(fail)?;
                IncidentChange::Worsened(id)
            }
            (Some(_), _) => IncidentChange::None,
            (None, _) => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO incidents (service, started_ms, state, kind, cause) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .and_then(|mut s| s.execute(params![service, at_ms, to.as_str(), kind.map(FailureKind::as_str), cause]))
                    .map_err(fail)?;
                IncidentChange::Opened(self.conn.last_insert_rowid())
            }
        };
        super::outgoing::recorded_at(&self.conn, at_ms).map_err(fail)?;
        Ok(change)
    }

    /// Incidents that overlap `from..to`, oldest first; open ones included.
    pub fn incidents(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Incident>, StoreError> {
        let fail = |source| StoreError::sqlite("reading incidents", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, service, started_ms, ended_ms, state, kind, cause FROM incidents
                 WHERE started_ms < ?2 AND (ended_ms IS NULL OR ended_ms >= ?1)
                 ORDER BY started_ms, id",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map(params![from.as_millisecond(), to.as_millisecond()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(fail)?;
        let mut incidents = Vec::new();
        for row in rows {
            let (id, service, started, ended, state, kind, cause) = row.map_err(fail)?;
            incidents.push(Incident {
                id,
                service,
                started: self.timestamp(started)?,
                ended: ended.map(|ms| self.timestamp(ms)).transpose()?,
                state: state_from(&state),
                kind: kind.and_then(|k| k.parse().ok()),
                cause,
            });
        }
        Ok(incidents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StorageConfig;

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + minute * 60).unwrap()
    }

    fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
        (store, dir)
    }

    #[test]
    fn an_outage_opens_worsens_and_closes_one_incident() {
        let (mut store, _dir) = store();
        let slow = Some(FailureKind::Slow);
        let down = Some(FailureKind::HttpStatus);
        assert_eq!(
            store
                .record_transition("Shop", at(0), State::Up, None, "fine")
                .unwrap(),
            IncidentChange::None
        );
        let opened = store
            .record_transition("Shop", at(1), State::Degraded, slow, "slow")
            .unwrap();
        let IncidentChange::Opened(id) = opened else {
            panic!("{opened:?}")
        };
        assert_eq!(
            store
                .record_transition("Shop", at(2), State::Down, down, "503")
                .unwrap(),
            IncidentChange::Worsened(id)
        );
        assert_eq!(
            store
                .record_transition("Shop", at(3), State::Degraded, slow, "slow")
                .unwrap(),
            IncidentChange::None
        );
        let open = store.incidents(at(0), at(10)).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].state, open[0].kind, open[0].ended),
            (State::Down, down, None)
        );
        assert_eq!(open[0].cause, "503");
        assert_eq!(
            store
                .record_transition("Shop", at(4), State::Up, None, "fine")
                .unwrap(),
            IncidentChange::Closed(id)
        );
        let closed = store.incidents(at(0), at(10)).unwrap();
        assert_eq!(closed[0].ended, Some(at(4)));
        assert!(
            store.incidents(at(5), at(10)).unwrap().is_empty(),
            "ended before the range"
        );
        assert!(
            store.incidents(at(-10), at(0)).unwrap().is_empty(),
            "started after the range"
        );
    }

    #[test]
    fn service_statuses_are_replaced_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kw.db");
        let mut store = Store::open(&path, &StorageConfig::default()).unwrap();
        let mut status = ServiceStatus {
            name: "Shop".to_owned(),
            state: State::Up,
            kind: None,
            explanation: "Shop answered".to_owned(),
            since: at(0),
            checked_at: at(0),
            response_ms: Some(12.5),
        };
        store.save_service_status(&status).unwrap();
        status.state = State::Down;
        status.kind = Some(FailureKind::ConnectionRefused);
        status.checked_at = at(1);
        status.response_ms = None;
        store.save_service_status(&status).unwrap();
        drop(store);
        let store = Store::open(&path, &StorageConfig::default()).unwrap();
        assert_eq!(store.service_statuses().unwrap(), vec![status]);
    }

    #[test]
    fn the_last_check_and_its_response_time_come_from_the_series_when_newer() {
        let (mut store, _dir) = store();
        let saved = ServiceStatus {
            name: "Shop".to_owned(),
            state: State::Up,
            kind: None,
            explanation: "Shop answered in 12 ms.".to_owned(),
            since: at(0),
            checked_at: at(30),
            response_ms: Some(12.5),
        };
        store.save_service_status(&saved).unwrap();
        let result = |seconds, response: Option<f64>| {
            let key = |metric| crate::observation::SeriesKey::new("web1", metric, "Shop");
            let mut samples = vec![crate::observation::Sample {
                key: key(service_metric::STATE),
                at: at(seconds),
                value: 0.0,
            }];
            samples.extend(response.map(|value| crate::observation::Sample {
                key: key(service_metric::RESPONSE_MS),
                at: at(seconds),
                value,
            }));
            samples
        };
        // Older series than the row: the row stands.
        store.write(&result(0, Some(40.0))).unwrap();
        assert_eq!(store.service_statuses().unwrap(), vec![saved.clone()]);
        // Checked since, steady: the time and response time of that check.
        store.write(&result(60, Some(8.0))).unwrap();
        let read = store.service_statuses().unwrap();
        assert_eq!(
            (read[0].checked_at, read[0].response_ms),
            (at(60), Some(8.0))
        );
        assert_eq!(read[0].explanation, saved.explanation);
        // A check without a response time has none, not an older one.
        store.write(&result(90, None)).unwrap();
        let read = store.service_statuses().unwrap();
        assert_eq!((read[0].checked_at, read[0].response_ms), (at(90), None));
    }
}
