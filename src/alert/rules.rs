//! Threshold rules (`[[rule]]` in the config) and their evaluation: a hold time
//! so a spike does not alert, hysteresis so a value hovering at the threshold
//! does not flap, and thresholds that differ outside business hours.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::observation::{Sample, SeriesKey};
use crate::units::Duration;
use crate::vocabulary::Severity;

/// One `[[rule]]`: alert when `metric` stays above a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RuleConfig {
    /// Names the alert in messages and history.
    pub name: String,
    /// The metric watched, e.g. `disk.used_percent` or `service.state`.
    pub metric: String,
    /// Only this instance (a mount point, an interface, a service's name);
    /// absent means every instance of the metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Only this host (on a hub, an agent's name, or the hub's own);
    /// absent means every host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Thresholds in business hours, and at all hours unless `off_hours` says otherwise.
    pub above: Thresholds,
    /// Thresholds outside business hours; a threshold left out here keeps its
    /// `above` value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off_hours: Option<Thresholds>,
    /// How long the value must stay above a threshold before the alert opens.
    #[serde(rename = "for")]
    pub hold: Duration,
    /// An open alert clears only when the value falls below this; absent means
    /// the lowest threshold in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clear_below: Option<f64>,
    /// `true`: this rule's alerts reach someone at any hour; `false`: never
    /// outside business hours; absent: as `[alerting] emergencies` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency: Option<bool>,
}

/// A warning and a critical level; either may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critical: Option<f64>,
}

impl Thresholds {
    /// `self`, with each threshold that `other` sets replaced by `other`'s.
    fn overridden_by(self, other: Option<Thresholds>) -> Self {
        let other = other.unwrap_or_default();
        Self {
            warning: other.warning.or(self.warning),
            critical: other.critical.or(self.critical),
        }
    }

    /// The lowest threshold, the default for `clear_below`.
    pub fn lowest(self) -> Option<f64> {
        match (self.warning, self.critical) {
            (Some(w), Some(c)) => Some(w.min(c)),
            (w, c) => w.or(c),
        }
    }

