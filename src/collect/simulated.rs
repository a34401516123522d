//! A pretend host with a scripted load, for tests and benchmarks.
//!
//! [`SimulatedHost`] is a [`MetricsSource`] whose every value is a function of
//! the [`Scenario`] and the time on an injected [`Clock`] (plus deterministic
//! noise): drive a [`SimClock`](crate::clock::SimClock) through an hour of a
//! busy host in microseconds, and get the same numbers on every run.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::{CollectError, Detail, Family, MetricsSource, Reading};
use crate::clock::Clock;
use crate::vocabulary::metric;

/// How the simulated host's load develops, counted from the moment the
/// [`SimulatedHost`] was created.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scenario {
    /// CPU about 5%, load about 0.1 per core.
    Idle,
    /// CPU about 95%, load about 2.8 per core, memory about 82% used.
    Busy,
    /// Idle, with a CPU spike of [`Scenario::SPIKE_LENGTH`] every
    /// [`Scenario::SPIKE_PERIOD`], the first one a period after the start.
    /// Spikes are too short to lift the 1-minute load above 0.5 per core.
    Spiky,
    /// From idle to busy in a straight line over [`Scenario::RAMP_LENGTH`],
    /// then busy.
    Ramp,
    /// Busy for `busy_for`, then idle for good: a batch job that finishes.
    Recovering {
        /// How long the busy start lasts.
        busy_for: SignedDuration,
    },
}

impl Scenario {
    /// How long each spike of [`Scenario::Spiky`] lasts.
    pub const SPIKE_LENGTH: SignedDuration = SignedDuration::from_secs(20);
    /// Time from one spike of [`Scenario::Spiky`] to the next.
    pub const SPIKE_PERIOD: SignedDuration = SignedDuration::from_secs(3 * 60);
    /// How long [`Scenario::Ramp`] takes from idle to busy.
    pub const RAMP_LENGTH: SignedDuration = SignedDuration::from_secs(10 * 60);

    const IDLE: f64 = 0.05;
    const BUSY: f64 = 0.95;
    const SPIKE: f64 = 0.97;

    /// How hard the host works `secs` seconds into the scenario, 0–1.
    fn intensity(self, secs: f64) -> f64 {
        let secs = secs.max(0.0);
        match self {
            Scenario::Idle => Self::IDLE,
            Scenario::Busy => Self::BUSY,
            Scenario::Spiky => {
                let period = Self::SPIKE_PERIOD.as_secs_f64();
                let into_period = secs.rem_euclid(period);
                if secs >= period && into_period < Self::SPIKE_LENGTH.as_secs_f64() {
                    Self::SPIKE
                } else {
                    Self::IDLE
                }
            }
            Scenario::Ramp => {
                let done = (secs / Self::RAMP_LENGTH.as_secs_f64()).clamp(0.0, 1.0);
                Self::IDLE + (Self::BUSY - Self::IDLE) * done
            }
            Scenario::Recovering { busy_for } => {
                if secs < busy_for.as_secs_f64() {
                    Self::BUSY
                } else {
                    Self::IDLE
                }
            }
        }
    }
}

