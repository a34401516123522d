//! `/metrics`: what keepwatch knows, in the Prometheus text exposition format
//! (version 0.0.4), so a Prometheus server (and Grafana behind it) can watch
//! the same host and services without a second agent.
//!
//! The figures are the status model's (`status::StatusView`: the newest host
//! measurements, each service's state and response time, the open alerts,
//! the outbox) plus keepwatch's own process. Names follow Prometheus's
//! conventions: a `keepwatch_` prefix, base units in the name (`_bytes`,
//! `_seconds`, `_ratio` for 0–1 shares; keepwatch's percentages are divided
//! by 100), and the standard `process_*` names every Prometheus client uses
//! for the exporter's own CPU and memory, so existing dashboards show them.
//!
//! Reading needs a token of any role, or a peer address listed in
//! `[api] metrics_allow` (a scraper configured without a token).

use std::fmt::Write as _;
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use jiff::{SignedDuration, Timestamp};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::Viewer;
use super::error::{ApiError, ErrorBody};
use super::tls::Peer;
use crate::export::names::{self, HOST};
use crate::status::{Shown, StatusView};
use crate::vocabulary::service_metric;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// The media type of the text exposition format.
const CONTENT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Host measurements older than this are left out: a disk unmounted or an
/// interface removed long ago is not there any more, and Prometheus would
/// otherwise keep drawing its last value.
const STALE_AFTER: SignedDuration = SignedDuration::from_hours(1);

/// A request allowed to read `/metrics`: from a listed address, or with a
/// token of any role.
pub(super) struct Scraper;

impl FromRequestParts<ApiState> for Scraper {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .map(|ConnectInfo(Peer(addr))| addr.ip());
        let listed = peer.is_some_and(|ip| {
            state
                .config
                .metrics_allow
                .iter()
                .any(|net| net.contains(ip))
        });
        if listed && !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(Scraper);
        }
        Viewer::from_request_parts(parts, state).await?;
        Ok(Scraper)
    }
}

/// Host, services, alerts and keepwatch itself in the Prometheus text format,
/// for a token of any role or a scraper address in `[api] metrics_allow`.
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, body = String, content_type = "text/plain; version=0.0.4; charset=utf-8",
        description = "The Prometheus text exposition format (0.0.4)"),
    (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn metrics(State(state): State<ApiState>, _: Scraper) -> Result<impl IntoResponse, ApiError> {
    let now = state.clock.now();
    let shared = state.clone();
    let (status, own) = state
        .read(move |store| {
            let status = StatusView::read(store, shared.sources(), now)?;
            Ok((status, shared.own.read()))
        })
        .await?;
    Ok(([(CONTENT_TYPE, CONTENT)], render(&status, own, now)))
}

/// keepwatch's own process, read at each scrape. The probe is made at the
/// first scrape, so an agent nobody scrapes does not carry it.
#[derive(Default)]
pub(super) struct OwnProcess(Mutex<Option<(sysinfo::System, sysinfo::Pid)>>);

/// What [`OwnProcess`] read.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OwnUsage {
    /// CPU time used since start, all cores, in seconds.
    cpu_seconds: f64,
    /// Resident memory, in bytes.
    resident_bytes: u64,
    /// When the process started, in seconds since 1970.
    start_time: u64,
}

impl OwnProcess {
    fn read(&self) -> Option<OwnUsage> {
        let mut probe = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if probe.is_none() {
            let system = sysinfo::System::new().ok()?;
            *probe = Some((system, sysinfo::get_current_pid().ok()?));
        }
        let (system, pid) = probe.as_mut()?;
        system.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::Some(&[*pid]),
            true,
            sysinfo::ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory()
                .without_tasks(),
        );
        let process = system.process(*pid)?;
        Some(OwnUsage {
            cpu_seconds: process.accumulated_cpu_time() as f64 / 1000.0,
            resident_bytes: process.memory(),
            start_time: process.start_time(),
        })
    }
}

/// The text exposition format being written: each family's HELP and TYPE
/// lines, then its samples.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (index, (label, text)) in labels.iter().enumerate() {
                if index > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"{}\"", escape_label(text));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    /// A family of one sample without labels.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A label value as the format quotes it: backslash, double quote and line
