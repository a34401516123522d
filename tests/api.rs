//! The REST API as a tool talking to `keepwatch run` sees it: a real SQLite
//! file, the server on a loopback port, HTTP requests with tokens.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use keepwatch::api::{self, Role, Settings};
use keepwatch::calendar::BusinessConfig;
use keepwatch::calendar::Calendar;
use keepwatch::checks::ServiceSpec;
use keepwatch::clock::{Clock, SimClock};
use keepwatch::config::ApiConfig;
use keepwatch::observation::{Sample, SeriesKey};
use keepwatch::store::StorageConfig;
use keepwatch::store::{ServiceStatus, Store};
use keepwatch::vocabulary::State;
use serde_json::Value;

struct Api {
    _dir: tempfile::TempDir,
    _running: api::Running,
    base: String,
    admin: String,
    viewer: String,
    store: Store,
    client: reqwest::Client,
}

fn now() -> Timestamp {
    "2026-11-02T10:00:00Z".parse().unwrap()
}

fn spec(name: &str) -> ServiceSpec {
    toml::from_str(&format!(
        "name = \"{name}\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n"
    ))
    .unwrap()
}

async fn start(config: ApiConfig) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("keepwatch.db");
    let mut store = Store::open(&database, &StorageConfig::default()).unwrap();
    let admin = api::create_token(&mut store, "ops", Role::Admin, now()).unwrap();
    let viewer = api::create_token(&mut store, "manager", Role::Viewer, now()).unwrap();
    let key = SeriesKey::new("shop-server", "cpu.usage", "");
    let samples: Vec<Sample> = (0..120)
        .map(|minute| Sample {
            key: key.clone(),
            at: now() - SignedDuration::from_mins(120 - minute),
            value: minute as f64,
        })
        .collect();
    store.write(&samples).unwrap();
    store
        .save_service_status(&ServiceStatus {
            name: "Shop".into(),
            state: State::Up,
            kind: None,
            explanation: "answered in 12 ms".into(),
            since: now() - SignedDuration::from_hours(3),
            checked_at: now(),
            response_ms: Some(12.0),
        })
        .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SimClock::new(now()));
    // Two scheduled reports: one that can be sent (to keepwatch's log), one
    // whose channel does not exist (the config on disk would be refused).
    let mut full: keepwatch::config::Config = toml::from_str(
        "[[report]]\nname = \"weekly\"\nevery = \"monday 08:00\"\nchannel = \"log\"\n\
         [[report]]\nname = \"lost\"\nevery = \"day 18:00\"\nchannel = \"nowhere\"\n",
    )
    .unwrap();
    full.services = vec![spec("Shop"), spec("Mail")];
    let settings = Settings {
        api: ApiConfig {
            listen: "127.0.0.1:0".into(),
            ..config
        },
        services: full.services.clone(),
        calendar: Calendar::from_config(&BusinessConfig::default(), jiff::tz::TimeZone::UTC)
            .unwrap(),
        alerter: keepwatch::config::Config::default().alerter(),
        channels: Vec::new(),
        host: "shop-server".into(),
        storage: StorageConfig::default(),
        config: full,
    };
    let running = api::spawn(&settings, &database, clock)
        .await
        .unwrap()
        .unwrap();
    Api {
        base: format!("http://{}", running.addr),
        _running: running,
        _dir: dir,
        admin,
        viewer,
        store,
        client: {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::new()
        },
    }
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, value)
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None).await
    }

    /// A GET whose answer is a file: its status, content type and bytes.
    async fn file(&self, path: &str, token: &str) -> (u16, String, Vec<u8>) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, kind, response.bytes().await.unwrap().to_vec())
    }
}

fn assert_error(answer: &(u16, Value), status: u16, says: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let error = answer.1["error"].as_str().unwrap_or_default();
    assert!(error.contains(says), "{error:?} should say {says:?}");
    assert!(
        !answer.1["hint"].as_str().unwrap_or_default().is_empty(),
        "{}",
        answer.1
    );
}

