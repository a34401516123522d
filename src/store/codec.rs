//! The compact encoding of one sealed chunk of one series.
//!
//! Monitoring data is very regular: samples arrive at a fixed interval, and most
//! values move little between samples. The encoding exploits both, then lets
//! deflate squeeze what is left:
//!
//! - **Timestamps** (milliseconds) are stored as the first timestamp, the
//!   chunk's most common interval, and then each interval minus that one. A
//!   series sampled every 10 s gives zeros, and runs of zeros are run-length
//!   encoded, so the timestamps of a regular series cost a handful of bytes.
//!   Real timers wake a few milliseconds late; those small differences cost
//!   less than delta-of-deltas would (measured: 4% smaller chunks overall with
//!   10 ms of jitter), since a late tick shows up once, not twice.
//! - **Values** are fixed-point integers: `value / 10^scale` rounded, with
//!   `scale = -2` (hundredths of the unit) unless the chunk holds values so large
//!   that their hundredths exceed 2^53, beyond what an `f64` holds exactly; then
//!   the scale grows until they fit, which keeps 15 to 16 significant digits. The
//!   differences between consecutive integers are divided by their greatest
//!   common divisor (byte counts from the OS are multiples of 1024 or 4096; whole
//!   numbers are multiples of 100 hundredths), zigzag-encoded and written as
//!   varints, with runs of zeros (a constant value) run-length encoded.
//! - The result is deflated (miniz_oxide) when that makes it smaller.
//!
//! **Precision:** a decoded value is within 0.005 (half a hundredth of its
//! unit) of the original while the chunk's largest magnitude is below 9e13;
//! beyond that, within a relative 1e-15 of the chunk's largest value. Whole
//! numbers below 2^53 (byte counts) always come back exactly.
//!
//! **Non-finite values** (NaN, ±infinity) have no fixed-point form; they are
//! not history (a value that could not be measured is a gap), so [`encode`]
//! leaves them out. The store never passes them here in the first place.
//!
//! Layout before deflate (all integers LEB128 varints, signed ones zigzagged):
//! `version, count, scale, divisor, first_time, first_value, interval`, then `count - 1`
//! time tokens, then `count - 1` value tokens. A token is a non-zero number, or
//! a zero followed by how many zeros the run holds. The blob is one format
//! byte ([`STORED`] or [`DEFLATED`]) followed by that layout, deflated or not.

use miniz_oxide::deflate::compress_to_vec;
use miniz_oxide::inflate::decompress_to_vec_with_limit;

/// One point of a series: milliseconds since the Unix epoch, and the value.
pub(crate) type Point = (i64, f64);

/// Format byte of a blob holding the layout as is.
const STORED: u8 = 0;
/// Format byte of a blob holding the deflated layout.
const DEFLATED: u8 = 1;
/// Version of the layout, so a future encoding can be told apart. Version 1
/// (still read) stored timestamps as delta-of-deltas and had no `interval`.
const VERSION: u8 = 2;
const VERSION_DELTA_OF_DELTA: u8 = 1;
/// Finest scale: values are kept to 10^-2 of their unit.
const FINEST_SCALE: i32 = -2;
/// Largest magnitude of a fixed-point value: integers up to 2^53 convert to
/// and from `f64` exactly, and differences of two of them fit an `i64`.
const MAX_FIXED: f64 = (1u64 << 53) as f64;
/// Deflate level: chunks are written once and read many times, so the
/// slowest, smallest level is worth it (it costs microseconds per chunk).
const DEFLATE_LEVEL: u8 = 9;
/// Refuse to inflate more than this, so a damaged blob cannot exhaust memory.
const MAX_INFLATED: usize = 64 << 20;

/// More points than any chunk holds (an hour at one point per millisecond).
const MAX_POINTS: usize = 1 << 23;

/// Why a blob could not be decoded. Only damaged data gets here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub(super) &'static str);

