//! `keepwatch doctor`: is this machine ready to monitor, and if not, what
//! exactly to do about it? One line per finding (ok, warning, problem), with
//! the fix, and an exit code a script can use (the Nagios convention: 0 all
//! ok, 1 warnings, 2 problems).
//!
//! Each area is its own function of the machine state it reads, so a test can
//! put the machine in the state that provokes a finding: `machine` (the data
//! folder, ping permission, the clock), `secrets` (whether the passwords the
//! config reads from the environment reach keepwatch in the background) and
//! `reach` (the config, channels, services, the agent itself). Nothing here changes the machine: the config
//! and the database are only read, and a channel only sends with `--send`.

mod machine;
mod reach;
mod secrets;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::calendar::Calendar;
use crate::clock::Clock;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// As it should be.
    Ok,
    /// Works, but something will bite later or is not set up yet.
    Warning,
    /// Monitoring or alerting does not work as configured.
    Problem,
}

/// What part of the set-up a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// The config file.
    Config,
    /// The data folder and the database.
    Data,
    /// Permission to send pings.
    Ping,
    /// This computer's clock.
    Clock,
    /// Passwords the config reads from the environment (`env:NAME`).
    Secret,
    /// An alert channel.
    Channel,
    /// A watched service.
    Service,
    /// keepwatch running in the background.
    Agent,
    /// Newer releases (`[update]`).
    Update,
}

impl Area {
    fn label(self) -> &'static str {
        match self {
            Self::Config => "Config",
            Self::Data => "Data",
            Self::Ping => "Ping",
            Self::Clock => "Clock",
            Self::Secret => "Secrets",
            Self::Channel => "Channel",
            Self::Service => "Service",
            Self::Agent => "keepwatch",
            Self::Update => "Update",
        }
    }
}

/// One thing doctor found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it is about.
    pub area: Area,
    /// How serious it is.
    pub level: Level,
    /// What was found, in plain words.
    pub text: String,
    /// What to do about it, when anything is to be done.
    pub fix: Option<String>,
}

impl Finding {
    fn new(area: Area, level: Level, text: impl Into<String>) -> Self {
        Self {
            area,
            level,
            text: text.into(),
            fix: None,
        }
    }

    fn ok(area: Area, text: impl Into<String>) -> Self {
        Self::new(area, Level::Ok, text)
    }

    fn warning(area: Area, text: impl Into<String>) -> Self {
        Self::new(area, Level::Warning, text)
    }

    fn problem(area: Area, text: impl Into<String>) -> Self {
        Self::new(area, Level::Problem, text)
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Everything doctor found, in the order it looked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The findings, one per line of the text form.
    pub findings: Vec<Finding>,
}

impl Report {
    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// 0 when all is well, 1 with warnings only, 2 with any problem.
    pub fn exit_code(&self) -> u8 {
        match self.findings.iter().map(|f| f.level).max() {
            Some(Level::Problem) => 2,
            Some(Level::Warning) => 1,
            _ => 0,
        }
    }

    /// One line per finding, its fix on the next, and a closing summary.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for finding in &self.findings {
            let mark = match finding.level {
                Level::Ok => "ok     ",
                Level::Warning => "WARNING",
                Level::Problem => "PROBLEM",
            };
            let _ = writeln!(text, "{mark}  {}: {}", finding.area.label(), finding.text);
            if let Some(fix) = &finding.fix {
                let _ = writeln!(text, "         Fix: {fix}");
            }
        }
        let (problems, warnings) = (self.count(Level::Problem), self.count(Level::Warning));
        let _ = match (problems, warnings) {
            (0, 0) => writeln!(text, "\nAll is well: keepwatch is ready."),
            _ => writeln!(
                text,
                "\n{problems} {}, {warnings} {}.",
                plural(problems, "problem"),
                plural(warnings, "warning")
            ),
        };
        text
    }

    /// The findings and counts as JSON, for scripts.
    pub fn to_json(&self) -> String {
        let value = serde_json::json!({
            "exit_code": self.exit_code(),
            "problems": self.count(Level::Problem),
            "warnings": self.count(Level::Warning),
            "findings": self.findings,
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        noun.to_owned()
    } else {
        format!("{noun}s")
    }
}

/// What doctor is asked to look at.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The config file keepwatch would use.
    pub config_path: PathBuf,
    /// The file was named on the command line (so a missing one is a problem).
    pub explicit: bool,
    /// Send a real test message through each channel instead of only connecting.
    pub send: bool,
    /// This user's data folder as the system names it
    /// (`dirs::data_local_dir()`); `None` when it cannot tell (a user
    /// without a home folder). Used only when the config sets no `data_dir`.
    pub user_data: Option<PathBuf>,
}

