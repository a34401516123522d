//! Scheduled reports against a simulated clock and a real SQLite file:
//! their times across both DST changes, once and only once per scheduled
//! time (restarts, time missed while stopped), and what a failure does.

use std::sync::Arc;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::clock::{Clock, SimClock};
use crate::config::{Config, ReportConfig};
use crate::message::Message;
use crate::store::{StorageConfig, Store};

fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").unwrap()
}

/// A local time in Berlin (compatible for the hour that happens twice).
fn local(text: &str) -> Timestamp {
    let civil: DateTime = text.parse().unwrap();
    civil.to_zoned_datetime(berlin()).unwrap().timestamp()
}

fn when(text: &str) -> When {
    text.parse().unwrap()
}

fn config(every: &str) -> Config {
    let mut config = Config::default();
    config.business.name = "Zoë's Café".to_owned();
    config.business.timezone = "Europe/Berlin".to_owned();
    config.reports = vec![ReportConfig {
        every: every.to_owned(),
        channel: Some("log".to_owned()),
        ..ReportConfig::default()
    }];
    config
}

fn scheduler(dir: &std::path::Path, clock: &Arc<SimClock>) -> Scheduler {
    let store = Store::open(&dir.join("kw.db"), &StorageConfig::default()).unwrap();
    Scheduler::new(store, clock.clone())
}

/// The messages waiting in the outbox, oldest first.
fn queued(scheduler: &Scheduler) -> Vec<(String, Message)> {
    let mut entries = scheduler.store().undelivered().unwrap();
    entries.sort_by_key(|e| e.id);
    entries
        .into_iter()
        .map(|e| (e.channel, serde_json::from_str(&e.message).unwrap()))
        .collect()
}

#[test]
fn times_are_local_and_the_spring_gap_moves_a_time_forward() {
    let tz = berlin();
    let daily = when("day 02:30");
    // 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 is sent at 03:30.
    let spring = on_date(&daily, "2026-03-29".parse().unwrap(), &tz).unwrap();
    assert_eq!(spring, "2026-03-29T01:30:00Z".parse().unwrap());
    assert_eq!(
        next_after(&daily, local("2026-03-28T02:30"), &tz),
        Some(spring)
    );
    assert_eq!(
        next_after(&daily, spring, &tz),
        Some("2026-03-30T00:30:00Z".parse().unwrap())
    );
    // 25 October 2026: 02:30 happens twice; only its first pass (CEST) counts.
    let autumn = on_date(&daily, "2026-10-25".parse().unwrap(), &tz).unwrap();
    assert_eq!(autumn, "2026-10-25T00:30:00Z".parse().unwrap());
    let second_pass: Timestamp = "2026-10-25T01:30:00Z".parse().unwrap();
    assert_eq!(latest(&daily, second_pass, &tz), Some(autumn));
    assert_eq!(
        next_after(&daily, autumn, &tz),
        Some("2026-10-26T01:30:00Z".parse().unwrap())
    );
    // Weekly and monthly, the short month using its last day.
    let monday = when("monday 08:00");
    assert_eq!(
        next_after(&monday, local("2026-11-23T08:00"), &tz),
        Some(local("2026-11-30T08:00"))
    );
    assert_eq!(
        latest(&monday, local("2026-11-23T07:59"), &tz),
        Some(local("2026-11-16T08:00"))
    );
    let end_of_month = when("month 31st 23:00");
    assert_eq!(
        next_after(&end_of_month, local("2026-11-01T00:00"), &tz),
        Some(local("2026-11-30T23:00"))
    );
    assert_eq!(
        next_after(&end_of_month, local("2026-11-30T23:00"), &tz),
        Some(local("2026-12-31T23:00"))
    );
    assert_eq!(
        next_after(&end_of_month, local("2027-02-01T00:00"), &tz),
        Some(local("2027-02-28T23:00"))
    );
    assert!(on_date(&monday, "2026-11-24".parse().unwrap(), &tz).is_none());
}

