//! The report on bad input and at the edges: the command line's choices of
//! period and format, DST days, empty periods, renamed and removed services,
//! odd settings. The fixture month comes from `tests.rs`.

use jiff::civil::date;
use jiff::tz::TimeZone;

use super::model::{Audience, Inputs, build};
use super::tests::{at, berlin, config, october, outage, report_of};
use super::{Format, period_for, render};
use crate::calendar::Calendar;
use crate::vocabulary::{FailureKind, State};

#[test]
fn the_command_line_period_is_a_name_or_two_dates_never_both() {
    let tz = berlin();
    let now = at("2026-11-18T10:00");
    let week = period_for(None, None, None, now, &tz).unwrap();
    assert_eq!(
        (week.first, week.end),
        (date(2026, 11, 16), date(2026, 11, 23)),
        "this week without a choice"
    );
    let month = period_for(Some("last-month"), None, None, now, &tz).unwrap();
    assert_eq!(month.label, "October 2026");
    let days = period_for(None, Some("2026-11-01"), Some("2026-11-30"), now, &tz).unwrap();
    assert_eq!(
        (days.first, days.end),
        (date(2026, 11, 1), date(2026, 12, 1))
    );

    let cases = [
        (
            Some("today"),
            Some("2026-11-01"),
            None,
            "give either --period or --from and --to, not both",
        ),
        (
            Some("today"),
            None,
            Some("2026-11-30"),
            "give either --period or --from and --to, not both",
        ),
        (
            None,
            Some("2026-11-01"),
            None,
            "--from needs --to as well, e.g. --from 2026-11-01 --to 2026-11-30",
        ),
        (
            None,
            None,
            Some("2026-11-30"),
            "--to needs --from as well, e.g. --from 2026-11-01 --to 2026-11-30",
        ),
    ];
    for (period, from, to, expected) in cases {
        assert_eq!(
            period_for(period, from, to, now, &tz).unwrap_err(),
            expected,
            "{period:?} {from:?} {to:?}"
        );
    }
    let err = period_for(Some("last-mnth"), None, None, now, &tz).unwrap_err();
    assert!(
        err.starts_with("--period last-mnth: unknown period; use one of today, yesterday"),
        "{err}"
    );
    let err = period_for(None, Some("2026-11-31"), Some("2026-12-01"), now, &tz).unwrap_err();
    assert_eq!(
        err,
        "--from 2026-11-31: not a date; write it like 2026-11-01"
    );
}

#[test]
fn each_format_renders_the_same_report_and_a_typo_names_the_choices() {
    assert_eq!("text".parse::<Format>(), Ok(Format::Text));
    assert_eq!("html".parse::<Format>(), Ok(Format::Html));
    assert_eq!("pdf".parse::<Format>(), Ok(Format::Pdf));
    assert_eq!(
        "PDF ".parse::<Format>(),
        Err("--format PDF : unknown format; use text, html or pdf".to_owned())
    );

    let (store, _dir) = october();
    let report = report_of(&store, &config(), Audience::Executive);
    let title = "Zoë's Café: how our systems did, October 2026";
    let text = String::from_utf8(render(&report, Format::Text).unwrap()).unwrap();
    assert!(text.starts_with(title), "{text}");
    let html = String::from_utf8(render(&report, Format::Html).unwrap()).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains("Zoë&#39;s Café: how our systems did"),
        "{html}"
    );
    assert!(html.contains("data:image/png;base64,"), "charts inline");
    let pdf = render(&report, Format::Pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
}

#[test]
fn response_percentiles_are_the_ranks_of_the_sorted_answers() {
    use super::model::response_figures;
    assert_eq!(response_figures(Vec::new()), None);
    let mut seed = 7_u64;
    for n in [1, 2, 3, 4, 20, 21, 1001] {
        let values: Vec<f64> = (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 40) as f64 / 1000.0
            })
            .collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = |share: f64| sorted[((n - 1) as f64 * share).round() as usize];
        let figures = response_figures(values).unwrap();
        assert_eq!(
            (figures.count, figures.p50, figures.p95, figures.max),
            (n, rank(0.5), rank(0.95), sorted[n - 1]),
            "{n} answers"
        );
    }
}

