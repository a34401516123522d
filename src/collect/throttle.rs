//! When keepwatch slows itself down, and when it goes back to normal.
//!
//! Pure logic with no I/O: the agent feeds each observation of the host's load
//! (with the time, from its clock) to [`Throttle::observe`], and stretches its
//! collection intervals by [`Throttle::stretch`].
//!
//! # The rule
//!
//! An observation is **busy** when CPU use is above `busy_cpu_percent`, or the
//! 1-minute load per core above `busy_load_per_core`, or keepwatch's own CPU use
//! above `max_own_cpu_percent`. It is **calm** when every known value is well
//! below its limit:
//!
//! - CPU use below `calm_cpu_percent`;
//! - load per core below `busy_load_per_core` scaled by the same margin the
//!   CPU thresholds leave (`calm_cpu_percent / busy_cpu_percent`; 2.0 × 60/85 ≈
//!   1.4 with the defaults);
//! - own CPU below half its limit, because going back one step doubles
//!   keepwatch's own work: at 1.5% of a 2% limit, returning to half the
//!   interval would put it at 3% and straight back over.
//!
//! Anything in between holds the current stretch; that gap is the hysteresis
//! that keeps a host hovering near a threshold from flapping.
//!
//! The stretch goes 1 → 2 → 4 → 8 (up to `max_stretch`) and back:
//!
//! - The **first** busy observation doubles it at once: a busy host gets relief
//!   immediately.
//! - Each **further** doubling needs the host to have stayed busy, observation
//!   after observation, for [`STEP_UP_HOLD`] since the busy spell began and
//!   since the last step. So a spike shorter than the hold does at most one
//!   step (1 → 2), never a climb to the maximum.
//! - Each **halving** needs the host to have stayed calm for [`CALM_HOLD`]
//!   since the calm spell began and since the last step. It is longer than the
//!   step-up hold on purpose (back off fast, return slowly): a host with a spike
//!   every few minutes stays at 2× instead of switching back and forth, each
//!   switch a line in the log.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

use super::Reading;
use crate::vocabulary::metric;
use serde::{Deserialize, Serialize};

/// Self-throttling: on a busy host keepwatch stretches its intervals and skips
/// work that can wait, so monitoring never makes a busy server busier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Switch self-throttling on or off.
    pub enabled: bool,
    /// The host counts as busy above this total CPU use (percent).
    pub busy_cpu_percent: f64,
    /// ...or above this 1-minute load average per CPU core.
    pub busy_load_per_core: f64,
    /// It counts as calm again below this CPU use (percent).
    pub calm_cpu_percent: f64,
    /// keepwatch also slows down if it uses more than this share of one core (percent).
    pub max_own_cpu_percent: f64,
    /// Intervals are stretched at most this many times.
    pub max_stretch: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            busy_cpu_percent: 85.0,
            busy_load_per_core: 2.0,
            calm_cpu_percent: 60.0,
            max_own_cpu_percent: 2.0,
            max_stretch: 8,
        }
    }
}

/// How long the host must stay busy before the stretch doubles again after
/// the first step.
pub const STEP_UP_HOLD: SignedDuration = SignedDuration::from_secs(60);

/// How long the host must stay calm before the stretch halves.
pub const CALM_HOLD: SignedDuration = SignedDuration::from_secs(5 * 60);

/// What the throttle decides on: the latest known load of the host and of
/// keepwatch itself. `None` means "not known" (not collected yet, switched
/// off, or not offered by the OS) and is neither busy nor an obstacle to calm.
///
/// CPU and load are collected on their own intervals; the agent keeps the
/// latest value of each and observes once per CPU (or load) collection, so
/// the hold times are measured in real time whatever the intervals are.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HostLoad {
    /// Total CPU use of the host, 0–100.
    pub cpu_percent: Option<f64>,
    /// 1-minute load average divided by the number of cores.
    pub load_per_core: Option<f64>,
    /// keepwatch's own CPU use, in percent of one core.
    pub own_cpu_percent: Option<f64>,
}

impl HostLoad {
    /// Picks `cpu.usage_percent` and `load.1` out of freshly collected readings
    /// (either may be missing) and divides the load by `cpu_count`.
    pub fn from_readings(
        readings: &[Reading],
        cpu_count: usize,
        own_cpu_percent: Option<f64>,
    ) -> Self {
        let find = |name: &str| {
            readings
                .iter()
                .find(|r| r.metric == name && r.instance.is_empty())
                .map(|r| r.value)
        };
        Self {
            cpu_percent: find(metric::CPU_USAGE_PERCENT),
            load_per_core: find(metric::LOAD_1).map(|l| l / cpu_count.max(1) as f64),
            own_cpu_percent,
        }
    }
}