/// Walks the clock from `from` to `to` in 10-minute steps, a pass at each,
/// and returns when each report was queued.
fn walk(
    scheduler: &mut Scheduler,
    clock: &SimClock,
    config: &Config,
    to: Timestamp,
) -> Vec<Timestamp> {
    let mut made = Vec::new();
    while clock.now() < to {
        clock.advance(SignedDuration::from_mins(10));
        let pass = scheduler.pass(config);
        assert_eq!(pass.failed, 0);
        if pass.queued > 0 {
            made.push(clock.now());
        }
        assert!(pass.next.is_some_and(|next| next > clock.now()), "{pass:?}");
    }
    made
}

#[test]
fn across_both_dst_changes_a_daily_report_is_made_once_a_day() {
    let config = config("day 02:30");
    for (start, end, expected) in [
        // Spring: sent at 03:30 CEST, once, on the day the hour is skipped.
        (
            "2026-03-28T12:00",
            "2026-03-30T12:00",
            ["2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"],
        ),
        // Autumn: the first 02:30 only, not again an hour later.
        (
            "2026-10-24T12:00",
            "2026-10-26T12:00",
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(SimClock::new(local(start)));
        let mut scheduler = scheduler(dir.path(), &clock);
        let made = walk(&mut scheduler, &clock, &config, local(end));
        let expected: Vec<Timestamp> = expected.iter().map(|t| t.parse().unwrap()).collect();
        assert_eq!(made, expected, "{start}");
    }
}

#[test]
fn a_weekly_report_starts_next_time_survives_restarts_and_catches_up_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config("monday 08:00");
    // Seen first on a Wednesday: nothing for the Monday before.
    let clock = Arc::new(SimClock::new(local("2026-11-18T10:00")));
    let mut first = scheduler(dir.path(), &clock);
    let pass = first.pass(&config);
    assert_eq!(pass.queued, 0);
    assert_eq!(pass.next, Some(local("2026-11-23T08:00")));
    clock.set(local("2026-11-23T08:00"));
    assert_eq!(first.pass(&config).queued, 1);
    assert_eq!(first.pass(&config).queued, 0, "not twice");
    let sent = queued(&first);
    assert_eq!(sent.len(), 1);
    let (channel, message) = &sent[0];
    assert_eq!(channel, "log");
    assert_eq!(
        message.subject,
        "[Zoë's Café] How our systems did: the week of 16 November 2026"
    );
    let enclosure = message.enclosure.as_ref().unwrap();
    assert!(enclosure.files[0].data.starts_with(b"%PDF"), "a PDF");
    assert_eq!(enclosure.files[0].name, "keepwatch-report-2026-11-16.pdf");
    assert!(message.text.contains("16 November"), "{}", message.text);
    drop(first);

    // A restart the same day makes nothing again.
    clock.advance(SignedDuration::from_mins(5));
    let mut again = scheduler(dir.path(), &clock);
    assert_eq!(again.pass(&config).queued, 0);
    drop(again);

    // Stopped for three weeks: one report when it starts, for the last Monday.
    clock.set(local("2026-12-16T09:00"));
    let mut after = scheduler(dir.path(), &clock);
    let pass = after.pass(&config);
    assert_eq!(pass.queued, 1);
    assert_eq!(pass.next, Some(local("2026-12-21T08:00")));
    let sent = queued(&after);
    assert_eq!(sent.len(), 2);
    assert!(
        sent[1].1.subject.ends_with("the week of 7 December 2026"),
        "{}",
        sent[1].1.subject
    );
    assert_eq!(after.pass(&config).queued, 0);
}

