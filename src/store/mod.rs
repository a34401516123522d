//! The store: every observation in one SQLite file, compactly, with retention
//! and a disk-space cap.
//!
//! # Design
//!
//! - **Recent samples** go into the `staging` table, a row each keyed by
//!   time then series (one integer, so a batch appends to the end of the
//!   table), in one transaction per batch. SQLite's WAL makes a written sample durable at once
//!   (`synchronous = NORMAL`: a power cut may lose the last transactions, a
//!   killed process loses nothing).
//! - **History** is compact: [`Store::maintain`] seals every closed hour of a
//!   series into one `chunks` row, and every finished day's hours into one
//!   row for the day (UTC), encoded by the `codec` module (timestamps as
//!   differences from the usual interval, fixed-point values to 1/100 of their
//!   unit, deflate). A row per sample costs ~25 bytes; a sealed sample costs
//!   1.9 in `benches/storage.rs` (30 days of 5 hosts and 25 services: 56 MB).
//! - **Queries** merge sealed chunks and staging rows, ordered by time, with no
//!   duplicates: when both hold the same instant, the later write wins.
//!   Each chunk also keeps a summary of each of its hours (count, sum, lowest,
//!   highest, last value), so history in steps of whole hours
//!   ([`Store::history`]) is read without decoding the points.
//! - **The latest value** of every series is kept apart in `latest`, updated
//!   on every write and never thinned, so `keepwatch status` and the alert
//!   engine never depend on history.
//! - **Retention** deletes history older than `storage.retention` (a chunk
//!   goes once all of it is too old, so up to a day more may stay). **The disk
//!   cap**: above 90% of `storage.max_size`, the oldest raw history is thinned
//!   to 5-minute averages (a chunk, an hour or a day, at a time), then, if
//!   that is not enough, the oldest history is deleted, until the database is
//!   below 80% (the gap avoids thinning a little on every run). A retention
//!   or cap of zero (`"off"`, `"0B"`) means none.
//! - **A full disk** is not fatal: [`BufferedWriter`] keeps samples in memory
//!   and reports the change once, so the agent keeps running and says why.
//! - **Time is a parameter**: nothing here reads the clock.
//!
//! Sizes are measured as SQLite sees them (`page_count - freelist_count` pages),
//! which is what the cap applies to; the WAL file adds at most a few MB.
//!
//! Values that are not finite (NaN, ±infinity) are not stored: a value that
//! could not be measured is a gap, not a number. Timestamps are kept to the
//! millisecond.

mod alerts;
mod buffered;
mod codec;
mod error;
mod export;
mod heartbeats;
mod history;
mod hours;
mod maintain;
mod outgoing;
mod recover;
mod remote;
mod reports;
mod schema;
mod services;
mod shadow;
mod tally;
mod tokens;

pub use alerts::{
    AckError, AlertDelivery, AlertRecord, NewAlert, Notice, OutboxEntry, StoredWindow,
};
pub use buffered::{BUFFER_CAPACITY, BufferedWriter, HealthChange, StorageHealth};
pub use error::StoreError;
pub use export::SeriesPoints;
pub use heartbeats::{HeartbeatKey, NewPing, PINGS_KEPT, StoredPing};
pub use history::Aggregation;
pub use maintain::MaintenanceReport;
pub use outgoing::{Cursor, Unsent};
pub use recover::Recovery;
pub use remote::{Arrival, RemoteAgent, RemoteServiceInfo, Silence, Taken};
pub use services::{Incident, IncidentChange, ServiceStatus};
pub use tally::Tally;
pub use tokens::{AGENT_ROLE, StoredToken};

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, params};

use crate::observation::{Sample, SeriesKey};
use crate::units::{ByteSize, Duration};
use codec::Point;

/// History retention and disk budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// History older than this is deleted.
    pub retention: Duration,
    /// Most disk space the database may use; near it, the oldest history is
    /// thinned out first (the latest state is always kept).
    pub max_size: ByteSize,
    /// How long measurements wait in memory before they are written, all
    /// together: each write wears a small server's SSD, and a write a second
    /// costs about 90 MB a day. Two minutes by default: each write costs a
    /// few pages of the file whatever it holds, so twice as long a wait is
    /// nearly half the writing (a minute: 3.2 MB an hour with 25 services,
    /// two: 1.7, under the 2 MB of issue 11). At most this much history is
    /// lost on a power cut or kill -9; alerts, acknowledgements, messages and
    /// a service's change of state are always written at once. From 1 s to
    /// 5 minutes.
    pub write_every: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_days(90),
            max_size: ByteSize(500_000_000),
            write_every: Duration::from_secs(120),
        }
    }
}

