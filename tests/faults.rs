//! keepwatch on a bad day, on the real binary: odd input, signals at the
//! worst moment, a computer out of resources. Each test is a failure that was
//! found by trying, and stays fixed.

#![cfg(unix)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[path = "support/binary.rs"]
mod binary;
use binary::{ALWAYS_OPEN, Keepwatch, closed_port, web_server};

/// A service name of 70,000 characters used to abort `check` and `status`
/// ("formatting argument out of range"); a name with a line break could
/// forge a log line.
#[test]
fn odd_service_names_are_shown_cut_and_escaped_everywhere() {
    let kw = Keepwatch::new();
    let long = "a".repeat(70_000);
    let port = closed_port();
    kw.config(&format!(
        "[[service]]\nname = \"{long}\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\ninterval = \"1s\"\n\
         [[service]]\nname = \"Shop\\nERROR forged line\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\ninterval = \"1s\"\n"
    ));
    let out = kw.run(&["check"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(!errors.contains("panicked"), "{errors}");
    assert!(errors.contains("At least one service is down."), "{errors}");
    assert!(shown.contains("2 services checked"), "{shown}");
    for line in shown.lines() {
        assert!(
            line.chars().count() < 1_200,
            "a line of {} characters",
            line.len()
        );
        assert!(!line.starts_with("ERROR forged"), "{shown}");
    }
    assert!(
        shown.contains(&format!("{}…  DOWN", "a".repeat(80))),
        "{shown}"
    );
    assert!(shown.contains("Shop\\nERROR forged line"), "{shown}");

    let mut running = kw.start();
    running.wait_for("both services in the status", |_| {
        let status = kw.status();
        status.matches("DOWN since").count() == 2
    });
    let log = running.stop();
    assert!(
        !log.lines().any(|line| line.starts_with("ERROR forged")),
        "{log}"
    );
    let status = kw.status();
    assert!(status.contains(&format!("{}…", "a".repeat(80))), "{status}");
    assert!(!status.contains(&"a".repeat(1_001)), "{status}");
}

/// SIGHUP's default action is to end the process; its handler used to be
/// installed only after the database was opened, so a reload request sent
/// while keepwatch was starting killed it.
#[test]
fn sighup_while_starting_is_a_reload_request_not_the_end() {
    let kw = Keepwatch::new();
    kw.config("");
    for attempt in 0..5 {
        let mut running = kw.start();
        running.wait_for("the first log line", |r| !r.log().is_empty());
        running.signal("HUP");
        running.wait_for("the start to complete", |r| {
            r.log().contains("keeping history in")
        });
        assert!(
            running.child.try_wait().expect("wait").is_none(),
            "attempt {attempt}: SIGHUP while starting ended keepwatch; log:\n{}",
            running.log()
        );
        running.stop();
    }
}

/// Runs `keepwatch check` with at most `files` file descriptors open.
fn check_with_file_limit(kw: &Keepwatch, files: u64) -> (String, String) {
    let mut command = kw.command(&["check"]);
    command.stdin(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: files,
                rlim_max: files,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = command.output().expect("run keepwatch check");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// With few file descriptors left, services that were fine were marked DOWN
/// with "Too many open files": keepwatch's own problem blamed on them.
#[test]
fn running_out_of_file_descriptors_is_keepwatchs_problem_not_the_services() {
    let kw = Keepwatch::new();
    let web = web_server();
    kw.config(&format!(
        "[[service]]\nname = \"Shop\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{web}/\"\n\
         [[service]]\nname = \"Port\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {web}\n"
    ));
    let started = Instant::now();
    let mut not_run = 0;
    // The number of descriptors keepwatch needs before the first check
    // varies with the build; walking the limit up finds the tight spot.
    for files in 6..24 {
        let (shown, errors) = check_with_file_limit(&kw, files);
        for line in shown
            .lines()
            .filter(|l| l.starts_with("Shop") || l.starts_with("Port"))
        {
            assert!(
                !line.contains("DOWN"),
                "with {files} file descriptors a service that is fine was called down:\n{shown}{errors}"
            );
            if line.contains("NOT RUN") {
                assert!(line.contains("Too many open files"), "{line}");
                not_run += 1;
            }
        }
        if not_run > 0 && shown.contains("2 up") {
            break;
        }
    }
    assert!(not_run > 0, "no limit made a check impossible to run");
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// A sandbox whose database has history and a delivered alert: a service
/// that is down, alerting through the log channel.
fn with_history() -> (Keepwatch, PathBuf) {
    let kw = Keepwatch::new();
    kw.config(&format!(
        "{ALWAYS_OPEN}[collect]\ncpu = \"1s\"\nmemory = \"1s\"\n\
         [[service]]\nname = \"Warehouse\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {}\ninterval = \"1s\"\n",
        closed_port()
    ));
    let mut running = kw.start();
    running.wait_for("the alert in the log", |r| {
        r.log().contains("Warehouse is down since")
    });
    running.stop();
    let database = kw.home().join("data").join("keepwatch.db");
    (kw, database)
}

/// The page number where `table` starts.
fn root_page(database: &Path, table: &str) -> u64 {
    let conn = rusqlite::Connection::open(database).expect("open");
    conn.query_row(
        "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
        [table],
        |row| row.get::<_, i64>(0),
    )
    .expect("root page")
    .unsigned_abs()
}

fn overwrite_page(database: &Path, page: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(database)
        .expect("open");
    file.seek(SeekFrom::Start((page - 1) * 4096)).expect("seek");
    file.write_all(&[0xAB; 4096]).expect("write");
}

fn integrity(database: &Path) -> String {
    let conn = rusqlite::Connection::open(database).expect("open");
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity check")
}

/// A way to damage the database file.
type Damage = Box<dyn Fn(&Path)>;

/// One page of the file overwritten used to go unnoticed until alerting
/// failed with "database disk image is malformed" and no alert was sent.
/// Now each kind of damage ends in a new database, what could be read
/// copied over, the admin told through the channels, and monitoring on.
#[test]
fn a_damaged_database_is_moved_aside_and_monitoring_and_alerting_go_on() {
    let (kw, database) = with_history();
    let good = std::fs::read(&database).expect("read the database");
    let pages = [
        ("the page map", 2),
        ("the alerts", root_page(&database, "alerts")),
        ("the outbox", root_page(&database, "outbox")),
        ("the recent samples", root_page(&database, "staging")),
        ("the events", root_page(&database, "events")),
    ];
    let mut cases: Vec<(String, Damage)> = pages
        .into_iter()
        .map(|(what, page)| {
            let damage: Damage = Box::new(move |db| overwrite_page(db, page));
            (format!("page {page} ({what}) overwritten"), damage)
        })
        .collect();
    let half = good.len() as u64 / 2;
    cases.push((
        "the file cut in half".to_owned(),
        Box::new(move |db| {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(db)
                .expect("open");
            file.set_len(half).expect("truncate");
        }),
    ));
    for (what, damage) in &cases {
        for entry in std::fs::read_dir(database.parent().unwrap())
            .unwrap()
            .flatten()
        {
            if entry.file_name().to_string_lossy().contains("damaged") {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        std::fs::write(&database, &good).unwrap();
        damage(&database);
        let mut running = kw.start();
        running.wait_for("the admin to be told", |r| {
            r.log()
                .contains("keepwatch's database was damaged and has been replaced since")
        });
        running.wait_for("monitoring to go on", |_| kw.status().contains("Warehouse"));
        let log = running.stop();
        assert!(log.contains("It was moved to"), "{what}:\n{log}");
        let copies: Vec<_> = std::fs::read_dir(database.parent().unwrap())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
            .collect();
        assert!(!copies.is_empty(), "{what}: no damaged copy kept");
        assert_eq!(integrity(&database), "ok", "{what}");
        let status = kw.status();
        assert!(status.contains("database was damaged"), "{what}:\n{status}");
    }
}

/// Runs `keepwatch run` (as `user` when given) and returns its error output;
/// it must refuse to start, at once.
fn refused(kw: &Keepwatch, user: Option<u32>) -> String {
    let mut command = kw.command(&["run"]);
    command.stdin(Stdio::null());
    if let Some(uid) = user {
        command.uid(uid).gid(uid);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keepwatch");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("keepwatch started on an unusable database");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut said)
        .expect("read stderr");
    assert!(!status.success(), "{said}");
    said
}

/// A database keepwatch cannot use is refused with its cause and the fix:
/// a read-only file used to be opened, and everything measured was lost.
#[test]
fn an_unusable_database_is_refused_with_its_cause_and_fix() {
    let (kw, database) = with_history();
    let good = std::fs::read(&database).expect("read the database");
    let data = database.parent().unwrap().to_path_buf();
    let reset = || {
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
    };

    reset();
    std::fs::create_dir(&database).unwrap();
    let said = refused(&kw, None);
    assert!(said.contains("is a folder, not a database file"), "{said}");

    reset();
    std::fs::write(&database, "these are my notes, not a database\n").unwrap();
    let said = refused(&kw, None);
    assert!(said.contains("is not a keepwatch database"), "{said}");
    assert!(said.contains("agent.data_dir"), "{said}");

    reset();
    std::fs::write(&database, &good).unwrap();
    overwrite_page(&database, 1);
    let said = refused(&kw, None);
    assert!(said.contains("its first page is damaged"), "{said}");

    reset();
    let other = rusqlite::Connection::open(&database).unwrap();
    other
        .execute_batch("PRAGMA application_id = 42; CREATE TABLE notes (x);")
        .unwrap();
    drop(other);
    let said = refused(&kw, None);
    assert!(said.contains("database of another program"), "{said}");

    reset();
    std::fs::write(&database, &good).unwrap();
    let mode = |path: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    mode(kw.home(), 0o755);
    mode(&data, 0o777);
    mode(&database, 0o444);
    // Root may write anything; the case is a normal user's.
    // SAFETY: geteuid has no preconditions.
    let user = (unsafe { libc::geteuid() } == 0).then_some(65_534);
    let said = refused(&kw, user);
    assert!(
        said.contains("cannot be written by the user running keepwatch"),
        "{said}"
    );
    assert!(said.contains("Permission denied"), "{said}");
    assert_eq!(
        std::fs::read(&database).unwrap(),
        good,
        "the file was changed"
    );

    mode(&database, 0o666);
    mode(&data, 0o755);
    let said = refused(&kw, user);
    assert!(said.contains("writable"), "{said}");
    assert_eq!(
        std::fs::read(&database).unwrap(),
        good,
        "the file was changed"
    );
}