#[test]
fn a_report_that_cannot_be_made_is_retried_then_told_to_the_admin() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config("day 18:00");
    // Named, so it stays the same report when its channel changes.
    config.reports[0].name = "Daily".to_owned();
    let clock = Arc::new(SimClock::new(local("2026-11-23T12:00")));
    let mut scheduler = scheduler(dir.path(), &clock);
    assert_eq!(scheduler.pass(&config).queued, 0);
    // The channel went away behind validation's back (a bad reload).
    config.reports[0].channel = Some("gone".to_owned());
    clock.set(local("2026-11-23T18:00"));
    let first = scheduler.pass(&config);
    assert_eq!((first.queued, first.failed), (0, 1));
    assert_eq!(first.next, Some(local("2026-11-23T18:10")));
    clock.set(local("2026-11-23T18:10"));
    assert_eq!(scheduler.pass(&config).failed, 1);
    assert!(queued(&scheduler).is_empty(), "not told yet");
    clock.set(local("2026-11-23T18:20"));
    let last = scheduler.pass(&config);
    assert_eq!(last.failed, 1);
    assert_eq!(last.next, Some(local("2026-11-24T18:00")));
    let told = queued(&scheduler);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, "log", "the first business-hours step");
    assert!(
        told[0].1.text.contains("\"gone\" is not a channel"),
        "{}",
        told[0].1.text
    );
    assert!(told[0].1.text.contains("keepwatch report test"));
    // Given up for this time: no more attempts, no more messages.
    clock.set(local("2026-11-23T18:30"));
    assert_eq!(scheduler.pass(&config).failed, 0);
    assert_eq!(queued(&scheduler).len(), 1);
}

#[test]
fn report_test_makes_each_report_now_or_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SimClock::new(local("2026-11-23T12:00")));
    let scheduler = scheduler(dir.path(), &clock);
    let mut config = config("month 1st 08:00");
    config.reports[0].name = "Board".to_owned();
    let calendar = Calendar::from_config(&config.business, TimeZone::UTC).unwrap();
    let now = clock.now();
    let made = make_now(scheduler.store(), &config, &calendar, None, now).unwrap();
    assert_eq!(made.len(), 1);
    let (channel, message) = made[0].1.as_ref().unwrap();
    assert_eq!(channel.name, "log");
    assert!(
        message.subject.ends_with("October 2026"),
        "{}",
        message.subject
    );
    assert_eq!(recipients(&made[0].0, channel), "\"log\"");
    let err = make_now(scheduler.store(), &config, &calendar, Some("Bored"), now).unwrap_err();
    assert!(err.contains("the report \"Board\""), "{err}");
    assert_eq!(
        make_now(
            scheduler.store(),
            &config,
            &calendar,
            Some("month 1st 08:00"),
            now
        )
        .unwrap()
        .len(),
        1
    );
    config.reports[0].channel = None;
    let made = make_now(scheduler.store(), &config, &calendar, Some("Board"), now).unwrap();
    assert!(made[0].1.as_ref().unwrap_err().contains("goes to nobody"));
    config.reports.clear();
    let err = make_now(scheduler.store(), &config, &calendar, None, now).unwrap_err();
    assert!(err.contains("[[report]]"), "{err}");
}

/// Wall time that follows Tokio's paused test clock, so [`run`] can be
/// driven through simulated minutes.
#[derive(Debug)]
struct TokioClock {
    start: Timestamp,
    base: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.start + SignedDuration::try_from(self.base.elapsed()).unwrap_or_default()
    }
}

#[tokio::test(start_paused = true)]
async fn run_follows_config_changes_makes_the_report_on_time_and_wakes_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock {
        start: local("2026-11-23T17:50"),
        base: tokio::time::Instant::now(),
    });
    let store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
    let (configs, followed) = watch::channel(Config::default());
    let wake = Arc::new(Notify::new());
    let running = tokio::spawn(run(
        Scheduler::new(store, clock.clone()),
        followed,
        wake.clone(),
        Box::pin(tokio::time::sleep(std::time::Duration::from_secs(3600))),
    ));
    // A report is added a minute later (a config reload).
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    configs.send_replace(config("day 18:00"));
    tokio::time::timeout(std::time::Duration::from_secs(1200), wake.notified())
        .await
        .expect("the outbox is woken when the report is queued");
    let woken = clock.now();
    assert!(
        woken >= local("2026-11-23T18:00") && woken < local("2026-11-23T18:01"),
        "{woken}"
    );
    running.await.unwrap();
    let store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
    assert_eq!(store.undelivered().unwrap().len(), 1);
}

