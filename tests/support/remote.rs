//! An agent walked through simulated time against a real SQLite file, and
//! what a store holds of one host's history, to compare an agent's store
//! with its hub's sample by sample (tests/hub.rs, tests/hub_faults.rs).

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use keepwatch::agent::Agent;
use keepwatch::agent::uplink::Uplink;
use keepwatch::checks::CheckOutcome;
use keepwatch::clock::{Clock, SimClock};
use keepwatch::collect::{Scenario, SimulatedHost};
use keepwatch::config::Config;
use keepwatch::observation::SeriesKey;
use keepwatch::store::{StorageConfig, Store};

/// An agent named `name` on a simulated host, walked through simulated time.
pub struct Remote {
    pub dir: tempfile::TempDir,
    pub agent: Agent,
    pub clock: SimClock,
    pub config: Config,
    pub name: String,
}

impl Remote {
    /// An agent of two TCP services (`shop`, critical, and `db`) sending
    /// to `hub_url` with `token`, its history capped at `max_size` bytes.
    pub fn new(clock: &SimClock, name: &str, hub_url: &str, token: &str, max_size: u64) -> Remote {
        let settings = format!(
            "[hub]\nurl = \"{hub_url}\"\ntoken = \"{token}\"\n\
             [[service]]\nname = \"shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\ncritical = true\n\
             [[service]]\nname = \"db\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 2\n"
        );
        Self::with_settings(clock, name, &settings, max_size)
    }

    /// An agent of `settings` (TOML after `[business]`), its history capped
    /// at `max_size` bytes.
    pub fn with_settings(clock: &SimClock, name: &str, settings: &str, max_size: u64) -> Remote {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("[business]\ntimezone = \"UTC\"\n{settings}");
        let mut config =
            keepwatch::config::parse(&dir.path().join("keepwatch.toml"), &text).unwrap();
        // Smaller than the file allows (10 MB), so a day's backlog meets it.
        config.storage.max_size = keepwatch::units::ByteSize(max_size);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let store = Store::open(&dir.path().join("agent.db"), &config.storage).unwrap();
        let agent = Agent::new(
            config.clone(),
            name.into(),
            shared.clone(),
            Box::new(SimulatedHost::new(Scenario::Idle, shared).with_cpu_count(2)),
            store,
        );
        Remote {
            dir,
            agent,
            clock: clock.clone(),
            config,
            name: name.into(),
        }
    }

    pub fn database(&self) -> PathBuf {
        self.dir.path().join("agent.db")
    }

    pub fn uplink(&self) -> Uplink {
        let store = Store::open(&self.database(), &self.config.storage).unwrap();
        Uplink::new(store, Arc::new(self.clock.clone()), self.name.clone())
    }

    /// Runs the agent as `run` would for `length` of simulated time; each
    /// check it starts gets `outcome(service, time)`.
    pub fn run_for(
        &mut self,
        length: SignedDuration,
        outcome: impl Fn(&str, Timestamp) -> CheckOutcome,
    ) {
        let end = self.clock.now() + length;
        loop {
            let tick = self.agent.tick();
            let now = self.clock.now();
            for spec in &tick.checks {
                self.agent
                    .check_finished(&spec.common.name, outcome(&spec.common.name, now));
            }
            if !tick.checks.is_empty() {
                self.agent.save_check_results();
            }
            if tick.wake > end {
                self.clock.set(end);
                return;
            }
            self.clock.set(tick.wake.max(now));
        }
    }

    /// Stops the agent as `run` does when it ends and leaves its database
    /// as `to`, for a real keepwatch to start from.
    pub fn stop_into(mut self, to: &Path) {
        self.agent.shutdown();
        drop(self.agent);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(self.dir.path().join("agent.db"), to).unwrap();
    }
}

/// One host's history in a store: each series (without the host) and its
/// points up to `to`, values to the hundredth the history keeps.
pub type History = Vec<((String, String), Vec<(i64, i64)>)>;

/// Everything `database` holds of `host`'s series up to `to`.
pub fn history(database: &Path, host: &str, to: Timestamp) -> History {
    let store = Store::open(database, &StorageConfig::default()).unwrap();
    let from: Timestamp = "2000-01-01T00:00:00Z".parse().unwrap();
    let mut all: History = store
        .series()
        .unwrap()
        .into_iter()
        .filter(|key: &SeriesKey| key.host == host)
        .map(|key| {
            let points = store
                .range(&key, from, to)
                .unwrap()
                .into_iter()
                .map(|(at, v)| (at.as_millisecond(), (v * 100.0).round() as i64))
                .collect();
            ((key.metric, key.instance), points)
        })
        .filter(|(_, points): &(_, Vec<_>)| !points.is_empty())
        .collect();
    all.sort();
    all
}

/// The count and a checksum of a history, to say in one line what differs.
pub fn summary(history: &History) -> (usize, i64) {
    history.iter().fold((0, 0i64), |(n, sum), (_, points)| {
        let s = points.iter().fold(0i64, |acc, (t, v)| {
            acc.wrapping_mul(31).wrapping_add(*t).wrapping_add(*v)
        });
        (n + points.len(), sum.wrapping_add(s))
    })
}

/// `PRAGMA integrity_check` on a database file: "ok", or what is wrong.
pub fn integrity(database: &Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|err| panic!("{}: {err}", database.display()));
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.join("; ")
}
