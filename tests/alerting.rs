//! Business-hours alerting end to end: real services (loopback TCP ports
//! opened and closed by the test), the real `keepwatch::agent::run` with its
//! checks and outbox, delivering to a real SMTP server (tests/support/smtp.rs)
//! and a Twilio-compatible HTTP receiver. Time is Tokio's paused clock, which
//! keepwatch's clock follows (tests/support/paused_clock.rs): nights and
//! escalation steps pass in milliseconds, and every assertion is about what
//! actually crossed SMTP or HTTP. At the end, the loop's own duties on the
//! same clock: collecting on schedule, a clean stop, a config edit.
//!
//! Needs Python's aiosmtpd; without it these tests are skipped, loudly, and
//! with `KEEPWATCH_REQUIRE_SERVICES=1` (as in CI) they fail.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use keepwatch::agent::{self, Agent, Hangup, RunOptions};
use keepwatch::clock::Clock;
use keepwatch::collect::{Scenario, SimulatedHost};
use keepwatch::config::Config;
use keepwatch::observation::SeriesKey;
use keepwatch::store::Store;
use keepwatch::vocabulary::{metric, state_key};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use http_receiver::{Receiver, Recorded, Reply};
use paused_clock::PausedClock;
use smtp::{PausedSmtp, Received, SmtpOptions};

#[path = "support/fault_table.rs"]
mod fault_table;
#[path = "support/http_receiver.rs"]
mod http_receiver;
#[path = "support/paused_clock.rs"]
mod paused_clock;
#[path = "support/smtp.rs"]
mod smtp;
use fault_table::fault_row;

/// Berlin local time: `berlin(2026, 11, 23, 10, 0)` is Monday 10:00.
fn berlin(year: i16, month: i8, day: i8, hour: i8, minute: i8) -> Timestamp {
    TimeZone::get("Europe/Berlin")
        .unwrap()
        .to_timestamp(date(year, month, day).at(hour, minute, 0, 0))
        .unwrap()
}

/// Monday 23 November 2026, Berlin, at `hour:minute`: business hours.
fn monday(hour: i8, minute: i8) -> Timestamp {
    berlin(2026, 11, 23, hour, minute)
}

/// Tuesday 24 November 2026, Berlin.
fn tuesday(hour: i8, minute: i8) -> Timestamp {
    berlin(2026, 11, 24, hour, minute)
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

// ---------------------------------------------------------------- services

/// A service on 127.0.0.1: a port that accepts connections while up and
/// refuses them while down.
struct Service {
    port: u16,
    accepting: Option<JoinHandle<()>>,
}

impl Service {
    /// A service that is up.
    async fn up() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        Self {
            port,
            accepting: Some(accept(listener)),
        }
    }

    /// Takes it down: once this returns, the port refuses connections.
    async fn stop(&mut self) {
        if let Some(task) = self.accepting.take() {
            task.abort();
            // The listener is dropped when the aborted task is.
            let _ = task.await;
        }
    }

    /// Brings it back on the same port.
    async fn start(&mut self) {
        if self.accepting.is_some() {
            return;
        }
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(err) if tries < 50 => {
                    tries += 1;
                    eprintln!("port {} not free yet: {err}", self.port);
                    tokio::time::sleep(StdDuration::from_millis(100)).await;
                }
                Err(err) => panic!("cannot listen on port {} again: {err}", self.port),
            }
        };
        self.accepting = Some(accept(listener));
    }

    /// Its `[[service]]` table: checked every `interval`, a single failed
    /// run is enough (no retry, no confirmation streak).
    fn toml(&self, name: &str, interval: &str, extra: &str) -> String {
        format!(
            "[[service]]\nname = \"{name}\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {}\n\
             interval = \"{interval}\"\ntimeout = \"2s\"\nretries = 0\nconfirm_after = 1\n{extra}\n",
            self.port
        )
    }
}

fn accept(listener: TcpListener) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    })
}

// ---------------------------------------------------------------- config

/// The shop's settings around `alerting` (the `[alerting]` table's lines
/// after `group_wait`), `channels` and `services`: Berlin, Mon–Fri
/// 09:00–17:00, closed on 25 December. Of the host metrics only the uptime
/// is collected, every 10 s as the defaults collect CPU and memory, so the
/// agent wakes at least that often; see
/// `with_host_metrics_off_a_failing_service_is_still_noticed_within_its_interval`
/// for why that matters.
fn config(alerting: &str, channels: &str, services: &str) -> String {
    config_waking_every("10s", alerting, channels, services)
}

/// [`config`] collecting the uptime every `every` (`"off"`: no host metrics).
fn config_waking_every(every: &str, alerting: &str, channels: &str, services: &str) -> String {
    format!(
        r#"
[agent]
name = "shop-server"

[business]
name = "Bakery"
timezone = "Europe/Berlin"
holidays = ["12-25"]

[collect]
cpu = "off"
memory = "off"
disk = "off"
network = "off"
load = "off"
uptime = "{every}"

[throttle]
enabled = false

[alerting]
group_wait = "30s"
{alerting}

{channels}

{services}
"#
    )
}

