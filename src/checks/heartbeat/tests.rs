//! Heartbeats over simulated weeks: pings at the times a job would send
//! them, judged the way the agent judges them (at each ping and at each
//! `next_look`), in Berlin time across both DST changes of 2026.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::vocabulary::State;

fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").unwrap()
}

/// A Berlin civil time as an instant (the earlier one in a fold, the one
/// after the jump in a gap).
fn local(text: &str) -> Timestamp {
    let civil: DateTime = text.parse().unwrap();
    berlin().to_ambiguous_timestamp(civil).compatible().unwrap()
}

fn spec(text: &str) -> HeartbeatSpec {
    toml::from_str(text).unwrap()
}

fn ping(at: Timestamp, signal: Signal) -> Ping {
    Ping {
        at,
        signal,
        log: None,
    }
}

/// A change of a heartbeat's state, as the agent would record it.
#[derive(Debug, Clone, PartialEq)]
struct Change {
    at: Timestamp,
    state: State,
    kind: Option<FailureKind>,
    sentence: String,
}

/// Walks `spec` from `since` to `until`, taking `pings` as they arrive and
/// judging at each ping and each `next_look`, as the agent does; returns
/// every change of state.
fn walk(spec: &HeartbeatSpec, since: Timestamp, pings: &[Ping], until: Timestamp) -> Vec<Change> {
    let tz = berlin();
    let mut reports = Reports::new(since);
    let mut changes: Vec<Change> = Vec::new();
    let mut pending = pings.iter().peekable();
    let mut now = since;
    loop {
        while let Some(ping) = pending.next_if(|p| p.at <= now) {
            reports.take(ping);
        }
        let judged = spec.judge("Nightly backup", &reports, now, &tz);
        if changes
            .last()
            .is_none_or(|last| last.state != judged.outcome.state)
        {
            changes.push(Change {
                at: now,
                state: judged.outcome.state,
                kind: judged.outcome.kind,
                sentence: judged.outcome.explanation.clone(),
            });
        }
        let next_ping = pending.peek().map(|p| p.at);
        let next = [judged.next_look, next_ping]
            .into_iter()
            .flatten()
            .min()
            .filter(|at| *at <= until);
        match next {
            Some(at) => {
                assert!(at > now, "time moves on: {at} after {now}");
                now = at;
            }
            None => return changes,
        }
    }
}

/// The job of a crontab line `5 2 * * *` (minute 5 of 02:00) run by cron,
/// pinging when done `took` later, every day of `days` from `first` (a
/// Berlin date), skipping the days in `skipped`.
fn nightly(first: &str, days: i32, took: SignedDuration, skipped: &[i32]) -> Vec<Ping> {
    let first: jiff::civil::Date = first.parse().unwrap();
    (0..days)
        .filter(|day| !skipped.contains(day))
        .map(|day| {
            let date = first.checked_add(jiff::Span::new().days(day)).unwrap();
            let start = local(&format!("{date}T02:05"));
            ping(start + took, Signal::Success)
        })
        .collect()
}

fn states(changes: &[Change]) -> Vec<(State, Option<FailureKind>)> {
    changes.iter().map(|c| (c.state, c.kind)).collect()
}

#[test]
fn a_daily_job_that_reports_every_night_for_two_weeks_is_never_late() {
    let every = spec("every = \"1d\"\ngrace = \"1h\"");
    let since = local("2026-11-16T09:00");
    let pings = nightly("2026-11-17", 14, SignedDuration::from_mins(20), &[]);
    let changes = walk(&every, since, &pings, local("2026-11-30T12:00"));
    assert_eq!(states(&changes), [(State::Up, None)], "{changes:#?}");
}

#[test]
fn a_missed_night_is_down_at_the_deadline_in_words_and_up_at_the_next_report() {
    let every = spec("every = \"1d\"\ngrace = \"1h\"");
    let since = local("2026-11-16T09:00");
    // Reports at 02:25 each night; the night to Wednesday 25th is missed.
    let pings = nightly("2026-11-17", 7, SignedDuration::from_mins(20), &[1]);
    let changes = walk(&every, since, &pings, local("2026-11-24T03:00"));
    assert_eq!(
        states(&changes),
        [
            (State::Up, None),
            (State::Down, Some(FailureKind::Missed)),
            (State::Up, None)
        ]
    );
    // The deadline: a day after Tuesday 02:25, plus the hour of grace.
    assert_eq!(changes[1].at, local("2026-11-18T03:25"));
    assert_eq!(
        changes[1].sentence,
        "Nightly backup has not reported since Tuesday 02:25 (expected daily by 03:25)."
    );
    assert_eq!(changes[2].at, local("2026-11-19T02:25"));
    assert_eq!(
        changes[2].sentence,
        "Nightly backup reported at 02:25; next report expected daily by Friday 03:25."
    );
}

