use jiff::civil::date;
use jiff::tz::TimeZone;

use super::*;
use crate::alert::upcoming::Next as Upcoming;
use crate::config::Config;
use crate::message::Message;
use crate::vocabulary::State;

const CONFIG: &str = r#"
[business]
name = "Shop"
timezone = "Europe/Berlin"

[alerting]
group_wait = "30s"
remind_every = "1h"
business_hours = [
    { after = "0m", notify = ["email"] },
    { after = "15m", notify = ["sms"] },
]
off_hours = [
    { after = "0m", notify = ["sms"] },
    { after = "30m", notify = ["owner"] },
]

[[channel]]
name = "email"
type = "log"

[[channel]]
name = "sms"
type = "log"
max_per_hour = 3

[[channel]]
name = "owner"
type = "log"

[[service]]
name = "internet"
type = "tcp"
host = "192.0.2.1"
port = 443
critical = true

[[service]]
name = "shop"
type = "tcp"
host = "192.0.2.2"
port = 443
critical = true
depends_on = ["internet"]

[[service]]
name = "blog"
type = "tcp"
host = "192.0.2.3"
port = 443
depends_on = ["internet"]
"#;

struct Fixture {
    alerter: Alerter,
    store: Store,
    calendar: Calendar,
    _dir: tempfile::TempDir,
}

/// Berlin local time on a day of November 2026 (the 23rd is a Monday).
fn at(day: i8, hour: i8, minute: i8) -> Timestamp {
    TimeZone::get("Europe/Berlin")
        .unwrap()
        .to_timestamp(date(2026, 11, day).at(hour, minute, 0, 0))
        .unwrap()
}

fn plus(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(secs)).unwrap()
}

fn fixture_with(extra: &str) -> Fixture {
    let config: Config = toml::from_str(&format!("{CONFIG}\n{extra}")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("k.db"), &config.storage).unwrap();
    Fixture {
        alerter: config.alerter(),
        calendar: Calendar::from_config(&config.business, TimeZone::UTC).unwrap(),
        store,
        _dir: dir,
    }
}

fn fixture() -> Fixture {
    fixture_with("")
}

impl Fixture {
    fn down(&mut self, service: &str, now: Timestamp) {
        self.problem(service, Severity::Critical, now);
    }

    fn problem(&mut self, service: &str, severity: Severity, now: Timestamp) {
        let state = match severity {
            Severity::Critical => State::Down,
            Severity::Warning => State::Degraded,
        };
        self.change(service, state, now);
    }

    fn up(&mut self, service: &str, now: Timestamp) {
        self.change(service, State::Up, now);
    }

    /// The alert decision the product makes when `service` is confirmed `state`.
    fn change(&mut self, service: &str, state: State, now: Timestamp) {
        let change = crate::alert::problems::service_changed(
            service,
            "web1",
            Some(State::Up),
            state,
            "It refused the connection.",
            now,
        );
        self.alerter
            .decide(&mut self.store, &change.decision, Some(&self.calendar), now)
            .unwrap();
    }

    fn tend(&mut self, now: Timestamp) -> Tended {
        self.alerter
            .tend(&mut self.store, Some(&self.calendar), now)
            .unwrap()
    }

    /// Every message composed so far, oldest first, with its channel.
    fn messages(&self) -> Vec<(String, Message)> {
        let mut all: Vec<_> = self
            .store
            .recent_messages(10_000)
            .unwrap()
            .into_iter()
            .map(|entry| {
                let message: Message = serde_json::from_str(&entry.message).unwrap();
                (entry.channel, message)
            })
            .collect();
        all.reverse();
        all
    }

    fn channels_told(&self) -> Vec<String> {
        self.messages().into_iter().map(|(c, _)| c).collect()
    }

    fn only_alert(&self) -> AlertRecord {
        let mut open = self.store.open_alerts().unwrap();
        assert_eq!(open.len(), 1, "{open:?}");
        open.remove(0)
    }
}

