//! The report model against a month of known incidents, with every figure
//! worked out by hand, and the text renderer on that model.
//!
//! October 2026 in Berlin: 31 days, and the clocks go back on Sunday 25
//! October, so the month has 745 hours (44,700 minutes). Open Monday to
//! Friday 09:00-17:00, closed on the holiday Friday 2 October: 21 open days,
//! 168 open hours (10,080 minutes).

use jiff::civil::{DateTime, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::model::{Audience, Inputs, Rating, Report, build};
use super::period::Period;
use super::{text, words};
use crate::alert::MaintenanceConfig;
use crate::calendar::Calendar;
use crate::checks::ServiceSpec;
use crate::config::Config;
use crate::observation::{Sample, SeriesKey};
use crate::store::StorageConfig;
use crate::store::{NewAlert, Store};
use crate::vocabulary::Severity;
use crate::vocabulary::metric;
use crate::vocabulary::service_metric;
use crate::vocabulary::{FailureKind, State};

pub(super) const HOST: &str = "web1";

pub(super) fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").unwrap()
}

/// A local time in Berlin.
pub(super) fn at(text: &str) -> Timestamp {
    let local: DateTime = text.parse().unwrap();
    local.to_zoned_datetime(berlin()).unwrap().timestamp()
}

pub(super) fn service(toml: &str) -> ServiceSpec {
    toml::from_str(toml).unwrap()
}

pub(super) fn config() -> Config {
    let mut config = Config::default();
    config.business.name = "Zoë's Café".to_owned();
    config.business.timezone = "Europe/Berlin".to_owned();
    config.business.holidays = vec!["2026-10-02".to_owned()];
    config.business.revenue_per_hour = 400.0;
    config.services = vec![
        service(
            "name = \"Shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\ncritical = true\ndepends_on = [\"Database\"]",
        ),
        service("name = \"Database\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 2"),
        service(
            "name = \"Payments\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 3\nexternal = true\nrevenue_share = 0.5",
        ),
        service("name = \"Newsletter\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 4"),
        service("name = \"Łódź 東京 depot\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 5"),
    ];
    config.maintenance = vec![
        toml::from_str::<MaintenanceConfig>(
            "name = \"Shop update\"\nservices = [\"Shop\"]\nstart = \"2026-10-13 09:00\"\nend = \"2026-10-13 10:00\"",
        )
        .unwrap(),
    ];
    config
}

pub(super) fn state(name: &str, when: Timestamp) -> Sample {
    Sample {
        key: SeriesKey::new(HOST, service_metric::STATE, name),
        at: when,
        value: 0.0,
    }
}

pub(super) fn outage(
    store: &mut Store,
    name: &str,
    state: State,
    kind: FailureKind,
    from: &str,
    to: &str,
) {
    store
        .record_transition(name, at(from), state, Some(kind), "what the check saw")
        .unwrap();
    store
        .record_transition(name, at(to), State::Up, None, "fine")
        .unwrap();
}

