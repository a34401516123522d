//! `keepwatch init` finds the services of this computer: the PostgreSQL,
//! MariaDB and Redis servers on 127.0.0.1 (as in CI) are probed with their
//! real checks and written into the file, which `keepwatch check` then runs.
//! A server that is not there skips the test, loudly; with
//! `KEEPWATCH_REQUIRE_SERVICES=1` (as in CI) it fails it.

#![cfg(unix)]

#[path = "support/binary.rs"]
mod binary;

use binary::Keepwatch;

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn init_with_defaults_watches_the_databases_and_the_cache_of_this_computer() {
    let missing: Vec<&str> = [(5432, "PostgreSQL"), (3306, "MariaDB"), (6379, "Redis")]
        .into_iter()
        .filter(|(port, _)| !listening(*port))
        .map(|(_, name)| name)
        .collect();
    if !missing.is_empty() {
        let why = format!("{} not listening on 127.0.0.1", missing.join(", "));
        assert!(
            std::env::var("KEEPWATCH_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "KEEPWATCH_REQUIRE_SERVICES=1 and {why}"
        );
        eprintln!("\n*** SKIPPED: {why} ***\n");
        return;
    }
    let kw = Keepwatch::new();
    let out = kw.run(&["init", "--defaults", "--config", "keepwatch.toml"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("Looking for services on this computer"),
        "{said}"
    );
    assert!(
        said.contains("Watching what was found on this computer: ")
            && said.contains("PostgreSQL, MySQL, Redis"),
        "{said}"
    );
    let text = std::fs::read_to_string(kw.home().join("keepwatch.toml")).unwrap();
    for block in [
        "name = \"PostgreSQL\"\ntype = \"postgres\"\nhost = \"127.0.0.1\"\nport = 5432\n",
        "name = \"MySQL\"\ntype = \"mysql\"\nhost = \"127.0.0.1\"\nport = 3306\n",
        "name = \"Redis\"\ntype = \"redis\"\nhost = \"127.0.0.1\"\nport = 6379\n",
    ] {
        assert!(text.contains(block), "{block} missing from:\n{text}");
    }
    // The written file validates, and its services are up.
    let check = kw.run(&["check", "--config", "keepwatch.toml"]);
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(said.contains("PostgreSQL  up"), "{said}");

    // Without scanning, nothing is looked for.
    let bare = kw.run(&[
        "init",
        "--defaults",
        "--no-scan",
        "--force",
        "--config",
        "keepwatch.toml",
    ]);
    assert!(!String::from_utf8_lossy(&bare.stdout).contains("Looking for services"));
    let text = std::fs::read_to_string(kw.home().join("keepwatch.toml")).unwrap();
    assert!(!text.contains("name = \"PostgreSQL\""));
}
