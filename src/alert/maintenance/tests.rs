use jiff::SignedDuration;

use super::*;

fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").unwrap()
}

/// A Berlin wall-clock time (`"2026-11-22 02:00"`); in a repeated hour, its
/// first pass.
fn local(text: &str) -> Timestamp {
    resolve(&berlin(), text.parse().unwrap()).unwrap()
}

fn utc(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn repeating(every: Every, from: &str, until: &str) -> MaintenanceConfig {
    MaintenanceConfig {
        name: "Backups".to_owned(),
        every: Some(every),
        from: Some(from.to_owned()),
        until: Some(until.to_owned()),
        ..MaintenanceConfig::default()
    }
}

fn weekly(every: &str, from: &str, until: &str) -> Window {
    repeating(Every::One(every.to_owned()), from, until)
        .parse()
        .unwrap()
}

fn once_config(start: &str, end: &str) -> MaintenanceConfig {
    MaintenanceConfig {
        name: "Migration".to_owned(),
        start: Some(start.to_owned()),
        end: Some(end.to_owned()),
        ..MaintenanceConfig::default()
    }
}

fn once(start: &str, end: &str) -> Window {
    once_config(start, end).parse().unwrap()
}

const HOST: Target<'static> = Target {
    host: "web1",
    service: None,
};

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// 16 to 22 November 2026, Monday to Sunday, at 03:00 in Berlin.
fn week_at_three() -> [Timestamp; 7] {
    std::array::from_fn(|day| local(&format!("2026-11-{} 03:00", 16 + day)))
}

#[test]
fn every_weekday_form_covers_exactly_its_days() {
    let week = week_at_three();
    for (index, name) in WEEKDAYS.iter().enumerate() {
        let window = weekly(name, "02:00", "04:00");
        for (day, at) in week.iter().enumerate() {
            assert_eq!(
                window.covers(*at, &berlin(), &HOST),
                day == index,
                "every = {name:?} on day {day}"
            );
        }
    }
    let forms: [(Every, [bool; 7]); 5] = [
        (
            Every::One(" Sunday ".to_owned()),
            [false, false, false, false, false, false, true],
        ),
        (Every::One("DAY".to_owned()), [true; 7]),
        (
            Every::Days(owned(&["saturday", "sunday"])),
            [false, false, false, false, false, true, true],
        ),
        (
            Every::Days(owned(&["monday", "Wednesday", "monday"])),
            [true, false, true, false, false, false, false],
        ),
        (Every::Days(owned(&["day"])), [true; 7]),
    ];
    for (every, expected) in forms {
        let window = repeating(every.clone(), "02:00", "04:00").parse().unwrap();
        let covered = week.map(|at| window.covers(at, &berlin(), &HOST));
        assert_eq!(covered, expected, "{every:?}");
    }
}

#[test]
fn windows_cover_from_their_start_up_to_but_not_including_their_end() {
    let sunday = weekly("sunday", "02:00", "04:00");
    let saturday_night = weekly("saturday", "23:00", "01:00");
    let late = weekly("day", "22:00", "24:00");
    let all_day = weekly("day", "00:00", "24:00");
    let weekend = weekly("friday", "18:00", "06:00");
    let migration = once("2026-12-05 22:00", "2026-12-06 02:00");
    let cases: &[(&str, &Window, &str, bool)] = &[
        ("before the start", &sunday, "2026-11-22 01:59:59", false),
        ("the start is covered", &sunday, "2026-11-22 02:00", true),
        ("inside", &sunday, "2026-11-22 03:59:59", true),
        ("the end is not", &sunday, "2026-11-22 04:00", false),
        ("the day before", &sunday, "2026-11-21 03:00", false),
        ("a week later", &sunday, "2026-11-29 02:30", true),
        (
            "before the night",
            &saturday_night,
            "2026-11-21 22:59",
            false,
        ),
        (
            "the night starts",
            &saturday_night,
            "2026-11-21 23:00",
            true,
        ),
        ("past midnight", &saturday_night, "2026-11-22 00:30", true),
        ("the night ends", &saturday_night, "2026-11-22 01:00", false),
        (
            "Friday's night is not in it",
            &saturday_night,
            "2026-11-21 00:30",
            false,
        ),
        (
            "Sunday night is not",
            &saturday_night,
            "2026-11-22 23:30",
            false,
        ),
        ("24:00 runs to midnight", &late, "2026-11-18 23:59:59", true),
        ("and not past it", &late, "2026-11-19 00:00", false),
        ("22:00 is in", &late, "2026-11-19 22:00", true),
        ("all day from midnight", &all_day, "2026-11-16 00:00", true),
        ("all day at noon", &all_day, "2026-11-18 12:00", true),
        (
            "all day at the last second",
            &all_day,
            "2026-11-22 23:59:59",
            true,
        ),
        ("over the weekend", &weekend, "2026-11-21 05:59", true),
        ("weekend over", &weekend, "2026-11-21 06:00", false),
        ("one-off before", &migration, "2026-12-05 21:59:59", false),
        ("one-off start", &migration, "2026-12-05 22:00", true),
        (
            "one-off past midnight",
            &migration,
            "2026-12-06 01:59:59",
            true,
        ),
        ("one-off end", &migration, "2026-12-06 02:00", false),
        ("one-off is once", &migration, "2026-12-12 23:00", false),
    ];
    for (what, window, at, expected) in cases {
        assert_eq!(
            window.covers(local(at), &berlin(), &HOST),
            *expected,
            "{what}: {at}"
        );
    }
}

