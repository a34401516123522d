//! After the swap: the installed background service is restarted on the new
//! binary, and the new version must show that it runs by writing its
//! version to the store when it starts (`state_key::VERSION`, with
//! `last_seen`), within `[update] health_timeout` (60 s by default). The
//! store is the proof because it is what matters: a keepwatch that cannot
//! open its database, read its config or start its runtime never writes
//! there. If it does not, the old binary goes back and the service is
//! restarted on it.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;

use super::manifest::Version;
use crate::deploy::service::{Context, Platform, Runner, ServiceError};
use crate::store::Store;
use crate::vocabulary::state_key;

/// How often the store is read while waiting for the new version.
const POLL: Duration = Duration::from_millis(250);

/// The background service, as an update needs it.
pub trait Service {
    /// Whether keepwatch is installed as a background service.
    fn installed(&self) -> bool;
    /// Stops it and starts it again, so it runs the binary now in place.
    fn restart(&self) -> Result<(), ServiceError>;
}

/// The service `keepwatch service install` made, through its platform.
pub struct Installed<'a> {
    /// This operating system's way.
    pub platform: &'a dyn Platform,
    /// The binary, config and data it runs with.
    pub context: &'a Context,
    /// Runs the platform's commands.
    pub runner: &'a dyn Runner,
}

impl Service for Installed<'_> {
    fn installed(&self) -> bool {
        self.platform.status(self.context, self.runner).is_ok()
    }

    fn restart(&self) -> Result<(), ServiceError> {
        // A service that is not running has nothing to stop; starting it
        // is what counts, and its error is reported.
        let _ = self.platform.stop(self.context, self.runner);
        self.platform.start(self.context, self.runner).map(|_| ())
    }
}

/// Whether the agent writing `database` started as `version` at or after
/// `since`.
pub fn reports_running(database: &Path, version: Version, since: Timestamp) -> bool {
    if !database.exists() {
        return false;
    }
    let Ok(store) = Store::open(database, &Default::default()) else {
        return false;
    };
    let said = |key| store.state(key).ok().flatten();
    let right_version =
        said(state_key::VERSION).and_then(|text| Version::parse(&text)) == Some(version);
    let seen = said(state_key::LAST_SEEN).and_then(|text| text.parse::<Timestamp>().ok());
    right_version && seen.is_some_and(|at| at >= since)
}

/// Asks `healthy` until it says yes or `within` has passed (tokio's time,
/// so a test with paused time waits a minute in no time).
pub async fn wait_until(healthy: impl Fn() -> bool, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if healthy() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::deploy::service::Linux;
    use crate::deploy::service::testing::{Recorder, context};

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_when_healthy_or_after_the_time_given() {
        let asked = Cell::new(0);
        let start = tokio::time::Instant::now();
        let never = wait_until(
            || {
                asked.set(asked.get() + 1);
                false
            },
            Duration::from_secs(60),
        )
        .await;
        assert!(!never);
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        assert_eq!(asked.get(), 241);
        let third = wait_until(
            || asked.replace(asked.get() + 1) >= 243,
            Duration::from_secs(60),
        )
        .await;
        assert!(third);
    }

    #[test]
    fn running_means_this_version_seen_since_the_restart() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keepwatch.db");
        let since: Timestamp = "2026-12-07T03:00:00Z".parse().unwrap();
        assert!(!reports_running(&database, Version(0, 2, 0), since));
        let mut store = Store::open(&database, &Default::default()).unwrap();
        assert!(!reports_running(&database, Version(0, 2, 0), since));
        store
            .set_states(&[
                (state_key::VERSION, "0.2.0"),
                (state_key::LAST_SEEN, "2026-12-07T02:59:59Z"),
            ])
            .unwrap();
        assert!(!reports_running(&database, Version(0, 2, 0), since));
        store
            .set_state(state_key::LAST_SEEN, "2026-12-07T03:00:01Z")
            .unwrap();
        assert!(reports_running(&database, Version(0, 2, 0), since));
        assert!(!reports_running(&database, Version(0, 3, 0), since));
        std::fs::write(dir.path().join("junk.db"), "not a database").unwrap();
        assert!(!reports_running(
            &dir.path().join("junk.db"),
            Version(0, 2, 0),
            since
        ));
    }

    #[test]
    fn the_installed_service_is_stopped_then_started_through_its_platform() {
        let home = tempfile::tempdir().unwrap();
        let context = context(home.path());
        let runner = Recorder::default().reply("show-environment", true, "", "");
        std::fs::create_dir_all(home.path().join(".config/systemd/user")).unwrap();
        let service = Installed {
            platform: &Linux,
            context: &context,
            runner: &runner,
        };
        assert!(!service.installed());
        std::fs::write(
            home.path().join(".config/systemd/user/keepwatch.service"),
            Linux.files(&context)[0].1.clone(),
        )
        .unwrap();
        assert!(service.installed());
        service.restart().unwrap();
        let commands = runner.commands();
        let controls: Vec<&String> = commands
            .iter()
            .filter(|c| c.contains(" stop ") || c.contains(" start "))
            .collect();
        assert_eq!(
            controls,
            [
                "systemctl --user stop keepwatch.service",
                "systemctl --user start keepwatch.service"
            ]
        );
    }
}
