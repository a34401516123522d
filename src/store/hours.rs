//! A summary of each hour of a sealed chunk, kept beside its points (the
//! `hours` column of `chunks`): how many points, the first and last of their
//! times, their sum, lowest, highest and last value.
//!
//! A month of hourly averages then reads 720 summaries instead of inflating
//! and decoding 259,200 points (`history.rs`). The summary is made from the
//! chunk's points as they decode, not as they were written, and its sum adds
//! them in time order from `-0.0`, exactly as a step of history adds decoded
//! points: an answer from summaries is the same, bit for bit, as one from the
//! points.
//!
//! Layout: a version byte, the number of hours, then for each hour its first
//! time (zigzag varint, the difference from the previous hour's last time, or
//! from 0 for the first hour), its last time minus its first, its count
//! (varints), then its sum, lowest, highest and last value (little-endian
//! `f64`s).

use rusqlite::{OptionalExtension, Transaction, params};

use super::CHUNK_MS;
use super::codec::{self, DecodeError, Point, Reader, put_signed, put_varint};

/// Version of the layout.
const VERSION: u8 = 1;

/// The points of one chunk within one hour (UTC), summed up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Hour {
    /// Time of the first point, milliseconds since the epoch.
    pub first_ms: i64,
    /// Time of the last point.
    pub last_ms: i64,
    /// How many points (at least one).
    pub count: u64,
    /// Their sum, added in time order from `-0.0`.
    pub sum: f64,
    /// The lowest.
    pub min: f64,
    /// The highest.
    pub max: f64,
    /// The value of the last point.
    pub last: f64,
}

/// The hour (since the epoch) an instant falls in.
pub(super) fn hour_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(CHUNK_MS)
}

/// Sums up `points` (ordered by time) hour by hour.
pub(super) fn summarize(points: &[Point]) -> Vec<Hour> {
    points
        .chunk_by(|a, b| hour_of(a.0) == hour_of(b.0))
        .map(|run| {
            let mut hour = Hour {
                first_ms: run[0].0,
                last_ms: run[run.len() - 1].0,
                count: run.len() as u64,
                sum: -0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                last: run[run.len() - 1].1,
            };
            for &(_, value) in run {
                hour.sum += value;
                hour.min = hour.min.min(value);
                hour.max = hour.max.max(value);
            }
            hour
        })
        .collect()
}

/// The summaries of the chunk `blob` (as `codec::encode` made it) would have
/// when decoded, encoded; `None` when it does not decode (a damaged chunk is
/// reported where it is read).
pub(super) fn of_chunk(blob: &[u8]) -> Option<Vec<u8>> {
    let points = codec::decode(blob).ok()?;
    Some(encode(&summarize(&points)))
}

/// Encodes summaries.
pub(super) fn encode(hours: &[Hour]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + hours.len() * 40);
    out.push(VERSION);
    put_varint(&mut out, hours.len() as u64);
    let mut previous = 0i64;
    for hour in hours {
        put_signed(&mut out, hour.first_ms.wrapping_sub(previous));
        put_varint(&mut out, hour.last_ms.wrapping_sub(hour.first_ms) as u64);
        put_varint(&mut out, hour.count);
        for value in [hour.sum, hour.min, hour.max, hour.last] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        previous = hour.last_ms;
    }
    out
}

/// Decodes what [`encode`] wrote, appending to `hours`; damage is an error.
pub(super) fn decode_into(blob: &[u8], hours: &mut Vec<Hour>) -> Result<(), DecodeError> {
    let mut r = Reader::new(blob);
    if r.byte()? != VERSION {
        return Err(DecodeError("unknown hour summary version"));
    }
    let n = r.varint()?;
    // An hour takes at least 35 bytes; a damaged count must not allocate.
    if n > (blob.len() / 35) as u64 {
        return Err(DecodeError("more hours than the summary holds"));
    }
    let mut previous = 0i64;
    for _ in 0..n {
        let first_ms = previous.wrapping_add(r.signed()?);
        let last_ms = first_ms.wrapping_add(r.varint()? as i64);
        let count = r.varint()?;
        let mut value = || r.bytes::<8>().map(f64::from_le_bytes);
        let hour = Hour {
            first_ms,
            last_ms,
            count,
            sum: value()?,
            min: value()?,
            max: value()?,
            last: value()?,
        };
        if count == 0 || last_ms < first_ms || hour_of(first_ms) != hour_of(last_ms) {
            return Err(DecodeError("hour summary out of range"));
        }
        hours.push(hour);
        previous = last_ms;
    }
    if !r.is_empty() {
        return Err(DecodeError("hour summary too long"));
    }
    Ok(())
}

/// Sums up every chunk that has no summary yet: those written before
/// summaries existed (schema version 10). A chunk that does not decode keeps
/// none, and is read from its points (and reported damaged) as before.
pub(super) fn fill_missing(tx: &Transaction<'_>) -> rusqlite::Result<usize> {
    let ids: Vec<i64> = tx
        .prepare("SELECT id FROM chunks WHERE hours IS NULL")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut read = tx.prepare("SELECT data FROM chunks WHERE id = ?1")?;
    let mut write = tx.prepare("UPDATE chunks SET hours = ?2 WHERE id = ?1")?;
    let mut filled = 0;
    for id in ids {
        let blob: Option<Vec<u8>> = read.query_row([id], |r| r.get(0)).optional()?;
        if let Some(hours) = blob.as_deref().and_then(of_chunk) {
            write.execute(params![id, hours])?;
            filled += 1;
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_summed_up_in_time_order_and_round_trip() {
        let h = CHUNK_MS;
        let points = [
            (-1, 7.5),
            (0, 0.1),
            (10, 0.2),
            (20, -3.0),
            (h - 1, 0.3),
            (3 * h + 5, 42.0),
        ];
        let hours = summarize(&points);
        assert_eq!(hours.len(), 3);
        assert_eq!(
            hours[1],
            Hour {
                first_ms: 0,
                last_ms: h - 1,
                count: 4,
                sum: -0.0 + 0.1 + 0.2 + -3.0 + 0.3,
                min: -3.0,
                max: 0.3,
                last: 0.3,
            }
        );
        assert_eq!((hours[0].first_ms, hours[0].count), (-1, 1));
        assert_eq!(
            (hours[2].first_ms, hours[2].last, hours[2].sum),
            (3 * h + 5, 42.0, 42.0)
        );
        let mut decoded = Vec::new();
        decode_into(&encode(&hours), &mut decoded).unwrap();
        assert_eq!(decoded, hours);
        assert!(summarize(&[]).is_empty());
    }

    #[test]
    fn damaged_summaries_are_errors_not_panics() {
        let blob = encode(&summarize(&[(0, 1.0), (5, 2.0), (CHUNK_MS, 3.0)]));
        let mut hours = Vec::new();
        assert!(decode_into(&[], &mut hours).is_err());
        assert!(decode_into(&[VERSION, 0xff, 0xff, 0xff, 0x7f], &mut hours).is_err());
        assert!(decode_into(&[9, 0], &mut hours).is_err());
        for cut in 0..blob.len() {
            assert!(decode_into(&blob[..cut], &mut Vec::new()).is_err());
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert!(decode_into(&longer, &mut Vec::new()).is_err());
        for i in 1..blob.len() {
            let mut damaged = blob.clone();
            damaged[i] ^= 0x5a;
            let _ = decode_into(&damaged, &mut Vec::new());
        }
    }
}
