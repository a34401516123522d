//! The plain-text report: for the terminal, and the text part of the email.

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use super::model::{Audience, Report};
use super::words;

/// The report as plain text, lines under 80 columns where words allow.
pub fn render(report: &Report) -> String {
    let tz = TimeZone::get(&report.time_zone).unwrap_or(TimeZone::UTC);
    let mut out = String::new();
    let title = format!(
        "{}: how our systems did, {}",
        report.business, report.period.label
    );
    let _ = writeln!(out, "{title}\n{}\n", "=".repeat(title.chars().count()));
    let _ = writeln!(out, "{}\n", wrap(&words::verdict(report)));

    let _ = writeln!(out, "Services\n--------");
    for service in &report.services {
        let mark = match service.rating {
            Some(rating) => format!("[{}]", rating.words().to_uppercase()),
            None => "[NO RECORDS]".to_owned(),
        };
        let _ = writeln!(
            out,
            "{}",
            wrap(&format!("{mark} {}", words::service_line(service, &tz)))
        );
        if let Some(open) = service.open_availability {
            let _ = writeln!(
                out,
                "    During opening hours: {} available.",
                words::percent(open)
            );
        }
    }

    let _ = writeln!(out, "\nWhat went wrong\n---------------");
    if report.stories.is_empty() {
        let _ = writeln!(out, "Nothing: no outages and no slow spells.");
    }
    for story in &report.stories {
        let _ = writeln!(
            out,
            "{}",
            wrap(&format!("- {}", words::story(story, report, &tz)))
        );
    }

    let _ = writeln!(out, "\nCost\n----\n{}", wrap(&words::cost_note(report)));

    let outlook = words::outlook(report, &tz);
    if !outlook.is_empty() {
        let _ = writeln!(out, "\nLooking ahead\n-------------");
        for line in outlook {
            let _ = writeln!(out, "{}", wrap(&format!("- {line}")));
        }
    }

    if report.audience == Audience::Technical {
        let _ = write!(
            out,
            "\nNumbers for the admin\n---------------------\n{}",
            technical_text(report, &tz)
        );
    }
    let _ = writeln!(out, "\n{}", wrap(&words::method(report)));
    out
}

/// The admin's numbers, which every format shows as preformatted text;
/// times in `tz`, the business time zone.
pub fn technical_text(report: &Report, tz: &TimeZone) -> String {
    let mut out = String::new();
    let out = &mut out;
    for s in &report.services {
        let _ = writeln!(out, "{}:", s.name);
        let _ = writeln!(
            out,
            "  checks {}, incidents {}, down {} ms ({} ms open), degraded {} ms, maintenance {} ms",
            s.checks, s.incidents, s.down_ms, s.down_open_ms, s.degraded_ms, s.maintenance_ms
        );
        if let Some(r) = &s.response {
            let _ = writeln!(
                out,
                "  response ms: p50 {:.0}, p95 {:.0}, max {:.0}, mean {:.0} over {} answers{}",
                r.p50,
                r.p95,
                r.max,
                r.mean,
                r.count,
                s.previous_mean_ms
                    .map(|m| format!(" (previous mean {m:.0})"))
                    .unwrap_or_default()
            );
        }
        if !s.failures.is_empty() {
            let kinds: Vec<String> = s.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(out, "  failures by kind: {}", kinds.join(", "));
        }
        if let Some(mttr) = s.mttr_ms {
            let _ = writeln!(out, "  MTTR {}", words::length(mttr));
        }
        if let Some(mtbf) = s.mtbf_ms {
            let _ = writeln!(out, "  MTBF {}", words::length(mtbf));
        }
    }
    let a = &report.alerts;
    let _ = writeln!(
        out,
        "Alerts: {} opened, {} acknowledged{}",
        a.opened,
        a.acknowledged,
        a.mean_ack
            .map(|d| format!(
                ", mean time to acknowledge {}",
                words::length(d.as_millis() as i64)
            ))
            .unwrap_or_default()
    );
    for (channel, count) in &a.per_channel {
        let _ = writeln!(out, "  sent to {channel}: {count}");
    }
    for p in &report.pressure {
        let _ = writeln!(
            out,
            "Host {} {}: average {:.1}%, peak {:.1}%{}",
            p.host,
            p.resource,
            p.average,
            p.peak,
            p.previous
                .map(|v| format!(" (previous average {v:.1}%)"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "Throttling episodes: {}", report.throttling.len());
    for (at, message) in report.throttling.iter().take(10) {
        let _ = writeln!(out, "  {}: {message}", words::when(*at, tz));
    }
    let _ = writeln!(
        out,
        "Database size: {}",
        crate::plain::bytes(report.storage_bytes as f64)
    );
    std::mem::take(out)
}

/// Wraps a paragraph at 78 columns, indenting continuation lines.
fn wrap(text: &str) -> String {
    let mut out = String::new();
    let mut column = 0;
    for word in text.split(' ') {
        let width = word.chars().count();
        if column > 0 && column + 1 + width > 78 {
            out.push_str("\n    ");
            column = 4;
        } else if column > 0 {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += width;
    }
    out
}