#[test]
fn a_cron_schedule_follows_local_time_across_the_spring_dst_change() {
    // Berlin jumps from 02:00 to 03:00 on Sunday 29 March 2026: cron runs
    // the 02:05 job right after the jump, at 03:00, and it reports at 03:20.
    let cron = spec("schedule = \"5 2 * * *\"\ngrace = \"1h\"");
    let since = local("2026-03-23T09:00");
    let mut pings = nightly("2026-03-24", 12, SignedDuration::from_mins(20), &[5]);
    pings.push(ping(local("2026-03-29T03:20"), Signal::Success));
    pings.sort_by_key(|p| p.at);
    let changes = walk(&cron, since, &pings, local("2026-04-05T00:00"));
    assert_eq!(states(&changes), [(State::Up, None)], "{changes:#?}");

    // Without that night's report, the alarm is one hour after the jump
    // (01:00 UTC + grace), not at a 02:05 that never came.
    pings.retain(|p| p.at != local("2026-03-29T03:20"));
    let changes = walk(&cron, since, &pings, local("2026-04-05T00:00"));
    assert_eq!(
        states(&changes),
        [
            (State::Up, None),
            (State::Down, Some(FailureKind::Missed)),
            (State::Up, None)
        ]
    );
    assert_eq!(changes[1].at, "2026-03-29T02:00:00Z".parse().unwrap());
    assert_eq!(
        changes[1].sentence,
        "Nightly backup has not reported since Saturday 02:25 (expected daily at 02:05 by 04:00)."
    );
    assert_eq!(changes[2].at, local("2026-03-30T02:25"));
}

#[test]
fn a_cron_schedule_follows_local_time_across_the_autumn_dst_change() {
    // Berlin goes back from 03:00 to 02:00 on Sunday 25 October 2026; cron
    // runs the 02:05 job once, in the first 02:05.
    let cron = spec("schedule = \"5 2 * * *\"\ngrace = \"30m\"");
    let since = local("2026-10-19T09:00");
    let pings = nightly("2026-10-20", 12, SignedDuration::from_mins(20), &[]);
    assert_eq!(pings[5].at, "2026-10-25T00:25:00Z".parse().unwrap());
    let changes = walk(&cron, since, &pings, local("2026-11-01T00:00"));
    assert_eq!(states(&changes), [(State::Up, None)], "{changes:#?}");

    // A report missed on the day after: late at 02:35 local, an hour later
    // in UTC than before the change.
    let pings = nightly("2026-10-20", 12, SignedDuration::from_mins(20), &[6]);
    let changes = walk(&cron, since, &pings, local("2026-11-01T00:00"));
    assert_eq!(changes[1].at, "2026-10-26T01:35:00Z".parse().unwrap());
    assert_eq!(changes[1].kind, Some(FailureKind::Missed));
}

#[test]
fn a_weekday_schedule_is_not_late_over_the_weekend() {
    let cron = spec("schedule = \"0 18 * * mon-fri\"\ngrace = \"2h\"");
    let since = local("2026-11-16T09:00");
    let pings: Vec<Ping> = ["16", "17", "18", "19", "20", "23", "24", "25", "26", "27"]
        .iter()
        .map(|day| ping(local(&format!("2026-11-{day}T18:10")), Signal::Success))
        .collect();
    let changes = walk(&cron, since, &pings, local("2026-11-29T23:00"));
    assert_eq!(states(&changes), [(State::Up, None)], "{changes:#?}");
    let judged = cron.judge(
        "Export",
        &pings.iter().fold(Reports::new(since), |mut r, p| {
            r.take(p);
            r
        }),
        local("2026-11-28T12:00"),
        &berlin(),
    );
    assert_eq!(
        judged.outcome.explanation,
        "Export reported on Friday at 18:10; next report expected on the schedule \"0 18 * * mon-fri\" by Monday 20:00."
    );
    assert_eq!(judged.next_look, Some(local("2026-11-30T20:00")));
}

