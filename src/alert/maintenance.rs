//! Maintenance windows: `[[maintenance]]` tables in the config, and unplanned
//! work started from the command line. While a window covers a service or a
//! host, nothing it covers alerts; the alert engine asks [`covering`].
//!
//! Everything here is pure: the caller passes the instant and the business
//! time zone.
//!
//! # Local time and DST
//!
//! Planned windows are written in the civil time of the business time zone
//! and turned into real instants with jiff's *compatible* disambiguation (the
//! rule of RFC 5545 and of most calendars): a time in the gap when the clocks
//! go forward is moved forward by the gap's length, and a time in the hour that
//! happens twice when the clocks go back is its first pass. A window covers the
//! real instants from its resolved start (included) to its resolved end (not
//! included). In Europe/Berlin, `every = "sunday"`, `from = "02:00"`,
//! `until = "04:00"` therefore
//! - lasts one real hour on 29 March 2026 (03:00 to 04:00 CEST: 02:00 does not
//!   exist that night, so the window starts when the clocks show 03:00);
//! - lasts three real hours on 25 October 2026 (the first 02:00, CEST, to
//!   04:00 CET), so the hour that happens twice is covered both times;
//! - and a window lying wholly in the skipped hour (`02:15`–`03:00`) does not
//!   happen that night, while one ending in the repeated hour ends at that
//!   time's first pass.
//!
//! Ad-hoc windows are real instants from the start, so DST does not touch them.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::calendar::parse_time;

/// One `[[maintenance]]` table: a planned time in which the services and hosts
/// it names do not alert. Either one-off (`start` and `end`) or repeating
/// (`every`, `from` and `until`); [`MaintenanceConfig::parse`] checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// Names the window in messages: "in maintenance: Sunday backups".
    pub name: String,
    /// The services it covers, by name. With `hosts` also empty it covers
    /// every service and host.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// The hosts it covers, by name: every alert about such a host, its
    /// services' included.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// When a one-off window begins, in the business time zone:
    /// `"2026-12-05 22:00"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// When a one-off window ends (that minute is no longer covered):
    /// `"2026-12-06 02:00"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// The days a repeating window starts on: a weekday (`"sunday"`), `"day"`
    /// for every day, or a list (`["saturday", "sunday"]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<Every>,
    /// When a repeating window begins on each of its days: `"02:00"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// When a repeating window ends: `"04:00"`; a time not after `from` is on
    /// the next day (`from = "23:00"`, `until = "01:00"`), `"24:00"` is midnight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// The `every` key: one name (a weekday or `"day"`) or a list of them, so the
/// common single day needs no brackets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a weekday such as \"sunday\", \"day\", or a list such as [\"saturday\", \"sunday\"]"
)]
pub enum Every {
    /// `every = "sunday"` or `every = "day"`.
    One(String),
    /// `every = ["saturday", "sunday"]`.
    Days(Vec<String>),
}

/// The weekdays by name, in jiff's Monday-zero order.
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A set of weekdays, one bit per day in Monday-zero order.
const EVERY_DAY: u8 = 0b111_1111;

/// How many days after an instant's date [`Window::next_start`] looks: two
/// weeks, so a weekly window whose next night falls wholly into a DST gap is
/// found the week after.
const LOOKAHEAD_DAYS: usize = 14;

const NEEDS_ONCE: &str = "a one-off window needs start and end";
const NEEDS_REPEAT: &str = "a repeating window needs every, from and until";