/// Why the stretch changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModeChangeReason {
    /// The host, or keepwatch itself, was busy.
    Busy {
        /// The host's CPU use or load was over its limit.
        host: bool,
        /// keepwatch's own CPU use was over its limit.
        own: bool,
        /// The configured limit for keepwatch's own CPU use, for the message.
        own_limit_percent: f64,
    },
    /// The host stayed calm long enough.
    Calmer,
    /// The throttle settings were reloaded with a different `max_stretch`.
    SettingsChanged,
    /// Throttling was switched off in the settings.
    Disabled,
}

/// A change of the collection stretch, for the log. Its `Display` is the
/// plain-language line the agent writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModeChange {
    /// Stretch before the change (1 = configured intervals).
    pub from: u32,
    /// Stretch after the change.
    pub to: u32,
    /// Why it changed.
    pub reason: ModeChangeReason,
    /// The observation that caused it (all `None` for settings changes).
    pub load: HostLoad,
}

impl ModeChange {
    /// "(CPU 93%, load 3.1 per core)", or nothing when neither is known.
    fn host_figures(&self) -> String {
        let mut parts = Vec::with_capacity(2);
        if let Some(cpu) = self.load.cpu_percent {
            parts.push(format!("CPU {cpu:.0}%"));
        }
        if let Some(load) = self.load.load_per_core {
            parts.push(format!("load {load:.1} per core"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }

    fn consequence(&self) -> String {
        if self.to <= 1 {
            "back to normal intervals".to_owned()
        } else {
            format!(
                "collecting every {}× the configured interval and skipping optional work",
                self.to
            )
        }
    }
}

impl fmt::Display for ModeChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            ModeChangeReason::Busy {
                host,
                own,
                own_limit_percent,
            } => {
                let own_text = || {
                    format!(
                        "keepwatch itself used {:.1}% of one core (limit {own_limit_percent}%)",
                        self.load.own_cpu_percent.unwrap_or(0.0)
                    )
                };
                let still = if self.from > 1 { "still " } else { "" };
                match (host, own) {
                    (true, true) => write!(
                        f,
                        "host {still}busy{} and {}",
                        self.host_figures(),
                        own_text()
                    )?,
                    (true, false) => write!(f, "host {still}busy{}", self.host_figures())?,
                    (false, _) => f.write_str(&own_text())?,
                }
                write!(f, ": {}", self.consequence())
            }
            ModeChangeReason::Calmer if self.to <= 1 => {
                write!(
                    f,
                    "host calm again{}: {}",
                    self.host_figures(),
                    self.consequence()
                )
            }
            ModeChangeReason::Calmer => write!(
                f,
                "host calmer{}: collecting every {}× the configured interval, still skipping optional work",
                self.host_figures(),
                self.to
            ),
            ModeChangeReason::SettingsChanged => {
                write!(f, "throttle settings changed: {}", self.consequence())
            }
            ModeChangeReason::Disabled => {
                write!(f, "self-throttling switched off: {}", self.consequence())
            }
        }
    }
}

/// How one observation is judged; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Busy { host: bool, own: bool },
    Calm,
    Between,
    Unknown,
}

/// Decides how far to stretch collection intervals on a busy host.
#[derive(Debug, Clone)]
pub struct Throttle {
    config: ThrottleConfig,
    /// Steps taken: the stretch is 2^level, capped at `max_stretch`.
    level: u32,
    last_step: Option<Timestamp>,
    busy_since: Option<Timestamp>,
    calm_since: Option<Timestamp>,
}

impl Throttle {
    /// A throttle at normal intervals.
    pub fn new(config: &ThrottleConfig) -> Self {
        Self {
            config: config.clone(),
            level: 0,
            last_step: None,
            busy_since: None,
            calm_since: None,
        }
    }

    /// Applies reloaded settings. Returns the change when they alter the
    /// current stretch (throttling switched off, a lower `max_stretch`).
    pub fn update_config(&mut self, config: &ThrottleConfig) -> Option<ModeChange> {
        let before = self.stretch();
        self.config = config.clone();
        let reason = if config.enabled {
            self.level = self.level.min(self.max_level());
            ModeChangeReason::SettingsChanged
        } else {
            self.level = 0;
            self.busy_since = None;
            self.calm_since = None;
            ModeChangeReason::Disabled
        };
        let after = self.stretch();
        (before != after).then_some(ModeChange {
            from: before,
            to: after,
            reason,
            load: HostLoad::default(),
        })
    }

    /// How many times the configured intervals are stretched: 1 is normal.
    pub fn stretch(&self) -> u32 {
        let cap = u64::from(self.config.max_stretch.max(1));
        let raw = 1u64.checked_shl(self.level).unwrap_or(u64::MAX);
        u32::try_from(raw.min(cap)).unwrap_or(u32::MAX)
    }

