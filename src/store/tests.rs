//! Behaviour of the store on real SQLite files in temporary folders.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::units::{ByteSize, Duration};

pub(super) fn t0() -> Timestamp {
    "2026-03-02T00:00:00Z".parse().unwrap()
}

pub(super) fn at(seconds: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(seconds)
}

pub(super) fn key(metric: &str) -> SeriesKey {
    SeriesKey::new("web1", metric, "")
}

pub(super) fn sample(metric: &str, seconds: i64, value: f64) -> Sample {
    Sample {
        key: key(metric),
        at: at(seconds),
        value,
    }
}

pub(super) fn open_in(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("keepwatch.db"), &StorageConfig::default()).unwrap()
}

/// `hours` of one sample every 10 s for each metric, starting at `t0`.
fn fill(store: &mut Store, metrics: &[&str], hours: i64) {
    for tick in 0..hours * 360 {
        let batch: Vec<Sample> = metrics
            .iter()
            .enumerate()
            .map(|(i, m)| {
                sample(
                    m,
                    tick * 10,
                    (tick as f64 * 0.37 + i as f64).sin() * 50.0 + 50.0,
                )
            })
            .collect();
        store.write(&batch).unwrap();
    }
}

fn pragma<T: rusqlite::types::FromSql>(store: &Store, name: &str) -> T {
    store
        .conn
        .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .unwrap()
}

fn values(points: &[(Timestamp, f64)]) -> Vec<f64> {
    points.iter().map(|p| p.1).collect()
}

#[test]
fn open_creates_the_folder_and_a_configured_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/keepwatch.db");
    let store = Store::open(&path, &StorageConfig::default()).unwrap();
    assert!(path.exists());
    assert_eq!(store.path(), path);
    assert_eq!(pragma::<String>(&store, "journal_mode"), "wal");
    assert_eq!(pragma::<i64>(&store, "auto_vacuum"), 2, "incremental");
    assert_eq!(
        pragma::<i64>(&store, "user_version"),
        schema::current_version()
    );
    assert_eq!(
        pragma::<i32>(&store, "application_id"),
        schema::APPLICATION_ID
    );
}

#[test]
fn reopening_keeps_the_schema_and_everything_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store
        .write(&[sample("cpu", 0, 1.0), sample("cpu", 10, 2.0)])
        .unwrap();
    store.maintain(at(3600 * 2)).unwrap();
    store.write(&[sample("cpu", 7200, 3.0)]).unwrap();
    store
        .record_event(at(7200), "test", "before restart")
        .unwrap();
    store.set_state("pid", "42").unwrap();
    drop(store);

    let store = open_in(&dir);
    assert_eq!(
        pragma::<i64>(&store, "user_version"),
        schema::current_version()
    );
    let history = store.range(&key("cpu"), at(0), at(7200)).unwrap();
    assert_eq!(values(&history), [1.0, 2.0, 3.0]);
    assert_eq!(store.latest().unwrap(), [sample("cpu", 7200, 3.0)]);
    assert_eq!(store.recent_events(10).unwrap().len(), 1);
    assert_eq!(store.state("pid").unwrap().as_deref(), Some("42"));
    drop(store);
    // A third open finds nothing to migrate and still works.
    let mut store = open_in(&dir);
    store.write(&[sample("cpu", 7210, 4.0)]).unwrap();
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepwatch.db");
    std::fs::write(&path, "[agent]\nname = \"web1\"\n".repeat(100)).unwrap();
    let err = Store::open(&path, &StorageConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("not a keepwatch database"), "{message}");
}

#[test]
fn another_programs_database_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE invoices (id INTEGER)")
        .unwrap();
    let err = Store::open(&path, &StorageConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err:?}");
    assert!(err.to_string().contains("another program"), "{err}");
}

#[test]
fn an_uncreatable_folder_names_the_folder_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = Store::open(&file.join("sub/keepwatch.db"), &StorageConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("a-file"), "{message}");
    assert!(message.contains("agent.data_dir"), "{message}");
}