/// An `[[channel]]` of type email reaching `server`, to `to`, plus `extra` lines.
fn email_channel(server: &PausedSmtp, name: &str, to: &str, extra: &str) -> String {
    let settings = server
        .channel_toml()
        .replace("to = [\"admin@example.com\"]", &format!("to = [\"{to}\"]"));
    format!("[[channel]]\nname = \"{name}\"\ntype = \"email\"\n{settings}{extra}\n")
}

// ---------------------------------------------------------------- keepwatch

/// keepwatch as `keepwatch run` puts it together and runs it: an `Agent` on
/// the database, handed to the real `keepwatch::agent::run` (which starts
/// the checks and the outbox beside it), on a clock that follows Tokio's
/// paused one.
struct Keepwatch {
    clock: Arc<PausedClock>,
    config: Config,
    config_path: PathBuf,
    db: PathBuf,
    running: Option<JoinHandle<keepwatch::agent::Ended>>,
    _dir: tempfile::TempDir,
}

impl Keepwatch {
    /// Starts keepwatch on `toml` with the clock reading `at`.
    fn start(toml: &str, at: Timestamp) -> Self {
        let config = keepwatch::config::parse(std::path::Path::new("keepwatch.toml"), toml)
            .unwrap_or_else(|err| panic!("{err}\n{toml}"));
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("keepwatch.toml");
        std::fs::write(&config_path, toml).unwrap();
        let mut keepwatch = Self {
            clock: Arc::new(PausedClock::starting_at(at)),
            config,
            config_path,
            db: dir.path().join("keepwatch.db"),
            running: None,
            _dir: dir,
        };
        keepwatch.launch();
        keepwatch
    }

    /// Opens the database and runs the agent, as `keepwatch run` does.
    fn launch(&mut self) {
        let clock: Arc<dyn Clock> = self.clock.clone();
        let store = Store::open(&self.db, &self.config.storage).unwrap();
        let host = SimulatedHost::new(Scenario::Idle, clock.clone());
        let agent = Agent::new(
            self.config.clone(),
            "shop-server".to_owned(),
            clock.clone(),
            Box::new(host),
            store,
        );
        let options = RunOptions {
            config_path: self.config_path.clone(),
            watch_every: StdDuration::from_secs(5),
            configs: None,
            wake: Arc::default(),
            pings: Arc::default(),
            deliveries: None,
        };
        // Stopped only by a crash: nothing asks it to stop cleanly.
        let never = std::future::pending();
        self.running = Some(tokio::spawn(agent::run(
            agent,
            clock,
            options,
            never,
            Hangup::listen(),
        )));
    }

    /// keepwatch stops without warning (power cut, `kill -9`): what it was
    /// doing is dropped, and nothing of a clean stop is recorded.
    async fn crash(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
            let _ = running.await;
        }
        // The outbox, left without its agent, ends too.
        settle().await;
    }

    /// keepwatch crashes and starts again on the same database `down_for`
    /// later.
    async fn crash_and_restart(&mut self, down_for: SignedDuration) {
        self.crash().await;
        self.restart_after(down_for).await;
    }

    /// keepwatch, crashed, starts again `down_for` later.
    async fn restart_after(&mut self, down_for: SignedDuration) {
        tokio::time::sleep(StdDuration::try_from(down_for).unwrap()).await;
        self.launch();
    }

    /// A connection of its own, as the `keepwatch ack` and `keepwatch
    /// maintenance` commands open while keepwatch runs.
    fn store(&self) -> Store {
        Store::open(&self.db, &self.config.storage).unwrap()
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Lets time run to `end` while keepwatch runs, and everything due by
    /// then (checks, alerts, deliveries) finish.
    async fn run_until(&mut self, end: Timestamp) {
        tokio::time::sleep_until(self.clock.instant_of(end)).await;
        settle().await;
    }

    async fn run_for(&mut self, length: SignedDuration) {
        let end = self.now() + length;
        self.run_until(end).await;
    }

    /// Every message composed so far with its channel, oldest first.
    fn composed(&self) -> Vec<(String, keepwatch::message::Message)> {
        let mut all: Vec<_> = self
            .store()
            .recent_messages(10_000)
            .unwrap()
            .into_iter()
            .map(|entry| (entry.channel, serde_json::from_str(&entry.message).unwrap()))
            .collect();
        all.reverse();
        all
    }
}

/// Returns once everything that was due has been done: the paused clock
/// moves on only when no task has work, no I/O is ready and no SMTP
/// conversation is in flight (tests/support/smtp.rs, `PausedSmtp`), so a
/// millisecond later keepwatch is idle.
async fn settle() {
    tokio::time::sleep(StdDuration::from_millis(1)).await;
}

// ---------------------------------------------------------------- reading mail

fn subject(mail: &Received) -> &str {
    mail.subject.as_deref().unwrap_or("")
}

fn text(mail: &Received) -> &str {
    mail.text.as_deref().unwrap_or("")
}

/// The messages that went to `address`.
fn to<'a>(mails: &'a [Received], address: &str) -> Vec<&'a Received> {
    mails
        .iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r == address))
        .collect()
}

#[track_caller]
fn assert_says(mail: &Received, words: &[&str]) {
    for words in words {
        assert!(
            text(mail).contains(words),
            "the mail {:?} does not say {words:?}:\n{}",
            subject(mail),
            text(mail)
        );
    }
}

