//! Which days a report covers: named periods (`last-month`) or dates, in the
//! business time zone, and the period before it for trends.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// The days a report covers, as local dates and the instants they resolve to.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// The first day covered.
    pub first: Date,
    /// The day after the last day covered.
    pub end: Date,
    /// Midnight starting `first`, in the business time zone.
    pub from: Timestamp,
    /// Midnight starting `end`.
    pub to: Timestamp,
    /// How the period reads in a title: "November 2026", "the week of 23 November 2026".
    pub label: String,
}

/// The names `--period` accepts.
pub const NAMES: &[&str] = crate::config::PERIODS;

impl Period {
    /// The period of the days `first..end` (the end day not included).
    pub fn of_days(first: Date, end: Date, tz: &TimeZone) -> Result<Period, String> {
        if end <= first {
            return Err(format!(
                "the period from {first} to {} is empty: the end date must not be before the start date",
                end.yesterday().unwrap_or(end)
            ));
        }
        let midnight = |date: Date| {
            date.to_zoned_datetime(tz.clone())
                .map(|zoned| zoned.timestamp())
                .map_err(|err| format!("{date}: {err}"))
        };
        Ok(Period {
            first,
            end,
            from: midnight(first)?,
            to: midnight(end)?,
            label: label(first, end),
        })
    }

    /// A named period (`last-month`) as it is at `now`.
    pub fn named(name: &str, now: Timestamp, tz: &TimeZone) -> Result<Period, String> {
        let today = tz.to_datetime(now).date();
        let monday = today
            .checked_sub(i64::from(today.weekday().to_monday_zero_offset()).days())
            .map_err(|err| err.to_string())?;
        let month = today.first_of_month();
        let add = |date: Date, span: jiff::Span| date.checked_add(span).map_err(|e| e.to_string());
        let (first, end) = match name {
            "today" => (today, add(today, 1.day())?),
            "yesterday" => (add(today, (-1).day())?, today),
            "this-week" => (monday, add(monday, 1.week())?),
            "last-week" => (add(monday, (-1).week())?, monday),
            "this-month" => (month, add(month, 1.month())?),
            "last-month" => (add(month, (-1).month())?, month),
            "last-30-days" => (add(today, (-29).days())?, add(today, 1.day())?),
            other => {
                return Err(format!(
                    "--period {other}: unknown period; use one of {}, or --from and --to with dates like 2026-11-01",
                    NAMES.join(", ")
                ));
            }
        };
        Self::of_days(first, end, tz)
    }

    /// The period from `--from` to `--to`, both dates included.
    pub fn between(from: &str, to: &str, tz: &TimeZone) -> Result<Period, String> {
        let parse = |flag: &str, text: &str| {
            text.trim()
                .parse::<Date>()
                .map_err(|_| format!("{flag} {text}: not a date; write it like 2026-11-01"))
        };
        let first = parse("--from", from)?;
        let last = parse("--to", to)?;
        if last < first {
            return Err(format!(
                "--to {last} is before --from {first}: the end date must not be before the start date"
            ));
        }
        Self::of_days(first, last.tomorrow().map_err(|e| e.to_string())?, tz)
    }

    /// The period just before this one, for trends: the previous month(s)
    /// when this one is whole months, else as many days before.
    pub fn previous(&self, tz: &TimeZone) -> Result<Period, String> {
        let months = whole_months(self.first, self.end);
        let first = match months {
            Some(n) => self.first.checked_sub(n.months()),
            None => self.first.checked_sub(self.days().days()),
        }
        .map_err(|e| e.to_string())?;
        Self::of_days(first, self.first, tz)
    }

    /// How many days the period has.
    pub fn days(&self) -> i64 {
        i64::from(self.first.until(self.end).map_or(0, |span| span.get_days()))
    }
}

/// `Some(n)` when `first..end` is exactly `n` whole calendar months.
fn whole_months(first: Date, end: Date) -> Option<i64> {
    if first.day() != 1 || end.day() != 1 {
        return None;
    }
    let n = (i64::from(end.year()) - i64::from(first.year())) * 12 + i64::from(end.month())
        - i64::from(first.month());
    (n > 0).then_some(n)
}

