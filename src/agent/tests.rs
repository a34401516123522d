//! The agent walked through hours of simulated time on a simulated host, with
//! a real SQLite store.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::clock::SimClock;
use crate::collect::{Scenario, SimulatedHost};
use crate::observation::SeriesKey;
use crate::status::{self, Liveness};
use crate::store::StorageConfig;
use crate::units::Duration;

struct Sim {
    agent: Agent,
    clock: SimClock,
    _dir: tempfile::TempDir,
}

fn start() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

fn sim(
    scenario: Scenario,
    config: Config,
    tweak: impl FnOnce(SimulatedHost) -> SimulatedHost,
) -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(start());
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let host = tweak(SimulatedHost::new(scenario, shared.clone()));
    let store = Store::open(&dir.path().join("keepwatch.db"), &config.storage).unwrap();
    let agent = Agent::new(config, "sim".to_owned(), shared, Box::new(host), store);
    Sim {
        agent,
        clock,
        _dir: dir,
    }
}

impl Sim {
    /// Runs the agent as `run` would, until `length` of simulated time has passed.
    fn run_for(&mut self, length: SignedDuration) -> usize {
        let end = self.clock.now() + length;
        let mut ticks = 0;
        loop {
            let wake = self.agent.tick().wake;
            ticks += 1;
            if wake > end {
                self.clock.set(end);
                return ticks;
            }
            self.clock.set(wake.max(self.clock.now()));
        }
    }

    /// Runs the service checks as the runtime would, one outcome per due run.
    fn run_checks(&mut self, outcomes: impl IntoIterator<Item = crate::checks::CheckOutcome>) {
        for outcome in outcomes {
            let checks = loop {
                let tick = self.agent.tick();
                if !tick.checks.is_empty() {
                    break tick.checks;
                }
                self.clock.set(tick.wake);
            };
            for spec in checks {
                self.agent
                    .check_finished(&spec.common.name, outcome.clone());
            }
            self.agent.save_check_results();
        }
    }

    /// The store, once what waits in memory is written.
    fn stored(&mut self) -> &Store {
        self.agent.write_waiting();
        self.agent.store()
    }

    /// How many samples of a series of this host are stored, once what
    /// waits in memory is written.
    fn count(&mut self, metric: &str, instance: &str) -> usize {
        self.agent.write_waiting();
        self.count_written(metric, instance)
    }

    /// How many samples of a series of this host the store has now.
    fn count_written(&self, metric: &str, instance: &str) -> usize {
        let key = SeriesKey::new("sim", metric, instance);
        self.agent
            .store()
            .range(
                &key,
                start(),
                self.clock.now() + SignedDuration::from_secs(1),
            )
            .unwrap()
            .len()
    }

    fn events(&self, kind: &str) -> Vec<String> {
        self.agent
            .store()
            .recent_events(100)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.message)
            .collect()
    }
}

#[test]
fn each_family_is_collected_on_its_own_interval() {
    let mut sim = sim(Scenario::Idle, Config::default(), |h| h.with_cpu_count(2));
    sim.run_for(SignedDuration::from_hours(1));
    // Due at the start and every interval after it, the last one at the hour.
    assert_eq!(sim.count(metric::CPU_USAGE_PERCENT, ""), 361);
    assert_eq!(sim.count(metric::CPU_CORE_USAGE_PERCENT, "1"), 361);
    assert_eq!(sim.count(metric::MEMORY_USED_PERCENT, ""), 361);
    assert_eq!(sim.count(metric::LOAD_1, ""), 361);
    assert_eq!(sim.count(metric::HOST_UPTIME_SECONDS, ""), 13);
    assert_eq!(sim.agent.stretch(), 1);
}

#[test]
fn a_busy_host_stretches_intervals_skips_per_core_detail_and_says_so() {
    let mut sim = sim(Scenario::Busy, Config::default(), |h| h.with_cpu_count(2));
    sim.run_for(SignedDuration::from_hours(1));
    assert_eq!(sim.agent.stretch(), 8);
    let cpu = sim.count(metric::CPU_USAGE_PERCENT, "");
    assert!(
        cpu < 60,
        "a host busy for an hour should be measured far less than 361 times, got {cpu}"
    );
    assert!(
        sim.count(metric::CPU_CORE_USAGE_PERCENT, "0") < 3,
        "per-core detail is optional work and is skipped while throttled"
    );
    let throttle = sim.events("throttle");
    assert_eq!(throttle.len(), 3, "{throttle:?}");
    assert!(throttle.iter().all(|m| m.contains("busy")), "{throttle:?}");
    let state = sim.agent.store().state(state_key::THROTTLE).unwrap();
    assert_eq!(state.as_deref(), Some("host busy, measuring 8× less often"));
}

