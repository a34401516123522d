//! The report on bad input and at the edges: the command line's choices of
//! period and format, DST days, empty periods, renamed and removed services,
//! odd settings. The fixture month comes from `tests.rs`.

use jiff::civil::date;

use super::model::Audience;
use super::tests::{at, berlin, october, report_of};
use super::{Format, period_for, render};

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
    let report = report_of(&store, &super::tests::config(), Audience::Executive);
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