#[track_caller]
fn assert_unique_message_ids(mails: &[Received]) {
    let ids: Vec<&str> = mails
        .iter()
        .map(|m| m.message_id.as_deref().expect("a Message-ID"))
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a Message-ID came twice: {ids:?}");
}

/// Every message the server has, of which at least `count`. keepwatch has
/// finished what was due when `run_until` returns, so what did not arrive
/// by then was not sent.
#[track_caller]
fn arrived(server: &PausedSmtp, count: usize) -> Vec<Received> {
    let mails = server.messages();
    assert!(
        mails.len() >= count,
        "the SMTP server received {} of {count} messages: {mails:#?}",
        mails.len()
    );
    mails
}

/// Every message the server has.
fn settled(server: &PausedSmtp) -> Vec<Received> {
    server.messages()
}

const DAYTIME_EMAIL: &str = r#"business_hours = [{ after = "0m", notify = ["email"] }]
off_hours = [{ after = "0m", notify = ["email"] }]"#;

// ---------------------------------------------------------------- 1

#[tokio::test(start_paused = true)]
async fn a_shop_that_goes_down_in_business_hours_gets_one_email_at_once_and_one_when_it_is_back() {
    let Some(server) = PausedSmtp::start(SmtpOptions::plain()).await else {
        return;
    };
    let mut shop = Service::up().await;
    let toml = config(
        DAYTIME_EMAIL,
        &email_channel(&server, "email", "admin@example.com", ""),
        &shop.toml("Shop", "30s", ""),
    );
    let mut keepwatch = Keepwatch::start(&toml, monday(10, 0));
    keepwatch.run_for(SignedDuration::from_mins(2)).await;
    assert!(
        settled(&server).is_empty(),
        "all is well, yet: {:#?}",
        server.messages()
    );

    shop.stop().await;
    let went_down = keepwatch.now();
    keepwatch.run_for(secs(31)).await;
    let mails = arrived(&server, 1);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, ["admin@example.com"]);
    assert_eq!(subject(mail), "[Bakery] Shop is down");
    let alert = keepwatch.store().open_alerts().unwrap();
    assert_eq!(alert.len(), 1, "{alert:#?}");
    let (id, since) = (alert[0].id, alert[0].opened_at);
    // The check that saw it is at most one interval after it went down.
    assert!(
        since >= went_down && since <= went_down + secs(30),
        "{since}"
    );
    let local = since.to_zoned_datetime(TimeZone::get("Europe/Berlin").unwrap());
    assert_says(
        mail,
        &[
            &format!("Shop is down since {}", local.strftime("%H:%M")),
            &format!("refused the connection on 127.0.0.1:{}", shop.port),
            &format!("keepwatch ack {id}"),
        ],
    );
    // Sent at once: delivered at the very moment the check saw it, not
    // after a grouping wait.
    let outbox = keepwatch.store().recent_messages(10).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].delivered_at, Some(since), "{:#?}", outbox[0]);

    keepwatch.run_for(SignedDuration::from_mins(5)).await;
    assert_eq!(
        settled(&server).len(),
        1,
        "nothing more while it stays down"
    );

    shop.start().await;
    keepwatch.run_for(secs(31)).await;
    let mails = arrived(&server, 2);
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let recovery = &mails[1];
    assert_eq!(recovery.rcpt_tos, ["admin@example.com"]);
    assert!(
        subject(recovery).starts_with("[Bakery] Shop is back up after"),
        "{}",
        subject(recovery)
    );
    assert_says(recovery, &["The alert was \"Shop is down\""]);
    assert!(
        !text(recovery).contains("keepwatch ack"),
        "{}",
        text(recovery)
    );
    assert_unique_message_ids(&mails);
    assert!(keepwatch.store().open_alerts().unwrap().is_empty());
}

// ---------------------------------------------------------------- 2

/// What the summary at `opening` says, after `Blog` went down at `down`
/// while the business was closed and stayed down: nothing before the
/// opening, one email at it.
async fn a_problem_while_closed_arrives_in_the_summary_at_the_opening(
    start: Timestamp,
    down: Timestamp,
    opening: Timestamp,
) {
    let Some(server) = PausedSmtp::start(SmtpOptions::plain()).await else {
        return;
    };
    let mut blog = Service::up().await;
    let mut newsletter = Service::up().await;
    let services = blog.toml("Blog", "5m", "critical = false")
        + &newsletter.toml("Newsletter", "5m", "critical = false");
    // Waking every minute rather than every 10 s keeps a night short.
    let toml = config_waking_every(
        "1m",
        DAYTIME_EMAIL,
        &email_channel(&server, "email", "admin@example.com", ""),
        &services,
    );
    let mut keepwatch = Keepwatch::start(&toml, start);
    keepwatch.run_until(down).await;
    blog.stop().await;
    // The newsletter goes down too, and comes back an hour later, still
    // before the opening.
    newsletter.stop().await;
    keepwatch.run_for(SignedDuration::from_hours(1)).await;
    newsletter.start().await;
    keepwatch.run_until(opening - secs(1)).await;
    assert!(
        settled(&server).is_empty(),
        "sent while closed: {:#?}",
        server.messages()
    );
    let alerts = keepwatch.store().alerts_between(down, opening).unwrap();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert!(alerts.iter().all(|a| !a.emergency), "{alerts:#?}");

    keepwatch.run_until(opening + secs(60)).await;
    let mails = arrived(&server, 1);
    assert_eq!(
        mails.len(),
        1,
        "one summary, not one mail per alert: {mails:#?}"
    );
    let summary = &mails[0];
    assert_eq!(summary.rcpt_tos, ["admin@example.com"]);
    assert_eq!(subject(summary), "[Bakery] While you were closed: 2 alerts");
    let blog_alert = alerts.iter().find(|a| a.title == "Blog is down").unwrap();
    assert_says(
        summary,
        &[
            "While the business was closed:",
            "Blog is down since",
            "Newsletter is down from",
            "it is over now",
            &format!("keepwatch ack {}", blog_alert.id),
        ],
    );
    // Sent at the opening itself, not at the next check after it.
    let outbox = keepwatch.store().recent_messages(10).unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    assert_eq!(outbox[0].delivered_at, Some(opening), "{:#?}", outbox[0]);
    keepwatch.run_for(SignedDuration::from_mins(30)).await;
    assert_eq!(settled(&server).len(), 1, "the summary is not repeated");
}

