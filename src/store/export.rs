//! What remote write reads: every series' samples in a window of time, sealed
//! and recent alike, read in one snapshot of the file.
//!
//! One snapshot matters: [`Store::maintain`] moves closed hours from staging
//! into chunks in its own transaction. Reading the chunks and then staging
//! outside a transaction could see an hour in neither place (read from
//! staging after it was sealed, from the chunks before), and a reader that
//! moves its position past that hour would never send it.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{OptionalExtension, params};

use super::codec::{self, Point};
use super::maintain::{self, chunk_hour, hour_first_id};
use super::{DAY_MS, Store, StoreError};
use crate::observation::SeriesKey;

/// One series' samples in a window: times in milliseconds since 1970, in
/// order, one value per time.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoints {
    /// The series.
    pub key: SeriesKey,
    /// `(milliseconds since 1970, value)`, ordered by time.
    pub points: Vec<(i64, f64)>,
}

impl Store {
    /// Every sample with a time after `after_ms` and up to `until_ms`, of
    /// every series, grouped by series (ordered by host, metric, instance).
    /// Sealed values are rounded as the store keeps them (to 1/100 of the unit).
    pub fn samples_between(
        &mut self,
        after_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<SeriesPoints>, StoreError> {
        if until_ms <= after_ms {
            return Ok(Vec::new());
        }
        let path = self.path.clone();
        let fail = |source| StoreError::sqlite("reading history to export", &path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        let mut sealed: BTreeMap<i64, Vec<Point>> = BTreeMap::new();
        {
            // A chunk is at most a day long, so one that reaches past
            // `after_ms` starts at most a day before it; ids are hour-major.
            let mut stmt = tx
                .prepare_cached(
                    "SELECT series_id, start_ms, data FROM chunks
                     WHERE id >= ?1 AND id < ?2 AND end_ms > ?3 AND start_ms <= ?4",
                )
                .map_err(fail)?;
            let first = hour_first_id(chunk_hour(after_ms.saturating_sub(DAY_MS)));
            let past = hour_first_id(chunk_hour(until_ms).saturating_add(1));
            let mut rows = stmt
                .query(params![first, past, after_ms, until_ms])
                .map_err(fail)?;
            let mut chunk = Vec::new();
            while let Some(row) = rows.next().map_err(fail)? {
                let series_id: i64 = row.get(0).map_err(fail)?;
                let start_ms: i64 = row.get(1).map_err(fail)?;
                let data = row
                    .get_ref(2)
                    .and_then(|v| Ok(v.as_blob()?))
                    .map_err(fail)?;
                chunk.clear();
                codec::decode_into(data, &mut chunk)
                    .map_err(|err| maintain::self_damaged(&path, series_id, start_ms, err))?;
                sealed
                    .entry(series_id)
                    .or_default()
                    .extend(chunk.iter().filter(|p| p.0 > after_ms && p.0 <= until_ms));
            }
        }
        let mut staged: BTreeMap<i64, Vec<Point>> = BTreeMap::new();
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT series_id, at_ms, value FROM staging
                     WHERE k >= ?1 AND k < ?2 ORDER BY k",
                )
                .map_err(fail)?;
            let (from, to) = super::staged_after(after_ms, until_ms);
            let mut rows = stmt.query(params![from, to]).map_err(fail)?;
            while let Some(row) = rows.next().map_err(fail)? {
                let series_id: i64 = row.get(0).map_err(fail)?;
                staged
                    .entry(series_id)
                    .or_default()
                    .push((row.get(1).map_err(fail)?, row.get(2).map_err(fail)?));
            }
        }
        let keys = series_keys(&tx, sealed.keys().chain(staged.keys())).map_err(fail)?;
        tx.commit().map_err(fail)?;
        let mut found: Vec<SeriesPoints> = Vec::with_capacity(keys.len());
        for (id, key) in keys {
            let mut older = sealed.remove(&id).unwrap_or_default();
            // Chunks of one series do not overlap, but they come in id order,
            // which is by start: sorting is cheap insurance for merge.
            older.sort_by_key(|p| p.0);
            let points = maintain::merge(older, staged.remove(&id).unwrap_or_default());
            if !points.is_empty() {
                found.push(SeriesPoints { key, points });
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    /// The time of the oldest sample held, sealed or recent; `None` for an
    /// empty store.
    pub fn oldest_sample_ms(&self) -> Result<Option<i64>, StoreError> {
        let fail = |source| StoreError::sqlite("finding the oldest sample", &self.path, source);
        let query = |sql: &str| -> Result<Option<i64>, StoreError> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
                .optional()
                .map(Option::flatten)
                .map_err(fail)
        };
        // Chunk ids are hour-major: the first id is the earliest hour.
        let sealed = query("SELECT start_ms FROM chunks ORDER BY id LIMIT 1")?;
        let staged = query("SELECT at_ms FROM staging ORDER BY k LIMIT 1")?;
        Ok(sealed.into_iter().chain(staged).min())
    }
}

/// The keys of the series `ids`.
fn series_keys<'a>(
    tx: &rusqlite::Transaction<'_>,
    ids: impl Iterator<Item = &'a i64>,
) -> rusqlite::Result<HashMap<i64, SeriesKey>> {
    let mut stmt = tx.prepare_cached("SELECT host, metric, instance FROM series WHERE id = ?1")?;
    let mut keys = HashMap::new();
    for &id in ids {
        if keys.contains_key(&id) {
            continue;
        }
        let key = stmt.query_row([id], |r| {
            Ok(SeriesKey::new(
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        keys.insert(id, key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, open_in, sample, t0};
    use crate::observation::Sample;

    /// Every sample of every series between two times, read through
    /// `samples_between` in windows of `step` seconds.
    fn read_in_windows(
        store: &mut super::Store,
        from: i64,
        to: i64,
        step: i64,
    ) -> Vec<(String, i64, f64)> {
        let mut all = Vec::new();
        let mut after = at(from).as_millisecond() - 1;
        let end = at(to).as_millisecond();
        while after < end {
            let until = (after + step * 1000).min(end);
            for series in store.samples_between(after, until).unwrap() {
                for (ms, value) in series.points {
                    all.push((series.key.metric.clone(), ms, value));
                }
            }
            after = until;
        }
        all.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        all
    }

    #[test]
    fn windows_cover_sealed_and_recent_history_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open_in(&dir);
        // Three days of two series every 10 minutes, then the last hours'
        // samples still in staging.
        let batch = |seconds: i64| -> Vec<Sample> {
            vec![
                sample("cpu.usage_percent", seconds, (seconds % 977) as f64 / 10.0),
                sample("load.1", seconds, (seconds % 13) as f64),
            ]
        };
        let end = 3 * 86_400;
        for seconds in (0..end).step_by(600) {
            store.write(&batch(seconds)).unwrap();
        }
        // Two days sealed and compacted into day chunks, the third in hours.
        store.maintain(at(end - 7200)).unwrap();
        assert!(store.oldest_sample_ms().unwrap() == Some(t0().as_millisecond()));

        let expected: Vec<(String, i64, f64)> = {
            let mut all: Vec<_> = (0..end)
                .step_by(600)
                .flat_map(batch)
                .map(|s| (s.key.metric, s.at.as_millisecond(), s.value))
                .collect();
            all.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            all
        };
        for step in [600, 3600, 7000, 86_400 * 4] {
            let read = read_in_windows(&mut store, 0, end, step);
            assert_eq!(read.len(), expected.len(), "windows of {step} s");
            for (got, want) in read.iter().zip(&expected) {
                assert_eq!((&got.0, got.1), (&want.0, want.1), "windows of {step} s");
                assert!((got.2 - want.2).abs() <= 0.005, "{got:?} {want:?}");
            }
        }
        assert!(store.samples_between(10, 10).unwrap().is_empty());
    }

    #[test]
    fn a_late_sample_merged_into_a_sealed_hour_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open_in(&dir);
        store.write(&[sample("load.1", 60, 1.0)]).unwrap();
        store.maintain(at(7200)).unwrap();
        // Written again after sealing: staging holds the newer value.
        store.write(&[sample("load.1", 60, 2.0)]).unwrap();
        let read = store
            .samples_between(t0().as_millisecond(), at(3600).as_millisecond())
            .unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].points, vec![(at(60).as_millisecond(), 2.0)]);
        assert_eq!(read[0].key.host, "web1");
    }
}
