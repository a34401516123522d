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