    /// The highest severity whose threshold `value` is above.
    fn level(self, value: f64) -> Option<Severity> {
        let above = |threshold: Option<f64>| threshold.is_some_and(|t| value > t);
        if above(self.critical) {
            Some(Severity::Critical)
        } else if above(self.warning) {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

impl RuleConfig {
    /// The thresholds in force in business hours or outside them.
    pub fn thresholds(&self, business_hours: bool) -> Thresholds {
        if business_hours {
            self.above
        } else {
            self.above.overridden_by(self.off_hours)
        }
    }

    /// Below this an open alert clears (`None`: the rule has no threshold).
    pub fn clear_level(&self, business_hours: bool) -> Option<f64> {
        self.clear_below
            .or_else(|| self.thresholds(business_hours).lowest())
    }

    fn matches(&self, key: &SeriesKey) -> bool {
        key.metric == self.metric
            && self.host.as_ref().is_none_or(|host| *host == key.host)
            && self
                .instance
                .as_ref()
                .is_none_or(|instance| *instance == key.instance)
    }
}

/// What changed about one rule on one series.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertEvent {
    /// The value has stayed above a threshold for the hold time, `since` then.
    Opened {
        rule: String,
        key: SeriesKey,
        severity: Severity,
        value: f64,
        since: Timestamp,
    },
    /// An open warning has stayed above the critical threshold for the hold
    /// time, `since` then.
    Escalated {
        rule: String,
        key: SeriesKey,
        severity: Severity,
        value: f64,
        since: Timestamp,
    },
    /// The value fell below the clearing level at `at`; `severity` is the
    /// highest the alert reached.
    Resolved {
        rule: String,
        key: SeriesKey,
        severity: Severity,
        value: f64,
        at: Timestamp,
    },
}

/// Per (rule, series): since when the value is above each threshold, and the
/// open alert's severity.
#[derive(Debug, Default, Clone, Copy)]
struct Track {
    warning_since: Option<Timestamp>,
    critical_since: Option<Timestamp>,
    active: Option<Severity>,
}

impl Track {
    fn is_idle(&self) -> bool {
        self.warning_since.is_none() && self.critical_since.is_none() && self.active.is_none()
    }
}

/// Evaluates rules sample by sample, remembering what each series is doing.
#[derive(Debug, Clone)]
pub struct Evaluator {
    rules: Vec<RuleConfig>,
    tracks: HashMap<(usize, SeriesKey), Track>,
}

impl Evaluator {
    /// An evaluator of `rules`, with no alert open.
    pub fn new(rules: &[RuleConfig]) -> Self {
        Self {
            rules: rules.to_vec(),
            tracks: HashMap::new(),
        }
    }

    /// Feeds one sample observed at `sample.at`; returns what it changed.
    /// A severity escalates but does not step back down: a critical alert
    /// stays critical until it resolves, so a value around the critical
    /// threshold does not produce a stream of messages.
    pub fn observe(&mut self, sample: &Sample, business_hours: bool) -> Vec<AlertEvent> {
        let mut events = Vec::new();
        // A NaN cannot be compared; it says nothing about the thresholds.
        if sample.value.is_nan() {
            return events;
        }
        for (index, rule) in self.rules.iter().enumerate() {
            if !rule.matches(&sample.key) {
                continue;
            }
            let slot = (index, sample.key.clone());
            let mut track = self.tracks.get(&slot).copied().unwrap_or_default();
            if let Some(event) = step(rule, &mut track, sample, business_hours) {
                events.push(event);
            }
            if track.is_idle() {
                self.tracks.remove(&slot);
            } else {
                self.tracks.insert(slot, track);
            }
        }
        events
    }

    /// How many (rule, series) pairs are pending or open.
    pub fn tracked(&self) -> usize {
        self.tracks.len()
    }
}

fn step(
    rule: &RuleConfig,
    track: &mut Track,
    sample: &Sample,
    business_hours: bool,
) -> Option<AlertEvent> {
    let (value, now) = (sample.value, sample.at);
    let level = rule.thresholds(business_hours).level(value);
    track.warning_since = level.and(track.warning_since.or(Some(now)));
    track.critical_since =
        (level == Some(Severity::Critical)).then(|| track.critical_since.unwrap_or(now));
    let held = |since: Option<Timestamp>| {
        since.filter(|since| now.duration_since(*since) >= rule.hold.signed())
    };
    let reached = match (held(track.critical_since), held(track.warning_since)) {
        (Some(since), _) => Some((Severity::Critical, since)),
        (None, Some(since)) => Some((Severity::Warning, since)),
        (None, None) => None,
    };
    let (rule_name, key) = (rule.name.clone(), sample.key.clone());
    match (track.active, reached) {
        (None, Some((severity, since))) => {
            track.active = Some(severity);
            Some(AlertEvent::Opened {
                rule: rule_name,
                key,
                severity,
                value,
                since,
            })
        }
        (Some(Severity::Warning), Some((Severity::Critical, since))) => {
            track.active = Some(Severity::Critical);
            Some(AlertEvent::Escalated {
                rule: rule_name,
                key,
                severity: Severity::Critical,
                value,
                since,
            })
        }
        (Some(severity), _)
            if rule
                .clear_level(business_hours)
                .is_some_and(|clear| value < clear) =>
        {
            *track = Track::default();
            Some(AlertEvent::Resolved {
                rule: rule_name,
                key,
                severity,
                value,
                at: now,
            })
        }
        _ => None,
    }
}

/// Whether an alert must reach someone at any hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Emergency,
    NonEmergency,
}

/// Which alerts are emergencies, that is, reach someone outside business
/// hours (`[alerting] emergencies`). A rule's own `emergency` setting wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Emergencies {
    /// Critical alerts on services marked `critical`, and on the host itself
    /// (every service runs on it: a full disk at 2 am stops the shop by morning).
    #[default]
    CriticalServices,
    /// Every critical alert.
    AllCritical,
    /// None: everything outside business hours waits for the next opening.
    Never,
}

impl Emergencies {
    /// The class of an alert of `severity` on a service marked critical or
    /// not; `rule` is the alert rule's own `emergency` setting, if any.
    pub fn classify(self, severity: Severity, service_critical: bool, rule: Option<bool>) -> Class {
        let critical = severity == Severity::Critical;
        let emergency = rule.unwrap_or(match self {
            Self::CriticalServices => critical && service_critical,
            Self::AllCritical => critical,
            Self::Never => false,
        });
        if emergency {
            Class::Emergency
        } else {
            Class::NonEmergency
        }
    }
}

#[cfg(test)]
mod tests;