#[test]
fn a_reported_failure_is_down_at_once_with_its_exit_code_and_output_until_a_success() {
    let every = spec("every = \"1d\"");
    let since = local("2026-11-16T09:00");
    let mut failed = ping(local("2026-11-17T02:14"), Signal::exit(3));
    failed.log = Some("\n  tar: /srv/data: Cannot open: Permission denied\nmore\n".to_owned());
    let pings = [
        ping(local("2026-11-17T02:00"), Signal::Start),
        failed,
        ping(local("2026-11-18T02:00"), Signal::Start),
        ping(local("2026-11-18T02:30"), Signal::Success),
    ];
    let changes = walk(&every, since, &pings, local("2026-11-18T12:00"));
    assert_eq!(
        states(&changes),
        [
            (State::Up, None),
            (State::Down, Some(FailureKind::ReportedFailure)),
            (State::Up, None)
        ]
    );
    assert_eq!(changes[1].at, local("2026-11-17T02:14"));
    assert_eq!(
        changes[1].sentence,
        "Nightly backup reported a failure (exit code 3) at 02:14: \"tar: /srv/data: Cannot open: Permission denied\"."
    );
    assert_eq!(
        changes[2].at,
        local("2026-11-18T02:30"),
        "the start alone is no recovery"
    );

    let mut reports = Reports::new(since);
    reports.take(&ping(local("2026-11-17T02:14"), Signal::Failure(None)));
    let judged = every.judge("Backup", &reports, local("2026-11-20T02:14"), &berlin());
    assert_eq!(
        judged.outcome.explanation,
        "Backup reported a failure on Tuesday at 02:14."
    );
    assert_eq!(judged.next_look, None, "only a ping changes it");
}

#[test]
fn a_run_that_goes_on_too_long_is_down_after_its_max_runtime() {
    let limited = spec("every = \"1d\"\ngrace = \"1h\"\nmax_runtime = \"4h\"");
    let since = local("2026-11-16T09:00");
    let pings = [
        ping(local("2026-11-17T02:00"), Signal::Start),
        ping(local("2026-11-17T05:30"), Signal::Success),
        ping(local("2026-11-18T02:00"), Signal::Start),
        ping(local("2026-11-18T07:00"), Signal::Success),
    ];
    let changes = walk(&limited, since, &pings, local("2026-11-18T12:00"));
    assert_eq!(
        states(&changes),
        [
            (State::Up, None),
            (State::Down, Some(FailureKind::RunningTooLong)),
            (State::Up, None)
        ]
    );
    assert_eq!(changes[1].at, local("2026-11-18T06:00"));
    assert_eq!(
        changes[1].sentence,
        "Nightly backup started at 02:00 and has not finished after 4 hours."
    );

    let mut reports = Reports::new(since);
    reports.take(&pings[0]);
    let judged = limited.judge("Backup", &reports, local("2026-11-17T03:00"), &berlin());
    assert_eq!(
        judged.outcome.explanation,
        "Backup started at 02:00 and is running (it may take until 06:00)."
    );
    assert_eq!(judged.next_look, Some(local("2026-11-17T06:00")));

    // Without `max_runtime`, the grace is the limit.
    let graced = spec("every = \"1d\"\ngrace = \"90m\"");
    let judged = graced.judge("Backup", &reports, local("2026-11-17T03:30"), &berlin());
    assert_eq!(judged.outcome.kind, Some(FailureKind::RunningTooLong));
    assert_eq!(
        judged.outcome.explanation,
        "Backup started at 02:00 and has not finished after 1 hour 30 minutes."
    );
}

#[test]
fn a_start_after_the_deadline_does_not_excuse_a_late_report() {
    let every = spec("every = \"1d\"\ngrace = \"1h\"\nmax_runtime = \"6h\"");
    let since = local("2026-11-16T09:00");
    let pings = [
        ping(local("2026-11-17T02:00"), Signal::Success),
        ping(local("2026-11-18T04:00"), Signal::Start),
        ping(local("2026-11-18T04:30"), Signal::Success),
    ];
    let changes = walk(&every, since, &pings, local("2026-11-18T12:00"));
    assert_eq!(
        states(&changes),
        [
            (State::Up, None),
            (State::Down, Some(FailureKind::Missed)),
            (State::Up, None)
        ]
    );
    assert_eq!(changes[1].at, local("2026-11-18T03:00"));
    assert_eq!(changes[2].at, local("2026-11-18T04:30"), "not at the start");
}

#[test]
fn a_job_that_never_reports_is_down_one_period_after_it_was_set_up() {
    let every = spec("every = \"6h\"\ngrace = \"15m\"");
    let since = local("2026-11-16T09:00");
    let reports = Reports::new(since);
    let first = every.judge("Export", &reports, since, &berlin());
    assert_eq!(
        first.outcome.explanation,
        "Export has not reported yet; first report expected every 6 hours by 15:15."
    );
    assert_eq!(first.next_look, Some(local("2026-11-16T15:15")));
    let late = every.judge("Export", &reports, local("2026-11-17T10:00"), &berlin());
    assert_eq!(late.outcome.kind, Some(FailureKind::Missed));
    assert_eq!(
        late.outcome.explanation,
        "Export has never reported (expected every 6 hours by Monday 15:15)."
    );
}

