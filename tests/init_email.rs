//! `keepwatch init` as a new user answers it, with a real mail server that
//! takes mail without a login: the test message arrives, and the channel the
//! file names works for `keepwatch alert test` and `doctor` afterwards.

#![cfg(unix)]

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

#[path = "support/binary.rs"]
mod binary;
#[path = "support/smtp.rs"]
mod smtp;

use binary::Keepwatch;
use smtp::{SmtpOptions, SmtpServer};

/// Runs `keepwatch init` with `answers` typed in; returns what it printed.
fn init(kw: &Keepwatch, answers: &str) -> String {
    let mut child = kw
        .command(&["init", "--no-scan"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start init");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(answers.as_bytes())
        .expect("type answers");
    let out = child.wait_with_output().expect("init");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    shown
}

#[test]
fn init_sets_up_email_to_a_server_without_login_and_the_test_message_arrives() {
    let Some(server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let kw = Keepwatch::new();
    // Name, time zone, three opening-hours answers, the address; then the
    // server as host:port, the port it suggests, "plain", no login, the
    // sender, and yes to the test.
    let answers = format!(
        "Shop\n\n\n\n\nanna@example.com\n127.0.0.1:{}\n\nplain\n\n\n\n\nyes\n",
        server.port()
    );
    let shown = init(&kw, &answers);
    assert!(
        shown.contains("The mail server accepted the test message"),
        "{shown}"
    );
    let received = server.wait_for(1, Duration::from_secs(10));
    assert_eq!(received[0].rcpt_tos, ["anna@example.com"]);
    assert!(
        received[0]
            .subject
            .as_deref()
            .is_some_and(|s| s.contains("[Shop] Test message")),
        "{received:?}"
    );

    let written = kw.home().join(".config/keepwatch/keepwatch.toml");
    let text = std::fs::read_to_string(&written).expect("config written");
    let settings: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(settings.contains(&"security = \"plain\""), "{text}");
    assert!(
        !settings.iter().any(|l| l.starts_with("username")),
        "{text}"
    );
    let out = kw.run(&[
        "--config",
        written.to_str().unwrap(),
        "alert",
        "test",
        "admin-email",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.wait_for(2, Duration::from_secs(10)).len(), 2);
}

#[test]
fn a_failed_test_message_says_what_to_fix_and_the_file_is_still_written() {
    let kw = Keepwatch::new();
    let closed = binary::closed_port();
    let shown = init(
        &kw,
        &format!("Shop\n\n\n\n\nanna@example.com\n127.0.0.1\n{closed}\nplain\n\n\n\n\nyes\n"),
    );
    assert!(
        shown.contains("The test message could not be sent: the mail server 127.0.0.1:"),
        "{shown}"
    );
    assert!(shown.contains("refused the connection"), "{shown}");
    assert!(
        shown.contains("Fix the [[channel]] named \"admin-email\""),
        "{shown}"
    );
    assert!(kw.home().join(".config/keepwatch/keepwatch.toml").exists());
}
