//! The pipeline fed results and samples by hand, as pushed data would be,
//! against a real SQLite store.

use jiff::tz::TimeZone;

use super::*;
use crate::alert::service_fingerprint;
use crate::vocabulary::Severity;

struct Fixture {
    pipeline: Pipeline,
    _dir: tempfile::TempDir,
}

/// Monday 23 November 2026, 10:00 UTC: business hours.
fn at(minutes: i64) -> Timestamp {
    "2026-11-23T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

fn fixture(extra: &str) -> Fixture {
    let config = crate::config::parse(
        std::path::Path::new("k.toml"),
        &format!(
            "[business]\ntimezone = \"UTC\"\n\
             [[service]]\nname = \"Router\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n\
             [[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 2\ndepends_on = [\"Router\"]\n\
             {extra}"
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("k.db"), &config.storage).unwrap();
    let calendar = Calendar::from_config(&config.business, TimeZone::UTC).unwrap();
    Fixture {
        pipeline: Pipeline::new(
            "web1".to_owned(),
            store,
            &config.rules,
            config.alerter(),
            Some(calendar),
            at(0),
        ),
        _dir: dir,
    }
}

fn finished(from: Option<State>, to: State, since: Timestamp) -> Finished {
    Finished {
        verdict: Verdict::Changed { from, to },
        state: to,
        since,
        critical: false,
    }
}

fn refused() -> CheckOutcome {
    CheckOutcome::failed(FailureKind::ConnectionRefused, "It refused the connection.")
}

impl Fixture {
    fn result(&mut self, name: &str, from: Option<State>, outcome: CheckOutcome, now: Timestamp) {
        let done = finished(from, outcome.state, now);
        self.pipeline.service_result(name, outcome, &done, now);
    }

    fn events(&self, kind: &str) -> Vec<String> {
        self.pipeline
            .store()
            .recent_events(100)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.message)
            .collect()
    }

    fn open_alerts(&self) -> Vec<crate::store::AlertRecord> {
        self.pipeline.store().open_alerts().unwrap()
    }
}

#[test]
fn a_service_going_down_is_recorded_alerted_and_told_and_its_recovery_ends_it() {
    let mut f = fixture("");
    f.result("Shop", Some(State::Up), refused(), at(0));
    let alerts = f.open_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].title, "Shop is down");
    assert_eq!(alerts[0].fingerprint, service_fingerprint("Shop"));
    assert_eq!(
        (alerts[0].severity, alerts[0].host.as_str()),
        (Severity::Critical, "web1")
    );
    assert_eq!(
        f.events("service"),
        ["Shop is down: It refused the connection."]
    );
    let status = f.pipeline.store().service_statuses().unwrap();
    assert_eq!(
        (status[0].name.as_str(), status[0].state),
        ("Shop", State::Down)
    );
    let key = SeriesKey::new("web1", service_metric::STATE, "Shop");
    assert!(
        f.pipeline
            .store()
            .range(&key, at(-1), at(1))
            .unwrap()
            .is_empty(),
        "the samples wait to be written together"
    );
    f.pipeline.write_results(at(0));
    assert_eq!(
        f.pipeline.store().range(&key, at(-1), at(1)).unwrap(),
        [(at(0), 2.0)]
    );
    assert!(
        f.pipeline.take_queued() > 0,
        "the alert went into the outbox"
    );

    f.result(
        "Shop",
        Some(State::Down),
        CheckOutcome::up("It answered."),
        at(5),
    );
    assert!(f.open_alerts().is_empty());
    let incidents = f.pipeline.store().incidents(at(-1), at(6)).unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].ended, Some(at(5)));
    assert_eq!(f.events("service")[0], "Shop is up again: It answered.");
}

#[test]
fn a_dependant_that_goes_down_with_its_parent_is_folded_under_the_parents_alert() {
    let mut f = fixture("");
    f.result("Router", Some(State::Up), refused(), at(0));
    f.result("Shop", Some(State::Up), refused(), at(1));
    let alerts = f.open_alerts();
    let router = alerts.iter().find(|a| a.title == "Router is down").unwrap();
    let shop = alerts.iter().find(|a| a.title == "Shop is down").unwrap();
    assert_eq!(shop.cause, Some(router.id));
}

