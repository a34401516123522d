//! Housekeeping: sealing recent samples into compact chunks, retention, the
//! disk cap, and giving freed space back to the file system.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;
use rusqlite::{OptionalExtension, Transaction, params};

use super::codec::{self, Point};
use super::hours;
use super::{CHUNK_MS, DAY_MS, Store, StoreError};

/// Thinned history keeps one average per 5 minutes: still enough for a month's
/// graph and for reports, at a thirtieth of the samples of a 10 s series.
const THIN_STEP_MS: i64 = 300_000;
/// Free pages are handed back to the file system only when they exceed this
/// share of the pages in use: staging frees and then reuses an hour of rows
/// every hour, and moving those pages back and forth would be wasted I/O.
const RECLAIM_FREE_SHARE: i64 = 4;

/// What one [`Store::maintain`] run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Chunks written from staging (new ones, or existing ones that late
    /// samples were merged into).
    pub sealed_chunks: usize,
    /// Samples moved from staging into chunks.
    pub sealed_samples: usize,
    /// Day-long chunks made from the hourly chunks of a finished day.
    pub compacted_chunks: usize,
    /// Chunks deleted because they were older than the retention.
    pub expired_chunks: usize,
    /// Staging samples deleted because they were older than the retention.
    pub expired_samples: usize,
    /// Chunks thinned to 5-minute averages to respect the disk cap.
    pub thinned_chunks: usize,
    /// Chunks deleted to respect the disk cap.
    pub dropped_chunks: usize,
    /// Size of the database before the run, in bytes.
    pub bytes_before: u64,
    /// Size of the database after the run, in bytes.
    pub bytes_after: u64,
    /// The database is still above the cap: not even deleting all history
    /// brought it under (recent samples and the latest values are kept).
    pub over_cap: bool,
}

impl Store {
    /// Deletes history older than the retention, seals every closed hour of
    /// recent samples into chunks, compacts finished days, applies the disk
    /// cap and reclaims free space.
    ///
    /// Call it regularly (every few minutes to every hour); `now` decides which
    /// hours are closed and what is too old. Each step is its own transaction,
    /// so a failure (a full disk) loses nothing and the next run picks up.
    pub fn maintain(&mut self, now: Timestamp) -> Result<MaintenanceReport, StoreError> {
        let mut report = MaintenanceReport {
            bytes_before: self.size_on_disk()?,
            ..MaintenanceReport::default()
        };
        let now_ms = now.as_millisecond();
        let retention = self.config.retention;
        if !retention.is_off() {
            let cutoff = now
                .saturating_sub(retention.signed())
                .unwrap_or(Timestamp::MIN);
            self.expire(cutoff.as_millisecond(), &mut report)?;
        }
        let sealed_before = now_ms.div_euclid(CHUNK_MS) * CHUNK_MS;
        self.seal(sealed_before, &mut report)?;
        self.compact(sealed_before.div_euclid(DAY_MS) * DAY_MS, &mut report)?;
        self.enforce_cap(&mut report)?;
        // Near the cap the file itself must shrink, since the disk may be
        // what is running out.
        self.reclaim(report.thinned_chunks + report.dropped_chunks > 0)?;
        report.bytes_after = self.size_on_disk()?;
        tracing::debug!(?report, "storage maintenance");
        Ok(report)
    }

