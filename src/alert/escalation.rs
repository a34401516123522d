//! Who is told about an alert, and when: ordered escalation steps, one policy
//! for business hours and one for emergencies outside them, reminders while
//! nobody acknowledges, and how closely messages to one channel may follow
//! each other (grouping and rate limit).
//!
//! Everything here is a pure function of the settings and times it is given.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::Emergencies;
use crate::units::Duration;
use crate::vocabulary::Policy;

/// The `[alerting]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// Which alerts reach someone outside business hours.
    pub emergencies: Emergencies,
    /// The first alert goes out at once; alerts that follow within this time
    /// wait and go together in one message per channel (the news of an
    /// emergency waits a few seconds at most: `engine::EMERGENCY_GATHER`).
    pub group_wait: Duration,
    /// An alert nobody acknowledged is repeated this often after its last
    /// escalation step (`"off"`: never).
    pub remind_every: Duration,
    /// A service that goes down this many times within `flapping_window` is
    /// reported once as flapping instead of at every change.
    pub flapping_changes: u32,
    /// See `flapping_changes`; also how long a flapping service must stay
    /// steady before it counts as settled.
    pub flapping_window: Duration,
    /// Who is told in business hours, step by step.
    pub business_hours: Vec<Step>,
    /// Who is told about emergencies outside business hours. Other alerts
    /// wait for the next opening and arrive then as one summary.
    pub off_hours: Vec<Step>,
}

pub use crate::message::LOG_CHANNEL;

impl Default for AlertingConfig {
    fn default() -> Self {
        let log_now = || {
            vec![Step {
                after: Duration::from_secs(0),
                notify: vec![LOG_CHANNEL.to_owned()],
            }]
        };
        Self {
            emergencies: Emergencies::default(),
            group_wait: Duration::from_secs(30),
            remind_every: Duration::from_hours(1),
            flapping_changes: 4,
            flapping_window: Duration::from_mins(30),
            business_hours: log_now(),
            off_hours: log_now(),
        }
    }
}

/// One escalation step: once an alert has been open (and unacknowledged) for
/// `after`, tell these channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// How long after the alert opened (`"0m"`: at once).
    #[serde(serialize_with = "at_once_as_zero")]
    pub after: Duration,
    /// Names of `[[channel]]`s (or `"log"`).
    pub notify: Vec<String>,
}

impl Step {
    /// The delay as written in the config: `"0m"` for at once.
    pub fn delay(&self) -> String {
        if self.after.is_off() {
            "0m".to_owned()
        } else {
            self.after.to_string()
        }
    }
}

/// Writes a zero delay as `"0m"`: the usual `"off"` of a zero duration
/// would read as "never" here.
fn at_once_as_zero<S: serde::Serializer>(
    after: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if after.is_off() {
        serializer.serialize_str("0m")
    } else {
        after.serialize(serializer)
    }
}

impl AlertingConfig {
    /// The steps of `policy`.
    pub fn steps(&self, policy: Policy) -> &[Step] {
        match policy {
            Policy::BusinessHours => &self.business_hours,
            Policy::OffHours => &self.off_hours,
        }
    }
}

/// Where an unacknowledged alert stands on its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Step times count from here (the opening, or the next business opening
    /// for an alert that waited for it).
    pub from: Timestamp,
    /// How many steps have been carried out.
    pub steps_done: usize,
    /// When the last reminder (or the last step, before any reminder) went out.
    pub last_told: Option<Timestamp>,
}

/// What is due for one alert now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Carry out these steps (indexes into the policy), oldest first.
    Steps(Vec<usize>),
    /// Repeat the last step's channels as a reminder.
    Reminder,
    /// Nothing yet; look again at this time (`None`: nothing more will come).
    Later(Option<Timestamp>),
}

/// What is due for an unacknowledged alert at `now`, given its `progress`
/// on `steps`. Steps whose time passed while nothing looked (keepwatch was
/// stopped) are all due at once, in order.
pub fn due(steps: &[Step], progress: Progress, remind_every: Duration, now: Timestamp) -> Due {
    let at = |step: &Step| {
        progress
            .from
            .saturating_add(step.after.signed())
            .unwrap_or(now)
    };
    let ready: Vec<usize> = (progress.steps_done..steps.len())
        .filter(|&index| at(&steps[index]) <= now)
        .collect();
    if !ready.is_empty() {
        return Due::Steps(ready);
    }
    if let Some(next) = steps.get(progress.steps_done) {
        return Due::Later(Some(at(next)));
    }
    if remind_every.is_off() || steps.is_empty() {
        return Due::Later(None);
    }
    let last = progress.last_told.unwrap_or(progress.from);
    let next = last.saturating_add(remind_every.signed()).unwrap_or(now);
    if next <= now {
        Due::Reminder
    } else {
        Due::Later(Some(next))
    }
}

/// The earliest time the next message may go to a channel that sent messages
/// at `sent` (any order): not within `group_wait` of the last one, and at most
/// `max_per_hour` in any hour. The first message after a quiet spell may go
/// at once, which is what keeps a single alert fast.
pub fn next_slot(
    sent: &[Timestamp],
    group_wait: Duration,
    max_per_hour: u32,
    now: Timestamp,
) -> Timestamp {
    let hour = SignedDuration::from_hours(1);
    let after_last = sent
        .iter()
        .max()
        .map(|last| last.saturating_add(group_wait.signed()).unwrap_or(now));
    let mut in_last_hour: Vec<Timestamp> = sent
        .iter()
        .copied()
        .filter(|at| now.duration_since(*at) < hour)
        .collect();
    in_last_hour.sort();
    // With `max_per_hour` sent within the hour, the next may go an hour after
    // the oldest of the last `max_per_hour`.
    let limit = max_per_hour.max(1) as usize;
    let after_limit = (in_last_hour.len() >= limit)
        .then(|| in_last_hour[in_last_hour.len() - limit])
        .map(|oldest| oldest.saturating_add(hour).unwrap_or(now));
    [Some(now), after_last, after_limit]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(now)
}

#[cfg(test)]
mod tests;