#[test]
fn the_agent_recovers_normal_intervals_when_the_host_calms_down() {
    let scenario = Scenario::Recovering {
        busy_for: SignedDuration::from_mins(10),
    };
    let mut sim = sim(scenario, Config::default(), |h| h);
    sim.run_for(SignedDuration::from_hours(2));
    assert_eq!(sim.agent.stretch(), 1);
    assert_eq!(
        sim.agent
            .store()
            .state(state_key::THROTTLE)
            .unwrap()
            .as_deref(),
        Some("normal intervals")
    );
}

#[test]
fn disabled_throttling_never_stretches() {
    let mut config = Config::default();
    config.throttle.enabled = false;
    let mut sim = sim(Scenario::Busy, config, |h| h);
    sim.run_for(SignedDuration::from_mins(30));
    assert_eq!(sim.agent.stretch(), 1);
    assert_eq!(sim.count(metric::CPU_USAGE_PERCENT, ""), 181);
}

#[test]
fn a_family_the_os_lacks_is_reported_once_and_the_rest_carries_on() {
    let mut sim = sim(Scenario::Idle, Config::default(), |h| {
        h.with_unsupported(Family::Load, "Windows")
    });
    sim.run_for(SignedDuration::from_mins(10));
    assert_eq!(sim.count(metric::LOAD_1, ""), 0);
    assert_eq!(sim.count(metric::MEMORY_USED_PERCENT, ""), 61);
    assert_eq!(
        sim.events("collect"),
        vec![
            "load average is not available on Windows; keepwatch carries on without it".to_owned()
        ]
    );
}

#[test]
fn a_new_config_changes_intervals_at_once() {
    let mut sim = sim(Scenario::Idle, Config::default(), |h| h);
    sim.run_for(SignedDuration::from_mins(10));
    let before = sim.count(metric::CPU_USAGE_PERCENT, "");
    let mut config = Config::default();
    config.collect.cpu = Duration::from_secs(5);
    config.collect.disk = Duration::default();
    let disks_before = sim.count(metric::DISK_USED_PERCENT, "/");
    sim.agent.apply(config);
    sim.run_for(SignedDuration::from_mins(10));
    assert_eq!(sim.count(metric::CPU_USAGE_PERCENT, "") - before, 120);
    assert_eq!(
        sim.count(metric::DISK_USED_PERCENT, "/"),
        disks_before,
        "disk was switched off"
    );
    assert_eq!(
        sim.events("config"),
        vec!["configuration reloaded".to_owned()]
    );
}

#[test]
fn status_tells_running_silent_and_stopped_apart() {
    let mut sim = sim(Scenario::Idle, Config::default(), |h| h);
    let db = std::path::Path::new("keepwatch.db");
    sim.run_for(SignedDuration::from_mins(1));
    let now = sim.clock.now();
    let liveness = |sim: &Sim, at| {
        status::summarize(sim.agent.store(), db, at)
            .unwrap()
            .liveness
    };
    assert!(matches!(liveness(&sim, now), Liveness::Running { .. }));
    // No write for three minutes although one was promised within two
    // (`storage.write_every`): killed or frozen.
    assert!(matches!(
        liveness(&sim, now + SignedDuration::from_mins(3)),
        Liveness::Silent { .. }
    ));
    sim.agent.shutdown();
    assert_eq!(liveness(&sim, now), Liveness::Stopped { at: now });
    let events = status::summarize(sim.agent.store(), db, now)
        .unwrap()
        .events;
    assert_eq!(
        events.first().map(|e| e.1.as_str()),
        Some("keepwatch started, watching sim")
    );
    assert_eq!(
        events.last().map(|e| e.1.as_str()),
        Some("keepwatch stopped")
    );
}

