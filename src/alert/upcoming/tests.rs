use jiff::SignedDuration;
use jiff::civil::date;
use jiff::tz::TimeZone;

use super::*;
use crate::calendar::BusinessConfig;
use crate::store::OutboxEntry;
use crate::vocabulary::Severity;

fn berlin() -> Calendar {
    let business = BusinessConfig {
        timezone: "Europe/Berlin".to_owned(),
        ..BusinessConfig::default()
    };
    Calendar::from_config(&business, TimeZone::UTC).unwrap()
}

fn local(month: i8, day: i8, hour: i8, minute: i8) -> Timestamp {
    TimeZone::get("Europe/Berlin")
        .unwrap()
        .to_timestamp(date(2026, month, day).at(hour, minute, 0, 0))
        .unwrap()
}

fn alert(opened_at: Timestamp, emergency: bool, calendar: &Calendar) -> AlertRecord {
    let (policy, from) = policy_for(emergency, Some(calendar), opened_at);
    AlertRecord {
        id: 1,
        fingerprint: "service:blog".to_owned(),
        service: Some("blog".to_owned()),
        host: "web1".to_owned(),
        title: "blog is down".to_owned(),
        detail: String::new(),
        severity: Severity::Critical,
        emergency,
        opened_at,
        policy: Some(policy),
        policy_from: Some(from),
        steps_done: 0,
        told_at: None,
        acked: None,
        resolved_at: None,
        silenced: None,
        flapping: false,
        cause: None,
    }
}

#[test]
fn an_alert_opened_the_night_the_clocks_go_forward_waits_for_monday_nine_local_time() {
    let calendar = berlin();
    // Sunday 29 March 2026, 01:30 CET; the clocks go to 03:00 at 02:00.
    let night = local(3, 29, 1, 30);
    let waiting = alert(night, false, &calendar);
    let settings = AlertingConfig::default();
    let plan = plan(&waiting, &settings, Some(&calendar), night).unwrap();
    let monday = local(3, 30, 9, 0);
    assert_eq!(monday.to_string(), "2026-03-30T07:00:00Z", "09:00 CEST");
    assert_eq!(plan.stage, Stage::Opening(monday));
    assert_eq!(
        next(Some(&plan), night),
        Next::Opening {
            at: monday,
            channels: vec!["log".to_owned()],
        }
    );
    // An emergency is not kept waiting.
    let urgent = alert(night, true, &calendar);
    let plan = super::plan(&urgent, &settings, Some(&calendar), night).unwrap();
    assert_eq!(plan.stage, Stage::Due(Due::Steps(vec![0])));
    assert!(matches!(
        next(Some(&plan), night),
        Next::Step { at, first: true, .. } if at == night
    ));
}

#[test]
fn without_a_calendar_every_hour_is_open_and_an_alert_on_no_policy_has_nothing_next() {
    let now = local(11, 24, 3, 0);
    assert!(is_open(None, now));
    assert_eq!(policy_for(false, None, now), (Policy::BusinessHours, now));
    let settings = AlertingConfig::default();
    let mut held = alert(now, false, &berlin());
    held.policy = None;
    assert_eq!(plan(&held, &settings, None, now), None);
    assert_eq!(
        next(None, now),
        Next::Nothing {
            acknowledged: false
        }
    );
}

fn entry(id: i64, created_at: Timestamp) -> OutboxEntry {
    OutboxEntry {
        id,
        channel: "email".to_owned(),
        message: "{}".to_owned(),
        created_at,
        next_at: created_at,
        attempts: 0,
        last_error: None,
        delivered_at: None,
        gave_up_at: None,
    }
}

#[test]
fn each_channel_shows_its_latest_message_and_the_last_one_it_accepted() {
    let t = local(11, 23, 21, 50);
    let later = |mins| t + SignedDuration::from_mins(mins);
    let sent = OutboxEntry {
        delivered_at: Some(later(0)),
        attempts: 1,
        ..entry(1, t)
    };
    let failing = OutboxEntry {
        attempts: 3,
        last_error: Some("the mail server refused the connection".to_owned()),
        next_at: later(17),
        ..entry(2, later(15))
    };
    let row = |channel: &str, message: Option<OutboxEntry>| AlertDelivery {
        channel: channel.to_owned(),
        due: t,
        message,
    };
    let given_up = OutboxEntry {
        gave_up_at: Some(later(1)),
        last_error: Some("the channel left the config".to_owned()),
        ..entry(3, t)
    };
    let told = told(&[
        row("email", Some(sent)),
        row("sms", Some(given_up)),
        row("email", Some(failing)),
        row("chat", None),
    ]);
    assert_eq!(
        told,
        [
            Told {
                channel: "email".to_owned(),
                delivery: Delivery::Queued {
                    since: later(15),
                    tries: 3,
                    error: Some("the mail server refused the connection".to_owned()),
                    next: later(17),
                },
                sent_before: Some(t),
            },
            Told {
                channel: "sms".to_owned(),
                delivery: Delivery::GaveUp {
                    at: later(1),
                    reason: "the channel left the config".to_owned(),
                },
                sent_before: None,
            },
            Told {
                channel: "chat".to_owned(),
                delivery: Delivery::Gathering { since: t },
                sent_before: None,
            },
        ]
    );
}
