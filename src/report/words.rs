//! The report's sentences, shared by every renderer so text, HTML and PDF
//! say the same thing: plain words for managers, no jargon.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::model::{Report, ServiceReport, Story, trend};
use crate::printable::name;
use crate::vocabulary::{FailureKind, State};

/// A percentage to two decimals, never rounded up to 100% while anything was down.
pub fn percent(value: f64) -> String {
    let floored = (value * 100.0).floor() / 100.0;
    if floored >= 100.0 {
        "100%".to_owned()
    } else {
        format!("{floored:.2}%")
    }
}

/// An amount of money: `€310`, `€1,234.50`.
pub fn money(currency: &str, amount: f64) -> String {
    let cents = (amount * 100.0).round() as i64;
    let (whole, part) = (cents / 100, cents % 100);
    let mut digits = whole.to_string();
    let mut grouped = String::new();
    while digits.len() > 3 {
        let rest = digits.split_off(digits.len() - 3);
        grouped = format!(",{rest}{grouped}");
    }
    let whole = format!("{digits}{grouped}");
    if part == 0 {
        format!("{currency}{whole}")
    } else {
        format!("{currency}{whole}.{part:02}")
    }
}

/// Milliseconds as minutes, hours and days: `43 minutes`, `2 hours 5 minutes`.
pub fn length(ms: i64) -> String {
    let minutes = (ms + 30_000) / 60_000;
    if ms > 0 && minutes == 0 {
        return "less than a minute".to_owned();
    }
    crate::plain::duration((minutes * 60) as f64)
}

/// A local time as people say it: `Tue 3 Nov, 14:05`.
pub fn when(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%a %-d %b, %H:%M")
        .to_string()
}

/// What failed, as a manager can follow it.
pub fn failure(kind: Option<FailureKind>) -> &'static str {
    use FailureKind::*;
    match kind {
        None | Some(Other) => "it stopped working",
        Some(ConfigError) => "our own monitoring settings for it were wrong",
        Some(DnsFailure | DnsMismatch) => "its internet address could not be found",
        Some(ConnectionRefused) => "its server was running, but the program behind it was not",
        Some(HostUnreachable) => "its server could not be reached over the network",
        Some(Timeout) => "it stopped answering",
        Some(ConnectionClosed) => "it hung up before it answered",
        Some(TlsError | CertificateInvalid | CertificateUntrusted | CertificateWrongHost) => {
            "its security certificate was not accepted, so browsers would warn visitors"
        }
        Some(CertificateExpired) => "its security certificate had run out",
        Some(CertificateExpiring) => "its security certificate was about to run out",
        Some(HttpStatus) => "it answered with an error page",
        Some(AuthFailed) => "it refused our login",
        Some(BodyMismatch | JsonInvalid | JsonMismatch) => "it answered, but with the wrong page",
        Some(TooManyRedirects) => "it sent visitors round in circles",
        Some(BannerMismatch | ProtocolError) => "it answered in a way it should not",
        Some(DatabaseMissing) => "its data could not be found",
        Some(QueryFailed) => "it could not read its data",
        Some(Slow) => "it was slow",
        Some(PacketLoss) => "the network to it lost messages",
        Some(Missed) => "it did not report that it had done its work",
        Some(ReportedFailure) => "it reported that it had failed",
        Some(RunningTooLong) => "it started but did not finish in time",
        Some(NotRun) => "our monitoring computer was too busy to look",
    }
}

