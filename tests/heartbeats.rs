//! Heartbeats end to end on the real binary: a backup script reports through
//! the ping URL (HTTP, as curl would) and through `keepwatch ping`, and
//! when its reports stop, the admin gets an email through a real SMTP
//! server (tests/support/smtp.rs), then one when it is back, and one when
//! it reports a failure. The heartbeat expects a report every 4 s with 3 s
//! of grace, so the real clock runs through several periods in seconds.
//!
//! Needs Python's aiosmtpd; without it this test is skipped, loudly, and
//! with `KEEPWATCH_REQUIRE_SERVICES=1` (as in CI) it fails.

use std::io::{Read, Write};
use std::time::Duration;

use binary::{ALWAYS_OPEN, Keepwatch, Running};
use smtp::{Received, SmtpOptions, SmtpServer};

#[path = "support/binary.rs"]
mod binary;
#[path = "support/smtp.rs"]
mod smtp;

/// How long a test waits for an email that is due.
const WAIT: Duration = Duration::from_secs(30);

/// One HTTP/1.1 request to `addr`; the status and the body of the answer.
/// With `announced` > 0 the request only announces a body of that many
/// bytes (`Expect: 100-continue`, as curl does for large ones) and waits.
fn request(addr: &str, method: &str, path: &str, body: &str, announced: usize) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (length, expect, sent) = match announced {
        0 => (body.len(), "", body),
        n => (n, "Expect: 100-continue\r\n", ""),
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n{expect}Connection: close\r\n\r\n{sent}"
    )
    .unwrap();
    let mut answer = String::new();
    if method == "HEAD" {
        // The answer to HEAD ends with its headers; the connection may stay.
        let mut buf = [0u8; 4096];
        while !answer.contains("\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed before the headers ended: {answer}");
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    } else {
        stream.read_to_string(&mut answer).unwrap();
    }
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in: {answer}"));
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

fn subject(mail: &Received) -> &str {
    mail.subject.as_deref().unwrap_or_default()
}

fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The ping path (`/ping/<key>`) in `text`.
fn ping_path(text: &str) -> String {
    let start = text
        .find("/ping/")
        .unwrap_or_else(|| panic!("no ping URL in: {text}"));
    text[start..start + 6 + 32].to_owned()
}

/// The API's address, once `run` logged it.
fn api_address(running: &mut Running) -> String {
    let mut addr = String::new();
    running.wait_for("the API's address in the log", |r| {
        if let Some(rest) = r.log().split("the API answers on http://").nth(1) {
            addr = rest.split('/').next().unwrap_or_default().to_owned();
        }
        !addr.is_empty()
    });
    addr
}

