//! A small file system of its own for a test to fill (tests/faults.rs,
//! tests/hub_faults.rs).

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A small file system of its own (tmpfs, `size` bytes), mounted by the test
/// and unmounted when dropped. `None` (said loudly) where mounting is not
/// allowed (not root); `KEEPWATCH_REQUIRE_SERVICES=1` makes that a failure.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            return Some(Self { dir });
        }
        let why = "cannot mount a tmpfs (needs root): the disk-full test did not run";
        assert!(
            std::env::var_os("KEEPWATCH_REQUIRE_SERVICES").is_none(),
            "{why}; run the tests as root (as .ci/run does in its container)"
        );
        eprintln!("SKIPPED: {why}");
        None
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system to the last byte with a file of its own.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let block = vec![0x5a_u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let byte = [0u8; 1];
        while file.write_all(&byte).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}