#[test]
fn in_business_hours_a_service_down_is_emailed_at_once_with_how_to_acknowledge() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.down("shop", now);
    let tended = f.tend(now);
    assert_eq!(tended.queued, 1);
    assert_eq!(tended.next, Some(plus(now, 15 * 60)), "the SMS step");
    let messages = f.messages();
    assert_eq!(messages.len(), 1);
    let (channel, message) = &messages[0];
    assert_eq!(channel, "email");
    assert_eq!(message.subject, "[Shop] shop is down");
    let id = f.only_alert().id;
    for says in [
        "shop is down since 10:00",
        "It refused the connection.",
        "An emergency",
        &format!("keepwatch ack {id}"),
    ] {
        assert!(message.text.contains(says), "{says:?} in {}", message.text);
    }
    assert!(message.short.len() <= 160 && message.short.contains("ack"));
    assert!(message.html.contains("shop is down"));
    assert_eq!(message.data["alerts"][0]["id"], id);
    // Nothing more until the next step.
    assert_eq!(f.tend(plus(now, 60)).queued, 0);
}

#[test]
fn unacknowledged_alerts_escalate_by_step_and_then_remind() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.down("shop", now);
    f.tend(now);
    f.tend(plus(now, 14 * 60));
    assert_eq!(f.channels_told(), ["email"]);
    f.tend(plus(now, 15 * 60));
    assert_eq!(f.channels_told(), ["email", "sms"]);
    let (_, step) = &f.messages()[1];
    assert!(
        step.subject.contains("Still unacknowledged: shop is down"),
        "{}",
        step.subject
    );
    // The last step was SMS at 10:15; reminders go there hourly.
    let tended = f.tend(plus(now, 30 * 60));
    assert_eq!(tended.next, Some(plus(now, 75 * 60)));
    f.tend(plus(now, 75 * 60));
    assert_eq!(f.channels_told(), ["email", "sms", "sms"]);
    // Recovery goes to everyone who was told.
    f.up("shop", plus(now, 80 * 60));
    f.tend(plus(now, 80 * 60 + 60));
    let told = f.channels_told();
    assert_eq!(told.len(), 5, "{told:?}");
    assert!(told[3..].contains(&"email".to_owned()) && told[3..].contains(&"sms".to_owned()));
    let recovery = &f.messages()[4].1;
    assert!(
        recovery
            .subject
            .contains("shop is back up after 1 hour 20 minutes"),
        "{}",
        recovery.subject
    );
    assert!(
        recovery
            .text
            .contains("The alert was \"shop is down\", from 10:00 to 11:20."),
        "{}",
        recovery.text
    );
}

#[test]
fn acknowledging_stops_escalation_but_not_the_recovery_message() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.down("shop", now);
    f.tend(now);
    let id = f.only_alert().id;
    f.store.acknowledge(id, "anna", plus(now, 60)).unwrap();
    for minutes in [15, 30, 90, 200] {
        f.tend(plus(now, minutes * 60));
    }
    assert_eq!(f.channels_told(), ["email"]);
    f.up("shop", plus(now, 201 * 60));
    f.tend(plus(now, 201 * 60));
    assert_eq!(f.channels_told(), ["email", "email"]);
}

#[test]
fn off_hours_a_warning_waits_for_the_opening_and_arrives_as_a_summary() {
    let mut f = fixture();
    let night = at(24, 2, 0);
    f.problem("blog", Severity::Warning, night);
    let tended = f.tend(night);
    assert_eq!(tended.queued, 0);
    assert_eq!(tended.next, Some(at(24, 9, 0)), "the next opening");
    // A second problem that is over before morning is still reported.
    f.problem("shop", Severity::Warning, plus(night, 600));
    f.up("shop", plus(night, 1200));
    f.tend(at(24, 8, 59));
    assert!(f.messages().is_empty());
    f.tend(at(24, 9, 0));
    let messages = f.messages();
    assert_eq!(messages.len(), 1, "one summary");
    let (channel, digest) = &messages[0];
    assert_eq!(channel, "email");
    assert_eq!(digest.subject, "[Shop] While you were closed: 2 alerts");
    assert!(digest.text.starts_with("While the business was closed:"));
    assert!(
        digest.text.contains("blog is degraded since 02:00"),
        "{}",
        digest.text
    );
    assert!(
        digest.text.contains("shop is degraded from 02:10 to 02:20"),
        "{}",
        digest.text
    );
    // The open one now escalates from the opening, in business hours.
    f.tend(at(24, 9, 15));
    assert_eq!(f.channels_told(), ["email", "sms"]);
}

