//! What each kind of problem is called: the alert's fingerprint, title and
//! detail, and the line the event history and the log get, for a service
//! whose confirmed state changed, a rule's threshold crossed, and a damaged
//! database replaced. Pure: whoever finds a problem (the agent's checks
//! today, pushed heartbeats and remote agents tomorrow) asks here, so every
//! path names the same problem the same way and a test of the engine uses
//! these words instead of re-creating them.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::rules::{AlertEvent, RuleConfig};
use crate::printable;
use crate::vocabulary::{Severity, State};

/// A problem found: a service down, a threshold crossed, as the engine takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem<'a> {
    /// What the problem is about; the same fingerprint again updates the open alert.
    pub fingerprint: &'a str,
    /// The service, for a service's problem.
    pub service: Option<&'a str>,
    /// The host.
    pub host: &'a str,
    /// One line: "shop-web is down".
    pub title: &'a str,
    /// Cause and likely fix.
    pub detail: &'a str,
    /// How bad.
    pub severity: Severity,
    /// When the problem began.
    pub since: Timestamp,
    /// The rule's own say on whether it is an emergency (`None`: the setting's).
    pub emergency: Option<bool>,
}

/// A [`Problem`] that owns its text, so a decision can wait (for a store
/// that refuses writes) and be retried later.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedProblem {
    /// See [`Problem::fingerprint`].
    pub fingerprint: String,
    /// See [`Problem::service`].
    pub service: Option<String>,
    /// See [`Problem::host`].
    pub host: String,
    /// See [`Problem::title`].
    pub title: String,
    /// See [`Problem::detail`].
    pub detail: String,
    /// See [`Problem::severity`].
    pub severity: Severity,
    /// See [`Problem::since`].
    pub since: Timestamp,
    /// See [`Problem::emergency`].
    pub emergency: Option<bool>,
}

impl OwnedProblem {
    /// The problem as the engine takes it.
    pub fn as_problem(&self) -> Problem<'_> {
        Problem {
            fingerprint: &self.fingerprint,
            service: self.service.as_deref(),
            host: &self.host,
            title: &self.title,
            detail: &self.detail,
            severity: self.severity,
            since: self.since,
            emergency: self.emergency,
        }
    }
}

/// What alerting decided about one problem.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Open (or update) the alert of this problem.
    Raise(OwnedProblem),
    /// The problem with this fingerprint ended at this time.
    Clear {
        /// The problem's fingerprint.
        fingerprint: String,
        /// When it ended.
        at: Timestamp,
    },
}

/// The fingerprint of a service's own state alert.
pub fn service_fingerprint(service: &str) -> String {
    format!("service:{service}")
}

/// What a confirmed change of a service's state means.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceChange {
    /// The line for the event history and the log; `None` when there is no
    /// news (the first state seen after a start is news only if it is a problem).
    pub news: Option<String>,
    /// Open the service's alert, or end it.
    pub decision: Decision,
}

/// The change of `service` on `host` from `from` (`None`: the first state
/// since keepwatch started) to `to` at `at`, with the check's `explanation`.
pub fn service_changed(
    service: &str,
    host: &str,
    from: Option<State>,
    to: State,
    explanation: &str,
    at: Timestamp,
) -> ServiceChange {
    // The news and the title are what people read; the fingerprint keeps
    // the name whole.
    let shown = printable::name(service);
    // Up, it still ends an alert left open from before the start.
    let news = match (from, to) {
        (None, State::Up) => None,
        (_, State::Up) => Some(format!("{shown} is up again: {explanation}")),
        (_, State::Degraded) => Some(format!("{shown} is degraded: {explanation}")),
        (_, State::Down) => Some(format!("{shown} is down: {explanation}")),
    };
    let fingerprint = service_fingerprint(service);
    let decision = match to {
        State::Up => Decision::Clear { fingerprint, at },
        State::Degraded => Decision::Raise(OwnedProblem {
            fingerprint,
            service: Some(service.to_owned()),
            host: host.to_owned(),
            title: format!("{shown} is degraded"),
            detail: explanation.to_owned(),
            severity: Severity::Warning,
            since: at,
            emergency: None,
        }),
        State::Down => Decision::Raise(OwnedProblem {
            fingerprint,
            service: Some(service.to_owned()),
            host: host.to_owned(),
            title: format!("{shown} is down"),
            detail: explanation.to_owned(),
            severity: Severity::Critical,
            since: at,
            emergency: None,
        }),
    };
    ServiceChange { news, decision }
}