#[tokio::test(start_paused = true)]
async fn a_blog_that_goes_down_at_night_is_in_one_summary_at_nine_and_nothing_is_sent_overnight() {
    a_problem_while_closed_arrives_in_the_summary_at_the_opening(
        monday(17, 30),
        tuesday(3, 0),
        tuesday(9, 0),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_blog_that_goes_down_on_christmas_day_is_in_the_summary_of_the_next_working_morning() {
    // 25 December 2025 is a Thursday: a holiday, although 10:00 on a
    // weekday; the next opening is Friday at 09:00.
    a_problem_while_closed_arrives_in_the_summary_at_the_opening(
        berlin(2025, 12, 25, 9, 30),
        berlin(2025, 12, 25, 10, 0),
        berlin(2025, 12, 26, 9, 0),
    )
    .await;
}

// ---------------------------------------------------------------- 3

#[tokio::test(start_paused = true)]
async fn payments_down_at_three_in_the_morning_wakes_someone_by_sms_and_sends_no_daytime_email() {
    let Some(server) = PausedSmtp::start(SmtpOptions::plain()).await else {
        return;
    };
    let twilio = Receiver::start(|_: &Recorded| {
        Reply::new(201, "{\"sid\": \"SM1\", \"status\": \"queued\"}")
    })
    .await;
    let mut payments = Service::up().await;
    let mut blog = Service::up().await;
    let channels = email_channel(&server, "email", "admin@example.com", "")
        + &email_channel(
            &server,
            "pager",
            "4915112345678@sms.example.net",
            "format = \"sms\"",
        )
        + &format!(
            "[[channel]]\nname = \"sms\"\ntype = \"sms\"\nprovider = \"twilio\"\n\
             to = [\"+4915112345678\"]\nfrom = \"+15559870000\"\naccount_sid = \"AC0123\"\n\
             auth_token = \"twilio-token\"\napi_url = \"{}\"\n",
            twilio.url("")
        );
    let alerting = r#"business_hours = [{ after = "0m", notify = ["email"] }]
off_hours = [{ after = "0m", notify = ["sms", "pager"] }]"#;
    let services = payments.toml("Payments", "1m", "critical = true")
        + &blog.toml("Blog", "1m", "critical = false");
    let mut keepwatch = Keepwatch::start(&config(alerting, &channels, &services), tuesday(2, 0));
    keepwatch.run_until(tuesday(3, 0)).await;
    payments.stop().await;
    blog.stop().await;
    keepwatch.run_until(tuesday(3, 2)).await;

    // Twilio got one text about the payments, none about the blog.
    let requests = twilio.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let form = requests[0].form();
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        requests[0].target,
        "/2010-04-01/Accounts/AC0123/Messages.json"
    );
    assert_eq!(field("To"), "+4915112345678");
    let body = field("Body");
    assert!(
        body.starts_with("Bakery: Payments is down since 03:0"),
        "{body}"
    );
    assert!(body.contains("keepwatch ack"), "{body}");
    assert!(!body.contains("Blog"), "{body}");
    assert!(body.chars().count() <= 160, "{body}");

    // The email-to-SMS gateway got the same, and the daytime address nothing.
    let mails = arrived(&server, 1);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let text_message = &mails[0];
    assert_eq!(text_message.rcpt_tos, ["4915112345678@sms.example.net"]);
    assert_eq!(subject(text_message), keepwatch::notify::SMS_SUBJECT);
    assert_eq!(text(text_message).trim_end(), body);
    assert!(to(&mails, "admin@example.com").is_empty());

    // Still nothing by email before the opening.
    keepwatch.run_until(tuesday(8, 59)).await;
    let mails = settled(&server);
    assert!(to(&mails, "admin@example.com").is_empty(), "{mails:#?}");
}

// ---------------------------------------------------------------- 4

#[tokio::test(start_paused = true)]
async fn an_acknowledged_alert_does_not_escalate_to_the_boss_but_still_reports_its_recovery() {
    let Some(server) = PausedSmtp::start(SmtpOptions::plain()).await else {
        return;
    };
    let mut shop = Service::up().await;
    let mut till = Service::up().await;
    let channels = email_channel(&server, "email", "admin@example.com", "")
        + &email_channel(&server, "boss", "boss@example.com", "");
    let alerting = r#"business_hours = [
    { after = "0m", notify = ["email"] },
    { after = "15m", notify = ["boss"] },
]
off_hours = [{ after = "0m", notify = ["boss"] }]"#;
    let services = shop.toml("Shop", "30s", "") + &till.toml("Till", "30s", "");
    let mut keepwatch = Keepwatch::start(&config(alerting, &channels, &services), monday(9, 58));
    keepwatch.run_until(monday(10, 0)).await;
    shop.stop().await;
    till.stop().await;
    keepwatch.run_until(monday(10, 5)).await;
    let mails = arrived(&server, 1);
    let admin = to(&mails, "admin@example.com");
    assert!(!admin.is_empty() && admin.len() <= 2, "{mails:#?}");
    assert!(to(&mails, "boss@example.com").is_empty(), "{mails:#?}");
    let everything: String = admin.iter().map(|m| text(m)).collect();
    assert!(everything.contains("Shop is down") && everything.contains("Till is down"));
    let open = keepwatch.store().open_alerts().unwrap();
    let id = |title: &str| open.iter().find(|a| a.title == title).unwrap().id;
    let (shop_id, till_id) = (id("Shop is down"), id("Till is down"));

    // Anna takes the shop at 10:05; nobody takes the till.
    let acked = keepwatch
        .store()
        .acknowledge(shop_id, "anna", keepwatch.now())
        .unwrap();
    assert_eq!(acked.acked.map(|(_, by)| by).as_deref(), Some("anna"));
    keepwatch.run_until(monday(10, 20)).await;
    let mails = arrived(&server, admin.len() + 1);
    let boss = to(&mails, "boss@example.com");
    assert_eq!(boss.len(), 1, "{mails:#?}");
    assert_eq!(
        subject(boss[0]),
        "[Bakery] Still unacknowledged: Till is down"
    );
    assert_says(boss[0], &[&format!("keepwatch ack {till_id}")]);
    assert!(
        !text(boss[0]).contains("Shop"),
        "the acknowledged shop escalated: {}",
        text(boss[0])
    );

    keepwatch.run_until(monday(10, 40)).await;
    let before = settled(&server).len();
    shop.start().await;
    keepwatch.run_for(SignedDuration::from_mins(2)).await;
    let mails = arrived(&server, before + 1);
    assert_eq!(mails.len(), before + 1, "{mails:#?}");
    let recovery = mails.last().unwrap();
    assert_eq!(
        recovery.rcpt_tos,
        ["admin@example.com"],
        "only who was told"
    );
    assert!(
        subject(recovery).starts_with("[Bakery] Shop is back up after"),
        "{}",
        subject(recovery)
    );
    assert!(
        to(&mails, "boss@example.com")
            .iter()
            .all(|m| !text(m).contains("Shop")),
        "{mails:#?}"
    );
    assert_unique_message_ids(&mails);
}

