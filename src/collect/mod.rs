//! Host metrics (CPU, memory, disks, network, load, uptime) and the decision
//! when the agent should throttle itself on a busy host.
//!
//! - [`MetricsSource`] is the seam between the agent and the operating system:
//!   [`SystemSource`] reads the real host, [`SimulatedHost`] plays back a
//!   deterministic load scenario for tests and benchmarks.
//! - [`Throttle`] is pure decision logic: fed the host's load, it says how far
//!   to stretch collection intervals and whether optional work may run.
//!
//! Metric names are stable (the store, alert rules, reports and the API refer
//! to them); they live in [`metric`].

mod simulated;
mod system;
mod throttle;

pub use simulated::{Scenario, SimulatedHost};
pub use system::SystemSource;
pub use throttle::{
    CALM_HOLD, HostLoad, ModeChange, ModeChangeReason, STEP_UP_HOLD, Throttle, ThrottleConfig,
};

use serde::{Deserialize, Serialize};
use std::fmt;

use jiff::Timestamp;

use crate::observation::{Sample, SeriesKey};
use crate::units::Duration;

/// Collection interval of each metric family; `"off"` stops collecting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectConfig {
    /// CPU use, in total and per core.
    pub cpu: Duration,
    /// Also record each core's use (more history, same CPU cost).
    pub per_core: bool,
    /// Memory and swap use.
    pub memory: Duration,
    /// Used and free space of each disk / mount point.
    pub disk: Duration,
    /// Bytes per second in and out, and errors, of each network interface.
    pub network: Duration,
    /// Load average (1, 5 and 15 minutes).
    pub load: Duration,
    /// Time since the host booted.
    pub uptime: Duration,
}

impl Default for CollectConfig {
    fn default() -> Self {
        Self {
            cpu: Duration::from_secs(10),
            per_core: true,
            memory: Duration::from_secs(10),
            disk: Duration::from_secs(60),
            network: Duration::from_secs(10),
            load: Duration::from_secs(10),
            uptime: Duration::from_mins(5),
        }
    }
}

/// A group of metrics collected together, on one configured interval.
///
/// Families exist because reading them costs differently (CPU needs two
/// readings apart in time, disks a system call per mount) and the admin sets
/// one interval per family in `[collect]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `cpu.*`
    Cpu,
    /// `memory.*` and `swap.*`
    Memory,
    /// `disk.*`
    Disk,
    /// `net.*`
    Network,
    /// `load.*`
    Load,
    /// `host.uptime_seconds`
    Uptime,
}

impl Family {
    /// Every family, in the order the config file lists them.
    pub const ALL: [Family; 6] = [
        Family::Cpu,
        Family::Memory,
        Family::Disk,
        Family::Network,
        Family::Load,
        Family::Uptime,
    ];

    /// The key of this family in the `[collect]` section, e.g. `"load"`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Cpu => "cpu",
            Family::Memory => "memory",
            Family::Disk => "disk",
            Family::Network => "network",
            Family::Load => "load",
            Family::Uptime => "uptime",
        }
    }

    /// The configured collection interval of this family (`"off"` means never).
    pub fn interval(self, config: &CollectConfig) -> crate::units::Duration {
        match self {
            Family::Cpu => config.cpu,
            Family::Memory => config.memory,
            Family::Disk => config.disk,
            Family::Network => config.network,
            Family::Load => config.load,
            Family::Uptime => config.uptime,
        }
    }
}

/// Plain words for messages: "load average is not available on Windows".
impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Cpu => "CPU use",
            Family::Memory => "memory use",
            Family::Disk => "disk space",
            Family::Network => "network traffic",
            Family::Load => "load average",
            Family::Uptime => "uptime",
        })
    }
}

/// How much a collection should read. The agent asks for [`Detail::Essential`]
/// while throttled, so a busy host is spared the extra rows (and their storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detail {
    /// Only the host-wide values.
    Essential,
    /// Also optional detail: today that is per-core CPU use.
    Full,
}

/// One value read from the host, before it gets a host name and a timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// One of the names in [`metric`].
    pub metric: &'static str,
    /// Core index, mount point or interface name; empty for host-wide values.
    pub instance: String,
    /// The value, in the unit the metric name states.
    pub value: f64,
}

impl Reading {
    /// A reading about one instance (a core, a mount point, an interface).
    pub fn new(metric: &'static str, instance: impl Into<String>, value: f64) -> Self {
        Self {
            metric,
            instance: instance.into(),
            value,
        }
    }

    /// A host-wide reading.
    pub fn host(metric: &'static str, value: f64) -> Self {
        Self::new(metric, String::new(), value)
    }

    /// The sample the store keeps: this reading, of `host`, observed `at`.
    pub fn to_sample(&self, host: &str, at: Timestamp) -> Sample {
        Sample {
            key: SeriesKey::new(host, self.metric, self.instance.clone()),
            at,
            value: self.value,
        }
    }
}

