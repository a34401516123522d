//! Where an open alert stands: what each channel got of it, and what comes
//! next. The engine decides with [`plan`] when an alert's steps go out, and
//! `status`, `alerts` and the API show [`next`] of the same plan, so what is
//! shown is what happens.
//!
//! The rule: an alert follows its policy's steps counted from a start (see
//! `escalation.rs`). One that is not an emergency, opened while closed, waits
//! for the next opening. That opening is looked up in the calendar in force
//! at every look, not kept from the calendar in force when the alert opened:
//! an edit of the hours or holidays re-plans it, and if the business is open
//! now, it goes at once. Escalation of what is not an emergency pauses while
//! closed and goes on at the opening.

use jiff::Timestamp;

use super::escalation::{self, AlertingConfig, Due, Progress, Step};
use crate::calendar::Calendar;
use crate::store::{AlertDelivery, AlertRecord};
use crate::units::Duration;
use crate::vocabulary::Policy;

/// Whether the business is open at `now` (no calendar: always).
pub fn is_open(calendar: Option<&Calendar>, now: Timestamp) -> bool {
    calendar.is_none_or(|c| c.period_at(now).is_open())
}

/// `now` if the business is open then, else its next opening (`now` when
/// none is in sight: better told early than never).
fn opening(calendar: Option<&Calendar>, now: Timestamp) -> Timestamp {
    if is_open(calendar, now) {
        return now;
    }
    calendar.and_then(|c| c.next_opening(now)).unwrap_or(now)
}

/// The policy a new alert follows, and from when: business hours now;
/// emergencies off-hours now; other alerts business hours from the next
/// opening, where they arrive together as a summary.
pub fn policy_for(
    emergency: bool,
    calendar: Option<&Calendar>,
    now: Timestamp,
) -> (Policy, Timestamp) {
    if is_open(calendar, now) {
        (Policy::BusinessHours, now)
    } else if emergency {
        (Policy::OffHours, now)
    } else {
        (Policy::BusinessHours, opening(calendar, now))
    }
}

/// What an alert's policy has in store for it at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    /// Its steps count from here: the start kept in the store, or, for an
    /// alert waiting for an opening, the opening of the calendar in force.
    pub from: Timestamp,
    /// The steps it follows (an alert explained by another: the first only).
    pub steps: &'a [Step],
    /// How many of them were carried out.
    pub steps_done: usize,
    /// How often it is repeated after its last step (`off`: never).
    pub remind: Duration,
    /// Where it stands.
    pub stage: Stage,
}

/// Where an alert stands on its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Someone took it on: nothing more until it is resolved.
    Acknowledged,
    /// It waits for the business to open at this time.
    Opening(Timestamp),
    /// Not an emergency and closed now: what is `due` waits for the opening
    /// (`None`: none in the next two weeks).
    Paused {
        /// The next opening.
        until: Option<Timestamp>,
        /// What would be due if it were open.
        due: Due,
    },
    /// What is due now, or when next.
    Due(Due),
}

/// The plan of `alert` under `settings` and `calendar` at `now`; `None` for
/// an alert on no policy (held back, or recorded without one).
pub fn plan<'a>(
    alert: &AlertRecord,
    settings: &'a AlertingConfig,
    calendar: Option<&Calendar>,
    now: Timestamp,
) -> Option<Plan<'a>> {
    let (Some(policy), Some(stored)) = (alert.policy, alert.policy_from) else {
        return None;
    };
    let waits = policy == Policy::BusinessHours && alert.steps_done == 0 && stored > now;
    let from = if waits {
        opening(calendar, now)
    } else {
        stored
    };
    let all = settings.steps(policy);
    let explained = alert.cause.is_some();
    let steps = if explained {
        &all[..all.len().min(1)]
    } else {
        all
    };
    let remind = if explained || alert.resolved_at.is_some() {
        Duration::from_secs(0)
    } else {
        settings.remind_every
    };
    let progress = Progress {
        from,
        steps_done: alert.steps_done,
        last_told: alert.told_at,
    };
    let stage = if alert.acked.is_some() {
        Stage::Acknowledged
    } else if from > now {
        Stage::Opening(from)
    } else if alert.steps_done > 0 && !alert.emergency && !is_open(calendar, now) {
        Stage::Paused {
            until: calendar.and_then(|c| c.next_opening(now)),
            due: escalation::due(steps, progress, remind, now),
        }
    } else {
        Stage::Due(escalation::due(steps, progress, remind, now))
    };
    Some(Plan {
        from,
        steps,
        steps_done: alert.steps_done,
        remind,
        stage,
    })
}