#[test]
fn a_rating_just_below_target_says_so_in_words_and_colour() {
    use super::model::{Rating, trend};
    assert_eq!(Rating::of(99.9, 99.9), Rating::OnTarget);
    let near = Rating::of(99.85, 99.9);
    assert_eq!(
        (near, near.words(), near.colour()),
        (Rating::NearTarget, "just below target", "#b35900")
    );
    assert_eq!(Rating::of(99.7, 99.9), Rating::BelowTarget);
    assert_eq!(trend(120.0, 0.0), None, "nothing to compare with");
    assert_eq!(trend(105.0, 100.0), None, "5% is not a trend");
}

#[test]
fn busier_hosts_odd_disks_planned_outages_and_told_channels_in_the_model() {
    use crate::observation::{Sample, SeriesKey};
    use crate::vocabulary::metric;
    let (mut store, _dir) = october();
    let mut samples = Vec::new();
    // CPU at 20% in September and 40% in October; memory steady at 50%.
    for (month, cpu) in [(9, 20.0), (10, 40.0)] {
        for day in 1..=28 {
            let when = at(&format!("2026-{month:02}-{day:02}T12:00"));
            samples.push(Sample {
                key: SeriesKey::new("db1", metric::CPU_USAGE_PERCENT, ""),
                at: when,
                value: cpu + f64::from(day % 2),
            });
            samples.push(Sample {
                key: SeriesKey::new("db1", metric::MEMORY_USED_PERCENT, ""),
                at: when,
                value: 50.0,
            });
        }
    }
    // A computer that stopped reporting in September: no figures for October.
    samples.push(Sample {
        key: SeriesKey::new("old1", metric::CPU_USAGE_PERCENT, ""),
        at: at("2026-09-20T12:00"),
        value: 90.0,
    });
    // Disks that will not fill up in the next 90 days, or cannot be told.
    let disk = |name: &str, day: u32, hour: u32, value: f64| Sample {
        key: SeriesKey::new("db1", metric::DISK_USED_PERCENT, name),
        at: at(&format!("2026-10-{day:02}T{hour:02}:00")),
        value,
    };
    for day in 18..=31 {
        samples.push(disk("/shrinking", day, 12, 80.0 - f64::from(day)));
        samples.push(disk("/full", day, 12, 100.0));
        samples.push(disk("/slow", day, 12, 10.0 + f64::from(day) * 0.1));
    }
    samples.push(disk("/new", 31, 10, 50.0));
    samples.push(disk("/new", 31, 12, 60.0));
    samples.push(disk("/old", 1, 12, 60.0));
    store.write(&samples).unwrap();
    // A Shop outage wholly inside its planned work of 13 October, 09:00-10:00.
    outage(
        &mut store,
        "Shop",
        State::Down,
        FailureKind::HttpStatus,
        "2026-10-13T09:05",
        "2026-10-13T09:20",
    );
    // The fixture's alert was told to the mail channel.
    let alert = store
        .alerts_between(at("2026-10-01T00:00"), at("2026-11-01T00:00"))
        .unwrap()[0]
        .id;
    store
        .add_notice(alert, "mail", "opened", at("2026-10-06T10:00"))
        .unwrap();
    let notices: Vec<i64> = store
        .waiting_notices()
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    store
        .enqueue_message("mail", "{}", &notices, at("2026-10-06T10:00"))
        .unwrap();

    let report = report_of(&store, &config(), Audience::Technical);
    let pressure: Vec<_> = report
        .pressure
        .iter()
        .map(|p| (p.host.as_str(), p.resource, p.average, p.peak, p.previous))
        .collect();
    assert_eq!(
        pressure,
        [
            ("db1", "cpu", 40.5, 41.0, Some(20.5)),
            ("db1", "memory", 50.0, 50.0, Some(50.0)),
        ]
    );
    let disks: Vec<&str> = report.forecasts.iter().map(|f| f.disk.as_str()).collect();
    assert_eq!(
        disks,
        ["/"],
        "only the fixture's disk fills up within 90 days"
    );
    assert!(
        report
            .stories
            .iter()
            .all(|s| s.started != at("2026-10-13T09:05")),
        "an outage during planned work is no story"
    );
    assert_eq!(report.alerts.per_channel.get("mail"), Some(&1));
    let text = super::text::render(&report);
    for line in [
        "  sent to mail: 1\n",
        "Host db1 cpu: average 40.5%, peak 41.0% (previous average 20.5%)\n",
        "Host db1 memory: average 50.0%, peak 50.0% (previous average 50.0%)\n",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    assert!(!text.contains("old1"), "{text}");
    let outlook = super::words::outlook(&report, &berlin()).join("\n");
    assert!(
        outlook.contains("The computer db1 was busier than before: 40% on average, up from 20%."),
        "{outlook}"
    );

    let calendar = Calendar::from_config(&config().business, TimeZone::UTC).unwrap();
    let period = super::Period::between("2026-10-01", "2026-10-31", &berlin()).unwrap();
    let alone = build(&Inputs {
        store: &store,
        config: &config(),
        calendar: &calendar,
        period,
        previous: None,
        now: at("2026-11-02T08:00"),
        audience: Audience::Technical,
    })
    .unwrap();
    assert!(alone.services.iter().all(|s| s.previous_mean_ms.is_none()));
    assert!(alone.pressure.iter().all(|p| p.previous.is_none()));
}

#[test]
fn an_empty_period_and_the_admins_numbers_render_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(
        &dir.path().join("kw.db"),
        &crate::store::StorageConfig::default(),
    )
    .unwrap();
    let empty = report_of(&store, &config(), Audience::Executive);
    let html = String::from_utf8(render(&empty, Format::Html).unwrap()).unwrap();
    assert!(html.contains("no records"), "{html}");
    assert!(
        html.contains("Nothing: no outages and no slow spells."),
        "{html}"
    );
    assert!(render(&empty, Format::Pdf).unwrap().starts_with(b"%PDF-"));

    let (mut store, _dir) = october();
    store
        .record_event(
            at("2026-10-09T03:00"),
            "throttle",
            "checks slowed down: the computer was busy",
        )
        .unwrap();
    let technical = report_of(&store, &config(), Audience::Technical);
    let html = String::from_utf8(render(&technical, Format::Html).unwrap()).unwrap();
    assert!(html.contains("Numbers for the admin"), "{html}");
    let text = String::from_utf8(render(&technical, Format::Text).unwrap()).unwrap();
    assert!(
        text.contains("  Fri 9 Oct, 03:00: checks slowed down: the computer was busy\n"),
        "{text}"
    );
}