/// The fixture month in a real SQLite file.
pub(super) fn october() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
    let mut samples = vec![
        state("Shop", at("2026-10-01T00:00")),
        state("Database", at("2026-10-01T00:01")),
        state("Payments", at("2026-10-01T00:02")),
        state("Newsletter", at("2026-10-15T12:00")),
        state("Łódź 東京 depot", at("2026-10-01T00:03")),
    ];
    for day in 18..=31 {
        samples.push(Sample {
            key: SeriesKey::new(HOST, metric::DISK_USED_PERCENT, "/"),
            at: at(&format!("2026-10-{day}T12:00")),
            value: 50.0 + f64::from(day - 18),
        });
    }
    for (month, ms) in [(9, 100.0), (10, 120.0)] {
        for day in 1..=28 {
            samples.push(Sample {
                key: SeriesKey::new(HOST, service_metric::RESPONSE_MS, "Shop"),
                at: at(&format!("2026-{month:02}-{day:02}T08:00")),
                value: ms,
            });
        }
    }
    samples.push(Sample {
        key: SeriesKey::new(HOST, service_metric::CERTIFICATE_EXPIRES, "Shop"),
        at: at("2026-10-31T12:00"),
        value: at("2026-11-20T00:00").as_second() as f64,
    });
    store.write(&samples).unwrap();

    use FailureKind::*;
    outage(
        &mut store,
        "Shop",
        State::Down,
        HttpStatus,
        "2026-10-06T10:00",
        "2026-10-06T10:30",
    );
    outage(
        &mut store,
        "Shop",
        State::Down,
        Timeout,
        "2026-10-10T02:00",
        "2026-10-10T03:00",
    );
    // 01:30 summer time to 03:30 winter time: three hours of real time.
    store
        .record_transition(
            "Shop",
            at("2026-10-25T01:30"),
            State::Down,
            Some(ConnectionRefused),
            "refused",
        )
        .unwrap();
    let back = "2026-10-25T03:30".parse::<DateTime>().unwrap();
    let back = berlin().to_ambiguous_timestamp(back).later().unwrap();
    store
        .record_transition("Shop", back, State::Up, None, "fine")
        .unwrap();
    outage(
        &mut store,
        "Shop",
        State::Down,
        HttpStatus,
        "2026-10-13T09:30",
        "2026-10-13T10:15",
    );
    outage(
        &mut store,
        "Shop",
        State::Down,
        HttpStatus,
        "2026-10-02T11:00",
        "2026-10-02T11:20",
    );
    outage(
        &mut store,
        "Database",
        State::Down,
        ConnectionRefused,
        "2026-10-30T16:00",
        "2026-11-01T01:00",
    );
    outage(
        &mut store,
        "Shop",
        State::Down,
        HttpStatus,
        "2026-10-30T16:05",
        "2026-10-30T18:00",
    );
    outage(
        &mut store,
        "Payments",
        State::Degraded,
        Slow,
        "2026-10-21T12:00",
        "2026-10-21T13:00",
    );
    outage(
        &mut store,
        "Newsletter",
        State::Down,
        Timeout,
        "2026-10-20T09:00",
        "2026-10-20T09:10",
    );

    let alert = store
        .insert_alert(&NewAlert {
            fingerprint: "service:Shop",
            service: Some("Shop"),
            host: HOST,
            title: "Shop is down",
            detail: "503",
            severity: Severity::Critical,
            emergency: true,
            opened_at: at("2026-10-06T10:00"),
            policy: None,
            silenced: None,
            flapping: false,
            cause: None,
        })
        .unwrap();
    store
        .acknowledge(alert, "Sam", at("2026-10-06T10:12"))
        .unwrap();
    (store, dir)
}

pub(super) fn report_of(store: &Store, config: &Config, audience: Audience) -> Report {
    let calendar = Calendar::from_config(&config.business, TimeZone::UTC).unwrap();
    let tz = berlin();
    let period = Period::between("2026-10-01", "2026-10-31", &tz).unwrap();
    let inputs = Inputs {
        store,
        config,
        calendar: &calendar,
        previous: period.previous(&tz).ok(),
        period,
        now: at("2026-11-02T08:00"),
        audience,
    };
    build(&inputs).unwrap()
}

pub(super) const MIN: i64 = 60_000;