#[test]
fn targets_are_covered_by_service_by_host_or_by_a_window_naming_nothing() {
    let named = |services: &[&str], hosts: &[&str]| Window {
        services: owned(services),
        hosts: owned(hosts),
        ..weekly("day", "00:00", "24:00")
    };
    let both = named(&["Shop"], &["db1"]);
    let services = named(&["Shop", "Mail"], &[]);
    let hosts = named(&[], &["db1"]);
    let everything = named(&[], &[]);
    let target = |host, service| Target { host, service };
    let cases = [
        (
            "the service listed",
            &both,
            target("web1", Some("Shop")),
            true,
        ),
        (
            "a host metric of the host listed",
            &both,
            target("db1", None),
            true,
        ),
        (
            "another service on the host listed",
            &both,
            target("db1", Some("Backup")),
            true,
        ),
        (
            "a host metric of another host",
            &both,
            target("web1", None),
            false,
        ),
        (
            "another service elsewhere",
            &both,
            target("web1", Some("Backup")),
            false,
        ),
        (
            "services only: a listed one",
            &services,
            target("web1", Some("Mail")),
            true,
        ),
        (
            "services only: a host metric",
            &services,
            target("web1", None),
            false,
        ),
        (
            "names are exact",
            &services,
            target("web1", Some("shop")),
            false,
        ),
        (
            "hosts only: its service",
            &hosts,
            target("db1", Some("Shop")),
            true,
        ),
        (
            "hosts only: another host",
            &hosts,
            target("web1", Some("Shop")),
            false,
        ),
        (
            "nothing named: a host metric",
            &everything,
            target("web1", None),
            true,
        ),
        (
            "nothing named: a service",
            &everything,
            target("db9", Some("Any")),
            true,
        ),
    ];
    let at = local("2026-11-18 12:00");
    for (what, window, target, expected) in cases {
        assert_eq!(window.covers(at, &berlin(), &target), expected, "{what}");
        assert_eq!(
            covering(std::slice::from_ref(window), at, &berlin(), &target).is_some(),
            expected,
            "{what}"
        );
    }
    let sunday_shop = Window {
        services: owned(&["Shop"]),
        ..weekly("sunday", "02:00", "04:00")
    };
    assert!(
        !sunday_shop.covers(at, &berlin(), &target("web1", Some("Shop"))),
        "a named target outside the window's time"
    );
    assert_eq!(both.services(), ["Shop"]);
    assert_eq!(both.hosts(), ["db1"]);
}