#[test]
fn storage_maintenance_runs_every_ten_minutes_and_keeps_the_latest_state() {
    let mut sim = sim(Scenario::Idle, Config::default(), |h| h);
    sim.run_for(SignedDuration::from_hours(3));
    let latest = sim.agent.store().latest().unwrap();
    assert!(
        latest
            .iter()
            .any(|s| s.key.metric == metric::CPU_USAGE_PERCENT)
    );
    // All three hours can still be read back after maintenance sealed them.
    assert_eq!(sim.count(metric::CPU_USAGE_PERCENT, ""), 3 * 360 + 1);
}

/// An idle host watching one TCP service, "Shop", every 30 seconds.
fn shop() -> Sim {
    let mut config = Config::default();
    config.services = crate::config::parse(
        std::path::Path::new("k.toml"),
        "[[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\ninterval = \"30s\"\n",
    )
    .unwrap()
    .services;
    sim(Scenario::Idle, config, |h| h)
}

#[test]
fn measurements_wait_for_write_every_but_a_change_of_state_is_written_at_once() {
    let mut sim = shop();
    let db = std::path::Path::new("keepwatch.db");
    let up = crate::checks::CheckOutcome::up("Shop answered");
    sim.run_checks([up]);
    assert_eq!(sim.agent.store().service_statuses().unwrap().len(), 1);
    // The first minute after a start, measurements are written as they
    // come (`status` right after `run` shows every figure).
    sim.run_for(SignedDuration::from_secs(50));
    assert_eq!(sim.count_written(metric::CPU_USAGE_PERCENT, ""), 6);
    let written_at = sim.clock.now();

    // Then they wait: 110 s on, eleven more were taken and none written,
    // and status still counts keepwatch as running (it promised two
    // minutes, `storage.write_every`).
    sim.run_for(SignedDuration::from_secs(110));
    assert_eq!(sim.count_written(metric::CPU_USAGE_PERCENT, ""), 6);
    let summary = status::summarize(sim.agent.store(), db, sim.clock.now()).unwrap();
    assert_eq!(
        summary.liveness,
        Liveness::Running {
            last_seen: written_at
        }
    );

    // Two minutes after the last write, all of them go in one.
    sim.run_for(SignedDuration::from_secs(10));
    assert_eq!(sim.count_written(metric::CPU_USAGE_PERCENT, ""), 18);

    // A steady result waits; a service going down is written at once.
    let refused = crate::checks::CheckOutcome::failed(
        crate::vocabulary::FailureKind::ConnectionRefused,
        "Shop refused the connection",
    );
    sim.run_checks([refused.clone(), refused]);
    let statuses = sim.agent.store().service_statuses().unwrap();
    assert_eq!(statuses[0].state, crate::vocabulary::State::Down);
    assert_eq!(statuses[0].checked_at, sim.clock.now());
}

#[test]
fn a_confirmed_outage_opens_an_incident_and_recovery_closes_it() {
    let mut sim = shop();
    let refused = || {
        crate::checks::CheckOutcome::failed(
            crate::vocabulary::FailureKind::ConnectionRefused,
            "Shop refused the connection",
        )
    };
    let up = || {
        crate::checks::CheckOutcome::up("Shop answered")
            .with_response_time(std::time::Duration::from_millis(40))
    };
    sim.run_checks([up(), up()]);
    sim.run_checks([refused(), refused()]);
    sim.agent.write_waiting();
    let store = sim.agent.store();
    let open = store
        .incidents(start(), sim.clock.now() + SignedDuration::from_secs(1))
        .unwrap();
    assert_eq!(
        open.len(),
        1,
        "one outage, confirmed by the immediate retry"
    );
    assert_eq!(open[0].ended, None);
    assert_eq!(open[0].cause, "Shop refused the connection");
    let status = &store.service_statuses().unwrap()[0];
    assert_eq!(status.state, crate::vocabulary::State::Down);
    assert_eq!(
        status.kind,
        Some(crate::vocabulary::FailureKind::ConnectionRefused)
    );

    sim.run_checks([up()]);
    sim.agent.write_waiting();
    let store = sim.agent.store();
    let closed = store
        .incidents(start(), sim.clock.now() + SignedDuration::from_secs(1))
        .unwrap();
    assert!(closed[0].ended.is_some());
    assert_eq!(
        store.service_statuses().unwrap()[0].state,
        crate::vocabulary::State::Up
    );
    // Five runs; the immediate retry ran at the same simulated instant as the
    // failure it confirmed, and one value per instant is kept.
    assert_eq!(
        sim.count(crate::vocabulary::service_metric::STATE, "Shop"),
        4
    );
    assert_eq!(
        sim.count(crate::vocabulary::service_metric::RESPONSE_MS, "Shop"),
        3
    );
    let messages = sim.events("service");
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m == "Shop is down: Shop refused the connection"),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m == "Shop is up again: Shop answered"),
        "{messages:?}"
    );
}

