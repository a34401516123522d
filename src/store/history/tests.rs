//! Answers from hour summaries against answers from every decoded point, on
//! real SQLite files: random series with gaps, late samples, recent samples,
//! compacted days and thinned history, over aligned and unaligned ranges and
//! steps.

use jiff::{SignedDuration, Timestamp};

use super::super::tests::{at, key, open_in, t0};
use super::*;
use crate::observation::Sample;
use crate::store::{CHUNK_MS, StorageConfig};
use crate::units::ByteSize;

const ALL: [Aggregation; 5] = [
    Aggregation::Avg,
    Aggregation::Min,
    Aggregation::Max,
    Aggregation::Last,
    Aggregation::P95,
];

/// A small deterministic generator (SplitMix64): the same data on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }

    fn value(&mut self) -> f64 {
        match self.below(4) {
            0 => self.below(100) as f64,
            1 => (self.below(2_000_000) - 1_000_000) as f64 / 997.0,
            2 => 1e9 + 4096.0 * self.below(1000) as f64,
            _ => (self.below(10_000) as f64).sqrt() - 50.0,
        }
    }
}

/// Writes `hours` of a series from `t0`: irregular intervals of 1 to 40 s,
/// silent hours, and a quiet day, sealing and compacting along the way.
fn random_history(store: &mut Store, rng: &mut Random, hours: i64) {
    let mut second = rng.below(30);
    let mut batch = Vec::new();
    while second < hours * 3600 {
        let hour = second / 3600;
        let silent = hour % 7 == 3 || (30..54).contains(&hour);
        if !silent {
            batch.push(Sample {
                key: key("cpu"),
                at: at(second) + SignedDuration::from_millis(rng.below(1000)),
                value: rng.value(),
            });
        }
        second += 1 + rng.below(40);
        if second / 3600 != hour {
            store.write(&std::mem::take(&mut batch)).unwrap();
            if hour % 5 == 0 {
                store.maintain(at(second)).unwrap();
            }
        }
    }
    store.write(&batch).unwrap();
}

/// Today's answer, and the definition of a step: every point of `range`,
/// bucketed from `from`, each step's values combined one after the other.
fn reference(
    store: &Store,
    (from, to): (Timestamp, Timestamp),
    step_ms: i64,
    how: Aggregation,
) -> Vec<(i64, f64)> {
    let points = store.range_ms(&key("cpu"), from, to).unwrap();
    let from_ms = from.as_millisecond();
    points
        .chunk_by(|a, b| (a.0 - from_ms).div_euclid(step_ms) == (b.0 - from_ms).div_euclid(step_ms))
        .map(|run| {
            let mut values: Vec<f64> = run.iter().map(|p| p.1).collect();
            let value = match how {
                Aggregation::Avg => values.iter().sum::<f64>() / values.len() as f64,
                Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
                Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Aggregation::Last => values[values.len() - 1],
                Aggregation::P95 => {
                    values.sort_by(f64::total_cmp);
                    let rank = ((values.len() as f64) * 0.95).ceil() as usize;
                    values[rank.clamp(1, values.len()) - 1]
                }
            };
            let index = (run[0].0 - from_ms).div_euclid(step_ms);
            (from_ms + index * step_ms, value)
        })
        .collect()
}

fn bits(points: &[(i64, f64)]) -> Vec<(i64, u64)> {
    points.iter().map(|&(at, v)| (at, v.to_bits())).collect()
}

/// Checks every aggregation over `range` in steps of `step_ms`: summaries,
/// decoding and today's plain bucketing agree bit for bit. Returns how many
/// points the answers had.
fn check(store: &Store, range: (Timestamp, Timestamp), step_ms: i64) -> usize {
    let mut points = 0;
    for how in ALL {
        let fast = store
            .history_with(&key("cpu"), range, step_ms, how, true)
            .unwrap();
        let slow = store
            .history_with(&key("cpu"), range, step_ms, how, false)
            .unwrap();
        let today = reference(store, range, step_ms, how);
        let context = format!("{how:?} over {range:?} in steps of {step_ms} ms");
        assert_eq!(bits(&fast), bits(&slow), "{context}");
        assert_eq!(bits(&fast), bits(&today), "{context}");
        points = fast.len();
    }
    points
}