#[test]
fn a_folder_in_place_of_the_file_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path(), &StorageConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("writable"), "{err}");
}

#[test]
fn latest_keeps_the_newest_value_of_each_series() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store
        .write(&[sample("cpu", 10, 5.0), sample("mem", 10, 50.0)])
        .unwrap();
    store.write(&[sample("cpu", 20, 6.0)]).unwrap();
    // A late sample (e.g. a backlog) is history, not the latest state.
    store.write(&[sample("cpu", 15, 99.0)]).unwrap();
    assert_eq!(
        store.latest().unwrap(),
        [sample("cpu", 20, 6.0), sample("mem", 10, 50.0)]
    );
    assert_eq!(store.series().unwrap(), [key("cpu"), key("mem")]);
}

#[test]
fn non_finite_values_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let summary = store
        .write(&[
            sample("cpu", 0, 1.0),
            sample("cpu", 10, f64::NAN),
            sample("cpu", 20, f64::INFINITY),
        ])
        .unwrap();
    assert_eq!(
        summary,
        WriteSummary {
            written: 1,
            skipped: 2
        }
    );
    assert_eq!(
        values(&store.range(&key("cpu"), at(0), at(30)).unwrap()),
        [1.0]
    );
    assert_eq!(store.latest().unwrap(), [sample("cpu", 0, 1.0)]);
}

#[test]
fn range_merges_sealed_chunks_and_staging_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    fill(&mut store, &["cpu", "mem"], 3);
    let before = store.range(&key("cpu"), at(0), at(3 * 3600)).unwrap();
    assert_eq!(before.len(), 3 * 360);

    let report = store.maintain(at(2 * 3600 + 1800)).unwrap();
    assert_eq!(report.sealed_chunks, 4, "two closed hours of two series");
    assert_eq!(report.sealed_samples, 2 * 2 * 360);
    let staged: i64 = store
        .conn
        .query_row("SELECT count(*) FROM staging", [], |r| r.get(0))
        .unwrap();
    assert_eq!(staged, 2 * 360, "the open hour stays in staging");

    let after = store.range(&key("cpu"), at(0), at(3 * 3600)).unwrap();
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.0, b.0);
        assert!((a.1 - b.1).abs() <= 0.005 + 1e-9, "{} became {}", b.1, a.1);
    }
    assert!(
        after.windows(2).all(|w| w[0].0 < w[1].0),
        "ordered, no duplicates"
    );

    // Bounds are inclusive, also inside a chunk and across the seal line.
    let window = store.range(&key("cpu"), at(3590), at(7210)).unwrap();
    assert_eq!(window.first().unwrap().0, at(3590));
    assert_eq!(window.last().unwrap().0, at(7210));
    assert_eq!(window.len(), (7210 - 3590) / 10 + 1);
    assert!(
        store
            .range(&key("cpu"), at(100), at(50))
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .range(&key("disk"), at(0), at(100))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn late_samples_are_merged_into_sealed_hours_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store
        .write(&[sample("cpu", 0, 1.0), sample("cpu", 20, 3.0)])
        .unwrap();
    store.maintain(at(3600)).unwrap();
    // A backlog arrives: one new instant, one correction of a sealed one.
    store
        .write(&[sample("cpu", 10, 2.0), sample("cpu", 20, 30.0)])
        .unwrap();
    let expected = [(at(0), 1.0), (at(10), 2.0), (at(20), 30.0)];
    assert_eq!(store.range(&key("cpu"), at(0), at(60)).unwrap(), expected);
    let report = store.maintain(at(3600)).unwrap();
    assert_eq!(report.sealed_chunks, 1);
    assert_eq!(store.range(&key("cpu"), at(0), at(60)).unwrap(), expected);
    let chunks: i64 = store
        .conn
        .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(chunks, 1);
}