/// What a rule's event means.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleChange {
    /// The line for the event history and the log.
    pub news: String,
    /// Open (or worsen) the rule's alert on that series, or end it.
    pub decision: Decision,
}

/// The alert of a rule's `event`; `rules` are the rules in force (for the
/// rule's own say on emergencies), `time_zone` the business's (for the
/// time in the detail).
pub fn rule_event(event: &AlertEvent, rules: &[RuleConfig], time_zone: TimeZone) -> RuleChange {
    let (rule, key, severity, value, verb) = match event {
        AlertEvent::Opened {
            rule,
            key,
            severity,
            value,
            ..
        } => (rule, key, *severity, value, "opened"),
        AlertEvent::Escalated {
            rule,
            key,
            severity,
            value,
            ..
        } => (rule, key, *severity, value, "escalated"),
        AlertEvent::Resolved {
            rule,
            key,
            severity,
            value,
            ..
        } => (rule, key, *severity, value, "resolved"),
    };
    let what = if key.instance.is_empty() {
        format!("{} on {}", key.metric, key.host)
    } else {
        format!("{} of {} on {}", key.metric, key.instance, key.host)
    };
    let level = format!("{severity:?}").to_lowercase();
    let news = format!("Alert \"{rule}\" {verb}: {what} is {value:.1} ({level})");
    let fingerprint = format!("rule:{rule}:{}:{}:{}", key.host, key.metric, key.instance);
    let decision = match event {
        AlertEvent::Resolved { at, .. } => Decision::Clear {
            fingerprint,
            at: *at,
        },
        AlertEvent::Opened { since, .. } | AlertEvent::Escalated { since, .. } => {
            Decision::Raise(OwnedProblem {
                fingerprint,
                service: key
                    .metric
                    .starts_with("service.")
                    .then(|| key.instance.clone()),
                host: key.host.clone(),
                title: format!("{rule}: {what} is {value:.1}"),
                detail: format!(
                    "The rule \"{rule}\" is above its {level} threshold (since {}).",
                    since.to_zoned_datetime(time_zone).strftime("%H:%M")
                ),
                severity,
                since: *since,
                emergency: rules
                    .iter()
                    .find(|r| r.name == *rule)
                    .and_then(|r| r.emergency),
            })
        }
    };
    RuleChange { news, decision }
}

/// The alert that tells the admin keepwatch's database on `host` was damaged
/// and replaced at `at`; `summary` says what was saved and lost. Each
/// replacement is its own alert, open until acknowledged.
pub fn database_replaced(host: &str, summary: &str, at: Timestamp) -> Decision {
    Decision::Raise(OwnedProblem {
        fingerprint: format!("keepwatch:database-replaced:{}", at.as_millisecond()),
        service: None,
        host: host.to_owned(),
        title: "keepwatch's database was damaged and has been replaced".to_owned(),
        detail: summary.to_owned(),
        severity: Severity::Critical,
        since: at,
        emergency: None,
    })
}

/// The fingerprint of the alert about keepwatch's own database refusing writes.
const STORAGE_FINGERPRINT: &str = "keepwatch:storage";

/// The alert that tells the admin keepwatch on `host` cannot write its
/// database since `at`: `disk_full` when the disk is full, else `reason`.
/// Alerting goes on in memory meanwhile, so the message says so.
pub fn storage_degraded(host: &str, disk_full: bool, reason: &str, at: Timestamp) -> Decision {
    let (title, cause) = if disk_full {
        (
            "the disk holding keepwatch's data is full".to_owned(),
            "Free some space on it".to_owned(),
        )
    } else {
        (
            "keepwatch cannot write its database".to_owned(),
            format!(
                "The database refuses writes ({}); check the disk and the file",
                printable::line(reason)
            ),
        )
    };
    Decision::Raise(OwnedProblem {
        fingerprint: STORAGE_FINGERPRINT.to_owned(),
        service: None,
        host: host.to_owned(),
        title,
        detail: format!(
            "Alerts still go out, history is kept in memory until it can be written. {cause}; keepwatch writes everything as soon as it can."
        ),
        severity: Severity::Critical,
        since: at,
        emergency: None,
    })
}