impl MaintenanceConfig {
    /// The window this table describes, or every problem with it. Each
    /// message starts with the key it is about (`"every: ..."`), so the
    /// caller can point at the line, and says how to fix it.
    pub fn parse(&self) -> Result<Window, Vec<String>> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems
                .push("name: missing: messages need it, e.g. name = \"Sunday backups\"".to_owned());
        }
        let once = self.start.is_some() || self.end.is_some();
        let repeating = self.every.is_some() || self.from.is_some() || self.until.is_some();
        let when = match (once, repeating) {
            (true, true) => {
                problems.push(
                    "every: a window is either one-off (start and end) or repeating (every, \
                     from and until), not both: remove one of them"
                        .to_owned(),
                );
                None
            }
            (false, false) => {
                problems.push(
                    "start: no time given: write start = \"2026-12-05 22:00\" and \
                     end = \"2026-12-06 02:00\" for a one-off window, or every = \"sunday\", \
                     from = \"02:00\" and until = \"04:00\" for a repeating one"
                        .to_owned(),
                );
                None
            }
            (true, false) => self.parse_once(&mut problems),
            (false, true) => self.parse_repeating(&mut problems),
        };
        match when {
            Some(when) if problems.is_empty() => Ok(Window {
                name: self.name.trim().to_owned(),
                services: self.services.clone(),
                hosts: self.hosts.clone(),
                when,
            }),
            _ => Err(problems),
        }
    }

    fn parse_once(&self, problems: &mut Vec<String>) -> Option<When> {
        let start = field(
            problems,
            ("start", "\"2026-12-05 22:00\"", NEEDS_ONCE),
            self.start.as_deref(),
            parse_datetime,
        );
        let end = field(
            problems,
            ("end", "\"2026-12-06 02:00\"", NEEDS_ONCE),
            self.end.as_deref(),
            parse_datetime,
        );
        let (start, end) = (start?, end?);
        if start >= end {
            problems.push(format!(
                "start: \"{}\" is not before end \"{}\": the window would be empty; \
                 put the end after the start",
                self.start.as_deref().unwrap_or_default(),
                self.end.as_deref().unwrap_or_default(),
            ));
            return None;
        }
        Some(When::Once { start, end })
    }

    fn parse_repeating(&self, problems: &mut Vec<String>) -> Option<When> {
        let days = match &self.every {
            Some(every) => parse_days(every)
                .map_err(|err| problems.push(format!("every: {err}")))
                .ok(),
            None => {
                problems.push(format!(
                    "every: missing: {NEEDS_REPEAT}, e.g. every = \"sunday\""
                ));
                None
            }
        };
        let from = field(
            problems,
            ("from", "\"02:00\"", NEEDS_REPEAT),
            self.from.as_deref(),
            |text| match parse_time(text)? {
                Time::MAX => Err(format!(
                    "\"{}\" is the end of a day: a window starting at midnight starts at \
                     \"00:00\" of the next day",
                    text.trim()
                )),
                time => Ok(time),
            },
        );
        let until = field(
            problems,
            ("until", "\"04:00\"", NEEDS_REPEAT),
            self.until.as_deref(),
            parse_time,
        );
        let (days, from, until) = (days?, from?, until?);
        if from == until {
            problems.push(format!(
                "until: equals from (\"{}\"), so the window has no length: for a whole day \
                 write from = \"00:00\" and until = \"24:00\"",
                from.strftime("%H:%M")
            ));
            return None;
        }
        let until = if until == Time::MAX {
            Time::midnight()
        } else {
            until
        };
        Some(When::Weekly { days, from, until })
    }
}

/// Parses a key that must be there, given (key, an example value, what
/// needs the key). A problem is recorded as `"key: ..."`.
fn field<T>(
    problems: &mut Vec<String>,
    (key, example, needs): (&str, &str, &str),
    text: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    let Some(text) = text else {
        problems.push(format!("{key}: missing: {needs}, e.g. {key} = {example}"));
        return None;
    };
    parse(text)
        .map_err(|err| problems.push(format!("{key}: {err}")))
        .ok()
}

/// A local date and time as `start` and `end` are written.
fn parse_datetime(text: &str) -> Result<DateTime, String> {
    DateTime::strptime("%Y-%m-%d %H:%M", text.trim()).map_err(|_| {
        format!("\"{text}\" is not a date and time: write it like \"2026-12-05 22:00\"")
    })
}

/// The weekdays `every` names, as a set of bits.
fn parse_days(every: &Every) -> Result<u8, String> {
    let names = match every {
        Every::One(name) => std::slice::from_ref(name),
        Every::Days(names) => names.as_slice(),
    };
    if names.is_empty() {
        return Err(
            "the list is empty: name at least one weekday, e.g. every = [\"saturday\", \"sunday\"]"
                .to_owned(),
        );
    }
    names
        .iter()
        .try_fold(0, |days, name| Ok(days | day_bits(name)?))
}

/// The days one name stands for: a weekday, or all of them for `"day"`.
fn day_bits(name: &str) -> Result<u8, String> {
    let lower = name.trim().to_lowercase();
    if lower == "day" {
        return Ok(EVERY_DAY);
    }
    if let Some(index) = WEEKDAYS.iter().position(|day| *day == lower) {
        return Ok(1 << index);
    }
    let hint = WEEKDAYS
        .iter()
        .chain(&["day"])
        .map(|candidate| (strsim::jaro_winkler(&lower, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, best)| format!("did you mean \"{best}\"?"))
        .unwrap_or_else(|| {
            "write a weekday such as \"sunday\", \"day\" for every day, or a list such as \
             [\"saturday\", \"sunday\"]"
                .to_owned()
        });
    Err(format!("\"{name}\" is not a weekday; {hint}"))
}

/// A validated maintenance window: its name, what it covers and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    name: String,
    services: Vec<String>,
    hosts: Vec<String>,
    when: When,
}

/// When a window is in force.
#[derive(Debug, Clone, PartialEq, Eq)]
enum When {
    /// From one local date and time to another.
    Once { start: DateTime, end: DateTime },
    /// Between two instants, for unplanned work.
    AdHoc { start: Timestamp, end: Timestamp },
    /// On the `days` (bits in Monday-zero order), from `from` to `until`, on
    /// the next day when `until` is not after `from`.
    Weekly { days: u8, from: Time, until: Time },
}

/// What an alert is about: the host, and the service when it is about one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The host the alert is about, or the host checking the service.
    pub host: &'a str,
    /// The service's name; `None` for a host metric (disk, memory, ...).
    pub service: Option<&'a str>,
}

