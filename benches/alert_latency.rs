//! Alert latency benchmark: from the sample or check result that crosses a
//! threshold to the moment a real SMTP server has the alert email.
//!
//! The real pipeline on the real clock: [`agent::run`] with [`SystemClock`]
//! (its loop, its wake-ups, the outbox task beside it with its own database
//! connection), the `email` channel over plain SMTP on 127.0.0.1, and the
//! test SMTP server of the email tests (`tests/support/smtp_server.py`,
//! Python's aiosmtpd), which notes in each message's JSON file when the
//! message had come in (`accepted_at_ns`, before it files it and answers 250).
//!
//! Three measurements, N alerts each (`KEEPWATCH_BENCH_ALERTS`, default 20;
//! the third `KEEPWATCH_BENCH_DEFAULT_ALERTS`, default 10), each a fresh
//! alert (open, then resolve):
//!
//! 1. **Host metric.** A scripted [`MetricsSource`] reports CPU at 20%, and
//!    from a moment T0 chosen by the bench, 95%. CPU is collected every 1 s;
//!    the rule `cpu.usage_percent above { critical = 90.0 }, for = "0s"`
//!    opens an alert on the first sample above 90, and the business-hours and
//!    off-hours policies both tell the `email` channel at once.
//! 2. **Service check.** A `tcp` check every 1 s (`retries = 0`,
//!    `confirm_after = 1`) of a listener on 127.0.0.1; at T0 the bench closes
//!    the listener, so the next run is refused and the service is down.
//! 3. **Outage to mail with the defaults.** The same TCP service marked
//!    `critical = true` and nothing else: the default interval
//!    (`Common::CRITICAL_INTERVAL` for a critical service), timeout, retries
//!    and confirmation, the default `group_wait` (30 s, of which an
//!    emergency waits at most `EMERGENCY_GATHER`, 5 s, after the last
//!    message; the alerts are spaced more than that apart). Its
//!    headline is from T0 (the listener closed) to the SMTP server having the
//!    message: what an admin waits with the settings `init` writes. Only
//!    flapping detection and self-throttling are off, as in the others (the
//!    bench's outages come every few seconds, which the defaults would rightly
//!    call flapping).
//!
//! The headline figure is from the crossing sample (its timestamp, which is
//! the alert's `opened_at` in the store) or the `Down` check result (the
//! alert's `opened_at`, the time the agent took the result) to the SMTP
//! server having the message. Besides it: the wait from T0 to that sample or
//! result (the collection or check interval, which bounds it), and the time
//! the message was queued in the outbox (the millisecond time in its
//! Message-ID, which is the clock reading of the agent tick that composed it:
//! equal to the sample's time when the message was composed in the very
//! tick that took the sample), and from there to the SMTP server.
//!
//! In the first two, `[alerting] group_wait` is set to 1 s (default 30 s) and the cycles are
//! spaced more than that apart, so every alert's first message goes at once
//! as it would after a quiet spell; `max_per_hour` is raised so the 2 × N
//! messages are not rate limited; flapping detection and self-throttling are
//! off (the CPU really is "95%" half of the time).
//!
//! Run: `cargo bench --bench alert_latency` (about 5 minutes for N = 20).
//! Needs Python 3 with aiosmtpd (`KEEPWATCH_TEST_PYTHON` picks the
//! interpreter); without it the bench says how to install it and fails.
//! `KEEPWATCH_BENCH_LOG=debug` shows keepwatch's own log;
//! `KEEPWATCH_BENCH_CPU_EVERY` (default `1s`) sets the CPU collection
//! interval, in both measurements; `KEEPWATCH_BENCH_ONLY=host`, `service` or
//! `defaults` runs one of the three.

#[path = "../tests/support/smtp.rs"]
mod smtp;