#[tokio::test]
async fn spawn_needs_a_database_it_can_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SimClock::new(local("2026-11-23T12:00")));
    let (_configs, followed) = watch::channel(Config::default());
    let wake = Arc::new(Notify::new());
    // A folder is not a database file.
    assert!(
        spawn(
            dir.path(),
            Maker::InProcess,
            &Config::default(),
            clock.clone(),
            followed.clone(),
            wake.clone()
        )
        .is_none()
    );
    let running = spawn(
        &dir.path().join("kw.db"),
        Maker::InProcess,
        &Config::default(),
        clock,
        followed,
        wake,
    )
    .expect("started");
    running.abort();
}

#[test]
fn a_time_zone_that_cannot_be_used_makes_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SimClock::new(local("2026-11-23T18:00")));
    let mut scheduler = scheduler(dir.path(), &clock);
    let mut config = config("day 18:00");
    config.business.timezone = "Mars/Olympus".to_owned();
    assert_eq!(scheduler.pass(&config), Pass::default());
    // A table that does not parse (it slipped past the load check) is left alone.
    let mut config = config_with_bad_schedule();
    config.reports.push(ReportConfig {
        every: "day 18:00".to_owned(),
        channel: Some("log".to_owned()),
        ..ReportConfig::default()
    });
    assert_eq!(scheduler.pass(&config).queued, 0, "first seen");
    assert!(scheduler.pass(&config).next.is_some());
}

fn config_with_bad_schedule() -> Config {
    let mut config = config("fortnightly 18:00");
    config.reports[0].name = "Broken".to_owned();
    config
}

#[test]
fn slugs_keep_letters_and_digits_for_message_ids() {
    assert_eq!(
        slug("monday 08:00 |  | Executive"),
        "monday-08-00-executive"
    );
    assert_eq!(slug(&"x".repeat(60)).len(), 40);
}

/// What `pass` writes to keepwatch's log, at every level.
fn logged(run: impl FnOnce()) -> String {
    let lines = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || Log(writer.clone()))
        .finish();
    tracing::subscriber::with_default(subscriber, run);
    String::from_utf8_lossy(&lines.lock().unwrap()).into_owned()
}

struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_log_says_when_a_report_starts_goes_out_or_is_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SimClock::new(local("2026-11-18T10:00")));
    let mut scheduler = scheduler(dir.path(), &clock);
    let mut config = config("monday 08:00");
    let log = logged(|| {
        scheduler.pass(&config);
    });
    assert!(
        log.contains("the report every monday 08:00 is set up: the first goes out Monday 23 November 2026 at 08:00"),
        "{log}"
    );
    clock.set(local("2026-11-23T08:00"));
    let log = logged(|| {
        scheduler.pass(&config);
    });
    assert!(
        log.contains("the report every monday 08:00 for [Zoë's Café] How our systems did: the week of 16 November 2026 is made and on its way to \"log\""),
        "{log}"
    );
    // A target that is not a percentage: the report cannot be made.
    config.services = vec![
        toml::from_str(
            "name = \"Shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\ntarget = \"lots\"",
        )
        .unwrap(),
    ];
    clock.set(local("2026-11-30T08:00"));
    let log = logged(|| {
        scheduler.pass(&config);
    });
    assert!(
        log.contains("the report every monday 08:00 could not be made (service \"Shop\": target = \"lots\" is not a percentage")
            && log.contains("trying again in 10 minutes"),
        "{log}"
    );
}

