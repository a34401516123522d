//! An agent's side of delivering to its hub: what it recorded and the hub
//! has not acknowledged yet. The backlog is the history itself, so it lives
//! within `max_size` and is thinned oldest first like any history; all this
//! adds is a cursor.
//!
//! The cursor is one row: `sent_ms`, everything recorded up to that instant
//! (the agent's clock) is acknowledged; `reading_ms`, the end of the window
//! being read and sent. A write of anything recorded at or before
//! `reading_ms` moves both back to just before it ([`recorded_at`], in the
//! writing transaction), and the acknowledgement moves the cursor only if
//! neither changed since the window was read. So a sample written late (a
//! full disk's buffer flushed, a clock set back) or while its window was on
//! its way is sent again rather than skipped; the hub stores it once anyway.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, params};

use super::codec::{self, Point};
use super::maintain::{chunk_hour, hour_first_id};
use super::{DAY_MS, Incident, ServiceStatus, Store, StoreError};
use crate::observation::SeriesKey;

/// What was recorded in one window and not yet acknowledged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unsent {
    /// The window: after this instant...
    pub after_ms: i64,
    /// ...up to and including this one. A window that held more than asked
    /// for ends earlier than asked.
    pub upto_ms: i64,
    /// The points of each series of the host, by time.
    pub series: Vec<(SeriesKey, Vec<Point>)>,
    /// Incidents that overlap the window, open ones included.
    pub incidents: Vec<Incident>,
    /// The current state of the services checked in the window.
    pub services: Vec<ServiceStatus>,
}

impl Unsent {
    /// How many samples it holds.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|(_, points)| points.len()).sum()
    }
}

/// Where the cursor stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Everything recorded up to here is acknowledged.
    pub sent_ms: i64,
    /// The end of the window on its way (equal to `sent_ms` when none is).
    pub reading_ms: i64,
}

/// Moves the cursor back before `at_ms` if something recorded then may
/// already have been read for sending: part of every write of samples,
/// incidents and service states. Nothing happens on a computer that sends
/// to no hub (no cursor row).
pub(super) fn recorded_at(conn: &Connection, at_ms: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE outgoing SET sent_ms = min(sent_ms, ?1 - 1), reading_ms = min(sent_ms, ?1 - 1)
         WHERE ?1 <= reading_ms",
    )?
    .execute([at_ms])?;
    Ok(())
}

impl Store {
    /// The cursor, created at the start of time (everything recorded so far
    /// is sent) the first time this computer sends to a hub.
    pub fn outgoing_cursor(&mut self) -> Result<Cursor, StoreError> {
        let fail = |source| StoreError::sqlite("reading what the hub has", &self.path, source);
        self.conn
            .execute(
                "INSERT INTO outgoing (id, sent_ms, reading_ms) VALUES (1, 0, 0)
                 ON CONFLICT (id) DO NOTHING",
                [],
            )
            .map_err(fail)?;
        self.conn
            .query_row("SELECT sent_ms, reading_ms FROM outgoing", [], |r| {
                Ok(Cursor {
                    sent_ms: r.get(0)?,
                    reading_ms: r.get(1)?,
                })
            })
            .map_err(fail)
    }

