use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::vocabulary::metric_names;

const DAY: bool = true;
const NIGHT: bool = false;

fn t(minute: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap() + SignedDuration::from_mins(minute)
}

fn minute(at: Timestamp) -> i64 {
    at.duration_since(t(0)).as_mins()
}

fn disk(instance: &str, minute: i64, value: f64) -> Sample {
    Sample {
        key: SeriesKey::new("host", "disk.used_percent", instance),
        at: t(minute),
        value,
    }
}

fn rule(warning: Option<f64>, critical: Option<f64>, hold_mins: u64) -> RuleConfig {
    RuleConfig {
        name: "disk".to_owned(),
        metric: "disk.used_percent".to_owned(),
        instance: None,
        host: None,
        above: Thresholds { warning, critical },
        off_hours: None,
        hold: Duration::from_mins(hold_mins),
        clear_below: None,
        emergency: None,
    }
}

/// Each event as `"m<minute> <what> <severity> [since m<minute>]"`.
fn describe(event: &AlertEvent) -> String {
    match event {
        AlertEvent::Opened {
            severity, since, ..
        } => format!("opened {severity:?} since m{}", minute(*since)),
        AlertEvent::Escalated {
            severity, since, ..
        } => format!("escalated {severity:?} since m{}", minute(*since)),
        AlertEvent::Resolved { severity, at, .. } => {
            format!("resolved {severity:?} at m{}", minute(*at))
        }
    }
}

/// Walks `steps` of (minute, value, business hours) through a fresh evaluator.
fn walk(rule: &RuleConfig, steps: &[Step]) -> Vec<String> {
    let mut evaluator = Evaluator::new(std::slice::from_ref(rule));
    let mut seen = Vec::new();
    for &(at, value, business_hours) in steps {
        for event in evaluator.observe(&disk("/", at, value), business_hours) {
            seen.push(format!("m{at} {}", describe(&event)));
        }
    }
    seen
}

/// (minute, value, business hours)
type Step = (i64, f64, bool);

/// (what it shows, rule, steps, expected events)
type Case<'a> = (&'a str, &'a RuleConfig, &'a [Step], &'a [&'a str]);

#[test]
fn sequences_produce_exactly_the_expected_events() {
    let warn80_crit90 = rule(Some(80.0), Some(90.0), 0);
    let held5 = rule(Some(80.0), Some(90.0), 5);
    let hysteresis = RuleConfig {
        clear_below: Some(75.0),
        ..rule(Some(80.0), Some(90.0), 0)
    };
    let day_night = RuleConfig {
        off_hours: Some(Thresholds {
            warning: Some(90.0),
            critical: Some(95.0),
        }),
        ..rule(Some(80.0), Some(90.0), 0)
    };
    let night_warning_only = RuleConfig {
        off_hours: Some(Thresholds {
            warning: Some(85.0),
            critical: None,
        }),
        ..rule(Some(80.0), Some(90.0), 0)
    };
    let cases: &[Case] = &[
        (
            "no hold: opens at once, clears below the warning",
            &warn80_crit90,
            &[
                (0, 50.0, DAY),
                (1, 85.0, DAY),
                (2, 82.0, DAY),
                (3, 79.0, DAY),
            ],
            &["m1 opened Warning since m1", "m3 resolved Warning at m3"],
        ),
        (
            "exactly at a threshold is not above it, nor below the clearing level",
            &warn80_crit90,
            &[
                (0, 80.0, DAY),
                (1, 81.0, DAY),
                (2, 80.0, DAY),
                (3, 90.0, DAY),
            ],
            &["m1 opened Warning since m1"],
        ),
        (
            "straight to critical",
            &warn80_crit90,
            &[(0, 95.0, DAY), (1, 10.0, DAY)],
            &["m0 opened Critical since m0", "m1 resolved Critical at m1"],
        ),
        (
            "a spike shorter than the hold time alerts nobody",
            &held5,
            &[
                (0, 95.0, DAY),
                (2, 95.0, DAY),
                (4, 95.0, DAY),
                (5, 50.0, DAY),
            ],
            &[],
        ),
        (
            "a dip during the hold restarts it",
            &held5,
            &[
                (0, 85.0, DAY),
                (3, 70.0, DAY),
                (4, 85.0, DAY),
                (8, 85.0, DAY),
                (9, 85.0, DAY),
            ],
            &["m9 opened Warning since m4"],
        ),
        (
            "held warning escalates once critical is held too, never steps down",
            &held5,
            &[
                (0, 85.0, DAY),
                (5, 92.0, DAY),
                (9, 92.0, DAY),
                (10, 92.0, DAY),
                (11, 85.0, DAY),
                (12, 92.0, DAY),
                (20, 50.0, DAY),
            ],
            &[
                "m5 opened Warning since m0",
                "m10 escalated Critical since m5",
                "m20 resolved Critical at m20",
            ],
        ),
        (
            "critical held from the start opens as critical",
            &held5,
            &[(0, 95.0, DAY), (5, 95.0, DAY), (6, 95.0, DAY)],
            &["m5 opened Critical since m0"],
        ),
        (
            "hysteresis: 85, 79, 86 does not flap; clears below 75",
            &hysteresis,
            &[
                (0, 85.0, DAY),
                (1, 79.0, DAY),
                (2, 86.0, DAY),
                (3, 75.0, DAY),
                (4, 74.9, DAY),
                (5, 79.0, DAY),
            ],
            &["m0 opened Warning since m0", "m4 resolved Warning at m4"],
        ),
        (
            "the same value alerts by day, not at night",
            &day_night,
            &[(0, 85.0, NIGHT), (1, 85.0, DAY), (2, 89.0, NIGHT)],
            &["m1 opened Warning since m1", "m2 resolved Warning at m2"],
        ),
        (
            "night thresholds: warning above 90, critical above 95",
            &day_night,
            &[(0, 92.0, NIGHT), (1, 96.0, NIGHT), (2, 92.0, DAY)],
            &[
                "m0 opened Warning since m0",
                "m1 escalated Critical since m1",
            ],
        ),
        (
            "an off-hours override keeps the day's critical",
            &night_warning_only,
            &[(0, 84.0, NIGHT), (1, 86.0, NIGHT), (2, 91.0, NIGHT)],
            &[
                "m1 opened Warning since m1",
                "m2 escalated Critical since m2",
            ],
        ),
        (
            "only a critical threshold",
            &rule(None, Some(90.0), 0),
            &[(0, 89.0, DAY), (1, 91.0, DAY), (2, 89.0, DAY)],
            &["m1 opened Critical since m1", "m2 resolved Critical at m2"],
        ),
        (
            "only a warning threshold",
            &rule(Some(80.0), None, 0),
            &[(0, 99.0, DAY), (1, 79.0, DAY)],
            &["m0 opened Warning since m0", "m1 resolved Warning at m1"],
        ),
        (
            "a rule without thresholds never alerts",
            &rule(None, None, 0),
            &[(0, 99.0, DAY), (1, -1.0, NIGHT)],
            &[],
        ),
        (
            "a NaN neither opens, resets the hold, nor clears",
            &held5,
            &[
                (0, 85.0, DAY),
                (3, f64::NAN, DAY),
                (5, 85.0, DAY),
                (6, f64::NAN, DAY),
            ],
            &["m5 opened Warning since m0"],
        ),
        (
            "it can open again after resolving",
            &warn80_crit90,
            &[(0, 85.0, DAY), (1, 70.0, DAY), (2, 95.0, DAY)],
            &[
                "m0 opened Warning since m0",
                "m1 resolved Warning at m1",
                "m2 opened Critical since m2",
            ],
        ),
    ];
    for (name, rule, steps, expected) in cases {
        assert_eq!(walk(rule, steps), *expected, "case: {name}");
    }
}