#[test]
fn on_a_hub_an_agents_services_carry_its_name_and_its_time_without_data_is_left_out() {
    use crate::observation::{Sample, SeriesKey};
    use crate::store::{Arrival, StorageConfig, Store};
    use crate::vocabulary::service_metric;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.db"), &StorageConfig::default()).unwrap();
    // web2 checked its shop every day of October at 00:05.
    let checks: Vec<Sample> = (1..=31)
        .map(|day| Sample {
            key: SeriesKey::new("web2", service_metric::STATE, "shop"),
            at: at(&format!("2026-10-{day:02}T00:05")),
            value: 0.0,
        })
        .collect();
    store
        .take_batch(
            &Arrival {
                host: "web2",
                session: "s1",
                seq: 1,
                upto_ms: at("2026-10-31T00:05").as_millisecond(),
                sent_ms: at("2026-10-31T00:05").as_millisecond(),
                version: "0.1.0",
                samples: &checks,
                incidents: &[],
                services: &[],
            },
            at("2026-10-31T00:06"),
        )
        .unwrap();
    // It was off for the whole of 10 October: nothing of it arrived.
    store.silence_began("web2", at("2026-10-10T00:00")).unwrap();
    store.silence_ended("web2", at("2026-10-11T00:00")).unwrap();
    let mut hub = config();
    hub.services.clear();
    let report = report_of(&store, &hub, Audience::Executive);
    let names: Vec<&str> = report.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web2/shop"]);
    let shop = &report.services[0];
    assert_eq!(shop.checks, 31);
    // 1 October 00:00 to its last check, 31 October 00:05 (721 hours 5
    // minutes, with the hour the clocks went back), less the day without data.
    assert_eq!(
        shop.counted_ms,
        (721 * 60 + 5 - 24 * 60) * super::tests::MIN
    );
    assert_eq!(shop.availability, Some(100.0));
}