// ---------------------------------------------------------------- 5

/// The shop is in maintenance 10:00–11:00 (`window` puts it in place):
/// down from 10:05 and still down at 11:00, it is reported from 11:00; the
/// till, down 10:10–10:30 inside the window, is never reported. Returns the
/// one email that arrives.
async fn maintenance_silences_until_it_ends(
    maintenance: &str,
    window: impl FnOnce(&mut Store),
) -> Option<Received> {
    let server = PausedSmtp::start(SmtpOptions::plain()).await?;
    let mut shop = Service::up().await;
    let mut till = Service::up().await;
    let services = shop.toml("Shop", "30s", "") + &till.toml("Till", "30s", "");
    let toml = config(
        DAYTIME_EMAIL,
        &email_channel(&server, "email", "admin@example.com", ""),
        &format!("{services}\n{maintenance}"),
    );
    let mut keepwatch = Keepwatch::start(&toml, monday(9, 55));
    window(&mut keepwatch.store());
    keepwatch.run_until(monday(10, 5)).await;
    shop.stop().await;
    keepwatch.run_until(monday(10, 10)).await;
    till.stop().await;
    keepwatch.run_until(monday(10, 30)).await;
    till.start().await;
    keepwatch.run_until(monday(10, 59)).await;
    assert!(
        settled(&server).is_empty(),
        "sent during maintenance: {:#?}",
        server.messages()
    );
    assert!(
        keepwatch.composed().is_empty(),
        "composed during maintenance: {:#?}",
        keepwatch.composed()
    );
    let silenced = keepwatch.store().open_alerts().unwrap();
    assert_eq!(silenced.len(), 1, "{silenced:#?}");
    assert!(
        silenced[0]
            .silenced
            .as_deref()
            .is_some_and(|why| why.contains("maintenance")),
        "{silenced:#?}"
    );

    keepwatch.run_until(monday(11, 1)).await;
    let mails = arrived(&server, 1);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = mails[0].clone();
    assert_eq!(mail.rcpt_tos, ["admin@example.com"]);
    assert_says(&mail, &["Shop is down since 10:05", "keepwatch ack"]);
    assert!(!text(&mail).contains("Till"), "{}", text(&mail));
    let delivered = keepwatch.store().recent_messages(1).unwrap()[0].delivered_at;
    assert!(
        delivered.is_some_and(|at| at >= monday(11, 0) && at <= monday(11, 0) + secs(30)),
        "delivered at {delivered:?}, not when the window ended"
    );
    Some(mail)
}

