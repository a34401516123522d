use super::*;

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn alert(id: i64, title: &str) -> AlertRecord {
    AlertRecord {
        id,
        fingerprint: format!("service:{id}"),
        service: Some(format!("svc{id}")),
        host: "web1".to_owned(),
        title: title.to_owned(),
        detail: "It answered 503 <Service Unavailable> & more.".to_owned(),
        severity: Severity::Critical,
        emergency: false,
        opened_at: t("2026-11-23T09:00:00Z"),
        policy: None,
        policy_from: None,
        steps_done: 0,
        told_at: None,
        acked: None,
        resolved_at: None,
        silenced: None,
        flapping: false,
        cause: None,
    }
}

fn batch<'a>(
    items: Vec<Item>,
    dependents: &'a BTreeMap<String, Vec<String>>,
    tz: &'a TimeZone,
    now: &str,
) -> Batch<'a> {
    Batch {
        id: "m1".to_owned(),
        business: "Shop",
        items,
        causes: BTreeMap::new(),
        dependents,
        time_zone: tz,
        now: t(now),
    }
}

#[test]
fn notice_kinds_round_trip_through_their_stored_names() {
    for kind in NoticeKind::ALL {
        assert_eq!(NoticeKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(NoticeKind::parse("other"), None);
}

#[test]
fn each_kind_of_notice_has_its_own_headline() {
    let over = AlertRecord {
        resolved_at: Some(t("2026-11-23T09:30:00Z")),
        ..alert(1, "db is down")
    };
    let open = alert(1, "db is down");
    let cases = [
        (
            NoticeKind::Resolved,
            &over,
            "svc1 is back up after 30 minutes",
        ),
        (NoticeKind::Settled, &over, "db is down: stopped flapping"),
        (
            NoticeKind::Settled,
            &open,
            "db is down: stopped flapping, still a problem",
        ),
        (NoticeKind::Flapping, &open, "Flapping: db is down"),
        (
            NoticeKind::Reminder,
            &open,
            "Still unacknowledged: db is down",
        ),
        (NoticeKind::Step, &open, "Still unacknowledged: db is down"),
        (NoticeKind::Worse, &open, "Worse: db is down"),
        (NoticeKind::Opened, &over, "db is down (over now)"),
        (NoticeKind::Opened, &open, "db is down"),
    ];
    for (kind, alert, expected) in cases {
        let item = Item {
            kind,
            alert: alert.clone(),
        };
        assert_eq!(headline(&item), expected, "{kind:?}");
    }
}

#[test]
fn the_text_says_since_when_what_it_affects_how_urgent_and_escapes_html() {
    let tz = TimeZone::UTC;
    let mut dependents = BTreeMap::new();
    dependents.insert(
        "svc1".to_owned(),
        vec!["shop".to_owned(), "blog".to_owned()],
    );
    let warning = AlertRecord {
        severity: Severity::Warning,
        opened_at: t("2026-11-20T08:00:00Z"),
        acked: Some((t("2026-11-22T18:05:00Z"), "anna".to_owned())),
        ..alert(2, "svc2 is slow")
    };
    let items = vec![
        Item {
            kind: NoticeKind::Opened,
            alert: alert(1, "svc1 is down"),
        },
        Item {
            kind: NoticeKind::Reminder,
            alert: warning,
        },
    ];
    let message = compose(&batch(items, &dependents, &tz, "2026-11-23T09:10:00Z"));
    for says in [
        "svc1 is down since 09:00 (10 minutes).",
        "It affects svc1 and what depends on it: shop, blog.",
        "Needs attention, but not an emergency.",
        "svc2 is slow since Fri 20 Nov 08:00",
        "A warning: not an emergency.",
        "Acknowledged by anna at yesterday 18:05.",
    ] {
        assert!(message.text.contains(says), "{says:?} in\n{}", message.text);
    }
    assert!(
        message
            .html
            .contains("&lt;Service Unavailable&gt; &amp; more.")
    );
    assert_eq!(message.subject, "[Shop] svc1 is down, and 1 more");
    assert_eq!(
        message.short,
        "Shop: svc1 is down since 09:00 (+1 more). Ack: keepwatch ack 1"
    );
}

#[test]
fn a_short_alert_and_a_one_item_summary() {
    let tz = TimeZone::UTC;
    let deps = BTreeMap::new();
    let quick = AlertRecord {
        opened_at: t("2026-11-23T09:09:30Z"),
        ..alert(3, "svc3 is down")
    };
    let items = vec![Item {
        kind: NoticeKind::Digest,
        alert: quick,
    }];
    let message = compose(&batch(items, &deps, &tz, "2026-11-23T09:10:00Z"));
    assert_eq!(message.subject, "[Shop] While you were closed: 1 alert");
    assert!(
        message.text.contains("(less than a minute)"),
        "{}",
        message.text
    );
}

#[test]
fn recovered_dependents_are_told_as_fine_again_under_a_cause_not_in_the_message() {
    let tz = TimeZone::UTC;
    let deps = BTreeMap::new();
    let cause = AlertRecord {
        service: None,
        ..alert(7, "router is down")
    };
    let child = AlertRecord {
        cause: Some(7),
        service: None,
        resolved_at: Some(t("2026-11-23T09:05:00Z")),
        ..alert(8, "vpn is down")
    };
    let mut b = batch(
        vec![Item {
            kind: NoticeKind::Resolved,
            alert: child,
        }],
        &deps,
        &tz,
        "2026-11-23T09:10:00Z",
    );
    b.causes.insert(7, cause);
    let message = compose(&b);
    assert_eq!(
        message.text,
        "1 service depending on web1 was affected and is fine again (router is down, alert 7): vpn is down."
    );
    assert_eq!(message.subject, "[Shop] Over after 5 minutes: vpn is down");
    assert_eq!(message.short, "Shop: Over after 5 minutes: vpn is down");
}

#[test]
fn sms_text_is_cut_to_160_characters() {
    let tz = TimeZone::UTC;
    let deps = BTreeMap::new();
    let long = alert(4, &"a very long title ".repeat(20));
    let message = compose(&batch(
        vec![Item {
            kind: NoticeKind::Opened,
            alert: long,
        }],
        &deps,
        &tz,
        "2026-11-23T09:10:00Z",
    ));
    assert_eq!(message.short.chars().count(), 160);
    assert!(message.short.ends_with('…'));
    assert_eq!(truncate("short", 160), "short");
}

#[test]
fn an_empty_batch_makes_an_empty_short_text() {
    let tz = TimeZone::UTC;
    let deps = BTreeMap::new();
    let b = batch(Vec::new(), &deps, &tz, "2026-11-23T09:10:00Z");
    assert_eq!(short(&b, &[], 0), "");
}

#[test]
fn several_dependants_that_recovered_are_told_together() {
    let tz = TimeZone::UTC;
    let deps = BTreeMap::new();
    let parent = alert(1, "router is down");
    let child = |id| AlertRecord {
        cause: Some(1),
        resolved_at: Some(t("2026-11-23T09:05:00Z")),
        ..alert(id, "x")
    };
    let items = vec![
        Item {
            kind: NoticeKind::Opened,
            alert: parent,
        },
        Item {
            kind: NoticeKind::Resolved,
            alert: child(2),
        },
        Item {
            kind: NoticeKind::Resolved,
            alert: child(3),
        },
    ];
    let message = compose(&batch(items, &deps, &tz, "2026-11-23T09:10:00Z"));
    assert!(
        message
            .text
            .contains("2 services that depend on it were affected and are fine again: svc2, svc3."),
        "{}",
        message.text
    );
    assert_eq!(
        message.short,
        "Shop: router is down since 09:00 (+2 more, 2 caused by it). Ack: keepwatch ack 1"
    );
}

#[test]
fn a_name_with_line_breaks_or_of_any_length_gives_a_one_line_subject() {
    let tz = TimeZone::UTC;
    let dependents = BTreeMap::new();
    let forged = Item {
        kind: NoticeKind::Opened,
        alert: alert(1, "web\r\nBcc: everyone@example.com\r\n is down"),
    };
    let message = compose(&batch(
        vec![forged],
        &dependents,
        &tz,
        "2026-11-23T09:01:00Z",
    ));
    assert!(
        !message.subject.contains(['\r', '\n']),
        "{:?}",
        message.subject
    );
    assert!(
        message.subject.contains("web\\r\\nBcc:"),
        "{:?}",
        message.subject
    );

    let long = Item {
        kind: NoticeKind::Opened,
        alert: alert(1, &format!("{} is down", "a".repeat(70_000))),
    };
    let message = compose(&batch(vec![long], &dependents, &tz, "2026-11-23T09:01:00Z"));
    assert_eq!(message.subject.chars().count(), SUBJECT_CHARS + 1);
    assert!(message.subject.starts_with("[Shop] aaa") && message.subject.ends_with('…'));
}

#[test]
fn a_message_delivered_late_says_so_before_its_stale_facts() {
    let tz = TimeZone::UTC;
    let dependents = BTreeMap::new();
    let items = vec![Item {
        kind: NoticeKind::Opened,
        alert: alert(1, "db is down"),
    }];
    let mut message = compose(&batch(items, &dependents, &tz, "2026-11-23T09:00:20Z"));
    let written = message.text.clone();
    message.delivered_late(std::time::Duration::from_secs(150));
    assert!(
        message.text.starts_with(
            "Delivered 2 minutes 30 seconds late: the channel could not be reached at first. What follows was written 2 minutes 30 seconds ago."
        ),
        "{}",
        message.text
    );
    assert!(
        message.text.ends_with(&written),
        "the facts follow unchanged"
    );
    assert!(
        message
            .html
            .starts_with("<html><body><p><em>Delivered 2 minutes 30 seconds late"),
        "{}",
        message.html
    );
    assert!(
        message.short.starts_with("[2 minutes 30 seconds late] "),
        "{}",
        message.short
    );
    assert!(message.short.chars().count() <= 160);
}

#[test]
fn a_recovery_says_the_service_is_back_and_for_how_long_it_was_out() {
    let tz = TimeZone::UTC;
    let dependents = BTreeMap::new();
    let over = AlertRecord {
        resolved_at: Some(t("2026-11-23T09:03:00Z")),
        ..alert(1, "svc1 is down")
    };
    let brief = AlertRecord {
        resolved_at: Some(t("2026-11-23T09:00:40Z")),
        ..alert(2, "svc1 is down")
    };
    let told = |record: &AlertRecord, kind| {
        compose(&batch(
            vec![Item {
                kind,
                alert: record.clone(),
            }],
            &dependents,
            &tz,
            "2026-11-23T09:05:00Z",
        ))
    };
    let recovery = told(&over, NoticeKind::Resolved);
    assert_eq!(recovery.subject, "[Shop] svc1 is back up after 3 minutes");
    assert_eq!(
        recovery.text,
        "svc1 is back up after 3 minutes. The alert was \"svc1 is down\", from 09:00 to 09:03."
    );
    let unseen = told(&brief, NoticeKind::Opened);
    assert!(
        unseen
            .text
            .starts_with("svc1 is down at 09:00, for less than a minute; it is over now."),
        "no \"from 09:00 to 09:00\": {}",
        unseen.text
    );
}