#[test]
fn the_fixture_month_matches_the_hand_computed_figures() {
    let (store, _dir) = october();
    let report = report_of(&store, &config(), Audience::Executive);
    let figures = |name: &str| {
        let s = report.services.iter().find(|s| s.name == name).unwrap();
        (
            s.counted_ms / MIN,
            s.counted_open_ms / MIN,
            s.down_ms / MIN,
            s.down_open_ms / MIN,
            s.degraded_ms / MIN,
            s.maintenance_ms / MIN,
            s.cost,
        )
    };
    // (counted, counted open, down, down open, degraded, maintenance, cost)
    let cases = [
        // 44,700 less the hour of maintenance; down 30 + 60 (night) + 180
        // (DST night) + 15 (after maintenance) + 20 (holiday) + 115 (55 open).
        // Cost: 100 open minutes at 400/h + 320 closed minutes at 40/h.
        ("Shop", (44_640, 10_020, 420, 100, 0, 60, Some(880.00))),
        // 30 Oct 16:00 to the month's end: 32 hours, one of them open.
        ("Database", (44_700, 10_080, 1_920, 60, 0, 0, Some(0.0))),
        ("Payments", (44_700, 10_080, 0, 0, 60, 0, Some(0.0))),
        // Added 15 Oct 12:00: 397 hours (with the DST hour), 93 open hours.
        ("Newsletter", (23_820, 5_580, 10, 10, 0, 0, Some(0.0))),
    ];
    for (name, expected) in cases {
        assert_eq!(figures(name), expected, "{name}");
    }
    let shop = &report.services[0];
    assert_eq!(shop.name, "Shop", "critical services come first");
    assert_eq!(words::percent(shop.availability.unwrap()), "99.05%");
    assert_eq!(words::percent(shop.open_availability.unwrap()), "99.00%");
    assert_eq!(shop.rating, Some(Rating::BelowTarget));
    assert_eq!(shop.target, 99.9);
    let newsletter = report
        .services
        .iter()
        .find(|s| s.name == "Newsletter")
        .unwrap();
    assert_eq!(newsletter.added_during, Some(at("2026-10-15T12:00")));
    assert_eq!(words::percent(newsletter.availability.unwrap()), "99.95%");
    assert_eq!(newsletter.rating, Some(Rating::OnTarget));
    assert_eq!(report.total_cost, Some(880.00));
}

#[test]
fn incidents_are_told_worst_first_with_cause_and_acknowledgement() {
    let (store, _dir) = october();
    let report = report_of(&store, &config(), Audience::Executive);
    let costs: Vec<(&str, Option<f64>, i64)> = report
        .stories
        .iter()
        .map(|s| (s.service.as_str(), s.cost, s.counted_ms / MIN))
        .collect();
    assert_eq!(
        costs[..6],
        [
            ("Shop", Some(406.67), 115),
            ("Shop", Some(200.0), 30),
            ("Shop", Some(120.0), 180),
            ("Shop", Some(100.0), 15),
            ("Shop", Some(40.0), 60),
            ("Shop", Some(13.33), 20),
        ]
    );
    let worst = &report.stories[0];
    assert_eq!(worst.caused_by.as_deref(), Some("Database"));
    assert_eq!(worst.open_ms / MIN, 55);
    let acked = report.stories.iter().find(|s| s.acked.is_some()).unwrap();
    assert_eq!(acked.started, at("2026-10-06T10:00"));
    assert_eq!(
        acked.acked,
        Some(("Sam".to_owned(), SignedDuration::from_mins(12)))
    );
    let slow = report.stories.last().unwrap();
    assert_eq!(
        (slow.service.as_str(), slow.state),
        ("Payments", State::Degraded)
    );
}

#[test]
fn trends_forecasts_and_certificates_come_from_history() {
    let (store, _dir) = october();
    let report = report_of(&store, &config(), Audience::Executive);
    let shop = &report.services[0];
    assert_eq!(shop.previous_mean_ms, Some(100.0));
    assert_eq!(shop.response.as_ref().map(|r| r.mean), Some(120.0));
    let disk = &report.forecasts[0];
    assert_eq!((disk.host.as_str(), disk.disk.as_str()), (HOST, "/"));
    // A point a day at local noon; the day the clocks go back is 25 hours long.
    assert!((disk.per_day - 1.0).abs() < 0.01, "{}", disk.per_day);
    // 63% on 31 October at noon, one point a day: full 37 days later.
    assert_eq!(
        disk.full_at.to_zoned_datetime(berlin()).date(),
        date(2026, 12, 7)
    );
    assert_eq!(report.certificates.len(), 1);
    let outlook = words::outlook(&report, &berlin()).join("\n");
    assert!(outlook.contains("Shop answered 20% slower"), "{outlook}");
    assert!(
        outlook.contains("of web1 will be full in about 5 weeks, on 7 December"),
        "{outlook}"
    );
    assert!(
        outlook.contains("certificate of Shop runs out on 20 November 2026"),
        "{outlook}"
    );
}

