//! `type = "heartbeat"`: a cron job, a backup or a nightly export that
//! reports to keepwatch (pings), instead of keepwatch asking a service.
//! keepwatch raises the alarm when a report does not come in time, when the
//! job reports a failure, or when a run it said it started goes on too long.
//!
//! Pure: [`Reports`] folds the pings in the order they arrived, and
//! [`HeartbeatSpec::judge`] takes them, the time and the business time zone
//! and returns an outcome and when to look again. The rules, after
//! Healthchecks (whose ping grammar keepwatch speaks):
//!
//! - the next report is due one `every` after the last success, or at the
//!   first time of the cron `schedule` after it; it is late (down) `grace`
//!   later. Before the first report, the time the heartbeat was set up
//!   counts as the last one, so a job that never reports is noticed too;
//! - a reported failure (`/fail`, a non-zero exit code) is down at once and
//!   stays down until the job reports success;
//! - a run that started (`/start`) before its report was late must finish
//!   within `max_runtime` (`grace` if unset), however the schedule goes
//!   meanwhile; a start after the report was late does not excuse it.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::CheckOutcome;
use super::cron::CronSchedule;
use super::settings::SettingProblem;
use super::wording::{at_moment, moment, quote};
use crate::units::Duration;
use crate::vocabulary::FailureKind;

/// Settings of a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatSpec {
    /// How often the job reports: `"1d"` for a nightly job.
    #[serde(default)]
    pub every: Option<Duration>,
    /// When the job runs, as a crontab line (`"0 2 * * *"`), read in the
    /// business time zone; instead of `every`.
    #[serde(default)]
    pub schedule: Option<CronSchedule>,
    /// How late a report may be before the job counts as down: jobs take
    /// their time, and cron starts them a little late.
    #[serde(default = "default_grace")]
    pub grace: Duration,
    /// How long a run may go on after it reported its start (`/start`);
    /// unset: `grace`.
    #[serde(default)]
    pub max_runtime: Option<Duration>,
}

fn default_grace() -> Duration {
    Duration::from_hours(1)
}

/// The shortest `every`, `grace` and `max_runtime`.
const SHORTEST: Duration = Duration::from_secs(1);

/// What a job said in one ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The job finished well (`/ping/<key>`, or exit code 0).
    Success,
    /// The job started (`/start`).
    Start,
    /// The job failed (`/fail`, or a non-zero exit code, kept when given).
    Failure(Option<i32>),
}

impl Signal {
    /// The signal of a ping URL's last part after the key, in Healthchecks'
    /// grammar: none, `start`, `fail`, or an exit code 0–255.
    pub fn parse(word: Option<&str>) -> Option<Signal> {
        match word {
            None | Some("") => Some(Signal::Success),
            Some("start") => Some(Signal::Start),
            Some("fail") => Some(Signal::Failure(None)),
            Some(code) => code.parse::<u8>().ok().map(|c| Signal::exit(i32::from(c))),
        }
    }

    /// The signal of a job's exit code: 0 is success.
    pub fn exit(code: i32) -> Signal {
        match code {
            0 => Signal::Success,
            code => Signal::Failure(Some(code)),
        }
    }
}

/// One ping as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// When it arrived.
    pub at: Timestamp,
    /// What it said.
    pub signal: Signal,
    /// What the job sent along (its output), for the message about a failure.
    pub log: Option<String>,
}

/// A failure the job reported, and not yet made good by a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// When.
    pub at: Timestamp,
    /// The exit code, when the job gave one.
    pub exit_code: Option<i32>,
    /// What the job sent along.
    pub log: Option<String>,
}

/// What the pings of one heartbeat amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reports {
    /// Since when keepwatch waits for this heartbeat (its first report is
    /// due as if it had reported then).
    pub watched_since: Timestamp,
    /// The last success.
    pub last_success: Option<Timestamp>,
    /// A failure after the last success.
    pub failure: Option<Reported>,
    /// A start after the last success or failure: a run in progress.
    pub started: Option<Timestamp>,
}

impl Reports {
    /// Nothing reported yet, watched since `since`.
    pub fn new(since: Timestamp) -> Self {
        Self {
            watched_since: since,
            last_success: None,
            failure: None,
            started: None,
        }
    }

    /// Takes the next ping, in the order they arrived.
    pub fn take(&mut self, ping: &Ping) {
        match ping.signal {
            Signal::Start => self.started = Some(ping.at),
            Signal::Success => {
                self.last_success = Some(ping.at);
                self.failure = None;
                self.started = None;
            }
            Signal::Failure(exit_code) => {
                self.failure = Some(Reported {
                    at: ping.at,
                    exit_code,
                    log: ping.log.clone(),
                });
                self.started = None;
            }
        }
    }
}

/// A heartbeat's outcome at one moment, and when it may next change by
/// itself (`None`: only a ping changes it).
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Up or down, why, and in words.
    pub outcome: CheckOutcome,
    /// When to judge again even if no ping comes.
    pub next_look: Option<Timestamp>,
}