#[test]
fn off_hours_an_emergency_goes_by_sms_at_once_then_to_the_owner() {
    let mut f = fixture();
    let night = at(24, 3, 0);
    f.down("shop", night);
    f.tend(night);
    assert_eq!(f.channels_told(), ["sms"]);
    f.tend(plus(night, 30 * 60));
    assert_eq!(f.channels_told(), ["sms", "owner"]);
}

#[test]
fn a_waiting_warning_that_becomes_an_emergency_goes_out_at_night() {
    let mut f = fixture();
    let night = at(24, 3, 0);
    f.problem("shop", Severity::Warning, night);
    f.tend(night);
    assert!(f.messages().is_empty());
    f.down("shop", plus(night, 60));
    f.tend(plus(night, 60));
    assert_eq!(f.channels_told(), ["sms"]);
    assert_eq!(f.only_alert().severity, Severity::Critical);
    // Getting no worse again changes nothing.
    f.problem("shop", Severity::Warning, plus(night, 120));
    f.tend(plus(night, 120));
    assert_eq!(f.channels_told(), ["sms"]);
}

#[test]
fn an_alert_getting_worse_tells_those_already_told() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.problem("blog", Severity::Warning, now);
    f.tend(now);
    f.problem("blog", Severity::Critical, plus(now, 60));
    f.tend(plus(now, 60));
    let messages = f.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].0, "email");
    assert!(
        messages[1].1.subject.contains("Worse"),
        "{}",
        messages[1].1.subject
    );
}

#[test]
fn a_warning_pauses_escalation_while_closed() {
    let mut f = fixture();
    let evening = at(23, 16, 55);
    f.problem("blog", Severity::Warning, evening);
    f.tend(evening);
    let tended = f.tend(at(23, 17, 30));
    assert_eq!(
        f.channels_told(),
        ["email"],
        "no SMS at night for a warning"
    );
    assert_eq!(tended.next, Some(at(24, 9, 0)));
    f.tend(at(24, 9, 0));
    assert_eq!(f.channels_told(), ["email", "sms"]);
}

#[test]
fn alerts_close_together_are_grouped_into_one_message() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.down("shop", now);
    f.tend(now);
    f.problem("blog", Severity::Warning, plus(now, 5));
    let tended = f.tend(plus(now, 5));
    assert_eq!(tended.queued, 0);
    assert_eq!(tended.next, Some(plus(now, 30)), "after the grouping wait");
    f.problem("internet", Severity::Warning, plus(now, 10));
    f.tend(plus(now, 30));
    let messages = f.messages();
    assert_eq!(messages.len(), 2);
    assert!(messages[1].1.text.contains("blog is degraded"));
    assert!(messages[1].1.text.contains("internet is degraded"));
    assert_eq!(messages[1].1.subject, "[Shop] blog is degraded, and 1 more");
}

#[test]
fn services_behind_a_dead_link_are_folded_into_its_alert() {
    let mut extra = String::new();
    for i in 0..20 {
        extra.push_str(&format!(
            "[[service]]\nname = \"ext{i}\"\ntype = \"tcp\"\nhost = \"192.0.2.9\"\nport = {}\ndepends_on = [\"internet\"]\n",
            1000 + i
        ));
    }
    let mut f = fixture_with(&extra);
    let now = at(23, 10, 0);
    f.down("internet", now);
    for i in 0..20 {
        f.down(&format!("ext{i}"), now);
    }
    f.tend(now);
    let messages = f.messages();
    assert_eq!(messages.len(), 1, "one message for the storm");
    let message = &messages[0].1;
    assert_eq!(
        message.subject,
        "[Shop] internet is down, and 20 services depending on it"
    );
    assert!(
        message
            .text
            .contains("20 services that depend on it are failing because of it: ext0, ext1"),
        "{}",
        message.text
    );
    // The folded alerts do not escalate on their own.
    f.tend(plus(now, 15 * 60));
    let sms: Vec<_> = f
        .messages()
        .into_iter()
        .filter(|(c, _)| c == "sms")
        .collect();
    assert_eq!(sms.len(), 1);
    assert!(
        sms[0].1.subject.contains("internet is down"),
        "{}",
        sms[0].1.subject
    );
}