/// The Flesch–Kincaid grade of a text (syllables counted by vowel groups).
fn grade(text: &str) -> f64 {
    let sentences = text
        .split(['.', '!', '?', '\n'])
        .filter(|s| {
            s.split_whitespace()
                .any(|w| w.chars().any(char::is_alphabetic))
        })
        .count()
        .max(1) as f64;
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .collect();
    let syllables: usize = words
        .iter()
        .map(|word| {
            let word = word.to_lowercase();
            let mut count = 0;
            let mut previous = false;
            for c in word.chars() {
                let vowel = "aeiouy".contains(c);
                if vowel && !previous {
                    count += 1;
                }
                previous = vowel;
            }
            if word.ends_with('e') && count > 1 {
                count -= 1;
            }
            count.max(1)
        })
        .sum();
    let n = words.len().max(1) as f64;
    0.39 * (n / sentences) + 11.8 * (syllables as f64 / n) - 15.59
}

pub(super) const JARGON: &[&str] = &[
    "CPU", "latency", "HTTP", "TLS", "SSL", "DNS", "SMTP", "p95", "p50", "TCP", "RSS", "MTTR",
    "MTBF", "API", "ms", "timeout", "uptime", "incident", "SLA",
];

#[test]
fn the_executive_text_is_plain_and_the_technical_one_has_the_numbers() {
    let (store, _dir) = october();
    let report = report_of(&store, &config(), Audience::Executive);
    let executive = text::render(&report);
    let flat = executive.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        executive.starts_with("Zoë's Café: how our systems did, October 2026\n"),
        "{executive}"
    );
    for needle in [
        "October 2026: Shop was available 99.00% of opening hours. The outages cost an estimated €880 in sales.",
        "[BELOW TARGET] Shop: 99.05% available, below target (aim: 99.90%). Down for about 7 hours, 1 hour 40 minutes of it while you were open. Planned work: 1 hour (not counted).",
        "Shop was down on Fri 30 Oct, 16:05 to 18:00 (1 hour 55 minutes).",
        "This happened because Database was down",
        "Sam took charge after 12 minutes",
        "Database was down on Fri 30 Oct, 16:00 to Sun 1 Nov, 01:00 (1 day 8 hours).",
        "Watched only since 15 October",
    ] {
        assert!(flat.contains(needle), "{needle} missing:\n{executive}");
    }
    for word in JARGON {
        let found = executive
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w.eq_ignore_ascii_case(word));
        assert!(
            !found,
            "jargon \"{word}\" in the executive report:\n{executive}"
        );
    }
    let score = grade(&executive);
    assert!(
        score <= 8.0,
        "Flesch–Kincaid grade {score:.1} > 8:\n{executive}"
    );

    let technical = text::render(&report_of(&store, &config(), Audience::Technical));
    for needle in [
        "p95",
        "MTTR",
        "failures by kind: connection_refused 1, http_status 4, timeout 1",
        "Alerts: 1 opened, 1 acknowledged",
    ] {
        assert!(technical.contains(needle), "{needle} missing:\n{technical}");
    }
}

#[test]
fn without_a_sales_figure_the_report_says_how_to_add_one() {
    let (store, _dir) = october();
    let mut config = config();
    config.business.revenue_per_hour = 0.0;
    let report = report_of(&store, &config, Audience::Executive);
    assert_eq!(report.total_cost, None);
    assert!(report.services.iter().all(|s| s.cost.is_none()));
    let text = text::render(&report);
    assert!(text.contains("Add revenue_per_hour = 400.0"), "{text}");
    assert!(!text.contains('€'), "{text}");
}

