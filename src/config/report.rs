//! The `[[report]]` tables: which report goes to whom, and when. They live
//! here rather than in `report/` because reports sit above `config` in the
//! layers (like the `[api]` section); `report::schedule` turns a parsed
//! [`When`] into instants and sends.

use jiff::civil::{Time, Weekday};
use serde::{Deserialize, Serialize};

use crate::calendar::parse_time;
use crate::notify::{Channel, ChannelKind};

/// One `[[report]]` table: a report sent by email on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// What the report is called in keepwatch's log and in `keepwatch report
    /// test`; empty means it is named after its schedule ("the report every
    /// monday 08:00"). Also what keepwatch remembers the last report by.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// When it is sent, as people say it, in the business time zone:
    /// `"monday 08:00"`, `"month 1st 08:00"`, `"day 18:00"`.
    pub every: String,
    /// The period it covers; left out, the one that fits the schedule
    /// (weekly: `last-week`, monthly: `last-month`, daily: `today` in the
    /// afternoon or evening, `yesterday` in the morning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Who it is written for.
    pub audience: Audience,
    /// The channel it goes through, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Email addresses it goes to instead of the channel's own recipients
    /// (through `channel`, or the only email channel there is).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
}

/// Who a report is written for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// Managers: plain words, colours, cost.
    #[default]
    Executive,
    /// The admin: the executive report plus the numbers behind it.
    Technical,
}

impl std::str::FromStr for Audience {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "executive" => Ok(Self::Executive),
            "technical" => Ok(Self::Technical),
            other => Err(format!(
                "\"{other}\" is not an audience: use \"executive\" (for managers) or \"technical\" (for the admin)"
            )),
        }
    }
}

/// The periods a report can cover by name (`--period`, `period =`).
pub const PERIODS: &[&str] = &[
    "today",
    "yesterday",
    "this-week",
    "last-week",
    "this-month",
    "last-month",
    "last-30-days",
];

/// Which days a scheduled report goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Days {
    /// Every day.
    Daily,
    /// One weekday a week.
    Weekly(Weekday),
    /// One day of each month, 1 to 31; a month without that day uses its
    /// last day.
    Monthly(i8),
}

/// A parsed `every`: the days and the time of day, in the business time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    /// Which days.
    pub days: Days,
    /// The time of day.
    pub at: Time,
}

/// How `every` is written, for error messages.
const EVERY_EXAMPLES: &str = "write it like \"monday 08:00\", \"month 1st 08:00\" or \"day 18:00\"";

/// The weekdays by name and the short forms people write.
const WEEKDAYS: [(&str, &str, Weekday); 7] = [
    ("monday", "mon", Weekday::Monday),
    ("tuesday", "tue", Weekday::Tuesday),
    ("wednesday", "wed", Weekday::Wednesday),
    ("thursday", "thu", Weekday::Thursday),
    ("friday", "fri", Weekday::Friday),
    ("saturday", "sat", Weekday::Saturday),
    ("sunday", "sun", Weekday::Sunday),
];

impl std::str::FromStr for When {
    type Err = String;

    /// Reads `"monday 08:00"`, `"month 1st 08:00"`, `"day 18:00"` and the
    /// ways people vary them: `"every Friday at 17:30"`, `"mondays 08:00"`,
    /// `"15th of the month 07:00"`, `"daily 18:00"`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_lowercase();
        let words: Vec<&str> = lower
            .split_whitespace()
            .filter(|word| !["every", "at", "on", "the", "of", "each"].contains(word))
            .collect();
        let Some((time, day_words)) = words.split_last() else {
            return Err(format!("no schedule is given: {EVERY_EXAMPLES}"));
        };
        let at = parse_time(time).map_err(|_| {
            format!("\"{text}\" has no time of day at its end (HH:MM): {EVERY_EXAMPLES}")
        })?;
        if at == Time::MAX {
            return Err(format!(
                "\"{text}\": 24:00 is the end of the day; write \"23:59\" or \"00:00\" of the next day"
            ));
        }
        let one_weekday = match day_words {
            [word] => weekday(word),
            _ => None,
        };
        let days = match (one_weekday, day_words) {
            (Some(day), _) => Days::Weekly(day),
            (None, ["day" | "daily" | "days"]) => Days::Daily,
            (None, ["month" | "monthly", nth] | [nth, "month"]) => Days::Monthly(day_of_month(nth).ok_or_else(
                || format!("\"{text}\": \"{nth}\" is not a day of the month (1st to 31st): {EVERY_EXAMPLES}"),
            )?),
            (None, ["week" | "weekly"]) => {
                return Err(format!(
                    "\"{text}\" does not say which day of the week: write it like \"monday 08:00\""
                ));
            }
            (None, ["month" | "monthly"]) => {
                return Err(format!(
                    "\"{text}\" does not say which day of the month: write it like \"month 1st 08:00\""
                ));
            }
            (None, []) => {
                return Err(format!(
                    "\"{text}\" does not say which days: {EVERY_EXAMPLES}"
                ));
            }
            (None, [word]) => {
                let names: Vec<String> = WEEKDAYS
                    .iter()
                    .map(|(long, _, _)| (*long).to_owned())
                    .chain(["day".to_owned()])
                    .collect();
                let hint = crate::config::problem::suggest(word, &names)
                    .map(|best| format!("did you mean \"{best}\"? "))
                    .unwrap_or_default();
                return Err(format!(
                    "\"{text}\" is not a schedule keepwatch understands: {hint}{EVERY_EXAMPLES}"
                ));
            }
            _ => {
                return Err(format!("\"{text}\" is not a schedule keepwatch understands: {EVERY_EXAMPLES}"));
            }
        };
        Ok(When { days, at })
    }
}