#[test]
fn a_backup_script_reports_by_url_and_command_and_a_missed_report_alerts_by_email() {
    let Some(server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let kw = Keepwatch::new();
    kw.config(&format!(
        "[api]\nlisten = \"127.0.0.1:0\"\n\n[business]\nname = \"Bakery\"\n{ALWAYS_OPEN}\n\
         [alerting]\ngroup_wait = \"1s\"\nbusiness_hours = [{{ after = \"0m\", notify = [\"email\"] }}]\n\
         off_hours = [{{ after = \"0m\", notify = [\"email\"] }}]\n\n\
         [[channel]]\nname = \"email\"\ntype = \"email\"\n{}\n\
         [[service]]\nname = \"Nightly backup\"\ntype = \"heartbeat\"\nevery = \"4s\"\ngrace = \"3s\"\n",
        server.channel_toml()
    ));

    // Before keepwatch runs at all, a script can already report.
    let out = kw.run(&["ping", "Nightly backup", "--start"]);
    assert!(out.status.success(), "{}", said(&out));
    let out = kw.run(&["ping", "Nightly backup", "--exit", "0"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("Nightly backup: success recorded"),
        "{}",
        said(&out)
    );
    let out = kw.run(&["ping", "Backup"]);
    assert!(!out.status.success());
    assert!(
        said(&out)
            .contains("No heartbeat is named \"Backup\". The heartbeats are: Nightly backup."),
        "{}",
        said(&out)
    );
    let check = kw.run(&["check"]);
    assert!(check.status.success(), "{}", said(&check));
    let path = ping_path(&said(&check));
    assert!(
        said(&check).contains("Nightly backup reported at"),
        "{}",
        said(&check)
    );

    let mut running = kw.start();
    let addr = api_address(&mut running);
    assert_eq!(
        ping_path(&kw.status()),
        path,
        "the same key across commands"
    );

    // The script through the ping URL, as `curl` sends it.
    let (status, body) = request(&addr, "GET", &format!("{path}/start"), "", 0);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"recorded\":\"start\""), "{body}");
    let (status, body) = request(&addr, "POST", &path, "copied 1,204 files", 0);
    assert_eq!(
        (status, body.contains("\"service\":\"Nightly backup\"")),
        (200, true),
        "{body}"
    );
    let (status, _) = request(&addr, "HEAD", &path, "", 0);
    assert_eq!(status, 200);
    // What is not a ping is refused in words, never with a server error.
    let (status, body) = request(
        &addr,
        "GET",
        "/ping/0123456789abcdef0123456789abcdef",
        "",
        0,
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"hint\""), "{body}");
    let (status, body) = request(&addr, "GET", &format!("{path}/finished"), "", 0);
    assert_eq!(status, 404, "{body}");
    let (status, body) = request(&addr, "POST", &path, "", 20_000);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("larger than 10000 bytes"), "{body}");

    // The cron-like script with `keepwatch ping`, a few runs in a row.
    let script = kw.home().join("backup.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n\"$KEEPWATCH\" ping \"Nightly backup\" --start || exit 1\n\
         true # the backup itself\n\"$KEEPWATCH\" ping \"Nightly backup\" --exit $?\n",
    )
    .unwrap();
    for _ in 0..3 {
        let ran = std::process::Command::new("sh")
            .arg(&script)
            .current_dir(kw.home())
            .env("HOME", kw.home())
            .env("KEEPWATCH", env!("CARGO_BIN_EXE_keepwatch"))
            .output()
            .unwrap();
        assert!(ran.status.success(), "{}", said(&ran));
        std::thread::sleep(Duration::from_secs(2));
    }
    running.wait_for("the heartbeat up in status", |_| {
        kw.status().contains("Nightly backup  up")
    });
    assert_eq!(
        server.count(),
        0,
        "no alert while it reports: {:?}",
        server.messages()
    );

    // The reports stop: within 4 s + 3 s of grace the admin is told.
    let mails = server.wait_for(1, WAIT);
    assert_eq!(
        subject(&mails[0]),
        "[Bakery] Nightly backup is down",
        "{mails:#?}"
    );
    let text = mails[0].text.as_deref().unwrap_or_default();
    assert!(
        text.contains("Nightly backup has not reported since"),
        "{text}"
    );
    assert!(text.contains("(expected every 4 seconds by"), "{text}");

    // A report brings it back, and a failure is its own alert.
    let out = kw.run(&["ping", "Nightly backup"]);
    assert!(out.status.success(), "{}", said(&out));
    let mails = server.wait_for(2, WAIT);
    assert!(
        subject(&mails[1]).starts_with("[Bakery] Nightly backup is back up"),
        "{mails:#?}"
    );
    let out = kw.run(&[
        "ping",
        "Nightly backup",
        "--exit",
        "3",
        "--log",
        "tar: /srv: Cannot open: Permission denied",
    ]);
    assert!(out.status.success(), "{}", said(&out));
    let mails = server.wait_for(3, WAIT);
    let text = mails[2].text.as_deref().unwrap_or_default();
    assert!(
        text.contains("Nightly backup reported a failure (exit code 3)")
            && text.contains("tar: /srv: Cannot open: Permission denied"),
        "{text}"
    );
    let log = running.stop();
    assert!(!log.contains(&path[6..]), "ping keys stay out of the log");
}
