//! What can go wrong with the store, each case saying what to do about it.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// An error of the store. Messages name the database file and, where the user
/// can fix something, say how.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The folder for the database could not be created.
    #[error(
        "cannot create the folder {path} for the database: {source}. Create it yourself and \
         make it writable for the user running keepwatch, or set `agent.data_dir` to a \
         writable folder"
    )]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// SQLite could not open or set up the database file.
    #[error(
        "cannot open the database {path}: {source}. Check that the file and its folder are \
         writable by the user running keepwatch, or set `agent.data_dir` to another folder"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// The file exists but is not a SQLite database (or its first page, which
    /// says what it is, is damaged).
    #[error(
        "{path} is not a keepwatch database: it is another kind of file, or its first page \
         is damaged. If it is another program's file, set `agent.data_dir` to another \
         folder; if it is keepwatch's, rename it (e.g. add `.damaged` to its name) and \
         keepwatch starts a new database there"
    )]
    NotADatabase { path: PathBuf },

    /// Where the database should be there is a folder.
    #[error(
        "{path} is a folder, not a database file. Move it away (keepwatch then creates the \
         database there), or set `agent.data_dir` to another folder"
    )]
    NotAFile { path: PathBuf },

    /// The database file or its folder cannot be written by this user:
    /// keepwatch would run and then lose everything it measured.
    #[error(
        "{path} cannot be written by the user running keepwatch ({source}), so nothing it \
         measures could be kept. Make the file and its folder writable for that user (e.g. \
         `chown` them to it), run keepwatch as the user that owns them, or set \
         `agent.data_dir` to a writable folder"
    )]
    ReadOnly {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// SQLite found the file damaged (a page overwritten, the file cut short).
    #[error(
        "the database {path} is damaged ({detail}). `keepwatch run` moves a damaged database \
         aside, starts a new one and copies over what can still be read; run it, or move \
         the file away yourself"
    )]
    Corrupt { path: PathBuf, detail: String },

    /// The file is a SQLite database of some other program.
    #[error(
        "{path} is a SQLite database of another program, not keepwatch's. Set \
         `agent.data_dir` to another folder so it is left alone"
    )]
    ForeignDatabase { path: PathBuf },

    /// The database was written by a newer keepwatch with a schema this one
    /// does not know; opening it could damage it.
    #[error(
        "{path} was written by a newer keepwatch (schema version {found}; this one knows up \
         to {supported}). Update keepwatch, or set `agent.data_dir` to another folder"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// A schema migration failed; the database was left as it was before.
    #[error("cannot upgrade the database {path} to schema version {version}: {source}")]
    Migration {
        path: PathBuf,
        version: i64,
        #[source]
        source: rusqlite::Error,
    },

    /// The disk is full, or the database reached its page limit.
    #[error(
        "the disk holding {path} is full. Free some space, or lower `storage.max_size` or \
         `storage.retention`"
    )]
    DiskFull { path: PathBuf },

    /// Another process kept the database locked.
    #[error(
        "the database {path} stayed locked by another process (is a second keepwatch \
         running with the same data folder?)"
    )]
    Busy { path: PathBuf },

    /// Stored history could not be decoded.
    #[error("damaged history in {path} ({what}): {detail}")]
    Damaged {
        path: PathBuf,
        what: String,
        detail: String,
    },

    /// Any other SQLite failure, with the operation that hit it.
    #[error("storage {operation} failed on {path}: {source}")]
    Sqlite {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// `true` when the disk (or the database's page limit) is full: the case
    /// where keeping samples in memory and retrying later makes sense.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull { .. })
    }

    /// Classifies a SQLite error hit while doing `operation` on `path`.
    pub(crate) fn sqlite(operation: &'static str, path: &Path, source: rusqlite::Error) -> Self {
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { path },
            Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path },
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path,
                detail: source.to_string(),
            },
            _ => StoreError::Sqlite {
                operation,
                path,
                source,
            },
        }
    }
}
