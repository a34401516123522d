use super::*;

fn t(minutes: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + minutes * 60).unwrap()
}

fn steps(afters: &[u64]) -> Vec<Step> {
    afters
        .iter()
        .enumerate()
        .map(|(i, &after)| Step {
            after: Duration::from_mins(after),
            notify: vec![format!("channel-{i}")],
        })
        .collect()
}

#[test]
fn steps_fall_due_in_order_and_reminders_follow_the_last() {
    let policy = steps(&[0, 15, 30]);
    let hourly = Duration::from_hours(1);
    let progress = |steps_done, last_told| Progress {
        from: t(0),
        steps_done,
        last_told,
    };
    let cases = [
        // (steps done, last told, now, expected)
        (0, None, 0, Due::Steps(vec![0])),
        (1, Some(t(0)), 5, Due::Later(Some(t(15)))),
        (1, Some(t(0)), 15, Due::Steps(vec![1])),
        (2, Some(t(15)), 29, Due::Later(Some(t(30)))),
        // keepwatch was stopped past two steps: both are due, in order
        (0, None, 40, Due::Steps(vec![0, 1, 2])),
        (3, Some(t(30)), 60, Due::Later(Some(t(90)))),
        (3, Some(t(30)), 90, Due::Reminder),
        (3, None, 61, Due::Reminder),
    ];
    for (done, last, now, expected) in cases {
        assert_eq!(
            due(&policy, progress(done, last), hourly, t(now)),
            expected,
            "{done} steps done, now +{now} min"
        );
    }
}

#[test]
fn without_reminders_or_steps_nothing_more_comes() {
    let done = Progress {
        from: t(0),
        steps_done: 1,
        last_told: Some(t(0)),
    };
    let off = Duration::from_secs(0);
    assert!(off.is_off());
    assert_eq!(due(&steps(&[0]), done, off, t(500)), Due::Later(None));
    let none = Progress {
        steps_done: 0,
        ..done
    };
    assert_eq!(
        due(&[], none, Duration::from_hours(1), t(500)),
        Due::Later(None)
    );
}

#[test]
fn the_first_message_goes_at_once_and_the_next_waits_for_the_group() {
    let wait = Duration::from_secs(30);
    let now = t(10);
    assert_eq!(next_slot(&[], wait, 20, now), now);
    let just_sent = now.saturating_sub(SignedDuration::from_secs(10)).unwrap();
    assert_eq!(
        next_slot(&[just_sent], wait, 20, now),
        just_sent
            .saturating_add(SignedDuration::from_secs(30))
            .unwrap()
    );
    assert_eq!(next_slot(&[t(0)], wait, 20, now), now, "long quiet");
}

#[test]
fn a_channel_at_its_hourly_limit_waits_for_the_oldest_to_age_out() {
    let sent: Vec<Timestamp> = (0..5).map(|i| t(i * 5)).collect();
    let now = t(30);
    let slot = next_slot(&sent, Duration::from_secs(30), 5, now);
    assert_eq!(slot, t(60), "an hour after the first of the five");
    assert_eq!(next_slot(&sent, Duration::from_secs(30), 6, now), now);
    // A limit of 0 is read as 1, never as "never send".
    assert_eq!(next_slot(&[t(29)], Duration::from_secs(0), 0, now), t(89));
}

#[test]
fn policies_round_trip_through_their_stored_names() {
    for policy in [Policy::BusinessHours, Policy::OffHours] {
        assert_eq!(Policy::parse(policy.as_str()), Some(policy));
    }
    assert_eq!(Policy::parse("weekend"), None);
    let config = AlertingConfig::default();
    assert_eq!(config.steps(Policy::BusinessHours)[0].notify, ["log"]);
    assert_eq!(config.steps(Policy::OffHours).len(), 1);
}

#[test]
fn steps_are_written_as_inline_tables() {
    let config: AlertingConfig = toml::from_str(
        r#"business_hours = [{ after = "0m", notify = ["email"] }, { after = "15m", notify = ["sms"] }]"#,
    )
    .unwrap();
    assert_eq!(config.business_hours[1].after, Duration::from_mins(15));
    assert_eq!(config.off_hours, AlertingConfig::default().off_hours);
    // Written back, "at once" stays readable and a delay keeps its unit.
    let text = toml::to_string(&config).unwrap();
    assert!(
        text.contains("after = \"0m\"") && text.contains("after = \"15m\""),
        "{text}"
    );
    assert_eq!(config.business_hours[0].delay(), "0m");
    assert_eq!(config.business_hours[1].delay(), "15m");
}
