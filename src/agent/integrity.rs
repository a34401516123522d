//! The database's quick integrity check, every day while keepwatch runs.
//!
//! At start, `Store::open_for_run` checks the file and recovers a damaged
//! one. A disk can go bad while keepwatch runs for months, so the same check
//! ([`Store::damage`]) runs again every [`CHECK_EVERY`]: read-only, on a
//! blocking thread with a connection of its own, as scheduled reports are
//! made, so checks and alerts never wait for it.
//!
//! # Damage found while running: a restart, not a repair in place
//!
//! Recovering means moving the file aside and starting a new one. While
//! keepwatch runs, several connections hold the file (the agent, the outbox,
//! scheduled reports, remote write, the uplink and the API), some of them in
//! the middle of work on blocking threads. Renaming a SQLite database in use
//! is one of the ways SQLite's documentation lists to corrupt one: a
//! connection goes on writing into the renamed file, and its write-ahead log
//! and shared memory are found by name. So when the check finds damage,
//! [`run`](super::run) ends as a clean stop does (what is in memory is
//! saved, messages being sent get their grace) and returns
//! [`Ended::DatabaseDamaged`](super::Ended); `keepwatch run` then starts
//! itself again in the same process (`exec`), which closes every connection
//! at once, and the start's recovery moves the file aside, copies what can
//! still be read, tells the admin through the channels what was lost, and
//! monitoring goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::clock::Clock;
use crate::store::Store;

/// How often the database is checked while keepwatch runs.
pub const CHECK_EVERY: SignedDuration = SignedDuration::from_hours(24);
/// How soon a check that could not be run (the file missing, busy for
/// longer than SQLite waits) is tried again.
pub const RETRY_AFTER: SignedDuration = SignedDuration::from_hours(1);
/// The longest the watch sleeps without looking at the clock again, so a
/// computer that slept or had its clock set does not put the check off.
const LOOK_AT_LEAST_EVERY: SignedDuration = SignedDuration::from_mins(15);

/// What one [`IntegrityWatch::look`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The next check is not due yet.
    NotDue,
    /// The file is sound.
    Sound,
    /// The file is damaged: what SQLite found.
    Damaged(String),
    /// The check could not be run (why); it is tried again [`RETRY_AFTER`].
    Unchecked(String),
}

/// When the database at a path is next checked.
#[derive(Debug)]
pub struct IntegrityWatch {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    next: Timestamp,
}

impl IntegrityWatch {
    /// A watch over the database at `path`, first due [`CHECK_EVERY`] after
    /// the clock's time: the start has just checked it.
    pub fn new(path: &Path, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        Self {
            path: path.to_path_buf(),
            next: now.saturating_add(CHECK_EVERY).unwrap_or(now),
            clock,
        }
    }

    /// When the next check is due.
    pub fn next(&self) -> Timestamp {
        self.next
    }

    /// Checks the file if it is due. Blocking (SQLite reads every page):
    /// run it on a blocking thread.
    pub fn look(&mut self) -> Finding {
        let now = self.clock.now();
        if now < self.next {
            return Finding::NotDue;
        }
        let later = |by| now.saturating_add(by).unwrap_or(now);
        match Store::damage(&self.path) {
            Ok(None) => {
                self.next = later(CHECK_EVERY);
                tracing::debug!("the daily integrity check found the database sound");
                Finding::Sound
            }
            Ok(Some(problem)) => {
                self.next = later(RETRY_AFTER);
                Finding::Damaged(problem)
            }
            Err(err) => {
                self.next = later(RETRY_AFTER);
                tracing::warn!(
                    "the daily integrity check of the database could not be run ({err}); it is tried again in an hour"
                );
                Finding::Unchecked(err.to_string())
            }
        }
    }
}

