//! A hub's store of its agents' batches, on a real SQLite file.

use super::*;
use crate::observation::SeriesKey;
use crate::store::tests::{at, open_in};

fn samples(host: &str, from: i64, count: i64) -> Vec<Sample> {
    (from..from + count)
        .map(|i| Sample {
            key: SeriesKey::new(host, "cpu", ""),
            at: at(i * 10),
            value: i as f64,
        })
        .collect()
}

fn status(name: &str, state: State, checked: i64) -> (ServiceStatus, RemoteServiceInfo) {
    (
        ServiceStatus {
            name: name.into(),
            state,
            kind: (state != State::Up).then_some(FailureKind::ConnectionRefused),
            explanation: format!("{name} is {}", state.as_str()),
            since: at(0),
            checked_at: at(checked),
            response_ms: None,
        },
        RemoteServiceInfo {
            host: "web2".into(),
            name: name.into(),
            critical: true,
            depends_on: vec!["web2/db".into()],
        },
    )
}

fn arrival<'a>(
    session: &'a str,
    seq: u64,
    samples: &'a [Sample],
    incidents: &'a [Incident],
    services: &'a [(ServiceStatus, RemoteServiceInfo)],
) -> Arrival<'a> {
    Arrival {
        host: "web2",
        session,
        seq,
        upto_ms: samples.last().map_or(0, |s| s.at.as_millisecond()),
        sent_ms: at(1000).as_millisecond(),
        version: "0.1.0",
        samples,
        incidents,
        services,
    }
}

fn count(store: &Store) -> usize {
    store
        .range(&SeriesKey::new("web2", "cpu", ""), at(-10), at(100_000))
        .unwrap()
        .len()
}

#[test]
fn a_batch_and_its_place_in_the_stream_are_stored_together_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let first = samples("web2", 0, 50);
    let taken = store
        .take_batch(&arrival("s1", 1, &first, &[], &[]), at(1001))
        .unwrap();
    assert!(!taken.duplicate && taken.previous.is_none());
    let agent = store.remote_agent("web2").unwrap().unwrap();
    assert_eq!((agent.seq, agent.upto), (1, at(490)));
    assert_eq!(agent.seen, at(1001));
    assert_eq!(agent.clock_offset(), jiff::SignedDuration::from_secs(-1));
    // The same batch again: a sign of life, nothing stored twice.
    let again = store
        .take_batch(&arrival("s1", 1, &first, &[], &[]), at(1010))
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(store.remote_agent("web2").unwrap().unwrap().seen, at(1010));
    // Sent again in a new session (the agent restarted before it heard the
    // answer): stored again, still once, since samples are keyed by time.
    let overlapping = samples("web2", 25, 50);
    let taken = store
        .take_batch(&arrival("s2", 1, &overlapping, &[], &[]), at(1020))
        .unwrap();
    assert!(!taken.duplicate);
    assert_eq!(taken.previous.unwrap().session, "s1");
    assert_eq!(count(&store), 75);
    store.maintain(at(200_000)).unwrap();
    let again = samples("web2", 0, 75);
    store
        .take_batch(&arrival("s3", 1, &again, &[], &[]), at(1030))
        .unwrap();
    store.maintain(at(200_000)).unwrap();
    assert_eq!(count(&store), 75, "late copies merge into sealed history");
}

#[test]
fn a_batch_the_disk_cannot_take_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store.fill_disk(true);
    let many = samples("web2", 0, 5000);
    assert!(
        store
            .take_batch(&arrival("s1", 1, &many, &[], &[]), at(1))
            .is_err()
    );
    store.fill_disk(false);
    assert_eq!(count(&store), 0);
    assert_eq!(store.remote_agent("web2").unwrap(), None);
    store
        .take_batch(&arrival("s1", 1, &many, &[], &[]), at(2))
        .unwrap();
    assert_eq!(count(&store), 5000);
}

#[test]
fn incidents_are_found_again_by_service_and_start_as_they_worsen_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let incident = |ended: Option<i64>, state: State| Incident {
        id: 99,
        service: "web2/shop".into(),
        started: at(100),
        ended: ended.map(at),
        state,
        kind: Some(FailureKind::Slow),
        cause: format!("shop is {}", state.as_str()),
    };
    for (seq, sent) in [
        incident(None, State::Degraded),
        incident(None, State::Degraded),
        incident(None, State::Down),
        incident(Some(400), State::Down),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .take_batch(
                &arrival("s1", seq as u64 + 1, &[], std::slice::from_ref(&sent), &[]),
                at(500),
            )
            .unwrap();
    }
    let stored = store.incidents(at(0), at(1000)).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].state, stored[0].ended, stored[0].cause.as_str()),
        (State::Down, Some(at(400)), "shop is down")
    );
}

#[test]
fn a_service_counts_as_changed_when_its_state_does_and_an_older_report_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let changed = |store: &mut Store, seq, service: (ServiceStatus, RemoteServiceInfo)| {
        let services = [service];
        store
            .take_batch(&arrival("s1", seq, &[], &[], &services), at(1000))
            .unwrap()
            .changed
            .into_iter()
            .map(|(before, now)| (before, now.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        changed(&mut store, 1, status("web2/shop", State::Up, 10)),
        [(None, State::Up)]
    );
    assert!(changed(&mut store, 2, status("web2/shop", State::Up, 20)).is_empty());
    assert_eq!(
        changed(&mut store, 3, status("web2/shop", State::Down, 30)),
        [(Some(State::Up), State::Down)]
    );
    assert!(
        changed(&mut store, 4, status("web2/shop", State::Up, 25)).is_empty(),
        "checked before what the hub has"
    );
    assert_eq!(store.service_statuses().unwrap()[0].state, State::Down);
    let infos = store.remote_services().unwrap();
    assert_eq!(infos, vec![status("web2/shop", State::Up, 0).1]);
}

#[test]
fn silences_are_kept_for_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    store.silence_began("web2", at(100)).unwrap();
    store.silence_began("web2", at(100)).unwrap();
    assert_eq!(
        store.silences(at(0), at(1000)).unwrap(),
        vec![Silence {
            host: "web2".into(),
            from: at(100),
            to: None
        }]
    );
    store.silence_ended("web2", at(700)).unwrap();
    assert_eq!(
        store.silences(at(0), at(1000)).unwrap()[0].to,
        Some(at(700))
    );
    assert!(store.silences(at(800), at(1000)).unwrap().is_empty());
}
