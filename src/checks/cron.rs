//! Cron schedules as crontab writes them (`"0 2 * * *"`, `"*/15 8-18 * * mon-fri"`,
//! `"@daily"`), for heartbeats that say when a job runs rather than how
//! often. Pure: [`CronSchedule::next_after`] takes an instant and a time zone.
//!
//! The rules are Vixie cron's (what Debian, cronie and Healthchecks follow):
//! five fields, minute, hour, day of month, month, day of week (0 or 7 is
//! Sunday, names allowed); when both day fields are restricted, a day
//! matching either counts. Around DST changes, in the business time zone:
//!
//! - a time that does not exist (02:30 on the night clocks jump from 02:00
//!   to 03:00) is expected right after the jump, as cron runs such jobs then;
//! - a time that happens twice (02:30 on the night clocks go back) is
//!   expected the first time only: a job cron runs once is never late, and
//!   one it runs twice is merely watched more loosely for that hour.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// How far ahead a schedule is searched: long enough for the rarest one
/// that exists (29 February on a given weekday recurs within 28 years).
const SEARCH_DAYS: i32 = 366 * 29;

/// A parsed crontab schedule, kept with its text for messages and the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether each day field was restricted (did not start with `*`).
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// One of the five fields: its name in messages, its range, and the names
/// its values may be written as (index + `min`).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    Field {
        name: "day of week",
        min: 0,
        max: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

const HINT: &str = "write five fields, minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\" (every day at 02:00) or \"30 1 * * mon-fri\"";

impl Field {
    fn value(&self, text: &str) -> Result<u32, String> {
        let lower = text.to_ascii_lowercase();
        let named = self.names.iter().position(|name| *name == lower);
        let value = match named {
            Some(index) => u32::try_from(index).unwrap_or(0) + self.min,
            None => text
                .parse::<u32>()
                .map_err(|_| format!("`{text}` is not a number in the {} field", self.name))?,
        };
        if value < self.min || value > self.max {
            return Err(format!(
                "{value} is outside the {} field's {}–{}",
                self.name, self.min, self.max
            ));
        }
        Ok(value)
    }

    /// The field's values as a bit set.
    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut set = 0u64;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((range, step)) => {
                    let step = step
                        .parse::<u32>()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| format!("`/{step}` is not a step such as `/15`"))?;
                    (range, step)
                }
                None => (part, 1),
            };
            let (low, high) = match range.split_once('-') {
                _ if range == "*" => (self.min, self.max),
                Some((low, high)) => (self.value(low)?, self.value(high)?),
                // `5/10` is 5, 15, 25, …: from 5 to the end.
                None if step > 1 => (self.value(range)?, self.max),
                None => {
                    let value = self.value(range)?;
                    (value, value)
                }
            };
            if low > high {
                return Err(format!(
                    "the range `{range}` in the {} field goes backwards",
                    self.name
                ));
            }
            for value in (low..=high).step_by(step as usize) {
                set |= 1 << value;
            }
        }
        Ok(set)
    }
}

impl FromStr for CronSchedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let written = text.trim();
        let expanded = match written.to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            _ if written.starts_with('@') => {
                return Err(format!(
                    "`{written}` is not a schedule: the shorthands are @hourly, @daily, @weekly, @monthly and @yearly"
                ));
            }
            _ => written,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!("\"{written}\" has {} fields: {HINT}", parts.len()));
        }
        let mut sets = [0u64; 5];
        for ((set, field), part) in sets.iter_mut().zip(&FIELDS).zip(&parts) {
            *set = field.parse(part).map_err(|err| format!("{err}: {HINT}"))?;
        }
        // 7 is Sunday too.
        let weekdays = (sets[4] | (sets[4] >> 7)) & 0x7f;
        Ok(Self {
            text: written.to_owned(),
            minutes: sets[0],
            hours: sets[1],
            days: sets[2],
            months: sets[3],
            weekdays,
            days_restricted: !parts[2].starts_with('*'),
            weekdays_restricted: !parts[4].starts_with('*'),
        })
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

crate::units::string_serde!(
    CronSchedule,
    "a cron schedule in quotes, e.g. \"0 2 * * *\""
);

fn has(set: u64, value: i8) -> bool {
    u8::try_from(value).is_ok_and(|v| set & (1 << v) != 0)
}

fn members(set: u64) -> impl Iterator<Item = i8> {
    (0..64i8).filter(move |v| has(set, *v))
}

impl CronSchedule {
    fn day_matches(&self, day: Date) -> bool {
        let in_month = has(self.days, day.day());
        let in_week = has(self.weekdays, day.weekday().to_sunday_zero_offset());
        let day_ok = if self.days_restricted && self.weekdays_restricted {
            in_month || in_week
        } else {
            in_month && in_week
        };
        day_ok && has(self.months, day.month())
    }

