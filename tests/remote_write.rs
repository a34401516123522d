//! Remote write as a receiver sees it: a real Prometheus (Debian's package,
//! started with its remote write receiver) gets exactly the history
//! keepwatch stored, and loses none of it while it is down; a plain HTTP
//! receiver's answers decide between retrying, skipping and waiting.
//!
//! The exporter runs on a simulated clock (set from the real time, so
//! Prometheus sees ordinary timestamps) against a real SQLite file.

#![cfg(unix)]

#[path = "support/http_receiver.rs"]
mod http_receiver;
#[path = "support/prometheus.rs"]
mod prometheus;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use http_receiver::{Receiver, Reply};
use jiff::{SignedDuration, Timestamp};
use keepwatch::clock::{Clock, SimClock};
use keepwatch::config::ExportConfig;
use keepwatch::export::names;
use keepwatch::export::remote_write::{LAG, Outcome, RemoteWrite};
use keepwatch::observation::{Sample, SeriesKey};
use keepwatch::store::{StorageConfig, Store};
use keepwatch::vocabulary::{metric, service_metric};
use prometheus::Prometheus;

/// A store in a temporary folder, and a second connection to it for the exporter.
struct History {
    _dir: tempfile::TempDir,
    store: Store,
    path: std::path::PathBuf,
}

impl History {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepwatch.db");
        let store = Store::open(&path, &StorageConfig::default()).unwrap();
        Self {
            _dir: dir,
            store,
            path,
        }
    }

    /// A sample every 10 s from `from` (included) to `to` (excluded) of a
    /// host's CPU and disk, and a shop's state and response time, the shop
    /// down for a while.
    fn record(&mut self, from: Timestamp, to: Timestamp) {
        let mut at = from;
        while at < to {
            let s = at.as_second();
            let sample = |metric: &str, instance: &str, value: f64| Sample {
                key: SeriesKey::new("shop-server", metric, instance),
                at,
                value,
            };
            let down = s % 3600 < 300;
            self.store
                .write(&[
                    sample(metric::CPU_USAGE_PERCENT, "", (s % 97) as f64 + 0.37),
                    sample(metric::DISK_USED_PERCENT, "/", 40.0 + (s % 7) as f64),
                    sample(service_metric::STATE, "Shop", if down { 2.0 } else { 0.0 }),
                    sample(service_metric::RESPONSE_MS, "Shop", 100.0 + (s % 50) as f64),
                ])
                .unwrap();
            at += SignedDuration::from_secs(10);
        }
    }

    fn exporter(&self, clock: &Arc<SimClock>) -> RemoteWrite {
        let store = Store::open(&self.path, &StorageConfig::default()).unwrap();
        RemoteWrite::new(store, clock.clone() as Arc<dyn Clock>)
    }
}

/// Passes until the exporter has caught up; the samples sent.
async fn catch_up(exporter: &mut RemoteWrite, config: &ExportConfig) -> usize {
    let mut sent = 0;
    for _ in 0..100 {
        let pass = exporter.pass(config).await;
        assert_eq!(pass.refused, 0, "{pass:?}");
        sent += pass.sent;
        match pass.outcome {
            Outcome::CaughtUp => return sent,
            Outcome::Behind => {}
            other => panic!("the receiver should take everything: {other:?}"),
        }
    }
    panic!("did not catch up in 100 passes");
}

/// A minute boundary a few minutes ago, so Prometheus sees ordinary times.
fn recent_minute() -> Timestamp {
    let now = keepwatch::clock::SystemClock.now().as_second();
    Timestamp::from_second(now - now % 60 - 300).unwrap()
}