#[test]
fn a_child_found_before_its_parent_is_adopted_and_later_children_point_at_it() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.down("shop", now);
    f.tend(now);
    f.down("internet", plus(now, 2));
    f.down("blog", plus(now, 3));
    let internet = f.store.open_alert("service:internet").unwrap().unwrap();
    for child in ["service:shop", "service:blog"] {
        let alert = f.store.open_alert(child).unwrap().unwrap();
        assert_eq!(alert.cause, Some(internet.id), "{child}");
    }
    f.tend(plus(now, 30));
    let second = &f.messages()[1].1;
    assert!(second.text.contains("internet is down"), "{}", second.text);
}

#[test]
fn a_folded_alert_whose_cause_went_out_earlier_names_it() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.down("internet", now);
    f.tend(now);
    f.down("blog", plus(now, 40));
    f.tend(plus(now, 40));
    let later = &f.messages()[1].1;
    assert!(
        later.text.contains("1 service depending on internet is failing because of it (internet is down, alert 1): blog."),
        "{}",
        later.text
    );
}

#[test]
fn a_channel_over_its_hourly_limit_holds_messages_and_sends_them_together() {
    let mut f = fixture();
    let night = at(24, 1, 0);
    // Four emergencies a minute apart; SMS allows 3 an hour.
    for (i, service) in ["shop", "internet"].iter().enumerate() {
        f.down(service, plus(night, i as i64 * 60));
        f.tend(plus(night, i as i64 * 60));
    }
    for (i, service) in ["shop", "internet"].iter().enumerate() {
        f.up(service, plus(night, 120 + i as i64 * 60));
        f.tend(plus(night, 120 + i as i64 * 60));
    }
    assert_eq!(f.channels_told(), ["sms", "sms", "sms"]);
    let tended = f.tend(plus(night, 600));
    assert_eq!(tended.next, Some(plus(night, 3600)));
    f.tend(plus(night, 3600));
    assert_eq!(f.channels_told().len(), 4, "delivered once the hour allows");
}

#[test]
fn maintenance_holds_alerts_back_until_it_ends() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.store
        .add_maintenance("router swap", &["shop".to_owned()], now, plus(now, 3600))
        .unwrap();
    f.down("shop", plus(now, 60));
    f.problem("blog", Severity::Warning, plus(now, 60));
    f.tend(plus(now, 60));
    let told: Vec<String> = f
        .messages()
        .iter()
        .map(|(_, m)| m.subject.clone())
        .collect();
    assert_eq!(
        told,
        ["[Shop] blog is degraded"],
        "only the service not in maintenance"
    );
    let shop = f.store.open_alert("service:shop").unwrap().unwrap();
    assert_eq!(shop.silenced.as_deref(), Some("maintenance: router swap"));
    let about_shop = |f: &Fixture| {
        f.messages()
            .into_iter()
            .filter(|(_, m)| m.text.contains("shop is down"))
            .count()
    };
    f.tend(plus(now, 3599));
    assert_eq!(about_shop(&f), 0);
    // Still down after the window: now it alerts.
    f.tend(plus(now, 3600));
    assert_eq!(about_shop(&f), 1);
}

#[test]
fn a_problem_that_ends_inside_maintenance_is_never_sent() {
    let mut f = fixture_with(
        "[[maintenance]]\nname = \"nightly backup\"\nevery = \"day\"\nfrom = \"02:00\"\nuntil = \"04:00\"\n",
    );
    let night = at(24, 2, 30);
    f.down("shop", night);
    f.tend(night);
    f.up("shop", plus(night, 600));
    f.tend(plus(night, 600));
    f.tend(at(24, 9, 0));
    assert!(f.messages().is_empty());
}

#[test]
fn a_flapping_service_is_reported_once_and_again_when_it_settles() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    for i in 0..6 {
        let down = plus(now, i * 120);
        f.down("shop", down);
        f.tend(down);
        f.up("shop", plus(down, 60));
        f.tend(plus(down, 60));
    }
    let subjects: Vec<String> = f
        .messages()
        .iter()
        .map(|(_, m)| m.subject.clone())
        .collect();
    // Three plain alerts with recoveries (grouped), then one flapping notice.
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("Flapping: shop is down")),
        "{subjects:?}"
    );
    let before = subjects.len();
    assert!(before <= 7, "{subjects:?}");
    // Steady for the flapping window: one message says so.
    let last_change = plus(now, 5 * 120 + 60);
    f.tend(plus(last_change, 29 * 60));
    assert_eq!(f.messages().len(), before);
    f.tend(plus(last_change, 30 * 60));
    let settled = &f.messages()[before].1;
    assert!(
        settled.subject.contains("stopped flapping"),
        "{}",
        settled.subject
    );
}