#[test]
fn spring_forward_moves_a_start_in_the_skipped_hour_to_the_clocks_jump() {
    // 29 March 2026, Europe/Berlin: at 02:00 CET (01:00 UTC) the clocks show 03:00 CEST.
    let tz = berlin();
    let sunday = weekly("sunday", "02:00", "04:00");
    for (at, expected) in [
        ("2026-03-29T00:59:59Z", false), // 01:59:59 CET
        ("2026-03-29T01:00:00Z", true),  // 03:00 CEST: the window starts, an hour short
        ("2026-03-29T01:59:59Z", true),
        ("2026-03-29T02:00:00Z", false), // 04:00 CEST
        ("2026-03-22T01:00:00Z", true),  // a week before, 02:00 CET
        ("2026-03-22T02:59:59Z", true),
        ("2026-04-05T00:00:00Z", true), // a week after, 02:00 CEST
    ] {
        assert_eq!(sunday.covers(utc(at), &tz, &HOST), expected, "{at}");
    }
    assert_eq!(
        sunday.active_until(utc("2026-03-29T01:00:00Z"), &tz),
        Some(utc("2026-03-29T02:00:00Z"))
    );
    assert_eq!(
        sunday.next_start(utc("2026-03-28T12:00:00Z"), &tz),
        Some(utc("2026-03-29T01:00:00Z"))
    );

    // Saturday 23:00 CET to Sunday 03:00 CEST: three real hours, not four.
    let night = weekly("saturday", "23:00", "03:00");
    assert!(!night.covers(utc("2026-03-28T21:59:59Z"), &tz, &HOST));
    assert!(night.covers(utc("2026-03-28T22:00:00Z"), &tz, &HOST));
    assert_eq!(
        night.active_until(utc("2026-03-28T22:00:00Z"), &tz),
        Some(utc("2026-03-29T01:00:00Z"))
    );
    assert!(!night.covers(utc("2026-03-29T01:00:00Z"), &tz, &HOST));

    // 02:15-03:00 lies wholly in the skipped hour: no window that night.
    let skipped = weekly("sunday", "02:15", "03:00");
    for at in [
        "2026-03-29T00:59:59Z",
        "2026-03-29T01:00:00Z",
        "2026-03-29T01:15:00Z",
        "2026-03-29T01:30:00Z",
    ] {
        assert!(!skipped.covers(utc(at), &tz, &HOST), "{at}");
    }
    assert_eq!(
        skipped.next_start(utc("2026-03-28T12:00:00Z"), &tz),
        Some(utc("2026-04-05T00:15:00Z")),
        "the next one is a week later, 02:15 CEST"
    );
    assert_eq!(
        skipped.next_start(utc("2026-03-21T12:00:00Z"), &tz),
        Some(utc("2026-03-22T01:15:00Z")),
        "the week before, 02:15 CET"
    );

    // One-off windows follow the same rule.
    let late_start = once("2026-03-29 02:30", "2026-03-29 04:00");
    assert!(!late_start.covers(utc("2026-03-29T01:29:59Z"), &tz, &HOST));
    assert!(late_start.covers(utc("2026-03-29T01:30:00Z"), &tz, &HOST));
    let vanished = once("2026-03-29 02:30", "2026-03-29 03:00");
    assert!(!vanished.covers(utc("2026-03-29T01:00:00Z"), &tz, &HOST));
    assert!(!vanished.covers(utc("2026-03-29T01:30:00Z"), &tz, &HOST));
    assert_eq!(vanished.next_start(utc("2026-03-28T00:00:00Z"), &tz), None);
}