    /// The first scheduled instant strictly after `after`, reading the
    /// schedule in `tz`; `None` if it never comes (30 February).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        // From the day before, as the local date of `after` may lag a
        // schedule that an offset change moves across midnight.
        let first = after
            .to_zoned_datetime(tz.clone())
            .date()
            .yesterday()
            .ok()?;
        let mut day = first;
        for _ in 0..SEARCH_DAYS {
            if self.day_matches(day) {
                for hour in members(self.hours) {
                    for minute in members(self.minutes) {
                        let at = instant(day.at(hour, minute, 0, 0), tz)?;
                        if at > after {
                            return Some(at);
                        }
                    }
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    /// The schedule in words when it is a simple one ("daily at 02:00",
    /// "hourly at :15"), for sentences like "expected daily at 02:00";
    /// otherwise the schedule as written.
    pub fn describe(&self) -> String {
        let single = |set: u64| (set.count_ones() == 1).then(|| set.trailing_zeros());
        let every_day = !self.days_restricted && !self.weekdays_restricted && self.months == 0x1ffe;
        match (single(self.minutes), single(self.hours)) {
            (Some(minute), Some(hour)) if every_day => format!("daily at {hour:02}:{minute:02}"),
            (Some(minute), None) if every_day && self.hours == 0xff_ffff => {
                format!("hourly at :{minute:02}")
            }
            _ => format!("on the schedule \"{}\"", self.text),
        }
    }
}

/// The instant a scheduled civil time stands for in `tz` (see the module
/// header for DST).
fn instant(civil: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    let ambiguous = tz.to_ambiguous_timestamp(civil);
    match ambiguous.offset() {
        AmbiguousOffset::Gap { after, .. } => {
            // The jump itself: the first transition after the time read
            // with the later offset (which puts it before the jump).
            let before_jump = after.to_timestamp(civil).ok()?;
            tz.following(before_jump).next().map(|t| t.timestamp())
        }
        _ => ambiguous.earlier().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    /// A Berlin civil time as an instant (the earlier one in a fold).
    fn local(text: &str) -> Timestamp {
        let civil: DateTime = text.parse().unwrap();
        berlin().to_ambiguous_timestamp(civil).earlier().unwrap()
    }

    fn next(schedule: &str, after: &str) -> Timestamp {
        schedule
            .parse::<CronSchedule>()
            .unwrap()
            .next_after(local(after), &berlin())
            .unwrap()
    }

    #[test]
    fn a_daily_schedule_comes_at_its_local_time_each_day() {
        assert_eq!(
            next("0 2 * * *", "2026-11-23T01:00"),
            local("2026-11-23T02:00")
        );
        assert_eq!(
            next("0 2 * * *", "2026-11-23T02:00"),
            local("2026-11-24T02:00")
        );
        assert_eq!(
            next("@daily", "2026-11-23T02:00"),
            local("2026-11-24T00:00")
        );
        assert_eq!(
            next("@hourly", "2026-11-23T02:00"),
            local("2026-11-23T03:00")
        );
    }

    #[test]
    fn lists_ranges_steps_and_names_combine() {
        let s = "*/15 8-17/3 * * mon-fri";
        assert_eq!(next(s, "2026-11-23T08:50"), local("2026-11-23T11:00"));
        // Friday 17:45 → Monday 08:00.
        assert_eq!(next(s, "2026-11-27T17:45"), local("2026-11-30T08:00"));
        assert_eq!(
            next("5/20 * * * *", "2026-11-23T08:26"),
            local("2026-11-23T08:45")
        );
        assert_eq!(
            next("0 9 * * 7", "2026-11-23T00:00"),
            local("2026-11-29T09:00")
        );
        assert_eq!(
            next("0 0 1,15 * *", "2026-11-02T00:00"),
            local("2026-11-15T00:00")
        );
        assert_eq!(
            next("@monthly", "2026-11-02T00:00"),
            local("2026-12-01T00:00")
        );
        assert_eq!(
            next("@weekly", "2026-11-23T00:00"),
            local("2026-11-29T00:00")
        );
        assert_eq!(
            next("@yearly", "2026-11-23T00:00"),
            local("2027-01-01T00:00")
        );
        assert_eq!(
            next("0 0 1 JAN *", "2026-11-23T00:00"),
            local("2027-01-01T00:00")
        );
    }

    #[test]
    fn when_both_day_fields_are_restricted_either_matches() {
        // The 1st of the month or any Monday: Monday 23 Nov comes first.
        assert_eq!(
            next("0 6 1 * 1", "2026-11-20T00:00"),
            local("2026-11-23T06:00")
        );
        assert_eq!(
            next("0 6 1 * 1", "2026-11-24T00:00"),
            local("2026-11-30T06:00")
        );
        assert_eq!(
            next("0 6 1 * 1", "2026-11-30T07:00"),
            local("2026-12-01T06:00")
        );
    }

    #[test]
    fn a_time_skipped_by_dst_is_expected_right_after_the_jump() {
        // 29 March 2026: Berlin jumps from 02:00 to 03:00 (01:00 UTC).
        let jump: Timestamp = "2026-03-29T01:00:00Z".parse().unwrap();
        assert_eq!(next("30 2 * * *", "2026-03-29T00:00"), jump);
        // Every quarter hour: 01:45, then the jump, then 03:15.
        assert_eq!(next("*/15 * * * *", "2026-03-29T01:45"), jump);
        assert_eq!(
            next("*/15 * * * *", "2026-03-29T03:00"),
            local("2026-03-29T03:15")
        );
        // The day after, 02:30 exists again.
        assert_eq!(
            next("30 2 * * *", "2026-03-29T12:00"),
            local("2026-03-30T02:30")
        );
    }

    #[test]
    fn a_time_repeated_by_dst_is_expected_once() {
        // 25 October 2026: Berlin goes back from 03:00 to 02:00 (01:00 UTC).
        let first: Timestamp = "2026-10-25T00:30:00Z".parse().unwrap();
        assert_eq!(next("30 2 * * *", "2026-10-25T00:00"), first);
        let after_first = first + jiff::SignedDuration::from_mins(1);
        assert_eq!(
            "30 2 * * *"
                .parse::<CronSchedule>()
                .unwrap()
                .next_after(after_first, &berlin()),
            Some(local("2026-10-26T02:30"))
        );
    }

    #[test]
    fn a_schedule_that_never_comes_has_no_next_time() {
        let never: CronSchedule = "0 0 30 2 *".parse().unwrap();
        assert_eq!(never.next_after(local("2026-01-01T00:00"), &berlin()), None);
        let leap: CronSchedule = "0 0 29 2 *".parse().unwrap();
        assert_eq!(
            leap.next_after(local("2026-01-01T00:00"), &berlin()),
            Some(local("2028-02-29T00:00"))
        );
    }

    #[test]
    fn mistakes_name_the_field_and_how_to_write_it() {
        let err = |text: &str| text.parse::<CronSchedule>().unwrap_err();
        assert!(
            err("0 2 * *").starts_with("\"0 2 * *\" has 4 fields: write five"),
            "{}",
            err("0 2 * *")
        );
        assert!(err("61 2 * * *").starts_with("61 is outside the minute field's 0–59"));
        assert!(err("0 24 * * *").contains("hour field's 0–23"));
        assert!(err("0 2 0 * *").contains("day of month field's 1–31"));
        assert!(err("0 2 * 13 *").contains("month field's 1–12"));
        assert!(err("0 2 * * 8").contains("day of week field's 0–7"));
        assert!(
            err("0 2 * * monday").starts_with("`monday` is not a number in the day of week field")
        );
        assert!(err("*/0 2 * * *").starts_with("`/0` is not a step"));
        assert!(err("0 5-2 * * *").starts_with("the range `5-2` in the hour field goes backwards"));
        assert!(err("@often").contains("the shorthands are @hourly"));
        assert!(err("0 2 * * x").ends_with("\"30 1 * * mon-fri\""));
    }

    #[test]
    fn simple_schedules_read_in_words_and_others_as_written() {
        let words = |text: &str| text.parse::<CronSchedule>().unwrap().describe();
        assert_eq!(words("0 2 * * *"), "daily at 02:00");
        assert_eq!(words("15 * * * *"), "hourly at :15");
        assert_eq!(words("0 2 * * 1-5"), "on the schedule \"0 2 * * 1-5\"");
        assert_eq!(words("*/5 * * * *"), "on the schedule \"*/5 * * * *\"");
        assert_eq!(words("0 2 1 * *"), "on the schedule \"0 2 1 * *\"");
        let schedule: CronSchedule = " 0 2 * * * ".parse().unwrap();
        assert_eq!(schedule.to_string(), "0 2 * * *");
    }

    #[test]
    fn a_schedule_reads_and_writes_as_a_string_in_the_config() {
        #[derive(Debug, serde::Deserialize, serde::Serialize)]
        struct T {
            schedule: CronSchedule,
        }
        let t: T = toml::from_str("schedule = \"0 2 * * *\"").unwrap();
        assert_eq!(
            toml::to_string(&t).unwrap().trim(),
            "schedule = \"0 2 * * *\""
        );
        let err = toml::from_str::<T>("schedule = \"0 2\"").unwrap_err();
        assert!(err.message().contains("has 2 fields"), "{}", err.message());
    }
}