impl Window {
    /// Unplanned work started from the command line (`keepwatch maintenance
    /// start --for 1h [--service NAME]`): covers `services` (all of them and
    /// the host when empty) from `start` (included) to `end` (not included).
    /// An `end` not after `start` makes a window that never covers anything.
    pub fn ad_hoc(
        name: impl Into<String>,
        start: Timestamp,
        end: Timestamp,
        services: Vec<String>,
    ) -> Self {
        Self {
            name: name.into(),
            services,
            hosts: Vec::new(),
            when: When::AdHoc { start, end },
        }
    }

    /// The name, for "in maintenance: Sunday backups".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The services it names; with [`Window::hosts`] also empty it covers everything.
    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// The hosts it names.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// Whether alerts about `target` are held back at `at`: the window names
    /// the target (or names nothing) and an occurrence is in force at `at`.
    pub fn covers(&self, at: Timestamp, tz: &TimeZone, target: &Target<'_>) -> bool {
        self.names(target) && self.active_until(at, tz).is_some()
    }

    /// The end of the occurrence in force at `at` (the latest, should two
    /// overlap), whatever it covers: for "in maintenance until 04:00", and so
    /// the engine knows when to look again. `None` when none is in force.
    pub fn active_until(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        self.occurrences(at, tz, 0)
            .into_iter()
            .filter(|&(start, end)| start <= at && at < end)
            .map(|(_, end)| end)
            .max()
    }

    /// The first start of an occurrence after `after` (not at it), for status
    /// display and so the engine knows when the next one begins; `None` for a
    /// one-off window that has begun, or a repeating one whose next two weeks
    /// hold no occurrence (impossible outside DST gaps).
    pub fn next_start(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        self.occurrences(after, tz, LOOKAHEAD_DAYS)
            .into_iter()
            .map(|(start, _)| start)
            .filter(|start| *start > after)
            .min()
    }

    /// The occurrences about `target` that overlap `from..to`, clipped to
    /// it: the planned time reports leave out of availability.
    pub fn spans(
        &self,
        from: Timestamp,
        to: Timestamp,
        tz: &TimeZone,
        target: &Target<'_>,
    ) -> Vec<(Timestamp, Timestamp)> {
        if !self.names(target) || from >= to {
            return Vec::new();
        }
        let days = from.duration_until(to).as_hours() / 24 + 2;
        self.occurrences(from, tz, usize::try_from(days).unwrap_or(0))
            .into_iter()
            .map(|(start, end)| (start.max(from), end.min(to)))
            .filter(|(start, end)| start < end)
            .collect()
    }

    /// Whether the window is about `target`.
    fn names(&self, target: &Target<'_>) -> bool {
        (self.services.is_empty() && self.hosts.is_empty())
            || self.hosts.iter().any(|host| host == target.host)
            || target
                .service
                .is_some_and(|service| self.services.iter().any(|name| name == service))
    }

    /// The occurrences, as (start, end) instants with `start < end`, that may
    /// be in force at `at` or start up to `days_ahead` days after its local
    /// date. A repeating window's occurrence belongs to the day it starts on,
    /// so that is the day before `at`'s date, its date, and the days ahead.
    fn occurrences(
        &self,
        at: Timestamp,
        tz: &TimeZone,
        days_ahead: usize,
    ) -> Vec<(Timestamp, Timestamp)> {
        let all = match self.when {
            When::AdHoc { start, end } => vec![(start, end)],
            When::Once { start, end } => resolve(tz, start)
                .zip(resolve(tz, end))
                .into_iter()
                .collect(),
            When::Weekly { days, from, until } => {
                let today = tz.to_datetime(at).date();
                today
                    .yesterday()
                    .unwrap_or(today)
                    .series(1.day())
                    .take(days_ahead + 2)
                    .filter(|date| days & (1 << date.weekday().to_monday_zero_offset()) != 0)
                    .filter_map(|date| occurrence(tz, date, from, until))
                    .collect()
            }
        };
        all.into_iter().filter(|(start, end)| start < end).collect()
    }
}

/// The occurrence of a repeating window that starts on `date`.
fn occurrence(
    tz: &TimeZone,
    date: Date,
    from: Time,
    until: Time,
) -> Option<(Timestamp, Timestamp)> {
    let end_date = if until > from {
        date
    } else {
        date.tomorrow().ok()?
    };
    Some((
        resolve(tz, date.to_datetime(from))?,
        resolve(tz, end_date.to_datetime(until))?,
    ))
}

/// The instant of a local date and time, with compatible disambiguation (see
/// the module's documentation); `None` beyond the range of instants.
fn resolve(tz: &TimeZone, local: DateTime) -> Option<Timestamp> {
    tz.to_ambiguous_timestamp(local).compatible().ok()
}

/// The window that holds back alerts about `target` at `at`: of those
/// covering it, the one in force longest (the last listed of equals), so a
/// message can say until when. `None` when no window covers the target.
pub fn covering<'w>(
    windows: &'w [Window],
    at: Timestamp,
    tz: &TimeZone,
    target: &Target<'_>,
) -> Option<&'w Window> {
    windows
        .iter()
        .filter(|window| window.names(target))
        .filter_map(|window| Some((window.active_until(at, tz)?, window)))
        .max_by_key(|(end, _)| *end)
        .map(|(_, window)| window)
}

#[cfg(test)]
mod tests;
