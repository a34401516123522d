//! The typed configuration: every section of `keepwatch.toml`, with the one
//! [`Default`] that the built-in defaults, the documentation and the commented
//! file written by `keepwatch init` all come from.

mod api;
mod expected;
mod export;
mod hub;
mod load;
mod problem;
mod report;
mod source;
mod template;
mod update;
mod validate;

pub use api::{ApiConfig, Network, TlsProblem};
pub use export::{ExportConfig, REMOTE_WRITE_HEADERS};
pub use hub::{AGENT_TOKEN_PREFIX, HubConfig, hub_url};
pub use load::{ConfigError, load_file, parse, parse_bytes};
pub use problem::Problem;
pub use report::{Audience, Days, PERIODS, ReportConfig, When};
pub use source::{Loaded, Origin, default_path, last_good_path, load_and_remember, load_for_start};
pub use template::{commented, commented_with};
pub use update::{UpdateConfig, is_channel_name};

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::alert::engine::Alerter;
use crate::alert::{AlertingConfig, MaintenanceConfig, RuleConfig};
use crate::calendar::BusinessConfig;
use crate::checks::ChecksConfig;
use crate::checks::ServiceSpec;
use crate::collect::{CollectConfig, ThrottleConfig};
use crate::notify::Channel;
use crate::store::StorageConfig;

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
    /// The REST API that `keepwatch run` serves.
    pub api: ApiConfig,
    /// Where history is pushed for a bigger system (Prometheus remote write).
    pub export: ExportConfig,
    /// Planned maintenance, one `[[maintenance]]` table each.
    #[serde(rename = "maintenance", skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<MaintenanceConfig>,
    /// Reports sent on a schedule, one `[[report]]` table each.
    #[serde(rename = "report", skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<ReportConfig>,
    /// Several servers: the hub this computer reports to, or, on the hub,
    /// how long its agents may be silent.
    pub hub: HubConfig,
    /// Where `keepwatch update` finds releases and whether `run` updates by itself.
    pub update: UpdateConfig,
}

impl Config {
    /// The alert engine for this configuration: the alerting settings, each
    /// channel's hourly limit (the built-in log channel's too, unless a
    /// `[[channel]]` of that name replaces it), the services and the
    /// maintenance windows.
    pub fn alerter(&self) -> Alerter {
        let mut max_per_hour: HashMap<String, u32> = self
            .channels
            .iter()
            .map(|c| (c.name.clone(), c.max_per_hour))
            .collect();
        let log = Channel::log();
        max_per_hour.entry(log.name).or_insert(log.max_per_hour);
        Alerter::new(
            &self.alerting,
            &self.business.name,
            max_per_hour,
            &self.services,
            &self.maintenance,
        )
    }

    /// The environment variables the config reads secrets from (`env:NAME`),
    /// each once. Found in the serialized config,
    /// where every [`Secret`](crate::secret::Secret) from the environment is
    /// written `env:NAME`, so a secret field added later is found too.
    pub fn env_secrets(&self) -> Vec<String> {
        fn walk(value: &serde_json::Value, names: &mut Vec<String>) {
            match value {
                serde_json::Value::String(text) => {
                    if let Some(name) = text.strip_prefix("env:")
                        && !names.iter().any(|known| known == name)
                    {
                        names.push(name.to_owned());
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, names)),
                serde_json::Value::Object(fields) => fields.values().for_each(|v| walk(v, names)),
                _ => {}
            }
        }
        let mut names = Vec::new();
        if let Ok(value) = serde_json::to_value(self) {
            walk(&value, &mut names);
        }
        names
    }
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

impl AgentConfig {
    /// The database file: in `data_dir`, else in the operating system's
    /// per-user data folder. Every command that reads or writes the history
    /// finds it here.
    pub fn database_path(&self) -> Result<PathBuf, String> {
        self.database_path_in(dirs::data_local_dir())
    }

    /// [`Self::database_path`] with the per-user data folder given, as the
    /// system names it: `None` when it cannot tell (a user without a home
    /// folder), which matters only when `data_dir` is not set.
    pub fn database_path_in(&self, user_data: Option<PathBuf>) -> Result<PathBuf, String> {
        let dir = if self.data_dir.as_os_str().is_empty() {
            user_data.map(|dir| dir.join("keepwatch")).ok_or(
                "cannot tell where this user's data folder is; set data_dir in the [agent] section",
            )?
        } else {
            self.data_dir.clone()
        };
        Ok(dir.join("keepwatch.db"))
    }

    /// The name this host goes by in messages: `name`, else the computer's host name.
    pub fn host_name(&self) -> String {
        if self.name.is_empty() {
            sysinfo::System::host_name().unwrap_or_else(|_| "this-computer".to_owned())
        } else {
            self.name.clone()
        }
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
