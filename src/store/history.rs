//! History in steps: one series over a range, the values of each step
//! combined (average, lowest, highest, last or 95th percentile), as the API
//! serves it.
//!
//! A sealed chunk whose every hour falls inside the range and inside one
//! step, and that no recent sample shares an hour with, is read from its
//! hours' summaries (`hours.rs`) instead of its points: a month of hourly
//! averages reads 720 summaries instead of inflating and decoding 259,200
//! points. Other chunks, and every chunk for the 95th percentile, are
//! decoded as [`Store::range`] does.
//!
//! The answer is the same, bit for bit, either way. The lowest, highest and
//! last values and the counts combine exactly in any grouping. A sum does
//! not: an average is read from a summary only when steps never span two
//! hours (a step that divides an hour, starting on a whole step), where the
//! hour's sum, added in time order from `-0.0`, is the step's sum exactly as
//! adding its values one by one makes it. An average over longer steps
//! decodes, as before.

use jiff::Timestamp;
use rusqlite::params;

use super::codec;
use super::hours::{self, Hour};
use super::{CHUNK_MS, DAY_MS, Store, StoreError, maintain};
use crate::observation::SeriesKey;

/// How the values inside one step are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// The mean.
    Avg,
    /// The lowest.
    Min,
    /// The highest.
    Max,
    /// The latest.
    Last,
    /// The 95th percentile (the smallest value at least 95% of the step's
    /// values are not above).
    P95,
}

impl Store {
    /// The history of one series from `from` to `to` (both included) in
    /// steps of `step_ms` (at least 1) from `from`, the values of each step
    /// combined `how`: the start of each step that has values (milliseconds
    /// since the epoch) and its value, ordered by time. The values are those
    /// of [`range`](Self::range).
    pub fn history(
        &self,
        key: &SeriesKey,
        from: Timestamp,
        to: Timestamp,
        step_ms: i64,
        how: Aggregation,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        self.history_with(key, (from, to), step_ms, how, true)
    }

    /// [`history`](Self::history), reading chunks from their summaries where
    /// they can stand for the points if `summaries`, else always decoding.
    fn history_with(
        &self,
        key: &SeriesKey,
        (from, to): (Timestamp, Timestamp),
        step_ms: i64,
        how: Aggregation,
        summaries: bool,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        let (from_ms, to_ms) = (from.as_millisecond(), to.as_millisecond());
        // A percentile needs every value.
        let summaries = summaries && how != Aggregation::P95;
        let Some(id) = self.series_id(key)? else {
            return Ok(Vec::new());
        };
        if from_ms > to_ms {
            return Ok(Vec::new());
        }
        let mut steps = Steps::new(from_ms, step_ms.max(1), how);
        let staged = self.staged(id, from_ms, to_ms)?;
        // Recent samples before this one are in `steps` already.
        let mut next_staged = 0;
        let fail = |source| StoreError::sqlite("reading history", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT start_ms, span_ms, hours, data FROM chunks
                 WHERE series_id = ?1 AND start_ms > ?2 AND start_ms <= ?3 AND end_ms >= ?4
                 ORDER BY start_ms",
            )
            .map_err(fail)?;
        let mut rows = stmt
            .query(params![id, from_ms.saturating_sub(DAY_MS), to_ms, from_ms])
            .map_err(fail)?;
        let (mut summary, mut chunk) = (Vec::new(), Vec::new());
        while let Some(row) = rows.next().map_err(fail)? {
            let start: i64 = row.get(0).map_err(fail)?;
            let span: i64 = row.get(1).map_err(fail)?;
            let before = staged.partition_point(|p| p.0 < start).max(next_staged);
            let within = staged
                .partition_point(|p| p.0 < start.saturating_add(span))
                .max(before);
            for &(at, value) in &staged[next_staged..before] {
                steps.point(at, value);
            }
            next_staged = within;
            let own_staged = &staged[before..within];
            summary.clear();
            let summarized = summaries
                && own_staged.is_empty()
                && row
                    .get_ref(2)
                    .ok()
                    .and_then(|v| v.as_blob_or_null().ok().flatten())
                    .is_some_and(|blob| hours::decode_into(blob, &mut summary).is_ok())
                && summary
                    .iter()
                    .all(|h| h.first_ms >= from_ms && h.last_ms <= to_ms && steps.takes(h));
            if summarized {
                for hour in &summary {
                    steps.hour(hour);
                }
                continue;
            }
            let data = row
                .get_ref(3)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(fail)?;
            chunk.clear();
            codec::decode_into(data, &mut chunk).map_err(|e| self.damaged(id, start, e))?;
            chunk.retain(|p| p.0 >= from_ms && p.0 <= to_ms);
            let points = maintain::merge(std::mem::take(&mut chunk), own_staged.to_vec());
            for &(at, value) in &points {
                steps.point(at, value);
            }
            chunk = points;
        }
        for &(at, value) in &staged[next_staged..] {
            steps.point(at, value);
        }
        Ok(steps.finish())
    }
}