/// Encodes points (sorted by time, without duplicate times) into a blob.
pub(crate) fn encode(points: &[Point]) -> Vec<u8> {
    let points: Vec<Point> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    let scale = scale_for(&points);
    let fixed: Vec<i64> = points.iter().map(|p| to_fixed(p.1, scale)).collect();
    let divisor = fixed
        .windows(2)
        .fold(0u64, |g, w| gcd(g, (w[1] - w[0]).unsigned_abs()))
        .max(1);

    let mut out = Vec::with_capacity(16 + points.len() * 3);
    out.push(VERSION);
    put_varint(&mut out, points.len() as u64);
    put_signed(&mut out, i64::from(scale));
    put_varint(&mut out, divisor);
    if let (Some(first), Some(&first_fixed)) = (points.first(), fixed.first()) {
        put_signed(&mut out, first.0);
        put_signed(&mut out, first_fixed);
    }
    let intervals: Vec<i64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let usual = most_common(&intervals);
    put_signed(&mut out, usual);

    let mut times = Tokens::default();
    for interval in intervals {
        times.push(&mut out, interval - usual);
    }
    times.finish(&mut out);

    let mut values = Tokens::default();
    // The divisor is at most 2^54, so it and the quotient fit an i64.
    let divisor = divisor as i64;
    for w in fixed.windows(2) {
        values.push(&mut out, (w[1] - w[0]) / divisor);
    }
    values.finish(&mut out);

    let deflated = compress_to_vec(&out, DEFLATE_LEVEL);
    let mut blob = Vec::with_capacity(1 + out.len().min(deflated.len()));
    if deflated.len() < out.len() {
        blob.push(DEFLATED);
        blob.extend_from_slice(&deflated);
    } else {
        blob.push(STORED);
        blob.extend_from_slice(&out);
    }
    blob
}

/// Decodes a blob made by [`encode`], appending its points to `points`.
pub(crate) fn decode_into(blob: &[u8], points: &mut Vec<Point>) -> Result<(), DecodeError> {
    let (&format, rest) = blob.split_first().ok_or(DecodeError("empty blob"))?;
    let inflated;
    let layout = match format {
        STORED => rest,
        DEFLATED => {
            inflated = decompress_to_vec_with_limit(rest, MAX_INFLATED)
                .map_err(|_| DecodeError("deflated data is damaged"))?;
            &inflated[..]
        }
        _ => return Err(DecodeError("unknown chunk format")),
    };
    let mut r = Reader::new(layout);
    let version = r.byte()?;
    if version != VERSION && version != VERSION_DELTA_OF_DELTA {
        return Err(DecodeError("unknown chunk layout version"));
    }
    let count = usize::try_from(r.varint()?).map_err(|_| DecodeError("count too large"))?;
    if count == 0 {
        return Ok(());
    }
    // Runs of zeros let a few bytes stand for many points, so only a fixed
    // bound tells damage apart; it stops a damaged count from driving a huge
    // allocation.
    if count > MAX_POINTS {
        return Err(DecodeError("count larger than any chunk"));
    }
    let scale = i32::try_from(r.signed()?).map_err(|_| DecodeError("scale out of range"))?;
    if !(FINEST_SCALE..=400).contains(&scale) {
        return Err(DecodeError("scale out of range"));
    }
    let divisor = r.varint()? as i64;
    let mut time = r.signed()?;
    let first_fixed = r.signed()?;
    let usual = if version == VERSION { r.signed()? } else { 0 };

    let start = points.len();
    points.reserve(count.min(1 << 16));
    points.push((time, 0.0));
    let mut times = TokenReader::default();
    let mut interval = 0i64;
    for _ in 1..count {
        let token = times.next(&mut r)?;
        interval = if version == VERSION {
            usual.wrapping_add(token)
        } else {
            interval.wrapping_add(token)
        };
        time = time.wrapping_add(interval);
        points.push((time, 0.0));
    }
    let mut values = TokenReader::default();
    let mut fixed = first_fixed;
    let factor = 10f64.powi(scale.abs());
    for (i, point) in points[start..].iter_mut().enumerate() {
        if i > 0 {
            fixed = fixed.wrapping_add(values.next(&mut r)?.wrapping_mul(divisor));
        }
        let value = if scale < 0 {
            fixed as f64 / factor
        } else {
            fixed as f64 * factor
        };
        // Rounding near f64::MAX can step over it; stay finite.
        point.1 = value.clamp(f64::MIN, f64::MAX);
    }
    Ok(())
}

/// Decodes a blob into a new vector of points.
pub(crate) fn decode(blob: &[u8]) -> Result<Vec<Point>, DecodeError> {
    let mut points = Vec::new();
    decode_into(blob, &mut points)?;
    Ok(points)
}

/// The finest scale at which every value of the chunk fits in 53 bits.
fn scale_for(points: &[Point]) -> i32 {
    let largest = points.iter().map(|p| p.1.abs()).fold(0.0, f64::max);
    let mut scale = FINEST_SCALE;
    while largest / 10f64.powi(scale) >= MAX_FIXED {
        scale += 1;
    }
    scale
}

fn to_fixed(value: f64, scale: i32) -> i64 {
    let scaled = if scale < 0 {
        value * 10f64.powi(-scale)
    } else {
        value / 10f64.powi(scale)
    };
    // In range by construction of the scale; `as` saturates regardless.
    scaled.round() as i64
}

