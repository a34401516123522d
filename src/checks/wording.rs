//! How numbers, dates and names read in explanations, so every check type
//! words them the same way.

use std::time::Duration;

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

/// A duration as a person says it: `340 ms`, `8.2 s`, `2 s`, `3 min`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms} ms");
    }
    if ms < 120_000 {
        let tenths = (ms + 50) / 100;
        return if tenths.is_multiple_of(10) {
            format!("{} s", tenths / 10)
        } else {
            format!("{}.{} s", tenths / 10, tenths % 10)
        };
    }
    format!("{} min", (ms + 30_000) / 60_000)
}

/// A round-trip time, finer than [`duration`] below 10 ms, where network
/// times on a local network live: `0.05 ms`, `1.2 ms`, `35 ms`.
pub fn round_trip(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        let hundredths = (micros + 5) / 10;
        format!("{}.{:02} ms", hundredths / 100, hundredths % 100)
    } else if micros < 10_000 {
        let tenths = (micros + 50) / 100;
        format!("{}.{} ms", tenths / 10, tenths % 10)
    } else {
        duration(d)
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
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(0)), "0 ms");
        assert_eq!(duration(Duration::from_millis(340)), "340 ms");
        assert_eq!(duration(Duration::from_millis(999)), "999 ms");
        assert_eq!(duration(Duration::from_millis(1000)), "1 s");
        assert_eq!(duration(Duration::from_millis(8_240)), "8.2 s");
        assert_eq!(duration(Duration::from_millis(2_000)), "2 s");
        assert_eq!(duration(Duration::from_millis(1_960)), "2 s");
        assert_eq!(duration(Duration::from_secs(119)), "119 s");
        assert_eq!(duration(Duration::from_secs(180)), "3 min");
    }

    #[test]
    fn round_trips_keep_detail_below_10_ms() {
        assert_eq!(round_trip(Duration::from_micros(0)), "0.00 ms");
        assert_eq!(round_trip(Duration::from_micros(48)), "0.05 ms");
        assert_eq!(round_trip(Duration::from_micros(994)), "0.99 ms");
        assert_eq!(round_trip(Duration::from_micros(996)), "1.00 ms");
        assert_eq!(round_trip(Duration::from_micros(1_240)), "1.2 ms");
        assert_eq!(round_trip(Duration::from_micros(9_940)), "9.9 ms");
        assert_eq!(round_trip(Duration::from_millis(35)), "35 ms");
        assert_eq!(round_trip(Duration::from_millis(2_500)), "2.5 s");
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