fn router_swap(store: &mut Store) {
    store
        .add_maintenance(
            "router swap",
            &["Shop".to_owned(), "Till".to_owned()],
            monday(10, 0),
            monday(11, 0),
        )
        .unwrap();
}

const MONTHLY_UPDATES: &str = "[[maintenance]]\nname = \"monthly updates\"\n\
    services = [\"Shop\", \"Till\"]\nstart = \"2026-11-23 10:00\"\nend = \"2026-11-23 11:00\"\n";

#[tokio::test(start_paused = true)]
async fn a_service_down_during_maintenance_started_from_the_command_line_alerts_only_after_it_ends()
{
    maintenance_silences_until_it_ends("", router_swap).await;
}

#[tokio::test(start_paused = true)]
async fn a_service_down_during_planned_maintenance_alerts_only_after_it_ends() {
    maintenance_silences_until_it_ends(MONTHLY_UPDATES, |_| {}).await;
}

#[tokio::test(start_paused = true)]
async fn the_alert_after_maintenance_in_business_hours_is_not_called_a_summary_of_closed_hours() {
    for mail in [
        maintenance_silences_until_it_ends("", router_swap).await,
        maintenance_silences_until_it_ends(MONTHLY_UPDATES, |_| {}).await,
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(subject(&mail), "[Bakery] Shop is down");
        assert!(
            !text(&mail).contains("closed"),
            "the business was open all along: {}",
            text(&mail)
        );
    }
}

// ---------------------------------------------------------------- 6

#[tokio::test(start_paused = true)]
async fn when_the_internet_link_fails_a_hundred_services_make_a_handful_of_emails_that_blame_it() {
    let Some(server) = PausedSmtp::start(SmtpOptions::plain()).await else {
        return;
    };
    let mut internet = Service::up().await;
    let mut services = vec![];
    let mut toml = internet.toml("internet", "30s", "critical = true");
    for i in 1..=95 {
        let service = Service::up().await;
        toml += &service.toml(
            &format!("shop-{i:02}"),
            "30s",
            "depends_on = [\"internet\"]",
        );
        services.push((format!("shop-{i:02}"), service));
    }
    for i in 1..=4 {
        let service = Service::up().await;
        toml += &service.toml(&format!("local-{i}"), "30s", "");
        services.push((format!("local-{i}"), service));
    }
    let toml = config(
        DAYTIME_EMAIL,
        &email_channel(&server, "email", "admin@example.com", ""),
        &toml,
    );
    let mut keepwatch = Keepwatch::start(&toml, monday(10, 0));
    keepwatch.run_until(monday(10, 1)).await;
    internet.stop().await;
    for (_, service) in &mut services {
        service.stop().await;
    }
    keepwatch.run_until(monday(10, 5)).await;

    let open = keepwatch.store().open_alerts().unwrap();
    assert_eq!(open.len(), 100, "every service is down: {open:#?}");
    let mails = arrived(&server, 1);
    assert!(
        mails.len() <= 5,
        "{} emails for one broken link: {:#?}",
        mails.len(),
        mails.iter().map(subject).collect::<Vec<_>>()
    );
    assert_eq!(mails.len(), keepwatch.composed().len());
    let all: String = mails.iter().map(|m| format!("{}\n", text(m))).collect();
    for (name, _) in &services {
        assert!(all.contains(name), "{name} is in no email:\n{all}");
    }
    assert!(all.contains("internet is down"), "{all}");
    assert!(
        all.contains("are failing because of it"),
        "the emails do not say the shops fail because of the internet link:\n{all}"
    );
    // Dependants checked before the link was found down are told on their
    // own in the first email, which goes at once; the rest are folded under
    // the link's alert.
    let own_lines = services
        .iter()
        .filter(|(name, _)| all.contains(&format!("{name} is down since")))
        .count();
    assert!(
        own_lines < 50,
        "{own_lines} of 99 services told on their own:\n{all}"
    );
    assert_unique_message_ids(&mails);
}

// ---------------------------------------------------------------- 7