#[test]
fn events_name_the_rule_series_and_value() {
    let mut evaluator = Evaluator::new(&[rule(Some(80.0), None, 0)]);
    let opened = evaluator.observe(&disk("/", 0, 85.0), DAY);
    assert_eq!(
        opened,
        [AlertEvent::Opened {
            rule: "disk".to_owned(),
            key: SeriesKey::new("host", "disk.used_percent", "/"),
            severity: Severity::Warning,
            value: 85.0,
            since: t(0),
        }]
    );
    let resolved = evaluator.observe(&disk("/", 1, 10.0), DAY);
    assert_eq!(
        resolved,
        [AlertEvent::Resolved {
            rule: "disk".to_owned(),
            key: SeriesKey::new("host", "disk.used_percent", "/"),
            severity: Severity::Warning,
            value: 10.0,
            at: t(1),
        }]
    );
}

#[test]
fn series_and_rules_are_tracked_separately_and_forgotten_when_idle() {
    let root_only = RuleConfig {
        name: "root".to_owned(),
        instance: Some("/".to_owned()),
        ..rule(Some(80.0), None, 0)
    };
    let every_disk = rule(Some(90.0), None, 0);
    let mut evaluator = Evaluator::new(&[root_only, every_disk]);
    let rules_of = |events: Vec<AlertEvent>| -> Vec<(String, String)> {
        events
            .into_iter()
            .map(|event| match event {
                AlertEvent::Opened { rule, key, .. } | AlertEvent::Resolved { rule, key, .. } => {
                    (rule, key.instance)
                }
                AlertEvent::Escalated { .. } => unreachable!("no critical threshold"),
            })
            .collect()
    };
    let pair = |rule: &str, instance: &str| (rule.to_owned(), instance.to_owned());

    assert_eq!(
        rules_of(evaluator.observe(&disk("/", 0, 95.0), DAY)),
        [pair("root", "/"), pair("disk", "/")]
    );
    assert_eq!(
        rules_of(evaluator.observe(&disk("/data", 0, 95.0), DAY)),
        [pair("disk", "/data")]
    );
    let other_metric = Sample {
        key: SeriesKey::new("host", "cpu.usage_percent", "/"),
        at: t(0),
        value: 100.0,
    };
    assert!(evaluator.observe(&other_metric, DAY).is_empty());
    assert_eq!(evaluator.tracked(), 3);

    assert_eq!(
        rules_of(evaluator.observe(&disk("/", 1, 10.0), DAY)),
        [pair("root", "/"), pair("disk", "/")]
    );
    assert_eq!(evaluator.tracked(), 1);
    // Below every threshold and nothing open: nothing is kept for the series.
    assert!(evaluator.observe(&disk("/tmp", 1, 10.0), DAY).is_empty());
    assert_eq!(evaluator.tracked(), 1);
}