#[test]
fn fall_back_covers_the_repeated_hour_both_times() {
    // 25 October 2026, Europe/Berlin: at 03:00 CEST (01:00 UTC) the clocks show 02:00 CET.
    let tz = berlin();
    let sunday = weekly("sunday", "02:00", "04:00");
    for (at, expected) in [
        ("2026-10-24T23:59:59Z", false), // 01:59:59 CEST
        ("2026-10-25T00:00:00Z", true),  // the first 02:00, CEST
        ("2026-10-25T00:59:59Z", true),
        ("2026-10-25T01:00:00Z", true), // the second 02:00, CET
        ("2026-10-25T02:59:59Z", true),
        ("2026-10-25T03:00:00Z", false), // 04:00 CET
    ] {
        assert_eq!(sunday.covers(utc(at), &tz, &HOST), expected, "{at}");
    }
    assert_eq!(
        sunday.active_until(utc("2026-10-25T00:00:00Z"), &tz),
        Some(utc("2026-10-25T03:00:00Z")),
        "three real hours"
    );

    // An end in the repeated hour is its first pass.
    let early = weekly("sunday", "01:00", "02:30");
    for (at, expected) in [
        ("2026-10-24T23:00:00Z", true),  // 01:00 CEST
        ("2026-10-25T00:29:59Z", true),  // 02:29:59 CEST
        ("2026-10-25T00:30:00Z", false), // the first 02:30
        ("2026-10-25T01:15:00Z", false), // the second 02:15, CET
    ] {
        assert_eq!(early.covers(utc(at), &tz, &HOST), expected, "{at}");
    }

    // A start in the repeated hour is its first pass too.
    let late = weekly("sunday", "02:30", "03:30");
    for (at, expected) in [
        ("2026-10-25T00:29:59Z", false),
        ("2026-10-25T00:30:00Z", true), // the first 02:30, CEST
        ("2026-10-25T02:29:59Z", true),
        ("2026-10-25T02:30:00Z", false), // 03:30 CET
    ] {
        assert_eq!(late.covers(utc(at), &tz, &HOST), expected, "{at}");
    }
    assert_eq!(
        late.next_start(utc("2026-10-24T12:00:00Z"), &tz),
        Some(utc("2026-10-25T00:30:00Z"))
    );

    // Instants know no DST.
    let ad_hoc = Window::ad_hoc(
        "router swap",
        utc("2026-10-25T00:00:00Z"),
        utc("2026-10-25T02:00:00Z"),
        Vec::new(),
    );
    assert!(ad_hoc.covers(utc("2026-10-25T01:59:59Z"), &tz, &HOST));
    assert!(!ad_hoc.covers(utc("2026-10-25T02:00:00Z"), &tz, &HOST));
}

#[test]
fn ad_hoc_windows_cover_their_services_between_two_instants() {
    let tz = berlin();
    let start = utc("2026-11-18T10:00:00Z");
    let end = start + SignedDuration::from_hours(1);
    let shop = Window::ad_hoc("disk swap", start, end, owned(&["Shop"]));
    let on = |service| Target {
        host: "web1",
        service,
    };
    assert_eq!(shop.name(), "disk swap");
    assert_eq!(shop.services(), ["Shop"]);
    assert!(shop.hosts().is_empty());
    for (at, target, expected) in [
        (
            start - SignedDuration::from_secs(1),
            on(Some("Shop")),
            false,
        ),
        (start, on(Some("Shop")), true),
        (end - SignedDuration::from_secs(1), on(Some("Shop")), true),
        (end, on(Some("Shop")), false),
        (start, on(Some("Mail")), false),
        (start, on(None), false),
    ] {
        assert_eq!(shop.covers(at, &tz, &target), expected, "{at} {target:?}");
    }
    assert_eq!(shop.active_until(start, &tz), Some(end));
    assert_eq!(shop.active_until(end, &tz), None);
    assert_eq!(
        shop.next_start(start - SignedDuration::from_mins(5), &tz),
        Some(start)
    );
    assert_eq!(shop.next_start(start, &tz), None, "it has begun");

    let whole_host = Window::ad_hoc("reboot", start, end, Vec::new());
    assert!(whole_host.covers(start, &tz, &on(None)));
    let backwards = Window::ad_hoc("typo", end, start, Vec::new());
    assert!(!backwards.covers(start, &tz, &on(None)));
    assert_eq!(
        backwards.next_start(start - SignedDuration::from_hours(2), &tz),
        None
    );
}

/// (what it shows, window, local time, active until, next start)
type Expected<'a> = (
    &'a str,
    &'a Window,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
);