    /// Marks the window after the cursor up to `upto_ms` as being read for
    /// sending; returns the cursor, whose `sent_ms` starts the window.
    /// `acked` is the window the hub acknowledged since the last call (as
    /// it was read, and up to where the hub has it): the cursor first moves
    /// there, unless something was recorded into that window since (then
    /// it stays, and that is sent again). One transaction, so a link that
    /// sends every few seconds costs one small write each time.
    pub fn begin_sending(
        &mut self,
        acked: Option<(Cursor, i64)>,
        upto_ms: i64,
    ) -> Result<Cursor, StoreError> {
        self.outgoing_cursor()?;
        let fail = |source| StoreError::sqlite("noting what the hub has", &self.path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        if let Some((read, acked_ms)) = acked {
            tx.execute(
                "UPDATE outgoing SET sent_ms = ?1, reading_ms = ?1
                 WHERE sent_ms = ?2 AND reading_ms = ?3",
                params![acked_ms, read.sent_ms, read.reading_ms],
            )
            .map_err(fail)?;
        }
        let sent_ms: i64 = tx
            .query_row("SELECT sent_ms FROM outgoing", [], |r| r.get(0))
            .map_err(fail)?;
        let reading_ms = upto_ms.max(sent_ms);
        tx.execute("UPDATE outgoing SET reading_ms = ?1", params![reading_ms])
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(Cursor {
            sent_ms,
            reading_ms,
        })
    }

    /// The first instant after `after_ms` with anything recorded (an
    /// hour's chunk counts from its start), or `None`.
    pub fn next_recorded(&self, after_ms: i64) -> Result<Option<i64>, StoreError> {
        let fail = |source| StoreError::sqlite("reading what the hub has", &self.path, source);
        let staged: Option<i64> = self
            .conn
            .query_row(
                "SELECT at_ms FROM staging WHERE k >= ?1 ORDER BY k LIMIT 1",
                [super::staging_key(after_ms.saturating_add(1))],
                |r| r.get(0),
            )
            .optional()
            .map_err(fail)?;
        let sealed: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(start_ms) FROM chunks WHERE end_ms > ?1",
                [after_ms],
                |r| r.get(0),
            )
            .map_err(fail)?;
        let events: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(t) FROM (SELECT min(started_ms) AS t FROM incidents WHERE started_ms > ?1
                 UNION ALL SELECT min(ended_ms) FROM incidents WHERE ended_ms > ?1)",
                [after_ms],
                |r| r.get(0),
            )
            .map_err(fail)?;
        Ok([staged, sealed.map(|s| s.max(after_ms + 1)), events]
            .into_iter()
            .flatten()
            .min())
    }

    /// What `host` recorded in `(after_ms, upto_ms]`: at most `max` samples
    /// (a fuller window is cut short at an instant, every sample of which is
    /// in), the incidents that overlap it and the services checked in it.
    pub fn unsent(
        &self,
        host: &str,
        after_ms: i64,
        upto_ms: i64,
        max: usize,
    ) -> Result<Unsent, StoreError> {
        let fail = |source| StoreError::sqlite("reading what the hub has", &self.path, source);
        let keys = self.series_of(host)?;
        let mut by_series: BTreeMap<i64, (Vec<Point>, Vec<Point>)> = BTreeMap::new();
        // Chunks of the hours of the window, and the day-long chunk of its first day.
        let first_id = hour_first_id(chunk_hour((after_ms + 1).div_euclid(DAY_MS) * DAY_MS));
        let end_id = hour_first_id(chunk_hour(upto_ms).saturating_add(1));
        {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT series_id, start_ms, data FROM chunks
                     WHERE id >= ?1 AND id < ?2 AND end_ms > ?3 AND start_ms <= ?4",
                )
                .map_err(fail)?;
            let mut rows = stmt
                .query(params![first_id, end_id, after_ms, upto_ms])
                .map_err(fail)?;
            while let Some(row) = rows.next().map_err(fail)? {
                let series_id: i64 = row.get(0).map_err(fail)?;
                if !keys.contains_key(&series_id) {
                    continue;
                }
                let start_ms: i64 = row.get(1).map_err(fail)?;
                let data = row
                    .get_ref(2)
                    .and_then(|v| Ok(v.as_blob()?))
                    .map_err(fail)?;
                let points =
                    codec::decode(data).map_err(|e| self.damaged(series_id, start_ms, e))?;
                by_series.entry(series_id).or_default().0.extend(
                    points
                        .into_iter()
                        .filter(|p| p.0 > after_ms && p.0 <= upto_ms),
                );
            }
        }
        {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT series_id, at_ms, value FROM staging WHERE k >= ?1 AND k < ?2
                     ORDER BY k",
                )
                .map_err(fail)?;
            let (from, to) = super::staged_after(after_ms, upto_ms);
            let mut rows = stmt.query([from, to]).map_err(fail)?;
            while let Some(row) = rows.next().map_err(fail)? {
                let series_id: i64 = row.get(0).map_err(fail)?;
                if keys.contains_key(&series_id) {
                    let point = (row.get(1).map_err(fail)?, row.get(2).map_err(fail)?);
                    by_series.entry(series_id).or_default().1.push(point);
                }
            }
        }
        let mut series: Vec<(SeriesKey, Vec<Point>)> = by_series
            .into_iter()
            .filter_map(|(id, (mut sealed, staged))| {
                // A day chunk and its hours are never both there; sorted anyway.
                sealed.sort_by_key(|p| p.0);
                let points = super::maintain::merge(sealed, staged);
                Some((keys.get(&id)?.clone(), points))
            })
            .collect();
        let upto_ms = cut(&mut series, after_ms, upto_ms, max);
        Ok(Unsent {
            after_ms,
            upto_ms,
            series,
            incidents: self.incidents_overlapping(after_ms, upto_ms)?,
            services: self
                .service_statuses()?
                .into_iter()
                .filter(|s| {
                    let at = s.checked_at.as_millisecond();
                    at > after_ms && at <= upto_ms
                })
                .collect(),
        })
    }

    /// The series of `host`, by id, read from the file (the process that
    /// writes them may have added some since this connection opened).
    fn series_of(&self, host: &str) -> Result<HashMap<i64, SeriesKey>, StoreError> {
        let fail = |source| StoreError::sqlite("listing series", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, metric, instance FROM series WHERE host = ?1")
            .map_err(fail)?;
        let rows = stmt
            .query_map([host], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    SeriesKey::new(host, r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                ))
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Incidents open at some point of `(after_ms, upto_ms]`.
    fn incidents_overlapping(
        &self,
        after_ms: i64,
        upto_ms: i64,
    ) -> Result<Vec<Incident>, StoreError> {
        let from = self.timestamp(after_ms.saturating_add(1))?;
        let to = self.timestamp(upto_ms.saturating_add(1))?;
        self.incidents(from, to)
    }

    /// Where the cursor stands, without creating it: `None` on a computer
    /// that never sent to a hub.
    pub fn outgoing(&self) -> Result<Option<Cursor>, StoreError> {
        self.conn
            .query_row("SELECT sent_ms, reading_ms FROM outgoing", [], |r| {
                Ok(Cursor {
                    sent_ms: r.get(0)?,
                    reading_ms: r.get(1)?,
                })
            })
            .optional()
            .map_err(|source| StoreError::sqlite("reading what the hub has", &self.path, source))
    }
}

/// Cuts `series` so at most `max` points remain, at an instant: every point
/// up to the returned end is kept, none after. Returns the window's end.
fn cut(series: &mut [(SeriesKey, Vec<Point>)], after_ms: i64, upto_ms: i64, max: usize) -> i64 {
    let count: usize = series.iter().map(|(_, p)| p.len()).sum();
    if count <= max {
        return upto_ms;
    }
    let mut times: Vec<i64> = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.0))
        .collect();
    times.sort_unstable();
    // Just before the first point that does not fit; at least one instant.
    let end = (times[max] - 1).max(times[0]).max(after_ms + 1);
    for (_, points) in series.iter_mut() {
        points.retain(|p| p.0 <= end);
    }
    end
}

#[cfg(test)]
mod tests;
