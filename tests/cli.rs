//! keepwatch as a new user meets it: the real binary, a real config file, a
//! real SQLite store, real signals. Each test gets its own home folder.

#![cfg(unix)]

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

#[path = "support/binary.rs"]
mod binary;
use binary::{ALWAYS_OPEN, Keepwatch, closed_port, web_server};

fn two_services(web: u16, closed: u16) -> String {
    format!(
        "[[service]]\nname = \"Shop\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{web}/\"\ninterval = \"1s\"\n\
         [[service]]\nname = \"Warehouse\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {closed}\ninterval = \"1s\"\n"
    )
}

const FAST: &str = "[collect]\ncpu = \"1s\"\nmemory = \"1s\"\ndisk = \"1s\"\nnetwork = \"1s\"\nload = \"1s\"\nuptime = \"1s\"\n";

#[test]
fn init_writes_a_commented_config_and_never_overwrites_silently() {
    let kw = Keepwatch::new();
    let path = kw.config_path();
    let out = kw.run(&["--config", path.to_str().unwrap(), "init", "--defaults"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("# Processor use, in total and per core.\ncpu = \"10s\""),
        "{text}"
    );

    let again = kw.run(&["--config", path.to_str().unwrap(), "init", "--defaults"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let forced = kw.run(&[
        "--config",
        path.to_str().unwrap(),
        "init",
        "--defaults",
        "--force",
    ]);
    assert!(forced.status.success());
    assert!(String::from_utf8_lossy(&forced.stdout).contains("The previous file was kept as"));
}

#[test]
fn init_asks_plain_questions_and_writes_the_answers() {
    let kw = Keepwatch::new();
    let mut child = kw
        .command(&["init", "--no-scan"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"Corner Shop\nEurope/Vienna\n08:00-18:00\n09:00-13:00\nclosed\nit@corner.example\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("Name of your business [My Business]: "),
        "{shown}"
    );
    // With no keepwatch.toml in the current folder, init writes the per-user one.
    let written = kw.home().join(".config/keepwatch/keepwatch.toml");
    let text = std::fs::read_to_string(&written).unwrap();
    for expected in [
        "name = \"Corner Shop\"",
        "timezone = \"Europe/Vienna\"",
        "friday = \"08:00-18:00\"",
        "saturday = \"09:00-13:00\"",
        "admin_email = \"it@corner.example\"",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
}

#[test]
fn with_no_config_at_all_it_monitors_this_host_with_defaults() {
    let kw = Keepwatch::new();
    let mut running = kw.start();
    let database = kw.home().join(".local/share/keepwatch/keepwatch.db");
    running.wait_for("memory in the status", |_| {
        database.exists() && kw.status().contains("Memory")
    });
    let status = kw.status();
    assert!(status.contains("keepwatch running"), "{status}");
    let log = running.stop();
    assert!(log.contains("built-in defaults"), "{log}");
    assert!(kw.status().contains("not running: stopped"));
}

#[test]
fn run_collects_every_family_into_sqlite_and_stops_cleanly() {
    let kw = Keepwatch::new();
    kw.config(FAST);
    let mut running = kw.start();
    running.wait_for("CPU, disk and load in the status", |_| {
        let status = kw.status();
        ["CPU", "Memory", "Disk /", "Load", "Up for"]
            .iter()
            .all(|part| status.contains(part))
    });
    let log = running.stop();
    assert!(log.contains("stopped cleanly"), "{log}");
    let status = kw.status();
    assert!(status.contains("not running: stopped"), "{status}");
    assert!(status.contains("testhost, as measured"), "{status}");
    assert!(kw.home().join("data/keepwatch.db").exists());
}

#[test]
fn a_start_raises_no_false_alarm_about_keepwatch_itself() {
    // Real process, real clock: the first self-measurements come right after
    // start, when a single scheduler tick over a few milliseconds used to read
    // as "keepwatch itself used 254% of one core" and throttled the agent.
    //
    // The limit is raised from 2% to 20% here: this is the unoptimised test
    // build, which spends many times the CPU of a release build on the same
    // work (and more on a loaded machine: 2.8% was seen), while the false
    // alarm this guards against read 233% to 445%.
    let kw = Keepwatch::new();
    kw.config(&format!("{FAST}[throttle]\nmax_own_cpu_percent = 20.0\n"));
    let started = Instant::now();
    let mut running = kw.start();
    // Collecting every second, so the throttle judges own use on every tick,
    // past the first complete measurement window (5 s).
    running.wait_for("the first complete self-measurement", |_| {
        started.elapsed() > Duration::from_secs(7)
    });
    let log = running.stop();
    assert!(!log.contains("keepwatch itself used"), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
}

#[test]
fn a_broken_config_without_a_good_copy_stops_with_every_problem() {
    let kw = Keepwatch::new();
    kw.config("[collect]\ncpu = 5\nmemroy = \"1s\"\n");
    let out = kw.run(&["run"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has 2 problems"), "{err}");
    assert!(err.contains("line 5, column 7: `collect.cpu`"), "{err}");
    assert!(err.contains("did you mean `memory`?"), "{err}");
}

#[test]
fn a_broken_config_at_start_runs_on_the_last_good_copy_and_says_so() {
    let kw = Keepwatch::new();
    kw.config(FAST);
    let mut first = kw.start();
    first.wait_for("a first measurement", |_| kw.status().contains("Memory"));
    first.stop();

    std::fs::write(kw.config_path(), "[collect]\ncpu = \"fast\"\n").unwrap();
    let mut second = kw.start();
    second.wait_for("the warning", |r| r.log().contains("BROKEN"));
    second.wait_for("the start summary", |r| {
        r.log().contains("`keepwatch status` shows")
    });
    let status = kw.status();
    assert!(
        status.contains("HAS a mistake, so keepwatch is running on the last good version")
            && status.contains("\n  line 2, column 7: `collect.cpu`"),
        "{status}"
    );
    let log = second.stop();
    assert!(log.contains("`collect.cpu`"), "{log}");
    assert!(
        log.contains(&format!(
            "Settings: {} HAS a mistake, so keepwatch is running on the last good version of the file ({}.last-good)",
            kw.config_path().display(),
            kw.config_path().display()
        )),
        "{log}"
    );
    let stopped = kw.status();
    assert!(
        stopped.contains("HAS a mistake, so `keepwatch run` would start on the last good version"),
        "{stopped}"
    );
}

#[test]
fn a_bad_edit_while_running_is_rejected_and_a_good_one_applied() {
    let kw = Keepwatch::new();
    kw.config(FAST);
    let mut running = kw.start();
    running.wait_for("a first measurement", |_| kw.status().contains("Memory"));

    std::fs::write(kw.config_path(), "[collect]\ncpu = \"1 sec\"\n").unwrap();
    running.signal("HUP");
    running.wait_for("the rejection", |r| r.log().contains("cannot be used"));
    assert!(running.log().contains("unknown unit"));
    let status = kw.status();
    assert!(status.contains("rejected a change"), "{status}");
    // Near the top, which settings are in force and which line is wrong.
    let told = format!(
        "Settings: {} HAS a mistake, so keepwatch is running on the last good version of the file ({}.last-good) until you fix it, and picks the fix up within seconds:\n  line 2, column 7: `collect.cpu`",
        kw.config_path().display(),
        kw.config_path().display()
    );
    assert!(status.contains(&told), "{status}");

    // Every 3 s: no throttling of the 1 s interval in force (×2, ×4…) gives that.
    kw.config("[collect]\ncpu = \"3s\"\n[throttle]\nenabled = false\n");
    running.signal("HUP");
    running.wait_for("the new config", |r| r.log().contains("new configuration"));
    let applied = jiff::Timestamp::now();
    let mut cpu = Vec::new();
    running.wait_for("four CPU measurements on the new interval", |_| {
        cpu = cpu_measured_since(&kw, applied);
        cpu.len() >= 4
    });
    let gaps: Vec<f64> = cpu
        .windows(2)
        .map(|pair| pair[1].duration_since(pair[0]).as_secs_f64())
        .collect();
    let average = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!(
        (2.6..3.5).contains(&average),
        "CPU measured every {average:.1} s after the reload, not every 3 s: {gaps:?}"
    );
    running.stop();
}

/// When the running agent measured the CPU from `since` on, read from its
/// database as `keepwatch status` reads it.
fn cpu_measured_since(kw: &Keepwatch, since: jiff::Timestamp) -> Vec<jiff::Timestamp> {
    use keepwatch::observation::SeriesKey;
    use keepwatch::store::{StorageConfig, Store};
    let Ok(store) = Store::open(
        &kw.home().join("data/keepwatch.db"),
        &StorageConfig::default(),
    ) else {
        return Vec::new();
    };
    let key = SeriesKey::new(
        "testhost",
        keepwatch::vocabulary::metric::CPU_USAGE_PERCENT,
        "",
    );
    let until = since + jiff::SignedDuration::from_hours(1);
    store
        .range(&key, since, until)
        .unwrap_or_default()
        .into_iter()
        .map(|(at, _)| at)
        .collect()
}

#[test]
fn check_says_what_is_up_and_what_is_wrong_and_fails_when_something_is_down() {
    let kw = Keepwatch::new();
    kw.config(&two_services(web_server(), closed_port()));
    let out = kw.run(&["check"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a service is down, so check must fail:\n{shown}"
    );
    let shop = shown
        .lines()
        .find(|l| l.starts_with("Shop"))
        .unwrap_or_default();
    assert!(shop.contains("up") && shop.contains("ms"), "{shown}");
    let warehouse = shown
        .lines()
        .find(|l| l.starts_with("Warehouse"))
        .unwrap_or_default();
    assert!(
        warehouse.contains("DOWN") && warehouse.contains("refused"),
        "{shown}"
    );
    assert!(
        shown.contains("2 services checked: 1 up, 0 degraded, 1 down."),
        "{shown}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("At least one service is down."));

    let only_shop = kw.run(&["check", "shop"]);
    assert!(
        only_shop.status.success(),
        "{}",
        String::from_utf8_lossy(&only_shop.stdout)
    );
    let unknown = kw.run(&["check", "Nope"]);
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("The services are: Shop, Warehouse.")
    );
}

#[test]
fn check_without_services_points_at_the_examples() {
    let kw = Keepwatch::new();
    kw.config("");
    let out = kw.run(&["check"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Add a [[service]] block"));
}

#[test]
fn run_checks_services_and_status_shows_their_state() {
    let kw = Keepwatch::new();
    kw.config(&two_services(web_server(), closed_port()));
    let mut running = kw.start();
    running.wait_for("both services in the status", |_| {
        let status = kw.status();
        status.contains("Shop       up since") && status.contains("Warehouse  DOWN since")
    });
    let log = running.stop();
    assert!(log.contains("Warehouse is down"), "{log}");
    assert!(kw.status().contains("refused"));
}

#[test]
fn run_says_what_it_watches_and_checks_every_service_at_once() {
    let kw = Keepwatch::new();
    // Checked every hour: only the check at start can have found them.
    let services = two_services(web_server(), closed_port()).replace("\"1s\"", "\"1h\"");
    kw.config(&services);
    let mut running = kw.start();
    running.wait_for("the first round of checks", |r| {
        r.log().contains("checked 2 services")
    });
    let status = kw.status();
    assert!(
        status.contains("Shop       up since") && status.contains("Warehouse  DOWN since"),
        "{status}"
    );
    let log = running.stop();
    for said in [
        "keepwatch is watching this computer (testhost) and 2 services: Shop (every 1 hour), Warehouse (every 1 hour). Each is checked now, then on its interval.\n".to_owned(),
        "Alerts: only to keepwatch's log so far. To get them by email, add an email channel (README, section 6)".to_owned(),
        format!("Settings: {}\n", kw.config_path().display()),
        format!("Data: {}\n", kw.home().join("data/keepwatch.db").display()),
        "API: off ([api] enabled = false)\n".to_owned(),
        "checked 2 services: 1 up, 0 degraded, 1 down (Warehouse)".to_owned(),
    ] {
        assert!(log.contains(&said), "missing {said:?} in:\n{log}");
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_service_down_alerts_through_the_log_and_ack_stops_its_escalation() {
    let kw = Keepwatch::new();
    kw.config(&format!(
        "{ALWAYS_OPEN}{}",
        two_services(web_server(), closed_port())
    ));
    let mut running = kw.start();
    running.wait_for("the alert in the log", |r| {
        r.log().contains("Warehouse is down since")
    });
    let log = running.stop();
    assert!(log.contains("keepwatch ack 1"), "{log}");

    let alerts = stdout(&kw.run(&["alerts"]));
    assert!(alerts.contains("Alerts (1 open):"), "{alerts}");
    assert!(
        alerts.contains("Warehouse is down")
            && alerts.contains("not acknowledged: keepwatch ack 1"),
        "{alerts}"
    );
    let acked = kw.run(&["ack", "1", "--by", "anna"]);
    assert!(acked.status.success(), "{}", stderr(&acked));
    assert!(
        stdout(&acked).contains("Alert 1 (Warehouse is down) is acknowledged by anna"),
        "{}",
        stdout(&acked)
    );
    assert!(kw.status().contains("acknowledged by anna"));
    let again = kw.run(&["ack", "1"]);
    assert!(!again.status.success());
    // When, in the business time zone as people read it (here UTC, the
    // sandbox's), not as an RFC 3339 stamp.
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%a %d %b at ")
        .to_string();
    assert!(
        stderr(&again).contains(&format!("already acknowledged by anna on {today}")),
        "{}",
        stderr(&again)
    );
    let unknown = kw.run(&["ack", "99"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("there is no alert 99"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn maintenance_started_by_hand_is_listed_holds_alerts_back_and_can_end_early() {
    let kw = Keepwatch::new();
    // The database exists once keepwatch ran; that first run watches no
    // service, or it could find the warehouse down (every service is
    // checked at once at start) before the maintenance below begins.
    kw.config(ALWAYS_OPEN);
    let before = kw.run(&["maintenance", "start", "--for", "1h"]);
    assert!(!before.status.success());
    assert!(
        stderr(&before).contains("has not run yet"),
        "{}",
        stderr(&before)
    );
    let mut first = kw.start();
    first.wait_for("the database", |_| {
        kw.home().join("data/keepwatch.db").exists()
    });
    first.stop();
    kw.config(&format!(
        "{ALWAYS_OPEN}{}",
        two_services(web_server(), closed_port())
    ));

    let bad = kw.run(&["maintenance", "start", "--for", "soon"]);
    assert!(stderr(&bad).contains("--for soon"), "{}", stderr(&bad));
    let unknown = kw.run(&["maintenance", "start", "--for", "1h", "--service", "Shp"]);
    assert!(
        stderr(&unknown).contains("No service is named \"Shp\""),
        "{}",
        stderr(&unknown)
    );
    let started = kw.run(&[
        "maintenance",
        "start",
        "--for",
        "1h",
        "--service",
        "Warehouse",
        "--reason",
        "new switch",
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    assert!(
        stdout(&started)
            .contains("Maintenance 1 started: alerts about Warehouse are held back until"),
        "{}",
        stdout(&started)
    );
    let list = stdout(&kw.run(&["maintenance", "list"]));
    assert!(list.contains("1 (new switch): Warehouse"), "{list}");

    let mut running = kw.start();
    running.wait_for("the warehouse found down", |_| {
        kw.status().contains("Warehouse  DOWN")
    });
    let log = running.stop();
    assert!(
        !log.contains("Warehouse is down since"),
        "no alert in maintenance:\n{log}"
    );
    assert!(
        stdout(&kw.run(&["alerts"])).contains("held back (maintenance: new switch)"),
        "{}",
        stdout(&kw.run(&["alerts"]))
    );
    let stopped = kw.run(&["maintenance", "stop", "1"]);
    assert!(
        stdout(&stopped).contains("Ended 1 maintenance window"),
        "{}",
        stdout(&stopped)
    );
    let none = kw.run(&["maintenance", "stop"]);
    assert!(stdout(&none).contains("No maintenance window is running"));
    assert!(stdout(&kw.run(&["maintenance", "list"])).contains("No maintenance windows"));
}

#[test]
fn alert_test_reports_each_channel_and_names_the_exact_error() {
    let kw = Keepwatch::new();
    let closed = closed_port();
    kw.config(&format!(
        "[[channel]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{closed}/alerts\"\n"
    ));
    let out = kw.run(&["alert", "test"]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("log: sent"), "{text}");
    assert!(text.contains("hook: FAILED:"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{closed}")), "{text}");
    assert!(
        stderr(&out).contains("1 of 2 channels failed"),
        "{}",
        stderr(&out)
    );
    let only_log = kw.run(&["alert", "test", "log"]);
    assert!(only_log.status.success(), "{}", stderr(&only_log));
    let unknown = kw.run(&["alert", "test", "pager"]);
    assert!(
        stderr(&unknown).contains("The channels are: hook, log"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn a_second_run_on_the_same_database_is_refused_so_alerts_are_not_sent_twice() {
    let kw = Keepwatch::new();
    kw.config("");
    let mut first = kw.start();
    first.wait_for("the first agent running", |r| {
        r.log().contains("keeping history in")
    });
    let second = kw.run(&["run"]);
    assert!(!second.status.success());
    let err = stderr(&second);
    assert!(
        err.contains("another keepwatch is already running") && err.contains("keepwatch.db"),
        "{err}"
    );
    first.stop();
}

#[test]
fn a_token_made_on_the_command_line_reads_the_api_of_a_running_keepwatch() {
    let kw = Keepwatch::new();
    kw.config("[api]\nlisten = \"127.0.0.1:0\"\n");
    let out = kw.run(&["token", "create", "manager", "--role", "viewer"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    let token = said
        .split_whitespace()
        .find(|word| word.starts_with("kw_view_"))
        .unwrap_or_else(|| panic!("no token in: {said}"))
        .to_owned();
    let again = kw.run(&["token", "create", "manager", "--role", "admin"]);
    assert!(!again.status.success() && stderr(&again).contains("already a token named"));
    let list = stdout(&kw.run(&["token", "list"]));
    assert!(
        list.contains("manager") && list.contains("viewer"),
        "{list}"
    );
    assert!(
        !list.contains(&token),
        "the list never shows a token: {list}"
    );

    let mut running = kw.start();
    let mut addr = String::new();
    running.wait_for("the API's address in the log", |r| {
        let log = r.log();
        if let Some(rest) = log.split("the API answers on http://").nth(1) {
            addr = rest.split('/').next().unwrap_or_default().to_owned();
        }
        !addr.is_empty()
    });
    let get = |token: &str| {
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect to the API");
        use std::io::{Read, Write};
        write!(
            stream,
            "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let answer = get(&token);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"host\":\"testhost\""), "{answer}");

    let revoked = kw.run(&["token", "revoke", "manager"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(get(&token).starts_with("HTTP/1.1 401"));
    let log = running.stop();
    assert!(!log.contains(&token), "tokens never reach the log");
    let unknown = kw.run(&["token", "revoke", "manager"]);
    assert!(stderr(&unknown).contains("no token named"));
}

#[test]
fn report_tells_what_run_recorded_and_names_bad_options() {
    let kw = Keepwatch::new();
    kw.config(&format!(
        "[business]\nname = \"Zoë's Café\"\nrevenue_per_hour = 100.0\n{ALWAYS_OPEN}{}",
        two_services(web_server(), closed_port())
    ));
    let before = kw.run(&["report"]);
    assert!(!before.status.success());
    assert!(
        stderr(&before).contains("has not run yet"),
        "{}",
        stderr(&before)
    );
    let mut running = kw.start();
    // Both services must have a recorded state before the run stops: on a
    // loaded machine the outage can be seen before Shop's first check ends.
    running.wait_for("both services in the status", |_| {
        let status = kw.status();
        status.contains("Shop       up since") && status.contains("Warehouse  DOWN since")
    });
    running.stop();

    let out = kw.run(&["report", "--period", "today"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("Zoë's Café: how our systems did, "),
        "{text}"
    );
    assert!(text.contains("[ON TARGET] Shop: 100% available"), "{text}");
    assert!(text.contains("Warehouse has been down since"), "{text}");
    assert!(text.contains("How this was worked out"), "{text}");

    let file = kw.home().join("week.txt");
    let written = kw.run(&[
        "report",
        "--audience",
        "technical",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(written.status.success(), "{}", stderr(&written));
    let technical = std::fs::read_to_string(&file).unwrap();
    assert!(technical.contains("Numbers for the admin"), "{technical}");
    assert!(
        technical.contains("failures by kind: connection_refused 1"),
        "{technical}"
    );

    for (args, says) in [
        (
            &["report", "--period", "last-year"][..],
            "unknown period; use one of today",
        ),
        (&["report", "--audience", "boss"], "is not an audience"),
        (&["report", "--format", "word"], "unknown format"),
        (
            &["report", "--from", "2026-11-30", "--to", "2026-11-01"],
            "is before --from",
        ),
        (&["report", "--from", "2026-11-30"], "--from needs --to"),
        (
            &["report", "--from", "2099-01-01", "--to", "2099-01-31"],
            "has not started yet",
        ),
    ] {
        let out = kw.run(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}