    /// `true` while stretched: per-core detail and storage maintenance wait
    /// until the host is calm again.
    pub fn skips_optional_work(&self) -> bool {
        self.stretch() > 1
    }

    /// `interval` stretched by the current factor.
    pub fn stretched(&self, interval: std::time::Duration) -> std::time::Duration {
        interval.saturating_mul(self.stretch())
    }

    /// Takes one observation made at `now`; returns the change when the
    /// stretch moves, for the agent to log.
    pub fn observe(&mut self, load: HostLoad, now: Timestamp) -> Option<ModeChange> {
        if !self.config.enabled {
            return None;
        }
        if self.last_step.is_some_and(|step| step > now) {
            // The clock went back; a step "in the future" must not block the
            // next one until the clock catches up.
            self.last_step = Some(now);
        }
        let from = self.stretch();
        let reason = match self.judge(&load) {
            Verdict::Busy { host, own } => {
                self.calm_since = None;
                let since = restart_if_in_future(&mut self.busy_since, now);
                let may_step = self.level == 0 || held(since, self.last_step, now, STEP_UP_HOLD);
                if !may_step || self.level >= self.max_level() {
                    return None;
                }
                self.level += 1;
                ModeChangeReason::Busy {
                    host,
                    own,
                    own_limit_percent: self.config.max_own_cpu_percent,
                }
            }
            Verdict::Calm => {
                self.busy_since = None;
                let since = restart_if_in_future(&mut self.calm_since, now);
                if self.level == 0 || !held(since, self.last_step, now, CALM_HOLD) {
                    return None;
                }
                self.level -= 1;
                ModeChangeReason::Calmer
            }
            Verdict::Between => {
                self.busy_since = None;
                self.calm_since = None;
                return None;
            }
            // No evidence either way: keep the state and any running spell.
            Verdict::Unknown => return None,
        };
        self.last_step = Some(now);
        Some(ModeChange {
            from,
            to: self.stretch(),
            reason,
            load,
        })
    }

    fn judge(&self, load: &HostLoad) -> Verdict {
        let c = &self.config;
        let above = |value: Option<f64>, limit: f64| value.is_some_and(|v| v > limit);
        let below = |value: Option<f64>, limit: f64| value.is_none_or(|v| v < limit);

        let host = above(load.cpu_percent, c.busy_cpu_percent)
            || above(load.load_per_core, c.busy_load_per_core);
        let own = above(load.own_cpu_percent, c.max_own_cpu_percent);
        if host || own {
            return Verdict::Busy { host, own };
        }
        if load.cpu_percent.is_none()
            && load.load_per_core.is_none()
            && load.own_cpu_percent.is_none()
        {
            return Verdict::Unknown;
        }
        let margin = if c.busy_cpu_percent > 0.0 {
            (c.calm_cpu_percent / c.busy_cpu_percent).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let calm = below(load.cpu_percent, c.calm_cpu_percent.min(c.busy_cpu_percent))
            && below(load.load_per_core, c.busy_load_per_core * margin)
            && below(load.own_cpu_percent, c.max_own_cpu_percent / 2.0);
        if calm {
            Verdict::Calm
        } else {
            Verdict::Between
        }
    }

    /// Steps needed to reach `max_stretch` by doubling.
    fn max_level(&self) -> u32 {
        let max = u64::from(self.config.max_stretch.max(1));
        let mut level = 0;
        while (1u64 << level) < max {
            level += 1;
        }
        level
    }
}

/// Starts a spell at `now` if none is running, or if the clock went back
/// before its start (an NTP correction must not make a spell look longer).
fn restart_if_in_future(spell: &mut Option<Timestamp>, now: Timestamp) -> Timestamp {
    match *spell {
        Some(since) if since <= now => since,
        _ => *spell.insert(now),
    }
}

/// Has the spell that began at `since` lasted `hold`, counted from the later of
/// its start and the last step?
fn held(
    since: Timestamp,
    last_step: Option<Timestamp>,
    now: Timestamp,
    hold: SignedDuration,
) -> bool {
    let from = last_step.map_or(since, |step| step.max(since));
    now.duration_since(from) >= hold
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, SimClock};
    use crate::collect::{Detail, Family, MetricsSource, Scenario, SimulatedHost};

    fn start() -> Timestamp {
        "2026-11-02T09:00:00Z".parse().unwrap()
    }

    fn at(secs: i64) -> Timestamp {
        start() + SignedDuration::from_secs(secs)
    }