#[test]
fn thresholds_in_force_and_clearing_levels() {
    let cases = [
        // (day warning, day critical, night override, clear_below, business hours,
        //  expected thresholds, expected clearing level)
        (
            Some(80.0),
            Some(90.0),
            None,
            None,
            DAY,
            (Some(80.0), Some(90.0)),
            Some(80.0),
        ),
        (
            Some(80.0),
            Some(90.0),
            None,
            None,
            NIGHT,
            (Some(80.0), Some(90.0)),
            Some(80.0),
        ),
        (
            Some(80.0),
            Some(90.0),
            Some((Some(85.0), None)),
            None,
            NIGHT,
            (Some(85.0), Some(90.0)),
            Some(85.0),
        ),
        (
            Some(80.0),
            Some(90.0),
            Some((None, Some(99.0))),
            Some(70.0),
            NIGHT,
            (Some(80.0), Some(99.0)),
            Some(70.0),
        ),
        (
            Some(80.0),
            Some(90.0),
            Some((Some(85.0), Some(95.0))),
            None,
            DAY,
            (Some(80.0), Some(90.0)),
            Some(80.0),
        ),
        (
            None,
            Some(90.0),
            None,
            None,
            DAY,
            (None, Some(90.0)),
            Some(90.0),
        ),
        (None, None, None, None, DAY, (None, None), None),
        (None, None, None, Some(5.0), DAY, (None, None), Some(5.0)),
    ];
    for (warning, critical, night, clear_below, business_hours, thresholds, clear) in cases {
        let rule = RuleConfig {
            off_hours: night.map(|(warning, critical)| Thresholds { warning, critical }),
            clear_below,
            ..rule(warning, critical, 0)
        };
        let got = rule.thresholds(business_hours);
        assert_eq!((got.warning, got.critical), thresholds, "{rule:?}");
        assert_eq!(rule.clear_level(business_hours), clear, "{rule:?}");
    }
}

#[test]
fn rules_read_from_toml_with_defaults() {
    let rule: RuleConfig = toml::from_str(
        "name = \"d\"\nmetric = \"disk.used_percent\"\nabove = { warning = 80 }\nfor = \"5m\"\n",
    )
    .unwrap();
    assert_eq!(rule.hold, Duration::from_mins(5));
    assert_eq!(rule.above.warning, Some(80.0));
    assert_eq!(
        (rule.instance, rule.off_hours, rule.clear_below),
        (None, None, None)
    );
    let defaults: RuleConfig = toml::from_str("").unwrap();
    assert_eq!(defaults.hold, Duration::from_secs(0));
    assert!(toml::from_str::<RuleConfig>("hold = \"5m\"").is_err());
}

#[test]
fn rules_may_watch_host_and_service_metrics() {
    let names = metric_names();
    for name in [
        "disk.used_percent",
        "cpu.usage_percent",
        "service.state",
        "service.response_ms",
    ] {
        assert!(names.contains(&name), "{name}");
    }
}

#[test]
fn classification_follows_the_setting_and_a_rule_overrides_it() {
    use Class::{Emergency as E, NonEmergency as N};
    use Emergencies::{AllCritical, CriticalServices, Never};
    use Severity::{Critical, Warning};
    let cases = [
        // (setting, severity, critical service, rule's own say, class)
        (CriticalServices, Critical, true, None, E),
        (CriticalServices, Critical, false, None, N),
        (CriticalServices, Warning, true, None, N),
        (AllCritical, Critical, false, None, E),
        (AllCritical, Warning, true, None, N),
        (Never, Critical, true, None, N),
        (Never, Warning, false, Some(true), E),
        (CriticalServices, Critical, true, Some(false), N),
    ];
    for (setting, severity, critical, rule, class) in cases {
        assert_eq!(
            setting.classify(severity, critical, rule),
            class,
            "{setting:?} {severity:?} critical={critical} rule={rule:?}"
        );
    }
    assert_eq!(Emergencies::default(), CriticalServices);
}

#[test]
fn a_rule_scoped_to_a_host_watches_only_that_host() {
    let web2_only = RuleConfig {
        name: "web2 disk".to_owned(),
        host: Some("web2".to_owned()),
        ..rule(Some(80.0), None, 0)
    };
    let mut evaluator = Evaluator::new(&[web2_only]);
    let on = |host: &str| Sample {
        key: SeriesKey::new(host, "disk.used_percent", "/"),
        at: t(0),
        value: 95.0,
    };
    assert!(evaluator.observe(&on("hub"), true).is_empty());
    let events = evaluator.observe(&on("web2"), true);
    assert!(
        matches!(&events[..], [AlertEvent::Opened { key, .. }] if key.host == "web2"),
        "{events:?}"
    );
}
