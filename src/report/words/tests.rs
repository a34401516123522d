//! The report's sentences on the fixture month's model, changed to reach
//! every case: each failure in plain words, money and lengths as people
//! write them, verdicts without outages or costs, stories of incidents that
//! last or cross midnight, and each kind of outlook line.

use jiff::SignedDuration;

use super::*;
use crate::report::gaps::Gap;
use crate::report::model::{Audience, DiskForecast, Pressure};
use crate::report::tests::{JARGON, at, berlin, config, october, report_of};

fn fixture() -> Report {
    let (store, _dir) = october();
    report_of(&store, &config(), Audience::Executive)
}

#[test]
fn every_failure_reads_in_plain_words() {
    for kind in FailureKind::ALL.into_iter().map(Some).chain([None]) {
        let sentence = failure(kind);
        assert!(
            sentence.starts_with(|c: char| c.is_lowercase()),
            "{kind:?}: \"{sentence}\" continues \"Why: \""
        );
        for word in JARGON {
            assert!(
                !sentence
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w.eq_ignore_ascii_case(word)),
                "{kind:?}: jargon \"{word}\" in \"{sentence}\""
            );
        }
    }
    assert_eq!(failure(None), failure(Some(FailureKind::Other)));
    assert_ne!(
        failure(Some(FailureKind::CertificateExpired)),
        failure(Some(FailureKind::CertificateExpiring))
    );
}

#[test]
fn money_lengths_and_shares_read_as_people_write_them() {
    assert_eq!(money("€", 310.0), "€310");
    assert_eq!(money("€", 1234.5), "€1,234.50");
    assert_eq!(money("$", 1_234_567.0), "$1,234,567");
    assert_eq!(money("£", 0.05), "£0.05");
    assert_eq!(length(0), "0 seconds");
    assert_eq!(length(1_000), "less than a minute");
    assert_eq!(length(29_999), "less than a minute");
    assert_eq!(length(30_000), "1 minute");
    assert_eq!(length(3_600_000 + 5 * 60_000), "1 hour 5 minutes");
    assert_eq!(percent(99.999), "99.99%", "never rounded up");
    assert_eq!(percent(100.0), "100%");
    assert_eq!(percent(0.0), "0.00%");
}

#[test]
fn the_verdict_without_outages_or_costs() {
    let mut report = fixture();
    report.stories.clear();
    report.total_cost = Some(0.0);
    assert_eq!(
        verdict(&report),
        "October 2026: all 5 services were available all the time."
    );
    report.services.truncate(1);
    assert_eq!(
        verdict(&report),
        "October 2026: Shop was available all the time."
    );

    let mut report = fixture();
    report.total_cost = None;
    let outages = report
        .stories
        .iter()
        .filter(|s| s.state == State::Down)
        .count();
    assert_eq!(
        verdict(&report),
        format!(
            "October 2026: Shop was available 99.00% of opening hours. There were {outages} outages."
        )
    );
    report.stories.retain(|s| s.state != State::Down);
    let down = fixture()
        .stories
        .into_iter()
        .find(|s| s.state == State::Down);
    report.stories.extend(down);
    assert!(
        verdict(&report).ends_with(" There was one outage."),
        "{}",
        verdict(&report)
    );
    report.total_cost = Some(406.67);
    assert!(
        verdict(&report).ends_with(" One outage cost an estimated €406.67 in sales."),
        "{}",
        verdict(&report)
    );
    // Without opening hours, the share of the whole time.
    for service in &mut report.services {
        service.open_availability = None;
    }
    assert!(
        verdict(&report).contains("Shop was available 99.05% of the time."),
        "{}",
        verdict(&report)
    );
}