/// Several alerts while the mail server is down for an hour, with keepwatch
/// crashing and starting again in the middle; returns the messages
/// composed, in order, once the server is back and everything was
/// delivered. No reminders: what was composed while the server was down is
/// exactly what must arrive.
async fn alerts_while_the_mail_server_is_down(
    server: &mut PausedSmtp,
) -> (Keepwatch, Vec<keepwatch::message::Message>) {
    let mut shop = Service::up().await;
    let mut till = Service::up().await;
    let mut website = Service::up().await;
    let services = shop.toml("Shop", "30s", "")
        + &till.toml("Till", "30s", "")
        + &website.toml("Website", "30s", "");
    let toml = config(
        &format!("{DAYTIME_EMAIL}\nremind_every = \"off\""),
        &email_channel(server, "email", "admin@example.com", ""),
        &services,
    );
    let mut keepwatch = Keepwatch::start(&toml, monday(10, 0));
    keepwatch.run_until(monday(10, 1)).await;
    server.stop().await;

    shop.stop().await;
    keepwatch.run_until(monday(10, 3)).await;
    let waiting = keepwatch.store().undelivered().unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:#?}");
    assert!(waiting[0].attempts >= 2, "retried: {:#?}", waiting[0]);
    let error = waiting[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains(&server.port().to_string()),
        "the error names the server: {error}"
    );
    assert!(
        waiting[0].next_at > keepwatch.now(),
        "waits before the next try: {:#?}",
        waiting[0]
    );

    till.stop().await;
    keepwatch.run_until(monday(10, 5)).await;
    keepwatch.crash_and_restart(secs(20)).await;
    keepwatch.run_until(monday(10, 6)).await;
    shop.start().await;
    keepwatch.run_until(monday(10, 8)).await;
    website.stop().await;
    keepwatch.run_until(monday(11, 1)).await;

    let composed: Vec<_> = keepwatch.composed().into_iter().map(|(_, m)| m).collect();
    let waiting = keepwatch.store().undelivered().unwrap();
    assert_eq!(waiting.len(), composed.len(), "nothing delivered yet");
    let subjects: Vec<&str> = composed.iter().map(|m| m.subject.as_str()).collect();
    assert!(subjects.len() >= 3, "{subjects:?}");
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("[Bakery] Shop is back up after")),
        "{subjects:?}"
    );
    assert!(settled(server).is_empty());

    server.restart().await;
    // The longest wait between tries is 10 minutes.
    keepwatch.run_until(monday(11, 15)).await;
    assert!(
        keepwatch.store().undelivered().unwrap().is_empty(),
        "{:#?}",
        keepwatch.store().undelivered()
    );
    (keepwatch, composed)
}

#[tokio::test(start_paused = true)]
async fn alerts_made_while_the_mail_server_is_down_all_arrive_once_it_is_back_even_across_a_crash()
{
    let Some(mut server) = PausedSmtp::start(SmtpOptions::plain()).await else {
        return;
    };
    let (mut keepwatch, composed) = alerts_while_the_mail_server_is_down(&mut server).await;
    let mails = arrived(&server, composed.len());
    assert_eq!(mails.len(), composed.len(), "{mails:#?}");
    assert_unique_message_ids(&mails);
    let mut sent: Vec<String> = composed
        .iter()
        // The email channel writes the dots of an id as %2E.
        .map(|m| format!("<{}@keepwatch>", m.id.replace('.', "%2E")))
        .collect();
    let mut received: Vec<String> = mails
        .iter()
        .map(|m| m.message_id.clone().unwrap_or_default())
        .collect();
    sent.sort();
    received.sort();
    fault_row(
        "mail server down for an hour (keepwatch killed once meanwhile), then back",
        1,
        Some((sent.len(), received.len())),
        None,
        "each message once",
    );
    assert_eq!(received, sent, "each composed message arrived, once");
    let all: String = mails.iter().map(|m| format!("{}\n", text(m))).collect();
    for what in ["Shop is down", "Till is down", "Website is down"] {
        assert!(all.contains(what), "{what} never arrived:\n{all}");
    }

    // Another half hour of keepwatch (and another restart) sends nothing twice.
    keepwatch.crash_and_restart(secs(20)).await;
    keepwatch.run_for(SignedDuration::from_mins(30)).await;
    let later = settled(&server);
    assert_unique_message_ids(&later);
    assert_eq!(later.len(), mails.len(), "{later:#?}");
}

