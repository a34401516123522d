//! The business calendar: opening hours of each weekday, holidays and
//! special days, in the business's time zone.
//!
//! keepwatch alerts and reports differently in and out of business hours; this
//! module owns how opening hours are written and answers "is this instant in
//! business hours, and which period is it in?". Everything is computed in
//! local civil time, so DST changes need no special cases: on the night the
//! clocks go forward, a range over the skipped hour is simply an hour shorter.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;

/// The business the monitored systems earn money for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessConfig {
    /// The business's name, used in reports and messages.
    pub name: String,
    /// IANA time zone such as `Europe/Berlin`; empty means this computer's zone.
    pub timezone: String,
    /// Email address of the person who looks after the systems.
    pub admin_email: String,
    /// Opening hours per weekday.
    pub hours: WeeklyHours,
    /// Days the business is closed: `"2026-12-31"` once, `"12-25"` every year.
    pub holidays: Vec<String>,
    /// Days with their own hours, by date: `"2026-12-24" = "08:00-12:00"`.
    pub special_days: BTreeMap<String, String>,
    /// Sales per open hour, so reports can estimate what an outage cost;
    /// 0 (the default) means not set, and reports say how to set it instead
    /// of inventing a number.
    pub revenue_per_hour: f64,
    /// How much a closed hour counts against an open one in cost estimates
    /// (0.1: an hour down at night costs a tenth of one in opening hours).
    pub off_hours_weight: f64,
    /// The currency sign reports put before amounts.
    pub currency: String,
}

impl Default for BusinessConfig {
    fn default() -> Self {
        Self {
            name: "My Business".to_owned(),
            timezone: String::new(),
            admin_email: String::new(),
            hours: WeeklyHours::default(),
            holidays: Vec::new(),
            special_days: BTreeMap::new(),
            revenue_per_hour: 0.0,
            off_hours_weight: 0.1,
            currency: "€".to_owned(),
        }
    }
}

/// Opening hours of each weekday: `"09:00-17:00"`, several ranges separated by
/// commas (`"08:00-12:00, 13:00-17:00"`), a range past midnight
/// (`"18:00-02:00"`), or `"closed"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeeklyHours {
    pub monday: String,
    pub tuesday: String,
    pub wednesday: String,
    pub thursday: String,
    pub friday: String,
    pub saturday: String,
    pub sunday: String,
}

impl Default for WeeklyHours {
    fn default() -> Self {
        let open = || "09:00-17:00".to_owned();
        Self {
            monday: open(),
            tuesday: open(),
            wednesday: open(),
            thursday: open(),
            friday: open(),
            saturday: "closed".to_owned(),
            sunday: "closed".to_owned(),
        }
    }
}

/// A day the business is closed: one date, or the same day every year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holiday {
    /// `"2026-12-31"`.
    Once(Date),
    /// `"12-25"`: month and day, every year.
    Yearly {
        /// 1–12.
        month: i8,
        /// 1–31.
        day: i8,
    },
}

impl Holiday {
    fn covers(self, date: Date) -> bool {
        match self {
            Holiday::Once(once) => once == date,
            Holiday::Yearly { month, day } => date.month() == month && date.day() == day,
        }
    }
}

impl FromStr for Holiday {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let invalid = || {
            format!(
                "\"{text}\" is not a date: write \"2026-12-31\" for one day, or \"12-25\" for every year"
            )
        };
        if let Ok(date) = text.parse::<Date>() {
            return Ok(Holiday::Once(date));
        }
        let (month, day) = text.split_once('-').ok_or_else(invalid)?;
        let (month, day): (i8, i8) = (
            month.parse().map_err(|_| invalid())?,
            day.parse().map_err(|_| invalid())?,
        );
        // 2024 is a leap year, so 02-29 is accepted as a yearly holiday.
        Date::new(2024, month, day).map_err(|_| invalid())?;
        Ok(Holiday::Yearly { month, day })
    }
}

/// Parses the date of a special day (`"2026-12-24"`).
pub fn parse_special_date(text: &str) -> Result<Date, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("\"{text}\" is not a date: write it like \"2026-12-24\""))
}

/// Where an instant falls in the business's week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Period {
    /// Open, in the range that started on `day` (the day before, for a range
    /// past midnight).
    Open {
        /// The day the range belongs to.
        day: Date,
        /// The range as written.
        range: (Time, Time),
    },
    /// Closed: outside the day's hours, a closed weekday, or a holiday.
    Closed {
        /// Why, in words: "outside opening hours", "closed on Sundays", "holiday".
        why: &'static str,
    },
}