/// What keepwatch holds, as Prometheus series: labels written `k=v,...`
/// (without `__name__`, which leads), and `(ms, value)` pairs up to `until`.
fn stored_as_prometheus(
    store: &Store,
    from: Timestamp,
    until: Timestamp,
) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut all = Vec::new();
    for key in store.series().unwrap() {
        let stored = store.range(&key, from, until).unwrap();
        for exposed in names::exposed(&key) {
            let points = stored
                .iter()
                .map(|(at, value)| (at.as_millisecond(), exposed.convert.apply(*value)))
                .collect();
            all.push((
                labels_text(exposed.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                points,
            ));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn labels_text<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut labels: Vec<_> = labels.map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    labels.join(",")
}

/// Every series Prometheus holds from keepwatch, as [`stored_as_prometheus`] writes them.
async fn received(
    prometheus: &Prometheus,
    client: &reqwest::Client,
    at: Timestamp,
) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut all: Vec<_> = prometheus
        .samples(
            client,
            r#"{__name__=~"keepwatch_.+"}"#,
            "6h",
            at.as_millisecond(),
        )
        .await
        .into_iter()
        .map(|(labels, points)| {
            let labels = labels.as_object().cloned().unwrap_or_default();
            let text = labels_text(
                labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default())),
            );
            (text, points)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_receives_the_stored_history_and_loses_none_while_it_is_down() {
    let Some(program) = prometheus::program() else {
        return;
    };
    let mut prometheus = Prometheus::start(
        &program,
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
        &["--web.enable-remote-write-receiver"],
    );
    let client = client();
    let start = recent_minute() - SignedDuration::from_hours(3);
    let mut now = start + SignedDuration::from_hours(2);
    let clock = Arc::new(SimClock::new(now));
    let mut history = History::new();
    history.record(start, now);
    // The older hours sealed into chunks (rounded to 1/100), the last in staging.
    history
        .store
        .maintain(now - SignedDuration::from_mins(50))
        .unwrap();
    let config = ExportConfig {
        remote_write: format!("{}/api/v1/write", prometheus.base),
        ..ExportConfig::default()
    };
    let mut exporter = history.exporter(&clock);

    let sent = catch_up(&mut exporter, &config).await;
    let expected = stored_as_prometheus(&history.store, start, now - LAG);
    let samples: usize = expected.iter().map(|(_, points)| points.len()).sum();
    assert_eq!(sent, samples);
    // 4 stored series: CPU, disk, the shop's response time and its state
    // as one series per state word.
    assert_eq!(expected.len(), 6);
    assert_eq!(received(&prometheus, &client, now).await, expected);

    // The receiver goes away for 20 minutes while keepwatch keeps recording.
    prometheus.stop();
    let later = now + SignedDuration::from_mins(20);
    history.record(now, later);
    for minute in 1..=20 {
        clock.set(now + SignedDuration::from_mins(minute));
        let pass = exporter.pass(&config).await;
        assert_eq!((pass.sent, pass.refused), (0, 0), "{pass:?}");
        assert!(
            matches!(pass.outcome, Outcome::Retry(ref why) if why.contains("cannot connect")),
            "{pass:?}"
        );
    }
    now = later;
    prometheus.restart();
    let sent = catch_up(&mut exporter, &config).await;
    let expected = stored_as_prometheus(&history.store, start, now - LAG);
    let after = (later - SignedDuration::from_mins(20) - LAG).as_millisecond();
    let behind: usize = expected
        .iter()
        .map(|(_, points)| points.iter().filter(|p| p.0 > after).count())
        .sum();
    assert_eq!(sent, behind, "the 20 minutes it missed, once each");
    let got = received(&prometheus, &client, now).await;
    assert_eq!(got, expected, "everything keepwatch stored, nothing twice");
    prometheus.stop();
}

/// A receiver that answers each request with the next status of `plan`
/// (then 200), recording what it got.
async fn planned(plan: &[u16]) -> (Receiver, Arc<Mutex<VecDeque<u16>>>) {
    let plan = Arc::new(Mutex::new(plan.iter().copied().collect::<VecDeque<u16>>()));
    let next = plan.clone();
    let receiver = Receiver::start(move |request| {
        let status = next.lock().unwrap().pop_front().unwrap_or(200);
        let echo = request
            .header("authorization")
            .unwrap_or_default()
            .to_owned();
        Reply::new(status, format!("refused; you sent {echo}"))
    })
    .await;
    (receiver, plan)
}

#[tokio::test]
async fn answers_decide_between_retrying_skipping_and_waiting() {
    let (receiver, plan) = planned(&[503, 429, 200]).await;
    let start = recent_minute();
    let clock = Arc::new(SimClock::new(start + SignedDuration::from_mins(10)));
    let mut history = History::new();
    history.record(start, start + SignedDuration::from_mins(10));
    let config: ExportConfig = toml::from_str(&format!(
        "remote_write = \"{}\"\nuser = \"shop\"\npassword = \"hunter2-secret\"\nheaders = {{ \"X-Scope-OrgID\" = \"tenant-1\" }}\n",
        receiver.url("/api/v1/write")
    ))
    .unwrap();
    let mut exporter = history.exporter(&clock);

    // Busy and rate limited: the same request again later, nothing lost.
    for status in [503, 429] {
        let pass = exporter.pass(&config).await;
        assert_eq!((pass.sent, pass.refused), (0, 0));
        let Outcome::Retry(why) = pass.outcome else {
            panic!("{status}: {pass:?}")
        };
        assert!(why.contains(&format!("HTTP {status}")), "{why}");
        assert!(!why.contains("hunter2"), "the password never shows: {why}");
    }
    let pass = exporter.pass(&config).await;
    assert_eq!(pass.outcome, Outcome::CaughtUp);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[0].body, requests[2].body,
        "the same request, sent again"
    );
    // Up to 9:30 (10 minutes less the lag): 58 instants of 4 series, the
    // state as 3.
    assert_eq!(pass.sent, 58 * 6);
    let request = &requests[2];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/api/v1/write");
    assert_eq!(request.header("content-encoding"), Some("snappy"));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(
        request.header("x-prometheus-remote-write-version"),
        Some("0.1.0")
    );
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("keepwatch/")
    );
    assert_eq!(request.header("x-scope-orgid"), Some("tenant-1"));
    assert_eq!(
        request.header("authorization"),
        Some(http_receiver::basic_auth("shop", "hunter2-secret").as_str())
    );
    let message = snap::raw::Decoder::new()
        .decompress_vec(&request.body)
        .unwrap();
    let has = |text: &[u8]| message.windows(text.len()).any(|w| w == text);
    assert!(has(b"keepwatch_host_cpu_usage_ratio") && has(b"shop-server") && has(b"degraded"));

    // Refused data is not sent again: the position moves past it.
    history.record(
        start + SignedDuration::from_mins(10),
        start + SignedDuration::from_mins(11),
    );
    clock.set(start + SignedDuration::from_mins(11));
    plan.lock().unwrap().push_back(400);
    let pass = exporter.pass(&config).await;
    assert_eq!(
        (pass.sent, pass.refused, pass.outcome),
        (0, 6 * 6, Outcome::CaughtUp)
    );
    assert_eq!(exporter.pass(&config).await.sent, 0, "not sent again");

    // A wrong password: nothing is dropped, nothing retried until asked again.
    history.record(
        start + SignedDuration::from_mins(11),
        start + SignedDuration::from_mins(12),
    );
    clock.set(start + SignedDuration::from_mins(12));
    plan.lock().unwrap().push_back(401);
    let pass = exporter.pass(&config).await;
    let Outcome::Stopped(why) = &pass.outcome else {
        panic!("{pass:?}")
    };
    assert!(
        why.contains("HTTP 401") && why.contains("password in [export]"),
        "{why}"
    );
    assert!(!why.contains("hunter2"), "the password never shows: {why}");
    assert!(why.contains("<redacted>"), "{why}");
    let pass = exporter.pass(&config).await;
    assert_eq!(
        (pass.sent, pass.outcome),
        (6 * 6, Outcome::CaughtUp),
        "the minute it held back"
    );
}