#[test]
fn active_until_and_next_start_find_the_occurrence_in_force_and_the_next() {
    let tz = berlin();
    let sunday = weekly("sunday", "02:00", "04:00");
    let nightly = weekly("day", "22:00", "02:00");
    let migration = once("2026-12-05 22:00", "2026-12-06 02:00");
    let cases: &[Expected] = &[
        // (what, window, at, active until, next start)
        (
            "Saturday",
            &sunday,
            "2026-11-21 12:00",
            None,
            Some("2026-11-22 02:00"),
        ),
        (
            "just before",
            &sunday,
            "2026-11-22 01:59",
            None,
            Some("2026-11-22 02:00"),
        ),
        (
            "at the start: the next one",
            &sunday,
            "2026-11-22 02:00",
            Some("2026-11-22 04:00"),
            Some("2026-11-29 02:00"),
        ),
        (
            "at the end",
            &sunday,
            "2026-11-22 04:00",
            None,
            Some("2026-11-29 02:00"),
        ),
        (
            "past midnight",
            &nightly,
            "2026-11-17 01:00",
            Some("2026-11-17 02:00"),
            Some("2026-11-17 22:00"),
        ),
        (
            "before midnight",
            &nightly,
            "2026-11-17 23:00",
            Some("2026-11-18 02:00"),
            Some("2026-11-18 22:00"),
        ),
        (
            "in the day",
            &nightly,
            "2026-11-17 12:00",
            None,
            Some("2026-11-17 22:00"),
        ),
        (
            "before the one-off",
            &migration,
            "2026-12-01 12:00",
            None,
            Some("2026-12-05 22:00"),
        ),
        (
            "in the one-off",
            &migration,
            "2026-12-06 01:00",
            Some("2026-12-06 02:00"),
            None,
        ),
        (
            "after the one-off",
            &migration,
            "2026-12-06 02:00",
            None,
            None,
        ),
    ];
    for (what, window, at, until, next) in cases {
        let at = local(at);
        assert_eq!(
            window.active_until(at, &tz),
            until.map(local),
            "{what}: active until"
        );
        assert_eq!(
            window.next_start(at, &tz),
            next.map(local),
            "{what}: next start"
        );
    }
}

#[test]
fn covering_picks_the_window_in_force_longest() {
    let tz = berlin();
    let backups = Window {
        name: "Sunday backups".to_owned(),
        ..weekly("sunday", "00:00", "04:00")
    };
    let migration = Window {
        services: owned(&["Shop"]),
        ..once("2026-12-05 22:00", "2026-12-06 02:00")
    };
    let mail = Window {
        name: "mail move".to_owned(),
        services: owned(&["Mail"]),
        ..weekly("day", "00:00", "06:00")
    };
    let windows = [backups, migration, mail];
    let shop = Target {
        host: "web1",
        service: Some("Shop"),
    };
    let name = |at: &str, target: &Target<'_>| {
        covering(&windows, local(at), &tz, target).map(Window::name)
    };
    assert_eq!(
        name("2026-12-06 01:00", &shop),
        Some("Sunday backups"),
        "ends at 04:00, not 02:00"
    );
    assert_eq!(
        name("2026-12-05 23:00", &shop),
        Some("Migration"),
        "the only one in force"
    );
    assert_eq!(
        name("2026-12-06 05:00", &shop),
        None,
        "mail move does not name the shop"
    );
    let mail_target = Target {
        host: "web1",
        service: Some("Mail"),
    };
    assert_eq!(name("2026-12-06 01:00", &mail_target), Some("mail move"));
    assert_eq!(covering(&[], local("2026-12-06 01:00"), &tz, &shop), None);

    let first = Window {
        name: "first".to_owned(),
        ..weekly("day", "00:00", "04:00")
    };
    let second = Window {
        name: "second".to_owned(),
        ..first.clone()
    };
    assert_eq!(
        covering(&[first, second], local("2026-12-06 01:00"), &tz, &shop).map(Window::name),
        Some("second"),
        "of equals, the last listed"
    );
}

