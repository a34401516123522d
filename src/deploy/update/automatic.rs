//! `[update] automatic = true`: when `keepwatch run` looks for a release by
//! itself. Once a day, at a minute drawn at random among that day's closed
//! minutes (the business calendar), so a fleet of shops does not hit the
//! release server at the same moment and nobody's working day is touched.
//! At that minute the update is skipped, until the next day's minute, if
//! the business is open by then (the computer slept past the minute) or
//! an emergency alert is open: an update restarts keepwatch, and an
//! emergency is when it must keep watching. A business open around the
//! clock all week gets no automatic updates, and is told so. A reload of
//! the config (SIGHUP or an edit of the file) that turns them on or off or
//! changes the opening hours takes effect at once: a new minute is drawn
//! from the new hours.
//!
//! Pure decisions over an injected time and an injected random draw; tests
//! walk simulated weeks minute by minute.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;

/// How many days ahead a closed minute is looked for.
const LOOK_AHEAD_DAYS: i32 = 7;

/// What to do at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Not the chosen minute yet.
    Wait,
    /// The chosen minute: look for a release and install it.
    Update,
    /// The chosen minute, but not now: why, in words.
    Skip(&'static str),
}

/// The day's chosen minute and how the next one is drawn.
pub struct Schedule {
    calendar: Calendar,
    random: Box<dyn FnMut() -> u64 + Send>,
    next: Option<Timestamp>,
}

impl Schedule {
    /// A schedule from `now`: the first look is on the next day.
    pub fn new(calendar: Calendar, now: Timestamp, random: Box<dyn FnMut() -> u64 + Send>) -> Self {
        let mut schedule = Self {
            calendar,
            random,
            next: None,
        };
        schedule.next = schedule.draw_after(now);
        schedule
    }

    /// When the next look is due; `None` when the business never closes.
    pub fn next(&self) -> Option<Timestamp> {
        self.next
    }

    /// What to do at `now`; `emergency` says whether an emergency alert is
    /// open, and is asked only at the chosen minute.
    pub fn step(&mut self, now: Timestamp, emergency: impl FnOnce() -> bool) -> Step {
        match self.next {
            Some(due) if now >= due => {}
            _ => return Step::Wait,
        }
        self.next = self.draw_after(now);
        if self.calendar.period_at(now).is_open() {
            Step::Skip("the business is open now")
        } else if emergency() {
            Step::Skip("an emergency alert is open")
        } else {
            Step::Update
        }
    }

    /// A random closed minute of the first day after `now`'s (local) day
    /// that has one.
    fn draw_after(&mut self, now: Timestamp) -> Option<Timestamp> {
        let zone = self.calendar.time_zone().clone();
        let today = now.to_zoned_datetime(zone.clone()).date();
        (1..=LOOK_AHEAD_DAYS).find_map(|ahead| {
            let day = today.checked_add(jiff::Span::new().days(ahead)).ok()?;
            let closed = self.closed_minutes(day, &zone)?;
            let pick = (self.random)() % u64::try_from(closed.len()).ok()?.max(1);
            closed.get(usize::try_from(pick).ok()?).copied()
        })
    }

    /// Every minute of `day` (local) outside business hours; `None` past
    /// the last day time can be told for.
    fn closed_minutes(&self, day: Date, zone: &jiff::tz::TimeZone) -> Option<Vec<Timestamp>> {
        let midnight = |day: Date| zone.to_timestamp(day.to_datetime(Time::midnight())).ok();
        let (start, end) = (midnight(day)?, midnight(day.tomorrow().ok()?)?);
        let minutes = (0..)
            .map(|minute| start + SignedDuration::from_mins(minute))
            .take_while(|at| *at < end)
            .filter(|at| !self.calendar.period_at(*at).is_open());
        Some(minutes.collect())
    }
}

/// How `run` starts an update: the update restarts the service `run` is
/// part of, so it must live apart from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// This keepwatch binary.
    pub binary: PathBuf,
    /// The config file `run` uses.
    pub config: PathBuf,
    /// `run` is a systemd service: stopping it ends every process it
    /// started, so the update runs in a unit of its own (`systemd-run`).
    pub under_systemd: bool,
}