/// The one-line verdict that opens the report.
pub fn verdict(report: &Report) -> String {
    // It opens the sentence: "The week of 16 November 2026: ...".
    let label = &report.period.label;
    let mut first = label.chars();
    let when = first
        .next()
        .map(|c| c.to_uppercase().chain(first).collect::<String>())
        .unwrap_or_default();
    let headline = report
        .services
        .iter()
        .filter(|s| s.open_availability.or(s.availability).is_some())
        .min_by(|a, b| {
            b.critical.cmp(&a.critical).then(
                a.open_availability
                    .or(a.availability)
                    .unwrap_or(100.0)
                    .total_cmp(&b.open_availability.or(b.availability).unwrap_or(100.0)),
            )
        });
    let Some(service) = headline else {
        return format!(
            "{when}: keepwatch has no records for this time, so there is nothing to report yet."
        );
    };
    let outages = report
        .stories
        .iter()
        .filter(|s| s.state == State::Down)
        .count();
    let share = match service.open_availability {
        Some(open) => format!("{} of opening hours", percent(open)),
        None => format!(
            "{} of the time",
            percent(service.availability.unwrap_or(100.0))
        ),
    };
    let first = if outages == 0 {
        let all = report.services.len();
        if all == 1 {
            format!(
                "{when}: {} was available all the time.",
                name(&service.name)
            )
        } else {
            format!("{when}: all {all} services were available all the time.")
        }
    } else {
        format!("{when}: {} was available {share}.", name(&service.name))
    };
    let cost = match report.total_cost {
        Some(total) if total > 0.0 => format!(
            " {} cost an estimated {} in sales.",
            if outages == 1 {
                "One outage"
            } else {
                "The outages"
            },
            money(&report.currency, total)
        ),
        _ if outages > 1 => format!(" There were {outages} outages."),
        _ if outages == 1 => " There was one outage.".to_owned(),
        _ => String::new(),
    };
    format!("{first}{cost}")
}

/// One service's line: availability in business terms.
pub fn service_line(service: &ServiceReport, tz: &TimeZone) -> String {
    let Some(availability) = service.availability else {
        return format!("{}: no records for this time.", name(&service.name));
    };
    let rating = service.rating.map_or("", |r| r.words());
    let mut line = format!(
        "{}: {} available, {rating} (aim: {}).",
        name(&service.name),
        percent(availability),
        percent(service.target)
    );
    if service.down_ms > 0 {
        line.push_str(&format!(" Down for about {}", length(service.down_ms)));
        if service.down_open_ms == service.down_ms {
            line.push_str(", all of it while you were open.");
        } else if service.down_open_ms > 0 {
            line.push_str(&format!(
                ", {} of it while you were open.",
                length(service.down_open_ms)
            ));
        } else {
            line.push_str(", all of it while you were closed.");
        }
    }
    if service.degraded_ms > 0 {
        line.push_str(&format!(
            " Slow or not quite right for {} (counted as working).",
            length(service.degraded_ms)
        ));
    }
    if service.maintenance_ms > 0 {
        line.push_str(&format!(
            " Planned work: {} (not counted).",
            length(service.maintenance_ms)
        ));
    }
    if let Some(since) = service.added_during {
        line.push_str(&format!(
            " Watched only since {}, when it was added.",
            since.to_zoned_datetime(tz.clone()).strftime("%-d %B")
        ));
    }
    if !service.in_config {
        line.push_str(" It is no longer in the settings (removed or renamed).");
    }
    line
}

/// An incident as a short story.
pub fn story(story: &Story, report: &Report, tz: &TimeZone) -> String {
    let state = if story.state == State::Down {
        "down"
    } else {
        "slow"
    };
    let mut text = match story.ended {
        Some(end) => {
            let same_day = end.to_zoned_datetime(tz.clone()).date()
                == story.started.to_zoned_datetime(tz.clone()).date();
            let until = if same_day {
                end.to_zoned_datetime(tz.clone())
                    .strftime("%H:%M")
                    .to_string()
            } else {
                when(end, tz)
            };
            format!(
                "{} was {state} on {} to {until} ({}).",
                name(&story.service),
                when(story.started, tz),
                length(story.counted_ms)
            )
        }
        None => format!(
            "{} has been {state} since {} ({} so far).",
            name(&story.service),
            when(story.started, tz),
            length(story.counted_ms)
        ),
    };
    let why = failure(story.kind);
    text.push_str(&format!(" Why: {why}."));
    if let Some(parent) = &story.caused_by {
        text.push_str(&format!(
            " This happened because {} was down, which {} needs.",
            name(parent),
            name(&story.service)
        ));
    }
    match &story.acked {
        Some((by, after)) => text.push_str(&format!(
            " {} took charge after {}.",
            name(by),
            length(after.as_millis() as i64)
        )),
        None if story.state == State::Down => text.push_str(" Nobody marked it as taken in hand."),
        None => {}
    }
    if story.open_ms > 0 && story.open_ms < story.counted_ms {
        text.push_str(&format!(
            " {} of it fell in opening hours.",
            length(story.open_ms)
        ));
    } else if story.open_ms == 0 {
        text.push_str(" It was while you were closed.");
    }
    if let Some(cost) = story.cost.filter(|c| *c > 0.0) {
        text.push_str(&format!(
            " Estimated cost: {}.",
            money(&report.currency, cost)
        ));
    }
    text
}