/// What comes next for an open alert, as `status` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nobody is told while `reason` holds (a maintenance window, flapping),
    /// until `until` if known.
    Held {
        /// Why, as kept with the alert: "maintenance: new switch", "flapping".
        reason: String,
        /// When it is looked at again.
        until: Option<Timestamp>,
    },
    /// It waits for the opening at `at`, then goes to `channels` in the
    /// summary of what happened while closed.
    Opening {
        /// The opening, or when its first step is due after it.
        at: Timestamp,
        /// Who gets it.
        channels: Vec<String>,
    },
    /// A step of its policy: `channels` are told at `at` (at or before now:
    /// at the next look).
    Step {
        /// When.
        at: Timestamp,
        /// Who.
        channels: Vec<String>,
        /// Whether it is its first message (else an escalation).
        first: bool,
        /// Whether it waits for the opening (not an emergency, closed now).
        at_opening: bool,
    },
    /// A reminder to the last step's `channels` at `at`.
    Reminder {
        /// When.
        at: Timestamp,
        /// Who.
        channels: Vec<String>,
        /// Whether it waits for the opening (not an emergency, closed now).
        at_opening: bool,
    },
    /// Nothing more is sent until it is resolved.
    Nothing {
        /// Because someone acknowledged it (else: its steps are done and
        /// reminders are off, or another alert explains it).
        acknowledged: bool,
    },
}

/// What comes next under `plan` (`None`: the alert is on no policy) at `now`.
pub fn next(plan: Option<&Plan<'_>>, now: Timestamp) -> Next {
    let nothing = Next::Nothing {
        acknowledged: false,
    };
    let Some(plan) = plan else {
        return nothing;
    };
    let (due, opening) = match &plan.stage {
        Stage::Acknowledged => return Next::Nothing { acknowledged: true },
        Stage::Opening(at) => {
            let Some(first) = plan.steps.first() else {
                return nothing;
            };
            return Next::Opening {
                at: at.saturating_add(first.after.signed()).unwrap_or(*at),
                channels: first.notify.clone(),
            };
        }
        Stage::Paused { until, due } => (due, Some(until.unwrap_or(now))),
        Stage::Due(due) => (due, None),
    };
    let (when, index) = match due {
        Due::Steps(indexes) => (now, indexes.first().copied()),
        Due::Reminder => (now, None),
        // A step while one is left, else a reminder.
        Due::Later(Some(when)) => (
            *when,
            (plan.steps_done < plan.steps.len()).then_some(plan.steps_done),
        ),
        Due::Later(None) => return nothing,
    };
    let at = opening.map_or(when, |open| open.max(when));
    let at_opening = opening.is_some();
    match index {
        Some(index) => Next::Step {
            at,
            channels: plan.steps[index].notify.clone(),
            first: index == 0,
            at_opening,
        },
        None => Next::Reminder {
            at,
            channels: plan
                .steps
                .last()
                .map(|s| s.notify.clone())
                .unwrap_or_default(),
            at_opening,
        },
    }
}

/// Where an open alert stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whereabouts {
    /// What each channel got of it, in the order they were first told.
    pub told: Vec<Told>,
    /// What comes next.
    pub next: Next,
}

/// Where one channel stands with an alert: its latest message about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Due since `since`, not in a message yet: it waits to go together with
    /// other alerts (`group_wait`, the channel's hourly limit).
    Gathering {
        /// Since when.
        since: Timestamp,
    },
    /// In the outbox, not accepted by the channel yet.
    Queued {
        /// When it was composed.
        since: Timestamp,
        /// How many tries failed.
        tries: u32,
        /// The last failure, in the channel's words.
        error: Option<String>,
        /// When it is tried (again).
        next: Timestamp,
    },
    /// The channel accepted it.
    Sent {
        /// When.
        at: Timestamp,
    },
    /// It can never be sent (its channel left the config).
    GaveUp {
        /// When it was given up.
        at: Timestamp,
        /// Why.
        reason: String,
    },
}

/// What one channel got of an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told {
    /// The channel's name.
    pub channel: String,
    /// Its latest message about the alert.
    pub delivery: Delivery,
    /// When an earlier message about it was last accepted, if the latest
    /// is not (yet).
    pub sent_before: Option<Timestamp>,
}

/// Per channel, in the order they were first told, what became of the
/// messages about one alert (`deliveries`, as the store keeps them, oldest
/// first).
pub fn told(deliveries: &[AlertDelivery]) -> Vec<Told> {
    let mut told: Vec<Told> = Vec::new();
    for delivery in deliveries {
        let state = match &delivery.message {
            None => Delivery::Gathering {
                since: delivery.due,
            },
            Some(entry) => match (entry.delivered_at, entry.gave_up_at) {
                (Some(at), _) => Delivery::Sent { at },
                (None, Some(at)) => Delivery::GaveUp {
                    at,
                    reason: entry.last_error.clone().unwrap_or_default(),
                },
                (None, None) => Delivery::Queued {
                    since: entry.created_at,
                    tries: entry.attempts,
                    error: entry.last_error.clone(),
                    next: entry.next_at,
                },
            },
        };
        match told.iter_mut().find(|t| t.channel == delivery.channel) {
            Some(earlier) => {
                if let Delivery::Sent { at } = earlier.delivery {
                    earlier.sent_before = Some(at);
                }
                if matches!(state, Delivery::Sent { .. }) {
                    earlier.sent_before = None;
                }
                earlier.delivery = state;
            }
            None => told.push(Told {
                channel: delivery.channel.clone(),
                delivery: state,
                sent_before: None,
            }),
        }
    }
    told
}

#[cfg(test)]
mod tests;
