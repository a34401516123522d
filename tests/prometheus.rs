//! keepwatch as a real Prometheus sees it: `keepwatch run` (the binary)
//! watching a web server and a closed port, Debian's `prometheus` scraping
//! its `/metrics` with a viewer token, and the series read back through
//! Prometheus's query API compared with what keepwatch's own API says.

#![cfg(unix)]

#[path = "support/binary.rs"]
mod binary;
#[path = "support/prometheus.rs"]
mod prometheus;

use binary::{ALWAYS_OPEN, Keepwatch, closed_port, web_server};
use prometheus::Prometheus;
use serde_json::Value;

const FAST: &str = "[collect]\ncpu = \"1s\"\nmemory = \"1s\"\ndisk = \"1s\"\nnetwork = \"1s\"\nload = \"1s\"\nuptime = \"1s\"\n";

/// Starts `keepwatch run` with `api` as its `[api]` section; returns it, its
/// API address and a viewer token.
fn start_keepwatch(kw: &Keepwatch, api: &str) -> (binary::Running, String, String) {
    kw.config(&format!(
        "{ALWAYS_OPEN}{FAST}[[service]]\nname = \"Shop\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{}/\"\ninterval = \"1s\"\n\
         [[service]]\nname = \"Warehouse\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {}\ninterval = \"1s\"\n\
         [api]\nlisten = \"127.0.0.1:0\"\n{api}",
        web_server(),
        closed_port()
    ));
    let out = kw.run(&["token", "create", "prometheus", "--role", "viewer"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let token = said
        .split_whitespace()
        .find(|word| word.starts_with("kw_view_"))
        .unwrap_or_else(|| panic!("no token in: {said}"))
        .to_owned();
    let mut running = kw.start();
    let mut addr = String::new();
    running.wait_for("the API's address in the log", |r| {
        if let Some(rest) = r.log().split("the API answers on http://").nth(1) {
            addr = rest.split('/').next().unwrap_or_default().to_owned();
        }
        !addr.is_empty()
    });
    running.wait_for("the Warehouse outage", |_| {
        kw.status().contains("Warehouse  DOWN since")
    });
    (running, addr, token)
}

/// An HTTP client; reqwest is built without a default TLS provider.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_what_keepwatch_knows() {
    let Some(program) = prometheus::program() else {
        return;
    };
    let kw = Keepwatch::new();
    let (running, addr, token) = start_keepwatch(&kw, "");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         - job_name: keepwatch\n  authorization:\n    credentials: {token}\n  static_configs:\n  - targets: ['{addr}']\n\
         - job_name: anonymous\n  static_configs:\n  - targets: ['{addr}']\n"
    );
    let prometheus = Prometheus::start(&program, &config, &[]);
    let client = client();
    let one = |promql: &'static str| prometheus.one(&client, promql);

    assert_eq!(one(r#"up{job="keepwatch"} == 1"#).await, 1.0);
    assert_eq!(
        one(r#"up{job="anonymous"}"#).await,
        0.0,
        "without a token or a listed address, a scrape is refused"
    );
    assert_eq!(
        one(r#"keepwatch_service_state{service="Shop",state="up"} == 1"#).await,
        1.0
    );
    assert_eq!(
        one(r#"keepwatch_service_state{service="Warehouse",state="down"}"#).await,
        1.0
    );
    assert_eq!(
        one(r#"keepwatch_service_state{service="Warehouse",state="up"}"#).await,
        0.0
    );
    let response = one(r#"keepwatch_service_response_seconds{service="Shop"}"#).await;
    assert!((0.0..5.0).contains(&response), "{response}");
    let memory = one("process_resident_memory_bytes").await;
    assert!(
        (1e6..5e8).contains(&memory),
        "keepwatch's own RSS: {memory}"
    );
    assert!(one("process_cpu_seconds_total").await >= 0.0);
    assert!(one(r#"keepwatch_alerts_open{severity="warning"}"#).await >= 0.0);
    assert!(one("keepwatch_outbox_messages").await >= 0.0);

    // The values are keepwatch's own: the same as its API says.
    let status = client
        .get(format!("http://{addr}/api/v1/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let status: Value = serde_json::from_str(&status).unwrap();
    let measured = |metric: &str| -> f64 {
        status["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == metric)
            .and_then(|m| m["value"].as_f64())
            .unwrap_or_else(|| panic!("no {metric} in {status}"))
    };
    assert_eq!(
        one("keepwatch_host_memory_total_bytes").await,
        measured("memory.total_bytes")
    );
    let labels = prometheus
        .query(&client, "keepwatch_host_memory_total_bytes")
        .await;
    assert_eq!(labels[0].0["host"], "testhost", "{labels:?}");
    let cpu = one("keepwatch_host_cpu_usage_ratio").await;
    assert!(
        (0.0..=1.0).contains(&cpu),
        "a ratio, not a percentage: {cpu}"
    );

    running.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_scraper_needs_no_token_and_others_do() {
    let kw = Keepwatch::new();
    let (running, addr, token) = start_keepwatch(&kw, "metrics_allow = [\"127.0.0.1\"]\n");
    let client = client();
    let get = |token: Option<&str>| {
        let mut request = client.get(format!("http://{addr}/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let kind = answer
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (status, kind, answer.text().await.unwrap())
        }
    };
    let (status, kind, text) = get(None).await;
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    assert!(
        text.contains("keepwatch_service_state{service=\"Warehouse\",state=\"down\"} 1"),
        "{text}"
    );
    let (status, _, _) = get(Some(&token)).await;
    assert_eq!(status, 200);
    let (status, _, text) = get(Some("kw_view_0000")).await;
    assert_eq!(status, 401, "a token that is sent is checked: {text}");
    let log = running.stop();
    assert!(!log.contains(&token), "tokens never reach the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepwatch_run_pushes_its_history_to_a_real_prometheus() {
    use keepwatch::observation::{Sample, SeriesKey};
    use keepwatch::store::{StorageConfig, Store};

    let Some(program) = prometheus::program() else {
        return;
    };
    let prometheus = Prometheus::start(
        &program,
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
        &["--web.enable-remote-write-receiver"],
    );
    let kw = Keepwatch::new();
    // An hour of history, from two hours ago, recorded before the export
    // was set up (another host, so the agent's own samples do not mix in).
    let database = kw.home().join("data").join("keepwatch.db");
    Store::create_folder(&database).unwrap();
    let mut store = Store::open(&database, &StorageConfig::default()).unwrap();
    let now = keepwatch::clock::Clock::now(&keepwatch::clock::SystemClock).as_second();
    let start = now - now % 60 - 7200;
    let key = SeriesKey::new("old-server", "load.1", "");
    let samples: Vec<Sample> = (0..120)
        .map(|i| Sample {
            key: key.clone(),
            at: jiff::Timestamp::from_second(start + i * 30).unwrap(),
            value: i as f64 * 0.25,
        })
        .collect();
    store.write(&samples).unwrap();
    drop(store);
    kw.config(&format!(
        "{ALWAYS_OPEN}[export]\nremote_write = \"{}/api/v1/write\"\n",
        prometheus.base
    ));
    let running = kw.start();
    let client = client();
    // Polled until all of it has arrived (it goes in more than one request).
    let count = prometheus
        .one(
            &client,
            r#"count_over_time(keepwatch_host_load1{host="old-server"}[3h]) == 120"#,
        )
        .await;
    assert_eq!(count, 120.0);
    let got = prometheus
        .samples(
            &client,
            r#"keepwatch_host_load1{host="old-server"}"#,
            "3h",
            now * 1000,
        )
        .await;
    let expected: Vec<(i64, f64)> = samples
        .iter()
        .map(|s| (s.at.as_millisecond(), s.value))
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, expected, "what keepwatch stored, as it stored it");
    let log = running.stop();
    assert!(!log.contains("remote write:"), "nothing went wrong: {log}");
}
