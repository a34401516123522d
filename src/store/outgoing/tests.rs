//! The agent's cursor on a real SQLite file: what is acknowledged stays so,
//! what is written into a window on its way is sent again, and a window
//! reads the same whether its samples are still recent or already sealed.

use super::*;
use crate::observation::Sample;
use crate::store::tests::{at, open_in, sample};
use crate::vocabulary::{FailureKind, State};

fn ms(seconds: i64) -> i64 {
    at(seconds).as_millisecond()
}

/// Every point of `unsent`, as (metric, ms, value).
fn points(unsent: &Unsent) -> Vec<(String, i64, f64)> {
    let mut all: Vec<_> = unsent
        .series
        .iter()
        .flat_map(|(key, points)| points.iter().map(|p| (key.metric.clone(), p.0, p.1)))
        .collect();
    all.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    all
}

#[test]
fn a_computer_that_sends_to_no_hub_has_no_cursor_and_writes_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store.write(&[sample("cpu", 0, 1.0)]).unwrap();
    assert_eq!(store.outgoing().unwrap(), None);
    let cursor = store.outgoing_cursor().unwrap();
    assert_eq!(
        cursor,
        Cursor {
            sent_ms: 0,
            reading_ms: 0
        },
        "the first time, everything recorded so far is still to send"
    );
}

#[test]
fn an_acknowledged_window_moves_the_cursor_and_the_next_starts_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store.outgoing_cursor().unwrap();
    store
        .write(&[sample("cpu", 10, 1.0), sample("cpu", 20, 2.0)])
        .unwrap();
    let read = store.begin_sending(None, ms(15)).unwrap();
    let first = store
        .unsent("web1", read.sent_ms, read.reading_ms, 100)
        .unwrap();
    assert_eq!(points(&first), [("cpu".to_owned(), ms(10), 1.0)]);
    // Acknowledged: recorded with the next read.
    let read = store.begin_sending(Some((read, ms(15))), ms(30)).unwrap();
    assert_eq!(read.sent_ms, ms(15));
    let second = store
        .unsent("web1", read.sent_ms, read.reading_ms, 100)
        .unwrap();
    assert_eq!(points(&second), [("cpu".to_owned(), ms(20), 2.0)]);
}

#[test]
fn a_sample_written_into_a_window_on_its_way_is_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store.outgoing_cursor().unwrap();
    store.write(&[sample("cpu", 10, 1.0)]).unwrap();
    let read = store.begin_sending(None, ms(30)).unwrap();
    let sent = store
        .unsent("web1", read.sent_ms, read.reading_ms, 100)
        .unwrap();
    assert_eq!(points(&sent).len(), 1);
    // Written while the window is on its way (another thread, or a full
    // disk's buffer flushed), at a time inside it.
    store.write(&[sample("mem", 20, 5.0)]).unwrap();
    let next = store.begin_sending(Some((read, ms(30))), ms(40)).unwrap();
    assert_eq!(
        next.sent_ms, read.sent_ms,
        "the acknowledgement does not move the cursor past what it did not carry"
    );
    let again = store
        .unsent("web1", next.sent_ms, next.reading_ms, 100)
        .unwrap();
    assert_eq!(
        points(&again),
        [
            ("cpu".to_owned(), ms(10), 1.0),
            ("mem".to_owned(), ms(20), 5.0)
        ]
    );
}

#[test]
fn a_sample_written_before_what_the_hub_has_moves_the_cursor_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store.outgoing_cursor().unwrap();
    let read = store.begin_sending(None, ms(100)).unwrap();
    let read = store.begin_sending(Some((read, ms(100))), ms(100)).unwrap();
    assert_eq!(read.sent_ms, ms(100));
    // The clock was set back, or a full disk's buffer is written late.
    store.write(&[sample("cpu", 50, 7.0)]).unwrap();
    assert_eq!(store.outgoing().unwrap().unwrap().sent_ms, ms(50) - 1);
    // So are a service's state and incidents.
    let read = store.begin_sending(None, ms(100)).unwrap();
    store.begin_sending(Some((read, ms(100))), ms(100)).unwrap();
    store
        .record_transition(
            "shop",
            at(60),
            State::Down,
            Some(FailureKind::Timeout),
            "slow",
        )
        .unwrap();
    assert_eq!(store.outgoing().unwrap().unwrap().sent_ms, ms(60) - 1);
}

#[test]
fn a_window_reads_the_same_from_recent_rows_sealed_hours_and_compacted_days() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store.outgoing_cursor().unwrap();
    let samples: Vec<Sample> = (0..3 * 24 * 360)
        .map(|tick| sample("cpu", tick * 10, (tick % 97) as f64 / 4.0))
        .collect();
    for chunk in samples.chunks(360) {
        store.write(chunk).unwrap();
    }
    // A second host's series are not this agent's to send.
    store
        .write(&[Sample {
            key: SeriesKey::new("other", "cpu", ""),
            at: at(100),
            value: 1.0,
        }])
        .unwrap();
    let window = |store: &Store, from: i64, to: i64| {
        points(&store.unsent("web1", ms(from), ms(to), 1_000_000).unwrap())
    };
    let (from, to) = (20 * 3600 + 5, 50 * 3600 - 5);
    let recent = window(&store, from, to);
    assert_eq!(recent.len() as i64, (to - from) / 10);
    store.maintain(at(3 * 24 * 3600 + 60)).unwrap();
    assert_eq!(
        window(&store, from, to),
        recent,
        "the same points after sealing and compacting (values are hundredths already)"
    );
}

#[test]
fn a_full_window_is_cut_at_an_instant_every_sample_of_which_is_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    for tick in 0..100 {
        store
            .write(&[sample("cpu", tick, 1.0), sample("mem", tick, 2.0)])
            .unwrap();
    }
    let unsent = store.unsent("web1", ms(-1), ms(99), 51).unwrap();
    assert_eq!(
        unsent.upto_ms,
        ms(25) - 1,
        "25 instants of 2 samples fit in 51"
    );
    assert_eq!(unsent.sample_count(), 50);
    let rest = store.unsent("web1", unsent.upto_ms, ms(99), 1000).unwrap();
    assert_eq!(rest.sample_count(), 150);
}

#[test]
fn incidents_go_while_they_overlap_and_services_when_checked_in_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store
        .record_transition(
            "shop",
            at(10),
            State::Down,
            Some(FailureKind::Timeout),
            "timed out",
        )
        .unwrap();
    store
        .record_transition("shop", at(500), State::Up, None, "fine")
        .unwrap();
    store
        .record_transition("db", at(600), State::Down, None, "refused")
        .unwrap();
    let status = crate::store::ServiceStatus {
        name: "db".into(),
        state: State::Down,
        kind: None,
        explanation: "refused".into(),
        since: at(600),
        checked_at: at(650),
        response_ms: None,
    };
    store.save_service_status(&status).unwrap();
    let names =
        |u: &Unsent| -> Vec<String> { u.incidents.iter().map(|i| i.service.clone()).collect() };
    let early = store.unsent("web1", ms(0), ms(100), 100).unwrap();
    assert_eq!(names(&early), ["shop"]);
    assert!(early.services.is_empty());
    let middle = store.unsent("web1", ms(400), ms(700), 100).unwrap();
    assert_eq!(names(&middle), ["shop", "db"], "shop ended in it, db began");
    assert_eq!(middle.services, vec![status]);
    let late = store.unsent("web1", ms(700), ms(800), 100).unwrap();
    assert_eq!(names(&late), ["db"], "still open");
    assert_eq!(store.next_recorded(ms(0)).unwrap(), Some(ms(10)));
}
