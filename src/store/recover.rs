//! Opening the database for `keepwatch run` on a bad day.
//!
//! What must not be touched is refused with its cause and fix before SQLite
//! sees it: a folder, a file this user cannot write (keepwatch would run and
//! keep nothing), a file that is not a SQLite database, another program's
//! database. A keepwatch database that SQLite finds damaged — at opening, or
//! by the quick integrity check that follows — is moved aside
//! (`keepwatch.db.damaged-<time>`, with its WAL), a new one is started in its
//! place, and what can still be read is copied over, the alerts and what is
//! owed to the channels first, then the history. The [`Recovery`] says what
//! was saved and what was lost, for the admin.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::types::Value;

use super::StorageConfig;
use super::{Store, StoreError, schema};

/// The tables in the order they are saved: what alerting needs, then the
/// state of services, then the history. Tables not listed come last.
const SAVE_ORDER: [&str; 12] = [
    "alerts",
    "notices",
    "outbox",
    "incidents",
    "maintenance",
    "service_status",
    "agent_state",
    "events",
    "series",
    "latest",
    "chunks",
    "staging",
];

/// What became of a damaged database.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// Where the damaged file was moved.
    pub damaged_copy: PathBuf,
    /// What SQLite said was wrong.
    pub problem: String,
    /// Rows copied into the new database, per table.
    pub saved: Vec<(String, usize)>,
    /// Tables of which some or all rows could not be read, and why.
    pub lost: Vec<(String, String)>,
}