/// Why a family could not be read. The agent logs each distinct error once and
/// keeps collecting everything else.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The operating system does not offer this family at all (load average on
    /// Windows); retrying will not help, so the agent stops asking.
    #[error("{family} is not available on {os}; keepwatch carries on without it")]
    Unsupported {
        /// The family that cannot be read.
        family: Family,
        /// The operating system, as people name it ("Windows", "macOS", "Linux").
        os: &'static str,
    },
    /// Reading failed this time (a file in /proc missing, a system call
    /// refused); the next attempt may work.
    #[error("could not read {family}: {reason}")]
    Unavailable {
        /// The family that could not be read.
        family: Family,
        /// What the operating system said.
        reason: String,
    },
    /// Host metrics cannot be read on this system at all.
    #[error("cannot read host metrics on {os}: {reason}")]
    Init {
        /// The operating system, as people name it.
        os: &'static str,
        /// What the operating system said.
        reason: String,
    },
}

/// Where host metrics come from. The agent holds one; tests hold a
/// [`SimulatedHost`] instead of the real [`SystemSource`].
pub trait MetricsSource: Send {
    /// Reads one family now. Some values need an earlier reading to compare
    /// with (CPU use, network rates); until there is one the result is empty
    /// rather than invented.
    fn collect(&mut self, family: Family, detail: Detail) -> Result<Vec<Reading>, CollectError>;

    /// The CPU keepwatch itself used since the previous call, in percent of one
    /// core; `None` on the first call or when the OS does not say.
    fn own_cpu_percent(&mut self) -> Option<f64>;

    /// Starts measuring keepwatch's own CPU afresh from now, forgetting what
    /// came before: a one-off burst of work (the first round of checks at
    /// start) is not what self-throttling is about. Sources whose figure is
    /// given rather than measured have nothing to forget.
    fn restart_own_cpu(&mut self) {}

    /// Logical CPU cores, to turn the load average into load per core.
    fn cpu_count(&self) -> usize;
}

/// The operating system as people name it, for messages.
pub(crate) const fn os_name() -> &'static str {
    if cfg!(target_os = "windows") {
        "Windows"
    } else if cfg!(target_os = "macos") {
        "macOS"
    } else if cfg!(target_os = "linux") {
        "Linux"
    } else {
        std::env::consts::OS
    }
}

/// `part` as a percentage of `whole`; `None` when `whole` is 0 (a host without
/// swap has no swap percentage, not 0% or NaN).
pub(crate) fn percent(part: u64, whole: u64) -> Option<f64> {
    if whole == 0 {
        return None;
    }
    Some((part.min(whole) as f64 / whole as f64) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::metric;

    #[test]
    fn unsupported_message_is_plain_language() {
        let err = CollectError::Unsupported {
            family: Family::Load,
            os: "Windows",
        };
        assert_eq!(
            err.to_string(),
            "load average is not available on Windows; keepwatch carries on without it"
        );
    }

    #[test]
    fn family_names_match_the_collect_config_keys() {
        let names: Vec<_> = Family::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            ["cpu", "memory", "disk", "network", "load", "uptime"]
        );
        let config = CollectConfig::default();
        assert_eq!(Family::Disk.interval(&config), config.disk);
        assert_eq!(Family::Uptime.interval(&config), config.uptime);
        assert_eq!(Family::Cpu.interval(&config), config.cpu);
        assert_eq!(Family::Memory.interval(&config), config.memory);
        assert_eq!(Family::Network.interval(&config), config.network);
        assert_eq!(Family::Load.interval(&config), config.load);
    }

    #[test]
    fn percent_handles_zero_and_overflowing_parts() {
        assert_eq!(percent(0, 0), None);
        assert_eq!(percent(5, 0), None);
        assert_eq!(percent(0, 10), Some(0.0));
        assert_eq!(percent(5, 10), Some(50.0));
        assert_eq!(percent(10, 10), Some(100.0));
        assert_eq!(percent(15, 10), Some(100.0));
        assert_eq!(percent(u64::MAX, u64::MAX), Some(100.0));
    }

    #[test]
    fn reading_becomes_a_sample_of_the_host() {
        let at: Timestamp = "2026-11-02T08:00:00Z".parse().unwrap();
        let sample = Reading::new(metric::DISK_USED_PERCENT, "/", 41.5).to_sample("shop-db", at);
        assert_eq!(
            sample.key,
            SeriesKey::new("shop-db", "disk.used_percent", "/")
        );
        assert_eq!(sample.at, at);
        assert_eq!(sample.value, 41.5);
        assert_eq!(Reading::host(metric::LOAD_1, 0.5).instance, "");
    }

    #[test]
    fn os_name_is_known_here() {
        assert!(["Linux", "macOS", "Windows"].contains(&os_name()) || !os_name().is_empty());
    }
}