#[test]
fn periods_are_worded_the_way_people_say_them() {
    let words = |text: &str| spec(text).expected();
    assert_eq!(words("every = \"1m\""), "every minute");
    assert_eq!(words("every = \"60m\""), "hourly");
    assert_eq!(words("every = \"24h\""), "daily");
    assert_eq!(words("every = \"1w\""), "weekly");
    assert_eq!(words("every = \"2d\""), "every 2 days");
    assert_eq!(words("schedule = \"15 * * * *\""), "hourly at :15");
    assert_eq!(words("grace = \"1h\""), "on its schedule");
}

#[test]
fn without_a_next_time_a_heartbeat_is_never_late() {
    // Config validation refuses both; judging stays sensible anyway.
    let since = local("2026-11-16T09:00");
    let far = local("2027-11-16T09:00");
    for text in ["grace = \"1h\"", "schedule = \"0 0 30 2 *\""] {
        let never = spec(text);
        let mut reports = Reports::new(since);
        let judged = never.judge("Export", &reports, far, &berlin());
        assert_eq!(judged.outcome.explanation, "Export has not reported yet.");
        assert_eq!((judged.outcome.state, judged.next_look), (State::Up, None));
        reports.take(&ping(since, Signal::Success));
        let judged = never.judge("Export", &reports, far, &berlin());
        assert_eq!(
            judged.outcome.explanation,
            "Export last reported on 16 November 2026 at 09:00."
        );
        assert_eq!(judged.outcome.state, State::Up);
    }
}

#[test]
fn ping_urls_speak_healthchecks_grammar() {
    assert_eq!(Signal::parse(None), Some(Signal::Success));
    assert_eq!(Signal::parse(Some("")), Some(Signal::Success));
    assert_eq!(Signal::parse(Some("start")), Some(Signal::Start));
    assert_eq!(Signal::parse(Some("fail")), Some(Signal::Failure(None)));
    assert_eq!(Signal::parse(Some("0")), Some(Signal::Success));
    assert_eq!(Signal::parse(Some("3")), Some(Signal::Failure(Some(3))));
    assert_eq!(Signal::parse(Some("255")), Some(Signal::Failure(Some(255))));
    assert_eq!(Signal::parse(Some("256")), None);
    assert_eq!(Signal::parse(Some("-1")), None);
    assert_eq!(Signal::parse(Some("log")), None);
    assert_eq!(Signal::exit(0), Signal::Success);
    assert_eq!(Signal::exit(-9), Signal::Failure(Some(-9)));
}

#[test]
fn settings_mistakes_are_found_with_their_key_and_a_fix() {
    let keys = |text: &str| -> Vec<(&'static str, String)> {
        spec(text)
            .problems()
            .into_iter()
            .map(|p| (p.key, p.message))
            .collect()
    };
    assert_eq!(
        keys("every = \"1d\"\ngrace = \"1h\"\nmax_runtime = \"4h\""),
        []
    );
    assert_eq!(keys("schedule = \"0 2 * * *\""), []);
    let missing = spec("grace = \"1h\"").problems();
    assert_eq!(missing[0].key, "type");
    assert!(missing[0].message.contains("needs `every` or `schedule`"));
    assert!(
        missing[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("every = \"1d\"")
    );
    assert_eq!(
        keys("every = \"1d\"\nschedule = \"0 2 * * *\""),
        [(
            "schedule",
            "a heartbeat has `every` or `schedule`, not both".to_owned()
        )]
    );
    assert_eq!(
        keys("every = \"500ms\""),
        [(
            "every",
            "500ms is too short: the job must report at least once a second".to_owned()
        )]
    );
    assert_eq!(
        keys("schedule = \"0 0 31 4 *\""),
        [("schedule", "\"0 0 31 4 *\" never happens".to_owned())]
    );
    let zero = keys("every = \"1d\"\ngrace = \"off\"\nmax_runtime = \"0s\"");
    assert_eq!(
        zero.iter().map(|(key, _)| *key).collect::<Vec<_>>(),
        ["grace", "max_runtime"]
    );
    assert!(zero[0].1.starts_with("must be at least 1s"));
}

#[test]
fn unknown_settings_and_bad_schedules_are_refused_when_read() {
    let err = toml::from_str::<HeartbeatSpec>("every = \"1d\"\ngrase = \"1h\"").unwrap_err();
    assert!(
        err.message().starts_with("unknown field `grase`"),
        "{}",
        err.message()
    );
    let err = toml::from_str::<HeartbeatSpec>("schedule = \"0 25 * * *\"").unwrap_err();
    assert!(
        err.message().contains("hour field's 0–23"),
        "{}",
        err.message()
    );
    assert_eq!(spec("every = \"1d\"").grace, Duration::from_hours(1));
}
