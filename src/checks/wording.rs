//! How dates and names read in explanations, so every check type words them
//! the same way (lengths of time are `plain::short_duration`).

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// `Shop` → `Shop's`; `Redis` → `Redis'`.
pub fn possessive(name: &str) -> String {
    if name.ends_with(['s', 'S']) {
        format!("{name}'")
    } else {
        format!("{name}'s")
    }
}

/// A day as a person writes it: `3 March 2026` (in UTC).
pub fn date(at: Timestamp) -> String {
    at.to_zoned_datetime(TimeZone::UTC)
        .strftime("%-d %B %Y")
        .to_string()
}

/// A moment as people say it relative to `now`, in `tz`: `02:00` on the
/// same day, `Tuesday 02:00` within a week either way, `3 March 02:00`
/// further off (`3 March 2025 02:00` in another year).
pub fn moment(at: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    match moment_parts(at, now, tz) {
        (Some(day), time) => format!("{day} {time}"),
        (None, time) => time,
    }
}

/// [`moment`] after "at" or "on" as a sentence needs it: `at 02:00`,
/// `on Tuesday at 02:00`.
pub fn at_moment(at: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    match moment_parts(at, now, tz) {
        (Some(day), time) => format!("on {day} at {time}"),
        (None, time) => format!("at {time}"),
    }
}

/// The day (`None` for the day of `now`) and the time of day of `at`.
fn moment_parts(at: Timestamp, now: Timestamp, tz: &TimeZone) -> (Option<String>, String) {
    let local = at.to_zoned_datetime(tz.clone());
    let today = now.to_zoned_datetime(tz.clone());
    let time = local.strftime("%H:%M").to_string();
    if local.date() == today.date() {
        return (None, time);
    }
    let days_apart = (local.date() - today.date()).get_days().abs();
    let day = if days_apart < 7 {
        "%A"
    } else if local.year() == today.year() {
        "%-d %B"
    } else {
        "%-d %B %Y"
    };
    (Some(local.strftime(day).to_string()), time)
}

/// `1 day`, `5 days`.
pub fn days(count: i64) -> String {
    if count == 1 {
        "1 day".to_owned()
    } else {
        format!("{count} days")
    }
}

/// Text from a server, shortened and on one line, for quoting in a sentence.
pub fn quote(text: &str) -> String {
    const LIMIT: usize = 60;
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.trim();
    if line.chars().count() > LIMIT {
        let cut: String = line.chars().take(LIMIT).collect();
        format!("\"{cut}…\"")
    } else {
        format!("\"{line}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn possessives_follow_the_final_letter() {
        assert_eq!(possessive("Shop"), "Shop's");
        assert_eq!(possessive("Redis"), "Redis'");
        assert_eq!(possessive("Payment gateway"), "Payment gateway's");
    }

    #[test]
    fn dates_have_no_padding_and_a_month_name() {
        let at: Timestamp = "2026-03-03T23:59:59Z".parse().unwrap();
        assert_eq!(date(at), "3 March 2026");
        let at: Timestamp = "2026-12-25T00:00:00Z".parse().unwrap();
        assert_eq!(date(at), "25 December 2026");
    }

    #[test]
    fn moments_read_relative_to_now() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let at = |text: &str| moment(text.parse().unwrap(), now, &tz);
        assert_eq!(at("2026-11-25T01:00:00Z"), "02:00");
        assert_eq!(at("2026-11-24T01:00:00Z"), "Tuesday 02:00");
        assert_eq!(at("2026-11-26T02:00:00Z"), "Thursday 03:00");
        assert_eq!(at("2026-11-03T01:00:00Z"), "3 November 02:00");
        assert_eq!(at("2025-11-03T01:00:00Z"), "3 November 2025 02:00");
        let on = |text: &str| at_moment(text.parse().unwrap(), now, &tz);
        assert_eq!(on("2026-11-25T01:00:00Z"), "at 02:00");
        assert_eq!(on("2026-11-24T01:00:00Z"), "on Tuesday at 02:00");
    }

    #[test]
    fn day_counts_are_singular_or_plural() {
        assert_eq!(days(1), "1 day");
        assert_eq!(days(0), "0 days");
        assert_eq!(days(14), "14 days");
    }

    #[test]
    fn quotes_are_one_line_and_short() {
        assert_eq!(quote("220 mail ESMTP\r\n"), "\"220 mail ESMTP\"");
        let long = "x".repeat(100);
        assert_eq!(quote(&long), format!("\"{}…\"", "x".repeat(60)));
    }
}