/// A weekday written in full, short, or as a plural ("mondays").
fn weekday(word: &str) -> Option<Weekday> {
    let word = word
        .strip_suffix('s')
        .filter(|w| w.ends_with("day"))
        .unwrap_or(word);
    WEEKDAYS
        .iter()
        .find(|(long, short, _)| word == *long || word == *short)
        .map(|(_, _, day)| *day)
}

/// `"1st"`, `"2nd"`, `"15th"`, `"31st"` or a bare number, 1 to 31.
fn day_of_month(word: &str) -> Option<i8> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    let day: i8 = digits.parse().ok()?;
    let right = match (day % 10, day) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    ((1..=31).contains(&day) && (suffix.is_empty() || suffix == right)).then_some(day)
}

impl When {
    /// The period a report on this schedule covers when `period` is left
    /// out: the week or month just over, or for a daily report the day
    /// itself when it is sent from noon on, else the day before.
    pub fn default_period(&self) -> &'static str {
        match self.days {
            Days::Daily if self.at >= Time::constant(12, 0, 0, 0) => "today",
            Days::Daily => "yesterday",
            Days::Weekly(_) => "last-week",
            Days::Monthly(_) => "last-month",
        }
    }
}

impl ReportConfig {
    /// The schedule, or every problem with this table that needs no other
    /// part of the config. Each message starts with the key it is about
    /// (`"every: ..."`), so the caller can point at its line.
    pub fn parse(&self) -> Result<When, Vec<String>> {
        let mut problems = Vec::new();
        let when = self
            .every
            .parse::<When>()
            .map_err(|err| problems.push(format!("every: {err}")))
            .ok();
        if let Some(period) = &self.period
            && !PERIODS.contains(&period.as_str())
        {
            problems.push(format!(
                "period: \"{period}\" is not a period: use one of {}, or leave it out for the one that fits the schedule",
                PERIODS.join(", ")
            ));
        }
        match when {
            Some(when) if problems.is_empty() => Ok(when),
            _ => Err(problems),
        }
    }

    /// The period the report covers: `period`, or the schedule's own.
    pub fn period_name(&self, when: &When) -> String {
        self.period
            .clone()
            .unwrap_or_else(|| when.default_period().to_owned())
    }

