//! How many points a series has in a span of time, and the first and last
//! of their times, without decoding what need not be: a report counts a
//! month of checks per service, and each sealed chunk's row holds its count.

use jiff::Timestamp;
use rusqlite::params;

use super::codec::{self, Point};
use super::{DAY_MS, Store, StoreError, maintain};
use crate::observation::SeriesKey;

/// The points of a series in a span of time, summed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// How many.
    pub count: usize,
    /// The time of the first.
    pub first: Timestamp,
    /// The time of the last.
    pub last: Timestamp,
}

impl Store {
    /// What [`Store::range`] of `key` from `from` to `to` (both included)
    /// would return, summed up: how many points, the first and the last
    /// time; `None` without any. Sealed chunks wholly inside the span are
    /// counted from their row, not decoded; a chunk that sticks out, holds
    /// the first point, or shares an hour with recent samples (which replace
    /// its points at the same times) is decoded, as `range` does.
    pub fn tally(
        &self,
        key: &SeriesKey,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Option<Tally>, StoreError> {
        let (from_ms, to_ms) = (from.as_millisecond(), to.as_millisecond());
        let Some(id) = self.series_id(key)? else {
            return Ok(None);
        };
        if from_ms > to_ms {
            return Ok(None);
        }
        let staged = self.staged(id, from_ms, to_ms)?;
        let fail = |source| StoreError::sqlite("counting history", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT start_ms, span_ms, end_ms, count, data FROM chunks
                 WHERE series_id = ?1 AND start_ms > ?2 AND start_ms <= ?3 AND end_ms >= ?4
                 ORDER BY start_ms",
            )
            .map_err(fail)?;
        let mut rows = stmt
            .query(params![id, from_ms.saturating_sub(DAY_MS), to_ms, from_ms])
            .map_err(fail)?;
        let (mut counted, mut last_counted) = (0usize, None);
        let mut decoded: Vec<Point> = Vec::new();
        let mut chunk = Vec::new();
        while let Some(row) = rows.next().map_err(fail)? {
            let start: i64 = row.get(0).map_err(fail)?;
            let span: i64 = row.get(1).map_err(fail)?;
            let end: i64 = row.get(2).map_err(fail)?;
            let count: i64 = row.get(3).map_err(fail)?;
            let inside = start >= from_ms && end <= to_ms;
            let shares_an_hour = {
                let after = staged.partition_point(|p| p.0 < start);
                staged.get(after).is_some_and(|p| p.0 < start + span)
            };
            // The first point's time needs a decoded chunk before this one.
            if inside && !shares_an_hour && !decoded.is_empty() {
                counted += usize::try_from(count).unwrap_or(0);
                last_counted = Some(end);
                continue;
            }
            let data = row
                .get_ref(4)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(fail)?;
            chunk.clear();
            codec::decode_into(data, &mut chunk).map_err(|e| self.damaged(id, start, e))?;
            decoded.extend(chunk.iter().filter(|p| p.0 >= from_ms && p.0 <= to_ms));
        }
        let merged = maintain::merge(decoded, staged);
        let first = merged.first().map(|p| p.0);
        let last = merged.last().map(|p| p.0).max(last_counted);
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(None);
        };
        Ok(Some(Tally {
            count: counted + merged.len(),
            first: self.timestamp(first)?,
            last: self.timestamp(last)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::observation::Sample;
    use crate::store::tests::{at, key, open_in, sample};

    /// What `range` returns, summed up the same way.
    fn summed(store: &Store, from: Timestamp, to: Timestamp) -> Option<Tally> {
        let points = store.range(&key("state"), from, to).unwrap();
        Some(Tally {
            count: points.len(),
            first: points.first()?.0,
            last: points.last()?.0,
        })
    }

    #[test]
    fn the_tally_is_what_range_returns_summed_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open_in(&dir);
        // Three days, one check every 30 s, sealed into days and hours.
        let samples: Vec<Sample> = (0..3 * 2880)
            .map(|i| sample("state", i * 30 + i % 7, 0.0))
            .collect();
        store.write(&samples).unwrap();
        store.maintain(at(3 * 86_400 - 1800)).unwrap();
        // Late samples for a sealed hour (one at the time of a sealed
        // point, which replaces it), and the last half hour not sealed yet.
        store
            .write(&[
                sample("state", 86_400 + 3600 + 10, 1.0),
                sample("state", 3000 * 30 + 3000 % 7, 1.0),
            ])
            .unwrap();
        let spans = [
            (0, 3 * 86_400),
            (-86_400, 5 * 86_400),
            (45, 86_400 + 3700),
            (86_400 + 3600, 86_400 + 3605),
            (2 * 86_400 + 40_000, 3 * 86_400),
            (3 * 86_400 - 1000, 3 * 86_400),
            (-100, -1),
            (4 * 86_400, 5 * 86_400),
            (500, 400),
        ];
        for (from, to) in spans {
            let (from, to) = (at(from), at(to));
            assert_eq!(
                store.tally(&key("state"), from, to).unwrap(),
                summed(&store, from, to),
                "{from} to {to}"
            );
        }
        let all = store
            .tally(&key("state"), at(-1), at(4 * 86_400))
            .unwrap()
            .unwrap();
        assert_eq!(all.count, 3 * 2880 + 1, "the late sample at a new time");
        assert_eq!(all.first, at(0));
        assert!(all.last > at(3 * 86_400) - SignedDuration::from_secs(60));
        assert_eq!(store.tally(&key("nothing"), at(0), at(1)).unwrap(), None);
    }
}