fn label(first: Date, end: Date) -> String {
    let last = end.yesterday().unwrap_or(end);
    let day = |d: Date| d.strftime("%-d %B %Y").to_string();
    if whole_months(first, end) == Some(1) {
        return first.strftime("%B %Y").to_string();
    }
    if first == last {
        return first.strftime("%A %-d %B %Y").to_string();
    }
    if first.weekday() == Weekday::Monday && first.checked_add(1.week()).ok() == Some(end) {
        return format!("the week of {}", day(first));
    }
    if first.year() == last.year() && first.month() == last.month() {
        return format!("{}–{}", first.day(), day(last));
    }
    format!("{} – {}", day(first), day(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn now() -> Timestamp {
        // Wednesday 2 December 2026, 10:00 in Berlin.
        "2026-12-02T09:00:00Z".parse().unwrap()
    }

    #[test]
    fn named_periods_are_whole_local_days() {
        let tz = berlin();
        let cases = [
            (
                "today",
                date(2026, 12, 2),
                date(2026, 12, 3),
                "Wednesday 2 December 2026",
            ),
            (
                "yesterday",
                date(2026, 12, 1),
                date(2026, 12, 2),
                "Tuesday 1 December 2026",
            ),
            (
                "this-week",
                date(2026, 11, 30),
                date(2026, 12, 7),
                "the week of 30 November 2026",
            ),
            (
                "last-week",
                date(2026, 11, 23),
                date(2026, 11, 30),
                "the week of 23 November 2026",
            ),
            (
                "this-month",
                date(2026, 12, 1),
                date(2027, 1, 1),
                "December 2026",
            ),
            (
                "last-month",
                date(2026, 11, 1),
                date(2026, 12, 1),
                "November 2026",
            ),
            (
                "last-30-days",
                date(2026, 11, 3),
                date(2026, 12, 3),
                "3 November 2026 – 2 December 2026",
            ),
        ];
        for (name, first, end, label) in cases {
            let period = Period::named(name, now(), &tz).unwrap();
            assert_eq!((period.first, period.end), (first, end), "{name}");
            assert_eq!(period.label, label, "{name}");
        }
        let november = Period::named("last-month", now(), &tz).unwrap();
        assert_eq!(
            november.from,
            "2026-10-31T23:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(november.days(), 30);
        let err = Period::named("last-year", now(), &tz).unwrap_err();
        assert!(
            err.contains("last-month") && err.contains("--from"),
            "{err}"
        );
    }

    #[test]
    fn dates_include_both_ends_and_previous_periods_match() {
        let tz = berlin();
        let march = Period::between("2026-03-01", "2026-03-31", &tz).unwrap();
        assert_eq!(march.label, "March 2026");
        // The clocks go forward on 29 March: the month is an hour short.
        assert_eq!(march.from.duration_until(march.to).as_hours(), 31 * 24 - 1);
        let february = march.previous(&tz).unwrap();
        assert_eq!(
            (february.first, february.end),
            (date(2026, 2, 1), date(2026, 3, 1))
        );
        let days = Period::between("2026-11-10", "2026-11-16", &tz).unwrap();
        assert_eq!(days.label, "10–16 November 2026");
        let before = days.previous(&tz).unwrap();
        assert_eq!(
            (before.first, before.end),
            (date(2026, 11, 3), date(2026, 11, 10))
        );
        assert!(
            Period::between("2026-11-30", "2026-11-01", &tz)
                .unwrap_err()
                .contains("before --from")
        );
        assert!(
            Period::between("yesterday", "2026-11-01", &tz)
                .unwrap_err()
                .contains("--from yesterday: not a date")
        );
        assert!(
            Period::of_days(date(2026, 1, 2), date(2026, 1, 2), &tz)
                .unwrap_err()
                .contains("empty")
        );
    }
}