/// Length of a sealed chunk: an hour keeps `staging` small (at most about two
/// hours of rows) while a chunk still holds enough samples (360 at 10 s) for
/// the encoding to pay off. The SQL of the `chunks_hourly` index repeats it.
const CHUNK_MS: i64 = 3_600_000;
/// Length of a compacted chunk: the hours of a finished day (UTC).
const DAY_MS: i64 = 24 * CHUNK_MS;

/// A staging row's key is `at_ms << SERIES_BITS | series_id` (migration 9),
/// so rows follow each other by time, then series, in a rowid table: about
/// a million series, times up to the year 2248.
const SERIES_BITS: u32 = 20;
/// Staging keys hold times in `-TIME_LIMIT_MS..TIME_LIMIT_MS - 1`.
const TIME_LIMIT_MS: i64 = 1 << (63 - SERIES_BITS);

/// The first staging key at `at_ms` or later, for a range of staging rows
/// by time (`k >= staging_key(from) AND k < staging_key(to + 1)`); times
/// beyond what a key holds stop at its ends, so a range never wraps.
fn staging_key(at_ms: i64) -> i64 {
    at_ms.clamp(-TIME_LIMIT_MS, TIME_LIMIT_MS - 1) << SERIES_BITS
}

/// The staging keys that bound the rows after `after_ms` up to `upto_ms`
/// (included): `k >= .0 AND k < .1`.
fn staged_after(after_ms: i64, upto_ms: i64) -> (i64, i64) {
    (
        staging_key(after_ms.saturating_add(1)),
        staging_key(upto_ms.saturating_add(1)),
    )
}

/// The staging key of one sample; `None` for a time or series a key cannot
/// hold (a clock past the year 2248, over a million series).
fn sample_key(at_ms: i64, series_id: i64) -> Option<i64> {
    let storable = (-TIME_LIMIT_MS..TIME_LIMIT_MS - 1).contains(&at_ms)
        && (0..1 << SERIES_BITS).contains(&series_id);
    storable.then(|| staging_key(at_ms) | series_id)
}

/// The keepwatch database: history, latest values, events and agent state.
///
/// One `Store` per process writes; other processes (`keepwatch status`) may
/// open the same file to read.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    config: StorageConfig,
    /// Series ids by key, so a write needs no lookup for known series.
    ids: HashMap<SeriesKey, i64>,
    /// Set while alerting runs on copies in memory (a full disk).
    shadow: Option<shadow::Shadow>,
}

/// What is written together, in one transaction: a small server's disk is
/// written once per `storage.write_every`, not once per kind of data.
#[derive(Debug, Clone, Copy, Default)]
pub struct Writes<'a> {
    /// Measurements.
    pub samples: &'a [Sample],
    /// The latest state of services whose state did not change.
    pub statuses: &'a [ServiceStatus],
    /// Pieces of agent state (`vocabulary::state_key`).
    pub states: &'a [(&'a str, &'a str)],
}

impl Writes<'_> {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.statuses.is_empty() && self.states.is_empty()
    }
}

/// What a [`Store::write`] did with its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteSummary {
    /// Samples stored.
    pub written: usize,
    /// Samples left out because their value was NaN or infinite (or, in
    /// theory, their time past the year 2248 or their series beyond the
    /// millionth).
    pub skipped: usize,
}

/// Something notable that happened to the agent, kept for the admin to read
/// later (`keepwatch status`, reports): throttling, a rejected config, storage
/// trouble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When it happened.
    pub at: Timestamp,
    /// A short machine-friendly category, e.g. `throttle` or `config`.
    pub kind: String,
    /// What happened, in words for a person.
    pub message: String,
}

