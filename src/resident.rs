//! keepwatch's own idle code let go of from its resident memory.
//!
//! A running program keeps every page of its code it ever ran mapped, and
//! Linux maps code in 64 KiB windows around each page touched. Start-up
//! (reading the config, opening the database, the API's router, the first
//! round of checks) runs code that is idle afterwards, so a `keepwatch run`
//! kept megabytes of its binary resident that it would not run again until
//! its next start (issue 11). [`let_go_of_idle_code`] unmaps the binary's
//! pages from this process (`MADV_DONTNEED`); they stay in the page cache,
//! so the code that keeps running is mapped back at its next use, at the cost
//! of a minor fault per window (well under a millisecond for all of it), and
//! the rest stays out. The linker places the code that runs in steady state
//! together (`build.rs`), so what comes back is a few contiguous pieces.
//!
//! Only pages nobody has written may be let go: for them the file is the
//! truth. So only the binary's read-only mappings that hold no private copy
//! of a page (`Anonymous: 0 kB` in `/proc/self/smaps`) are touched, never
//! relocated data, the heap or a stack. On other systems it does nothing.

/// Unmaps keepwatch's own code and read-only data from this process; what
/// keeps running is mapped back at its next use. Returns the number of
/// bytes of the binary it applied to.
pub fn let_go_of_idle_code() -> usize {
    imp::let_go()
}

/// Lets go of idle code ([`let_go_of_idle_code`]) and gives the heap's free
/// pages back ([`give_back_free_heap`]), saying in the debug log how much,
/// `after` what (start-up, the hourly chores, a report).
pub fn let_go_of_idle_memory(after: &str) {
    let covered = let_go_of_idle_code();
    let heap = give_back_free_heap();
    tracing::debug!(
        "after {after}, let go of {covered} bytes of idle program pages (free heap given back: {heap})"
    );
}