/// Looks at everything, in the order a new admin would set it up.
pub async fn examine(options: &DoctorOptions, clock: Arc<dyn Clock>) -> Report {
    let (mut findings, config) = reach::config(&options.config_path, options.explicit);
    let Some(config) = config else {
        return Report { findings };
    };
    let zone = Calendar::from_config(&config.business, jiff::tz::TimeZone::system())
        .map(|calendar| calendar.time_zone().clone())
        .unwrap_or_else(|_| jiff::tz::TimeZone::system());
    match config.agent.database_path_in(options.user_data.clone()) {
        Ok(database) => {
            findings.extend(machine::data_folder(
                &database,
                &config.storage,
                &machine::free_space,
            ));
            findings.push(reach::agent(&database, clock.now(), &zone));
        }
        Err(why) => findings.push(Finding::problem(Area::Data, why)),
    }
    findings.push(machine::ping(
        &crate::checks::ping::icmp_access(),
        &config.services,
        &machine::PingContext::of_this_process(),
    ));
    // The services are checked once, now: their web answers' `Date`
    // headers tell the clock, and their findings come later in the report.
    let services = reach::services(&config, clock.clone()).await;
    findings.push(machine::clock(
        services
            .clock
            .as_ref()
            .map(|(name, ahead)| (name.as_str(), *ahead)),
    ));
    findings.extend(secrets::secrets(
        &options.config_path,
        &config.env_secrets(),
        &|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()),
    ));
    findings.extend(reach::channels(&config, options.send, &clock).await);
    findings.extend(services.findings);
    findings.push(release(&config.update, clock).await);
    Report { findings }
}

/// Whether a newer release is published on the configured channel, read as
/// `keepwatch update --check` reads it (signature and all).
async fn release(config: &crate::config::UpdateConfig, clock: Arc<dyn Clock>) -> Finding {
    use crate::deploy::update::{Offer, UpdateError, Updater, manifest::Version};
    if config.source.trim().is_empty() {
        return Finding::ok(
            Area::Update,
            "no [update] source is set, so keepwatch does not look for newer releases",
        );
    }
    // Loading the config already refused a bad channel or key, so an
    // updater that cannot be made is one more refusal like the others.
    let offer = async {
        Updater::new(config, &config.channel, clock)?
            .look(Version::current())
            .await
    }
    .await;
    let fix = "check source, channel and public_key in [update]; `keepwatch update --check` says the same";
    match offer {
        Ok(Offer::Latest(version)) => Finding::ok(
            Area::Update,
            format!(
                "keepwatch {version} is the latest {} release",
                config.channel
            ),
        ),
        Ok(Offer::Newer(release)) => Finding::warning(
            Area::Update,
            format!(
                "keepwatch {} is published (this one is {})",
                release.manifest.version,
                Version::current()
            ),
        )
        .fix("`keepwatch update` installs it"),
        Err(err @ (UpdateError::Unreachable { .. } | UpdateError::NoManifest(_))) => {
            Finding::warning(
                Area::Update,
                format!("cannot tell whether a newer release exists: {err}"),
            )
            .fix(fix)
        }
        Err(err) => Finding::problem(
            Area::Update,
            format!("the published release is refused: {err}"),
        )
        .fix(fix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(levels: &[Level]) -> Report {
        Report {
            findings: levels
                .iter()
                .map(|&level| Finding::new(Area::Config, level, "x").fix("do y"))
                .collect(),
        }
    }

    #[test]
    fn the_exit_code_follows_the_worst_finding() {
        assert_eq!(report(&[]).exit_code(), 0);
        assert_eq!(report(&[Level::Ok, Level::Ok]).exit_code(), 0);
        assert_eq!(report(&[Level::Ok, Level::Warning]).exit_code(), 1);
        assert_eq!(
            report(&[Level::Problem, Level::Warning, Level::Ok]).exit_code(),
            2
        );
    }

    #[test]
    fn the_text_has_a_line_per_finding_its_fix_and_a_summary() {
        let text = report(&[Level::Ok, Level::Warning, Level::Problem]).render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ok       Config: x");
        assert_eq!(lines[1], "         Fix: do y");
        assert_eq!(lines[2], "WARNING  Config: x");
        assert_eq!(lines[4], "PROBLEM  Config: x");
        assert_eq!(lines.last(), Some(&"1 problem, 1 warning."));
        assert!(
            report(&[Level::Ok])
                .render()
                .ends_with("All is well: keepwatch is ready.\n")
        );
        assert!(
            report(&[Level::Warning, Level::Warning])
                .render()
                .ends_with("0 problems, 2 warnings.\n")
        );
    }

    #[tokio::test]
    async fn a_user_without_a_data_folder_is_told_to_set_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("keepwatch.toml");
        std::fs::write(&config_path, "[agent]\nname = \"shop-server\"\n").unwrap();
        let options = DoctorOptions {
            config_path,
            explicit: true,
            send: false,
            user_data: None,
        };
        let report = examine(&options, Arc::new(crate::clock::SystemClock)).await;
        let data: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.area == Area::Data)
            .collect();
        assert_eq!(data.len(), 1, "{data:?}");
        assert_eq!(data[0].level, Level::Problem);
        assert_eq!(
            data[0].text,
            "cannot tell where this user's data folder is; set data_dir in the [agent] section"
        );
        // Without a database there is no agent to judge either.
        assert!(!report.findings.iter().any(|f| f.area == Area::Agent));
        assert_eq!(report.exit_code(), 2);
        assert!(
            report
                .render()
                .contains("PROBLEM  Data: cannot tell where this user's data folder is")
        );
    }

    #[test]
    fn the_json_has_counts_exit_code_and_each_finding() {
        let json: serde_json::Value =
            serde_json::from_str(&report(&[Level::Problem, Level::Ok]).to_json()).unwrap();
        assert_eq!(json["exit_code"], 2);
        assert_eq!(json["problems"], 1);
        assert_eq!(json["warnings"], 0);
        assert_eq!(json["findings"][0]["area"], "config");
        assert_eq!(json["findings"][0]["level"], "problem");
        assert_eq!(json["findings"][1]["fix"], "do y");
    }
}
