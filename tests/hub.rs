//! Several servers, through the library: a hub (its API on a loopback port,
//! its agent loop storing what arrives) and an agent (the agent walked
//! through simulated hours against a real SQLite file, its link sending
//! over real HTTP or HTTPS). What the hub holds is compared with the
//! agent's own store, sample by sample.
//!
//! The processes, network namespaces and cut links are in `tests/hub_faults.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[path = "support/remote.rs"]
mod remote;
use remote::{Remote, summary};

use jiff::{SignedDuration, Timestamp};
use keepwatch::agent::{self, Agent, Hangup, RunOptions};
use keepwatch::api::{self, Role, Settings};
use keepwatch::calendar::Calendar;
use keepwatch::checks::CheckOutcome;
use keepwatch::clock::{Clock, SimClock};
use keepwatch::collect::{Scenario, SimulatedHost};
use keepwatch::config::{ApiConfig, Config};
use keepwatch::secret::Secret;
use keepwatch::store::{StorageConfig, Store};
use keepwatch::vocabulary::{FailureKind, State};

fn start() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

/// A hub: its API on a loopback port and its agent loop, on `clock`.
struct Hub {
    dir: tempfile::TempDir,
    url: String,
    _api: api::Running,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<agent::Ended>>,
    client: reqwest::Client,
}

impl Hub {
    async fn start(clock: &SimClock) -> Hub {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("hub.db");
        let config: Config = keepwatch::config::parse(
            &dir.path().join("keepwatch.toml"),
            "[business]\ntimezone = \"UTC\"\n",
        )
        .unwrap();
        let clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let settings = Settings {
            api: ApiConfig {
                listen: "127.0.0.1:0".into(),
                ..ApiConfig::default()
            },
            services: Vec::new(),
            calendar: Calendar::from_config(&config.business, jiff::tz::TimeZone::UTC).unwrap(),
            alerter: config.alerter(),
            channels: Vec::new(),
            host: "hub".into(),
            storage: StorageConfig::default(),
            config: config.clone(),
        };
        let store = Store::open(&database, &config.storage).unwrap();
        let hub = Agent::new(
            config,
            "hub".into(),
            clock.clone(),
            Box::new(SimulatedHost::new(Scenario::Idle, clock.clone())),
            store,
        );
        let mut running = api::spawn(&settings, &database, clock.clone())
            .await
            .unwrap()
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = RunOptions {
            config_path: dir.path().join("keepwatch.toml"),
            watch_every: std::time::Duration::from_secs(3600),
            configs: None,
            wake: Arc::default(),
            pings: Arc::default(),
            deliveries: running.deliveries.take(),
        };
        let task = tokio::spawn(agent::run(
            hub,
            clock,
            options,
            async {
                let _ = stopped.await;
            },
            Hangup::listen(),
        ));
        Hub {
            url: format!("http://{}", running.addr),
            dir,
            _api: running,
            stop: Some(stop),
            task: Some(task),
            client: reqwest::Client::new(),
        }
    }

    fn database(&self) -> PathBuf {
        self.dir.path().join("hub.db")
    }

    fn store(&self) -> Store {
        Store::open(&self.database(), &StorageConfig::default()).unwrap()
    }

    fn token(&self, name: &str, role: Role) -> String {
        api::create_token(&mut self.store(), name, role, start()).unwrap()
    }