#[test]
fn a_service_that_stays_down_after_flapping_alerts_normally() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    for i in 0..4 {
        f.down("shop", plus(now, i * 120));
        f.tend(plus(now, i * 120));
        f.up("shop", plus(now, i * 120 + 60));
        f.tend(plus(now, i * 120 + 60));
    }
    let down_at = plus(now, 600);
    f.down("shop", down_at);
    f.tend(down_at);
    let alert = f.only_alert();
    assert_eq!(alert.silenced.as_deref(), Some("flapping"));
    let tended = f.tend(plus(down_at, 60));
    assert!(tended.next.is_some_and(|t| t <= plus(down_at, 30 * 60)));
    f.tend(plus(down_at, 30 * 60));
    assert_eq!(f.only_alert().silenced, None);
    let last = f.messages().pop().unwrap().1;
    assert!(
        last.text
            .contains("shop is down (since 10:10): it has stopped flapping but is still failing."),
        "{}",
        last.text
    );
}

#[test]
fn host_problems_count_as_critical_and_affect_everything_on_the_host() {
    let mut f = fixture();
    let night = at(24, 4, 0);
    let problem = Problem {
        fingerprint: "rule:disk:web1:disk.used_percent:/",
        service: None,
        host: "web1",
        title: "Disk full: disk.used_percent of / on web1 is 97.0",
        detail: "",
        severity: Severity::Critical,
        since: night,
        emergency: None,
    };
    f.alerter
        .raise(&mut f.store, &problem, Some(&f.calendar), night)
        .unwrap();
    f.tend(night);
    let messages = f.messages();
    assert_eq!(messages[0].0, "sms");
    assert!(messages[0].1.text.contains("everything that runs on web1"));
    assert!(f.alerter.is_critical("shop") && !f.alerter.is_critical("blog"));
}

#[test]
fn clearing_what_is_not_open_does_nothing() {
    let mut f = fixture();
    f.up("shop", at(23, 10, 0));
    assert_eq!(f.tend(at(23, 10, 0)), Tended::default());
}

#[test]
fn a_notice_for_a_removed_kind_or_alert_is_skipped_without_failing() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.store.add_notice(999, "email", "opened", now).unwrap();
    f.store.add_notice(999, "email", "mystery", now).unwrap();
    assert_eq!(f.tend(now).queued, 0);
    assert!(f.messages().is_empty());
    assert!(
        f.store.waiting_notices().unwrap().is_empty(),
        "not retried forever"
    );
}

#[test]
fn an_alert_over_before_its_message_goes_is_told_once_as_over() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.down("shop", now);
    f.tend(now);
    f.problem("blog", Severity::Warning, plus(now, 5));
    f.tend(plus(now, 5));
    f.up("blog", plus(now, 10));
    f.tend(plus(now, 30));
    let messages = f.messages();
    assert_eq!(messages.len(), 2);
    let text = &messages[1].1.text;
    assert_eq!(text.matches("blog is degraded").count(), 1, "{text}");
    assert!(
        text.contains("blog is fine again after less than a minute. The alert was \"blog is degraded\", at 10:00."),
        "{text}"
    );
}

#[test]
fn a_dependency_cycle_ends_the_search_for_a_cause() {
    let mut f = fixture_with(
        "[[service]]\nname = \"a\"\ntype = \"tcp\"\nhost = \"192.0.2.5\"\nport = 1\ndepends_on = [\"b\", \"internet\"]\n\
         [[service]]\nname = \"b\"\ntype = \"tcp\"\nhost = \"192.0.2.5\"\nport = 2\ndepends_on = [\"a\", \"internet\"]\n",
    );
    let now = at(23, 10, 0);
    f.down("a", now);
    f.down("b", now);
    let b = f.store.open_alert("service:b").unwrap().unwrap();
    let a = f.store.open_alert("service:a").unwrap().unwrap();
    assert_eq!(b.cause, Some(a.id), "b found a down");
    assert_eq!(a.cause, None, "a was first: nothing explains it");
    f.problem("internet", Severity::Critical, now);
    assert!(
        f.store
            .open_alert("service:internet")
            .unwrap()
            .unwrap()
            .cause
            .is_none()
    );
}