/// feed escaped (names of services, disks and interfaces come from outside).
fn escape_label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A value as Prometheus reads it (Go's float syntax for the special values).
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

fn seconds(at: Timestamp) -> f64 {
    at.as_millisecond() as f64 / 1000.0
}

fn flag(yes: bool) -> f64 {
    if yes { 1.0 } else { 0.0 }
}

/// The whole exposition for `status` and keepwatch's own `usage` at `now`.
fn render(status: &StatusView, own: Option<OwnUsage>, now: Timestamp) -> String {
    let mut out = Exposition(String::with_capacity(8 * 1024));
    out.family(
        "keepwatch_build_info",
        "gauge",
        "Always 1; the version label says which keepwatch answers.",
    );
    out.sample(
        "keepwatch_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    if let Some(seen) = status.last_seen {
        out.single(
            "keepwatch_agent_last_seen_timestamp_seconds",
            "gauge",
            "When the agent last recorded anything (seconds since 1970).",
            seconds(seen),
        );
    }
    out.single(
        "keepwatch_business_open",
        "gauge",
        "1 while the business is open (business hours, holidays and special days).",
        flag(status.business_open),
    );
    render_host(&mut out, status, now);
    render_services(&mut out, status);
    out.family(
        "keepwatch_alerts_open",
        "gauge",
        "Alerts open now, by severity.",
    );
    for severity in ["warning", "critical"] {
        let count = status
            .open_alerts
            .iter()
            .filter(|a| a.severity == severity)
            .count();
        out.sample(
            "keepwatch_alerts_open",
            &[("severity", severity)],
            count as f64,
        );
    }
    out.single(
        "keepwatch_outbox_messages",
        "gauge",
        "Messages waiting in the outbox to be sent (a backlog means a channel is failing).",
        status.outbox_waiting as f64,
    );
    out.single(
        "keepwatch_database_size_bytes",
        "gauge",
        "Size of keepwatch's database on disk.",
        status.database_bytes as f64,
    );
    if let Some(own) = own {
        out.single(
            "process_cpu_seconds_total",
            "counter",
            "CPU time keepwatch used since it started, all cores.",
            own.cpu_seconds,
        );
        out.single(
            "process_resident_memory_bytes",
            "gauge",
            "keepwatch's resident memory.",
            own.resident_bytes as f64,
        );
        out.single(
            "process_start_time_seconds",
            "gauge",
            "When keepwatch started (seconds since 1970).",
            own.start_time as f64,
        );
    }
    out.0
}

fn render_host(out: &mut Exposition, status: &StatusView, now: Timestamp) {
    let fresh_since = now.saturating_sub(STALE_AFTER).unwrap_or(now);
    for family in &HOST {
        let mut found = status
            .measurements
            .iter()
            .filter(|m| m.metric == family.metric && m.at >= fresh_since)
            .peekable();
        if found.peek().is_none() {
            continue;
        }
        out.family(family.name, "gauge", family.help);
        for m in found {
            let mut labels = vec![("host", m.host.as_str())];
            if let Some(label) = family.label {
                labels.push((label, m.instance.as_str()));
            }
            out.sample(family.name, &labels, m.value * family.scale);
        }
    }
}

fn render_services(out: &mut Exposition, status: &StatusView) {
    if status.services.is_empty() {
        return;
    }
    out.family(
        names::SERVICE_STATE,
        "gauge",
        "1 for the state each service is in (up, degraded, down, or unknown before its first check), 0 for the others.",
    );
    let states = [
        (Shown::Up, names::STATE_WORDS[0]),
        (Shown::Degraded, names::STATE_WORDS[1]),
        (Shown::Down, names::STATE_WORDS[2]),
        (Shown::Unknown, "unknown"),
    ];
    for service in &status.services {
        for (state, word) in states {
            out.sample(
                names::SERVICE_STATE,
                &[("service", &service.name), ("state", word)],
                flag(service.state == state),
            );
        }
    }
    let timed: Vec<_> = status
        .services
        .iter()
        .filter_map(|s| Some((&s.name, s.response_ms?)))
        .collect();
    if !timed.is_empty() {
        out.family(
            names::SERVICE_RESPONSE,
            "gauge",
            "How long the service's last answer took, as a user waits for it.",
        );
        for (name, ms) in timed {
            out.sample(names::SERVICE_RESPONSE, &[("service", name)], ms / 1000.0);
        }
    }
    let certificates: Vec<_> = status
        .services
        .iter()
        .filter_map(|s| {
            status
                .measurements
                .iter()
                .find(|m| {
                    m.host == status.host
                        && m.metric == service_metric::CERTIFICATE_EXPIRES
                        && m.instance == s.name
                })
                .map(|m| (&s.name, m.value))
        })
        .collect();
    if !certificates.is_empty() {
        out.family(
            names::SERVICE_CERTIFICATE,
            "gauge",
            "When the service's TLS certificate ends (seconds since 1970); days left: (this - time()) / 86400.",
        );
        for (name, at) in certificates {
            out.sample(names::SERVICE_CERTIFICATE, &[("service", name)], at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{AgentState, Measurement, ServiceView};
    use crate::vocabulary::metric;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn service(name: &str, state: Shown, response_ms: Option<f64>) -> ServiceView {
        ServiceView {
            name: name.to_owned(),
            state,
            failure: None,
            explanation: String::new(),
            since: None,
            checked_at: None,
            response_ms,
            last_problem: None,
            ping_url: None,
        }
    }

    fn measurement(metric: &str, instance: &str, at: Timestamp, value: f64) -> Measurement {
        Measurement {
            host: "shop".to_owned(),
            metric: metric.to_owned(),
            instance: instance.to_owned(),
            at,
            value,
        }
    }

    #[test]
    fn the_exposition_has_help_type_and_escaped_labels() {
        let now = at("2026-11-02T10:00:00Z");
        let status = StatusView {
            host: "shop".to_owned(),
            agent: AgentState::Running,
            last_seen: Some(now),
            business_open: true,
            business_hours: String::new(),
            throttle: None,
            database: String::new(),
            database_bytes: 4096,
            services: vec![
                service("Shop \"main\"\\\n", Shown::Degraded, Some(250.0)),
                service("Mail", Shown::Unknown, None),
            ],
            measurements: vec![
                measurement(metric::CPU_USAGE_PERCENT, "", now, 42.0),
                measurement(metric::DISK_FREE_BYTES, "/", now, 1e9),
                measurement(
                    metric::DISK_FREE_BYTES,
                    "/old",
                    at("2026-11-01T10:00:00Z"),
                    1.0,
                ),
                measurement(
                    service_metric::CERTIFICATE_EXPIRES,
                    "Mail",
                    now,
                    1_800_000_000.0,
                ),
            ],
            events: Vec::new(),
            open_alerts: Vec::new(),
            maintenance: Vec::new(),
            outbox_waiting: 3,
            agents: Vec::new(),
        };
        let own = OwnUsage {
            cpu_seconds: 1.5,
            resident_bytes: 6_000_000,
            start_time: 1_700_000_000,
        };
        let text = render(&status, Some(own), now);
        for line in [
            "# HELP keepwatch_host_cpu_usage_ratio CPU use of all cores together, 0 to 1.",
            "# TYPE keepwatch_host_cpu_usage_ratio gauge",
            "keepwatch_host_cpu_usage_ratio{host=\"shop\"} 0.42",
            "keepwatch_host_disk_free_bytes{host=\"shop\",mount=\"/\"} 1000000000",
            "keepwatch_service_state{service=\"Shop \\\"main\\\"\\\\\\n\",state=\"degraded\"} 1",
            "keepwatch_service_state{service=\"Mail\",state=\"unknown\"} 1",
            "keepwatch_service_state{service=\"Mail\",state=\"up\"} 0",
            "keepwatch_service_response_seconds{service=\"Shop \\\"main\\\"\\\\\\n\"} 0.25",
            "keepwatch_service_certificate_expiry_timestamp_seconds{service=\"Mail\"} 1800000000",
            "keepwatch_alerts_open{severity=\"critical\"} 0",
            "keepwatch_outbox_messages 3",
            "keepwatch_database_size_bytes 4096",
            "keepwatch_agent_last_seen_timestamp_seconds 1793613600",
            "# TYPE process_cpu_seconds_total counter",
            "process_cpu_seconds_total 1.5",
            "process_resident_memory_bytes 6000000",
            "keepwatch_build_info{version=\"0.1.0\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("/old"), "stale measurements are left out");
        let families: Vec<_> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        let mut unique = families.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            families.len(),
            "each family once: {families:?}"
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn special_values_use_prometheus_spelling() {
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(-0.5), "-0.5");
        let mut out = Exposition(String::new());
        out.family("x", "gauge", "a \\ b\nc");
        assert_eq!(out.0, "# HELP x a \\\\ b\\nc\n# TYPE x gauge\n");
    }

    #[test]
    fn keepwatch_reads_its_own_cpu_memory_and_start() {
        let own = OwnProcess::default()
            .read()
            .expect("this process is readable");
        assert!(own.resident_bytes > 1_000_000, "{own:?}");
        assert!(own.start_time > 1_700_000_000, "{own:?}");
        assert!(own.cpu_seconds >= 0.0);
    }
}