impl Period {
    /// `true` in business hours.
    pub fn is_open(&self) -> bool {
        matches!(self, Period::Open { .. })
    }
}

/// The business's opening hours, holidays and special days in its time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
    week: [DayHours; 7],
    holidays: Vec<Holiday>,
    special: Vec<(Date, DayHours)>,
}

impl Calendar {
    /// The calendar of `[business]`; an empty time zone means `system`.
    /// The config was validated, so an error here names what is still wrong.
    pub fn from_config(business: &BusinessConfig, system: TimeZone) -> Result<Self, String> {
        let tz = match business.timezone.as_str() {
            "" => system,
            name => TimeZone::get(name).map_err(|err| format!("time zone `{name}`: {err}"))?,
        };
        let h = &business.hours;
        let week = [
            &h.monday,
            &h.tuesday,
            &h.wednesday,
            &h.thursday,
            &h.friday,
            &h.saturday,
            &h.sunday,
        ]
        .map(|text| text.parse::<DayHours>());
        let week = match week {
            [Ok(a), Ok(b), Ok(c), Ok(d), Ok(e), Ok(f), Ok(g)] => [a, b, c, d, e, f, g],
            other => return Err(other.into_iter().find_map(Result::err).unwrap_or_default()),
        };
        let holidays = business
            .holidays
            .iter()
            .map(|text| text.parse())
            .collect::<Result<Vec<_>, _>>()?;
        let special = business
            .special_days
            .iter()
            .map(|(date, hours)| Ok((parse_special_date(date)?, hours.parse::<DayHours>()?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            tz,
            week,
            holidays,
            special,
        })
    }

    /// The time zone the hours are in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The time zone of `calendar`, or this computer's without one.
    pub fn zone_of(calendar: Option<&Calendar>) -> TimeZone {
        calendar.map_or_else(TimeZone::system, |c| c.time_zone().clone())
    }

    /// The hours of one date, and why it is closed when it has none.
    fn hours_of(&self, date: Date) -> (&DayHours, &'static str) {
        if let Some((_, hours)) = self.special.iter().find(|(day, _)| *day == date) {
            return (hours, "closed on this special day");
        }
        if self.holidays.iter().any(|holiday| holiday.covers(date)) {
            return (&CLOSED, "holiday");
        }
        let hours = &self.week[date.weekday().to_monday_zero_offset() as usize];
        (hours, closed_on(date.weekday()))
    }

    /// Is `at` in business hours, and in which period?
    pub fn period_at(&self, at: Timestamp) -> Period {
        let local = self.tz.to_datetime(at);
        let (date, time) = (local.date(), local.time());
        let (today, why) = self.hours_of(date);
        for &(start, end) in &today.ranges {
            let open = if end > start {
                start <= time && time < end
            } else {
                start <= time
            };
            if open {
                return Period::Open {
                    day: date,
                    range: (start, end),
                };
            }
        }
        if let Ok(yesterday) = date.yesterday() {
            for &(start, end) in &self.hours_of(yesterday).0.ranges {
                if end <= start && time < end {
                    return Period::Open {
                        day: yesterday,
                        range: (start, end),
                    };
                }
            }
        }
        if today.is_closed() {
            Period::Closed { why }
        } else {
            Period::Closed {
                why: "outside opening hours",
            }
        }
    }

    /// The opening hours between `from` and `to`, as sorted, non-overlapping
    /// `(start, end)` instants clipped to that span: what reports weigh
    /// downtime against. A range past midnight belongs to the day it starts
    /// on, as in [`Calendar::period_at`]; on DST nights the local times are
    /// resolved as the clocks show them, so an open night loses or gains the
    /// hour the clocks skip or repeat.
    pub fn open_spans(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        let mut spans: Vec<(Timestamp, Timestamp)> = Vec::new();
        if from >= to {
            return spans;
        }
        let first = self.tz.to_datetime(from).date();
        let last = self.tz.to_datetime(to).date();
        let mut date = first.yesterday().unwrap_or(first);
        while date <= last {
            for &(start, end) in &self.hours_of(date).0.ranges {
                let Some(tomorrow) = date.tomorrow().ok() else {
                    continue;
                };
                let end_at = if end == Time::MAX {
                    tomorrow.to_datetime(Time::midnight())
                } else if end > start {
                    date.to_datetime(end)
                } else {
                    tomorrow.to_datetime(end)
                };
                let resolve =
                    |local: DateTime| self.tz.to_ambiguous_timestamp(local).compatible().ok();
                if let (Some(a), Some(b)) = (resolve(date.to_datetime(start)), resolve(end_at)) {
                    let (a, b) = (a.max(from), b.min(to));
                    if a < b {
                        spans.push((a, b));
                    }
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        spans.sort();
        let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(spans.len());
        for (a, b) in spans {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        merged
    }

    /// The next instant after `after` at which a range opens, looking up to
    /// two weeks ahead (enough for any week with an open day).
    pub fn next_opening(&self, after: Timestamp) -> Option<Timestamp> {
        let mut date = self.tz.to_datetime(after).date();
        for _ in 0..15 {
            let opening = self
                .hours_of(date)
                .0
                .ranges
                .iter()
                .filter_map(|&(start, _)| {
                    self.tz.to_timestamp(DateTime::from_parts(date, start)).ok()
                })
                .filter(|at| *at > after)
                .min();
            if opening.is_some() {
                return opening;
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

static CLOSED: DayHours = DayHours { ranges: Vec::new() };

fn closed_on(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "closed on Mondays",
        Weekday::Tuesday => "closed on Tuesdays",
        Weekday::Wednesday => "closed on Wednesdays",
        Weekday::Thursday => "closed on Thursdays",
        Weekday::Friday => "closed on Fridays",
        Weekday::Saturday => "closed on Saturdays",
        Weekday::Sunday => "closed on Sundays",
    }
}

/// The opening hours of one day: zero or more ranges. A range whose end is not
/// after its start runs past midnight into the next day (`"18:00-02:00"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DayHours {
    /// The ranges, in the order written.
    pub ranges: Vec<(Time, Time)>,
}

impl DayHours {
    /// `true` when the business does not open that day.
    pub fn is_closed(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl FromStr for DayHours {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("closed") || text.is_empty() {
            return Ok(Self::default());
        }
        let ranges = text
            .split(',')
            .map(|range| {
                let (start, end) = range.split_once('-').ok_or_else(|| {
                    format!(
                        "\"{}\" is not a range: write it like \"09:00-17:00\"",
                        range.trim()
                    )
                })?;
                Ok((parse_time(start)?, parse_time(end)?))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { ranges })
    }
}

impl fmt::Display for DayHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ranges.is_empty() {
            return f.write_str("closed");
        }
        for (i, (start, end)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}-{}", start.strftime("%H:%M"), end.strftime("%H:%M"))?;
        }
        Ok(())
    }
}

/// Parses `"HH:MM"` (`"24:00"` is [`Time::MAX`], the end of a day), or says
/// how to write a time of day. Shared with maintenance windows.
pub(crate) fn parse_time(text: &str) -> Result<Time, String> {
    let text = text.trim();
    let invalid = || {
        format!("\"{text}\" is not a time of day: write it as HH:MM, e.g. \"09:00\" or \"17:30\"")
    };
    let (hour, minute) = text.split_once(':').ok_or_else(invalid)?;
    let hour: i8 = hour.parse().map_err(|_| invalid())?;
    let minute: i8 = minute.parse().map_err(|_| invalid())?;
    if hour == 24 && minute == 0 {
        return Ok(Time::MAX);
    }
    Time::new(hour, minute, 0, 0).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Berlin shop: weekdays 09-17, Saturday 10-14, a bar night Friday
    /// 20:00-02:00, Christmas Eve short, Black Friday late, 25 Dec and one
    /// company holiday closed.
    fn shop() -> Calendar {
        let mut business = BusinessConfig {
            timezone: "Europe/Berlin".to_owned(),
            holidays: vec!["12-25".to_owned(), "2026-10-02".to_owned()],
            ..BusinessConfig::default()
        };
        business.hours.friday = "09:00-17:00, 20:00-02:00".to_owned();
        business.hours.saturday = "10:00-14:00".to_owned();
        business
            .special_days
            .insert("2026-12-24".to_owned(), "08:00-12:00".to_owned());
        business
            .special_days
            .insert("2026-11-27".to_owned(), "09:00-23:00".to_owned());
        Calendar::from_config(&business, TimeZone::UTC).unwrap()
    }

    fn at(local: &str) -> Timestamp {
        let dt: DateTime = local.parse().unwrap();
        TimeZone::get("Europe/Berlin")
            .unwrap()
            .to_timestamp(dt)
            .unwrap()
    }

    #[test]
    fn walks_a_week_of_days_nights_and_weekends() {
        let cal = shop();
        for (local, open, why) in [
            ("2026-11-23T08:59:59", false, "outside opening hours"), // Monday before opening
            ("2026-11-23T09:00:00", true, ""),
            ("2026-11-23T16:59:59", true, ""),
            ("2026-11-23T17:00:00", false, "outside opening hours"),
            ("2026-11-24T03:00:00", false, "outside opening hours"), // Tuesday night
            ("2026-11-20T21:00:00", true, ""),                       // Friday bar night
            ("2026-11-21T01:30:00", true, ""), // ...past midnight into Saturday
            ("2026-11-21T02:00:00", false, "outside opening hours"),
            ("2026-11-21T11:00:00", true, ""), // Saturday
            ("2026-11-22T11:00:00", false, "closed on Sundays"),
        ] {
            let period = cal.period_at(at(local));
            assert_eq!(period.is_open(), open, "{local}: {period:?}");
            if let Period::Closed { why: got } = period {
                assert_eq!(got, why, "{local}");
            }
        }
        assert_eq!(
            cal.period_at(at("2026-11-21T01:30:00")),
            Period::Open {
                day: "2026-11-20".parse().unwrap(),
                range: (Time::constant(20, 0, 0, 0), Time::constant(2, 0, 0, 0))
            }
        );
    }

    #[test]
    fn holidays_and_special_days_override_the_week() {
        let cal = shop();
        assert_eq!(
            cal.period_at(at("2026-12-25T10:00:00")),
            Period::Closed { why: "holiday" }
        );
        assert_eq!(
            cal.period_at(at("2027-12-25T10:00:00")),
            Period::Closed { why: "holiday" }
        );
        assert_eq!(
            cal.period_at(at("2026-10-02T10:00:00")),
            Period::Closed { why: "holiday" }
        );
        assert!(
            cal.period_at(at("2027-10-01T10:00:00")).is_open(),
            "a one-off holiday is not yearly"
        );
        assert!(cal.period_at(at("2026-12-24T11:00:00")).is_open());
        assert!(
            !cal.period_at(at("2026-12-24T13:00:00")).is_open(),
            "Christmas Eve closes at noon"
        );
        assert!(
            cal.period_at(at("2026-11-27T22:30:00")).is_open(),
            "Black Friday runs late"
        );
        assert!(
            !cal.period_at(
                at("2026-11-27T21:00:00")
                    .saturating_add(jiff::SignedDuration::from_hours(3))
                    .unwrap()
            )
            .is_open()
        );
    }

    #[test]
    fn both_dst_changes_keep_local_hours() {
        let mut business = BusinessConfig {
            timezone: "Europe/Berlin".to_owned(),
            ..BusinessConfig::default()
        };
        business.hours.sunday = "01:00-04:00".to_owned();
        let cal = Calendar::from_config(&business, TimeZone::UTC).unwrap();
        // 29 March 2026: 02:00 local jumps to 03:00. 00:30 UTC is 01:30 CET, open;
        // 01:30 UTC is 03:30 CEST, still open; 02:00 UTC is 04:00 CEST, closed.
        for (utc, open) in [
            ("2026-03-29T00:30:00Z", true),
            ("2026-03-29T01:30:00Z", true),
            ("2026-03-29T02:00:00Z", false),
        ] {
            assert_eq!(cal.period_at(utc.parse().unwrap()).is_open(), open, "{utc}");
        }
        // 25 October 2026: 03:00 CEST falls back to 02:00 CET; the range lasts 4 real hours.
        for (utc, open) in [
            ("2026-10-24T23:00:00Z", true),
            ("2026-10-25T01:30:00Z", true),
            ("2026-10-25T02:59:00Z", true),
            ("2026-10-25T03:00:00Z", false),
        ] {
            assert_eq!(cal.period_at(utc.parse().unwrap()).is_open(), open, "{utc}");
        }
        // Weekday 09:00 is 08:00 UTC in winter and 07:00 UTC in summer.
        assert!(
            cal.period_at("2026-03-27T08:00:00Z".parse().unwrap())
                .is_open()
        );
        assert!(
            cal.period_at("2026-03-30T07:00:00Z".parse().unwrap())
                .is_open()
        );
        assert!(
            !cal.period_at("2026-03-30T06:59:00Z".parse().unwrap())
                .is_open()
        );
    }

    #[test]
    fn the_next_opening_skips_nights_weekends_and_holidays() {
        let cal = shop();
        assert_eq!(
            cal.next_opening(at("2026-11-23T20:00:00")),
            Some(at("2026-11-24T09:00:00"))
        );
        assert_eq!(
            cal.next_opening(at("2026-11-21T15:00:00")),
            Some(at("2026-11-23T09:00:00")),
            "Saturday afternoon → Monday"
        );
        assert_eq!(
            cal.next_opening(at("2026-11-20T18:00:00")),
            Some(at("2026-11-20T20:00:00")),
            "the bar night"
        );
        assert_eq!(
            cal.next_opening(at("2026-12-24T13:00:00")),
            Some(at("2026-12-26T10:00:00")),
            "past Christmas to Saturday"
        );
        let mut never = BusinessConfig::default();
        for day in [
            &mut never.hours.monday,
            &mut never.hours.tuesday,
            &mut never.hours.wednesday,
            &mut never.hours.thursday,
            &mut never.hours.friday,
        ] {
            *day = "closed".to_owned();
        }
        let closed = Calendar::from_config(&never, TimeZone::UTC).unwrap();
        assert_eq!(closed.next_opening(at("2026-11-23T20:00:00")), None);
        assert_eq!(closed.time_zone(), &TimeZone::UTC);
    }

    #[test]
    fn holidays_and_special_dates_parse_or_say_how_to_write_them() {
        assert_eq!(
            "12-25".parse::<Holiday>().unwrap(),
            Holiday::Yearly { month: 12, day: 25 }
        );
        assert_eq!(
            "02-29".parse::<Holiday>().unwrap(),
            Holiday::Yearly { month: 2, day: 29 }
        );
        assert!(matches!(
            "2026-12-31".parse::<Holiday>().unwrap(),
            Holiday::Once(_)
        ));
        for bad in ["christmas", "13-01", "12", "2026-02-30"] {
            assert!(
                bad.parse::<Holiday>().unwrap_err().contains("\"12-25\""),
                "{bad}"
            );
        }
        assert!(
            parse_special_date("24.12.")
                .unwrap_err()
                .contains("2026-12-24")
        );
        let bad = BusinessConfig {
            holidays: vec!["xmas".to_owned()],
            ..BusinessConfig::default()
        };
        assert!(Calendar::from_config(&bad, TimeZone::UTC).is_err());
        let bad_hours = BusinessConfig {
            hours: crate::calendar::WeeklyHours {
                sunday: "all day".to_owned(),
                ..crate::calendar::WeeklyHours::default()
            },
            ..BusinessConfig::default()
        };
        assert!(Calendar::from_config(&bad_hours, TimeZone::UTC).is_err());
        let bad_zone = BusinessConfig {
            timezone: "Mars/Olympus".to_owned(),
            ..BusinessConfig::default()
        };
        assert!(Calendar::from_config(&bad_zone, TimeZone::UTC).is_err());
    }

    #[test]
    fn hours_parse_single_split_overnight_and_closed() {
        let day: DayHours = "09:00-17:00".parse().unwrap();
        assert_eq!(
            day.ranges,
            vec![(Time::constant(9, 0, 0, 0), Time::constant(17, 0, 0, 0))]
        );
        let split: DayHours = "08:00-12:00, 13:30-18:00".parse().unwrap();
        assert_eq!(split.ranges.len(), 2);
        assert_eq!(split.to_string(), "08:00-12:00, 13:30-18:00");
        let night: DayHours = "18:00-02:00".parse().unwrap();
        assert!(night.ranges[0].1 < night.ranges[0].0);
        assert!("closed".parse::<DayHours>().unwrap().is_closed());
        assert_eq!(DayHours::default().to_string(), "closed");
        assert_eq!(
            "00:00-24:00".parse::<DayHours>().unwrap().ranges[0].1,
            Time::MAX
        );
    }

    #[test]
    fn bad_hours_say_how_to_write_them() {
        for bad in ["9 to 5", "09:00", "25:00-26:00", "09:60-10:00", "9h-17h"] {
            let err = bad.parse::<DayHours>().unwrap_err();
            assert!(err.contains("09:00"), "{bad}: {err}");
        }
    }
}