#[test]
fn problems_name_the_key_and_the_fix() {
    let bad_every = |every: Every| repeating(every, "02:00", "04:00");
    let bad_times =
        |from: &str, until: &str| repeating(Every::One("sunday".to_owned()), from, until);
    let cases: Vec<(&str, MaintenanceConfig, Vec<&str>)> = vec![
        (
            "nothing at all",
            MaintenanceConfig::default(),
            vec![
                "name: missing: messages need it, e.g. name = \"Sunday backups\"",
                "start: no time given: write start = \"2026-12-05 22:00\" and end = \"2026-12-06 02:00\" for a one-off window, or every = \"sunday\", from = \"02:00\" and until = \"04:00\" for a repeating one",
            ],
        ),
        (
            "both kinds",
            MaintenanceConfig {
                every: Some(Every::One("sunday".to_owned())),
                ..once_config("2026-12-05 22:00", "2026-12-06 02:00")
            },
            vec![
                "every: a window is either one-off (start and end) or repeating (every, from and until), not both: remove one of them",
            ],
        ),
        (
            "from with a one-off",
            MaintenanceConfig {
                from: Some("02:00".to_owned()),
                ..once_config("2026-12-05 22:00", "2026-12-06 02:00")
            },
            vec![
                "every: a window is either one-off (start and end) or repeating (every, from and until), not both: remove one of them",
            ],
        ),
        (
            "start without end",
            MaintenanceConfig {
                end: None,
                ..once_config("2026-12-05 22:00", "")
            },
            vec![
                "end: missing: a one-off window needs start and end, e.g. end = \"2026-12-06 02:00\"",
            ],
        ),
        (
            "end without start",
            MaintenanceConfig {
                start: None,
                ..once_config("", "2026-12-06 02:00")
            },
            vec![
                "start: missing: a one-off window needs start and end, e.g. start = \"2026-12-05 22:00\"",
            ],
        ),
        (
            "a date written another way",
            once_config("5.12.2026 22:00", "2026-12-06T02:00"),
            vec![
                "start: \"5.12.2026 22:00\" is not a date and time: write it like \"2026-12-05 22:00\"",
                "end: \"2026-12-06T02:00\" is not a date and time: write it like \"2026-12-05 22:00\"",
            ],
        ),
        (
            "start after end",
            once_config("2026-12-06 02:00", "2026-12-05 22:00"),
            vec![
                "start: \"2026-12-06 02:00\" is not before end \"2026-12-05 22:00\": the window would be empty; put the end after the start",
            ],
        ),
        (
            "start equal to end",
            once_config("2026-12-06 02:00", "2026-12-06 02:00"),
            vec![
                "start: \"2026-12-06 02:00\" is not before end \"2026-12-06 02:00\": the window would be empty; put the end after the start",
            ],
        ),
        (
            "a weekday misspelt",
            bad_every(Every::One("sundy".to_owned())),
            vec!["every: \"sundy\" is not a weekday; did you mean \"sunday\"?"],
        ),
        (
            "an abbreviation",
            bad_every(Every::One("Sun".to_owned())),
            vec!["every: \"Sun\" is not a weekday; did you mean \"sunday\"?"],
        ),
        (
            "nothing like a weekday",
            bad_every(Every::One("1st of the month".to_owned())),
            vec![
                "every: \"1st of the month\" is not a weekday; write a weekday such as \"sunday\", \"day\" for every day, or a list such as [\"saturday\", \"sunday\"]",
            ],
        ),
        (
            "a misspelt weekday in a list",
            bad_every(Every::Days(owned(&["saturday", "Sundy"]))),
            vec!["every: \"Sundy\" is not a weekday; did you mean \"sunday\"?"],
        ),
        (
            "an empty list",
            bad_every(Every::Days(Vec::new())),
            vec![
                "every: the list is empty: name at least one weekday, e.g. every = [\"saturday\", \"sunday\"]",
            ],
        ),
        (
            "every without times",
            MaintenanceConfig {
                from: None,
                until: None,
                ..bad_times("", "")
            },
            vec![
                "from: missing: a repeating window needs every, from and until, e.g. from = \"02:00\"",
                "until: missing: a repeating window needs every, from and until, e.g. until = \"04:00\"",
            ],
        ),
        (
            "times without every",
            MaintenanceConfig {
                every: None,
                ..bad_times("02:00", "04:00")
            },
            vec![
                "every: missing: a repeating window needs every, from and until, e.g. every = \"sunday\"",
            ],
        ),
        (
            "times written another way",
            bad_times("2am", "25:00"),
            vec![
                "from: \"2am\" is not a time of day: write it as HH:MM, e.g. \"09:00\" or \"17:30\"",
                "until: \"25:00\" is not a time of day: write it as HH:MM, e.g. \"09:00\" or \"17:30\"",
            ],
        ),
        (
            "from 24:00",
            bad_times("24:00", "02:00"),
            vec![
                "from: \"24:00\" is the end of a day: a window starting at midnight starts at \"00:00\" of the next day",
            ],
        ),
        (
            "no length",
            bad_times("02:00", "02:00"),
            vec![
                "until: equals from (\"02:00\"), so the window has no length: for a whole day write from = \"00:00\" and until = \"24:00\"",
            ],
        ),
        (
            "every problem at once",
            MaintenanceConfig {
                name: "  ".to_owned(),
                ..repeating(Every::One("sundy".to_owned()), "2am", "04:00")
            },
            vec![
                "name: missing: messages need it, e.g. name = \"Sunday backups\"",
                "every: \"sundy\" is not a weekday; did you mean \"sunday\"?",
                "from: \"2am\" is not a time of day: write it as HH:MM, e.g. \"09:00\" or \"17:30\"",
            ],
        ),
        (
            "a valid window without a name",
            MaintenanceConfig {
                name: String::new(),
                ..bad_times("02:00", "04:00")
            },
            vec!["name: missing: messages need it, e.g. name = \"Sunday backups\""],
        ),
    ];
    for (what, config, expected) in cases {
        assert_eq!(config.parse(), Err(owned(&expected)), "{what}");
    }
}