/// How the cost was estimated, or how to add a figure.
pub fn cost_note(report: &Report) -> String {
    match (report.total_cost, report.revenue_per_hour) {
        (None, _) => "No cost is shown because no sales figure is set. Add revenue_per_hour = 400.0 (your sales per open hour) to the [business] part of keepwatch.toml to see one.".to_owned(),
        (Some(total), Some(rate)) => format!(
            "Estimated cost of the outages: {}. This is a guess at about {} an hour of sales while open, and {} of that while closed.",
            money(&report.currency, total),
            money(&report.currency, rate),
            if (report.off_hours_weight - 0.1).abs() < 1e-9 {
                "a tenth".to_owned()
            } else {
                format!("{}%", (report.off_hours_weight * 100.0).round())
            }
        ),
        (Some(total), None) => format!(
            "Estimated cost of the outages: {}, from what each service's hour costs in the settings.",
            money(&report.currency, total)
        ),
    }
}

/// Trends and forecasts, and the servers that were out of reach, one
/// sentence each.
pub fn outlook(report: &Report, tz: &TimeZone) -> Vec<String> {
    let mut lines = Vec::new();
    for gap in &report.gaps {
        let span = format!(
            "from {} to {} ({})",
            when(gap.from, tz),
            when(gap.to, tz),
            length(gap.from.duration_until(gap.to).as_millis() as i64)
        );
        lines.push(match gap.filled {
            true => format!(
                "{} was out of reach {span}; its measurements arrived afterwards, so nothing is missing.",
                name(&gap.host)
            ),
            false => format!(
                "No data from {} {span}: the server was off, or keepwatch was not running on it. Its services are left out of the figures for that time.",
                name(&gap.host)
            ),
        });
    }
    for service in &report.services {
        let (Some(now), Some(before)) = (&service.response, service.previous_mean_ms) else {
            continue;
        };
        if let Some(change) = trend(now.mean, before) {
            let share = (change.abs() * 100.0).round();
            lines.push(format!(
                "{} answered {share}% {} than in the period before.",
                name(&service.name),
                if change > 0.0 { "slower" } else { "faster" }
            ));
        }
    }
    for forecast in &report.forecasts {
        let days = report
            .counted_until
            .duration_until(forecast.full_at)
            .as_hours()
            / 24;
        let soon = match days {
            d if d < 2 => "within a day or two".to_owned(),
            d if d < 14 => format!("in about {d} days"),
            d => format!("in about {} weeks", (d + 3) / 7),
        };
        lines.push(format!(
            "The disk \"{}\" of {} will be full {soon}, on {}, at the current rate. It is {:.0}% full now.",
            forecast.disk,
            name(&forecast.host),
            forecast.full_at.to_zoned_datetime(tz.clone()).strftime("%-d %B"),
            forecast.used_percent
        ));
    }
    for pressure in &report.pressure {
        if let Some(before) = pressure.previous
            && pressure.average - before >= 10.0
        {
            let what = if pressure.resource == "cpu" {
                "busier"
            } else {
                "fuller in memory"
            };
            lines.push(format!(
                "The computer {} was {what} than before: {:.0}% on average, up from {:.0}%.",
                name(&pressure.host),
                pressure.average,
                before
            ));
        }
    }
    for cert in &report.certificates {
        let (verb, renew) = if cert.expires <= report.generated {
            ("ran out", "It must be renewed now: visitors see a warning.")
        } else {
            (
                "runs out",
                "It must be renewed before then, or visitors see a warning.",
            )
        };
        lines.push(format!(
            "The security certificate of {} {verb} on {}. {renew}",
            name(&cert.service),
            cert.expires
                .to_zoned_datetime(tz.clone())
                .strftime("%-d %B %Y")
        ));
    }
    lines
}

/// The report's method in one sentence.
pub fn method(report: &Report) -> String {
    let until = report
        .counted_until
        .to_zoned_datetime(TimeZone::get(&report.time_zone).unwrap_or(TimeZone::UTC))
        .strftime("%-d %B %Y %H:%M");
    format!(
        "How this was worked out: {} up to {until}, times in {}; a service counted as down from the moment keepwatch confirmed a failure until it worked again; slow service counted as working; planned work was left out.",
        report.period.label, report.time_zone
    )
}

#[cfg(test)]
mod tests;