#[test]
fn a_slow_answer_says_how_long_the_service_usually_takes() {
    let mut config = Config::default();
    // Written each minute, so the answers before the slow one are in the
    // store by then (the usual time is read from the stored history).
    let parsed = crate::config::parse(
        std::path::Path::new("k.toml"),
        "[storage]\nwrite_every = \"1m\"\n\
         [[service]]\nname = \"Payments\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n",
    )
    .unwrap();
    config.services = parsed.services;
    config.storage = parsed.storage;
    let mut sim = sim(Scenario::Idle, config, |h| h);
    let answered = |ms: u64| {
        crate::checks::CheckOutcome::up("Payments answered")
            .with_response_time(std::time::Duration::from_millis(ms))
    };
    let slow = crate::checks::CheckOutcome::failed(
        crate::vocabulary::FailureKind::Slow,
        "Payments answered in 8.2 s, over its 2 s budget.",
    )
    .with_response_time(std::time::Duration::from_millis(8200));
    sim.run_checks([
        answered(400),
        answered(380),
        answered(420),
        answered(410),
        answered(390),
        slow,
    ]);
    let status = &sim.stored().service_statuses().unwrap()[0];
    assert_eq!(
        status.explanation,
        "Payments answered in 8.2 s, over its 2 s budget. It usually answers in 400 ms."
    );
}

#[test]
fn a_rule_opens_an_alert_after_its_hold_time_and_classifies_it() {
    let mut config = crate::config::parse(
        std::path::Path::new("k.toml"),
        "[business]\ntimezone = \"UTC\"\n\
         [[rule]]\nname = \"CPU busy\"\nmetric = \"cpu.usage_percent\"\nabove = { warning = 80, critical = 99 }\nfor = \"1m\"\n",
    )
    .unwrap();
    config.throttle.enabled = false;
    // Monday 08:00 UTC: before opening, so a warning can wait for the morning.
    let mut sim = sim(Scenario::Busy, config, |h| h);
    sim.run_for(SignedDuration::from_secs(50));
    assert!(sim.events("alert").is_empty(), "still within the hold time");
    sim.run_for(SignedDuration::from_mins(2));
    let alerts = sim.events("alert");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].starts_with("Alert \"CPU busy\" opened: cpu.usage_percent on sim is 9"),
        "{alerts:?}"
    );
    assert!(alerts[0].ends_with("(warning)"), "{alerts:?}");
    // A warning before opening waits for the summary at 09:00.
    let open = sim.agent.store().open_alerts().unwrap();
    assert_eq!(open.len(), 1);
    assert!(!open[0].emergency);
    assert!(
        open[0]
            .title
            .starts_with("CPU busy: cpu.usage_percent on sim is 9")
    );
    let opening: Timestamp = "2026-11-23T09:00:00Z".parse().unwrap();
    assert_eq!(open[0].policy_from, Some(opening));
    assert!(
        sim.agent.store().recent_messages(10).unwrap().is_empty(),
        "nothing sent at night"
    );
}

/// `n` TCP services checked every 30 s.
fn services(n: usize) -> Config {
    let text: String = (0..n)
        .map(|i| format!("[[service]]\nname = \"s{i}\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\n"))
        .collect();
    let mut config = Config::default();
    config.services = crate::config::parse(std::path::Path::new("k.toml"), &text)
        .unwrap()
        .services;
    config
}