    /// The channel the report goes through, as the config's `[[channel]]`
    /// tables (and the built-in log) have it, or why there is none. The
    /// message starts with the key it is about (`"channel: ..."`).
    pub fn channel_in(&self, channels: &[Channel]) -> Result<Channel, String> {
        let named = |name: &str| {
            channels
                .iter()
                .find(|c| c.name == name)
                .cloned()
                .or_else(|| (name == Channel::LOG).then(Channel::log))
        };
        let is_email = |c: &Channel| matches!(c.kind, ChannelKind::Email(_));
        match (&self.channel, self.to.is_empty()) {
            (None, true) => Err(
                "channel: the report goes to nobody: write channel = \"admin-email\" (a [[channel]] \
                 by name) or to = [\"boss@example.com\"]"
                    .to_owned(),
            ),
            (Some(name), _) => {
                let Some(channel) = named(name) else {
                    let mut names: Vec<String> = channels.iter().map(|c| c.name.clone()).collect();
                    names.push(Channel::LOG.to_owned());
                    let hint = crate::config::problem::suggest(name, &names)
                        .map(|best| format!("did you mean \"{best}\"?"))
                        .unwrap_or_else(|| format!("the channels are {}", names.join(", ")));
                    return Err(format!("channel: \"{name}\" is not a channel: {hint}"));
                };
                if !self.to.is_empty() && !is_email(&channel) {
                    return Err(format!(
                        "to: addresses need an email channel, and \"{name}\" is not one: name an \
                         email [[channel]], or leave out `to` to use \"{name}\" as it is"
                    ));
                }
                Ok(channel)
            }
            (None, false) => {
                let emails: Vec<&Channel> = channels.iter().filter(|c| is_email(c)).collect();
                match emails.as_slice() {
                    [only] => Ok((*only).clone()),
                    [] => Err(
                        "to: sending to addresses needs an email [[channel]] with the mail server \
                         to use (`keepwatch init` sets one up)"
                            .to_owned(),
                    ),
                    several => Err(format!(
                        "to: there are several email channels ({}): say which sends the report, \
                         e.g. channel = \"{}\"",
                        several.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", "),
                        several[0].name
                    )),
                }
            }
        }
    }

    /// How the log and `keepwatch report test` name this report.
    pub fn title(&self) -> String {
        if self.name.trim().is_empty() {
            format!("the report every {}", self.every.trim())
        } else {
            format!("the report \"{}\"", self.name)
        }
    }

    /// What keepwatch remembers the last report made by: the name, else the
    /// schedule and who gets it, so a changed table counts as a new report.
    pub fn key(&self) -> String {
        if self.name.trim().is_empty() {
            format!(
                "{} | {} | {:?} | {} | {}",
                self.every.trim(),
                self.period.as_deref().unwrap_or(""),
                self.audience,
                self.channel.as_deref().unwrap_or(""),
                self.to.join(",")
            )
        } else {
            self.name.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn when(text: &str) -> When {
        text.parse().unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    fn time(hour: i8, minute: i8) -> Time {
        Time::new(hour, minute, 0, 0).unwrap()
    }

    #[test]
    fn schedules_are_read_the_way_people_say_them() {
        for (text, days, at) in [
            ("monday 08:00", Days::Weekly(Weekday::Monday), time(8, 0)),
            ("Friday 17:30", Days::Weekly(Weekday::Friday), time(17, 30)),
            (
                "every friday at 17:30",
                Days::Weekly(Weekday::Friday),
                time(17, 30),
            ),
            ("mondays 8:00", Days::Weekly(Weekday::Monday), time(8, 0)),
            ("sun 09:15", Days::Weekly(Weekday::Sunday), time(9, 15)),
            ("month 1st 08:00", Days::Monthly(1), time(8, 0)),
            ("month 15th 07:00", Days::Monthly(15), time(7, 0)),
            ("monthly 2nd 07:00", Days::Monthly(2), time(7, 0)),
            (
                "the 3rd of the month at 06:00",
                Days::Monthly(3),
                time(6, 0),
            ),
            ("month 31 23:00", Days::Monthly(31), time(23, 0)),
            ("day 18:00", Days::Daily, time(18, 0)),
            ("every day at 07:00", Days::Daily, time(7, 0)),
            ("daily 00:00", Days::Daily, time(0, 0)),
        ] {
            assert_eq!(when(text), When { days, at }, "{text}");
        }
    }

    #[test]
    fn a_schedule_that_cannot_be_read_says_how_to_write_it() {
        for (text, says) in [
            ("", "no schedule is given"),
            ("monday", "no time of day"),
            ("monday 8am", "no time of day"),
            ("mondy 08:00", "did you mean \"monday\"?"),
            (
                "every other week 08:00",
                "not a schedule keepwatch understands",
            ),
            ("month 32nd 08:00", "not a day of the month"),
            ("month 1th 08:00", "not a day of the month"),
            ("month 08:00", "which day of the month"),
            ("weekly 08:00", "which day of the week"),
            ("08:00", "which days"),
            ("day 25:00", "no time of day"),
            ("day 24:00", "end of the day"),
        ] {
            let err = text.parse::<When>().unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
            assert!(
                err.contains("08:00") || err.contains("23:59"),
                "{text}: no example: {err}"
            );
        }
    }

    #[test]
    fn the_default_period_fits_the_schedule() {
        assert_eq!(when("monday 08:00").default_period(), "last-week");
        assert_eq!(when("month 1st 08:00").default_period(), "last-month");
        assert_eq!(when("day 18:00").default_period(), "today");
        assert_eq!(when("day 12:00").default_period(), "today");
        assert_eq!(when("day 07:30").default_period(), "yesterday");
        let table = ReportConfig {
            every: "day 07:30".to_owned(),
            period: Some("last-30-days".to_owned()),
            ..ReportConfig::default()
        };
        let parsed = table.parse().unwrap();
        assert_eq!(table.period_name(&parsed), "last-30-days");
    }

    #[test]
    fn a_table_names_its_problems_by_key_and_itself_by_name_or_schedule() {
        let table = ReportConfig {
            every: "fortnightly 08:00".to_owned(),
            period: Some("last-year".to_owned()),
            ..ReportConfig::default()
        };
        let problems = table.parse().unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("every: "), "{problems:?}");
        assert!(
            problems[1].starts_with("period: \"last-year\""),
            "{problems:?}"
        );
        assert_eq!(table.title(), "the report every fortnightly 08:00");
        let named = ReportConfig {
            name: "Board".to_owned(),
            ..table.clone()
        };
        assert_eq!(named.title(), "the report \"Board\"");
        assert_eq!(named.key(), "Board");
        let other = ReportConfig {
            to: vec!["boss@example.com".to_owned()],
            ..table.clone()
        };
        assert_ne!(table.key(), other.key(), "new recipients make a new report");
    }

    fn channels(toml: &str) -> Vec<Channel> {
        #[derive(Deserialize)]
        struct Tables {
            channel: Vec<Channel>,
        }
        toml::from_str::<Tables>(toml).unwrap().channel
    }

    const EMAIL: &str = "type = \"email\"\nserver = \"smtp.example.com\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n";

    #[test]
    fn a_report_finds_the_channel_it_goes_through_or_says_why_not() {
        let table = |channel: Option<&str>, to: &[&str]| ReportConfig {
            every: "day 18:00".to_owned(),
            channel: channel.map(str::to_owned),
            to: to.iter().map(|s| (*s).to_owned()).collect(),
            ..ReportConfig::default()
        };
        let one = channels(&format!(
            "[[channel]]\nname = \"mail\"\n{EMAIL}[[channel]]\nname = \"chat\"\ntype = \"log\"\n"
        ));
        let two = channels(&format!(
            "[[channel]]\nname = \"mail\"\n{EMAIL}[[channel]]\nname = \"other\"\n{EMAIL}"
        ));
        let boss = ["boss@example.com"];
        assert_eq!(table(None, &boss).channel_in(&one).unwrap().name, "mail");
        assert_eq!(
            table(Some("chat"), &[]).channel_in(&one).unwrap().name,
            "chat"
        );
        assert_eq!(table(Some("log"), &[]).channel_in(&[]).unwrap().name, "log");
        assert_eq!(
            table(Some("other"), &boss).channel_in(&two).unwrap().name,
            "other"
        );
        for (table, channels, says) in [
            (table(None, &[]), &one, "channel: the report goes to nobody"),
            (table(Some("mial"), &[]), &one, "did you mean \"mail\"?"),
            (
                table(Some("pager"), &[]),
                &one,
                "the channels are mail, chat, log",
            ),
            (
                table(Some("chat"), &boss),
                &one,
                "to: addresses need an email channel",
            ),
            (
                table(None, &boss),
                &Vec::new(),
                "needs an email [[channel]]",
            ),
            (
                table(None, &boss),
                &two,
                "several email channels (\"mail\", \"other\")",
            ),
        ] {
            let err = table.channel_in(channels).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn audiences_are_read_from_the_config_and_the_command_line() {
        assert_eq!("technical".parse::<Audience>(), Ok(Audience::Technical));
        assert!(
            "boss"
                .parse::<Audience>()
                .unwrap_err()
                .contains("executive")
        );
        let table: ReportConfig =
            toml::from_str("every = \"day 18:00\"\naudience = \"technical\"").unwrap();
        assert_eq!(table.audience, Audience::Technical);
        assert!(
            toml::from_str::<ReportConfig>("every = \"day 18:00\"\naudience = \"boss\"").is_err()
        );
    }
}
