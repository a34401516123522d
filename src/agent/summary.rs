//! What `keepwatch run` says when it starts: what it watches, where alerts
//! go, which settings file and data file it uses, and where the API answers.
//! Without it a new user stares at a quiet terminal, unsure whether anything
//! is watched at all or whether their email channel was picked up.

use std::fmt::Write as _;
use std::path::Path;

use crate::alert::Step;
use crate::checks::{CheckSpec, ServiceSpec};
use crate::config::{Config, Origin};
use crate::notify::Channel;
use crate::status::AgentState;

/// Services named one by one; the rest are counted.
const NAMED: usize = 6;

/// Where the settings came from, the data file, and the API's address
/// (`None` when it is off), as [`start_summary`] reports them.
#[derive(Debug, Clone, Copy)]
pub struct Whereabouts<'a> {
    /// The settings file (which may not exist yet).
    pub settings: &'a Path,
    /// Whether the settings came from it, its last good copy or the defaults.
    pub origin: &'a Origin,
    /// The database file.
    pub database: &'a Path,
    /// Where the API answers, e.g. `http://127.0.0.1:8970/api/v1`.
    pub api: Option<&'a str>,
}

/// A few lines for the person who started `keepwatch run`.
pub fn start_summary(config: &Config, host: &str, at: Whereabouts<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "keepwatch is watching this computer ({host}) {}",
        services(&config.services)
    );
    let _ = writeln!(out, "Alerts: {}", alerts(config));
    let settings = crate::status::SettingsInUse {
        path: at.settings,
        origin: at.origin,
    };
    out.push_str(&crate::status::settings_lines(
        settings,
        AgentState::Running,
    ));
    let _ = writeln!(out, "Data: {}", at.database.display());
    let _ = writeln!(
        out,
        "API: {}",
        at.api.unwrap_or("off ([api] enabled = false)")
    );
    out.push_str("`keepwatch status` shows how everything is doing.\n");
    out
}

/// "and 2 services: Web shop (critical, every 10 seconds), …; each is checked now".
fn services(services: &[ServiceSpec]) -> String {
    if services.is_empty() {
        return "and no services yet: add them to the settings file (README, section 4)."
            .to_owned();
    }
    let mut named: Vec<String> = services
        .iter()
        .take(NAMED)
        .map(|spec| {
            let name = crate::printable::name(&spec.common.name);
            let every = match spec.check {
                CheckSpec::Heartbeat(_) => "a heartbeat".to_owned(),
                _ => format!(
                    "every {}",
                    crate::plain::duration(spec.common.interval.std().as_secs_f64())
                ),
            };
            match spec.common.critical {
                true => format!("{name} (critical, {every})"),
                false => format!("{name} ({every})"),
            }
        })
        .collect();
    if services.len() > NAMED {
        named.push(format!("and {} more", services.len() - NAMED));
    }
    let count = match services.len() {
        1 => "1 service".to_owned(),
        n => format!("{n} services"),
    };
    format!(
        "and {count}: {}. Each is checked now, then on its interval.",
        named.join(", ")
    )
}

/// Where alerts go in and out of opening hours, or how to get them by email.
fn alerts(config: &Config) -> String {
    let (open_names, open) = reach(&config.alerting.business_hours, &config.channels);
    let (closed_names, closed) = reach(&config.alerting.off_hours, &config.channels);
    let only_log = open_names
        .iter()
        .chain(&closed_names)
        .all(|name| *name == Channel::LOG);
    if only_log {
        return "only to keepwatch's log so far. To get them by email, add an email channel (README, section 6) and try it with `keepwatch alert test`."
            .to_owned();
    }
    if open == closed {
        format!("{open}; outside opening hours only emergencies, the same way.")
    } else {
        format!("in opening hours {open}; outside them only emergencies, {closed}.")
    }
}

