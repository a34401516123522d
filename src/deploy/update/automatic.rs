//! `[update] automatic = true`: when `keepwatch run` looks for a release by
//! itself. Once a day, at a minute drawn at random among that day's closed
//! minutes (the business calendar), so a fleet of shops does not hit the
//! release server at the same moment and nobody's working day is touched.
//! At that minute the update is skipped, until the next day's minute, if
//! the calendar now says open (the hours changed) or an emergency alert is
//! open: an update restarts keepwatch, and an emergency is when it must
//! keep watching. A business open around the clock all week gets no
//! automatic updates, and is told so.
//!
//! Pure decisions over an injected time and an injected random draw; tests
//! walk simulated weeks minute by minute.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Timestamp};

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
            let closed = self.closed_minutes(day, &zone);
            let pick = (self.random)() % u64::try_from(closed.len()).ok()?.max(1);
            closed.get(usize::try_from(pick).ok()?).copied()
        })
    }

    /// Every minute of `day` (local) outside business hours.
    fn closed_minutes(&self, day: Date, zone: &jiff::tz::TimeZone) -> Vec<Timestamp> {
        let start = zone.to_timestamp(day.to_datetime(Time::midnight()));
        let end = day
            .tomorrow()
            .ok()
            .and_then(|next| zone.to_timestamp(next.to_datetime(Time::midnight())).ok());
        let (Ok(start), Some(end)) = (start, end) else {
            return Vec::new();
        };
        (0..)
            .map(|minute| start + SignedDuration::from_mins(minute))
            .take_while(|at| *at < end)
            .filter(|at| !self.calendar.period_at(*at).is_open())
            .collect()
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

/// With `[update] automatic = true`, a task that looks once a minute
/// whether the day's chosen minute has come, and starts `keepwatch update`
/// then; `None` when automatic updates are off. Its report goes to
/// `keepwatch-update.log` beside the database.
pub fn spawn(
    config: &Config,
    database: &Path,
    launch: Launch,
    clock: Arc<dyn Clock>,
) -> Option<tokio::task::JoinHandle<()>> {
    if !config.update.automatic {
        return None;
    }
    let calendar = match Calendar::from_config(&config.business, jiff::tz::TimeZone::system()) {
        Ok(calendar) => calendar,
        Err(err) => {
            tracing::error!("automatic updates are off: {err}");
            return None;
        }
    };
    let random = ring::rand::SystemRandom::new();
    let draw = Box::new(move || {
        let mut bytes = [0; 8];
        // A failed draw gives minute 0 of the closed hours: still closed.
        let _ = ring::rand::SecureRandom::fill(&random, &mut bytes);
        u64::from_le_bytes(bytes)
    });
    let mut schedule = Schedule::new(calendar, clock.now(), draw);
    let database = database.to_path_buf();
    let log = database.with_file_name("keepwatch-update.log");
    match schedule.next() {
        Some(at) => tracing::info!("automatic updates: the next look for a release is at {at}"),
        None => {
            tracing::warn!(
                "automatic updates are on but the business never closes, and keepwatch updates only outside opening hours: run `keepwatch update` yourself"
            );
            return None;
        }
    }
    Some(tokio::spawn(async move {
        let mut minutes = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            minutes.tick().await;
            let next =
                |schedule: &Schedule| schedule.next().map(|at| at.to_string()).unwrap_or_default();
            match schedule.step(clock.now(), || emergency_open(&database)) {
                Step::Wait => {}
                Step::Skip(why) => tracing::info!(
                    "automatic update skipped: {why}; the next look is at {}",
                    next(&schedule)
                ),
                Step::Update => match launch.start(&log) {
                    Ok(()) => tracing::info!(
                        "automatic update: looking for a release; what it does is written to {}",
                        log.display()
                    ),
                    Err(err) => tracing::error!(
                        "automatic update could not start `{}`: {err}; the next look is at {}",
                        launch.command().join(" "),
                        next(&schedule)
                    ),
                },
            }
        }
    }))
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
        Store::open(&database, &Default::default()).unwrap();
        assert!(!emergency_open(&database));
    }

    #[tokio::test]
    async fn off_by_default_and_for_a_business_that_never_closes() {
        let dir = tempfile::tempdir().unwrap();
        let launch = Launch {
            binary: PathBuf::from("/bin/echo"),
            config: dir.path().join("keepwatch.toml"),
            under_systemd: false,
        };
        let clock: Arc<dyn Clock> =
            Arc::new(SimClock::new("2025-12-01T11:00:00Z".parse().unwrap()));
        let database = dir.path().join("keepwatch.db");
        let mut config = Config::default();
        assert!(spawn(&config, &database, launch.clone(), clock.clone()).is_none());
        config.update.automatic = true;
        let task = spawn(&config, &database, launch.clone(), clock.clone()).unwrap();
        task.abort();
        config.business.hours = always_open().hours;
        assert!(spawn(&config, &database, launch, clock).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_starts_the_update_at_the_chosen_minute_when_closed() {
        let dir = tempfile::tempdir().unwrap();
        let launch = Launch {
            binary: PathBuf::from("/bin/echo"),
            config: dir.path().join("keepwatch.toml"),
            under_systemd: false,
        };
        let sim = SimClock::new("2025-12-01T11:00:00Z".parse().unwrap());
        let clock: Arc<dyn Clock> = Arc::new(sim.clone());
        let database = dir.path().join("keepwatch.db");
        let mut config = Config::default();
        config.update.automatic = true;
        config.business.hours = hours_all_week("closed").hours;
        let task = spawn(&config, &database, launch, clock).unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(61)).await;
        sim.advance(SignedDuration::from_hours(48));
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        let log = dir.path().join("keepwatch-update.log");
        for _ in 0..200 {
            if log.exists() && !std::fs::read_to_string(&log).unwrap().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            std::fs::read_to_string(&log)
                .unwrap()
                .ends_with(" update\n")
        );
        task.abort();
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