    /// Deletes everything older than `cutoff_ms` except the latest values.
    fn expire(&mut self, cutoff_ms: i64, report: &mut MaintenanceReport) -> Result<(), StoreError> {
        let path = &self.path;
        let fail = |source| StoreError::sqlite("deleting old history", path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        report.expired_samples += tx
            .execute(
                "DELETE FROM staging WHERE k < ?1",
                [super::staging_key(cutoff_ms)],
            )
            .map_err(fail)?;
        // A chunk goes when all of it is too old. Chunks of later hours than
        // the cutoff's cannot be; the id range spares reading them.
        let after_cutoff_hour = hour_first_id(chunk_hour(cutoff_ms).saturating_add(1));
        report.expired_chunks += tx
            .execute(
                "DELETE FROM chunks WHERE id < ?1 AND end_ms < ?2",
                [after_cutoff_hour, cutoff_ms],
            )
            .map_err(fail)?;
        tx.execute("DELETE FROM events WHERE at_ms < ?1", [cutoff_ms])
            .map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// Moves staging samples before `cutoff_ms` (an hour boundary) into chunks.
    ///
    /// Staging is read in time order, one hour of all series at a time, so
    /// memory stays bounded by an hour of samples even after a long gap.
    fn seal(&mut self, cutoff_ms: i64, report: &mut MaintenanceReport) -> Result<(), StoreError> {
        let path = &self.path;
        let fail = |source| StoreError::sqlite("sealing history", path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        {
            let mut staged = tx
                .prepare("SELECT at_ms, series_id, value FROM staging WHERE k < ?1 ORDER BY k")
                .map_err(fail)?;
            let mut rows = staged
                .query([super::staging_key(cutoff_ms)])
                .map_err(fail)?;
            let mut hour = None;
            let mut by_series: BTreeMap<i64, Vec<Point>> = BTreeMap::new();
            while let Some(row) = rows.next().map_err(fail)? {
                let at_ms: i64 = row.get(0).map_err(fail)?;
                let series_id: i64 = row.get(1).map_err(fail)?;
                let value: f64 = row.get(2).map_err(fail)?;
                let this_hour = chunk_hour(at_ms);
                if hour != Some(this_hour) {
                    if let Some(done) = hour {
                        seal_hour(&tx, path, done, std::mem::take(&mut by_series), report)?;
                    }
                    hour = Some(this_hour);
                }
                by_series.entry(series_id).or_default().push((at_ms, value));
            }
            if let Some(done) = hour {
                seal_hour(&tx, path, done, by_series, report)?;
            }
        }
        tx.execute(
            "DELETE FROM staging WHERE k < ?1",
            [super::staging_key(cutoff_ms)],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// Merges the hourly chunks of every day that ends by `before_ms` into one
    /// chunk per series and day.
    fn compact(
        &mut self,
        before_ms: i64,
        report: &mut MaintenanceReport,
    ) -> Result<(), StoreError> {
        let limit = hour_first_id(chunk_hour(before_ms));
        loop {
            let oldest: Option<i64> = self
                .conn
                .query_row(OLDEST_HOURLY_CHUNK, [limit], |r| r.get(0))
                .optional()
                .map_err(|source| StoreError::sqlite("compacting history", &self.path, source))?;
            let Some(id) = oldest else {
                return Ok(());
            };
            let day_start = ((id >> 32) * CHUNK_MS).div_euclid(DAY_MS) * DAY_MS;
            report.compacted_chunks += self.compact_day(day_start)?;
        }
    }

    /// Replaces the chunks of the day starting at `day_start` by one chunk
    /// per series; returns how many it wrote.
    fn compact_day(&mut self, day_start: i64) -> Result<usize, StoreError> {
        let path = &self.path;
        let fail = |source| StoreError::sqlite("compacting history", path, source);
        let first = hour_first_id(chunk_hour(day_start));
        let end = hour_first_id(chunk_hour(day_start + DAY_MS));
        let tx = self.conn.transaction().map_err(fail)?;
        let mut by_series: BTreeMap<i64, (i64, Vec<Point>)> = BTreeMap::new();
        {
            let mut stmt = tx
                .prepare("SELECT series_id, start_ms, step, data FROM chunks WHERE id >= ?1 AND id < ?2 ORDER BY id")
                .map_err(fail)?;
            let mut rows = stmt.query([first, end]).map_err(fail)?;
            while let Some(row) = rows.next().map_err(fail)? {
                let series_id: i64 = row.get(0).map_err(fail)?;
                let start_ms: i64 = row.get(1).map_err(fail)?;
                let step: i64 = row.get(2).map_err(fail)?;
                let data = row
                    .get_ref(3)
                    .and_then(|v| Ok(v.as_blob()?))
                    .map_err(fail)?;
                let entry = by_series.entry(series_id).or_default();
                entry.0 = entry.0.max(step);
                // Ids run hour by hour, so each series' points arrive in order.
                codec::decode_into(data, &mut entry.1)
                    .map_err(|e| self_damaged(path, series_id, start_ms, e))?;
            }
        }
        tx.execute(
            "DELETE FROM chunks WHERE id >= ?1 AND id < ?2",
            [first, end],
        )
        .map_err(fail)?;
        let written = by_series.len();
        for (series_id, (step, mut points)) in by_series {
            // A partly thinned day is thinned whole: one resolution per chunk.
            if step > 0 {
                points = downsample(&points, step);
            }
            let chunk = Chunk {
                id: chunk_id(series_id, day_start).map_err(fail)?,
                series_id,
                start_ms: day_start,
                span_ms: DAY_MS,
                step,
                points: &points,
            };
            write_chunk(&tx, &chunk).map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        Ok(written)
    }

    /// Keeps the database under the configured cap: above 90% of it, thins the
    /// oldest raw hours, then deletes the oldest hours, until below 80%.
    fn enforce_cap(&mut self, report: &mut MaintenanceReport) -> Result<(), StoreError> {
        let cap = self.config.max_size.0;
        if cap == 0 {
            return Ok(());
        }
        let mut size = self.size_on_disk()?;
        if size <= cap / 10 * 9 {
            return Ok(());
        }
        let low = cap / 10 * 8;
        tracing::info!(
            size,
            cap,
            "the database is near its size cap; thinning the oldest history"
        );
        let mut next_raw = i64::MIN;
        while size > low {
            let Some(hour) = self.oldest_hour(next_raw, true)? else {
                break;
            };
            report.thinned_chunks += self.thin(hour)?;
            next_raw = hour_first_id(hour.saturating_add(1));
            size = self.size_on_disk()?;
        }
        while size > low {
            let Some(hour) = self.oldest_hour(i64::MIN, false)? else {
                break;
            };
            report.dropped_chunks += self
                .conn
                .execute(
                    "DELETE FROM chunks WHERE id >= ?1 AND id < ?2",
                    [hour_first_id(hour), hour_first_id(hour.saturating_add(1))],
                )
                .map_err(|source| StoreError::sqlite("deleting old history", &self.path, source))?;
            size = self.size_on_disk()?;
        }
        report.over_cap = size > cap;
        if report.over_cap {
            tracing::warn!(
                size,
                cap,
                "the database is above its size cap even without history; raise `storage.max_size`"
            );
        }
        Ok(())
    }

    /// The oldest hour (since the epoch) with chunks whose id is at least
    /// `from_id`, counting only raw chunks if `raw`.
    fn oldest_hour(&self, from_id: i64, raw: bool) -> Result<Option<i64>, StoreError> {
        let sql = if raw {
            "SELECT id FROM chunks WHERE id >= ?1 AND step = 0 ORDER BY id LIMIT 1"
        } else {
            "SELECT id FROM chunks WHERE id >= ?1 ORDER BY id LIMIT 1"
        };
        self.conn
            .query_row(sql, [from_id], |r| r.get::<_, i64>(0))
            .optional()
            .map(|id| id.map(|id| id >> 32))
            .map_err(|source| StoreError::sqlite("finding old history", &self.path, source))
    }

    /// Replaces the raw chunks starting in `hour` (hourly ones, or day-long
    /// ones when it is the first hour of their day) by 5-minute averages;
    /// returns how many chunks it thinned.
    fn thin(&mut self, hour: i64) -> Result<usize, StoreError> {
        let path = &self.path;
        let fail = |source| StoreError::sqlite("thinning old history", path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        let chunks: Vec<(i64, i64, i64, Vec<u8>)> = tx
            .prepare(
                "SELECT id, series_id, span_ms, data FROM chunks
                 WHERE id >= ?1 AND id < ?2 AND step = 0",
            )
            .and_then(|mut s| {
                s.query_map(
                    [hour_first_id(hour), hour_first_id(hour.saturating_add(1))],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?
                .collect()
            })
            .map_err(fail)?;
        let start_ms = hour * CHUNK_MS;
        // Delete, then insert: SQLite merges pages left underfull by a delete,
        // but not by an update that shrinks a row, which would free nothing.
        tx.execute(
            "DELETE FROM chunks WHERE id >= ?1 AND id < ?2 AND step = 0",
            [hour_first_id(hour), hour_first_id(hour.saturating_add(1))],
        )
        .map_err(fail)?;
        for &(id, series_id, span_ms, ref blob) in &chunks {
            let points =
                codec::decode(blob).map_err(|e| self_damaged(path, series_id, start_ms, e))?;
            let chunk = Chunk {
                id,
                series_id,
                start_ms,
                span_ms,
                step: THIN_STEP_MS,
                points: &downsample(&points, THIN_STEP_MS),
            };
            write_chunk(&tx, &chunk).map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        Ok(chunks.len())
    }

    /// Hands free pages back to the file system (`auto_vacuum = INCREMENTAL`)
    /// when `now` or once there are enough of them to matter.
    fn reclaim(&mut self, now: bool) -> Result<(), StoreError> {
        let fail = |source| StoreError::sqlite("reclaiming free space", &self.path, source);
        let (pages, free): (i64, i64) = self
            .conn
            .query_row(
                "SELECT (SELECT page_count FROM pragma_page_count),
                        (SELECT freelist_count FROM pragma_freelist_count)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(fail)?;
        if free > 0 && (now || free * RECLAIM_FREE_SHARE > pages - free) {
            let mut stmt = self
                .conn
                .prepare("PRAGMA incremental_vacuum")
                .map_err(fail)?;
            let mut rows = stmt.query([]).map_err(fail)?;
            while rows.next().map_err(fail)?.is_some() {}
        }
        Ok(())
    }
}

/// Writes the chunks of one hour, merging into chunks that already exist
/// (samples that arrived late).
fn seal_hour(
    tx: &Transaction<'_>,
    path: &Path,
    hour: i64,
    by_series: BTreeMap<i64, Vec<Point>>,
    report: &mut MaintenanceReport,
) -> Result<(), StoreError> {
    let fail = |source| StoreError::sqlite("sealing history", path, source);
    // The chunk already covering this hour, if any: the hour's own, or its
    // day's once the day was compacted.
    let mut existing = tx
        .prepare_cached(
            "SELECT id, start_ms, span_ms, data FROM chunks
             WHERE id IN (?1, ?2) AND start_ms <= ?3 AND start_ms + span_ms > ?3",
        )
        .map_err(fail)?;
    let hour_start = hour * CHUNK_MS;
    let day_start = hour_start.div_euclid(DAY_MS) * DAY_MS;
    for (series_id, points) in by_series {
        let hour_id = chunk_id(series_id, hour_start).map_err(fail)?;
        let day_id = chunk_id(series_id, day_start).map_err(fail)?;
        let old: Option<(i64, i64, i64, Vec<u8>)> = existing
            .query_row([hour_id, day_id, hour_start], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
            .map_err(fail)?;
        report.sealed_samples += points.len();
        let (id, start, span, merged) = match old {
            Some((id, start, span, blob)) => {
                let sealed =
                    codec::decode(&blob).map_err(|e| self_damaged(path, series_id, start, e))?;
                (id, start, span, merge(sealed, points))
            }
            None => (hour_id, hour_start, CHUNK_MS, points),
        };
        let chunk = Chunk {
            id,
            series_id,
            start_ms: start,
            span_ms: span,
            step: 0,
            points: &merged,
        };
        write_chunk(tx, &chunk).map_err(fail)?;
        report.sealed_chunks += 1;
    }
    Ok(())
}

/// The first hourly chunk before the id `?1`, waiting to be compacted into
/// its day. The literal span (`CHUNK_MS`) lets SQLite use the small partial
/// index `chunks_hourly`.
pub(super) const OLDEST_HOURLY_CHUNK: &str =
    "SELECT id FROM chunks WHERE span_ms = 3600000 AND id < ?1 ORDER BY id LIMIT 1";

/// One row of `chunks`: the points of one series from `start_ms` over
/// `span_ms`, raw (`step` 0) or averaged over `step` milliseconds.
struct Chunk<'a> {
    id: i64,
    series_id: i64,
    start_ms: i64,
    span_ms: i64,
    step: i64,
    points: &'a [Point],
}

/// Writes `chunk`, encoded, with the summary of its hours. Sealing late
/// samples into a chunk that already exists replaces its points and keeps
/// its step; compacting and thinning delete the chunks they replace first.
fn write_chunk(tx: &Transaction<'_>, chunk: &Chunk<'_>) -> rusqlite::Result<()> {
    let end_ms = chunk.points.last().map_or(chunk.start_ms, |p| p.0);
    let data = codec::encode(chunk.points);
    let summary = hours::of_chunk(&data);
    tx.prepare_cached(
        "INSERT INTO chunks (id, series_id, start_ms, span_ms, end_ms, count, step, data, hours)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE
         SET end_ms = excluded.end_ms, count = excluded.count, data = excluded.data,
             hours = excluded.hours",
    )?
    .execute(params![
        chunk.id,
        chunk.series_id,
        chunk.start_ms,
        chunk.span_ms,
        end_ms,
        chunk.points.len() as i64,
        chunk.step,
        data,
        summary
    ])?;
    Ok(())
}

/// The hour since the epoch (the chunk) an instant belongs to.
pub(super) fn chunk_hour(at_ms: i64) -> i64 {
    at_ms.div_euclid(CHUNK_MS)
}

/// The smallest chunk id of an hour.
pub(super) fn hour_first_id(hour: i64) -> i64 {
    hour.saturating_mul(1 << 32)
}

/// The id of a series' chunk: hour-major, so an hour's chunks lie together.
fn chunk_id(series_id: i64, start_ms: i64) -> rusqlite::Result<i64> {
    if !(0..1 << 32).contains(&series_id) {
        return Err(rusqlite::Error::IntegralValueOutOfRange(0, series_id));
    }
    Ok(hour_first_id(chunk_hour(start_ms)) | series_id)
}

pub(super) fn self_damaged(
    path: &Path,
    series_id: i64,
    start_ms: i64,
    error: codec::DecodeError,
) -> StoreError {
    StoreError::Damaged {
        path: path.to_path_buf(),
        what: format!("chunk of series {series_id} starting at {start_ms} ms"),
        detail: error.to_string(),
    }
}

/// Merges two time-ordered lists of points into one, without duplicate times;
/// where both have a point at the same time, `newer`'s wins.
pub(super) fn merge(older: Vec<Point>, newer: Vec<Point>) -> Vec<Point> {
    if newer.is_empty() {
        return older;
    }
    if older.is_empty() {
        return newer;
    }
    // The usual case, sealed history then the recent hour: no copy of the
    // month before it.
    if older.last().map(|p| p.0) < newer.first().map(|p| p.0) {
        let mut older = older;
        older.extend(newer);
        return older;
    }
    let mut merged = Vec::with_capacity(older.len() + newer.len());
    let mut older = older.into_iter().peekable();
    let mut newer = newer.into_iter().peekable();
    loop {
        match (older.peek(), newer.peek()) {
            (Some(o), Some(n)) if o.0 < n.0 => merged.extend(older.next()),
            (Some(o), Some(n)) if o.0 == n.0 => {
                older.next();
                merged.extend(newer.next());
            }
            (_, Some(_)) => merged.extend(newer.next()),
            (Some(_), None) => merged.extend(older.next()),
            (None, None) => return merged,
        }
    }
}

/// One average per `step_ms` bucket (aligned on the epoch), timestamped at
/// the bucket's start.
pub(super) fn downsample(points: &[Point], step_ms: i64) -> Vec<Point> {
    points
        .chunk_by(|a, b| a.0.div_euclid(step_ms) == b.0.div_euclid(step_ms))
        .map(|bucket| {
            let sum: f64 = bucket.iter().map(|p| p.1).sum();
            (
                bucket[0].0.div_euclid(step_ms) * step_ms,
                sum / bucket.len() as f64,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_orders_and_prefers_newer_on_equal_times() {
        let older = vec![(1, 1.0), (3, 3.0), (5, 5.0)];
        let newer = vec![(2, 20.0), (3, 30.0), (6, 60.0)];
        assert_eq!(
            merge(older.clone(), newer),
            [(1, 1.0), (2, 20.0), (3, 30.0), (5, 5.0), (6, 60.0)]
        );
        assert_eq!(merge(older.clone(), vec![]), older);
        assert_eq!(merge(vec![], older.clone()), older);
        assert_eq!(
            merge(older.clone(), vec![(7, 7.0)]),
            [(1, 1.0), (3, 3.0), (5, 5.0), (7, 7.0)],
            "all newer after all older"
        );
        assert_eq!(
            merge(older.clone(), vec![(5, 50.0)]),
            [(1, 1.0), (3, 3.0), (5, 50.0)],
            "the newer value wins at the seam"
        );
    }

    #[test]
    fn downsample_averages_aligned_buckets() {
        let points: Vec<Point> = (0..60).map(|i| (i * 10_000, i as f64)).collect();
        let thinned = downsample(&points, 300_000);
        assert_eq!(thinned, [(0, 14.5), (300_000, 44.5)]);
        assert_eq!(
            downsample(&[(-1, 2.0), (1, 4.0)], 300_000),
            [(-300_000, 2.0), (0, 4.0)]
        );
        assert!(downsample(&[], 300_000).is_empty());
    }
}
