//! Numbers in plain words for people: sizes, rates and lengths of time, the
//! way status output, messages and reports show them.

/// `1234567` bytes → `"1.2 MB"` (decimal units, as disk makers and most people count).
pub fn bytes(value: f64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KB", "MB", "GB", "TB", "PB"];
    if !value.is_finite() || value < 0.0 {
        return "unknown".to_owned();
    }
    let mut scaled = value;
    let mut unit = 0;
    while scaled >= 1000.0 && unit < UNITS.len() - 1 {
        scaled /= 1000.0;
        unit += 1;
    }
    match unit {
        0 => format!("{} bytes", value.round()),
        _ if scaled < 10.0 => format!("{scaled:.1} {}", UNITS[unit]),
        _ => format!("{scaled:.0} {}", UNITS[unit]),
    }
}

/// A length of time in the two largest units: `"3 days 4 hours"`, `"5 minutes"`, `"12 seconds"`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "unknown".to_owned();
    }
    let total = seconds.round() as u64;
    let parts = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let mut out = Vec::new();
    let mut rest = total;
    for (size, name) in parts {
        let count = rest / size;
        if count > 0 || (size == 1 && out.is_empty()) {
            out.push(format!(
                "{count} {name}{}",
                if count == 1 { "" } else { "s" }
            ));
            rest %= size;
        }
        if out.len() == 2 || (!out.is_empty() && count == 0) {
            break;
        }
    }
    out.join(" ")
}

/// A length of time measured by a check (an answer, a timeout), with the
/// detail that matters below two minutes: `340 ms`, `8.2 s`, `2 s`; longer
/// ones as [`duration`] words them, `3 minutes`.
pub fn short_duration(d: std::time::Duration) -> String {
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
    duration(d.as_secs_f64())
}

/// A round-trip time, finer than [`short_duration`] below 10 ms, where
/// network times on a local network live: `0.05 ms`, `1.2 ms`, `35 ms`.
pub fn round_trip(d: std::time::Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        let hundredths = (micros + 5) / 10;
        format!("{}.{:02} ms", hundredths / 100, hundredths % 100)
    } else if micros < 10_000 {
        let tenths = (micros + 50) / 100;
        format!("{}.{} ms", tenths / 10, tenths % 10)
    } else {
        short_duration(d)
    }
}

/// A percentage without false precision: `"7%"`, `"0.4%"`.
pub fn percent(value: f64) -> String {
    if !value.is_finite() {
        "unknown".to_owned()
    } else if value > 0.0 && value < 1.0 {
        format!("{value:.1}%")
    } else {
        format!("{value:.0}%")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(bytes(0.0), "0 bytes");
        assert_eq!(bytes(999.0), "999 bytes");
        assert_eq!(bytes(1_234_567.0), "1.2 MB");
        assert_eq!(bytes(45_600_000_000.0), "46 GB");
        assert_eq!(bytes(-1.0), "unknown");
        assert_eq!(bytes(f64::NAN), "unknown");
    }

    #[test]
    fn durations_use_the_two_largest_units() {
        assert_eq!(duration(0.0), "0 seconds");
        assert_eq!(duration(1.0), "1 second");
        assert_eq!(duration(59.4), "59 seconds");
        assert_eq!(duration(300.0), "5 minutes");
        assert_eq!(duration(3_660.0), "1 hour 1 minute");
        assert_eq!(duration(3_600.0 * 76.0 + 30.0), "3 days 4 hours");
        assert_eq!(duration(86_400.0 + 30.0), "1 day");
        assert_eq!(duration(f64::INFINITY), "unknown");
    }

    #[test]
    fn measured_times_keep_their_detail_below_two_minutes() {
        assert_eq!(short_duration(Duration::from_millis(0)), "0 ms");
        assert_eq!(short_duration(Duration::from_millis(340)), "340 ms");
        assert_eq!(short_duration(Duration::from_millis(999)), "999 ms");
        assert_eq!(short_duration(Duration::from_millis(1000)), "1 s");
        assert_eq!(short_duration(Duration::from_millis(8_240)), "8.2 s");
        assert_eq!(short_duration(Duration::from_millis(2_000)), "2 s");
        assert_eq!(short_duration(Duration::from_millis(1_960)), "2 s");
        assert_eq!(short_duration(Duration::from_secs(119)), "119 s");
        // From two minutes on, in the same words as every other length of time.
        assert_eq!(short_duration(Duration::from_secs(180)), "3 minutes");
        assert_eq!(
            short_duration(Duration::from_secs(3_660)),
            duration(3_660.0)
        );
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
    fn percentages_drop_false_precision() {
        assert_eq!(percent(7.4), "7%");
        assert_eq!(percent(0.42), "0.4%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(f64::NAN), "unknown");
    }
}