#[tokio::test]
async fn a_viewer_reads_status_services_and_history() {
    let api = start(ApiConfig::default()).await;
    let (code, health) = api.call("GET", "/healthz", None, None).await;
    assert_eq!((code, health["ok"].as_bool()), (200, Some(true)));

    let (code, status) = api.get("/api/v1/status", &api.viewer).await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["host"], "shop-server");
    assert_eq!(
        status["business_open"], true,
        "Monday 10:00 UTC is within the default hours"
    );
    assert_eq!(status["services"][0]["name"], "Shop");
    assert_eq!(status["services"][0]["state"], "up");
    assert_eq!(status["services"][1]["state"], "unknown");

    let (code, services) = api.get("/api/v1/services", &api.viewer).await;
    assert_eq!((code, services.as_array().map(Vec::len)), (200, Some(2)));
    let (code, shop) = api.get("/api/v1/services/Shop", &api.viewer).await;
    assert_eq!(
        (code, &shop["explanation"]),
        (200, &Value::from("answered in 12 ms"))
    );
    assert_error(
        &api.get("/api/v1/services/Nope", &api.viewer).await,
        404,
        "no service",
    );

    let (code, series) = api.get("/api/v1/series", &api.viewer).await;
    assert_eq!(code, 200);
    assert_eq!(series[0]["metric"], "cpu.usage");

    let path = "/api/v1/history?metric=cpu.usage&from=2026-11-02T08:00:00Z&to=2026-11-02T10:00:00Z&step=1h&aggregation=max";
    let (code, history) = api.get(path, &api.viewer).await;
    assert_eq!(code, 200, "{history}");
    assert_eq!(history["step_seconds"], 3600);
    assert_eq!(history["points"][0]["at"], "2026-11-02T08:00:00+00:00");
    assert_eq!(history["points"][0]["value"], 59.0);
    assert_eq!(history["points"][1]["value"], 119.0);
    let (_, avg) = api.get(&path.replace("max", "avg"), &api.viewer).await;
    assert_eq!(avg["points"][0]["value"], 29.5);

    assert_error(
        &api.get(
            "/api/v1/history?metric=cpu.usage&step=1s&from=2026-10-01T00:00:00Z",
            &api.viewer,
        )
        .await,
        400,
        "points",
    );
    assert_error(
        &api.get(
            "/api/v1/history?metric=cpu.usage&from=yesterday",
            &api.viewer,
        )
        .await,
        400,
        "not a time",
    );
    assert_error(
        &api.get(
            "/api/v1/history?metric=cpu.usage&aggregation=median",
            &api.viewer,
        )
        .await,
        400,
        "aggregation",
    );
    assert_error(
        &api.get(
            "/api/v1/incidents?from=2026-11-02T10:00:00Z&to=2026-11-01T10:00:00Z",
            &api.viewer,
        )
        .await,
        400,
        "after",
    );
    let (code, _) = api.get("/api/v1/incidents", &api.viewer).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn history_steps_are_whole_seconds() {
    let api = start(ApiConfig::default()).await;
    // 7,199 s in 300 points would be steps of 23.996 s: rounded up to 24.
    let path = "/api/v1/history?metric=cpu.usage&from=2026-11-02T08:00:00Z&to=2026-11-02T09:59:59Z";
    let (code, history) = api.get(path, &api.viewer).await;
    assert_eq!(code, 200, "{history}");
    assert_eq!(history["step_seconds"], 24);
    assert_eq!(history["points"][0]["at"], "2026-11-02T08:00:00+00:00");
    assert_eq!(
        history["points"][1]["at"], "2026-11-02T08:00:48+00:00",
        "the sample of 08:01 is in the third step of 24 s"
    );
    assert_eq!(history["points"].as_array().map(Vec::len), Some(120));
    assert_error(
        &api.get(&format!("{path}&step=1500ms"), &api.viewer).await,
        400,
        "whole number of seconds",
    );
    assert_error(
        &api.get(&format!("{path}&step=500ms"), &api.viewer).await,
        400,
        "whole number of seconds",
    );
}

