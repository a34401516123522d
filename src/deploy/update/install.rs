//! Putting a verified binary in place: its smoke test, the swap that keeps
//! the old binary as `keepwatch.old`, and the way back to it.
//!
//! On Unix the old binary is hard-linked (or copied) to `keepwatch.old`,
//! then the new one is renamed over the binary's path: one `rename`, so the
//! path always holds a whole keepwatch, and the running process keeps its
//! own (now unlinked) file. Windows cannot replace a running executable but
//! can rename it: the running binary is renamed aside to `keepwatch.exe.old`
//! and the new one renamed into its place.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::UpdateError;
use super::manifest::Version;

/// How long the new binary may take to answer `--version`.
pub const SMOKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The staging file, beside the binary so the swap is a rename on one disk.
pub fn staging_path(binary: &Path) -> PathBuf {
    sibling(binary, ".update")
}

/// Where the old binary is kept: `keepwatch.old` beside it.
pub fn old_path(binary: &Path) -> PathBuf {
    sibling(binary, ".old")
}

fn sibling(binary: &Path, suffix: &str) -> PathBuf {
    let mut name = binary
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "keepwatch".into());
    name.push(suffix);
    binary.with_file_name(name)
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> UpdateError + '_ {
    move |source| UpdateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes `staged` executable and checks that it answers `--version` with
/// `keepwatch <expected>` `within` (normally [`SMOKE_TIMEOUT`]).
pub fn smoke_test(staged: &Path, expected: Version, within: Duration) -> Result<(), UpdateError> {
    make_executable(staged)?;
    let smoke = |why: String| UpdateError::Smoke(why);
    let mut child = Command::new(staged)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| smoke(format!("it does not run on this computer ({err})")))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < within => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) | Err(_) => {
                // Best effort: it is a process we started and no longer want.
                let _ = child.kill();
                let _ = child.wait();
                return Err(smoke(format!(
                    "it did not answer within {} ms",
                    within.as_millis()
                )));
            }
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|err| smoke(err.to_string()))?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let wanted = format!("keepwatch {expected}");
    if !out.status.success() || said != wanted {
        return Err(smoke(format!(
            "it said \"{}\" ({}) instead of \"{wanted}\"",
            crate::printable::line(&said),
            out.status
        )));
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), UpdateError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io_error(path))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> Result<(), UpdateError> {
    Ok(())
}

/// Puts `staged` at `binary`, keeping the old binary as [`old_path`]; the
/// old binary's path. If that fails, `binary` is as it was and `staged`
/// is removed.
pub fn swap(binary: &Path, staged: &Path) -> Result<PathBuf, UpdateError> {
    let swapped = replace(binary, staged);
    if swapped.is_err() {
        // Best effort: the staged file is ours and will not be used.
        let _ = std::fs::remove_file(staged);
    }
    swapped
}

fn replace(binary: &Path, staged: &Path) -> Result<PathBuf, UpdateError> {
    let old = old_path(binary);
    remove_if_there(&old)?;
    keep_aside(binary, &old)?;
    if let Err(source) = std::fs::rename(staged, binary) {
        put_back(binary, &old);
        return Err(UpdateError::Io {
            path: binary.to_path_buf(),
            source,
        });
    }
    Ok(old)
}

/// Puts the old binary back at `binary` (the new one is dropped).
pub fn roll_back(binary: &Path) -> Result<(), UpdateError> {
    let old = old_path(binary);
    move_failed_aside(binary)?;
    std::fs::rename(&old, binary).map_err(io_error(&old))
}

/// Windows cannot rename over the binary the service just ran: the failed
/// one goes aside as `keepwatch.exe.failed` first.
#[cfg(windows)]
fn move_failed_aside(binary: &Path) -> Result<(), UpdateError> {
    let failed = sibling(binary, ".failed");
    remove_if_there(&failed)?;
    std::fs::rename(binary, &failed).map_err(io_error(binary))
}

/// Elsewhere the rename back replaces it.
#[cfg(not(windows))]
fn move_failed_aside(_: &Path) -> Result<(), UpdateError> {
    Ok(())
}

fn remove_if_there(path: &Path) -> Result<(), UpdateError> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io_error(path)(err)),
        _ => Ok(()),
    }
}

