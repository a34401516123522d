//! `keepwatch doctor` on the real binary: each finding provoked by a real
//! state of the machine (a broken file, a stopped service, a mail server, a
//! web server whose clock is off, a running agent), read from `--json`.

#![cfg(unix)]

use std::time::{Duration, Instant};

use serde_json::Value;
use smtp::{SmtpOptions, SmtpServer};

#[path = "support/binary.rs"]
mod binary;
#[path = "support/smtp.rs"]
mod smtp;

use binary::{Keepwatch, closed_port, web_server_with};

/// Runs `keepwatch doctor --json` (plus `extra`): its exit code and findings.
fn doctor(kw: &Keepwatch, extra: &[&str]) -> (i32, Value) {
    doctor_with(kw, extra, &[])
}

/// [`doctor`] started from a terminal that has the variables `env` set.
fn doctor_with(kw: &Keepwatch, extra: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let out = kw
        .command(&[&["doctor", "--json"], extra].concat())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run keepwatch doctor");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "doctor printed no JSON ({err}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let code = out.status.code().expect("exit code");
    assert_eq!(json["exit_code"], code, "{json:#}");
    (code, json)
}

/// The findings of `area`, as (level, text) pairs.
fn findings(json: &Value, area: &str) -> Vec<(String, String)> {
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["area"] == area)
        .map(|f| {
            (
                f["level"].as_str().unwrap_or_default().to_owned(),
                f["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A web server on 127.0.0.1 answering every request with 200 and this `Date`.
fn web_server_dated(date: String) -> u16 {
    web_server_with(format!("Date: {date}\r\n"))
}

fn http_date(offset: jiff::SignedDuration) -> String {
    let at = jiff::Timestamp::now().checked_add(offset).expect("time");
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&at)
        .expect("date")
}

#[test]
fn a_typo_is_a_problem_on_its_line_and_nothing_else_is_judged_on_defaults() {
    let home = Keepwatch::new();
    home.config(
        "[[service]]\nname = \"Shop\"\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\nintervall = \"5s\"\n",
    );
    let (code, json) = doctor(&home, &[]);
    assert_eq!(code, 2, "{json:#}");
    let config = findings(&json, "config");
    assert!(
        config[0].1.contains("line 8") && config[0].1.contains("intervall"),
        "{config:?}"
    );
    assert!(
        config
            .last()
            .unwrap()
            .1
            .contains("cannot start until the file is fixed")
    );
    assert!(findings(&json, "data").is_empty(), "{json:#}");
}

#[test]
fn a_clock_far_off_the_time_of_a_web_service_is_a_problem() {
    let web = web_server_dated(http_date(jiff::SignedDuration::from_mins(10)));
    let home = Keepwatch::new();
    home.config(&format!(
        "[[service]]\nname = \"Shop\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{web}/\"\n"
    ));
    let (code, json) = doctor(&home, &[]);
    assert_eq!(code, 2);
    let clock = findings(&json, "clock");
    assert_eq!(clock[0].0, "problem", "{clock:?}");
    assert!(
        clock[0].1.contains("behind the time Shop gives"),
        "{clock:?}"
    );

    let right = web_server_dated(http_date(jiff::SignedDuration::ZERO));
    let home = Keepwatch::new();
    home.config(&format!(
        "[[service]]\nname = \"Shop\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{right}/\"\n"
    ));
    let (_, json) = doctor(&home, &[]);
    assert_eq!(findings(&json, "clock")[0].0, "ok", "{json:#}");
    assert_eq!(findings(&json, "service")[0].0, "ok", "{json:#}");
}

#[test]
fn an_email_channel_is_tried_without_sending_unless_asked() {
    let Some(server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let channel = format!(
        "[[channel]]\nname = \"admin-email\"\ntype = \"email\"\n{}",
        server.channel_toml()
    );
    let home = Keepwatch::new();
    home.config(&channel);
    let (_, json) = doctor(&home, &[]);
    let channel = findings(&json, "channel");
    assert_eq!(channel[0].0, "ok", "{channel:?}");
    assert!(channel[0].1.contains("nothing sent"), "{channel:?}");
    assert_eq!(server.count(), 0, "doctor sent a message without --send");

    let (_, json) = doctor(&home, &["--send"]);
    assert!(
        findings(&json, "channel")[0]
            .1
            .contains("test message was sent")
    );
    assert_eq!(server.wait_for(1, Duration::from_secs(10)).len(), 1);

    let dead = Keepwatch::new();
    dead.config(&format!(
        "[[channel]]\nname = \"admin-email\"\ntype = \"email\"\nserver = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\nfrom = \"kw@example.com\"\nto = [\"admin@example.com\"]\n",
        closed_port()
    ));
    let (code, json) = doctor(&dead, &[]);
    assert_eq!(code, 2);
    let channel = findings(&json, "channel");
    assert!(
        channel[0].1.contains("refused the connection"),
        "{channel:?}"
    );
}

#[test]
fn a_fixable_problem_is_reported_and_once_fixed_everything_is_green() {
    let Some(server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let port = closed_port();
    let home = Keepwatch::new();
    home.config(&format!(
        "[[service]]\nname = \"Warehouse\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         [[channel]]\nname = \"admin-email\"\ntype = \"email\"\n{}",
        server.channel_toml()
    ));
    let (code, json) = doctor(&home, &[]);
    assert_eq!(code, 2, "{json:#}");
    let service = findings(&json, "service");
    assert_eq!(service[0].0, "problem");
    assert!(
        service[0].1.contains("Warehouse refused the connection"),
        "{service:?}"
    );
    assert_eq!(findings(&json, "agent")[0].0, "warning", "{json:#}");

    // The fixes: the warehouse is started, and so is keepwatch.
    let _warehouse = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let _agent = home.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, json) = doctor(&home, &[]);
        if code == 0 {
            assert!(
                findings(&json, "agent")[0]
                    .1
                    .contains("keepwatch is running")
            );
            break;
        }
        assert!(Instant::now() < deadline, "never all green: {json:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = home.run(&["doctor"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).ends_with("All is well: keepwatch is ready.\n"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

#[test]
fn a_password_set_only_in_the_terminal_is_a_warning_and_in_keepwatch_env_it_reaches_the_mail_server()
 {
    let Some(server) = SmtpServer::start(SmtpOptions::starttls().with_login("alerts", "s3cret"))
    else {
        return;
    };
    let home = Keepwatch::new();
    home.config(&format!(
        "[[channel]]\nname = \"admin-email\"\ntype = \"email\"\n{}username = \"alerts\"\npassword = \"env:KW_SMTP_PASSWORD\"\n",
        server.channel_toml()
    ));
    let (code, json) = doctor(&home, &[]);
    assert_eq!(code, 2, "{json:#}");
    let secrets = findings(&json, "secret");
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert_eq!(secrets[0].0, "problem", "{secrets:?}");
    assert!(
        secrets[0].1.starts_with("KW_SMTP_PASSWORD is not set"),
        "{secrets:?}"
    );

    // Exported in the terminal: doctor itself logs in, but the background
    // service would not have the password.
    let (_, json) = doctor_with(&home, &[], &[("KW_SMTP_PASSWORD", "s3cret")]);
    let secrets = findings(&json, "secret");
    assert_eq!(secrets[0].0, "warning", "{secrets:?}");
    assert!(
        secrets[0].1.contains("set in this terminal only"),
        "{secrets:?}"
    );
    assert_eq!(findings(&json, "channel")[0].0, "ok", "{json:#}");

    // In keepwatch.env beside the config, with no terminal variable at all:
    // every keepwatch command reads it, and the login works.
    let env_file = home.config_path().with_file_name("keepwatch.env");
    std::fs::write(&env_file, "# the mail password\nKW_SMTP_PASSWORD=s3cret\n").expect("env file");
    std::fs::set_permissions(
        &env_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let (_, json) = doctor(&home, &[]);
    let secrets = findings(&json, "secret");
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert_eq!(secrets[0].0, "ok", "{secrets:?}");
    let channel = findings(&json, "channel");
    assert_eq!(channel[0].0, "ok", "{channel:?}");
    assert!(channel[0].1.contains("logged in"), "{channel:?}");
}