    fn cpu(percent: f64) -> HostLoad {
        HostLoad {
            cpu_percent: Some(percent),
            ..HostLoad::default()
        }
    }

    // ---- Driving a simulated host through scenarios ----

    /// What keepwatch's own CPU use looks like in a run.
    #[derive(Debug, Clone, Copy)]
    enum Own {
        /// Whatever the simulated host reports (a frugal 0.05%).
        Frugal,
        /// A fixed share of one core, whatever the stretch.
        Fixed(f64),
        /// This share at normal intervals, shrinking as intervals stretch
        /// (keepwatch's work is proportional to how often it collects).
        Proportional(f64),
    }

    #[derive(Debug)]
    struct Run {
        /// (seconds since start, stretch after the observation)
        stretches: Vec<(i64, u32)>,
        /// (seconds since start, change)
        changes: Vec<(i64, ModeChange)>,
    }

    impl Run {
        /// The distinct stretches in order: [1, 2, 4, 8, 4, 2, 1].
        fn path(&self) -> Vec<u32> {
            let mut path = vec![1];
            for &(_, s) in &self.stretches {
                if path.last() != Some(&s) {
                    path.push(s);
                }
            }
            path
        }
    }

    /// Collects CPU and load every 10 s × stretch, as the agent does, and
    /// feeds the throttle.
    fn drive(scenario: Scenario, config: &ThrottleConfig, own: Own, minutes: i64) -> Run {
        let clock = SimClock::new(start());
        let mut host = SimulatedHost::new(scenario, Arc::new(clock.clone()));
        let mut throttle = Throttle::new(config);
        let mut run = Run {
            stretches: Vec::new(),
            changes: Vec::new(),
        };
        let end = at(minutes * 60);
        while clock.now() < end {
            match own {
                Own::Frugal => {}
                Own::Fixed(p) => host.set_own_cpu_percent(Some(p)),
                Own::Proportional(p) => {
                    host.set_own_cpu_percent(Some(p / f64::from(throttle.stretch())));
                }
            }
            let detail = if throttle.skips_optional_work() {
                Detail::Essential
            } else {
                Detail::Full
            };
            let mut readings = host.collect(Family::Cpu, detail).unwrap();
            readings.extend(host.collect(Family::Load, detail).unwrap());
            let load = HostLoad::from_readings(&readings, host.cpu_count(), host.own_cpu_percent());
            let secs = clock.now().duration_since(start()).as_secs();
            if let Some(change) = throttle.observe(load, clock.now()) {
                run.changes.push((secs, change));
            }
            run.stretches.push((secs, throttle.stretch()));
            clock.advance(SignedDuration::from_secs(
                10 * i64::from(throttle.stretch()),
            ));
        }
        run
    }

    struct Case {
        name: &'static str,
        scenario: Scenario,
        config: ThrottleConfig,
        own: Own,
        minutes: i64,
        path: &'static [u32],
        /// Start of the first change's message, if any.
        first_message: Option<&'static str>,
        /// Start of the last change's message, if any.
        last_message: Option<&'static str>,
    }

