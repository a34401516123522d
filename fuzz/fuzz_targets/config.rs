//! Any bytes as `keepwatch.toml`, loaded through the public API as
//! `keepwatch run` loads its file: the result is a config, or problems that
//! each name their line; never a panic. `tests/faults.rs` makes the same
//! judgement of mutations of this target's corpus in every test run.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("keepwatch.toml");
    if let Err(err) = keepwatch::config::parse_bytes(path, data) {
        assert!(!err.problems.is_empty(), "an error without a problem");
        for problem in &err.problems {
            assert!(problem.line.is_some(), "a problem without a line: {err}");
        }
    }
});