/// Ranges and steps: whole days and hours, odd starts and ends, steps
/// shorter and longer than an hour and not dividing it.
fn check_many(store: &Store, rng: &mut Random, hours: i64) {
    let end = at(hours * 3600);
    let steps = [
        10_000,
        300_000,
        1_800_000,
        CHUNK_MS,
        5_400_000,
        2 * CHUNK_MS,
        86_400_000,
    ];
    let mut answered = 0;
    for step_ms in steps {
        answered += check(store, (t0(), end), step_ms);
        answered += check(store, (at(3600 * 5), at(3600 * 29 - 1)), step_ms);
        answered += check(
            store,
            (at(-7200), end + SignedDuration::from_hours(3)),
            step_ms,
        );
        for _ in 0..2 {
            let from = at(rng.below(hours as u64 * 3600));
            let to = from + SignedDuration::from_secs(rng.below(hours as u64 * 3600));
            answered += check(store, (from, to), step_ms);
        }
    }
    assert!(answered > 0);
}

#[test]
fn summaries_answer_as_every_decoded_point_would() {
    for seed in 1..=2 {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open_in(&dir);
        let mut rng = Random(seed);
        let hours = 60;
        random_history(&mut store, &mut rng, hours);
        // Compacted days, sealed hours and recent samples, then late ones
        // into sealed hours and a compacted day.
        store.maintain(at((hours - 2) * 3600)).unwrap();
        check_many(&store, &mut rng, hours);
        let late: Vec<Sample> = [10 * 3600 + 7, 10 * 3600 + 50, 56 * 3600 + 1, 59 * 3600]
            .into_iter()
            .map(|second| Sample {
                key: key("cpu"),
                at: at(second),
                value: rng.value(),
            })
            .collect();
        store.write(&late).unwrap();
        check_many(&store, &mut rng, hours);
        store.maintain(at(hours * 3600)).unwrap();
        check_many(&store, &mut rng, hours);
    }
}

#[test]
fn thinned_history_is_summed_up_as_its_averages() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let mut rng = Random(42);
    random_history(&mut store, &mut rng, 60);
    store.maintain(at(60 * 3600)).unwrap();
    let size = store.size_on_disk().unwrap();
    store.update_config(&StorageConfig {
        max_size: ByteSize(size * 100 / 95),
        ..StorageConfig::default()
    });
    assert!(store.maintain(at(60 * 3600)).unwrap().thinned_chunks > 0);
    let first_hour = store.range(&key("cpu"), at(0), at(3599)).unwrap();
    assert!(first_hour.len() <= 12, "thinned: {}", first_hour.len());
    check_many(&store, &mut rng, 60);
}

#[test]
fn hourly_steps_of_sealed_history_need_no_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    random_history(&mut store, &mut Random(7), 50);
    store.maintain(at(50 * 3600)).unwrap();
    let day = (t0(), at(24 * 3600 - 1));
    let before = store
        .history(&key("cpu"), day.0, day.1, CHUNK_MS, Aggregation::Avg)
        .unwrap();
    assert_eq!(before.len(), 24 - 3, "hours 3, 10 and 17 are silent");
    // With the day's points damaged, its hourly averages, lowest, highest
    // and last values (over longer steps too) still come from the
    // summaries; a percentile, a step that splits hours and an average over
    // several hours need the points and say they are damaged.
    store
        .conn
        .execute(
            "UPDATE chunks SET data = x'07' WHERE start_ms = ?1",
            [t0().as_millisecond()],
        )
        .unwrap();
    for how in [Aggregation::Min, Aggregation::Max, Aggregation::Last] {
        assert!(
            store
                .history(&key("cpu"), day.0, day.1, 2 * CHUNK_MS, how)
                .is_ok()
        );
    }
    assert_eq!(
        bits(
            &store
                .history(&key("cpu"), day.0, day.1, CHUNK_MS, Aggregation::Avg)
                .unwrap()
        ),
        bits(&before)
    );
    for (step_ms, how) in [
        (CHUNK_MS, Aggregation::P95),
        (1_800_000, Aggregation::Avg),
        (2 * CHUNK_MS, Aggregation::Avg),
    ] {
        let err = store
            .history(&key("cpu"), day.0, day.1, step_ms, how)
            .unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    }
}

