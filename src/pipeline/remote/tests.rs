//! A hub's pipeline fed agents' batches, against a real SQLite store:
//! fresh data alerts, late data is history, silence and a wrong clock are
//! told, and each ends.

use jiff::tz::TimeZone;

use super::*;
use crate::observation::SeriesKey;
use crate::protocol::{RemoteIncident, RemoteService, series_of};
use crate::store::{AGENT_ROLE, StoredToken};
use crate::vocabulary::{Severity, State};

/// Monday 23 November 2026, 10:00 UTC: business hours.
fn at(minutes: i64) -> Timestamp {
    "2026-11-23T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

struct Hub {
    pipeline: Pipeline,
    seq: u64,
    dir: tempfile::TempDir,
}

fn hub() -> Hub {
    let dir = tempfile::tempdir().unwrap();
    Hub {
        pipeline: pipeline(&dir),
        seq: 0,
        dir,
    }
}

fn pipeline(dir: &tempfile::TempDir) -> Pipeline {
    let config = crate::config::parse(
        std::path::Path::new("k.toml"),
        "[business]\ntimezone = \"UTC\"\n\
         [[rule]]\nname = \"hot\"\nmetric = \"cpu.usage_percent\"\nabove = { critical = 90 }\nfor = \"0s\"\n",
    )
    .unwrap();
    let mut store = Store::open(&dir.path().join("hub.db"), &config.storage).unwrap();
    store
        .add_token(&StoredToken {
            name: "web2".into(),
            role: AGENT_ROLE.into(),
            hash: vec![0],
            shown: "kw_agent_0000…".into(),
            created: at(-60),
        })
        .unwrap();
    let calendar = Calendar::from_config(&config.business, TimeZone::UTC).unwrap();
    Pipeline::new(
        "hub".to_owned(),
        store,
        &config.rules,
        config.alerter(),
        Some(calendar),
        at(0),
    )
}

fn cpu(points: &[(Timestamp, f64)]) -> Vec<crate::protocol::Series> {
    series_of([(
        SeriesKey::new("web2", "cpu.usage_percent", ""),
        points
            .iter()
            .map(|&(t, v)| (t.as_millisecond(), v))
            .collect(),
    )])
}

fn service(state: State, since: Timestamp, checked: Timestamp) -> RemoteService {
    RemoteService {
        name: "shop".into(),
        state,
        kind: (state == State::Down).then(|| "connection_refused".to_owned()),
        explanation: format!("shop is {}", state.as_str()),
        since_ms: since.as_millisecond(),
        checked_ms: checked.as_millisecond(),
        response_ms: None,
        critical: true,
        depends_on: Vec::new(),
    }
}

impl Hub {
    /// A batch of the window `(after, upto]` sent at `sent` (the agent's
    /// clock), taken at the hub's `now`.
    fn take(
        &mut self,
        after: Timestamp,
        upto: Timestamp,
        sent: Timestamp,
        now: Timestamp,
        fill: impl FnOnce(&mut Batch),
    ) -> Ack {
        self.seq += 1;
        let mut batch = Batch {
            protocol: PROTOCOL,
            version: "test".into(),
            session: "s".into(),
            seq: self.seq,
            after_ms: after.as_millisecond(),
            upto_ms: upto.as_millisecond(),
            sent_ms: sent.as_millisecond(),
            series: Vec::new(),
            incidents: Vec::new(),
            services: Vec::new(),
        };
        fill(&mut batch);
        let ack = self.pipeline.take_batch("web2", &batch, now).unwrap();
        self.pipeline.tend(now);
        ack
    }

    fn open(&self) -> Vec<crate::store::AlertRecord> {
        self.pipeline.store().open_alerts().unwrap()
    }

    fn titles(&self) -> Vec<String> {
        self.open().into_iter().map(|a| a.title).collect()
    }
}

#[test]
fn a_threshold_crossed_during_an_outage_is_history_and_a_fresh_one_alerts() {
    let mut hub = hub();
    // A backlog: three hours ago the host was hot, long over now.
    let old = at(-180);
    hub.take(old - SignedDuration::from_secs(1), old, at(0), at(0), |b| {
        b.series = cpu(&[(old, 99.0)]);
    });
    assert!(hub.open().is_empty(), "{:?}", hub.titles());
    let stored = hub
        .pipeline
        .store()
        .range(
            &SeriesKey::new("web2", "cpu.usage_percent", ""),
            at(-200),
            at(1),
        )
        .unwrap();
    assert_eq!(stored, vec![(old, 99.0)], "filed as history");
    // Fresh: it alerts, under the agent's name.
    hub.take(old, at(1), at(1), at(1), |b| {
        b.series = cpu(&[(at(1), 97.0)])
    });
    let open = hub.open();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].host, "web2");
    assert!(open[0].title.contains("on web2"), "{}", open[0].title);
}

#[test]
fn a_batch_taken_twice_is_fed_to_the_rules_once() {
    let mut hub = hub();
    let batch = |hub: &mut Hub, seq: u64, value: f64| {
        hub.seq = seq - 1;
        hub.take(at(0), at(1), at(1), at(1), |b| {
            b.series = cpu(&[(at(1), value)])
        })
    };
    assert!(!batch(&mut hub, 1, 95.0).duplicate);
    assert!(batch(&mut hub, 1, 95.0).duplicate);
    let events = hub.pipeline.store().recent_events(10).unwrap();
    let opened = events
        .iter()
        .filter(|e| e.message.contains("opened"))
        .count();
    assert_eq!(opened, 1, "{events:?}");
}