#[test]
fn every_service_is_checked_at_start_then_each_at_its_own_slot() {
    let mut sim = sim(Scenario::Idle, services(300), |h| h);
    let first = sim.agent.tick().checks;
    assert_eq!(
        first.len(),
        300,
        "every service is checked at once at start"
    );
    sim.clock.set(start() + SignedDuration::from_millis(800));
    for spec in &first {
        sim.agent
            .check_finished(&spec.common.name, crate::checks::CheckOutcome::up("ok"));
    }
    sim.agent.save_check_results();
    // Two more intervals from the end of the first round, as `run` would:
    // the checks come spread out.
    let mut per_second = std::collections::BTreeMap::<i64, usize>::new();
    let end = start() + SignedDuration::from_millis(800 + 75_000);
    loop {
        let tick = sim.agent.tick();
        let second = sim.clock.now().duration_since(start()).as_secs();
        *per_second.entry(second).or_default() += tick.checks.len();
        for spec in &tick.checks {
            sim.agent
                .check_finished(&spec.common.name, crate::checks::CheckOutcome::up("ok"));
        }
        if tick.wake >= end {
            break;
        }
        sim.clock.set(tick.wake.max(sim.clock.now()));
    }
    let checked: usize = per_second.values().sum();
    assert_eq!(
        checked, 600,
        "two checks each after the first round: {per_second:?}"
    );
    let soonest = per_second.iter().find(|(_, n)| **n > 0).map(|(s, _)| *s);
    assert!(
        soonest >= Some(15),
        "half an interval at least: {soonest:?}"
    );
    let busiest = per_second.values().max().copied().unwrap_or(0);
    assert!(
        busiest <= 30,
        "{busiest} in one second; 10 a second on average"
    );
}

#[test]
fn the_first_round_is_told_in_one_line_naming_what_is_not_up() {
    assert_eq!(
        first_round_told(&[("Shop", State::Up), ("Pay", State::Up)]),
        "checked 2 services: 2 up, 0 degraded, 0 down"
    );
    assert_eq!(
        first_round_told(&[
            ("Shop", State::Down),
            ("Pay", State::Degraded),
            ("Mail", State::Down),
            ("Web", State::Up)
        ]),
        "checked 4 services: 1 up, 1 degraded (Pay), 2 down (Shop, Mail)"
    );
}

#[test]
fn own_cpu_is_judged_only_after_the_first_round_of_checks() {
    let mut sim = sim(Scenario::Idle, services(2), |mut h| {
        h.set_own_cpu_percent(Some(3.0));
        h
    });
    let first = sim.agent.tick().checks;
    // The first round is still out (slow services): the start-up burst is
    // not counted against keepwatch's 2% limit.
    sim.run_for(SignedDuration::from_mins(1));
    assert_eq!(sim.agent.stretch(), 1);
    assert!(sim.events("throttle").is_empty());
    for spec in &first {
        sim.agent
            .check_finished(&spec.common.name, crate::checks::CheckOutcome::up("ok"));
    }
    sim.run_for(SignedDuration::from_secs(30));
    assert_eq!(sim.agent.stretch(), 2, "from then on it is");
    let told = sim.events("throttle");
    assert!(told[0].contains("keepwatch itself used 3"), "{told:?}");
}

#[test]
fn a_check_that_could_not_be_run_leaves_the_service_up_and_warns_once() {
    let mut sim = shop();
    let up = || crate::checks::CheckOutcome::up("Shop answered");
    let no_files = || crate::checks::local::not_run("Shop", "Too many open files");
    sim.run_checks([up()]);
    sim.run_checks(std::iter::repeat_with(no_files).take(10));
    let store = sim.agent.store();
    let status = &store.service_statuses().unwrap()[0];
    assert_eq!(status.state, crate::vocabulary::State::Up);
    assert!(
        store
            .incidents(start(), sim.clock.now() + SignedDuration::from_secs(1))
            .unwrap()
            .is_empty()
    );
    assert!(store.open_alerts().unwrap().is_empty());
    assert_eq!(
        sim.count(crate::vocabulary::service_metric::STATE, "Shop"),
        1
    );
    let warnings = sim.events("keepwatch");
    assert_eq!(warnings.len(), 1, "rate-limited: {warnings:?}");
    assert!(warnings[0].contains("Too many open files"), "{warnings:?}");
    assert!(sim.events("service").is_empty());
}