#[test]
fn host_alerts_are_never_adopted_by_a_service() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    let problem = Problem {
        fingerprint: "rule:load:web1:load.1:",
        service: None,
        host: "web1",
        title: "Load high",
        detail: "",
        severity: Severity::Critical,
        since: now,
        emergency: None,
    };
    f.alerter
        .raise(&mut f.store, &problem, Some(&f.calendar), now)
        .unwrap();
    f.down("internet", now);
    let host = f
        .store
        .open_alert("rule:load:web1:load.1:")
        .unwrap()
        .unwrap();
    assert_eq!(host.cause, None);
}

#[test]
fn an_alert_getting_worse_in_maintenance_stays_quiet() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.store
        .add_maintenance("work", &[], now, plus(now, 3600))
        .unwrap();
    f.problem("blog", Severity::Warning, now);
    f.problem("blog", Severity::Critical, plus(now, 60));
    f.tend(plus(now, 60));
    assert!(f.messages().is_empty());
    assert_eq!(f.only_alert().severity, Severity::Critical);
}

#[test]
fn an_alert_recorded_without_a_policy_is_left_alone() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.store
        .insert_alert(&crate::store::NewAlert {
            fingerprint: "imported",
            service: None,
            host: "web1",
            title: "imported",
            detail: "",
            severity: Severity::Warning,
            emergency: false,
            opened_at: now,
            policy: None,
            silenced: None,
            flapping: false,
            cause: None,
        })
        .unwrap();
    assert_eq!(f.tend(now), Tended::default());
}

#[test]
fn the_emergency_setting_and_a_rule_s_own_say_decide_who_is_woken() {
    let night = at(24, 3, 0);
    let raise = |f: &mut Fixture, fingerprint: &str, emergency: Option<bool>| {
        let problem = Problem {
            fingerprint,
            service: Some("blog"),
            host: "web1",
            title: fingerprint,
            detail: "",
            severity: Severity::Critical,
            since: night,
            emergency,
        };
        f.alerter
            .raise(&mut f.store, &problem, Some(&f.calendar), night)
            .unwrap();
    };
    // By default a critical alert on a service not marked critical waits...
    let mut f = fixture();
    raise(&mut f, "blog-default", None);
    // ...unless its rule says it is an emergency.
    raise(&mut f, "blog-rule", Some(true));
    f.tend(night);
    let subjects: Vec<String> = f.messages().into_iter().map(|(_, m)| m.subject).collect();
    assert_eq!(subjects, ["[Shop] blog-rule"]);
    // With `emergencies = "all_critical"` every critical alert goes out.
    let mut f = fixture_with("");
    let mut config: Config = toml::from_str(CONFIG).unwrap();
    config.alerting.emergencies = crate::alert::Emergencies::AllCritical;
    f.alerter = config.alerter();
    raise(&mut f, "blog-default", None);
    f.tend(night);
    assert_eq!(f.messages().len(), 1);
}

const CRITICAL_BEHIND_PLAIN: &str = r#"
[[service]]
name = "db"
type = "tcp"
host = "192.0.2.5"
port = 5432

[[service]]
name = "checkout"
type = "tcp"
host = "192.0.2.6"
port = 443
critical = true
depends_on = ["db"]
"#;

#[test]
fn off_hours_a_critical_service_folded_under_a_plain_one_is_still_an_emergency() {
    let mut f = fixture_with(CRITICAL_BEHIND_PLAIN);
    let night = at(24, 2, 0);
    f.down("db", night);
    f.down("checkout", night);
    f.tend(night);
    let messages = f.messages();
    assert_eq!(
        messages.len(),
        1,
        "the emergency goes out at night, at once"
    );
    let (channel, message) = &messages[0];
    assert_eq!(channel, "sms", "the off-hours path");
    assert!(message.text.contains("An emergency"), "{}", message.text);
    assert!(
        !message.text.contains("not an emergency"),
        "{}",
        message.text
    );
    assert!(message.text.contains("checkout"), "{}", message.text);
}