/// The most frequent value (the smallest among equally frequent ones); 0 when
/// there is none.
fn most_common(values: &[i64]) -> i64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mut best = (0, 0);
    for run in sorted.chunk_by(|a, b| a == b) {
        if run.len() > best.1 {
            best = (run[0], run.len());
        }
    }
    best.0
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(super) fn put_signed(out: &mut Vec<u8>, n: i64) {
    put_varint(out, ((n << 1) ^ (n >> 63)) as u64);
}

/// Writes numbers as tokens: non-zero numbers as they are, runs of zeros as a
/// zero and the run's length.
#[derive(Default)]
struct Tokens {
    zeros: u64,
}

impl Tokens {
    fn push(&mut self, out: &mut Vec<u8>, n: i64) {
        if n == 0 {
            self.zeros += 1;
        } else {
            self.finish(out);
            put_signed(out, n);
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.zeros > 0 {
            put_signed(out, 0);
            put_varint(out, self.zeros);
            self.zeros = 0;
        }
    }
}

#[derive(Default)]
struct TokenReader {
    zeros_left: u64,
}

impl TokenReader {
    #[inline(always)]
    fn next(&mut self, r: &mut Reader<'_>) -> Result<i64, DecodeError> {
        if self.zeros_left > 0 {
            self.zeros_left -= 1;
            return Ok(0);
        }
        let n = r.signed()?;
        if n == 0 {
            let run = r.varint()?;
            if run == 0 {
                return Err(DecodeError("empty run of zeros"));
            }
            self.zeros_left = run - 1;
        }
        Ok(n)
    }
}

/// Reads the varints of a layout, front to back.
pub(super) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// Takes `N` bytes.
    pub(super) fn bytes<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (taken, rest) = self
            .data
            .split_first_chunk::<N>()
            .ok_or(DecodeError("chunk ends early"))?;
        self.data = rest;
        Ok(*taken)
    }

    /// Whether everything was read.
    pub(super) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    #[inline(always)]
    pub(super) fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self
            .data
            .split_first()
            .ok_or(DecodeError("chunk ends early"))?;
        self.data = rest;
        Ok(b)
    }

    #[inline(always)]
    pub(super) fn varint(&mut self) -> Result<u64, DecodeError> {
        // Most tokens are one byte.
        if let Some((&b, rest)) = self.data.split_first()
            && b < 0x80
        {
            self.data = rest;
            return Ok(u64::from(b));
        }
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(DecodeError("varint too long"))
    }

    #[inline(always)]
    pub(super) fn signed(&mut self) -> Result<i64, DecodeError> {
        let n = self.varint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(points: &[Point]) -> Vec<Point> {
        decode(&encode(points)).expect("decodes")
    }

    fn assert_close(original: &[Point], decoded: &[Point]) {
        assert_eq!(original.len(), decoded.len(), "same number of points");
        for (o, d) in original.iter().zip(decoded) {
            assert_eq!(o.0, d.0, "timestamps are exact");
            assert!(
                (o.1 - d.1).abs() <= 0.005 + 1e-9,
                "{} decoded as {}",
                o.1,
                d.1
            );
        }
    }

    fn regular(n: usize, step_ms: i64, value: impl Fn(usize) -> f64) -> Vec<Point> {
        (0..n)
            .map(|i| (1_780_000_000_000 + i as i64 * step_ms, value(i)))
            .collect()
    }

    #[test]
    fn empty_chunk_round_trips() {
        assert!(round_trip(&[]).is_empty());
    }

    #[test]
    fn one_sample_round_trips() {
        let points = [(1_780_000_000_123, 42.424242)];
        assert_close(&points, &round_trip(&points));
    }

    #[test]
    fn regular_noisy_series_round_trips_within_a_hundredth() {
        let points = regular(360, 10_000, |i| 20.0 + ((i * 7919) % 1000) as f64 / 37.0);
        assert_close(&points, &round_trip(&points));
    }

    #[test]
    fn irregular_intervals_and_timestamps_before_1970_round_trip() {
        let times = [
            -5_000, -1, 0, 3, 10_003, 19_999, 20_000, 1_000_000, 1_000_001,
        ];
        let points: Vec<Point> = times.iter().map(|&t| (t, t as f64 / 7.0)).collect();
        assert_close(&points, &round_trip(&points));
    }

    #[test]
    fn negative_values_and_sign_changes_round_trip() {
        let points = regular(
            100,
            1000,
            |i| {
                if i % 2 == 0 { -1.5 * i as f64 } else { 0.01 }
            },
        );
        assert_close(&points, &round_trip(&points));
    }

    #[test]
    fn values_are_rounded_to_hundredths() {
        let points = [(0, 0.004), (1, 0.006), (2, -0.004), (3, 123.454_999)];
        let decoded = round_trip(&points);
        let values: Vec<f64> = decoded.iter().map(|p| p.1).collect();
        assert_eq!(values, [0.0, 0.01, 0.0, 123.45]);
    }

    #[test]
    fn huge_values_keep_their_relative_precision() {
        let points = [
            (0, 1e300),
            (1, -1e300),
            (2, f64::MAX),
            (3, 5.0),
            (4, f64::MIN),
            (5, 9.9e15),
        ];
        let decoded = round_trip(&points);
        assert_eq!(decoded.len(), points.len());
        for (o, d) in points.iter().zip(&decoded) {
            assert!(d.1.is_finite(), "{} decoded as {}", o.1, d.1);
            assert!(
                (o.1 - d.1).abs() <= f64::MAX * 1e-15,
                "{} decoded as {}",
                o.1,
                d.1
            );
        }
        assert!((decoded[0].1 / 1e300 - 1.0).abs() < 1e-15);
    }

    #[test]
    fn large_byte_counts_stay_exact() {
        // Hundredths of 9e15 are beyond what an f64 holds exactly, yet whole
        // numbers below 2^53 must come back unchanged.
        let points = regular(50, 10_000, |i| 9_000_000_000_000_000.0 + 4096.0 * i as f64);
        assert_eq!(round_trip(&points), points);
        let points = regular(50, 10_000, |i| 8_000_000_000.0 + 4096.0 * (i % 7) as f64);
        assert_eq!(round_trip(&points), points);
    }

    #[test]
    fn non_finite_values_are_left_out() {
        let points = [
            (0, 1.0),
            (1, f64::NAN),
            (2, f64::INFINITY),
            (3, f64::NEG_INFINITY),
            (4, 3.0),
        ];
        assert_eq!(round_trip(&points), [(0, 1.0), (4, 3.0)]);
        assert!(round_trip(&[(0, f64::NAN)]).is_empty());
    }

    #[test]
    fn jittered_and_stretched_intervals_round_trip() {
        // A timer a few ms late, and throttling that doubles the interval.
        let mut t = 1_780_000_000_000i64;
        let mut points = Vec::new();
        for i in 0..720u32 {
            t += if i < 400 { 10_000 } else { 20_000 } + i64::from(i * 7919 % 13);
            points.push((t, f64::from(i % 5)));
        }
        assert_eq!(round_trip(&points), points);
        assert_eq!(most_common(&[3, 1, 3, 1, 2]), 1);
        assert_eq!(most_common(&[]), 0);
    }

    #[test]
    fn regular_constant_series_is_tiny() {
        let points = regular(360, 10_000, |_| 1.0);
        let blob = encode(&points);
        assert!(blob.len() < 24, "{} bytes", blob.len());
        assert_eq!(round_trip(&points), points);
    }

    #[test]
    fn page_sized_byte_counts_use_the_common_divisor() {
        let points = regular(360, 10_000, |i| 4e9 + 4096.0 * ((i * 31) % 17) as f64);
        let blob = encode(&points);
        assert!(blob.len() < 360, "{} bytes", blob.len());
        assert_eq!(round_trip(&points), points);
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let blob = encode(&regular(100, 10_000, |i| i as f64 * 1.37));
        assert!(decode(&[]).is_err());
        assert!(decode(&[7, 1, 2]).is_err());
        assert!(decode(&[DEFLATED, 1, 2, 3]).is_err());
        assert!(decode(&[STORED, 9]).is_err());
        assert!(decode(&[STORED, VERSION, 0xff, 0xff, 0xff]).is_err());
        for cut in 0..blob.len() {
            let _ = decode(&blob[..cut]);
        }
        let mut stored = vec![STORED];
        stored.extend_from_slice(&[VERSION, 5, 3, 2, 0, 0, 0]);
        assert!(decode(&stored).is_err());
        for i in 1..blob.len() {
            let mut damaged = blob.clone();
            damaged[i] ^= 0x5a;
            let _ = decode(&damaged);
        }
    }

    #[test]
    fn version_1_chunks_with_delta_of_deltas_still_decode() {
        // (1000, 1.0), (2000, 2.0), (3000, 3.0) as the first release wrote it:
        // count 3, scale -2, divisor 100, first time 1000, first value 100,
        // then delta-of-deltas 1000 and a run of one zero, then values 1, 1.
        let blob = [
            STORED, 1, 3, 3, 100, 0xd0, 0x0f, 0xc8, 0x01, 0xd0, 0x0f, 0, 1, 2, 2,
        ];
        assert_eq!(
            decode(&blob).unwrap(),
            [(1000, 1.0), (2000, 2.0), (3000, 3.0)]
        );
    }

    #[test]
    fn decode_into_appends() {
        let a = regular(3, 1000, |i| i as f64);
        let mut out = vec![(-1, -1.0)];
        decode_into(&encode(&a), &mut out).unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(&out[1..], &a[..]);
    }
}