#[test]
fn valid_tables_parse_into_windows() {
    let window = MaintenanceConfig {
        name: " Sunday backups ".to_owned(),
        services: owned(&["Shop"]),
        hosts: owned(&["db1"]),
        ..repeating(Every::One("sunday".to_owned()), " 02:00", "04:00 ")
    }
    .parse()
    .unwrap();
    assert_eq!(window.name(), "Sunday backups");
    assert_eq!(window.services(), ["Shop"]);
    assert_eq!(window.hosts(), ["db1"]);
    assert_eq!(
        window.when,
        When::Weekly {
            days: 1 << 6,
            from: Time::constant(2, 0, 0, 0),
            until: Time::constant(4, 0, 0, 0),
        }
    );
    assert_eq!(
        weekly("day", "00:00", "24:00").when,
        When::Weekly {
            days: EVERY_DAY,
            from: Time::midnight(),
            until: Time::midnight(),
        },
        "24:00 is midnight of the next day"
    );
    assert_eq!(
        once(" 2026-12-05 22:00", "2026-12-06 02:00").when,
        When::Once {
            start: DateTime::constant(2026, 12, 5, 22, 0, 0, 0),
            end: DateTime::constant(2026, 12, 6, 2, 0, 0, 0),
        }
    );
}

#[test]
fn a_one_off_window_beyond_the_last_instant_covers_nothing() {
    // The last instant jiff knows is 9999-12-30T22:00Z; the end cannot be resolved.
    let far = once("9999-12-30 00:00", "9999-12-31 23:00");
    let at = utc("9999-12-30T12:00:00Z");
    assert!(!far.covers(at, &TimeZone::UTC, &HOST));
    assert_eq!(
        far.next_start(utc("2026-01-01T00:00:00Z"), &TimeZone::UTC),
        None
    );
}

/// `[[maintenance]]` tables as they appear in keepwatch.toml.
#[derive(Debug, Deserialize, Serialize, PartialEq)]
struct File {
    maintenance: Vec<MaintenanceConfig>,
}

#[test]
fn config_tables_read_every_form_and_round_trip() {
    let text = r#"
        [[maintenance]]
        name = "Sunday backups"
        every = "sunday"
        from = "02:00"
        until = "04:00"

        [[maintenance]]
        name = "Weekend deploys"
        services = ["Shop"]
        every = ["saturday", "sunday"]
        from = "23:00"
        until = "01:00"

        [[maintenance]]
        name = "Server move"
        hosts = ["db1"]
        start = "2026-12-05 22:00"
        end = "2026-12-06 02:00"
    "#;
    let file: File = toml::from_str(text).unwrap();
    assert_eq!(
        file.maintenance[0].every,
        Some(Every::One("sunday".to_owned()))
    );
    assert_eq!(
        file.maintenance[1].every,
        Some(Every::Days(owned(&["saturday", "sunday"])))
    );
    assert_eq!(file.maintenance[2].hosts, ["db1"]);
    for table in &file.maintenance {
        assert!(table.parse().is_ok(), "{table:?}");
    }
    let written = toml::to_string(&file).unwrap();
    let first = written.split("[[maintenance]]").nth(1).unwrap_or_default();
    for absent in ["services", "hosts", "start", "end"] {
        assert!(
            !first.contains(absent),
            "only the keys given are written: {first}"
        );
    }
    assert_eq!(toml::from_str::<File>(&written).unwrap(), file);

    let typo = toml::from_str::<File>("[[maintenance]]\nname = \"x\"\nform = \"02:00\"\n");
    assert!(
        typo.unwrap_err()
            .to_string()
            .contains("unknown field `form`")
    );
    let number = toml::from_str::<File>("[[maintenance]]\nevery = 7\n");
    let err = number.unwrap_err().to_string();
    assert!(err.contains("a weekday such as \"sunday\""), "{err}");
}