    fn cases() -> Vec<Case> {
        let default = ThrottleConfig::default();
        vec![
            Case {
                name: "idle host: never throttled",
                scenario: Scenario::Idle,
                config: default.clone(),
                own: Own::Frugal,
                minutes: 60,
                path: &[1],
                first_message: None,
                last_message: None,
            },
            Case {
                name: "busy host: doubles up to the maximum and stays",
                scenario: Scenario::Busy,
                config: default.clone(),
                own: Own::Frugal,
                minutes: 30,
                path: &[1, 2, 4, 8],
                first_message: Some("host busy (CPU 9"),
                last_message: Some("host still busy (CPU 9"),
            },
            Case {
                name: "busy host with a lower cap",
                scenario: Scenario::Busy,
                config: ThrottleConfig {
                    max_stretch: 4,
                    ..default.clone()
                },
                own: Own::Frugal,
                minutes: 30,
                path: &[1, 2, 4],
                first_message: Some("host busy"),
                last_message: Some("host still busy"),
            },
            Case {
                name: "spiky host: one step, no thrash",
                scenario: Scenario::Spiky,
                config: default.clone(),
                own: Own::Frugal,
                minutes: 60,
                path: &[1, 2],
                first_message: Some("host busy (CPU 9"),
                last_message: Some("host busy (CPU 9"),
            },
            Case {
                name: "batch job ends: recovers step by step",
                scenario: Scenario::Recovering {
                    busy_for: SignedDuration::from_mins(5),
                },
                config: default.clone(),
                own: Own::Frugal,
                minutes: 40,
                path: &[1, 2, 4, 8, 4, 2, 1],
                first_message: Some("host busy"),
                last_message: Some("host calm again (CPU "),
            },
            Case {
                name: "ramp: nothing until the busy line is crossed",
                scenario: Scenario::Ramp,
                config: default.clone(),
                own: Own::Frugal,
                minutes: 30,
                path: &[1, 2, 4, 8],
                first_message: Some("host busy (CPU "),
                last_message: Some("host still busy"),
            },
            Case {
                name: "own CPU over the limit settles at the step that fixes it",
                scenario: Scenario::Idle,
                config: default.clone(),
                own: Own::Proportional(3.0),
                minutes: 60,
                path: &[1, 2],
                first_message: Some("keepwatch itself used 3.0% of one core (limit 2%)"),
                last_message: Some("keepwatch itself used 3.0% of one core (limit 2%)"),
            },
            Case {
                name: "own CPU over the limit whatever the stretch",
                scenario: Scenario::Idle,
                config: default.clone(),
                own: Own::Fixed(5.0),
                minutes: 30,
                path: &[1, 2, 4, 8],
                first_message: Some("keepwatch itself used 5.0% of one core"),
                last_message: Some("keepwatch itself used 5.0% of one core"),
            },
            Case {
                name: "busy host and busy keepwatch",
                scenario: Scenario::Busy,
                config: default.clone(),
                own: Own::Fixed(5.0),
                minutes: 30,
                path: &[1, 2, 4, 8],
                first_message: Some("host busy (CPU 9"),
                last_message: Some("host still busy"),
            },
            Case {
                name: "disabled: never throttles, however busy",
                scenario: Scenario::Busy,
                config: ThrottleConfig {
                    enabled: false,
                    ..default.clone()
                },
                own: Own::Fixed(50.0),
                minutes: 30,
                path: &[1],
                first_message: None,
                last_message: None,
            },
        ]
    }

    #[test]
    fn scenarios_produce_the_expected_decisions() {
        for case in cases() {
            let run = drive(case.scenario, &case.config, case.own, case.minutes);
            let name = case.name;
            assert_eq!(run.path(), case.path, "{name}: stretch path");
            assert_eq!(
                run.changes.len(),
                case.path.len() - 1,
                "{name}: one change per step"
            );

            let first = run.changes.first().map(|(_, c)| c.to_string());
            let last = run.changes.last().map(|(_, c)| c.to_string());
            match (case.first_message, &first) {
                (Some(expected), Some(got)) => {
                    assert!(got.starts_with(expected), "{name}: first message {got:?}");
                }
                (None, None) => {}
                (expected, got) => panic!("{name}: first message {got:?}, expected {expected:?}"),
            }
            match (case.last_message, &last) {
                (Some(expected), Some(got)) => {
                    assert!(got.starts_with(expected), "{name}: last message {got:?}");
                }
                (None, None) => {}
                (expected, got) => panic!("{name}: last message {got:?}, expected {expected:?}"),
            }
            assert_rule_holds(name, &run);
        }
    }

    /// Properties every run must have, whatever the scenario.
    fn assert_rule_holds(name: &str, run: &Run) {
        let mut previous_step: Option<(i64, &ModeChange)> = None;
        for (secs, change) in &run.changes {
            let up = change.to > change.from;
            assert!(
                change.to == change.from * 2 || change.from == change.to * 2,
                "{name}: one step at a time: {change:?}"
            );
            if let Some((before, prev)) = previous_step {
                let gap = SignedDuration::from_secs(secs - before);
                if up && prev.to > prev.from {
                    assert!(gap >= STEP_UP_HOLD, "{name}: stepped up again after {gap}");
                }
                if !up {
                    assert!(gap >= CALM_HOLD, "{name}: stepped down after {gap}");
                }
            }
            let message = change.to_string();
            if change.to > 1 {
                assert!(
                    message.contains(&format!("every {}×", change.to)),
                    "{name}: {message}"
                );
                assert!(
                    message.contains("skipping optional work"),
                    "{name}: {message}"
                );
            } else {
                assert!(
                    message.ends_with("back to normal intervals"),
                    "{name}: {message}"
                );
            }
            previous_step = Some((*secs, change));
        }
    }

    #[test]
    fn busy_host_steps_at_once_then_once_per_hold() {
        let run = drive(Scenario::Busy, &ThrottleConfig::default(), Own::Frugal, 10);
        let times: Vec<i64> = run.changes.iter().map(|(s, _)| *s).collect();
        // 0 s: first busy observation; then every 10 s × 2 until 60 s have
        // passed; then every 10 s × 4 until another 60 s have.
        assert_eq!(times, [0, 60, 140]);
        let last = run.stretches.last().unwrap().1;
        assert_eq!(last, 8);
    }