/// The end of [`storage_degraded`]'s alert: the database takes writes again at `at`.
pub fn storage_healthy(at: Timestamp) -> Decision {
    Decision::Clear {
        fingerprint: STORAGE_FINGERPRINT.to_owned(),
        at,
    }
}

/// The fingerprint of the alert that the agent `host` went silent.
fn silent_fingerprint(host: &str) -> String {
    format!("agent:{host}:silent")
}

/// The fingerprint of the alert that the agent `host`'s clock is off.
fn clock_fingerprint(host: &str) -> String {
    format!("agent:{host}:clock")
}

/// The alert that the hub has not heard from the agent `host` for
/// `silent_for` since it last did at `last`; `time_zone` is the business's
/// (for that time in the detail). The agent keeps what it records and
/// sends it when it reports again, so the message says that too.
pub fn agent_silent(
    host: &str,
    silent_for: std::time::Duration,
    last: Timestamp,
    time_zone: TimeZone,
) -> Decision {
    let shown = printable::name(host);
    Decision::Raise(OwnedProblem {
        fingerprint: silent_fingerprint(host),
        service: None,
        host: host.to_owned(),
        title: format!(
            "{shown} has not reported for {}: the server may be down or cut off from the network",
            crate::plain::duration(silent_for.as_secs_f64())
        ),
        detail: format!(
            "The hub last heard from {shown} at {}. If only the network is cut, {shown} keeps what it measures and sends it when the link is back; if the server is down, there will be no data for the time it was off.",
            last.to_zoned_datetime(time_zone).strftime("%H:%M")
        ),
        severity: Severity::Critical,
        since: last,
        emergency: None,
    })
}

/// The end of [`agent_silent`]'s alert: `host` reported again at `at`.
pub fn agent_reports_again(host: &str, at: Timestamp) -> Decision {
    Decision::Clear {
        fingerprint: silent_fingerprint(host),
        at,
    }
}

/// The alert that the clock of the agent `host` is `offset` ahead of the
/// hub's (behind when negative), found at `at`. Its measurements carry its
/// own times, so graphs and reports of it are shifted by that much.
pub fn agent_clock_off(host: &str, offset: jiff::SignedDuration, at: Timestamp) -> Decision {
    let shown = printable::name(host);
    let how_far = crate::plain::duration(offset.as_secs_f64().abs());
    let way = if offset.is_negative() {
        "behind"
    } else {
        "ahead of"
    };
    Decision::Raise(OwnedProblem {
        fingerprint: clock_fingerprint(host),
        service: None,
        host: host.to_owned(),
        title: format!("the clock of {shown} is {how_far} {way} the hub's"),
        detail: format!(
            "Its measurements are stamped with its own clock, so they appear shifted by {how_far}. Set the time right on {shown} (turn on time synchronisation: NTP, `timedatectl set-ntp true` on Linux)."
        ),
        severity: Severity::Warning,
        since: at,
        emergency: Some(false),
    })
}

/// The end of [`agent_clock_off`]'s alert: the clock of `host` is right
/// again at `at`.
pub fn agent_clock_right(host: &str, at: Timestamp) -> Decision {
    Decision::Clear {
        fingerprint: clock_fingerprint(host),
        at,
    }
}