impl HeartbeatSpec {
    /// The mistakes in these settings, for the config loader.
    pub(crate) fn problems(&self) -> Vec<SettingProblem> {
        let mut found = Vec::new();
        let mut report = |key, message: String, hint: &str| {
            found.push(SettingProblem {
                key,
                message,
                hint: Some(hint.to_owned()),
            });
        };
        match (&self.every, &self.schedule) {
            (None, None) => report(
                "type",
                "a heartbeat needs `every` or `schedule`: when should the job report?".to_owned(),
                "add e.g. every = \"1d\" (with grace = \"1h\"), or schedule = \"0 2 * * *\" as in its crontab",
            ),
            (Some(_), Some(_)) => report(
                "schedule",
                "a heartbeat has `every` or `schedule`, not both".to_owned(),
                "keep `schedule` if the job runs from cron at fixed times, else `every`",
            ),
            (Some(every), None) if *every < SHORTEST => report(
                "every",
                format!("{every} is too short: the job must report at least once a second"),
                "write how often the job runs, e.g. \"1d\" or \"15m\"",
            ),
            (None, Some(schedule))
                if schedule
                    .next_after(Timestamp::UNIX_EPOCH, &TimeZone::UTC)
                    .is_none() =>
            {
                report(
                    "schedule",
                    format!("\"{schedule}\" never happens"),
                    "check the day of month and the month (30 February does not exist)",
                )
            }
            _ => {}
        }
        for (key, length) in [
            ("grace", Some(self.grace)),
            ("max_runtime", self.max_runtime),
        ] {
            if length.is_some_and(|length| length < SHORTEST) {
                report(
                    key,
                    "must be at least 1s: a job needs some time".to_owned(),
                    "write e.g. \"1h\"",
                );
            }
        }
        found
    }

    /// When the report after one at `after` is due (not yet late); `None`
    /// for a schedule that never comes.
    fn due_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match (&self.schedule, self.every) {
            (Some(schedule), _) => schedule.next_after(after, tz),
            (None, Some(every)) => after.checked_add(every.signed()).ok(),
            (None, None) => None,
        }
    }

    /// How often reports are expected, for "expected daily by 03:00".
    fn expected(&self) -> String {
        if let Some(schedule) = &self.schedule {
            return schedule.describe();
        }
        match self.every.map(|every| every.std().as_secs()) {
            Some(60) => "every minute".to_owned(),
            Some(3600) => "hourly".to_owned(),
            Some(86_400) => "daily".to_owned(),
            Some(604_800) => "weekly".to_owned(),
            Some(secs) => format!("every {}", crate::plain::duration(secs as f64)),
            None => "on its schedule".to_owned(),
        }
    }

    /// The heartbeat `name` at `now`, from its `reports`; times read in `tz`.
    pub fn judge(&self, name: &str, reports: &Reports, now: Timestamp, tz: &TimeZone) -> Judgement {
        let at = |t: Timestamp| moment(t, now, tz);
        let on = |t: Timestamp| at_moment(t, now, tz);
        let judged = |outcome, next_look| Judgement { outcome, next_look };
        if let Some(failure) = &reports.failure {
            let code = failure
                .exit_code
                .map(|code| format!(" (exit code {code})"))
                .unwrap_or_default();
            let said = failure
                .log
                .as_deref()
                .and_then(|log| log.lines().find(|line| !line.trim().is_empty()))
                .map(|line| format!(": {}", quote(line)))
                .unwrap_or_default();
            let sentence = format!("{name} reported a failure{code} {}{said}.", on(failure.at));
            return judged(
                CheckOutcome::failed(FailureKind::ReportedFailure, sentence),
                None,
            );
        }
        let base = reports.last_success.unwrap_or(reports.watched_since);
        let late = self
            .due_after(base, tz)
            .and_then(|due| due.checked_add(self.grace.signed()).ok());
        if let Some(start) = reports.started
            && late.is_none_or(|late| start < late)
        {
            let allowed = self.max_runtime.unwrap_or(self.grace);
            let end = start
                .saturating_add(allowed.signed())
                .unwrap_or(Timestamp::MAX);
            if now >= end {
                let sentence = format!(
                    "{name} started {} and has not finished after {}.",
                    on(start),
                    crate::plain::duration(allowed.std().as_secs_f64())
                );
                return judged(
                    CheckOutcome::failed(FailureKind::RunningTooLong, sentence),
                    None,
                );
            }
            let sentence = format!(
                "{name} started {} and is running (it may take until {}).",
                on(start),
                at(end)
            );
            return judged(CheckOutcome::up(sentence), Some(end));
        }
        let Some(late) = late else {
            let sentence = match reports.last_success {
                Some(when) => format!("{name} last reported {}.", on(when)),
                None => format!("{name} has not reported yet."),
            };
            return judged(CheckOutcome::up(sentence), None);
        };
        let expected = format!("expected {} by {}", self.expected(), at(late));
        if now >= late {
            let sentence = match reports.last_success {
                Some(when) => format!("{name} has not reported since {} ({expected}).", at(when)),
                None => format!("{name} has never reported ({expected})."),
            };
            return judged(CheckOutcome::failed(FailureKind::Missed, sentence), None);
        }
        let sentence = match reports.last_success {
            Some(when) => format!("{name} reported {}; next report {expected}.", on(when)),
            None => format!("{name} has not reported yet; first report {expected}."),
        };
        judged(CheckOutcome::up(sentence), Some(late))
    }
}

#[cfg(test)]
mod tests;