    #[test]
    fn ramp_waits_for_the_busy_line() {
        let run = drive(Scenario::Ramp, &ThrottleConfig::default(), Own::Frugal, 30);
        let (first, change) = &run.changes[0];
        // The ramp nears 85% CPU (and 2 per core load) about 9 minutes in.
        assert!((480..=560).contains(first), "first step at {first} s");
        let config = ThrottleConfig::default();
        let cpu = change.load.cpu_percent.unwrap();
        let load = change.load.load_per_core.unwrap();
        assert!(
            cpu > config.busy_cpu_percent || load > config.busy_load_per_core,
            "{change}"
        );
        assert!(matches!(
            change.reason,
            ModeChangeReason::Busy {
                host: true,
                own: false,
                ..
            }
        ));
    }

    #[test]
    fn recovery_returns_to_normal_only_after_calm_holds() {
        let run = drive(
            Scenario::Recovering {
                busy_for: SignedDuration::from_mins(5),
            },
            &ThrottleConfig::default(),
            Own::Frugal,
            40,
        );
        let downs: Vec<i64> = run
            .changes
            .iter()
            .filter(|(_, c)| c.to < c.from)
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(downs.len(), 3);
        // The job ends at 300 s; the first halving needs 5 calm minutes.
        assert!(downs[0] >= 600, "{downs:?}");
        assert!(
            !run.stretches
                .iter()
                .any(|&(s, st)| s >= downs[2] && st != 1)
        );
    }

    // ---- Single observations, by hand ----

    #[test]
    fn a_single_spike_does_at_most_one_step() {
        let mut t = Throttle::new(&ThrottleConfig::default());
        assert!(t.observe(cpu(99.0), at(0)).is_some());
        assert_eq!(t.stretch(), 2);
        // A second spike 30 s later, shorter than the hold: no further step.
        assert_eq!(t.observe(cpu(20.0), at(20)), None);
        assert_eq!(t.observe(cpu(99.0), at(40)), None);
        assert_eq!(t.observe(cpu(99.0), at(60)), None);
        assert_eq!(t.stretch(), 2);
        // Busy for the whole hold: the next step.
        assert!(t.observe(cpu(99.0), at(100)).is_some());
        assert_eq!(t.stretch(), 4);
    }

    #[test]
    fn a_busy_moment_interrupts_the_calm_spell() {
        let mut t = Throttle::new(&ThrottleConfig::default());
        t.observe(cpu(99.0), at(0));
        t.observe(cpu(10.0), at(10));
        t.observe(cpu(99.0), at(200));
        assert_eq!(t.observe(cpu(10.0), at(320)), None, "calm only since 320 s");
        assert_eq!(t.observe(cpu(10.0), at(500)), None);
        let change = t.observe(cpu(10.0), at(620)).expect("calm for 5 minutes");
        assert_eq!((change.from, change.to), (2, 1));
    }

    #[test]
    fn between_the_thresholds_nothing_changes() {
        let mut t = Throttle::new(&ThrottleConfig::default());
        for i in 0..100 {
            assert_eq!(
                t.observe(cpu(70.0 + f64::from(i % 15)), at(i64::from(i) * 10)),
                None
            );
        }
        assert_eq!(t.stretch(), 1);

        t.observe(cpu(90.0), at(1_000));
        assert_eq!(t.stretch(), 2);
        // Hovering between calm (60) and busy (85) for an hour: held at 2.
        for i in 1..360 {
            assert_eq!(t.observe(cpu(75.0), at(1_000 + i * 10)), None);
        }
        assert_eq!(t.stretch(), 2);
        assert!(t.skips_optional_work());
    }

    #[test]
    fn thresholds_are_strict() {
        let config = ThrottleConfig::default();
        let t = Throttle::new(&config);
        assert_eq!(t.judge(&cpu(85.0)), Verdict::Between);
        assert_eq!(
            t.judge(&cpu(85.1)),
            Verdict::Busy {
                host: true,
                own: false
            }
        );
        assert_eq!(t.judge(&cpu(60.0)), Verdict::Between);
        assert_eq!(t.judge(&cpu(59.9)), Verdict::Calm);
        let load = |l| HostLoad {
            load_per_core: Some(l),
            ..HostLoad::default()
        };
        assert_eq!(
            t.judge(&load(2.1)),
            Verdict::Busy {
                host: true,
                own: false
            }
        );
        assert_eq!(t.judge(&load(2.0)), Verdict::Between);
        assert_eq!(
            t.judge(&load(1.5)),
            Verdict::Between,
            "calm line 2.0 × 60/85"
        );
        assert_eq!(t.judge(&load(1.4)), Verdict::Calm);
        let own = |o| HostLoad {
            cpu_percent: Some(5.0),
            own_cpu_percent: Some(o),
            ..HostLoad::default()
        };
        assert_eq!(
            t.judge(&own(2.5)),
            Verdict::Busy {
                host: false,
                own: true
            }
        );
        assert_eq!(t.judge(&own(1.5)), Verdict::Between, "half the limit");
        assert_eq!(t.judge(&own(0.9)), Verdict::Calm);
        assert_eq!(t.judge(&HostLoad::default()), Verdict::Unknown);
    }