#[test]
fn a_service_alert_follows_the_agents_state_not_its_past() {
    let mut hub = hub();
    // During an outage shop went down and came back; the backlog files
    // the incident, the state now is up: no alert.
    hub.take(at(-120), at(-30), at(0), at(0), |b| {
        b.incidents = vec![RemoteIncident {
            service: "shop".into(),
            started_ms: at(-100).as_millisecond(),
            ended_ms: Some(at(-90).as_millisecond()),
            state: State::Down,
            kind: Some("connection_refused".into()),
            cause: "refused".into(),
        }];
    });
    hub.take(at(-30), at(0), at(0), at(0), |b| {
        b.services = vec![service(State::Up, at(-90), at(0))];
    });
    assert!(hub.open().is_empty(), "{:?}", hub.titles());
    let incidents = hub.pipeline.store().incidents(at(-200), at(1)).unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(
        (incidents[0].service.as_str(), incidents[0].ended),
        ("web2/shop", Some(at(-90)))
    );
    // Down now: the alert opens, an emergency as shop is critical on web2,
    // dated from when it went down.
    hub.take(at(0), at(1), at(1), at(1), |b| {
        b.services = vec![service(State::Down, at(1), at(1))];
    });
    let open = hub.open();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].title, "web2/shop is down");
    assert_eq!(
        (open[0].severity, open[0].emergency, open[0].opened_at),
        (Severity::Critical, true, at(1))
    );
    hub.take(at(1), at(2), at(2), at(2), |b| {
        b.services = vec![service(State::Up, at(2), at(2))];
    });
    assert!(hub.open().is_empty(), "{:?}", hub.titles());
}

#[test]
fn a_silent_agent_is_alerted_on_once_and_the_alert_ends_when_it_reports() {
    let mut hub = hub();
    let five = SignedDuration::from_mins(5);
    hub.take(at(-1), at(0), at(0), at(0), |_| {});
    assert_eq!(hub.pipeline.watch_agents(five, at(4)), Some(at(5)));
    assert!(hub.open().is_empty());
    assert_eq!(hub.pipeline.watch_agents(five, at(5)), None);
    hub.pipeline.tend(at(5));
    assert_eq!(
        hub.titles(),
        ["web2 has not reported for 5 minutes: the server may be down or cut off from the network"]
    );
    hub.pipeline.watch_agents(five, at(30));
    assert_eq!(hub.open().len(), 1, "raised once");
    let silences = hub.pipeline.store().silences(at(-10), at(60)).unwrap();
    assert_eq!((silences[0].from, silences[0].to), (at(0), None));
    // Its backlog arrives: the silence is over.
    hub.take(at(0), at(40), at(40), at(40), |_| {});
    assert!(hub.open().is_empty(), "{:?}", hub.titles());
    let silences = hub.pipeline.store().silences(at(-10), at(60)).unwrap();
    assert_eq!(silences[0].to, Some(at(40)));
    let events = hub.pipeline.store().recent_events(10).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.message == "web2 reports again, after 40 minutes of silence"),
        "{events:?}"
    );
}

#[test]
fn a_restarted_hub_waits_a_full_silence_and_carries_on_an_open_alert() {
    let five = SignedDuration::from_mins(5);
    let mut hub = hub();
    hub.take(at(-1), at(0), at(0), at(0), |_| {});
    // Restarted at 3: web2 gets a full five minutes from then.
    let mut restarted = pipeline(&hub.dir);
    assert_eq!(
        restarted.watch_agents(five, at(3)),
        Some(at(8)),
        "silence counts from the restart, not from before it"
    );
    restarted.watch_agents(five, at(8));
    assert_eq!(restarted.store().open_alerts().unwrap().len(), 1);
    // Restarted again at 20: the alert is still open (not raised twice),
    // and ends when web2 reports.
    let mut restarted = pipeline(&hub.dir);
    assert_eq!(restarted.watch_agents(five, at(20)), None);
    assert_eq!(restarted.store().open_alerts().unwrap().len(), 1);
    let batch = Batch {
        protocol: PROTOCOL,
        version: String::new(),
        session: "t".into(),
        seq: 1,
        after_ms: at(0).as_millisecond(),
        upto_ms: at(21).as_millisecond(),
        sent_ms: at(21).as_millisecond(),
        series: Vec::new(),
        incidents: Vec::new(),
        services: Vec::new(),
    };
    restarted.take_batch("web2", &batch, at(21)).unwrap();
    assert!(restarted.store().open_alerts().unwrap().is_empty());
}

#[test]
fn a_removed_agent_is_not_silent_and_its_alert_ends() {
    let mut hub = hub();
    hub.take(at(-1), at(0), at(0), at(0), |_| {});
    hub.pipeline
        .watch_agents(SignedDuration::from_mins(5), at(6));
    assert_eq!(hub.open().len(), 1);
    hub.pipeline.store_mut().revoke_token("web2").unwrap();
    assert_eq!(
        hub.pipeline
            .watch_agents(SignedDuration::from_mins(5), at(7)),
        None
    );
    assert!(hub.open().is_empty());
}

#[test]
fn an_agent_clock_off_by_more_than_a_minute_is_told_until_it_is_right() {
    let mut hub = hub();
    hub.take(at(0), at(3), at(3), at(0), |_| {});
    let open = hub.open();
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0].title,
        "the clock of web2 is 3 minutes ahead of the hub's"
    );
    assert_eq!(
        (open[0].severity, open[0].emergency),
        (Severity::Warning, false)
    );
    hub.take(
        at(3),
        at(4),
        at(4) + SignedDuration::from_secs(50),
        at(4),
        |_| {},
    );
    assert_eq!(hub.open().len(), 1, "50 s off: not yet right (hysteresis)");
    hub.take(at(4), at(5), at(5), at(5), |_| {});
    assert!(hub.open().is_empty());
}