#[test]
fn retention_deletes_old_history_but_not_the_latest_values() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        retention: Duration::from_hours(2),
        ..StorageConfig::default()
    };
    let mut store = Store::open(&dir.path().join("k.db"), &config).unwrap();
    store.write(&[sample("old", 0, 1.0)]).unwrap();
    store.record_event(at(0), "test", "old event").unwrap();
    fill(&mut store, &["cpu"], 4);

    // Hours 0 and 1 are too old before they are even sealed.
    let report = store.maintain(at(4 * 3600)).unwrap();
    assert_eq!(report.expired_samples, 2 * 360 + 1);
    assert_eq!(report.sealed_chunks, 2);
    // An hour later, sealed hour 2 is too old too.
    let report = store.maintain(at(5 * 3600)).unwrap();
    assert_eq!(report.expired_chunks, 1);
    let cpu = store.range(&key("cpu"), at(0), at(5 * 3600)).unwrap();
    assert_eq!(cpu.first().unwrap().0, at(3 * 3600));
    assert_eq!(cpu.len(), 360);
    assert!(store.range(&key("old"), at(0), at(10)).unwrap().is_empty());
    assert!(store.latest().unwrap().contains(&sample("old", 0, 1.0)));
    assert!(store.recent_events(10).unwrap().is_empty());

    // Samples arriving already too old never make it into history.
    store.write(&[sample("cpu", 60, 1.0)]).unwrap();
    let report = store.maintain(at(5 * 3600)).unwrap();
    assert_eq!(report.expired_samples, 1);

    // A reload can switch retention off.
    store.update_config(&StorageConfig {
        retention: Duration::from_secs(0),
        ..StorageConfig::default()
    });
    store.write(&[sample("cpu", 60, 1.0)]).unwrap();
    let report = store.maintain(at(50 * 3600)).unwrap();
    assert_eq!((report.expired_chunks, report.expired_samples), (0, 0));
    assert_eq!(store.range(&key("cpu"), at(0), at(60)).unwrap().len(), 1);
}

#[test]
fn the_cap_thins_the_oldest_history_first_and_keeps_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let metrics: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let metrics: Vec<&str> = metrics.iter().map(String::as_str).collect();
    fill(&mut store, &metrics, 12);
    store.maintain(at(12 * 3600)).unwrap();
    let latest = store.latest().unwrap();
    let size = store.size_on_disk().unwrap();

    // A cap just below the current size: thinning alone must suffice.
    store.update_config(&StorageConfig {
        max_size: ByteSize(size * 100 / 95),
        ..StorageConfig::default()
    });
    let report = store.maintain(at(12 * 3600)).unwrap();
    assert!(report.thinned_chunks > 0, "{report:?}");
    assert_eq!(report.dropped_chunks, 0, "{report:?}");
    assert!(!report.over_cap);
    assert!(report.bytes_after <= size * 100 / 95 * 8 / 10, "{report:?}");
    assert_eq!(store.latest().unwrap(), latest);

    // The oldest hour is now 5-minute averages, the newest still raw.
    let first_hour = store.range(&key("m0"), at(0), at(3599)).unwrap();
    assert_eq!(first_hour.len(), 12);
    assert_eq!(first_hour[1].0, at(300));
    let last_hour = store
        .range(&key("m0"), at(11 * 3600), at(12 * 3600))
        .unwrap();
    assert_eq!(last_hour.len(), 360);
}

#[test]
fn the_cap_deletes_oldest_history_when_thinning_is_not_enough() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    fill(&mut store, &["cpu", "mem"], 6);
    store.maintain(at(6 * 3600)).unwrap();
    store.write(&[sample("cpu", 6 * 3600, 7.0)]).unwrap();
    let latest = store.latest().unwrap();

    store.update_config(&StorageConfig {
        max_size: ByteSize(4096),
        ..StorageConfig::default()
    });
    let report = store.maintain(at(6 * 3600)).unwrap();
    assert_eq!(report.thinned_chunks, 12, "{report:?}");
    assert_eq!(report.dropped_chunks, 12, "{report:?}");
    assert!(report.over_cap, "a 4 KB cap cannot hold even the schema");
    assert_eq!(
        pragma::<i64>(&store, "freelist_count"),
        0,
        "the file shrank"
    );
    assert!(
        store
            .range(&key("cpu"), at(0), at(6 * 3600 - 1))
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.latest().unwrap(), latest);
    assert_eq!(
        store.range(&key("cpu"), at(0), at(7 * 3600)).unwrap(),
        [(at(6 * 3600), 7.0)],
        "recent samples survive"
    );
}