#[tokio::test(start_paused = true)]
async fn after_a_mail_server_outage_the_backlog_arrives_in_the_order_it_happened() {
    let Some(mut server) = PausedSmtp::start(SmtpOptions::plain()).await else {
        return;
    };
    let (_keepwatch, composed) = alerts_while_the_mail_server_is_down(&mut server).await;
    let mails = arrived(&server, composed.len());
    let sent: Vec<&str> = composed.iter().map(|m| m.subject.as_str()).collect();
    let received: Vec<&str> = mails.iter().map(subject).collect();
    let in_order = received == sent;
    fault_row(
        "mail server down for an hour, then back: the order",
        1,
        Some((sent.len(), received.len())),
        None,
        if in_order {
            "in the order it happened"
        } else {
            "OUT OF ORDER"
        },
    );
    assert_eq!(
        received, sent,
        "the recovery must not arrive before the alert it ends"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shop_that_comes_back_while_keepwatch_is_restarting_still_gets_its_recovery_email() {
    let Some(server) = PausedSmtp::start(SmtpOptions::plain()).await else {
        return;
    };
    let mut shop = Service::up().await;
    let toml = config(
        DAYTIME_EMAIL,
        &email_channel(&server, "email", "admin@example.com", ""),
        &shop.toml("Shop", "30s", ""),
    );
    let mut keepwatch = Keepwatch::start(&toml, monday(10, 0));
    keepwatch.run_until(monday(10, 1)).await;
    shop.stop().await;
    keepwatch.run_until(monday(10, 3)).await;
    let mails = arrived(&server, 1);
    assert_eq!(subject(&mails[0]), "[Bakery] Shop is down");

    // keepwatch is stopped, the shop comes back meanwhile, keepwatch starts.
    keepwatch.crash().await;
    shop.start().await;
    keepwatch.restart_after(SignedDuration::from_mins(2)).await;
    keepwatch.run_until(monday(10, 10)).await;
    let open = keepwatch.store().open_alerts().unwrap();
    assert!(
        open.is_empty(),
        "the shop is up again, but its alert is still open: {open:#?}"
    );
    let mails = arrived(&server, 2);
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert!(
        subject(&mails[1]).starts_with("[Bakery] Shop is back up after"),
        "{}",
        subject(&mails[1])
    );
}

// ---------------------------------------------------------------- waking up

#[tokio::test(start_paused = true)]
async fn with_host_metrics_off_a_failing_service_is_still_noticed_within_its_interval() {
    let Some(server) = PausedSmtp::start(SmtpOptions::plain()).await else {
        return;
    };
    let mut shop = Service::up().await;
    let toml = config_waking_every(
        "off",
        DAYTIME_EMAIL,
        &email_channel(&server, "email", "admin@example.com", ""),
        &shop.toml("Shop", "30s", ""),
    );
    let mut keepwatch = Keepwatch::start(&toml, monday(10, 0));
    keepwatch.run_until(monday(10, 1)).await;
    shop.stop().await;
    keepwatch.run_until(monday(10, 9)).await;
    let mails = arrived(&server, 1);
    let alert = &keepwatch.store().open_alerts().unwrap()[0];
    assert!(
        alert.opened_at <= monday(10, 1) + secs(30),
        "a service checked every 30 s was found down at {} after going down at 10:01",
        alert.opened_at
    );
    assert_says(&mails[0], &["Shop is down since 10:01"]);
}

// ---------------------------------------------------------------- the loop itself

/// An agent on a simulated idle host with `config` and a database in `dir`,
/// its clock reading Monday 09:00 UTC now, and `run`'s options watching
/// `config_path`.
fn bare_agent(
    dir: &std::path::Path,
    config: Config,
    config_path: PathBuf,
) -> (Agent, Arc<dyn Clock>, RunOptions) {
    let clock: Arc<dyn Clock> = Arc::new(PausedClock::starting_at(
        "2026-11-23T09:00:00Z".parse().unwrap(),
    ));
    let host = SimulatedHost::new(Scenario::Idle, clock.clone());
    let store = Store::open(&dir.join("kw.db"), &config.storage).unwrap();
    let agent = Agent::new(
        config,
        "sim".to_owned(),
        clock.clone(),
        Box::new(host),
        store,
    );
    let options = RunOptions {
        config_path,
        watch_every: StdDuration::from_secs(5),
        configs: None,
        wake: Arc::default(),
        pings: Arc::default(),
        deliveries: None,
    };
    (agent, clock, options)
}

#[tokio::test(start_paused = true)]
async fn run_collects_on_schedule_until_stopped_and_records_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, clock, options) =
        bare_agent(dir.path(), Config::default(), dir.path().join("none.toml"));
    let stop = tokio::time::sleep(StdDuration::from_secs(605));
    agent::run(agent, clock, options, stop, Hangup::listen()).await;
    let store = Store::open(&dir.path().join("kw.db"), &Config::default().storage).unwrap();
    let key = SeriesKey::new("sim", metric::CPU_USAGE_PERCENT, "");
    let from: Timestamp = "2026-11-23T09:00:00Z".parse().unwrap();
    let cpu = store
        .range(&key, from, from + SignedDuration::from_mins(11))
        .unwrap();
    assert_eq!(cpu.len(), 61, "every 10 s for 10 minutes");
    assert!(store.state(state_key::STOPPED_AT).unwrap().is_some());
}

#[tokio::test(start_paused = true)]
async fn run_rejects_a_broken_edit_and_applies_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepwatch.toml");
    std::fs::write(&path, "[collect]\ncpu = \"10s\"\n").unwrap();
    let (agent, clock, options) = bare_agent(dir.path(), Config::default(), path.clone());
    let edits = async {
        tokio::time::sleep(StdDuration::from_secs(30)).await;
        std::fs::write(&path, "[collect]\ncpu = \"10 seconds\"\n").unwrap();
        tokio::time::sleep(StdDuration::from_secs(30)).await;
        std::fs::write(&path, "[collect]\ncpu = \"5s\"\n").unwrap();
        tokio::time::sleep(StdDuration::from_secs(60)).await;
    };
    agent::run(agent, clock, options, edits, Hangup::listen()).await;
    let store = Store::open(&dir.path().join("kw.db"), &Config::default().storage).unwrap();
    let events: Vec<String> = store
        .recent_events(20)
        .unwrap()
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert!(
        events.iter().any(|m| m.starts_with("rejected a change to")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|m| m == "configuration reloaded"),
        "{events:?}"
    );
    let key = SeriesKey::new("sim", metric::CPU_USAGE_PERCENT, "");
    let from: Timestamp = "2026-11-23T09:01:05Z".parse().unwrap();
    let last_minute = store
        .range(&key, from, from + SignedDuration::from_secs(54))
        .unwrap();
    assert!(
        last_minute.len() >= 10,
        "every 5 s once the good edit is in force: {}",
        last_minute.len()
    );
}