impl Recovery {
    /// What happened, in a few sentences for the admin.
    pub fn summary(&self) -> String {
        let saved: usize = self.saved.iter().map(|(_, rows)| rows).sum();
        let lost = if self.lost.is_empty() {
            "Everything could be read.".to_owned()
        } else {
            format!(
                "Lost (unreadable in the damaged file): {}.",
                self.lost
                    .iter()
                    .map(|(table, why)| format!("{} ({why})", what_it_holds(table)))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        format!(
            "keepwatch's database was damaged ({}). It was moved to {} and a new one started; \
             {saved} records were copied over. {lost} Monitoring and alerting go on. The \
             disk may be failing: check it (e.g. `smartctl -a`), and keep the damaged copy \
             until you no longer need its history.",
            self.problem,
            self.damaged_copy.display()
        )
    }
}

/// A table's contents in words.
fn what_it_holds(table: &str) -> &str {
    match table {
        "alerts" | "notices" => "alerts",
        "outbox" => "messages not yet sent",
        "incidents" => "service incidents",
        "maintenance" => "maintenance windows",
        "service_status" => "the last state of services",
        "events" => "recent events",
        "chunks" | "staging" | "staging_by_time" | "latest" | "series" => "measurement history",
        "agent_state" => "keepwatch's own state",
        "api_tokens" => "API tokens",
        "report_runs" => "when scheduled reports were last sent",
        "heartbeats" | "pings" => "heartbeat pings",
        "outgoing" => "what was sent to the hub",
        "remote_agents" | "remote_services" | "silences" => "the agents of this hub",
        other => other,
    }
}

impl Store {
    /// Opens the database as `keepwatch run` needs it: refuses a file it
    /// must not or cannot use, and recovers a damaged one (see the module
    /// header). `now` names the damaged copy.
    pub fn open_for_run(
        path: &Path,
        config: &StorageConfig,
        now: Timestamp,
    ) -> Result<(Store, Option<Recovery>), StoreError> {
        refuse_unusable(path)?;
        let problem = match Store::open(path, config) {
            Ok(store) => match Store::damage(path)? {
                None => return Ok((store, None)),
                Some(problem) => problem,
            },
            // The header said SQLite and keepwatch, so "not a database" now
            // means a damaged page further in.
            Err(StoreError::Corrupt { detail, .. }) => detail,
            Err(StoreError::NotADatabase { .. }) => "a page is not readable".to_owned(),
            Err(err) => return Err(err),
        };
        tracing::error!("the database {} is damaged: {problem}", path.display());
        let damaged_copy = move_aside(path, now)?;
        let mut store = Store::open(path, config)?;
        let mut recovery = Recovery {
            damaged_copy,
            problem,
            saved: Vec::new(),
            lost: Vec::new(),
        };
        store.save_from(&mut recovery);
        store.ids = store.load_series()?;
        Ok((store, Some(recovery)))
    }

    /// What SQLite's quick integrity check finds wrong with the file at
    /// `path`, in a line (its first five findings), or `None` when it is
    /// sound. Read-only, on a connection of its own: the check at start and
    /// the daily one while keepwatch runs (`agent::integrity`) both use it.
    pub fn damage(path: &Path) -> Result<Option<String>, StoreError> {
        let found = Store::quick_check(path)?;
        if found.is_empty() {
            return Ok(None);
        }
        let said: Vec<&str> = found
            .iter()
            .flat_map(|line| line.lines())
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("***"))
            .take(5)
            .collect();
        Ok(Some(match said.is_empty() {
            true => "the quick integrity check failed".to_owned(),
            false => said.join("; "),
        }))
    }

    /// Copies every readable row of the damaged database at `damaged` into
    /// this one: per table, all at once, or row by row from both ends
    /// when a damaged page stops the reading.
    fn save_from(&mut self, recovery: &mut Recovery) {
        let damaged = recovery.damaged_copy.to_string_lossy().into_owned();
        if let Err(err) = self
            .conn
            .execute("ATTACH DATABASE ?1 AS damaged", [damaged])
        {
            recovery
                .lost
                .push(("everything".to_owned(), err.to_string()));
            return;
        }
        let tables = match self.tables() {
            Ok(tables) => tables,
            Err(err) => {
                recovery
                    .lost
                    .push(("everything".to_owned(), err.to_string()));
                Vec::new()
            }
        };
        for table in tables {
            match copy_table(&self.conn, &table) {
                Ok((rows, None)) => recovery.saved.push((table, rows)),
                Ok((rows, Some(why))) => {
                    recovery.saved.push((table.clone(), rows));
                    recovery.lost.push((table, why));
                }
                Err(err) => recovery.lost.push((table, err.to_string())),
            }
        }
        let _ = self.conn.execute_batch("DETACH DATABASE damaged");
    }

    /// This database's tables, in [`SAVE_ORDER`].
    fn tables(&self) -> Result<Vec<String>, StoreError> {
        let error = |err| StoreError::sqlite("listing tables", &self.path, err);
        let mut statement = self
            .conn
            .prepare("SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            .map_err(error)?;
        let mut tables: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .map_err(error)?
            .collect::<Result<_, _>>()
            .map_err(error)?;
        let rank = |name: &String| {
            SAVE_ORDER
                .iter()
                .position(|t| t == name)
                .unwrap_or(SAVE_ORDER.len())
        };
        tables.sort_by_key(rank);
        Ok(tables)
    }
}

/// Copies `table` from the attached damaged database: the rows copied, and
/// why some could not be, if some could not.
fn copy_table(
    conn: &rusqlite::Connection,
    table: &str,
) -> Result<(usize, Option<String>), rusqlite::Error> {
    let columns: Vec<String> = conn
        .prepare(&format!("PRAGMA main.table_info(\"{table}\")"))?
        .query_map([], |row| row.get::<_, String>(1))?
        .collect::<Result<_, _>>()?;
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let whole = format!(
        "INSERT OR IGNORE INTO main.\"{table}\" ({list}) SELECT {list} FROM damaged.\"{table}\""
    );
    match conn.execute(&whole, []) {
        Ok(rows) => return Ok((rows, None)),
        Err(err) if !is_corruption(&err) => return Err(err),
        Err(_) => {}
    }
    // Rows in key order: the rowid, or the primary key of a WITHOUT ROWID table.
    let key: Vec<String> = conn
        .prepare(&format!("PRAGMA main.table_info(\"{table}\")"))?
        .query_map([], |row| {
            Ok((row.get::<_, String>(1)?, row.get::<_, i64>(5)?))
        })?
        .filter_map(|column| match column {
            Ok((name, pk)) if pk > 0 => Some(Ok(format!("\"{name}\""))),
            Ok(_) => None,
            Err(err) => Some(Err(err)),
        })
        .collect::<Result<_, _>>()?;
    let rowid = conn
        .prepare(&format!("SELECT rowid FROM damaged.\"{table}\" LIMIT 0"))
        .is_ok();
    let order = if rowid || key.is_empty() {
        vec!["rowid".to_owned()]
    } else {
        key
    };
    let placeholders = vec!["?"; columns.len()].join(", ");
    let insert = format!("INSERT OR IGNORE INTO main.\"{table}\" ({list}) VALUES ({placeholders})");
    let mut copied = 0;
    let mut why = None;
    // From the front until the damage, then from the back until it again.
    for direction in ["ASC", "DESC"] {
        let by = order
            .iter()
            .map(|column| format!("{column} {direction}"))
            .collect::<Vec<_>>()
            .join(", ");
        let read = format!("SELECT {list} FROM damaged.\"{table}\" ORDER BY {by}");
        let mut select = match conn.prepare(&read) {
            Ok(select) => select,
            Err(err) => {
                why = Some(err.to_string());
                continue;
            }
        };
        let mut copy = || -> Result<(), rusqlite::Error> {
            let mut rows = select.query([])?;
            while let Some(row) = rows.next()? {
                let values: Vec<Value> = (0..columns.len())
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<Result<_, _>>()?;
                copied += conn.execute(&insert, rusqlite::params_from_iter(values))?;
            }
            Ok(())
        };
        if let Err(err) = copy() {
            why = Some(err.to_string());
        }
    }
    Ok((copied, why.map(|why| format!("some rows: {why}"))))
}

fn is_corruption(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// Refuses, before SQLite touches it, what keepwatch must not or cannot use.
fn refuse_unusable(path: &Path) -> Result<(), StoreError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == ErrorKind::NotFound => return folder_writable(path),
        Err(source) => {
            return Err(StoreError::ReadOnly {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if meta.is_dir() {
        return Err(StoreError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|source| StoreError::ReadOnly {
            path: path.to_path_buf(),
            source,
        })?;
    folder_writable(path)?;
    let mut header = [0u8; 100];
    let read = file.read(&mut header).unwrap_or(0);
    if read == 0 {
        return Ok(());
    }
    if read < header.len() || !header.starts_with(b"SQLite format 3\0") {
        return Err(StoreError::NotADatabase {
            path: path.to_path_buf(),
        });
    }
    let id = i32::from_be_bytes([header[68], header[69], header[70], header[71]]);
    if id != 0 && id != schema::APPLICATION_ID {
        return Err(StoreError::ForeignDatabase {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// SQLite in WAL mode creates files beside the database, so its folder must
/// be writable too; found out by creating (and removing) a file there.
fn folder_writable(path: &Path) -> Result<(), StoreError> {
    let Some(folder) = path.parent().filter(|d| d.exists()) else {
        return Ok(());
    };
    let probe = folder.join(format!(
        ".{}.write-test",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    match OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(source) => Err(StoreError::ReadOnly {
            path: folder.to_path_buf(),
            source,
        }),
    }
}

/// Renames the damaged file (and its WAL and shared-memory files, which
/// SQLite finds by the name) to `<name>.damaged-<time>`.
fn move_aside(path: &Path, now: Timestamp) -> Result<PathBuf, StoreError> {
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let damaged = path.with_file_name(format!("{name}.damaged-{stamp}"));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        let to = PathBuf::from(format!("{}{suffix}", damaged.display()));
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::NotFound && !suffix.is_empty() => {}
            Err(source) => {
                return Err(StoreError::ReadOnly { path: from, source });
            }
        }
    }
    Ok(damaged)
}