#[test]
fn a_database_that_cannot_note_reports_is_tried_again_later() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SimClock::new(local("2026-11-18T10:00")));
    let mut scheduler = scheduler(dir.path(), &clock);
    let config = config("monday 08:00");
    let other = rusqlite::Connection::open(dir.path().join("kw.db")).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON report_runs BEGIN SELECT RAISE(FAIL, 'disk I/O error'); END;",
        )
        .unwrap();
    let log = logged(|| {
        scheduler.pass(&config);
    });
    assert!(log.contains("cannot note it down"), "{log}");
    assert_eq!(
        scheduler
            .store()
            .report_made_for(&config.reports[0].key())
            .unwrap(),
        None
    );
    other.execute_batch("DROP TABLE report_runs").unwrap();
    let mut pass = Pass::default();
    let log = logged(|| pass = scheduler.pass(&config));
    assert_eq!(pass.next, Some(local("2026-11-18T10:10")), "{pass:?}");
    assert!(
        log.contains("the report every monday 08:00: cannot read when it was last made"),
        "{log}"
    );
}

#[test]
fn a_failure_that_cannot_be_told_is_logged_and_the_report_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config("day 18:00");
    config.reports[0].name = "Daily".to_owned();
    let clock = Arc::new(SimClock::new(local("2026-11-23T12:00")));
    let mut scheduler = scheduler(dir.path(), &clock);
    scheduler.pass(&config);
    config.reports[0].channel = Some("gone".to_owned());
    for minute in ["00", "10"] {
        clock.set(local(&format!("2026-11-23T18:{minute}")));
        assert_eq!(scheduler.pass(&config).failed, 1);
    }
    // The outbox refuses the message to the admin after the last attempt.
    let other = rusqlite::Connection::open(dir.path().join("kw.db")).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(FAIL, 'disk I/O error'); END;",
        )
        .unwrap();
    clock.set(local("2026-11-23T18:20"));
    let log = logged(|| {
        scheduler.pass(&config);
    });
    assert!(
        log.contains("cannot tell the admin that a report failed")
            && log.contains("disk I/O error"),
        "{log}"
    );
    // Not noted as dealt with: the report is tried again, and the admin told.
    other.execute_batch("DROP TRIGGER refuse").unwrap();
    for minute in ["30", "40", "50"] {
        clock.set(local(&format!("2026-11-23T18:{minute}")));
        assert_eq!(scheduler.pass(&config).failed, 1, "18:{minute}");
    }
    assert_eq!(queued(&scheduler).len(), 1, "told once");
}

#[test]
fn report_test_names_who_receives_each_report() {
    let mail: Channel = toml::from_str(
        "name = \"mail\"\ntype = \"email\"\nserver = \"127.0.0.1\"\nfrom = \"kw@example.com\"\nto = [\"admin@example.com\", \"it@example.com\"]",
    )
    .unwrap();
    let mut table = ReportConfig {
        every: "month 1st 08:00".to_owned(),
        channel: Some("mail".to_owned()),
        ..ReportConfig::default()
    };
    assert_eq!(
        recipients(&table, &mail),
        "admin@example.com, it@example.com through \"mail\"",
        "the channel's own addresses"
    );
    table.to = vec!["boss@example.com".to_owned()];
    assert_eq!(
        recipients(&table, &mail),
        "boss@example.com through \"mail\"",
        "the report's addresses instead"
    );
}

/// A clock that fails as a bug in making a report would.
#[derive(Debug)]
struct BrokenClock;

impl Clock for BrokenClock {
    fn now(&self) -> Timestamp {
        panic!("a bug while making a report")
    }
}

#[tokio::test(start_paused = true)]
async fn a_pass_that_panics_ends_scheduled_reports_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
    let (_configs, followed) = watch::channel(config("day 18:00"));
    let lines = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let writer = lines.clone();
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Log(writer.clone()))
            .finish(),
    );
    // It would run for a day: it ends at once, and the test goes on.
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        run(
            Scheduler::new(store, Arc::new(BrokenClock)),
            followed,
            Arc::new(Notify::new()),
            Box::pin(tokio::time::sleep(std::time::Duration::from_secs(86_400))),
        ),
    )
    .await
    .expect("run ends when a pass panics");
    let log = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
    assert!(
        log.contains("scheduled reports stopped") && log.contains("a bug while making a report"),
        "{log}"
    );
}