    /// A raw request: its status and JSON body.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Vec<u8>>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// Everything a store holds of web2's series in the tests' days.
fn history(database: &std::path::Path) -> remote::History {
    remote::history(database, "web2", start() + SignedDuration::from_hours(100))
}

fn shop_down_in_hour_5(name: &str, at: Timestamp) -> CheckOutcome {
    let hour = at.duration_since(start()).as_hours();
    if name == "shop" && hour == 5 {
        CheckOutcome::failed(
            FailureKind::ConnectionRefused,
            "shop refused the connection",
        )
    } else {
        CheckOutcome::up(format!("{name} answered"))
            .with_response_time(std::time::Duration::from_millis(12))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_without_the_hub_stays_within_the_cap_and_arrives_complete_and_once() {
    let clock = SimClock::new(start());
    let hub = Hub::start(&clock).await;
    let token = hub.token("web2", Role::Agent);
    // The hub is unreachable for a day: its address is a closed port.
    let cap = 1_500_000;
    let mut remote = Remote::new(&clock, "web2", "http://127.0.0.1:9", &token, cap);
    remote.run_for(SignedDuration::from_hours(24), shop_down_in_hour_5);
    let mut uplink = remote.uplink();
    let refused = uplink.send_now(&remote.config).await.unwrap_err();
    assert!(refused.contains("cannot be reached"), "{refused}");
    let agent_store = Store::open(&remote.database(), &remote.config.storage).unwrap();
    let size = agent_store.size_on_disk().unwrap();
    assert!(
        size <= cap,
        "the backlog stays within max_size: {size} > {cap}"
    );
    let kept = history(&remote.database());
    let (samples, _) = summary(&kept);
    assert!(samples > 100_000, "a day of samples is kept: {samples}");

    // The link is back: everything goes, oldest first, in batches.
    let mut config = remote.config.clone();
    config.hub.url = hub.url.clone();
    let began = Instant::now();
    let mut batches = 0;
    let mut bytes = 0;
    loop {
        let sent = uplink.send_now(&config).await.unwrap();
        batches += 1;
        bytes += sent.bytes;
        if !sent.more {
            break;
        }
        assert!(batches < 100, "a day takes about 24 batches");
    }
    let took = began.elapsed();
    // The last acknowledgement is recorded with the next read.
    uplink.send_now(&config).await.unwrap();
    assert!(
        took < std::time::Duration::from_secs(60),
        "a day's backlog in {took:?}"
    );
    let delivered = history(&hub.database());
    assert_eq!(
        summary(&delivered),
        summary(&kept),
        "every sample once, as the agent has it"
    );
    assert_eq!(delivered, kept);
    eprintln!(
        "a day's backlog: {samples} samples in {batches} batches, {bytes} bytes ({:.2} bytes/sample), {took:?}",
        bytes as f64 / samples as f64
    );
    let hub_store = hub.store();
    let incidents = hub_store
        .incidents(start(), start() + SignedDuration::from_hours(25))
        .unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].service, "web2/shop");
    assert_eq!(incidents[0].state, State::Down);
    assert!(incidents[0].ended.is_some());
    assert!(
        hub_store.open_alerts().unwrap().is_empty(),
        "the past outage is history, not an alert now"
    );
    let agents = hub_store.remote_agents().unwrap();
    assert_eq!(agents[0].behind(), SignedDuration::ZERO, "caught up");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_token_delivers_only_its_own_data_and_reads_nothing() {
    let clock = SimClock::new(start());
    let hub = Hub::start(&clock).await;
    let agent_token = hub.token("web2", Role::Agent);
    let viewer = hub.token("grafana", Role::Viewer);
    let (status, body) = hub
        .call(reqwest::Method::GET, "/api/v1/status", &agent_token, None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("agent's token"));
    let (status, body) = hub
        .call(reqwest::Method::GET, "/metrics", &agent_token, None)
        .await;
    assert_eq!(status, 403, "{body}");
    let empty = format!(
        r#"{{"protocol":1,"session":"x","seq":1,"after_ms":{t},"upto_ms":{t},"sent_ms":{t}}}"#,
        t = start().as_millisecond()
    );
    let (status, body) = hub
        .call(
            reqwest::Method::POST,
            "/api/v1/ingest",
            &viewer,
            Some(empty.clone().into_bytes()),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = hub
        .call(
            reqwest::Method::POST,
            "/api/v1/ingest",
            &agent_token,
            Some(empty.into_bytes()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["host"], "web2", "filed under the token's name");
    // A batch in a protocol this hub does not take: refused, saying why.
    let future = r#"{"protocol":99,"session":"x","seq":2,"after_ms":0,"upto_ms":0,"sent_ms":0,"series":"new"}"#
        .to_owned();
    let (status, body) = hub
        .call(
            reqwest::Method::POST,
            "/api/v1/ingest",
            &agent_token,
            Some(future.into_bytes()),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("update keepwatch on the hub"),
        "{body}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_agent_keeps_its_backlog_until_it_is_added_again() {
    let clock = SimClock::new(start());
    let hub = Hub::start(&clock).await;
    let token = hub.token("web2", Role::Agent);
    let mut remote = Remote::new(&clock, "web2", &hub.url, &token, 500_000_000);
    let mut uplink = remote.uplink();
    remote.run_for(SignedDuration::from_mins(10), shop_down_in_hour_5);
    while uplink.send_now(&remote.config).await.unwrap().more {}
    assert!(hub.store().revoke_token("web2").unwrap());
    remote.run_for(SignedDuration::from_mins(30), shop_down_in_hour_5);
    let refused = uplink.send_now(&remote.config).await.unwrap_err();
    assert!(
        refused.contains("does not know this computer's token"),
        "{refused}"
    );
    let problem = Store::open(&remote.database(), &StorageConfig::default())
        .unwrap()
        .state(keepwatch::vocabulary::state_key::HUB_PROBLEM)
        .unwrap()
        .unwrap_or_default();
    assert!(
        problem.contains("does not know"),
        "kept for status: {problem}"
    );
    // Added again: a new token in [hub], and the backlog follows.
    let token = hub.token("web2", Role::Agent);
    let mut config = remote.config.clone();
    config.hub.token = Some(Secret::Inline(token));
    let mut sends = 0;
    loop {
        sends += 1;
        match uplink.send_now(&config).await {
            Ok(sent) if !sent.more => break,
            Ok(_) => {}
            // The batch that was refused goes first, with the new token.
            Err(why) => panic!("{why}"),
        }
        assert!(sends < 10);
    }
    uplink.send_now(&config).await.unwrap();
    assert_eq!(
        summary(&history(&hub.database())),
        summary(&history(&remote.database()))
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_alerts_on_a_down_service_of_an_agent_and_shows_it_in_its_status() {
    let clock = SimClock::new(start());
    let hub = Hub::start(&clock).await;
    let token = hub.token("web2", Role::Agent);
    let mut remote = Remote::new(&clock, "web2", &hub.url, &token, 500_000_000);
    let mut uplink = remote.uplink();
    // Hour 5: shop is down; the agent sends as it goes.
    clock.set(start() + SignedDuration::from_mins(4 * 60 + 55));
    for _ in 0..12 {
        remote.run_for(SignedDuration::from_secs(60), shop_down_in_hour_5);
        while uplink.send_now(&remote.config).await.unwrap().more {}
    }
    // The hub's loop handles alerts at its next tick: wait for it.
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    let open = loop {
        let open = hub.store().open_alerts().unwrap();
        if !open.is_empty() || Instant::now() > deadline {
            break open;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].title, "web2/shop is down");
    assert!(open[0].emergency, "shop is critical on web2");
    let store = hub.store();
    let statuses = store.service_statuses().unwrap();
    let views = keepwatch::status::agent_views(&store, &statuses, &[]).unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].state, keepwatch::status::AgentLink::Reporting);
    let names: Vec<&str> = views[0].services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web2/db", "web2/shop"]);
    hub.stop().await;
}
