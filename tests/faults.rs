//! keepwatch on a bad day, on the real binary: odd input, signals at the
//! worst moment, a computer out of resources. Each test is a failure that was
//! found by trying, and stays fixed.

#![cfg(unix)]

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[path = "support/binary.rs"]
mod binary;
use binary::{Keepwatch, closed_port, web_server};

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