/// The fingerprints of the alerts about the agent `host` itself: silent,
/// clock off.
pub fn agent_fingerprints(host: &str) -> [String; 2] {
    [silent_fingerprint(host), clock_fingerprint(host)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::SeriesKey;

    fn at() -> Timestamp {
        "2026-11-23T09:15:00Z".parse().unwrap()
    }

    #[test]
    fn a_service_change_names_the_service_and_keeps_the_fingerprint_whole() {
        let down = service_changed(
            "Shop\n",
            "web1",
            Some(State::Up),
            State::Down,
            "refused",
            at(),
        );
        assert_eq!(down.news.as_deref(), Some("Shop\\n is down: refused"));
        let Decision::Raise(problem) = down.decision else {
            panic!("a service down raises an alert")
        };
        assert_eq!(problem.fingerprint, "service:Shop\n");
        assert_eq!(problem.title, "Shop\\n is down");
        assert_eq!(
            (problem.severity, problem.service.as_deref(), problem.since),
            (Severity::Critical, Some("Shop\n"), at())
        );
        let degraded = service_changed("Shop", "web1", None, State::Degraded, "slow", at());
        let Decision::Raise(problem) = degraded.decision else {
            panic!("a degraded service raises an alert")
        };
        assert_eq!(
            (problem.title.as_str(), problem.severity),
            ("Shop is degraded", Severity::Warning)
        );
    }

    #[test]
    fn the_first_state_up_is_no_news_but_still_ends_an_old_alert() {
        let first = service_changed("Shop", "web1", None, State::Up, "answered", at());
        assert_eq!(first.news, None);
        assert_eq!(
            first.decision,
            Decision::Clear {
                fingerprint: "service:Shop".to_owned(),
                at: at()
            }
        );
        let again = service_changed("Shop", "web1", Some(State::Down), State::Up, "ok", at());
        assert_eq!(again.news.as_deref(), Some("Shop is up again: ok"));
    }

    #[test]
    fn a_rule_event_says_what_crossed_which_threshold_since_when_in_the_business_zone() {
        let rule: RuleConfig = toml::from_str(
            "name = \"disk\"\nmetric = \"disk.used_percent\"\nabove = { critical = 95 }\nfor = \"0s\"\nemergency = false\n",
        )
        .unwrap();
        let key = SeriesKey::new("web1", "disk.used_percent", "/");
        let opened = AlertEvent::Opened {
            rule: "disk".to_owned(),
            key: key.clone(),
            severity: Severity::Critical,
            value: 97.04,
            since: at(),
        };
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let change = rule_event(&opened, std::slice::from_ref(&rule), zone.clone());
        assert_eq!(
            change.news,
            "Alert \"disk\" opened: disk.used_percent of / on web1 is 97.0 (critical)"
        );
        let Decision::Raise(problem) = change.decision else {
            panic!("an opened rule raises an alert")
        };
        assert_eq!(problem.fingerprint, "rule:disk:web1:disk.used_percent:/");
        assert_eq!(
            problem.title,
            "disk: disk.used_percent of / on web1 is 97.0"
        );
        assert_eq!(
            problem.detail,
            "The rule \"disk\" is above its critical threshold (since 10:15)."
        );
        assert_eq!((problem.service, problem.emergency), (None, Some(false)));
        let resolved = AlertEvent::Resolved {
            rule: "disk".to_owned(),
            key: SeriesKey::new("web1", "service.state", "Shop"),
            severity: Severity::Critical,
            value: 0.0,
            at: at(),
        };
        let change = rule_event(&resolved, &[], zone);
        assert!(
            change
                .news
                .starts_with("Alert \"disk\" resolved: service.state of Shop")
        );
        assert_eq!(
            change.decision,
            Decision::Clear {
                fingerprint: "rule:disk:web1:service.state:Shop".to_owned(),
                at: at()
            }
        );
    }

    #[test]
    fn each_database_replacement_is_its_own_alert() {
        let first = database_replaced("web1", "saved 3 hours", at());
        let later = database_replaced(
            "web1",
            "saved 3 hours",
            at() + jiff::SignedDuration::from_secs(1),
        );
        let (Decision::Raise(a), Decision::Raise(b)) = (first, later) else {
            panic!("a replaced database raises an alert")
        };
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!((a.severity, a.service), (Severity::Critical, None));
        assert_eq!(a.detail, "saved 3 hours");
    }
}