/// The steps of an answer, filled in time order.
struct Steps {
    from_ms: i64,
    step_ms: i64,
    how: Aggregation,
    /// The step being filled.
    current: Option<Step>,
    /// Its values, for the 95th percentile only.
    values: Vec<f64>,
    /// The steps done: start and value.
    done: Vec<(i64, f64)>,
}

/// What is known of one step's values so far.
struct Step {
    index: i64,
    count: u64,
    /// The values added one by one from `-0.0`, as `Iterator::sum` does.
    sum: f64,
    min: f64,
    max: f64,
    last: f64,
}

impl Step {
    fn new(index: i64) -> Self {
        Step {
            index,
            count: 0,
            sum: -0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            last: f64::NAN,
        }
    }
}

impl Steps {
    fn new(from_ms: i64, step_ms: i64, how: Aggregation) -> Self {
        Steps {
            from_ms,
            step_ms,
            how,
            current: None,
            values: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Which step an instant falls in.
    fn index(&self, at_ms: i64) -> i64 {
        at_ms.saturating_sub(self.from_ms).div_euclid(self.step_ms)
    }

    /// Whether an hour summed up can stand for its points: they all fall
    /// in one step and, for an average, no step spans two hours, so the
    /// hour's sum is its step's whole sum.
    fn takes(&self, hour: &Hour) -> bool {
        let hours_apart =
            CHUNK_MS % self.step_ms == 0 && self.from_ms.rem_euclid(self.step_ms) == 0;
        self.index(hour.first_ms) == self.index(hour.last_ms)
            && (self.how != Aggregation::Avg || hours_apart)
    }

    /// The step `at_ms` falls in, closing the one before if it is another.
    fn enter(&mut self, at_ms: i64) -> &mut Step {
        let index = self.index(at_ms);
        if self.current.as_ref().is_some_and(|s| s.index != index) {
            self.close();
        }
        self.current.get_or_insert_with(|| Step::new(index))
    }

    fn point(&mut self, at_ms: i64, value: f64) {
        let step = self.enter(at_ms);
        step.sum += value;
        step.count += 1;
        step.min = step.min.min(value);
        step.max = step.max.max(value);
        step.last = value;
        if self.how == Aggregation::P95 {
            self.values.push(value);
        }
    }

    /// Adds the points of an hour summed up; see [`takes`](Self::takes).
    fn hour(&mut self, hour: &Hour) {
        let step = self.enter(hour.first_ms);
        step.sum += hour.sum;
        step.count += hour.count;
        step.min = step.min.min(hour.min);
        step.max = step.max.max(hour.max);
        step.last = hour.last;
    }

    fn close(&mut self) {
        let Some(step) = self.current.take() else {
            return;
        };
        let value = match self.how {
            Aggregation::Avg => step.sum / step.count as f64,
            Aggregation::Min => step.min,
            Aggregation::Max => step.max,
            Aggregation::Last => step.last,
            Aggregation::P95 => {
                let values = &mut self.values;
                values.sort_by(f64::total_cmp);
                let rank = ((values.len() as f64) * 0.95).ceil() as usize;
                values[rank.clamp(1, values.len()) - 1]
            }
        };
        self.values.clear();
        self.done
            .push((self.from_ms + step.index * self.step_ms, value));
    }

    fn finish(mut self) -> Vec<(i64, f64)> {
        self.close();
        self.done
    }
}

#[cfg(test)]
mod tests;