/// A [`MetricsSource`] that plays back a [`Scenario`]; see the module docs.
///
/// It has 4 cores, 8 GiB of memory, 2 GiB of swap, two disks (`/`, slowly
/// filling, and `/data`) and one network interface (`eth0`), unless told
/// otherwise.
#[derive(Debug, Clone)]
pub struct SimulatedHost {
    scenario: Scenario,
    clock: Arc<dyn Clock>,
    start: Timestamp,
    seed: u64,
    cpu_count: usize,
    own_cpu_percent: Option<f64>,
    unsupported: Option<(Family, &'static str)>,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const BOOTED_BEFORE_START: f64 = 3.0 * 86_400.0;

/// Noise streams, so different values do not move in lockstep.
mod stream {
    pub const CPU: u64 = 1;
    pub const MEMORY: u64 = 2;
    pub const LOAD: u64 = 3;
    pub const NET_RX: u64 = 4;
    pub const NET_TX: u64 = 5;
    pub const NET_ERRORS: u64 = 6;
    pub const CORE: u64 = 100;
}

impl SimulatedHost {
    /// A host starting `scenario` now (by `clock`).
    pub fn new(scenario: Scenario, clock: Arc<dyn Clock>) -> Self {
        let start = clock.now();
        Self {
            scenario,
            clock,
            start,
            seed: 0x6b65_6570_7761_7463, // "keepwatc"
            cpu_count: 4,
            own_cpu_percent: Some(0.05),
            unsupported: None,
        }
    }

    /// Different noise, same scenario.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// A host with `cpu_count` cores (at least 1).
    pub fn with_cpu_count(mut self, cpu_count: usize) -> Self {
        self.cpu_count = cpu_count.max(1);
        self
    }

    /// Makes `family` fail as an OS without it would (say, load average on
    /// `"Windows"`), to test that the agent carries on and says so once.
    pub fn with_unsupported(mut self, family: Family, os: &'static str) -> Self {
        self.unsupported = Some((family, os));
        self
    }

    /// What [`MetricsSource::own_cpu_percent`] reports from now on; tests use
    /// it to play a keepwatch that uses too much CPU.
    pub fn set_own_cpu_percent(&mut self, percent: Option<f64>) {
        self.own_cpu_percent = percent;
    }

    fn secs(&self) -> f64 {
        self.clock.now().duration_since(self.start).as_secs_f64()
    }

    /// Deterministic noise in [-1, 1) for `stream` during whole second `secs`.
    fn noise(&self, stream: u64, secs: f64) -> f64 {
        let second = secs.floor() as i64 as u64;
        let bits = splitmix64(
            self.seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ second.rotate_left(17),
        );
        (bits >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// Mean intensity over `samples` points `step` seconds apart, ending now:
    /// what a load average smooths over.
    fn mean_intensity(&self, secs: f64, samples: u32, step: f64) -> f64 {
        let sum: f64 = (0..samples)
            .map(|i| self.scenario.intensity(secs - f64::from(i) * step))
            .sum();
        sum / f64::from(samples)
    }

    fn load_per_core(mean_intensity: f64) -> f64 {
        0.1 + 3.0 * mean_intensity * mean_intensity
    }

    fn cpu(&self, secs: f64, detail: Detail) -> Vec<Reading> {
        let total = (self.scenario.intensity(secs) * 100.0 + 2.0 * self.noise(stream::CPU, secs))
            .clamp(0.0, 100.0);
        let mut readings = vec![Reading::host(metric::CPU_USAGE_PERCENT, total)];
        if detail == Detail::Full {
            for core in 0..self.cpu_count {
                let usage =
                    (total + 8.0 * self.noise(stream::CORE + core as u64, secs)).clamp(0.0, 100.0);
                readings.push(Reading::new(
                    metric::CPU_CORE_USAGE_PERCENT,
                    core.to_string(),
                    usage,
                ));
            }
        }
        readings
    }

    fn memory(&self, secs: f64) -> Vec<Reading> {
        let intensity = self.scenario.intensity(secs);
        let total = 8.0 * GIB;
        let used_share =
            (0.25 + 0.6 * intensity + 0.01 * self.noise(stream::MEMORY, secs)).clamp(0.0, 1.0);
        let used = (total * used_share).round();
        let swap_total = 2.0 * GIB;
        let swap_used = (swap_total * (0.02 + 2.0 * (intensity - 0.8).max(0.0))).round();
        vec![
            Reading::host(metric::MEMORY_USED_PERCENT, used / total * 100.0),
            Reading::host(metric::MEMORY_USED_BYTES, used),
            Reading::host(metric::MEMORY_AVAILABLE_BYTES, total - used),
            Reading::host(metric::MEMORY_TOTAL_BYTES, total),
            Reading::host(metric::SWAP_USED_PERCENT, swap_used / swap_total * 100.0),
            Reading::host(metric::SWAP_USED_BYTES, swap_used),
            Reading::host(metric::SWAP_TOTAL_BYTES, swap_total),
        ]
    }

    /// `/` fills by half a percent a day and `/data` by one percent, so
    /// forecasts have a trend to find.
    fn disks(&self, secs: f64) -> Vec<Reading> {
        let days = secs.max(0.0) / 86_400.0;
        let mut readings = Vec::with_capacity(6);
        for (mount, total_gib, used_share, per_day) in
            [("/", 100.0, 0.40, 0.005), ("/data", 500.0, 0.70, 0.01)]
        {
            let total: f64 = total_gib * GIB;
            let used = (total * (used_share + per_day * days).min(1.0)).round();
            readings.push(Reading::new(
                metric::DISK_USED_PERCENT,
                mount,
                used / total * 100.0,
            ));
            readings.push(Reading::new(metric::DISK_FREE_BYTES, mount, total - used));
            readings.push(Reading::new(metric::DISK_TOTAL_BYTES, mount, total));
        }
        readings
    }

    fn network(&self, secs: f64) -> Vec<Reading> {
        let intensity = self.scenario.intensity(secs);
        let rx =
            (50_000.0 + 5_000_000.0 * intensity) * (1.0 + 0.1 * self.noise(stream::NET_RX, secs));
        let tx = rx / 4.0 * (1.0 + 0.1 * self.noise(stream::NET_TX, secs));
        let errors = if self.noise(stream::NET_ERRORS, secs) > 0.98 {
            1.0
        } else {
            0.0
        };
        vec![
            Reading::new(metric::NET_RX_BYTES_PER_SEC, "eth0", rx.round()),
            Reading::new(metric::NET_TX_BYTES_PER_SEC, "eth0", tx.round()),
            Reading::new(metric::NET_RX_ERRORS, "eth0", errors),
            Reading::new(metric::NET_TX_ERRORS, "eth0", 0.0),
        ]
    }

    fn load(&self, secs: f64) -> Vec<Reading> {
        let cores = self.cpu_count as f64;
        let jitter = 1.0 + 0.02 * self.noise(stream::LOAD, secs);
        let average = |samples, step| {
            Self::load_per_core(self.mean_intensity(secs, samples, step)) * cores * jitter
        };
        vec![
            Reading::host(metric::LOAD_1, average(12, 5.0)),
            Reading::host(metric::LOAD_5, average(10, 30.0)),
            Reading::host(metric::LOAD_15, average(15, 60.0)),
        ]
    }
}

impl MetricsSource for SimulatedHost {
    fn collect(&mut self, family: Family, detail: Detail) -> Result<Vec<Reading>, CollectError> {
        if let Some((unsupported, os)) = self.unsupported
            && unsupported == family
        {
            return Err(CollectError::Unsupported { family, os });
        }
        let secs = self.secs();
        Ok(match family {
            Family::Cpu => self.cpu(secs, detail),
            Family::Memory => self.memory(secs),
            Family::Disk => self.disks(secs),
            Family::Network => self.network(secs),
            Family::Load => self.load(secs),
            Family::Uptime => vec![Reading::host(
                metric::HOST_UPTIME_SECONDS,
                (BOOTED_BEFORE_START + secs).max(0.0).floor(),
            )],
        })
    }

    fn own_cpu_percent(&mut self) -> Option<f64> {
        self.own_cpu_percent
    }

    fn cpu_count(&self) -> usize {
        self.cpu_count
    }
}

/// A tiny, well-mixed hash (SplitMix64's finaliser): deterministic noise
/// without a random-number dependency.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimClock;

    fn clock() -> SimClock {
        SimClock::new("2026-11-02T09:00:00Z".parse().unwrap())
    }

    fn value(readings: &[Reading], metric: &str, instance: &str) -> f64 {
        readings
            .iter()
            .find(|r| r.metric == metric && r.instance == instance)
            .map(|r| r.value)
            .unwrap_or_else(|| panic!("{metric}[{instance}] missing from {readings:?}"))
    }

    fn cpu_at(host: &mut SimulatedHost, clock: &SimClock, secs: i64) -> f64 {
        clock.set(host.start + SignedDuration::from_secs(secs));
        let r = host.collect(Family::Cpu, Detail::Essential).unwrap();
        value(&r, metric::CPU_USAGE_PERCENT, "")
    }

    #[test]
    fn same_scenario_same_time_same_values() {
        let clock = clock();
        let mut a = SimulatedHost::new(Scenario::Spiky, Arc::new(clock.clone()));
        let mut b = SimulatedHost::new(Scenario::Spiky, Arc::new(clock.clone()));
        let mut c = SimulatedHost::new(Scenario::Spiky, Arc::new(clock.clone())).with_seed(7);
        let mut differs = false;
        for _ in 0..50 {
            for family in Family::ALL {
                let ra = a.collect(family, Detail::Full).unwrap();
                assert_eq!(ra, b.collect(family, Detail::Full).unwrap());
                differs |= ra != c.collect(family, Detail::Full).unwrap();
            }
            clock.advance(SignedDuration::from_secs(7));
        }
        assert!(differs, "another seed gives other noise");
    }

    #[test]
    fn scenarios_stay_in_their_bands() {
        let clock = clock();
        let mut idle = SimulatedHost::new(Scenario::Idle, Arc::new(clock.clone()));
        let mut busy = SimulatedHost::new(Scenario::Busy, Arc::new(clock.clone()));
        for i in 0..500 {
            let secs = i * 13;
            let idle_cpu = cpu_at(&mut idle, &clock, secs);
            let busy_cpu = cpu_at(&mut busy, &clock, secs);
            assert!((0.0..=10.0).contains(&idle_cpu), "{idle_cpu}");
            assert!((90.0..=100.0).contains(&busy_cpu), "{busy_cpu}");

            let idle_load = value(
                &idle.collect(Family::Load, Detail::Full).unwrap(),
                metric::LOAD_1,
                "",
            );
            let busy_load = value(
                &busy.collect(Family::Load, Detail::Full).unwrap(),
                metric::LOAD_1,
                "",
            );
            assert!(idle_load / 4.0 < 0.2, "{idle_load}");
            assert!(busy_load / 4.0 > 2.5, "{busy_load}");
        }
    }

    #[test]
    fn spiky_spikes_on_schedule() {
        let clock = clock();
        let mut host = SimulatedHost::new(Scenario::Spiky, Arc::new(clock.clone()));
        assert!(cpu_at(&mut host, &clock, 0) < 10.0, "no spike at the start");
        assert!(cpu_at(&mut host, &clock, 179) < 10.0);
        assert!(cpu_at(&mut host, &clock, 180) > 90.0);
        assert!(cpu_at(&mut host, &clock, 199) > 90.0);
        assert!(cpu_at(&mut host, &clock, 200) < 10.0);
        assert!(cpu_at(&mut host, &clock, 360 + 5) > 90.0);
        // The 1-minute load hardly notices a 20-second spike.
        clock.set(host.start + SignedDuration::from_secs(199));
        let load = value(
            &host.collect(Family::Load, Detail::Full).unwrap(),
            metric::LOAD_1,
            "",
        );
        assert!(load / 4.0 < 0.6, "{load}");
    }

    #[test]
    fn ramp_and_recovery_move_between_idle_and_busy() {
        let clock = clock();
        let mut ramp = SimulatedHost::new(Scenario::Ramp, Arc::new(clock.clone()));
        let early = cpu_at(&mut ramp, &clock, 0);
        let middle = cpu_at(&mut ramp, &clock, 300);
        let late = cpu_at(&mut ramp, &clock, 900);
        assert!(early < 10.0 && (40.0..60.0).contains(&middle) && late > 90.0);

        let mut job = SimulatedHost::new(
            Scenario::Recovering {
                busy_for: SignedDuration::from_mins(5),
            },
            Arc::new(clock.clone()),
        );
        assert!(cpu_at(&mut job, &clock, 299) > 90.0);
        assert!(cpu_at(&mut job, &clock, 300) < 10.0);
    }

    #[test]
    fn every_family_is_plausible() {
        let clock = clock();
        let mut host =
            SimulatedHost::new(Scenario::Busy, Arc::new(clock.clone())).with_cpu_count(2);
        assert_eq!(host.cpu_count(), 2);

        let cpu = host.collect(Family::Cpu, Detail::Full).unwrap();
        assert_eq!(cpu.len(), 3, "total and two cores");
        assert!(cpu.iter().all(|r| (0.0..=100.0).contains(&r.value)));

        let mem = host.collect(Family::Memory, Detail::Full).unwrap();
        let total = value(&mem, metric::MEMORY_TOTAL_BYTES, "");
        let used = value(&mem, metric::MEMORY_USED_BYTES, "");
        let available = value(&mem, metric::MEMORY_AVAILABLE_BYTES, "");
        assert_eq!(used + available, total);
        assert!((75.0..90.0).contains(&value(&mem, metric::MEMORY_USED_PERCENT, "")));

        let disk_then = host.collect(Family::Disk, Detail::Full).unwrap();
        clock.advance(SignedDuration::from_hours(24 * 10));
        let disk_later = host.collect(Family::Disk, Detail::Full).unwrap();
        let root_then = value(&disk_then, metric::DISK_USED_PERCENT, "/");
        let root_later = value(&disk_later, metric::DISK_USED_PERCENT, "/");
        assert!(
            (root_later - root_then - 5.0).abs() < 0.01,
            "{root_then} → {root_later}"
        );

        let net = host.collect(Family::Network, Detail::Full).unwrap();
        assert!(value(&net, metric::NET_RX_BYTES_PER_SEC, "eth0") > 1_000_000.0);
        assert!(value(&net, metric::NET_RX_ERRORS, "eth0") >= 0.0);

        let uptime = host.collect(Family::Uptime, Detail::Full).unwrap();
        assert_eq!(
            value(&uptime, metric::HOST_UPTIME_SECONDS, ""),
            BOOTED_BEFORE_START + 10.0 * 86_400.0
        );
    }

    #[test]
    fn unsupported_family_fails_like_the_os_would() {
        let clock = clock();
        let mut host = SimulatedHost::new(Scenario::Idle, Arc::new(clock))
            .with_unsupported(Family::Load, "Windows");
        let err = host.collect(Family::Load, Detail::Full).unwrap_err();
        assert_eq!(
            err.to_string(),
            "load average is not available on Windows; keepwatch carries on without it"
        );
        assert!(host.collect(Family::Cpu, Detail::Full).is_ok());
    }

    #[test]
    fn own_cpu_is_what_the_test_says() {
        let mut host = SimulatedHost::new(Scenario::Idle, Arc::new(clock()));
        assert_eq!(host.own_cpu_percent(), Some(0.05));
        host.set_own_cpu_percent(Some(3.0));
        assert_eq!(host.own_cpu_percent(), Some(3.0));
        host.set_own_cpu_percent(None);
        assert_eq!(host.own_cpu_percent(), None);
    }

    #[test]
    fn noise_is_spread_over_its_range() {
        let host = SimulatedHost::new(Scenario::Idle, Arc::new(clock()));
        let values: Vec<f64> = (0..1_000)
            .map(|s| host.noise(stream::CPU, f64::from(s)))
            .collect();
        assert!(values.iter().all(|v| (-1.0..1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!(mean.abs() < 0.1, "{mean}");
        assert!(values.iter().any(|v| *v > 0.9) && values.iter().any(|v| *v < -0.9));
    }
}