/// Hands the heap's free pages back to the system: glibc keeps freed memory
/// for the next allocation, and what start-up (the config, the first round
/// of checks) or a rare job (a scheduled report's PDF and email) freed is
/// bigger than what the agent allocates in between: 0.3 MiB of an agent's
/// 2.8 MiB of heap 80 s after its start. Returns whether anything
/// was given back; does nothing where the C library is not glibc.
pub fn give_back_free_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free memory of the allocator's own
        // arenas to the system; it takes the allocator's locks itself.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::os::unix::fs::MetadataExt;

    /// Lets go of every clean mapping of this process's own binary; the
    /// bytes covered. Nothing is done when the binary or the mappings cannot
    /// be read: this only ever saves memory.
    pub(super) fn let_go() -> usize {
        let Ok(binary) = std::fs::metadata("/proc/self/exe") else {
            return 0;
        };
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return 0;
        };
        let mut covered = 0;
        for mapping in mappings(&smaps) {
            if mapping.inode != binary.ino() || !mapping.clean() {
                continue;
            }
            let length = mapping.end - mapping.start;
            // SAFETY: the range is a whole mapping of this process, read-only
            // and without a private page, as smaps listed it a moment ago
            // (nothing makes a read-only mapping of the binary writable): its
            // pages are the file's, and after MADV_DONTNEED the next access
            // reads them back from it unchanged.
            let done = unsafe {
                libc::madvise(
                    mapping.start as *mut libc::c_void,
                    length,
                    libc::MADV_DONTNEED,
                )
            };
            if done == 0 {
                covered += length;
            }
        }
        covered
    }

    /// One mapping of a file, as `/proc/self/smaps` lists it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Mapping {
        start: usize,
        end: usize,
        writable: bool,
        inode: u64,
        /// Bytes of this mapping that are private copies (written pages).
        anonymous: u64,
    }

    impl Mapping {
        /// A read-only mapping with no page written: its pages can be dropped and
        /// read back from the file.
        fn clean(&self) -> bool {
            !self.writable && self.anonymous == 0
        }
    }

    /// The mappings of `/proc/self/smaps` text, with the fields this module uses;
    /// a line it cannot read ends the mapping it belongs to.
    fn mappings(smaps: &str) -> Vec<Mapping> {
        let mut found: Vec<Mapping> = Vec::new();
        for line in smaps.lines() {
            if let Some(mapping) = header(line) {
                found.push(mapping);
            } else if let (Some(last), Some(rest)) =
                (found.last_mut(), line.strip_prefix("Anonymous:"))
            {
                let kib = rest.trim().trim_end_matches("kB").trim().parse::<u64>();
                // Unreadable: count it as written, so the mapping is left alone.
                last.anonymous = kib.map_or(u64::MAX, |kib| kib * 1024);
            }
        }
        found
    }

    /// `start-end perms offset dev inode [path]`, the first line of a mapping.
    fn header(line: &str) -> Option<Mapping> {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let (_offset, _dev) = (fields.next()?, fields.next()?);
        let inode = fields.next()?.parse().ok()?;
        Some(Mapping {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            writable: perms.as_bytes().get(1) == Some(&b'w'),
            inode,
            // Until its Anonymous line says otherwise.
            anonymous: u64::MAX,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const SMAPS: &str = "\
5581d6a00000-5581d6b00000 r--p 00000000 fd:01 4242 /usr/bin/keepwatch
Size:               1024 kB
Rss:                 512 kB
Anonymous:             0 kB
5581d6b00000-5581d6f00000 r-xp 00100000 fd:01 4242 /usr/bin/keepwatch
Anonymous:             0 kB
5581d6f00000-5581d6f40000 r--p 00500000 fd:01 4242 /usr/bin/keepwatch
Anonymous:           256 kB
5581d6f40000-5581d6f50000 rw-p 00540000 fd:01 4242 /usr/bin/keepwatch
Anonymous:            64 kB
5581d8000000-5581d8100000 rw-p 00000000 00:00 0                          [heap]
Anonymous:          1024 kB
7f0000000000-7f0000001000 r--p 00000000 fd:01 77 /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000001000-7f0000002000 r--p 00000000 fd:01 4242 /usr/bin/keepwatch
";

        #[test]
        fn only_the_binarys_unwritten_read_only_mappings_are_clean() {
            let clean: Vec<(usize, u64)> = mappings(SMAPS)
                .into_iter()
                .filter(Mapping::clean)
                .map(|m| (m.start, m.inode))
                .collect();
            // The header and the code of the binary, and libc's (told apart by
            // inode where it is used); not the relocated read-only data (written
            // at start), the writable data, the heap, nor a mapping whose
            // Anonymous line is missing.
            assert_eq!(
                clean,
                vec![
                    (0x5581d6a00000, 4242),
                    (0x5581d6b00000, 4242),
                    (0x7f0000000000, 77)
                ]
            );
        }

        #[test]
        fn an_unreadable_line_leaves_the_mapping_alone() {
            let text =
                "5581d6a00000-5581d6b00000 r--p 00000000 fd:01 4242 /bin/k\nAnonymous: lots kB\n";
            assert_eq!(mappings(text).iter().filter(|m| m.clean()).count(), 0);
            assert!(mappings("not a mapping\n").is_empty());
        }

        /// The resident part of this test binary's own mappings, in bytes.
        fn binary_resident() -> u64 {
            use std::os::unix::fs::MetadataExt;
            let inode = std::fs::metadata("/proc/self/exe")
                .map(|m| m.ino())
                .unwrap_or_default();
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
            let mut resident = 0;
            let mut ours = false;
            for line in smaps.lines() {
                if let Some(mapping) = header(line) {
                    ours = mapping.inode == inode;
                } else if ours && let Some(rest) = line.strip_prefix("Rss:") {
                    resident += rest
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .unwrap_or(0)
                        * 1024;
                }
            }
            resident
        }

        #[test]
        fn letting_go_shrinks_the_resident_binary_and_the_code_still_runs() {
            let parsed = mappings(SMAPS);
            let before = binary_resident();
            let covered = let_go();
            let after = binary_resident();
            assert!(covered > 0);
            assert!(
                after < before,
                "resident binary {before} bytes before, {after} after"
            );
            // Code and constants read back from the file give the same answers.
            assert_eq!(mappings(SMAPS), parsed);
        }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod heap_tests {
    #[test]
    fn heap_freed_between_live_blocks_is_given_back() {
        // Blocks under glibc's mmap threshold come from the heap; freeing
        // every other one leaves free pages that only a trim returns.
        let mut blocks: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8; 60 * 1024]).collect();
        let kept: Vec<Vec<u8>> = blocks
            .drain(..)
            .enumerate()
            .filter_map(|(i, block)| (i % 2 == 0).then_some(block))
            .collect();
        assert!(super::give_back_free_heap());
        assert!(kept.iter().enumerate().all(|(i, b)| b[0] == (2 * i) as u8));
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn let_go() -> usize {
        0
    }
}