#[test]
fn in_business_hours_a_group_is_as_urgent_as_its_most_urgent_member() {
    let mut f = fixture_with(CRITICAL_BEHIND_PLAIN);
    let now = at(23, 10, 0);
    f.down("db", now);
    f.down("checkout", now);
    f.tend(now);
    let messages = f.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let text = &messages[0].1.text;
    assert!(text.contains("An emergency"), "{text}");
    assert!(!text.contains("not an emergency"), "{text}");
}

#[test]
fn a_plain_service_down_is_not_called_critical() {
    let mut f = fixture_with(CRITICAL_BEHIND_PLAIN);
    let now = at(23, 10, 0);
    f.down("db", now);
    f.tend(now);
    let text = &f.messages()[0].1.text;
    assert!(!text.contains("Critical"), "{text}");
    assert!(text.contains("not an emergency"), "{text}");
}

#[test]
fn an_emergency_right_after_another_message_waits_seconds_not_group_wait() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.problem("blog", Severity::Warning, now);
    f.tend(now);
    assert_eq!(f.messages().len(), 1);
    // The shop (critical) goes down 2 s after the blog's message went out.
    f.down("shop", plus(now, 2));
    let tended = f.tend(plus(now, 2));
    assert_eq!(tended.queued, 0);
    assert_eq!(
        tended.next,
        Some(plus(now, 5)),
        "gathered for seconds, not for the 30 s of group_wait"
    );
    f.problem("internet", Severity::Warning, plus(now, 4));
    assert_eq!(f.tend(plus(now, 5)).queued, 1);
    let message = &f.messages()[1].1;
    assert!(message.text.contains("shop is down"), "{}", message.text);
    assert!(
        message.text.contains("internet is degraded"),
        "{}",
        message.text
    );
    // News that is not an emergency waits group_wait after that one.
    f.problem("blog", Severity::Critical, plus(now, 6));
    assert_eq!(f.tend(plus(now, 6)).next, Some(plus(now, 35)));
}

#[test]
fn a_recovery_with_nothing_else_pending_goes_at_once_not_after_group_wait() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.down("shop", now);
    f.tend(now);
    f.up("shop", plus(now, 10));
    assert_eq!(
        f.tend(plus(now, 10)).queued,
        1,
        "the all-clear goes at once"
    );
    let recovery = &f.messages()[1].1;
    assert!(
        recovery.subject.contains("shop is back up"),
        "{}",
        recovery.subject
    );
}

#[test]
fn recoveries_while_others_of_the_same_message_are_still_down_are_gathered() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.down("shop", now);
    f.down("blog", now);
    f.tend(now);
    assert_eq!(f.messages().len(), 1);
    f.up("blog", plus(now, 10));
    let tended = f.tend(plus(now, 10));
    assert_eq!(tended.queued, 0, "shop is still down: wait for more news");
    assert_eq!(
        tended.next,
        Some(plus(now, 30)),
        "group_wait after the alert"
    );
    f.up("shop", plus(now, 20));
    assert_eq!(
        f.tend(plus(now, 20)).queued,
        1,
        "all clear: both together, at once"
    );
    let text = &f.messages()[1].1.text;
    assert!(
        text.contains("shop is back up") && text.contains("blog is back up"),
        "{text}"
    );
}

/// The calendar of the fixture's config with `extra` lines in its
/// `[business]` table: the hours after an edit.
fn calendar_with(extra: &str) -> Calendar {
    let zone = "timezone = \"Europe/Berlin\"";
    let text = CONFIG.replace(zone, &format!("{zone}\n{extra}"));
    let config: Config = toml::from_str(&text).unwrap();
    Calendar::from_config(&config.business, TimeZone::UTC).unwrap()
}

impl Fixture {
    fn next_of(&self, alert: &AlertRecord, now: Timestamp) -> Upcoming {
        self.alerter
            .whereabouts(&self.store, alert, Some(&self.calendar), now)
            .unwrap()
            .next
    }
}