#[test]
fn stories_of_lasting_overnight_closed_and_slow_incidents() {
    let report = fixture();
    let tz = berlin();
    let mut told = report.stories[0].clone();
    told.ended = None;
    told.acked = None;
    told.caused_by = None;
    told.cost = None;
    let text = story(&told, &report, &tz);
    assert!(
        text.starts_with("Shop has been down since Fri 30 Oct, 16:05 (1 hour 55 minutes so far). Why: it answered with an error page. Nobody marked it as taken in hand."),
        "{text}"
    );
    told.ended = Some(at("2026-10-31T01:00"));
    told.open_ms = 0;
    let text = story(&told, &report, &tz);
    assert!(
        text.contains("on Fri 30 Oct, 16:05 to Sat 31 Oct, 01:00")
            && text.ends_with(" It was while you were closed."),
        "{text}"
    );
    told.state = State::Degraded;
    told.open_ms = told.counted_ms;
    let text = story(&told, &report, &tz);
    assert!(text.starts_with("Shop was slow on"), "{text}");
    assert!(
        !text.contains("Nobody"),
        "only an outage needs someone: {text}"
    );
    assert!(
        !text.contains("opening hours"),
        "all of it was open: {text}"
    );
}

#[test]
fn a_service_down_only_while_closed_says_so() {
    let mut report = fixture();
    let shop = &mut report.services[0];
    shop.down_open_ms = 0;
    let line = service_line(shop, &berlin());
    assert!(
        line.contains("Down for about 7 hours, all of it while you were closed."),
        "{line}"
    );
}

#[test]
fn the_cost_note_says_what_it_assumed_or_how_to_add_a_figure() {
    let mut report = fixture();
    assert_eq!(
        cost_note(&report),
        "Estimated cost of the outages: €880. This is a guess at about €400 an hour of sales while open, and a tenth of that while closed."
    );
    report.off_hours_weight = 0.25;
    assert!(cost_note(&report).ends_with("and 25% of that while closed."));
    report.revenue_per_hour = None;
    assert_eq!(
        cost_note(&report),
        "Estimated cost of the outages: €880, from what each service's hour costs in the settings."
    );
    report.total_cost = None;
    assert!(cost_note(&report).contains("Add revenue_per_hour = 400.0"));
}

#[test]
fn the_outlook_tells_gaps_faster_services_near_full_disks_busier_hosts_and_old_certificates() {
    let mut report = fixture();
    let tz = berlin();
    report.gaps = vec![
        Gap {
            host: "web2".to_owned(),
            from: at("2026-10-07T10:00"),
            to: at("2026-10-07T12:30"),
            filled: true,
        },
        Gap {
            host: "web3".to_owned(),
            from: at("2026-10-08T10:00"),
            to: at("2026-10-08T10:20"),
            filled: false,
        },
    ];
    report.services[0].previous_mean_ms = Some(150.0);
    let full = |days: i64| DiskForecast {
        host: "db1".to_owned(),
        disk: "/var".to_owned(),
        used_percent: 91.4,
        per_day: 2.0,
        full_at: report.counted_until + SignedDuration::from_hours(24 * days),
    };
    report.forecasts = vec![full(1), full(9)];
    report.pressure = vec![
        Pressure {
            host: "db1".to_owned(),
            resource: "memory",
            average: 72.0,
            peak: 90.0,
            previous: Some(55.0),
        },
        Pressure {
            host: "db1".to_owned(),
            resource: "cpu",
            average: 40.0,
            peak: 99.0,
            previous: Some(20.0),
        },
        Pressure {
            host: "web1".to_owned(),
            resource: "cpu",
            average: 25.0,
            peak: 60.0,
            previous: Some(20.0),
        },
    ];
    report.certificates[0].expires = at("2026-10-31T12:00");
    let lines = outlook(&report, &tz);
    let expected = [
        "web2 was out of reach from Wed 7 Oct, 10:00 to Wed 7 Oct, 12:30 (2 hours 30 minutes); its measurements arrived afterwards, so nothing is missing.",
        "No data from web3 from Thu 8 Oct, 10:00 to Thu 8 Oct, 10:20 (20 minutes): the server was off, or keepwatch was not running on it. Its services are left out of the figures for that time.",
        "Shop answered 20% faster than in the period before.",
        "The disk \"/var\" of db1 will be full within a day or two, on 2 November, at the current rate. It is 91% full now.",
        "The disk \"/var\" of db1 will be full in about 9 days, on 10 November, at the current rate. It is 91% full now.",
        "The computer db1 was fuller in memory than before: 72% on average, up from 55%.",
        "The computer db1 was busier than before: 40% on average, up from 20%.",
        "The security certificate of Shop ran out on 31 October 2026. It must be renewed now: visitors see a warning.",
    ];
    assert_eq!(lines, expected, "a 5-point rise is not worth a line");
}