#[test]
fn freed_space_goes_back_to_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let mut store = Store::open(&path, &StorageConfig::default()).unwrap();
    let metrics: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let metrics: Vec<&str> = metrics.iter().map(String::as_str).collect();
    fill(&mut store, &metrics, 6);
    store.maintain(at(3600)).unwrap();
    let pages_before: i64 = pragma(&store, "page_count");
    let report = store.maintain(at(6 * 3600)).unwrap();
    assert!(report.sealed_chunks > 0);
    let pages_after: i64 = pragma(&store, "page_count");
    assert!(
        pages_after < pages_before,
        "{pages_after} pages after, {pages_before} before"
    );
    assert_eq!(pragma::<i64>(&store, "freelist_count"), 0);
}

#[test]
fn events_come_back_newest_first_and_limited() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store
        .record_event(at(0), "throttle", "slowing down")
        .unwrap();
    store
        .record_event(at(20), "config", "rejected line 3")
        .unwrap();
    store
        .record_event(at(10), "throttle", "back to normal")
        .unwrap();
    let events = store.recent_events(2).unwrap();
    assert_eq!(
        events,
        [
            Event {
                at: at(20),
                kind: "config".into(),
                message: "rejected line 3".into()
            },
            Event {
                at: at(10),
                kind: "throttle".into(),
                message: "back to normal".into()
            },
        ]
    );
    assert_eq!(store.recent_events(100).unwrap().len(), 3);
    assert!(store.recent_events(0).unwrap().is_empty());
}

#[test]
fn agent_state_is_set_replaced_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    assert_eq!(store.state("throttle").unwrap(), None);
    store.set_state("throttle", "normal").unwrap();
    store.set_state("throttle", "stretched x4").unwrap();
    assert_eq!(
        store.state("throttle").unwrap().as_deref(),
        Some("stretched x4")
    );
    store.remove_state("throttle").unwrap();
    store.remove_state("never-set").unwrap();
    assert_eq!(store.state("throttle").unwrap(), None);
}

#[test]
fn a_reader_in_another_process_sees_new_series() {
    let dir = tempfile::tempdir().unwrap();
    let reader = open_in(&dir);
    let mut writer = open_in(&dir);
    writer.write(&[sample("cpu", 0, 1.0)]).unwrap();
    assert_eq!(
        values(&reader.range(&key("cpu"), at(0), at(0)).unwrap()),
        [1.0]
    );
    assert_eq!(reader.latest().unwrap().len(), 1);
}

#[test]
fn a_failed_write_leaves_no_trace_and_no_stale_series_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store.write(&[sample("cpu", 0, 1.0)]).unwrap();
    let pages: i64 = pragma(&store, "page_count");
    store
        .conn
        .execute_batch(&format!("PRAGMA max_page_count = {pages}"))
        .unwrap();
    let big: Vec<Sample> = (0..5000)
        .map(|i| Sample {
            key: SeriesKey::new(
                "web1",
                format!("new{i}"),
                "a long instance name to fill pages",
            ),
            at: at(10),
            value: 1.0,
        })
        .collect();
    let err = store.write(&big).unwrap_err();
    assert!(err.is_disk_full(), "{err:?}");
    assert!(err.to_string().contains("full"), "{err}");
    assert_eq!(store.series().unwrap(), [key("cpu")], "rolled back");
    assert_eq!(store.ids.len(), 1, "no ids of rolled-back series cached");
    store
        .conn
        .execute_batch("PRAGMA max_page_count = 1000000")
        .unwrap();
    store.write(&big).unwrap();
    assert_eq!(store.series().unwrap().len(), 5001);
}