#[test]
fn samples_of_any_host_are_written_and_a_rule_over_them_opens_and_ends_its_alert() {
    let mut f = fixture(
        "[[rule]]\nname = \"disk\"\nmetric = \"disk.used_percent\"\nabove = { critical = 95 }\nfor = \"1m\"\n",
    );
    let sample = |host: &str, minutes, value| Sample {
        key: SeriesKey::new(host, "disk.used_percent", "/"),
        at: at(minutes),
        value,
    };
    f.pipeline.ingest(&[sample("nas", 0, 97.0)], at(0));
    assert!(f.open_alerts().is_empty(), "within the hold time");
    f.pipeline.ingest(&[sample("nas", 1, 97.0)], at(1));
    let alerts = f.open_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].title,
        "disk: disk.used_percent of / on nas is 97.0"
    );
    assert_eq!(alerts[0].host, "nas");
    assert_eq!(
        f.events("alert"),
        ["Alert \"disk\" opened: disk.used_percent of / on nas is 97.0 (critical)"]
    );
    f.pipeline.ingest(&[sample("nas", 2, 50.0)], at(2));
    assert!(f.open_alerts().is_empty());
    let key = SeriesKey::new("nas", "disk.used_percent", "/");
    assert_eq!(
        f.pipeline.store().range(&key, at(0), at(3)).unwrap().len(),
        3
    );
}

#[test]
fn decisions_the_store_refuses_wait_in_order_and_are_recorded_when_it_takes_them() {
    let mut f = fixture("");
    f.pipeline.store().refuse_writes(true);
    f.result("Shop", Some(State::Up), refused(), at(0));
    f.result("Router", Some(State::Up), refused(), at(1));
    f.result("Router", Some(State::Down), CheckOutcome::up("ok"), at(2));
    assert_eq!(f.pipeline.unrecorded.len(), 3, "nothing is forgotten");
    f.pipeline.settle();
    assert_eq!(f.pipeline.unrecorded.len(), 3, "the store still refuses");
    f.pipeline.store().refuse_writes(false);
    f.pipeline.settle();
    assert!(f.pipeline.unrecorded.is_empty());
    let alerts = f.open_alerts();
    assert_eq!(
        alerts.len(),
        1,
        "Router's end came after its start: {alerts:?}"
    );
    assert_eq!(alerts[0].title, "Shop is down");
    assert_eq!(
        alerts[0].opened_at,
        at(0),
        "recorded as of when it was decided"
    );
}

#[test]
fn a_steady_service_is_rewritten_every_five_minutes_but_read_as_checked_at_each_write() {
    // A write a minute, so each step below is a write.
    let mut f = fixture("[storage]\nwrite_every = \"1m\"\n");
    let up = |ms: u64| {
        CheckOutcome::up(format!("Shop answered in {ms} ms."))
            .with_response_time(std::time::Duration::from_millis(ms))
    };
    let steady = |since: Timestamp| Finished {
        verdict: Verdict::Steady(State::Up),
        state: State::Up,
        since,
        critical: false,
    };
    // The first result is a change (from nothing): written at once.
    f.result("Shop", None, up(10), at(0));
    let statuses = |f: &Fixture| f.pipeline.store().service_statuses().unwrap();
    assert_eq!(statuses(&f)[0].explanation, "Shop answered in 10 ms.");
    // Past the first minute after the start, results wait for the writes,
    // and a steady state is written with them every five minutes.
    let step = |f: &mut Fixture, minute: i64| {
        let ms = 20 + minute as u64;
        f.pipeline
            .service_result("Shop", up(ms), &steady(at(0)), at(minute));
        f.pipeline.write_results(at(minute));
        f.pipeline.write_if_due(at(minute));
    };
    step(&mut f, 1);
    assert_eq!(statuses(&f)[0].explanation, "Shop answered in 21 ms.");
    for minute in 2..=5 {
        step(&mut f, minute);
        let read = &statuses(&f)[0];
        // When it was last checked and how fast it answered: from the
        // series written with each batch; the sentence waits.
        assert_eq!(read.checked_at, at(minute), "minute {minute}");
        assert_eq!(read.response_ms, Some(20.0 + minute as f64));
        assert_eq!(
            read.explanation, "Shop answered in 21 ms.",
            "minute {minute}"
        );
    }
    step(&mut f, 6);
    assert_eq!(statuses(&f)[0].explanation, "Shop answered in 26 ms.");
    // A stop writes what waits, whenever it comes.
    f.pipeline
        .service_result("Shop", up(40), &steady(at(0)), at(7));
    f.pipeline.write_waiting(at(7));
    assert_eq!(statuses(&f)[0].explanation, "Shop answered in 40 ms.");
}