#[test]
fn a_waiting_alert_goes_out_at_once_when_the_hours_are_edited_to_open_now() {
    let mut f = fixture();
    let night = at(24, 2, 0);
    f.problem("blog", Severity::Warning, night);
    f.tend(night);
    let waiting = Upcoming::Opening {
        at: at(24, 9, 0),
        channels: vec!["email".to_owned()],
    };
    assert_eq!(f.next_of(&f.only_alert(), night), waiting);
    // The admin opens the shop at night: the reloaded calendar is in force.
    f.calendar = calendar_with("hours.tuesday = \"00:00-23:00\"");
    let edited = plus(night, 600);
    let tended = f.tend(edited);
    assert_eq!(tended.queued, 1, "sent at the first look after the edit");
    assert_eq!(f.channels_told(), ["email"]);
    let alert = f.only_alert();
    assert_eq!(alert.policy_from, Some(edited), "its steps count from now");
    assert_eq!(
        f.next_of(&alert, edited),
        Upcoming::Step {
            at: plus(edited, 15 * 60),
            channels: vec!["sms".to_owned()],
            first: false,
            at_opening: false,
        }
    );
}

#[test]
fn a_waiting_alert_follows_later_hours_and_a_new_holiday() {
    let mut f = fixture();
    let night = at(24, 2, 0);
    f.problem("blog", Severity::Warning, night);
    f.tend(night);
    f.calendar = calendar_with("hours.tuesday = \"10:00-17:00\"");
    assert_eq!(f.tend(plus(night, 60)).next, Some(at(24, 10, 0)));
    f.tend(at(24, 9, 0));
    assert!(f.messages().is_empty(), "not at the old opening");
    // Tuesday becomes a holiday before it opens: Wednesday, then.
    f.calendar = calendar_with("holidays = [\"2026-11-24\"]");
    assert_eq!(f.tend(at(24, 9, 30)).next, Some(at(25, 9, 0)));
    assert_eq!(
        f.next_of(&f.only_alert(), at(24, 9, 30)),
        Upcoming::Opening {
            at: at(25, 9, 0),
            channels: vec!["email".to_owned()],
        }
    );
    f.tend(at(25, 9, 0));
    assert_eq!(f.channels_told(), ["email"]);
    let (_, digest) = &f.messages()[0];
    assert!(
        digest.subject.contains("While you were closed"),
        "{}",
        digest.subject
    );
}

#[test]
fn the_next_step_is_shown_as_the_engine_will_take_it() {
    let mut f = fixture();
    // Emergencies at night: SMS now, the owner after 30 minutes.
    let night = at(24, 3, 0);
    f.down("shop", night);
    f.tend(night);
    let alert = f.only_alert();
    let owner = Upcoming::Step {
        at: plus(night, 30 * 60),
        channels: vec!["owner".to_owned()],
        first: false,
        at_opening: false,
    };
    assert_eq!(f.next_of(&alert, plus(night, 60)), owner);
    f.tend(plus(night, 30 * 60));
    assert_eq!(f.channels_told(), ["sms", "owner"]);
    // Then reminders to the last step's channels, hourly.
    let alert = f.only_alert();
    assert_eq!(
        f.next_of(&alert, plus(night, 31 * 60)),
        Upcoming::Reminder {
            at: plus(night, 90 * 60),
            channels: vec!["owner".to_owned()],
            at_opening: false,
        }
    );
    let acked = f
        .store
        .acknowledge(alert.id, "anna", plus(night, 40 * 60))
        .unwrap();
    assert_eq!(
        f.next_of(&acked, plus(night, 41 * 60)),
        Upcoming::Nothing { acknowledged: true }
    );
}

#[test]
fn a_warning_paused_overnight_shows_its_escalation_at_the_opening() {
    let mut f = fixture();
    let evening = at(23, 16, 55);
    f.problem("blog", Severity::Warning, evening);
    f.tend(evening);
    assert_eq!(
        f.next_of(&f.only_alert(), at(23, 17, 30)),
        Upcoming::Step {
            at: at(24, 9, 0),
            channels: vec!["sms".to_owned()],
            first: false,
            at_opening: true,
        }
    );
}

#[test]
fn an_alert_held_by_maintenance_shows_until_when() {
    let mut f = fixture();
    let now = at(23, 10, 0);
    f.store
        .add_maintenance("router swap", &["shop".to_owned()], now, plus(now, 3600))
        .unwrap();
    f.down("shop", plus(now, 60));
    f.tend(plus(now, 60));
    assert_eq!(
        f.next_of(&f.only_alert(), plus(now, 120)),
        Upcoming::Held {
            reason: "maintenance: router swap".to_owned(),
            until: Some(plus(now, 3600)),
        }
    );
}