#[test]
fn damaged_history_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store.write(&[sample("cpu", 0, 1.0)]).unwrap();
    store.maintain(at(3600)).unwrap();
    store
        .conn
        .execute("UPDATE chunks SET data = x'07'", [])
        .unwrap();
    let err = store.range(&key("cpu"), at(0), at(10)).unwrap_err();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    assert!(err.to_string().contains("damaged history"), "{err}");
    store.write(&[sample("cpu", 1, 1.0)]).unwrap();
    assert!(store.maintain(at(3600)).is_err());
}

fn chunk_rows(store: &Store) -> Vec<(String, i64, i64, i64)> {
    let mut stmt = store
        .conn
        .prepare(
            "SELECT s.metric, c.start_ms, c.span_ms, c.count FROM chunks c
             JOIN series s ON s.id = c.series_id ORDER BY c.id",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_finished_day_is_compacted_into_one_chunk_per_series() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    fill(&mut store, &["cpu", "mem"], 26);
    let before = store.range(&key("cpu"), at(0), at(26 * 3600)).unwrap();
    // Hourly maintenance through the day, as the agent runs it.
    for hour in 1..=26 {
        let report = store.maintain(at(hour * 3600)).unwrap();
        assert_eq!(
            report.compacted_chunks,
            if hour == 24 { 2 } else { 0 },
            "hour {hour}"
        );
    }
    let day = t0().as_millisecond();
    let rows = chunk_rows(&store);
    assert_eq!(
        rows[..2],
        [
            ("cpu".to_owned(), day, DAY_MS, 8640),
            ("mem".to_owned(), day, DAY_MS, 8640)
        ]
    );
    assert_eq!(rows.len(), 2 + 2 * 2, "hours 24 and 25 stay hourly");

    let after = store.range(&key("cpu"), at(0), at(26 * 3600)).unwrap();
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.0, b.0);
        assert!((a.1 - b.1).abs() <= 0.005 + 1e-9);
    }
    // Bounds inside the day chunk and across the day boundary.
    let window = store
        .range(&key("cpu"), at(3600 * 23 + 5), at(3600 * 24 + 15))
        .unwrap();
    assert_eq!(window.first().unwrap().0, at(3600 * 23 + 10));
    assert_eq!(window.last().unwrap().0, at(3600 * 24 + 10));
    assert_eq!(window.len(), 361);
}

#[test]
fn late_samples_for_a_compacted_day_join_its_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store
        .write(&[sample("cpu", 3600 * 5, 5.0), sample("cpu", 3600 * 7, 7.0)])
        .unwrap();
    store.maintain(at(3600 * 25)).unwrap();
    assert_eq!(chunk_rows(&store).len(), 1);
    // A backlog brings an hour of that day that had nothing yet.
    store
        .write(&[sample("cpu", 3600 * 6, 6.0), sample("cpu", 3600 * 7, 70.0)])
        .unwrap();
    let report = store.maintain(at(3600 * 25)).unwrap();
    assert_eq!(
        report.sealed_chunks, 2,
        "hours 6 and 7, both into the day's chunk"
    );
    assert_eq!(
        chunk_rows(&store),
        [("cpu".to_owned(), t0().as_millisecond(), DAY_MS, 3)]
    );
    assert_eq!(
        values(&store.range(&key("cpu"), at(0), at(3600 * 24)).unwrap()),
        [5.0, 6.0, 70.0]
    );
}