#[test]
fn a_database_from_before_summaries_gets_them_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepwatch.db");
    let summaries = |store: &Store| -> Vec<Option<Vec<u8>>> {
        store
            .conn
            .prepare("SELECT hours FROM chunks ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let mut store = open_in(&dir);
    random_history(&mut store, &mut Random(9), 50);
    store.maintain(at(50 * 3600)).unwrap();
    let written = summaries(&store);
    store
        .conn
        .execute_batch("ALTER TABLE chunks DROP COLUMN hours; PRAGMA user_version = 9;")
        .unwrap();
    // A damaged chunk (the second day's) gets no summary, and is still
    // reported damaged where it is read.
    let damaged = at(24 * 3600).as_millisecond();
    store
        .conn
        .execute(
            "UPDATE chunks SET data = x'07' WHERE start_ms = ?1",
            [damaged],
        )
        .unwrap();
    drop(store);
    let store = Store::open(&path, &StorageConfig::default()).unwrap();
    let filled = summaries(&store);
    assert_eq!(filled.len(), written.len());
    assert_eq!(
        filled.iter().filter(|s| s.is_none()).count(),
        1,
        "the damaged chunk"
    );
    for (filled, written) in filled.iter().zip(&written) {
        assert!(written.is_some());
        assert!(filled.is_none() || filled == written);
    }
    let day = (t0(), at(24 * 3600 - 1));
    assert_eq!(check(&store, day, CHUNK_MS), 24 - 3);
}

#[test]
fn values_are_combined_per_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let write = |store: &mut Store, points: &[(i64, f64)]| {
        let samples: Vec<Sample> = points
            .iter()
            .map(|&(second, value)| Sample {
                key: key("cpu"),
                at: at(second),
                value,
            })
            .collect();
        store.write(&samples).unwrap();
    };
    write(&mut store, &[(0, 1.0), (10, 3.0), (20, 2.0), (70, 5.0)]);
    let minute = |how| {
        store
            .history(&key("cpu"), t0(), at(3599), 60_000, how)
            .unwrap()
    };
    let start = t0().as_millisecond();
    assert_eq!(
        minute(Aggregation::Avg),
        [(start, 2.0), (start + 60_000, 5.0)]
    );
    assert_eq!(minute(Aggregation::Min)[0].1, 1.0);
    assert_eq!(minute(Aggregation::Max)[0].1, 3.0);
    assert_eq!(minute(Aggregation::Last)[0].1, 2.0);
    assert_eq!(minute(Aggregation::P95)[0].1, 3.0);
    let hundred: Vec<(i64, f64)> = (1..=100).map(|i| (3600 + i, i as f64)).collect();
    write(&mut store, &hundred);
    let hour = (at(3600), at(7199));
    for sealed in [false, true] {
        if sealed {
            store.maintain(at(3 * 3600)).unwrap();
        }
        let p95 = store.history(&key("cpu"), hour.0, hour.1, CHUNK_MS, Aggregation::P95);
        assert_eq!(p95.unwrap(), [(hour.0.as_millisecond(), 95.0)]);
        let avg = store.history(&key("cpu"), hour.0, hour.1, CHUNK_MS, Aggregation::Avg);
        assert_eq!(avg.unwrap(), [(hour.0.as_millisecond(), 50.5)]);
    }
    assert!(
        store
            .history(&key("cpu"), at(10), at(0), 60_000, Aggregation::Avg)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .history(&key("disk"), t0(), at(3600), 60_000, Aggregation::Avg)
            .unwrap()
            .is_empty()
    );
}