#[test]
fn an_empty_store_a_removed_service_and_a_bad_target_read_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
    let report = report_of(&store, &config(), Audience::Executive);
    assert!(report.services.iter().all(|s| s.availability.is_none()));
    let text = text::render(&report);
    assert!(
        text.contains("keepwatch has no records for this time"),
        "{text}"
    );
    assert!(
        text.contains("[NO RECORDS] Shop: no records for this time."),
        "{text}"
    );

    let (store, _dir) = october();
    let mut renamed = config();
    renamed.services[0].common.name = "Web shop".to_owned();
    let report = report_of(&store, &renamed, Audience::Executive);
    let old = report.services.iter().find(|s| s.name == "Shop").unwrap();
    assert!(!old.in_config);
    assert_eq!(
        old.watched,
        Some((at("2026-10-01T00:00"), at("2026-10-30T18:00")))
    );
    assert_eq!(old.down_ms / MIN, 420, "the maintenance names the old name");
    assert!(text::render(&report).contains("no longer in the settings"));

    let mut bad = config();
    bad.services[0].common.target = Some("lots".to_owned());
    let calendar = Calendar::from_config(&bad.business, TimeZone::UTC).unwrap();
    let period = Period::between("2026-10-01", "2026-10-31", &berlin()).unwrap();
    let err = build(&Inputs {
        store: &store,
        config: &bad,
        calendar: &calendar,
        period: period.clone(),
        previous: None,
        now: at("2026-11-02T08:00"),
        audience: Audience::Executive,
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("target = \"lots\" is not a percentage"),
        "{err}"
    );
    let err = build(&Inputs {
        store: &store,
        config: &config(),
        calendar: &calendar,
        period,
        previous: None,
        now: at("2026-09-02T08:00"),
        audience: Audience::Executive,
    })
    .unwrap_err();
    assert!(err.to_string().contains("has not started yet"), "{err}");
}

#[test]
fn a_thousand_services_make_a_readable_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
    let mut config = config();
    config.services = (0..1000)
        .map(|i| {
            service(&format!(
                "name = \"Service {i}\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1"
            ))
        })
        .collect();
    let samples: Vec<Sample> = (0..1000)
        .map(|i| state(&format!("Service {i}"), at("2026-10-01T00:00")))
        .collect();
    store.write(&samples).unwrap();
    outage(
        &mut store,
        "Service 7",
        State::Down,
        FailureKind::Timeout,
        "2026-10-06T10:00",
        "2026-10-06T11:00",
    );
    let report = report_of(&store, &config, Audience::Executive);
    assert_eq!(report.services.len(), 1000);
    let text = text::render(&report);
    assert!(
        text.contains("Service 7 was available 99.40% of opening hours"),
        "{}",
        &text[..400]
    );
}

/// Runs a command found on the PATH; `None` (with a loud note, and a failure
/// in CI) when it is not installed.
fn tool(name: &str) -> Option<std::process::Command> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()));
    if !found {
        eprintln!("SKIPPED: `{name}` is not installed (Debian: chromium, poppler-utils)");
        assert!(
            std::env::var_os("KEEPWATCH_REQUIRE_SERVICES").is_none(),
            "{name} is required in CI"
        );
        return None;
    }
    Some(std::process::Command::new(name))
}

fn chromium(dir: &std::path::Path, args: &[&str]) -> Option<std::process::Output> {
    let mut command = tool("chromium")?;
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]);
    command.arg(format!("--user-data-dir={}", dir.join("profile").display()));
    Some(command.args(args).output().unwrap())
}

