//! The typed configuration: every section of `keepwatch.toml`, with the one
//! [`Default`] that the built-in defaults, the documentation and the commented
//! file written by `keepwatch init` all come from.

mod load;
mod source;
mod template;
mod validate;

pub use load::{ConfigError, Problem, load_file, parse};
pub use source::{Loaded, Origin, default_path, last_good_path, load_and_remember, load_for_start};
pub use template::commented;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::alert::{AlertingConfig, MaintenanceConfig, RuleConfig};
use crate::checks::ServiceSpec;
use crate::notify::Channel;
use crate::units::{ByteSize, Duration};

/// Everything keepwatch can be told. Every field has a default, so an empty
/// file (or no file at all) is a valid configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Who this agent is and where it keeps its data.
    pub agent: AgentConfig,
    /// The business: name, time zone, opening hours, who to tell.
    pub business: BusinessConfig,
    /// How often each family of host metrics is collected.
    pub collect: CollectConfig,
    /// How long history is kept and how much disk it may use.
    pub storage: StorageConfig,
    /// When and how far the agent slows itself down on a busy host.
    pub throttle: ThrottleConfig,
    /// What keepwatch writes to its own log.
    pub log: LogConfig,
    /// How service checks are run.
    pub checks: ChecksConfig,
    /// The services to check, one `[[service]]` table each.
    #[serde(rename = "service", skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSpec>,
    /// Who is told about alerts, when, and how closely messages may follow.
    pub alerting: AlertingConfig,
    /// The alert rules, one `[[rule]]` table each.
    #[serde(rename = "rule", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleConfig>,
    /// Where alerts are sent, one `[[channel]]` table each.
    #[serde(rename = "channel", skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Channel>,
    /// Planned maintenance, one `[[maintenance]]` table each.
    #[serde(rename = "maintenance", skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<MaintenanceConfig>,
}

/// Identity and data location of this agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Name of this host in reports and alerts; empty means the computer's host name.
    pub name: String,
    /// Folder for the database; empty means the operating system's usual
    /// per-user data folder (e.g. `~/.local/share/keepwatch` on Linux).
    pub data_dir: PathBuf,
}

/// The business the monitored systems earn money for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessConfig {
    /// The business's name, used in reports and messages.
    pub name: String,
    /// IANA time zone such as `Europe/Berlin`; empty means this computer's zone.
    pub timezone: String,
    /// Email address of the person who looks after the systems.
    pub admin_email: String,
    /// Opening hours per weekday.
    pub hours: WeeklyHours,
    /// Days the business is closed: `"2026-12-31"` once, `"12-25"` every year.
    pub holidays: Vec<String>,
    /// Days with their own hours, by date: `"2026-12-24" = "08:00-12:00"`.
    pub special_days: BTreeMap<String, String>,
}

impl Default for BusinessConfig {
    fn default() -> Self {
        Self {
            name: "My Business".to_owned(),
            timezone: String::new(),
            admin_email: String::new(),
            hours: WeeklyHours::default(),
            holidays: Vec::new(),
            special_days: BTreeMap::new(),
        }
    }
}

/// Opening hours of each weekday: `"09:00-17:00"`, several ranges separated by
/// commas (`"08:00-12:00, 13:00-17:00"`), a range past midnight
/// (`"18:00-02:00"`), or `"closed"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeeklyHours {
    pub monday: String,
    pub tuesday: String,
    pub wednesday: String,
    pub thursday: String,
    pub friday: String,
    pub saturday: String,
    pub sunday: String,
}

impl Default for WeeklyHours {
    fn default() -> Self {
        let open = || "09:00-17:00".to_owned();
        Self {
            monday: open(),
            tuesday: open(),
            wednesday: open(),
            thursday: open(),
            friday: open(),
            saturday: "closed".to_owned(),
            sunday: "closed".to_owned(),
        }
    }
}

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

/// History retention and disk budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// History older than this is deleted.
    pub retention: Duration,
    /// Most disk space the database may use; near it, the oldest history is
    /// thinned out first (the latest state is always kept).
    pub max_size: ByteSize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_days(90),
            max_size: ByteSize(500_000_000),
        }
    }
}

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

/// Running service checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChecksConfig {
    /// At most this many checks run at the same time; the rest wait their turn.
    pub max_concurrent: usize,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        Self { max_concurrent: 64 }
    }
}

/// keepwatch's own log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// One of `error`, `warn`, `info`, `debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
        }
    }
}