impl Store {
    /// Creates the folder the database at `path` lives in, if need be.
    pub fn create_folder(path: &Path) -> Result<(), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        Ok(())
    }

    /// The lock file that `keepwatch run` holds for the database at
    /// `database` while it runs (`<database>.lock`): the operating system
    /// releases it however the process ends.
    pub fn lock_path(database: &Path) -> PathBuf {
        let mut path = database.as_os_str().to_owned();
        path.push(".lock");
        PathBuf::from(path)
    }

    /// Whether a running `keepwatch run` holds the database at `database`
    /// (its lock is taken), whatever it could write: `status` asks this so
    /// an agent that cannot write its database (a full disk) is not called
    /// stopped.
    pub fn agent_holds(database: &Path) -> bool {
        std::fs::File::open(Self::lock_path(database)).is_ok_and(|file| {
            matches!(
                file.try_lock_shared(),
                Err(std::fs::TryLockError::WouldBlock)
            )
        })
    }

    /// Opens the database at `path`, creating it (and its folder) if needed and
    /// upgrading its schema.
    ///
    /// Fails with a message that says what to do when the folder cannot be
    /// created or written, the file is not a SQLite database or belongs to
    /// another program, or it was written by a newer keepwatch.
    pub fn open(path: &Path, config: &StorageConfig) -> Result<Store, StoreError> {
        Store::create_folder(path)?;
        let open_error = |source: rusqlite::Error| {
            let path = path.to_path_buf();
            match source.sqlite_error_code() {
                Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path },
                Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                    path,
                    detail: source.to_string(),
                },
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                    StoreError::Busy { path }
                }
                _ => StoreError::Open { path, source },
            }
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_error)?;
        // The first read of the file is where SQLite notices it is not a database.
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(open_error)?;
        if tables == 0 {
            // Only takes effect before the first table exists; lets `maintain`
            // hand freed pages back to the file system.
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
                .map_err(open_error)?;
        } else {
            let id: i32 = conn
                .query_row("PRAGMA application_id", [], |r| r.get(0))
                .map_err(open_error)?;
            if id != schema::APPLICATION_ID {
                return Err(StoreError::ForeignDatabase {
                    path: path.to_path_buf(),
                });
            }
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "the database could not use WAL mode; writes are slower and less crash-safe");
        }
        // NORMAL: in WAL mode a crash of the process loses nothing; only a
        // power cut can lose the last transactions. The journal size limit
        // keeps the WAL file from staying large after a big maintenance run.
        // TEMP tables in memory: alerting's copies while the disk is full
        // (see `shadow.rs`) must not need the disk.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 8388608; PRAGMA temp_store = MEMORY;",
        )
            .map_err(open_error)?;
        schema::migrate(&mut conn, path)?;

        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            config: config.clone(),
            ids: HashMap::new(),
            shadow: None,
        };
        store.ids = store.load_series()?;
        Ok(store)
    }

    /// Copies the write-ahead log into the database file and cuts the log to
    /// nothing (`wal_checkpoint(TRUNCATE)`). SQLite only resets the log for
    /// reuse; after a burst of writes (a backlog written after a full disk,
    /// maintenance) the file would stay as large as the burst, and a disk
    /// that was just freed could fill up again with log alone. Returns whether
    /// the whole log was copied (a reader in the middle of a read can keep
    /// part of it until next time).
    pub fn checkpoint(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|busy| busy == 0)
            .map_err(|source| {
                StoreError::sqlite("checkpointing the write-ahead log", &self.path, source)
            })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The storage settings in force.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// Applies a reloaded configuration; the new retention and cap take effect
    /// at the next [`maintain`](Store::maintain).
    pub fn update_config(&mut self, config: &StorageConfig) {
        self.config = config.clone();
    }

    /// Stores a batch of samples in one transaction (all or none), and updates
    /// the latest value of each series when the sample is newer than it.
    ///
    /// Writing a sample for an instant a series already has replaces the value.
    /// NaN and infinite values are skipped and counted.
    pub fn write(&mut self, samples: &[Sample]) -> Result<WriteSummary, StoreError> {
        self.write_all(&Writes {
            samples,
            ..Writes::default()
        })
    }

    /// Writes samples (as [`write`](Self::write) does), service states and
    /// agent state in one transaction: all or none.
    pub fn write_all(&mut self, writes: &Writes<'_>) -> Result<WriteSummary, StoreError> {
        let Store {
            conn, path, ids, ..
        } = self;
        let fail = |source| StoreError::sqlite("write", path, source);
        let tx = conn.transaction().map_err(fail)?;
        let mut new_ids = HashMap::new();
        let summary = write_samples(&tx, ids, &mut new_ids, writes.samples).map_err(fail)?;
        services::save_statuses(&tx, writes.statuses).map_err(fail)?;
        save_states(&tx, writes.states).map_err(fail)?;
        tx.commit().map_err(fail)?;
        // Only now: ids from a rolled-back transaction would point nowhere.
        ids.extend(new_ids);
        Ok(summary)
    }

    /// The latest value of every series, ordered by host, metric and instance.
    pub fn latest(&self) -> Result<Vec<Sample>, StoreError> {
        let fail = |source| StoreError::sqlite("reading latest values", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.host, s.metric, s.instance, l.at_ms, l.value
                 FROM latest l JOIN series s ON s.id = l.series_id
                 ORDER BY s.host, s.metric, s.instance",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    SeriesKey::new(
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ),
                    r.get::<_, i64>(3)?,
                    r.get::<_, f64>(4)?,
                ))
            })
            .map_err(fail)?;
        let mut samples = Vec::new();
        for row in rows {
            let (key, at_ms, value) = row.map_err(fail)?;
            samples.push(Sample {
                at: self.timestamp(at_ms)?,
                key,
                value,
            });
        }
        Ok(samples)
    }

    /// Every series the store knows, ordered by host, metric and instance.
    pub fn series(&self) -> Result<Vec<SeriesKey>, StoreError> {
        let fail = |source| StoreError::sqlite("listing series", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT host, metric, instance FROM series ORDER BY host, metric, instance",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SeriesKey::new(
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// The history of one series from `from` to `to` (both included), ordered
    /// by time. Sealed values are rounded to 1/100 of their unit; thinned
    /// history holds one 5-minute average per point.
    pub fn range(
        &self,
        key: &SeriesKey,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, f64)>, StoreError> {
        let points = self.range_ms(key, from, to)?;
        let mut history = Vec::with_capacity(points.len());
        for (at_ms, value) in points {
            history.push((self.timestamp(at_ms)?, value));
        }
        Ok(history)
    }

    /// [`range`](Self::range) with times in milliseconds since the epoch, as
    /// stored.
    fn range_ms(
        &self,
        key: &SeriesKey,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        let (from_ms, to_ms) = (from.as_millisecond(), to.as_millisecond());
        let Some(id) = self.series_id(key)? else {
            return Ok(Vec::new());
        };
        if from_ms > to_ms {
            return Ok(Vec::new());
        }
        let fail = |source| StoreError::sqlite("reading history", &self.path, source);
        let mut sealed = Vec::new();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT start_ms, end_ms, data FROM chunks
                 WHERE series_id = ?1 AND start_ms > ?2 AND start_ms <= ?3 AND end_ms >= ?4
                 ORDER BY start_ms",
            )
            .map_err(fail)?;
        let mut rows = stmt
            .query(params![id, from_ms.saturating_sub(DAY_MS), to_ms, from_ms])
            .map_err(fail)?;
        let mut chunk = Vec::new();
        while let Some(row) = rows.next().map_err(fail)? {
            let start: i64 = row.get(0).map_err(fail)?;
            let end: i64 = row.get(1).map_err(fail)?;
            let data = row
                .get_ref(2)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(fail)?;
            let damaged = |e| self.damaged(id, start, e);
            if start >= from_ms && end <= to_ms {
                codec::decode_into(data, &mut sealed).map_err(damaged)?;
            } else {
                chunk.clear();
                codec::decode_into(data, &mut chunk).map_err(damaged)?;
                sealed.extend(chunk.iter().filter(|p| p.0 >= from_ms && p.0 <= to_ms));
            }
        }
        let staged = self.staged(id, from_ms, to_ms)?;
        Ok(maintain::merge(sealed, staged))
    }

    /// SQLite's quick integrity check of the file at `path`, opened read-only
    /// so a running agent is not disturbed: an empty list when the file is
    /// sound, else what SQLite found wrong (at most 20 lines).
    pub fn quick_check(path: &Path) -> Result<Vec<String>, StoreError> {
        let fail = |source| StoreError::sqlite("checking integrity", path, source);
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fail)?;
        let lines = conn
            .prepare("PRAGMA quick_check(20)")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            });
        match lines {
            Ok(lines) => Ok(lines.into_iter().filter(|line| line != "ok").collect()),
            // Damage bad enough that the check itself cannot read the file.
            Err(err) if err.sqlite_error_code() == Some(ErrorCode::DatabaseCorrupt) => {
                Ok(vec![err.to_string()])
            }
            Err(err) => Err(fail(err)),
        }
    }

    /// Bytes the database occupies (pages in use; free pages are not counted,
    /// as SQLite reuses them before growing the file).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        let fail = |source| StoreError::sqlite("measuring size", &self.path, source);
        let (pages, free, page_size): (i64, i64, i64) = self
            .conn
            .query_row(
                "SELECT (SELECT page_count FROM pragma_page_count),
                        (SELECT freelist_count FROM pragma_freelist_count),
                        (SELECT page_size FROM pragma_page_size)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(fail)?;
        Ok(u64::try_from((pages - free).max(0) * page_size).unwrap_or(0))
    }

    /// Records a notable happening for the admin to read later.
    pub fn record_event(
        &mut self,
        at: Timestamp,
        kind: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO events (at_ms, kind, message) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![at.as_millisecond(), kind, message]))
            .map_err(|source| StoreError::sqlite("recording an event", &self.path, source))?;
        Ok(())
    }

    /// The `limit` most recent events, newest first.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        let fail = |source| StoreError::sqlite("reading events", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at_ms, kind, message FROM events ORDER BY at_ms DESC, id DESC LIMIT ?1",
            )
            .map_err(fail)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map([limit], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)))
            .map_err(fail)?;
        let mut events = Vec::new();
        for row in rows {
            let (at_ms, kind, message) = row.map_err(fail)?;
            events.push(Event {
                at: self.timestamp(at_ms)?,
                kind,
                message,
            });
        }
        Ok(events)
    }

    /// Events in `from..to`, oldest first, for reports.
    pub fn events_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Event>, StoreError> {
        let fail = |source| StoreError::sqlite("reading events", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at_ms, kind, message FROM events WHERE at_ms >= ?1 AND at_ms < ?2
                 ORDER BY at_ms, id",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([from.as_millisecond(), to.as_millisecond()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(fail)?;
        let mut events = Vec::new();
        for row in rows {
            let (at_ms, kind, message) = row.map_err(fail)?;
            events.push(Event {
                at: self.timestamp(at_ms)?,
                kind,
                message,
            });
        }
        Ok(events)
    }

    /// Remembers a small piece of agent state (e.g. `started_at`, `pid`,
    /// `throttle_mode`) across restarts, replacing any previous value.
    pub fn set_state(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.set_states(&[(key, value)])
    }

    /// Like [`set_state`](Store::set_state) for several pieces at once, in one
    /// transaction (the agent records two on every tick).
    pub fn set_states(&mut self, entries: &[(&str, &str)]) -> Result<(), StoreError> {
        let fail = |source| StoreError::sqlite("saving agent state", &self.path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        save_states(&tx, entries).map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// Forgets a piece of agent state (e.g. `stopped_at` when the agent starts again).
    pub fn remove_state(&mut self, key: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM agent_state WHERE key = ?1")
            .and_then(|mut s| s.execute([key]))
            .map_err(|source| StoreError::sqlite("saving agent state", &self.path, source))?;
        Ok(())
    }

    /// A piece of agent state saved with [`set_state`](Store::set_state).
    pub fn state(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT value FROM agent_state WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(|source| StoreError::sqlite("reading agent state", &self.path, source))
    }

    fn load_series(&self) -> Result<HashMap<SeriesKey, i64>, StoreError> {
        let fail = |source| StoreError::sqlite("loading series", &self.path, source);
        let mut stmt = self
            .conn
            .prepare("SELECT host, metric, instance, id FROM series")
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    SeriesKey::new(
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ),
                    r.get(3)?,
                ))
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// The id of a series; looks in the file too, as another process may
    /// have added it since this one loaded its cache.
    fn series_id(&self, key: &SeriesKey) -> Result<Option<i64>, StoreError> {
        if let Some(&id) = self.ids.get(key) {
            return Ok(Some(id));
        }
        self.conn
            .prepare_cached(
                "SELECT id FROM series WHERE host = ?1 AND metric = ?2 AND instance = ?3",
            )
            .and_then(|mut s| {
                s.query_row([&key.host, &key.metric, &key.instance], |r| r.get(0))
                    .optional()
            })
            .map_err(|source| StoreError::sqlite("looking up a series", &self.path, source))
    }

    /// Staging rows of one series between two instants (both included).
    ///
    /// Staging is keyed by time, so this reads every series' rows in the
    /// range; it holds at most about two hours, which keeps that cheap.
    fn staged(&self, id: i64, from_ms: i64, to_ms: i64) -> Result<Vec<Point>, StoreError> {
        let fail = |source| StoreError::sqlite("reading recent samples", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at_ms, value FROM staging
                 WHERE k >= ?2 AND k < ?3 AND series_id = ?1 ORDER BY k",
            )
            .map_err(fail)?;
        let (from, to) = (staging_key(from_ms), staging_key(to_ms.saturating_add(1)));
        let rows = stmt
            .query_map([id, from, to], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    fn timestamp(&self, ms: i64) -> Result<Timestamp, StoreError> {
        Timestamp::from_millisecond(ms).map_err(|e| StoreError::Damaged {
            path: self.path.clone(),
            what: "a stored time".to_owned(),
            detail: e.to_string(),
        })
    }

    fn damaged(&self, series_id: i64, start_ms: i64, error: codec::DecodeError) -> StoreError {
        StoreError::Damaged {
            path: self.path.clone(),
            what: format!("chunk of series {series_id} starting at {start_ms} ms"),
            detail: error.to_string(),
        }
    }
}

/// Writes `samples` in the transaction `tx`; series not in `ids` are added
/// and noted in `new_ids` (the caller adds them to `ids` once `tx` commits).
/// An agent's samples written at or before what is on its way to the hub
/// are sent again (`outgoing.rs`).
fn write_samples(
    tx: &Transaction<'_>,
    ids: &HashMap<SeriesKey, i64>,
    new_ids: &mut HashMap<SeriesKey, i64>,
    samples: &[Sample],
) -> rusqlite::Result<WriteSummary> {
    let mut summary = WriteSummary::default();
    let mut stage = tx.prepare_cached(
        "INSERT INTO staging (k, value) VALUES (?1, ?2)
         ON CONFLICT (k) DO UPDATE SET value = excluded.value",
    )?;
    let mut latest = tx.prepare_cached(
        "INSERT INTO latest (series_id, at_ms, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (series_id) DO UPDATE
         SET at_ms = excluded.at_ms, value = excluded.value
         WHERE excluded.at_ms >= latest.at_ms",
    )?;
    let mut rows = Vec::with_capacity(samples.len());
    for sample in samples {
        if !sample.value.is_finite() {
            summary.skipped += 1;
            continue;
        }
        let id = match ids.get(&sample.key).or_else(|| new_ids.get(&sample.key)) {
            Some(&id) => id,
            None => {
                let id = insert_series(tx, &sample.key)?;
                new_ids.insert(sample.key.clone(), id);
                id
            }
        };
        let at_ms = sample.at.as_millisecond();
        match sample_key(at_ms, id) {
            Some(key) => rows.push((key, id, at_ms, sample.value)),
            None => summary.skipped += 1,
        }
    }
    // In key order, each row goes at the end of the table: SQLite then
    // starts a new page when the last one is full, instead of splitting it
    // with its neighbours. Stable: of two values for one instant, the
    // later in the batch wins.
    rows.sort_by_key(|row| row.0);
    let mut earliest = i64::MAX;
    for (key, id, at_ms, value) in rows {
        earliest = earliest.min(at_ms);
        stage.execute(params![key, value])?;
        latest.execute(params![id, at_ms, value])?;
        summary.written += 1;
    }
    if summary.written > 0 {
        outgoing::recorded_at(tx, earliest)?;
    }
    Ok(summary)
}

/// Saves pieces of agent state in the transaction `tx`.
fn save_states(tx: &Transaction<'_>, entries: &[(&str, &str)]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO agent_state (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?;
    for (key, value) in entries {
        stmt.execute([key, value])?;
    }
    Ok(())
}

/// The id of a series, adding it if it is new.
fn insert_series(tx: &Transaction<'_>, key: &SeriesKey) -> rusqlite::Result<i64> {
    let key = [&key.host, &key.metric, &key.instance];
    tx.prepare_cached(
        "INSERT INTO series (host, metric, instance) VALUES (?1, ?2, ?3)
         ON CONFLICT (host, metric, instance) DO NOTHING",
    )?
    .execute(key)?;
    tx.prepare_cached("SELECT id FROM series WHERE host = ?1 AND metric = ?2 AND instance = ?3")?
        .query_row(key, |r| r.get(0))
}

#[cfg(test)]
pub(crate) mod tests;