#[tokio::test]
async fn missing_wrong_and_revoked_tokens_get_401_and_a_viewer_writing_gets_403() {
    let mut api = start(ApiConfig::default()).await;
    assert_error(
        &api.call("GET", "/api/v1/status", None, None).await,
        401,
        "needs a token",
    );
    assert_error(
        &api.get("/api/v1/status", "kw_view_0000").await,
        401,
        "not known",
    );
    let window = r#"{"duration": "30m", "reason": "new router"}"#;
    let answer = api
        .call(
            "POST",
            "/api/v1/maintenance",
            Some(&api.viewer),
            Some(window),
        )
        .await;
    assert_error(&answer, 403, "only read");
    assert_error(
        &api.call("POST", "/api/v1/alerts/1/ack", Some(&api.viewer), None)
            .await,
        403,
        "only read",
    );

    assert!(api.store.revoke_token("manager").unwrap());
    let answer = api.get("/api/v1/status", &api.viewer).await;
    assert_error(&answer, 401, "not known");
    assert!(
        !answer.1.to_string().contains(&api.viewer),
        "the token is never echoed"
    );
}

#[tokio::test]
async fn an_admin_starts_and_ends_maintenance_and_acknowledges() {
    let api = start(ApiConfig::default()).await;
    let window = r#"{"duration": "2h", "services": ["Shop"], "reason": "new router"}"#;
    let (code, created) = api
        .call(
            "POST",
            "/api/v1/maintenance",
            Some(&api.admin),
            Some(window),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["end"], "2026-11-02T12:00:00Z");
    let (_, list) = api.get("/api/v1/maintenance", &api.viewer).await;
    assert_eq!(list[0]["reason"], "new router");
    let id = created["id"].as_i64().unwrap();
    let (code, ended) = api
        .call(
            "POST",
            &format!("/api/v1/maintenance/{id}/end"),
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!((code, &ended["ended"]), (200, &Value::from(1)));
    assert_error(
        &api.call(
            "POST",
            &format!("/api/v1/maintenance/{id}/end"),
            Some(&api.admin),
            None,
        )
        .await,
        404,
        "no maintenance",
    );
    let bad = r#"{"duration": "2h", "services": ["Shopp"]}"#;
    assert_error(
        &api.call("POST", "/api/v1/maintenance", Some(&api.admin), Some(bad))
            .await,
        400,
        "Shopp",
    );
    assert_error(
        &api.call("POST", "/api/v1/maintenance", Some(&api.admin), Some("{"))
            .await,
        400,
        "",
    );
    assert_error(
        &api.call("POST", "/api/v1/alerts/99/ack", Some(&api.admin), None)
            .await,
        404,
        "no alert 99",
    );
}

#[tokio::test]
async fn request_limits_are_clear_4xx_errors() {
    let api = start(ApiConfig {
        max_body: keepwatch::units::ByteSize(100),
        rate_per_minute: 5,
        ..ApiConfig::default()
    })
    .await;
    let big = format!(r#"{{"duration": "2h", "reason": "{}"}}"#, "x".repeat(200));
    assert_error(
        &api.call("POST", "/api/v1/maintenance", Some(&api.admin), Some(&big))
            .await,
        413,
        "",
    );
    for _ in 0..4 {
        assert_eq!(api.get("/api/v1/services", &api.admin).await.0, 200);
    }
    assert_error(
        &api.get("/api/v1/services", &api.admin).await,
        429,
        "in a minute",
    );
    assert_eq!(
        api.get("/api/v1/services", &api.viewer).await.0,
        200,
        "each token has its own allowance"
    );
    assert_error(
        &api.get("/api/v1/nothing-here", &api.viewer).await,
        404,
        "no such endpoint",
    );
}

#[tokio::test]
async fn a_viewer_reads_reports_and_an_admin_sends_a_scheduled_one() {
    let api = start(ApiConfig::default()).await;
    let (code, kind, html) = api.file("/api/v1/report?period=today", &api.viewer).await;
    let html = String::from_utf8_lossy(&html);
    assert_eq!(code, 200, "{html}");
    assert_eq!(kind, "text/html; charset=utf-8");
    assert!(html.contains("<html") && html.contains("Shop"), "{html}");
    let (code, kind, text) = api
        .file(
            "/api/v1/report?from=2026-11-01&to=2026-11-02&format=text&audience=technical",
            &api.viewer,
        )
        .await;
    assert_eq!((code, kind.as_str()), (200, "text/plain; charset=utf-8"));
    assert!(String::from_utf8_lossy(&text).contains("Shop"));
    let (code, kind, pdf) = api
        .file("/api/v1/report?period=last-week&format=pdf", &api.viewer)
        .await;
    assert_eq!((code, kind.as_str()), (200, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF-"));

    for (path, says) in [
        (
            "/api/v1/report?period=last-year",
            "`period` last-year: unknown period",
        ),
        ("/api/v1/report?from=2026-11-01", "`from` needs `to`"),
        (
            "/api/v1/report?period=today&from=2026-11-01&to=2026-11-02",
            "not both",
        ),
        (
            "/api/v1/report?from=2026-01-01&to=2026-11-01",
            "at most 92 days",
        ),
        (
            "/api/v1/report?from=2026-12-01&to=2026-12-02",
            "has not started yet",
        ),
        ("/api/v1/report?from=2026-11-01&to=November", "not a date"),
        ("/api/v1/report?format=docx", "format"),
        ("/api/v1/report?audience=board", "audience"),
    ] {
        assert_error(&api.get(path, &api.viewer).await, 400, says);
    }

    let api = &api;
    let send = |name: &str, token: &str| {
        let path = format!("/api/v1/reports/{name}/send");
        let token = token.to_owned();
        async move { api.call("POST", &path, Some(&token), None).await }
    };
    assert_error(&send("weekly", &api.viewer).await, 403, "only read");
    let (code, sent) = send("weekly", &api.admin).await;
    assert_eq!(code, 200, "{sent}");
    assert!(
        sent["report"].as_str().unwrap().contains("weekly"),
        "{sent}"
    );
    assert!(sent["to"].as_str().unwrap().contains("log"), "{sent}");
    assert!(!sent["subject"].as_str().unwrap().is_empty(), "{sent}");
    let unknown = send("monthly", &api.admin).await;
    assert_error(&unknown, 404, "no [[report]] is named \"monthly\"");
    assert!(
        unknown.1["hint"].as_str().unwrap().contains("weekly"),
        "{}",
        unknown.1
    );
    assert_error(&send("lost", &api.admin).await, 409, "nowhere");
}

/// An open alert as the API lists it, acknowledged once by an admin; a
/// second acknowledgement has nothing to do.
#[tokio::test]
async fn a_viewer_lists_alerts_and_an_admin_acknowledges_one_once() {
    let mut api = start(ApiConfig::default()).await;
    let opened = now() - SignedDuration::from_mins(20);
    let id = api
        .store
        .insert_alert(&keepwatch::store::NewAlert {
            fingerprint: "service:Shop",
            service: Some("Shop"),
            host: "shop-server",
            title: "Shop is down",
            detail: "Shop refused the connection",
            severity: keepwatch::vocabulary::Severity::Critical,
            emergency: true,
            opened_at: opened,
            policy: None,
            silenced: None,
            flapping: false,
            cause: None,
        })
        .unwrap();
    let (status, listed) = api.get("/api/v1/alerts", &api.viewer).await;
    assert_eq!(status, 200, "{listed}");
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["title"], "Shop is down");
    assert_eq!(listed[0]["service"], "Shop");
    assert!(listed[0]["acknowledged_by"].is_null());
    let path = format!("/api/v1/alerts/{id}/ack");
    let (status, acked) = api.call("POST", &path, Some(&api.admin), None).await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["acknowledged_by"], "API token ops");
    assert_error(
        &api.call("POST", &path, Some(&api.admin), None).await,
        409,
        "",
    );
    let (_, listed) = api.get("/api/v1/alerts", &api.viewer).await;
    assert_eq!(listed[0]["acknowledged_by"], "API token ops");
}

/// The heartbeat ping URLs in process (tests/heartbeats.rs drives them on
/// the binary): every signal is recorded with its log, and each kind of bad
/// ping gets its status and a hint.
#[tokio::test]
async fn heartbeat_pings_are_recorded_and_bad_ones_refused_with_a_hint() {
    let mut api = start(ApiConfig::default()).await;
    let key = "0123456789abcdef0123456789abcdef";
    api.store
        .heartbeat_keys(&[("Backup", key.to_owned())], now())
        .unwrap();
    let ping = |path: String| {
        let api = &api;
        async move { api.call("GET", &path, None, None).await }
    };
    let (status, answer) = ping(format!("/ping/{key}")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["service"], "Backup");
    assert_eq!(answer["recorded"], "success");
    assert!(answer["exit_code"].is_null());
    let (status, answer) = api
        .call(
            "POST",
            &format!("/ping/{key}/start"),
            None,
            Some("nightly backup starting"),
        )
        .await;
    assert_eq!((status, answer["recorded"].as_str()), (200, Some("start")));
    let (status, answer) = ping(format!("/ping/{key}/3")).await;
    assert_eq!(
        (status, answer["recorded"].as_str()),
        (200, Some("failure"))
    );
    assert_eq!(answer["exit_code"], 3);
    let (_, answer) = ping(format!("/ping/{key}/fail")).await;
    assert_eq!(answer["recorded"], "failure");
    assert!(answer["exit_code"].is_null());
    let (_, answer) = ping(format!("/ping/{key}/0")).await;
    assert_eq!(answer["recorded"], "success", "exit code 0 is a success");
    let recorded: Vec<(String, Option<i32>, Option<String>)> = api
        .store
        .pings_of("Backup")
        .unwrap()
        .into_iter()
        .map(|p| (p.signal, p.exit_code, p.log))
        .collect();
    assert_eq!(
        recorded,
        [
            ("success".to_owned(), None, None),
            (
                "start".to_owned(),
                None,
                Some("nightly backup starting".to_owned())
            ),
            ("fail".to_owned(), Some(3), None),
            ("fail".to_owned(), None, None),
            ("success".to_owned(), None, None),
        ]
    );

    assert_error(
        &ping(format!("/ping/{key}/later")).await,
        404,
        "not a ping URL",
    );
    assert_error(
        &ping("/ping/not-a-key".to_owned()).await,
        404,
        "no heartbeat",
    );
    assert_error(
        &ping(format!("/ping/{}", "f".repeat(32))).await,
        404,
        "no heartbeat",
    );
    let long = "x".repeat(10_001);
    assert_error(
        &api.call("POST", &format!("/ping/{key}"), None, Some(&long))
            .await,
        413,
        "larger than 10000 bytes",
    );
    // Five pings recorded and one refused for its size count: 30 a minute,
    // then 429.
    for _ in 0..24 {
        assert_eq!(ping(format!("/ping/{key}")).await.0, 200);
    }
    assert_error(
        &ping(format!("/ping/{key}")).await,
        429,
        "more than 30 pings",
    );
    assert_eq!(api.store.pings_of("Backup").unwrap().len(), 29);
}

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let generated = api::openapi().to_pretty_json().unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if std::env::var_os("KEEPWATCH_WRITE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
        return;
    }
    assert!(
        committed == generated,
        "docs/openapi.json differs from what the handlers describe; run `KEEPWATCH_WRITE_OPENAPI=1 cargo test --test api` and commit it"
    );
    let document: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/api/v1/history"]["get"].is_object());
}