#[test]
fn an_alert_decided_while_the_store_refuses_writes_is_recorded_and_sent_once_it_takes_them() {
    let up = || crate::checks::CheckOutcome::up("Shop answered");
    let refused = || {
        crate::checks::CheckOutcome::failed(
            crate::vocabulary::FailureKind::ConnectionRefused,
            "Shop refused the connection",
        )
    };
    // The same morning twice: once with the store taking every write, once
    // refusing them (as on a full disk) while the service goes down.
    let mut messages = Vec::new();
    for trouble in [false, true] {
        let mut sim = shop();
        sim.run_checks([up()]);
        sim.agent.store().refuse_writes(trouble);
        sim.run_checks([refused(), refused(), refused()]);
        if trouble {
            assert!(sim.agent.store().open_alerts().unwrap().is_empty());
            assert!(
                !sim.agent.pipeline.unrecorded.is_empty(),
                "the decision waits"
            );
            sim.agent.store().refuse_writes(false);
        }
        sim.run_for(SignedDuration::from_hours(2));
        let store = sim.agent.store();
        let alerts = store.open_alerts().unwrap();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].title, "Shop is down");
        assert!(sim.agent.pipeline.unrecorded.is_empty());
        // The trouble itself is told too (its own alert); the news of
        // Shop is the same.
        let about_shop = subjects(&store.undelivered().unwrap())
            .into_iter()
            .filter(|text| text.contains("Shop"))
            .count();
        messages.push(about_shop);
    }
    assert!(messages[0] > 0);
    assert_eq!(
        messages[0], messages[1],
        "the same messages about Shop, none twice, none lost"
    );
}

/// The subjects of `entries`' messages.
fn subjects(entries: &[crate::store::OutboxEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            serde_json::from_str::<crate::message::Message>(&e.message)
                .unwrap()
                .text
        })
        .collect()
}

#[test]
fn while_the_disk_is_full_alerts_go_out_from_memory_and_are_written_back_once() {
    use crate::notify::Attempt;
    let up = || crate::checks::CheckOutcome::up("Shop answered");
    let refused = || {
        crate::checks::CheckOutcome::failed(
            crate::vocabulary::FailureKind::ConnectionRefused,
            "Shop refused the connection",
        )
    };
    let mut sim = shop();
    let held = sim.agent.held();
    let path = sim.agent.store().path().to_path_buf();
    let file = || Store::open(&path, &StorageConfig::default()).unwrap();
    sim.run_checks([up()]);
    let before = file().recent_messages(100).unwrap().len();
    sim.agent.store().fill_disk(true);
    sim.run_checks([refused(), refused(), refused()]);
    // Shop is not critical: it is told at the opening, 09:00.
    sim.run_for(SignedDuration::from_mins(65));

    // What the sender does: everything composed is held, and due now.
    let due = held.take_due(sim.clock.now());
    let told = subjects(&due).join("\n---\n");
    assert!(told.contains("Shop is down"), "{told}");
    assert!(
        told.contains("the disk holding keepwatch's data is full"),
        "{told}"
    );
    assert!(
        told.contains("Alerts still go out, history is kept in memory"),
        "{told}"
    );
    for entry in &due {
        held.record(entry.id, Some(Attempt::Delivered(sim.clock.now())));
    }
    assert!(held.take_due(sim.clock.now()).is_empty(), "nothing twice");
    assert_eq!(
        file().recent_messages(100).unwrap().len(),
        before,
        "the file took none of the messages"
    );
    assert!(
        sim.agent.pipeline.unrecorded.is_empty(),
        "nothing waits: it is in memory"
    );

    sim.agent.store().fill_disk(false);
    sim.run_for(SignedDuration::from_mins(10));
    assert!(!sim.agent.store().alerting_in_memory());
    let file = file();
    let open: Vec<String> = file
        .open_alerts()
        .unwrap()
        .into_iter()
        .map(|a| a.title)
        .collect();
    assert_eq!(open, ["Shop is down"], "the disk alert ended");
    let messages = file.recent_messages(100).unwrap();
    let new = &messages[..messages.len() - before];
    let delivered: Vec<i64> = new
        .iter()
        .filter(|m| m.delivered_at.is_some())
        .map(|m| m.id)
        .collect();
    let mut sent: Vec<i64> = due.iter().map(|e| e.id).collect();
    sent.sort_unstable();
    let mut delivered_sorted = delivered.clone();
    delivered_sorted.sort_unstable();
    assert_eq!(
        delivered_sorted, sent,
        "what was sent from memory is recorded as delivered"
    );
    let waiting: Vec<_> = new
        .iter()
        .filter(|m| m.delivered_at.is_none())
        .cloned()
        .collect();
    let waiting_text = subjects(&waiting).join("\n---\n");
    assert_eq!(
        waiting.len(),
        1,
        "only the recovery is left to send: {waiting_text}"
    );
    assert!(
        !waiting_text.contains("Shop is down"),
        "not told twice: {waiting_text}"
    );
    // Every measurement taken meanwhile reached the file: CPU every 10 s.
    let every_10s = sim.clock.now().duration_since(start()).as_secs() / 10 + 1;
    assert_eq!(sim.count(metric::CPU_USAGE_PERCENT, "") as i64, every_10s);
}