/// The channels the steps name, each once, and how they deliver, in words.
fn reach<'a>(steps: &'a [Step], channels: &[Channel]) -> (Vec<&'a str>, String) {
    let mut names: Vec<&str> = Vec::new();
    for name in steps.iter().flat_map(|step| &step.notify) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let reaches: Vec<String> = names
        .iter()
        .map(|name| Channel::reach_of(name, channels))
        .collect();
    let words = reaches.join(" and ");
    (names, words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn config(text: &str) -> Config {
        crate::config::parse(Path::new("k.toml"), text).unwrap()
    }

    fn summary(config: &Config, origin: &Origin, api: Option<&str>) -> String {
        let settings = PathBuf::from("/home/anna/.config/keepwatch/keepwatch.toml");
        let database = PathBuf::from("/home/anna/.local/share/keepwatch/keepwatch.db");
        let at = Whereabouts {
            settings: &settings,
            origin,
            database: &database,
            api,
        };
        start_summary(config, "web1", at)
    }

    const TWO_AND_EMAIL: &str = r#"
[alerting]
business_hours = [{ after = "0m", notify = ["log", "admin-email"] }]
off_hours = [{ after = "0m", notify = ["admin-email"] }]

[[channel]]
name = "admin-email"
type = "email"
server = "127.0.0.1"
port = 25
security = "plain"
from = "keepwatch@example.com"
to = ["anna@example.com"]

[[service]]
name = "Web shop"
type = "http"
url = "http://127.0.0.1:8080/"
critical = true
interval = "10s"

[[service]]
name = "Stock database"
type = "tcp"
host = "127.0.0.1"
port = 5432
"#;

    #[test]
    fn it_says_what_is_watched_where_alerts_go_and_where_everything_is() {
        let text = summary(
            &config(TWO_AND_EMAIL),
            &Origin::File,
            Some("http://127.0.0.1:8970/api/v1"),
        );
        assert_eq!(
            text,
            "keepwatch is watching this computer (web1) and 2 services: Web shop (critical, every 10 seconds), Stock database (every 30 seconds). Each is checked now, then on its interval.\n\
             Alerts: in opening hours to keepwatch's log and by email to anna@example.com; outside them only emergencies, by email to anna@example.com.\n\
             Settings: /home/anna/.config/keepwatch/keepwatch.toml\n\
             Data: /home/anna/.local/share/keepwatch/keepwatch.db\n\
             API: http://127.0.0.1:8970/api/v1\n\
             `keepwatch status` shows how everything is doing.\n"
        );
    }

    #[test]
    fn with_the_defaults_it_says_how_to_get_alerts_by_email() {
        let text = summary(&Config::default(), &Origin::Defaults, None);
        assert!(
            text.contains("this computer (web1) and no services yet: add them to the settings file (README, section 4)."),
            "{text}"
        );
        assert!(
            text.contains("Alerts: only to keepwatch's log so far. To get them by email, add an email channel (README, section 6)"),
            "{text}"
        );
        assert!(
            text.contains("Settings: none yet, the built-in defaults (`keepwatch init` writes /home/anna/.config/keepwatch/keepwatch.toml)"),
            "{text}"
        );
        assert!(text.contains("API: off ([api] enabled = false)"), "{text}");
    }

    #[test]
    fn on_the_last_good_copy_it_says_so() {
        let broken = crate::config::parse(Path::new("k.toml"), "[collect]\ncpu = 5\n").unwrap_err();
        let text = summary(&config(TWO_AND_EMAIL), &Origin::LastGood(broken), None);
        assert!(
            text.contains("Settings: /home/anna/.config/keepwatch/keepwatch.toml HAS a mistake, so keepwatch is running on the last good version of the file (/home/anna/.config/keepwatch/keepwatch.toml.last-good) until you fix it, and picks the fix up within seconds:\n  line 2, column 7: `collect.cpu`"),
            "{text}"
        );
    }

    #[test]
    fn many_services_are_counted_not_listed() {
        let text: String = (0..1000)
            .map(|i| {
                format!("[[service]]\nname = \"s{i}\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\n")
            })
            .collect();
        let summary = summary(&config(&text), &Origin::File, None);
        let first = summary.lines().next().unwrap();
        assert!(
            first.ends_with("and 1000 services: s0 (every 30 seconds), s1 (every 30 seconds), s2 (every 30 seconds), s3 (every 30 seconds), s4 (every 30 seconds), s5 (every 30 seconds), and 994 more. Each is checked now, then on its interval."),
            "{first}"
        );
    }
}