    #[test]
    fn unknown_load_keeps_state_and_spells() {
        let mut t = Throttle::new(&ThrottleConfig::default());
        t.observe(cpu(99.0), at(0));
        t.observe(cpu(10.0), at(10));
        assert_eq!(t.observe(HostLoad::default(), at(100)), None);
        assert_eq!(t.stretch(), 2);
        // The calm spell that began at 10 s is still running.
        assert!(t.observe(cpu(10.0), at(310)).is_some());
        assert_eq!(t.stretch(), 1);
    }

    #[test]
    fn clock_going_back_restarts_the_spell() {
        let mut t = Throttle::new(&ThrottleConfig::default());
        t.observe(cpu(99.0), at(1_000));
        t.observe(cpu(10.0), at(1_010));
        // NTP moves the clock back an hour: the calm spell starts over, and
        // the last step (now "in the future") does not block for an hour.
        assert_eq!(t.observe(cpu(10.0), at(-2_600)), None);
        assert_eq!(t.observe(cpu(10.0), at(-2_400)), None);
        assert!(t.observe(cpu(10.0), at(-2_300)).is_some());
    }

    #[test]
    fn odd_max_stretch_is_reached_and_left_in_powers_of_two() {
        let config = ThrottleConfig {
            max_stretch: 6,
            ..ThrottleConfig::default()
        };
        let mut t = Throttle::new(&config);
        let mut seen = vec![t.stretch()];
        for i in 0..20 {
            t.observe(cpu(99.0), at(i * 60));
            seen.push(t.stretch());
        }
        seen.dedup();
        assert_eq!(seen, [1, 2, 4, 6]);
        for i in 0..20 {
            t.observe(cpu(5.0), at(1_200 + i * 300));
            seen.push(t.stretch());
        }
        seen.dedup();
        assert_eq!(seen, [1, 2, 4, 6, 4, 2, 1]);
    }

    #[test]
    fn max_stretch_of_one_or_zero_never_stretches() {
        for max_stretch in [0, 1] {
            let mut t = Throttle::new(&ThrottleConfig {
                max_stretch,
                ..ThrottleConfig::default()
            });
            assert_eq!(t.observe(cpu(99.0), at(0)), None);
            assert_eq!(t.stretch(), 1);
        }
    }

    #[test]
    fn huge_max_stretch_does_not_overflow() {
        let mut t = Throttle::new(&ThrottleConfig {
            max_stretch: u32::MAX,
            ..ThrottleConfig::default()
        });
        for i in 0..40 {
            t.observe(cpu(99.0), at(i * 60));
        }
        assert_eq!(t.stretch(), u32::MAX);
        assert_eq!(
            t.stretched(std::time::Duration::from_secs(u64::MAX)),
            std::time::Duration::MAX
        );
    }

    // ---- Reloads ----

    #[test]
    fn disabling_returns_to_normal_at_once() {
        let mut t = Throttle::new(&ThrottleConfig::default());
        t.observe(cpu(99.0), at(0));
        let change = t
            .update_config(&ThrottleConfig {
                enabled: false,
                ..ThrottleConfig::default()
            })
            .expect("change");
        assert_eq!(
            change.to_string(),
            "self-throttling switched off: back to normal intervals"
        );
        assert_eq!(t.stretch(), 1);
        assert!(!t.skips_optional_work());
        assert_eq!(t.observe(cpu(99.0), at(10)), None);

        // Enabled again: starts from scratch, reacts at once.
        assert_eq!(t.update_config(&ThrottleConfig::default()), None);
        assert!(t.observe(cpu(99.0), at(20)).is_some());
    }

    #[test]
    fn lowering_max_stretch_applies_at_once() {
        let mut t = Throttle::new(&ThrottleConfig::default());
        for i in 0..5 {
            t.observe(cpu(99.0), at(i * 60));
        }
        assert_eq!(t.stretch(), 8);
        let change = t
            .update_config(&ThrottleConfig {
                max_stretch: 2,
                ..ThrottleConfig::default()
            })
            .expect("change");
        assert_eq!((change.from, change.to), (8, 2));
        assert_eq!(
            change.to_string(),
            "throttle settings changed: collecting every 2× the configured interval and skipping optional work"
        );
        // Raising it again changes nothing until the host says so.
        assert_eq!(t.update_config(&ThrottleConfig::default()), None);
        assert_eq!(t.stretch(), 2);
    }

