//! `keepwatch service` on the real binary: it needs a settings file first,
//! and says how to write one. (The platforms' files and exact commands are
//! tested in `src/deploy/service/`, through a recording runner.)

#![cfg(unix)]

#[path = "support/binary.rs"]
mod binary;

use binary::Keepwatch;

#[test]
fn service_install_without_a_settings_file_says_to_write_one_first() {
    let kw = Keepwatch::new();
    for action in ["install", "status", "uninstall"] {
        let out = kw.run(&["service", action]);
        assert_eq!(out.status.code(), Some(1));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("There is no config file at")
                && said.contains("`keepwatch init --service`"),
            "{said}"
        );
    }
}