#[test]
fn a_check_that_never_reports_back_is_reported_and_started_again() {
    let mut sim = shop();
    let next_checks = |sim: &mut Sim| loop {
        let tick = sim.agent.tick();
        if !tick.checks.is_empty() {
            return tick.checks;
        }
        sim.clock.set(tick.wake);
    };
    let first = next_checks(&mut sim);
    assert_eq!(first[0].common.name, "Shop");
    let started = sim.clock.now();
    // Its result never comes (the task running it died).
    let again = next_checks(&mut sim);
    let waited = sim.clock.now().duration_since(started);
    assert!(
        waited >= SignedDuration::from_mins(5),
        "not given up before its deadline: {waited:?}"
    );
    assert!(waited < SignedDuration::from_mins(6), "{waited:?}");
    assert_eq!(again[0].common.name, "Shop");
    let told = sim.events("keepwatch");
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0]
            .starts_with("The check of Shop started 5 minutes 10 seconds ago never reported back"),
        "{told:?}"
    );
    sim.agent
        .check_finished("Shop", crate::checks::CheckOutcome::up("Shop answered"));
    sim.agent.save_check_results();
    let status = sim.agent.store().service_statuses().unwrap();
    assert_eq!(status[0].state, crate::vocabulary::State::Up);
}

#[test]
fn a_heartbeat_is_judged_from_pings_of_another_connection_and_is_down_at_its_deadline() {
    use crate::checks::heartbeat::Signal;
    use crate::checks::pings;
    use crate::vocabulary::{FailureKind, State};

    let mut config = Config::default();
    config.services = crate::config::parse(
        std::path::Path::new("k.toml"),
        "[[service]]\nname = \"Backup\"\ntype = \"heartbeat\"\nevery = \"1h\"\ngrace = \"10m\"\n",
    )
    .unwrap()
    .services;
    let mut sim = sim(Scenario::Idle, config.clone(), |h| h);
    assert!(
        sim.agent.tick().checks.is_empty(),
        "a heartbeat is never run"
    );
    // `keepwatch ping`, another process: its own connection to the file.
    let path = sim.agent.store().path().to_path_buf();
    let mut script = Store::open(&path, &config.storage).unwrap();
    let status = |sim: &mut Sim| sim.stored().service_statuses().unwrap()[0].clone();

    sim.run_for(SignedDuration::from_mins(30));
    let reported = sim.clock.now();
    pings::record(
        &mut script,
        "Backup",
        Signal::Success,
        reported,
        None,
        "test",
    )
    .unwrap();
    sim.run_for(SignedDuration::from_secs(10));
    assert_eq!(status(&mut sim).state, State::Up);
    assert!(
        status(&mut sim)
            .explanation
            .starts_with("Backup reported at"),
        "{}",
        status(&mut sim).explanation
    );

    sim.run_for(SignedDuration::from_hours(2));
    let late = status(&mut sim);
    assert_eq!(
        (late.state, late.kind),
        (State::Down, Some(FailureKind::Missed))
    );
    assert_eq!(
        late.since,
        reported + SignedDuration::from_mins(70),
        "judged at its deadline, not at some later tick"
    );
    let alerts = sim.agent.store().open_alerts().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");

    pings::record(
        &mut script,
        "Backup",
        Signal::Success,
        sim.clock.now(),
        None,
        "test",
    )
    .unwrap();
    sim.run_for(SignedDuration::from_secs(10));
    assert_eq!(status(&mut sim).state, State::Up);
    assert!(sim.agent.store().open_alerts().unwrap().is_empty());

    // A changed heartbeat is read again from the store, pings and all.
    let reconfigured = {
        let mut changed = config.clone();
        if let crate::checks::CheckSpec::Heartbeat(h) = &mut changed.services[0].check {
            h.grace = Duration::from_mins(20);
        }
        changed
    };
    sim.agent.apply(reconfigured);
    sim.run_for(SignedDuration::from_secs(10));
    assert_eq!(status(&mut sim).state, State::Up, "{:?}", status(&mut sim));
}