/// A hard link costs no space; a file system without them (FAT) gets a copy.
#[cfg(not(windows))]
fn keep_aside(binary: &Path, old: &Path) -> Result<(), UpdateError> {
    std::fs::hard_link(binary, old)
        .or_else(|_| std::fs::copy(binary, old).map(drop))
        .map_err(io_error(old))
}

#[cfg(windows)]
fn keep_aside(binary: &Path, old: &Path) -> Result<(), UpdateError> {
    std::fs::rename(binary, old).map_err(io_error(binary))
}

/// After a failed rename into place: on Windows the binary was moved aside
/// and goes back (best effort: the rename error that brought us here is
/// reported).
#[cfg(windows)]
fn put_back(binary: &Path, old: &Path) {
    let _ = std::fs::rename(old, binary);
}

/// Elsewhere it never moved.
#[cfg(not(windows))]
fn put_back(_: &Path, _: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_and_old_files_sit_beside_the_binary() {
        let binary = Path::new("/opt/kw/keepwatch");
        assert_eq!(staging_path(binary), Path::new("/opt/kw/keepwatch.update"));
        assert_eq!(old_path(binary), Path::new("/opt/kw/keepwatch.old"));
    }

    #[test]
    fn a_swap_keeps_the_old_binary_and_a_roll_back_restores_it() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("keepwatch");
        let staged = staging_path(&binary);
        std::fs::write(&binary, "old").unwrap();
        std::fs::write(old_path(&binary), "older still").unwrap();
        std::fs::write(&staged, "new").unwrap();
        let old = swap(&binary, &staged).unwrap();
        assert_eq!(std::fs::read_to_string(&binary).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "old");
        assert!(!staged.exists());
        roll_back(&binary).unwrap();
        assert_eq!(std::fs::read_to_string(&binary).unwrap(), "old");
        let err = roll_back(&binary).unwrap_err().to_string();
        assert!(err.contains("keepwatch.old"), "{err}");
    }

    #[test]
    fn a_swap_without_a_staged_file_leaves_the_binary_alone() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("keepwatch");
        std::fs::write(&binary, "old").unwrap();
        let err = swap(&binary, &staging_path(&binary)).unwrap_err();
        assert!(matches!(err, UpdateError::Io { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&binary).unwrap(), "old");
        // A folder where keepwatch.old goes: nothing is replaced, and the
        // staged binary does not stay behind.
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("keepwatch");
        std::fs::write(&binary, "old").unwrap();
        std::fs::create_dir_all(old_path(&binary).join("kept")).unwrap();
        std::fs::write(staging_path(&binary), "new").unwrap();
        let err = swap(&binary, &staging_path(&binary)).unwrap_err();
        assert!(err.to_string().contains("keepwatch.old"), "{err}");
        assert_eq!(std::fs::read_to_string(&binary).unwrap(), "old");
        assert!(!staging_path(&binary).exists());
        let missing =
            smoke_test(&dir.path().join("none"), Version(0, 2, 0), SMOKE_TIMEOUT).unwrap_err();
        assert!(missing.to_string().contains("none"), "{missing}");
    }

    #[test]
    fn the_smoke_test_wants_the_manifests_version_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("keepwatch.update");
        std::fs::write(&script, "#!/bin/sh\necho keepwatch 0.2.0\n").unwrap();
        smoke_test(&script, Version(0, 2, 0), SMOKE_TIMEOUT).unwrap();
        let err = smoke_test(&script, Version(0, 3, 0), SMOKE_TIMEOUT)
            .unwrap_err()
            .to_string();
        assert!(err.contains("said \"keepwatch 0.2.0\""), "{err}");
        std::fs::write(&script, "\u{7f}ELF not really").unwrap();
        let err = smoke_test(&script, Version(0, 2, 0), SMOKE_TIMEOUT)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not run on this computer"), "{err}");
        std::fs::write(&script, "#!/bin/sh\nsleep 5\n").unwrap();
        let err = smoke_test(&script, Version(0, 2, 0), Duration::from_millis(100))
            .unwrap_err()
            .to_string();
        assert!(err.contains("did not answer within 100 ms"), "{err}");
    }
}
