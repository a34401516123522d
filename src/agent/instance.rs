//! One `keepwatch run` per database. Two agents on one file would check
//! everything twice and, worse, both send each alert; the second one to start
//! is refused with a message saying which process holds the database.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while the agent runs; the operating system releases it when the
/// process ends, however it ends.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

/// Why the agent may not start.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another keepwatch is already running on {database} (process {pid}); stop it first, or give this one its own `data_dir`"
    )]
    Taken { database: PathBuf, pid: String },
    #[error("cannot create the lock file {path}: {source}; check that the data folder is writable")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The lock file is there but belongs to another user: keepwatch ran as
    /// someone else before (root, from a terminal), and its files stayed theirs.
    #[error(
        "{path} cannot be written by the user running keepwatch ({source}): it was made by \
         another user, likely when keepwatch ran as someone else (root?) before. Make the \
         data folder and its files writable for the user running keepwatch (e.g. `chown -R` \
         them to it), run keepwatch as the user that owns them, or set `agent.data_dir` to \
         another folder"
    )]
    NotOurs {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Claims `database` for this process, through `<database>.lock`.
pub fn claim(database: &Path) -> Result<InstanceLock, LockError> {
    let path = crate::store::Store::lock_path(database);
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::PermissionDenied if path.exists() => LockError::NotOurs {
            path: path.clone(),
            source,
        },
        _ => LockError::Io {
            path: path.clone(),
            source,
        },
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = match pid.trim() {
                "" => "unknown".to_owned(),
                pid => pid.to_owned(),
            };
            return Err(LockError::Taken {
                database: database.to_path_buf(),
                pid,
            });
        }
        Err(TryLockError::Error(err)) => return Err(io(err)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    Ok(InstanceLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_on_the_same_database_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keepwatch.db");
        let first = claim(&database).unwrap();
        let err = claim(&database).unwrap_err().to_string();
        assert!(
            err.contains("another keepwatch is already running"),
            "{err}"
        );
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        assert!(claim(&database).is_ok());
    }

    #[test]
    fn an_unwritable_folder_is_named() {
        let database = Path::new("/nonexistent-keepwatch-dir/keepwatch.db");
        let err = claim(database).unwrap_err().to_string();
        assert!(
            err.contains("/nonexistent-keepwatch-dir/keepwatch.db.lock"),
            "{err}"
        );
    }
}