use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use keepwatch::agent::{self, Agent, Hangup, RunOptions};
use keepwatch::alert::engine::EMERGENCY_GATHER;
use keepwatch::checks::Common;
use keepwatch::clock::{Clock, SystemClock};
use keepwatch::collect::{CollectError, Detail, Family, MetricsSource, Reading};
use keepwatch::store::{AlertRecord, Store};
use keepwatch::vocabulary::metric;
use smtp::{Received, SmtpOptions, SmtpServer};

/// CPU use before T0 and from T0 on.
const CPU_LOW: f64 = 20.0;
const CPU_HIGH: f64 = 95.0;
/// `[alerting] group_wait` of the bench config.
const GROUP_WAIT: Duration = Duration::from_secs(1);
/// How long the bench waits for one message before calling it lost.
const GIVE_UP: Duration = Duration::from_secs(60);
/// The critical check interval by default.
const DEFAULT_CRITICAL_INTERVAL: Duration = Common::CRITICAL_INTERVAL.std();
const BUSINESS: &str = "Bench";
const HOST: &str = "bench-host";
const SERVICE: &str = "bench-tcp";

fn main() -> ExitCode {
    if let Ok(level) = std::env::var("KEEPWATCH_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_max_level(
                level
                    .parse::<tracing_subscriber::filter::LevelFilter>()
                    .unwrap_or(tracing_subscriber::filter::LevelFilter::DEBUG),
            )
            .init();
    }
    let n: usize = std::env::var("KEEPWATCH_BENCH_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .max(1);
    let cpu_every = std::env::var("KEEPWATCH_BENCH_CPU_EVERY").unwrap_or_else(|_| "1s".to_owned());
    if let Err(why) = aiosmtpd_available() {
        eprintln!(
            "alert latency benchmark: {why}.\n\
             Install it with `python3 -m pip install --user aiosmtpd` (or run \
             `bash scripts/test-services.sh`), or point KEEPWATCH_TEST_PYTHON at a \
             Python that has it."
        );
        return ExitCode::FAILURE;
    }
    println!(
        "keepwatch alert latency benchmark: {n} alerts per measurement, real clock, \
         email over plain SMTP to aiosmtpd on 127.0.0.1"
    );
    println!(
        "  host: CPU collected every {cpu_every}, rule cpu.usage_percent above critical 90 for 0s; \
         service: tcp check every 1s, retries 0, confirm_after 1 (CPU still collected every {cpu_every}); \
         group_wait {}s\n",
        GROUP_WAIT.as_secs()
    );

    let mut ok = true;
    let mut rng = XorShift(0x6b65_6570_7761_7463);

    let only = std::env::var("KEEPWATCH_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "host" {
        let host = measure(Scenario::Host, n, &cpu_every, &mut rng);
        ok &= host.report(
            "1. host metric (CPU 20% -> 95%)",
            "T0 -> crossing sample (waiting for the next collection)",
            "crossing sample -> SMTP accept",
        );
        println!();
    }
    if only.is_empty() || only == "service" {
        let service = measure(Scenario::Service, n, &cpu_every, &mut rng);
        ok &= service.report(
            "2. service check (TCP listener closed)",
            "T0 -> Down check result (waiting for the next check run)",
            "Down check result -> SMTP accept",
        );
        println!();
    }
    if only.is_empty() || only == "defaults" {
        let n: usize = std::env::var("KEEPWATCH_BENCH_DEFAULT_ALERTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10)
            .max(1);
        let defaults = measure(Scenario::Defaults, n, &cpu_every, &mut rng);
        ok &= defaults.report(
            "3. outage to mail with the defaults (critical TCP service, listener closed)",
            "T0 -> Down check result (default interval, retries, confirmation)",
            "Down check result -> SMTP accept",
        );
        ok &= defaults.judge_outage_to_mail();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Whether the interpreter of the SMTP test server can import aiosmtpd.
fn aiosmtpd_available() -> Result<(), String> {
    let python = std::env::var("KEEPWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    match Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(_) => Err(format!(
            "the SMTP server needs Python's aiosmtpd, which `{python}` cannot import"
        )),
        Err(err) => Err(format!(
            "the SMTP server needs Python (`{python}` cannot run: {err})"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Host,
    Service,
    Defaults,
}

impl Scenario {
    /// The quiet spell before each alert: long enough that each alert's
    /// first message goes at once (`group_wait` of the first two; with the
    /// defaults, the longest an emergency waits after the last message).
    fn quiet(self) -> Duration {
        match self {
            Self::Defaults => {
                // An emergency waits at most this long after the last message.
                EMERGENCY_GATHER.std() + Duration::from_millis(100)
            }
            Self::Host | Self::Service => GROUP_WAIT + Duration::from_millis(100),
        }
    }

    /// The longest random wait added before T0, so T0 falls anywhere in the
    /// collection or check interval.
    fn spread_ms(self) -> u64 {
        match self {
            Self::Defaults => DEFAULT_CRITICAL_INTERVAL.as_millis() as u64,
            Self::Host | Self::Service => 1000,
        }
    }
}

/// A CPU that is at [`CPU_LOW`] until the bench raises it to [`CPU_HIGH`].
struct ScriptedCpu {
    high: Arc<AtomicBool>,
}

impl MetricsSource for ScriptedCpu {
    fn collect(&mut self, family: Family, _detail: Detail) -> Result<Vec<Reading>, CollectError> {
        Ok(match family {
            Family::Cpu => {
                let value = if self.high.load(Ordering::SeqCst) {
                    CPU_HIGH
                } else {
                    CPU_LOW
                };
                vec![Reading::host(metric::CPU_USAGE_PERCENT, value)]
            }
            _ => Vec::new(),
        })
    }

    fn own_cpu_percent(&mut self) -> Option<f64> {
        None
    }

    fn cpu_count(&self) -> usize {
        2
    }
}

/// The config of one run: the alert rule always, the TCP service on `port` if
/// any, with the bench's fast settings or (`defaults`) only `critical = true`.
fn config_toml(
    smtp_port: u16,
    service_port: Option<u16>,
    cpu_every: &str,
    defaults: bool,
) -> String {
    let mut toml = format!(
        r#"[agent]
name = "{HOST}"

[business]
name = "{BUSINESS}"

[collect]
cpu = "{cpu_every}"
per_core = false
memory = "off"
disk = "off"
network = "off"
load = "off"
uptime = "off"

[throttle]
enabled = false

[alerting]
{group_wait}flapping_changes = 0
business_hours = [{{ after = "0s", notify = ["mail"] }}]
off_hours = [{{ after = "0s", notify = ["mail"] }}]

[[channel]]
name = "mail"
type = "email"
max_per_hour = 1000
server = "127.0.0.1"
port = {smtp_port}
security = "plain"
from = "keepwatch <alerts@example.com>"
to = ["admin@example.com"]
timeout = "10s"

[[rule]]
name = "cpu"
metric = "cpu.usage_percent"
above = {{ critical = 90.0 }}
for = "0s"
"#,
        group_wait = if defaults {
            String::new()
        } else {
            format!("group_wait = \"{}s\"\n", GROUP_WAIT.as_secs())
        }
    );
    if let Some(port) = service_port {
        let fast = if defaults {
            ""
        } else {
            "interval = \"1s\"\ntimeout = \"2s\"\nretries = 0\nconfirm_after = 1\n"
        };
        toml.push_str(&format!(
            r#"
[[service]]
name = "{SERVICE}"
type = "tcp"
host = "127.0.0.1"
port = {port}
{fast}critical = true
"#
        ));
    }
    toml
}

/// What one measurement saw.
struct Run {
    /// One per alert the bench caused, in order.
    alerts: Vec<Measured>,
    /// Problems that make the figures untrustworthy or show a failure.
    problems: Vec<String>,
}

/// The times of one alert.
struct Measured {
    /// The bench changed the world (CPU up, listener closed).
    t0: Timestamp,
    /// The crossing sample or the `Down` result: the alert's `opened_at`.
    observed: Timestamp,
    /// When the message was composed into the outbox (from its Message-ID).
    composed: Option<Timestamp>,
    /// When the SMTP server had the whole message.
    accepted: Timestamp,
}

/// Runs the agent with the scenario's config and drives `n` alerts through it.
fn measure(scenario: Scenario, n: usize, cpu_every: &str, rng: &mut XorShift) -> Run {
    let Some(server) = SmtpServer::start(SmtpOptions::plain()) else {
        panic!("the SMTP server did not start (aiosmtpd was found a moment ago)");
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut service = match scenario {
        Scenario::Host => None,
        Scenario::Service | Scenario::Defaults => Some(Listener::open(0)),
    };
    let text = config_toml(
        server.port(),
        service.as_ref().map(|s| s.port),
        cpu_every,
        scenario == Scenario::Defaults,
    );
    let config_path = dir.path().join("keepwatch.toml");
    std::fs::write(&config_path, &text).expect("write the config");
    let config = keepwatch::config::parse(&config_path, &text)
        .unwrap_or_else(|err| panic!("the bench config is refused: {err}\n{text}"));
    let db = dir.path().join("keepwatch.db");
    let store = Store::open(&db, &config.storage).expect("open the store");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let high = Arc::new(AtomicBool::new(false));
    let source = ScriptedCpu { high: high.clone() };
    let started = clock.now();
    let agent = Agent::new(
        config,
        HOST.to_owned(),
        clock.clone(),
        Box::new(source),
        store,
    );
    let runtime = keepwatch::agent::new_runtime().expect("a Tokio runtime");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let delays: Vec<Duration> = (0..n)
        .map(|_| Duration::from_millis(rng.below(scenario.spread_ms())))
        .collect();

    let (t0s, mut problems) = std::thread::scope(|scope| {
        let driver = scope.spawn(|| {
            let result = drive(scenario, &server, &high, service.as_mut(), &delays);
            let _ = stop.send(());
            result
        });
        let options = RunOptions {
            config_path: config_path.clone(),
            watch_every: Duration::from_secs(5),
            configs: None,
            wake: Arc::new(tokio::sync::Notify::new()),
            pings: Arc::default(),
            deliveries: None,
        };
        runtime.block_on(async {
            let stop = async {
                let _ = stopped.await;
            };
            agent::run(agent, clock.clone(), options, stop, Hangup::listen()).await;
        });
        driver.join().expect("the bench driver panicked")
    });
    drop(service);

    let store = Store::open(&db, &keepwatch::store::StorageConfig::default())
        .expect("open the store again");
    let alerts: Vec<AlertRecord> = store
        .alerts_between(started, clock.now() + SignedDuration::from_secs(1))
        .expect("read the alerts");
    let opened: Vec<Received> = server
        .messages()
        .into_iter()
        .filter(|m| {
            // Recoveries: "x is back up after …", "Over after …: cpu …".
            let subject = m.subject.as_deref().unwrap_or_default();
            !(subject.contains(" is back up after ")
                || subject.contains(" is fine again after ")
                || subject.contains("] Over after "))
        })
        .collect();
    if alerts.len() != t0s.len() || opened.len() != t0s.len() {
        problems.push(format!(
            "{} alerts caused, but {} alerts in the store and {} alert messages received",
            t0s.len(),
            alerts.len(),
            opened.len()
        ));
    }
    let mut measured = Vec::new();
    for ((t0, alert), message) in t0s.iter().zip(&alerts).zip(&opened) {
        let accepted = message
            .accepted_at_ns
            .map(|ns| Timestamp::from_nanosecond(i128::from(ns)).expect("a valid time"))
            .expect("the SMTP server notes accepted_at_ns");
        // A sample may be stamped a moment before T0 (the tick read the
        // clock, then the CPU went up before it was read); more than a
        // second means the alerts and messages are paired wrongly.
        let paired = alert.opened_at
            >= t0
                .saturating_sub(SignedDuration::from_secs(1))
                .unwrap_or(*t0);
        if accepted < alert.opened_at || !paired {
            problems.push(format!(
                "out of order: T0 {t0}, alert {} opened {}, message {:?} accepted {accepted}",
                alert.id, alert.opened_at, message.subject
            ));
        }
        measured.push(Measured {
            t0: *t0,
            observed: alert.opened_at,
            composed: message.message_id.as_deref().and_then(composed_at),
            accepted,
        });
    }
    Run {
        alerts: measured,
        problems,
    }
}

/// Causes the alerts one after the other: each time waits a random part of a
/// second (so T0 falls anywhere in the collection or check interval), causes
/// the problem, waits for the alert's message, ends the problem and waits
/// for the "resolved" message, then the quiet spell. Returns each T0.
fn drive(
    scenario: Scenario,
    server: &SmtpServer,
    high: &AtomicBool,
    mut service: Option<&mut Listener>,
    delays: &[Duration],
) -> (Vec<Timestamp>, Vec<String>) {
    let mut t0s = Vec::new();
    let mut problems = Vec::new();
    if service.is_some() {
        // The first checks find the service up (no alert for that).
        std::thread::sleep(Duration::from_secs(3));
    }
    for (index, delay) in delays.iter().enumerate() {
        std::thread::sleep(scenario.quiet() + *delay);
        let before = server.count();
        let t0 = match (scenario, service.as_deref_mut()) {
            (Scenario::Service | Scenario::Defaults, Some(listener)) => {
                listener.close();
                Timestamp::now()
            }
            _ => {
                let t0 = Timestamp::now();
                high.store(true, Ordering::SeqCst);
                t0
            }
        };
        t0s.push(t0);
        let alerted = wait_for(server, before + 1);
        match (scenario, service.as_deref_mut()) {
            (Scenario::Service | Scenario::Defaults, Some(listener)) => listener.reopen(),
            _ => high.store(false, Ordering::SeqCst),
        }
        if !alerted {
            problems.push(format!(
                "alert {}: no message within {GIVE_UP:?}; stopped there",
                index + 1
            ));
            break;
        }
        if !wait_for(server, before + 2) {
            problems.push(format!(
                "alert {}: no \"resolved\" message within {GIVE_UP:?}; stopped there",
                index + 1
            ));
            break;
        }
    }
    (t0s, problems)
}

/// Waits until the server has `count` messages; `false` after [`GIVE_UP`].
fn wait_for(server: &SmtpServer, count: usize) -> bool {
    let started = Instant::now();
    while server.count() < count {
        if started.elapsed() > GIVE_UP {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// The time in an outbox message's Message-ID: the batch id is
/// `{composed ms}.{notice}`, sent as `<{ms}%2E{notice}@keepwatch>`.
fn composed_at(message_id: &str) -> Option<Timestamp> {
    let digits: String = message_id
        .trim_start_matches('<')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Timestamp::from_millisecond(digits.parse().ok()?).ok()
}

/// A TCP service on 127.0.0.1 that accepts and drops connections, and can be
/// taken down (its listening socket closed) and brought back on the same port.
struct Listener {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    fn open(port: u16) -> Self {
        let started = Instant::now();
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(listener) => break listener,
                Err(err) if started.elapsed() < Duration::from_secs(5) => {
                    let _ = err;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(err) => panic!("cannot listen on 127.0.0.1:{port}: {err}"),
            }
        };
        let port = listener.local_addr().expect("a local address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for connection in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                drop(connection);
            }
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listening socket; returns once it is closed.
    fn close(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wakes the accept so the thread sees the flag and drops the socket.
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            thread.join().expect("the listener thread panicked");
        }
    }

    fn reopen(&mut self) {
        self.close();
        *self = Self::open(self.port);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}

impl Run {
    /// Prints the figures; `false` if something went wrong or the
    /// requirement (< 15 s) was missed.
    fn report(&self, title: &str, wait_label: &str, headline_label: &str) -> bool {
        let ms = |from: Timestamp, to: Timestamp| to.duration_since(from).as_secs_f64() * 1000.0;
        let headline: Vec<f64> = self
            .alerts
            .iter()
            .map(|a| ms(a.observed, a.accepted))
            .collect();
        println!("{title}: N = {}", headline.len());
        println!(
            "  {:<58} {:>9} {:>9} {:>9} {:>9}",
            "milliseconds", "min", "p50", "p95", "max"
        );
        let row = |label: &str, values: &[f64]| {
            if let Some(s) = Stats::of(values) {
                println!(
                    "  {label:<58} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                    s.min, s.p50, s.p95, s.max
                );
            }
        };
        row(&format!("{headline_label} *"), &headline);
        let with_composed: Vec<&Measured> = self
            .alerts
            .iter()
            .filter(|a| a.composed.is_some())
            .collect();
        let part = |f: &dyn Fn(&Measured) -> f64| -> Vec<f64> {
            with_composed.iter().map(|a| f(a)).collect()
        };
        row(
            "  of which: to the message queued (its tick's clock)",
            &part(&|a| ms(a.observed, a.composed.unwrap_or(a.observed))),
        );
        row(
            "  of which: queued -> SMTP accept (outbox task + SMTP)",
            &part(&|a| ms(a.composed.unwrap_or(a.accepted), a.accepted)),
        );
        row(
            wait_label,
            &self
                .alerts
                .iter()
                .map(|a| ms(a.t0, a.observed))
                .collect::<Vec<_>>(),
        );
        row(
            "T0 -> SMTP accept (end to end)",
            &self
                .alerts
                .iter()
                .map(|a| ms(a.t0, a.accepted))
                .collect::<Vec<_>>(),
        );
        println!(
            "  (* the issue's figure; times from the store and Message-ID are whole milliseconds)"
        );
        let mut ok = self.problems.is_empty() && !headline.is_empty();
        for problem in &self.problems {
            println!("  PROBLEM: {problem}");
        }
        if let Some(s) = Stats::of(&headline) {
            let required = s.max < 15_000.0;
            ok &= required;
            println!(
                "  required < 15 s: {} (max {:.1} ms); goal < 1 s: {}",
                if required { "met" } else { "MISSED" },
                s.max,
                if s.max < 1000.0 { "met" } else { "not met" }
            );
        }
        ok
    }

    /// The figure of the defaults measurement: from the outage itself to the
    /// SMTP server having the message. Required p95 < 15 s, goal < 5 s.
    fn judge_outage_to_mail(&self) -> bool {
        let end_to_end: Vec<f64> = self
            .alerts
            .iter()
            .map(|a| a.accepted.duration_since(a.t0).as_secs_f64() * 1000.0)
            .collect();
        let Some(s) = Stats::of(&end_to_end) else {
            return false;
        };
        let required = s.p95 < 15_000.0;
        println!(
            "  outage -> mail with the defaults: p50 {:.0} ms, p95 {:.0} ms; required p95 < 15 s: {}; goal < 5 s: {}",
            s.p50,
            s.p95,
            if required { "met" } else { "MISSED" },
            if s.p95 < 5_000.0 { "met" } else { "not met" }
        );
        required
    }
}

struct Stats {
    min: f64,
    p50: f64,
    p95: f64,
    max: f64,
}

impl Stats {
    /// Nearest-rank percentiles.
    fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[index.clamp(1, sorted.len()) - 1]
        };
        Some(Self {
            min: sorted[0],
            p50: rank(50.0),
            p95: rank(95.0),
            max: sorted[sorted.len() - 1],
        })
    }
}

/// Deterministic delays, so runs are comparable.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}