    #[test]
    fn new_thresholds_apply_to_the_next_observation() {
        let mut t = Throttle::new(&ThrottleConfig::default());
        assert_eq!(t.observe(cpu(70.0), at(0)), None);
        t.update_config(&ThrottleConfig {
            busy_cpu_percent: 65.0,
            calm_cpu_percent: 40.0,
            ..ThrottleConfig::default()
        });
        assert!(t.observe(cpu(70.0), at(10)).is_some());
    }

    // ---- Messages ----

    fn change(from: u32, to: u32, reason: ModeChangeReason, load: HostLoad) -> ModeChange {
        ModeChange {
            from,
            to,
            reason,
            load,
        }
    }

    #[test]
    fn messages_are_plain_language() {
        let host_busy = ModeChangeReason::Busy {
            host: true,
            own: false,
            own_limit_percent: 2.0,
        };
        let busy = HostLoad {
            cpu_percent: Some(93.2),
            load_per_core: Some(3.13),
            own_cpu_percent: Some(0.04),
        };
        assert_eq!(
            change(2, 4, host_busy, busy).to_string(),
            "host still busy (CPU 93%, load 3.1 per core): collecting every 4× the configured interval and skipping optional work"
        );
        assert_eq!(
            change(1, 2, host_busy, busy).to_string(),
            "host busy (CPU 93%, load 3.1 per core): collecting every 2× the configured interval and skipping optional work"
        );
        let own_busy = ModeChangeReason::Busy {
            host: false,
            own: true,
            own_limit_percent: 2.0,
        };
        assert_eq!(
            change(
                1,
                2,
                own_busy,
                HostLoad {
                    own_cpu_percent: Some(3.13),
                    ..cpu(12.0)
                }
            )
            .to_string(),
            "keepwatch itself used 3.1% of one core (limit 2%): collecting every 2× the configured interval and skipping optional work"
        );
        let both = ModeChangeReason::Busy {
            host: true,
            own: true,
            own_limit_percent: 1.5,
        };
        assert_eq!(
            change(
                1,
                2,
                both,
                HostLoad {
                    own_cpu_percent: Some(2.0),
                    ..cpu(90.0)
                }
            )
            .to_string(),
            "host busy (CPU 90%) and keepwatch itself used 2.0% of one core (limit 1.5%): collecting every 2× the configured interval and skipping optional work"
        );
        assert_eq!(
            change(2, 1, ModeChangeReason::Calmer, cpu(12.4)).to_string(),
            "host calm again (CPU 12%): back to normal intervals"
        );
        assert_eq!(
            change(
                8,
                4,
                ModeChangeReason::Calmer,
                HostLoad {
                    load_per_core: Some(0.5),
                    ..cpu(40.0)
                }
            )
            .to_string(),
            "host calmer (CPU 40%, load 0.5 per core): collecting every 4× the configured interval, still skipping optional work"
        );
        assert_eq!(
            change(2, 1, ModeChangeReason::Calmer, HostLoad::default()).to_string(),
            "host calm again: back to normal intervals"
        );
        assert_eq!(
            change(4, 1, ModeChangeReason::SettingsChanged, HostLoad::default()).to_string(),
            "throttle settings changed: back to normal intervals"
        );
    }

    #[test]
    fn host_load_from_readings_divides_load_by_cores() {
        let readings = [
            Reading::host(metric::CPU_USAGE_PERCENT, 50.0),
            Reading::new(metric::CPU_CORE_USAGE_PERCENT, "0", 99.0),
            Reading::host(metric::LOAD_1, 6.0),
            Reading::host(metric::LOAD_5, 1.0),
        ];
        let load = HostLoad::from_readings(&readings, 4, Some(0.1));
        assert_eq!(load.cpu_percent, Some(50.0));
        assert_eq!(load.load_per_core, Some(1.5));
        assert_eq!(load.own_cpu_percent, Some(0.1));
        let none = HostLoad::from_readings(&[], 0, None);
        assert_eq!(none, HostLoad::default());
        let zero_cores = HostLoad::from_readings(&readings[2..3], 0, None);
        assert_eq!(zero_cores.load_per_core, Some(6.0));
    }

    #[test]
    fn stretched_multiplies_intervals() {
        let mut t = Throttle::new(&ThrottleConfig::default());
        let ten = std::time::Duration::from_secs(10);
        assert_eq!(t.stretched(ten), ten);
        t.observe(cpu(99.0), at(0));
        assert_eq!(t.stretched(ten), std::time::Duration::from_secs(20));
    }
}