#[test]
fn thinning_reaches_compacted_days_and_a_partly_thinned_day_is_thinned_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let metrics: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let metrics: Vec<&str> = metrics.iter().map(String::as_str).collect();
    fill(&mut store, &metrics, 20);
    store.maintain(at(20 * 3600)).unwrap();
    // Thin the first hours of the day while it is still hourly...
    let size = store.size_on_disk().unwrap();
    store.update_config(&StorageConfig {
        max_size: ByteSize(size * 100 / 95),
        ..StorageConfig::default()
    });
    let report = store.maintain(at(20 * 3600)).unwrap();
    assert!(report.thinned_chunks > 0);
    store.update_config(&StorageConfig::default());
    // ...then finish the day: its chunk is thinned as a whole.
    fill_from(&mut store, &metrics, 20, 25);
    let report = store.maintain(at(25 * 3600)).unwrap();
    assert_eq!(report.compacted_chunks, 10);
    let day = store.range(&key("m0"), at(0), at(24 * 3600 - 1)).unwrap();
    assert_eq!(day.len(), 288, "5-minute averages for the whole day");

    // A cap reached again thins the next raw history: hour 24 first.
    let size = store.size_on_disk().unwrap();
    store.update_config(&StorageConfig {
        max_size: ByteSize(size * 100 / 95),
        ..StorageConfig::default()
    });
    let report = store.maintain(at(25 * 3600)).unwrap();
    assert_eq!(report.thinned_chunks, 10, "hour 24, the raw history left");
    let hour = store
        .range(&key("m0"), at(24 * 3600), at(25 * 3600 - 1))
        .unwrap();
    // Thinned to 5-minute averages, unless the cap also needed it deleted
    // (how much thinning frees depends on the schema's fixed pages).
    if report.dropped_chunks == 0 {
        assert_eq!(hour.len(), 12);
    }
}

/// Like [`fill`], from hour `from` to hour `to`.
fn fill_from(store: &mut Store, metrics: &[&str], from: i64, to: i64) {
    for tick in from * 360..to * 360 {
        let batch: Vec<Sample> = metrics
            .iter()
            .enumerate()
            .map(|(i, m)| {
                sample(
                    m,
                    tick * 10,
                    (tick as f64 * 0.37 + i as f64).sin() * 50.0 + 50.0,
                )
            })
            .collect();
        store.write(&batch).unwrap();
    }
}

#[test]
fn compaction_finds_the_hours_waiting_for_it_through_the_small_index() {
    // SQLite uses a partial index only for a query that repeats its
    // condition literally: if the hourly span and the index drift apart,
    // every compaction scans the whole table.
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir);
    let plan: Vec<String> = store
        .conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            maintain::OLDEST_HOURLY_CHUNK
        ))
        .unwrap()
        .query_map([i64::MAX], |row| row.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter().any(|step| step.contains("INDEX chunks_hourly")),
        "{plan:?}"
    );
}

#[test]
fn a_database_from_before_day_chunks_is_upgraded_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
            .unwrap();
        schema::migrate_with(&mut conn, &path, &schema::MIGRATIONS[..2], |_, _| Ok(())).unwrap();
        // A staged sample, and an hourly chunk in the first chunk layout.
        conn.execute_batch(
            "INSERT INTO series (id, host, metric, instance) VALUES (1, 'web1', 'cpu', '');
             INSERT INTO staging (series_id, at_ms, value) VALUES (1, 7200000, 4.0);
             INSERT INTO chunks (id, series_id, start_ms, end_ms, count, step, data)
             VALUES (1, 1, 0, 3000, 3, 0, x'0001030364d00fc801d00f00010202');",
        )
        .unwrap();
    }
    let mut store = open_in_path(&path);
    assert_eq!(
        pragma::<i64>(&store, "user_version"),
        schema::current_version()
    );
    let epoch = Timestamp::UNIX_EPOCH;
    let expected = [
        (epoch + SignedDuration::from_secs(1), 1.0),
        (epoch + SignedDuration::from_secs(2), 2.0),
        (epoch + SignedDuration::from_secs(3), 3.0),
        (epoch + SignedDuration::from_hours(2), 4.0),
    ];
    let all = |store: &Store| {
        store
            .range(&key("cpu"), epoch, epoch + SignedDuration::from_hours(48))
            .unwrap()
    };
    assert_eq!(all(&store), expected);
    let report = store
        .maintain(epoch + SignedDuration::from_hours(48))
        .unwrap();
    assert_eq!(report.compacted_chunks, 1);
    assert_eq!(all(&store), expected);
}