/// Checks the database each time `watch` is due, on a blocking thread;
/// completes, with what SQLite found, only when the file is damaged.
pub async fn watch(mut watch: IntegrityWatch) -> String {
    loop {
        let wait = watch
            .clock
            .now()
            .duration_until(watch.next)
            .clamp(SignedDuration::ZERO, LOOK_AT_LEAST_EVERY);
        tokio::time::sleep(std::time::Duration::try_from(wait).unwrap_or_default()).await;
        let looked = tokio::task::spawn_blocking(move || {
            let finding = watch.look();
            (watch, finding)
        })
        .await;
        match looked {
            Ok((_, Finding::Damaged(problem))) => return problem,
            Ok((back, _)) => watch = back,
            Err(err) => {
                tracing::error!("the daily integrity check of the database stopped: {err}");
                return std::future::pending().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimClock;
    use crate::observation::{Sample, SeriesKey};
    use crate::store::StorageConfig;

    /// Overwrites page `page` (from 1) of the file with garbage, as a
    /// failing disk would.
    fn overwrite_page(path: &Path, page: u64) {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.seek(SeekFrom::Start((page - 1) * 4096)).unwrap();
        file.write_all(&[0xAB; 4096]).unwrap();
    }

    /// A database with an hour of samples, closed (its log checkpointed
    /// into the file).
    fn database(dir: &Path, start: Timestamp) -> PathBuf {
        let path = dir.join("keepwatch.db");
        let mut store = Store::open(&path, &StorageConfig::default()).unwrap();
        let key = SeriesKey::new("host", "cpu.usage_percent", "");
        let samples: Vec<Sample> = (0..360)
            .map(|i| Sample {
                key: key.clone(),
                at: start + SignedDuration::from_secs(i * 10),
                value: 5.0,
            })
            .collect();
        store.write(&samples).unwrap();
        drop(store);
        path
    }

    /// Walks three simulated days hour by hour against a real file: the
    /// file is checked once a day and not in between; damage done on the
    /// second day is found by the next daily check, not before.
    #[test]
    fn the_database_is_checked_once_a_day_and_damage_is_found_at_the_next_check() {
        let dir = tempfile::tempdir().unwrap();
        let start: Timestamp = "2026-12-07T03:00:00Z".parse().unwrap();
        let path = database(dir.path(), start);
        let clock = SimClock::new(start);
        let mut watch = IntegrityWatch::new(&path, Arc::new(clock.clone()));
        assert_eq!(watch.next(), start + CHECK_EVERY);
        let mut checked = Vec::new();
        let mut damaged_at = None;
        for hour in 1..=72 {
            clock.advance(SignedDuration::from_hours(1));
            if hour == 36 {
                let root: i64 = rusqlite::Connection::open(&path)
                    .unwrap()
                    .query_row(
                        "SELECT rootpage FROM sqlite_schema WHERE name = 'staging'",
                        [],
                        |row| row.get(0),
                    )
                    .unwrap();
                overwrite_page(&path, root.unsigned_abs());
            }
            match watch.look() {
                Finding::NotDue => {}
                Finding::Sound => checked.push(hour),
                Finding::Damaged(problem) => {
                    damaged_at = Some((hour, problem));
                    break;
                }
                Finding::Unchecked(why) => panic!("at hour {hour}: {why}"),
            }
        }
        assert_eq!(checked, [24], "one check a day while the file is sound");
        let (hour, problem) = damaged_at.expect("the damage was found");
        assert_eq!(hour, 48, "found at the next daily check");
        assert!(!problem.is_empty());
        // Until it is dealt with, the file is looked at again within the hour.
        assert_eq!(watch.next(), clock.now() + RETRY_AFTER);
    }

    #[test]
    fn a_check_that_cannot_be_run_is_tried_again_within_the_hour() {
        let dir = tempfile::tempdir().unwrap();
        let start: Timestamp = "2026-12-07T03:00:00Z".parse().unwrap();
        let clock = SimClock::new(start);
        let missing = dir.path().join("gone.db");
        let mut watch = IntegrityWatch::new(&missing, Arc::new(clock.clone()));
        clock.advance(CHECK_EVERY);
        assert!(matches!(watch.look(), Finding::Unchecked(_)));
        assert_eq!(watch.next(), clock.now() + RETRY_AFTER);
        assert_eq!(watch.look(), Finding::NotDue);
    }
}