impl Launch {
    /// The command line that starts `keepwatch update`.
    pub fn command(&self) -> Vec<String> {
        let update = [
            self.binary.display().to_string(),
            "--config".to_owned(),
            self.config.display().to_string(),
            "update".to_owned(),
        ];
        let prefix: &[&str] = if self.under_systemd {
            &["systemd-run", "--user", "--collect", "--quiet"]
        } else {
            &[]
        };
        prefix
            .iter()
            .map(|s| (*s).to_owned())
            .chain(update)
            .collect()
    }

    /// Starts it, writing what it says to `log`; it is not waited for.
    fn start(&self, log: &Path) -> std::io::Result<()> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let command = self.command();
        std::process::Command::new(&command[0])
            .args(&command[1..])
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map(drop)
    }
}

/// Whether an emergency alert is open in `database`.
fn emergency_open(database: &Path) -> bool {
    Store::open(database, &Default::default())
        .and_then(|store| store.open_alerts())
        .is_ok_and(|alerts| alerts.iter().any(|alert| alert.emergency))
}

/// A fresh source of random draws for a [`Schedule`].
type Draws = Box<dyn FnMut() -> u64 + Send>;

/// Random draws from the system's secure generator.
fn system_draws() -> Draws {
    let random = ring::rand::SystemRandom::new();
    Box::new(move || {
        let mut bytes = [0; 8];
        // A failed draw gives minute 0 of the closed hours: still closed.
        let _ = ring::rand::SecureRandom::fill(&random, &mut bytes);
        u64::from_le_bytes(bytes)
    })
}

/// The schedule `config` asks for from `now`, saying so in the log; `None`
/// when automatic updates are off or cannot happen.
fn plan(config: &Config, now: Timestamp, draws: Draws) -> Option<Schedule> {
    if !config.update.automatic {
        return None;
    }
    // Validation rules out hours that make no calendar; said all the same.
    let calendar = Calendar::from_config(&config.business, jiff::tz::TimeZone::system())
        .inspect_err(|err| tracing::error!("automatic updates are off: {err}"))
        .ok()?;
    let schedule = Schedule::new(calendar, now, draws);
    match schedule.next() {
        Some(at) => tracing::info!("automatic updates: the next look for a release is at {at}"),
        None => tracing::warn!(
            "automatic updates are on but the business never closes, and keepwatch updates only outside opening hours: run `keepwatch update` yourself"
        ),
    }
    schedule.next().map(|_| schedule)
}

/// A task that follows the configuration in force (`configs`, told of
/// every reload): while `[update] automatic` is true it looks once a minute
/// whether the day's chosen minute has come, and starts `keepwatch update`
/// then. Turning it on or off, or changing the opening hours, takes effect
/// at the reload: a new minute is drawn from the new hours. Its report goes
/// to `keepwatch-update.log` beside the database. It ends when `configs`
/// does (the agent stopped).
pub fn spawn(
    configs: watch::Receiver<Config>,
    database: &Path,
    launch: Launch,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(follow(
        configs,
        database.to_path_buf(),
        launch,
        clock,
        system_draws,
    ))
}

async fn follow(
    mut configs: watch::Receiver<Config>,
    database: PathBuf,
    launch: Launch,
    clock: Arc<dyn Clock>,
    draws: impl Fn() -> Draws,
) {
    let log = database.with_file_name("keepwatch-update.log");
    let mut minutes = tokio::time::interval(std::time::Duration::from_secs(60));
    // What the schedule was planned from: the switch and the opening hours.
    let mut planned_for = None;
    let mut schedule = None;
    loop {
        {
            let config = configs.borrow_and_update();
            let wanted = (config.update.automatic, config.business.clone());
            if planned_for.as_ref() != Some(&wanted) {
                if planned_for.is_some() && !wanted.0 {
                    tracing::info!("automatic updates are now off");
                }
                schedule = plan(&config, clock.now(), draws());
                planned_for = Some(wanted);
            }
        }
        tokio::select! {
            changed = configs.changed() => if changed.is_err() { return },
            _ = minutes.tick(), if schedule.is_some() => {
                let done = schedule.as_mut().and_then(|schedule| {
                    look(schedule, clock.now(), || emergency_open(&database), &launch, &log)
                });
                match done {
                    Some(Ok(said)) => tracing::info!("{said}"),
                    Some(Err(said)) => tracing::error!("{said}"),
                    None => {}
                }
            }
        }
    }
}