#[test]
fn the_html_is_self_contained_fits_640_pixels_and_its_images_load() {
    let (store, _dir) = october();
    let report = report_of(&store, &config(), Audience::Executive);
    let (email, parts) = super::html::render(&report, super::html::Images::ContentId);
    assert_eq!(parts.len(), 5, "a chart per watched service");
    for (i, part) in parts.iter().enumerate() {
        assert!(email.contains(&format!("src=\"cid:chart-{i}\"")));
        assert!(part.png.starts_with(b"\x89PNG"));
    }
    let (page, none) = super::html::render(&report, super::html::Images::Inline);
    assert!(none.is_empty());
    for banned in ["<script", "<style", "<link", "http://", "https://", "url("] {
        assert!(!page.contains(banned), "{banned} in the page");
    }
    assert!(page.contains("Zoë&#39;s Café") && page.contains("Łódź 東京 depot"));
    assert!(page.contains("alt=\"Day by day: 29 of 31 days watched without an outage; outages on"));

    let dir = tempfile::tempdir().unwrap();
    // A copy of the page with a measuring script (the report has none).
    let probe = page.replace(
        "</body>",
        "<script>window.onload=function(){var d=document.documentElement;\
         var imgs=Array.prototype.slice.call(document.images);\
         var broken=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0);}).length;\
         var p=document.createElement('pre');p.id='probe';\
         p.textContent='scroll='+(d.scrollWidth>window.innerWidth)+' images='+imgs.length+' broken='+broken;\
         document.body.appendChild(p);};</script></body>",
    );
    let file = dir.path().join("probe.html");
    std::fs::write(&file, probe).unwrap();
    for width in [640, 360] {
        let Some(out) = chromium(
            dir.path(),
            &[
                &format!("--window-size={width},900"),
                "--virtual-time-budget=5000",
                "--dump-dom",
                file.to_str().unwrap(),
            ],
        ) else {
            return;
        };
        let dom = String::from_utf8_lossy(&out.stdout);
        assert!(
            dom.contains("scroll=false images=5 broken=0"),
            "at {width} px: {}\n{}",
            dom.lines()
                .find(|l| l.contains("probe"))
                .unwrap_or("no probe result"),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_pdf_is_valid_and_its_text_reads_back_with_non_latin_names() {
    let (store, _dir) = october();
    let report = report_of(&store, &config(), Audience::Technical);
    let pdf = super::pdf::render(&report).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("october.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let Some(mut info) = tool("pdfinfo") else {
        return;
    };
    let info = info.arg(&file).output().unwrap();
    let info_text = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    assert!(
        info_text.contains("Title:           Zoë's Café: October 2026"),
        "{info_text}"
    );
    assert!(
        info_text.contains("Page size:       595 x 842 pts (A4)"),
        "{info_text}"
    );
    let Some(mut text) = tool("pdftotext") else {
        return;
    };
    let out = text.arg(&file).arg("-").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "Zoë's Café: how our systems did, October 2026",
        "Shop was available 99.00% of opening hours.",
        "Łódź 東京 depot: 100% available",
        "Numbers for the admin",
        "How this was worked out",
    ] {
        assert!(
            flat.contains(needle),
            "{needle} missing from the PDF text:\n{text}"
        );
    }
}

/// Writes the fixture month's report as the README shows it (PDF page and
/// HTML screenshot) when KEEPWATCH_DOCS_DIR names a folder; see README.
#[test]
fn the_readme_pictures_come_from_the_fixture_month() {
    let Some(dir) = std::env::var_os("KEEPWATCH_DOCS_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let (store, _db) = october();
    let report = report_of(&store, &config(), Audience::Executive);
    std::fs::write(
        dir.join("report-example.pdf"),
        super::pdf::render(&report).unwrap(),
    )
    .unwrap();
    let html = dir.join("report-example.html");
    std::fs::write(
        &html,
        super::html::render(&report, super::html::Images::Inline).0,
    )
    .unwrap();
    let shot = dir.join("report-email.png");
    chromium(
        &dir,
        &[
            "--window-size=640,1900",
            "--hide-scrollbars",
            &format!("--screenshot={}", shot.display()),
            html.to_str().unwrap(),
        ],
    );
}