#[test]
fn staged_samples_survive_the_upgrade_to_one_key_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
            .unwrap();
        schema::migrate_with(&mut conn, &path, &schema::MIGRATIONS[..8], |_, _| Ok(())).unwrap();
        // Before 1970 too: a key holds negative times.
        conn.execute_batch(
            "INSERT INTO series (id, host, metric, instance) VALUES (1, 'web1', 'cpu', ''), (2, 'web1', 'mem', '');
             INSERT INTO staging (series_id, at_ms, value)
             VALUES (2, 1000, 20.0), (1, 1000, 1.0), (1, -5000, -1.0), (1, 2000, 2.0);",
        )
        .unwrap();
    }
    let mut store = open_in_path(&path);
    let epoch = Timestamp::UNIX_EPOCH;
    let cpu = |store: &Store| {
        store
            .range(
                &key("cpu"),
                epoch - SignedDuration::from_hours(1),
                epoch + SignedDuration::from_hours(1),
            )
            .unwrap()
    };
    let seconds = |s: i64| epoch + SignedDuration::from_secs(s);
    assert_eq!(
        cpu(&store),
        [(seconds(-5), -1.0), (seconds(1), 1.0), (seconds(2), 2.0)]
    );
    assert_eq!(
        values(&store.range(&key("mem"), seconds(0), seconds(9)).unwrap()),
        [20.0]
    );
    // Written again: the later write wins, as before.
    store
        .write(&[Sample {
            key: key("cpu"),
            at: seconds(1),
            value: 7.0,
        }])
        .unwrap();
    assert_eq!(values(&cpu(&store)), [-1.0, 7.0, 2.0]);
    store.maintain(seconds(3 * 3600)).unwrap();
    assert_eq!(values(&cpu(&store)), [-1.0, 7.0, 2.0], "sealed alike");
}

#[test]
fn a_time_no_key_can_hold_is_skipped_and_the_rest_of_the_batch_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let far: Timestamp = "2300-01-01T00:00:00Z".parse().unwrap();
    let summary = store
        .write(&[
            sample("cpu", 0, 1.0),
            Sample {
                key: key("cpu"),
                at: far,
                value: 2.0,
            },
            sample("cpu", 10, 3.0),
        ])
        .unwrap();
    assert_eq!(
        summary,
        WriteSummary {
            written: 2,
            skipped: 1
        }
    );
    // Ranges up to the end of time do not wrap around.
    let history = store
        .range(&key("cpu"), Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    assert_eq!(history, [(at(0), 1.0), (at(10), 3.0)]);
    assert_eq!(
        store.range(&key("cpu"), at(5), at(10)).unwrap(),
        [(at(10), 3.0)]
    );
}

fn open_in_path(path: &std::path::Path) -> Store {
    Store::open(path, &StorageConfig::default()).unwrap()
}

impl Store {
    /// Makes the store refuse every write (`true`) as a full disk would, or
    /// take them again (`false`). A size limit would not do: a small row
    /// still fits in a page that has room.
    pub(crate) fn refuse_writes(&self, refuse: bool) {
        self.conn
            .execute_batch(&format!("PRAGMA query_only = {refuse}"))
            .unwrap();
    }

    /// Makes the database file as full as a full disk would (no page may be
    /// added to it), or gives it room again. Unlike [`refuse_writes`]
    /// (Self::refuse_writes), memory (TEMP tables) still takes writes, as on
    /// a real full disk.
    pub(crate) fn fill_disk(&self, full: bool) {
        let pages: i64 = if full {
            self.conn
                .query_row("PRAGMA main.page_count", [], |r| r.get(0))
                .unwrap()
        } else {
            1_000_000
        };
        self.conn
            .execute_batch(&format!("PRAGMA main.max_page_count = {pages}"))
            .unwrap();
    }
}