/// One minute's step of `schedule`, acted on; what to log, if anything
/// (an error when the update could not be started).
fn look(
    schedule: &mut Schedule,
    now: Timestamp,
    emergency: impl FnOnce() -> bool,
    launch: &Launch,
    log: &Path,
) -> Option<Result<String, String>> {
    let step = schedule.step(now, emergency);
    let next = schedule.next().map(|at| at.to_string()).unwrap_or_default();
    match step {
        Step::Wait => None,
        Step::Skip(why) => Some(Ok(format!(
            "automatic update skipped: {why}; the next look is at {next}"
        ))),
        Step::Update => Some(match launch.start(log) {
            Ok(()) => Ok(format!(
                "automatic update: looking for a release; what it does is written to {}",
                log.display()
            )),
            Err(err) => Err(format!(
                "automatic update could not start `{}`: {err}; the next look is at {next}",
                launch.command().join(" ")
            )),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::BusinessConfig;
    use crate::clock::{Clock, SimClock};

    /// Weekdays 09:00-17:00, Saturday 10:00-14:00, Sunday closed (Berlin).
    fn shop(sunday: &str) -> Calendar {
        let mut business = BusinessConfig {
            timezone: "Europe/Berlin".to_owned(),
            ..BusinessConfig::default()
        };
        business.hours.saturday = "10:00-14:00".to_owned();
        business.hours.sunday = sunday.to_owned();
        Calendar::from_config(&business, jiff::tz::TimeZone::UTC).unwrap()
    }

    /// A simple, deterministic random draw (splitmix64).
    fn draws(seed: u64) -> Box<dyn FnMut() -> u64 + Send> {
        let mut state = seed;
        Box::new(move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    }

    /// Walks `days` minute by minute from Monday 1 Dec 2025, 00:00 Berlin
    /// (looks start the next day); the moments of each step but Wait.
    fn walk(
        calendar: Calendar,
        days: i64,
        emergency: impl Fn(Timestamp) -> bool,
    ) -> Vec<(Timestamp, Step)> {
        let clock = SimClock::new("2025-11-30T23:00:00Z".parse().unwrap());
        let mut schedule = Schedule::new(calendar, clock.now(), draws(7));
        let mut seen = Vec::new();
        for _ in 0..days * 24 * 60 {
            clock.advance(SignedDuration::from_mins(1));
            let now = clock.now();
            match schedule.step(now, || emergency(now)) {
                Step::Wait => {}
                step => seen.push((now, step)),
            }
        }
        seen
    }

    #[test]
    fn once_a_day_at_a_random_closed_minute_over_two_weeks() {
        let calendar = shop("closed");
        let seen = walk(calendar.clone(), 14, |_| false);
        assert_eq!(seen.len(), 13, "{seen:?}");
        let zone = calendar.time_zone().clone();
        let mut days = Vec::new();
        let mut minutes = Vec::new();
        for (at, step) in &seen {
            assert_eq!(*step, Step::Update);
            assert!(
                !calendar.period_at(*at).is_open(),
                "{at} is in opening hours"
            );
            let local = at.to_zoned_datetime(zone.clone());
            days.push(local.date());
            minutes.push(local.time());
        }
        days.dedup();
        assert_eq!(days.len(), 13, "one look per day: {days:?}");
        minutes.sort();
        minutes.dedup();
        assert!(
            minutes.len() > 10,
            "the minute is drawn anew each day: {minutes:?}"
        );
    }

    #[test]
    fn an_open_emergency_or_changed_hours_skip_that_days_look() {
        let calendar = shop("closed");
        let emergency_day: Date = "2025-12-04".parse().unwrap();
        let zone = calendar.time_zone().clone();
        let seen = walk(calendar.clone(), 7, |now| {
            now.to_zoned_datetime(zone.clone()).date() == emergency_day
        });
        let skipped: Vec<_> = seen
            .iter()
            .filter(|(_, step)| *step != Step::Update)
            .collect();
        assert_eq!(skipped.len(), 1, "{seen:?}");
        assert_eq!(skipped[0].1, Step::Skip("an emergency alert is open"));
        assert_eq!(skipped[0].0.to_zoned_datetime(zone).date(), emergency_day);
        assert_eq!(seen.len(), 6);

        // The minute was drawn while closed, and the shop opened since.
        let mut schedule = Schedule::new(
            shop("closed"),
            "2025-12-01T11:00:00Z".parse().unwrap(),
            draws(1),
        );
        let due = schedule.next().unwrap();
        let open_now: Timestamp = "2025-12-03T10:00:00Z".parse().unwrap();
        assert!(due < open_now);
        assert_eq!(
            schedule.step(open_now, || false),
            Step::Skip("the business is open now")
        );
        assert!(schedule.next().unwrap() > open_now);
    }

    #[test]
    fn the_update_runs_apart_from_the_service_and_writes_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Launch {
            binary: PathBuf::from("/bin/echo"),
            config: dir.path().join("keepwatch.toml"),
            under_systemd: false,
        };
        let log = dir.path().join("keepwatch-update.log");
        plain.start(&log).unwrap();
        let expected = format!("--config {} update\n", plain.config.display());
        for _ in 0..100 {
            if std::fs::read_to_string(&log).unwrap_or_default() == expected {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(std::fs::read_to_string(&log).unwrap(), expected);
        assert!(plain.start(dir.path()).is_err());
        let systemd = Launch {
            under_systemd: true,
            ..plain
        };
        assert_eq!(
            systemd.command()[..5],
            ["systemd-run", "--user", "--collect", "--quiet", "/bin/echo"]
        );
    }

    #[test]
    fn an_open_emergency_is_read_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keepwatch.db");
        assert!(!emergency_open(&database));
        let mut store = Store::open(&database, &Default::default()).unwrap();
        assert!(!emergency_open(&database));
        store
            .insert_alert(&crate::store::NewAlert {
                fingerprint: "service:Shop",
                service: Some("Shop"),
                host: "shop-server",
                title: "Shop is down",
                detail: "Shop refused the connection",
                severity: crate::vocabulary::Severity::Critical,
                emergency: true,
                opened_at: "2025-12-01T11:00:00Z".parse().unwrap(),
                policy: None,
                silenced: None,
                flapping: false,
                cause: None,
            })
            .unwrap();
        assert!(emergency_open(&database));
    }

    #[test]
    fn the_log_says_why_a_look_was_skipped_or_could_not_start() {
        let dir = tempfile::tempdir().unwrap();
        let launch = Launch {
            binary: PathBuf::from("/bin/echo"),
            config: dir.path().join("keepwatch.toml"),
            under_systemd: false,
        };
        let log = dir.path().join("keepwatch-update.log");
        let start: Timestamp = "2025-12-01T11:00:00Z".parse().unwrap();
        let mut schedule = Schedule::new(shop("closed"), start, draws(5));
        assert_eq!(look(&mut schedule, start, || true, &launch, &log), None);
        let due = schedule.next().unwrap();
        let said = look(&mut schedule, due, || true, &launch, &log);
        let next = schedule.next().unwrap();
        assert_eq!(
            said,
            Some(Ok(format!(
                "automatic update skipped: an emergency alert is open; the next look is at {next}"
            )))
        );
        assert!(!log.exists());
        // The log cannot be written (a folder is in its place).
        std::fs::create_dir(&log).unwrap();
        let Some(Err(said)) = look(&mut schedule, next, || false, &launch, &log) else {
            panic!("the update started");
        };
        assert!(
            said.starts_with(&format!(
                "automatic update could not start `/bin/echo --config {} update`: ",
                launch.config.display()
            )),
            "{said}"
        );
        assert!(
            said.ends_with(&format!(
                "; the next look is at {}",
                schedule.next().unwrap()
            )),
            "{said}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_follows_each_reload_of_the_update_section_and_the_hours() {
        let dir = tempfile::tempdir().unwrap();
        let launch = Launch {
            binary: PathBuf::from("/bin/echo"),
            config: dir.path().join("keepwatch.toml"),
            under_systemd: false,
        };
        let sim = SimClock::new("2025-12-01T11:00:00Z".parse().unwrap());
        let clock: Arc<dyn Clock> = Arc::new(sim.clone());
        let database = dir.path().join("keepwatch.db");
        let log = dir.path().join("keepwatch-update.log");
        let (configs, followed) = watch::channel(Config::default());
        let task = spawn(followed, &database, launch, clock);
        // Two days pass under the configuration `configure` makes; then the
        // lines of the update log, once it has `expected` of them.
        let two_days = async |configure: &dyn Fn(&mut Config), expected: usize| {
            configs.send_modify(|config| configure(config));
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            sim.advance(SignedDuration::from_hours(48));
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
            let lines = || {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .lines()
                    .count()
            };
            for _ in 0..200 {
                if lines() >= expected {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            lines()
        };
        let closed = hours_all_week("closed");
        // Off by default: no look.
        assert_eq!(two_days(&|_| {}, 0).await, 0);
        // Turned on by a reload: a look on the next day.
        let on = |config: &mut Config| {
            config.update.automatic = true;
            config.business = closed.clone();
        };
        assert_eq!(two_days(&on, 1).await, 1);
        // Turned off by a reload, then on again for a business that now
        // never closes: no look either time.
        assert_eq!(
            two_days(&|config| config.update.automatic = false, 1).await,
            1
        );
        let around_the_clock = |config: &mut Config| {
            config.update.automatic = true;
            config.business = always_open();
        };
        assert_eq!(two_days(&around_the_clock, 1).await, 1);
        // The hours change back: a look again. Had either quiet spell
        // started an update, the log would have a line more.
        assert_eq!(two_days(&on, 2).await, 2);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2);
        // The agent stopped: the task ends with it.
        drop(configs);
        task.await.unwrap();
    }

    /// Everything logged on this thread from now until the guard goes.
    fn logged() -> (
        Arc<std::sync::Mutex<Vec<u8>>>,
        tracing::subscriber::DefaultGuard,
    ) {
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || Log(writer.clone()))
            .finish();
        (lines, tracing::subscriber::set_default(subscriber))
    }

    struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_update_that_cannot_start_is_an_error_in_the_log() {
        let (lines, _guard) = logged();
        let dir = tempfile::tempdir().unwrap();
        // A folder where the update's log goes: it cannot be started.
        std::fs::create_dir(dir.path().join("keepwatch-update.log")).unwrap();
        let launch = Launch {
            binary: PathBuf::from("/bin/echo"),
            config: dir.path().join("keepwatch.toml"),
            under_systemd: false,
        };
        let sim = SimClock::new("2025-12-01T11:00:00Z".parse().unwrap());
        let mut config = Config::default();
        config.update.automatic = true;
        config.business = hours_all_week("closed");
        let (_configs, followed) = watch::channel(config);
        let database = dir.path().join("keepwatch.db");
        let task = spawn(followed, &database, launch, Arc::new(sim.clone()));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        sim.advance(SignedDuration::from_hours(48));
        tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        task.abort();
        let said = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
        assert!(
            said.contains("INFO keepwatch::deploy::update::automatic: automatic updates: the next look for a release is at "),
            "{said}"
        );
        assert!(
            said.contains("ERROR keepwatch::deploy::update::automatic: automatic update could not start `/bin/echo --config "),
            "{said}"
        );
    }

    fn always_open() -> BusinessConfig {
        hours_all_week("00:00-24:00")
    }

    fn hours_all_week(hours: &str) -> BusinessConfig {
        let mut business = BusinessConfig::default();
        for day in [
            &mut business.hours.monday,
            &mut business.hours.tuesday,
            &mut business.hours.wednesday,
            &mut business.hours.thursday,
            &mut business.hours.friday,
            &mut business.hours.saturday,
            &mut business.hours.sunday,
        ] {
            *day = hours.to_owned();
        }
        business
    }

    #[test]
    fn a_business_that_never_closes_never_updates_by_itself() {
        let business = always_open();
        let calendar = Calendar::from_config(&business, jiff::tz::TimeZone::UTC).unwrap();
        let mut schedule =
            Schedule::new(calendar, "2025-12-01T11:00:00Z".parse().unwrap(), draws(3));
        assert_eq!(schedule.next(), None);
        assert_eq!(
            schedule.step("2025-12-09T11:00:00Z".parse().unwrap(), || true),
            Step::Wait
        );
    }
}
