//! A scheduled report on its way to a real SMTP server (tests/support/smtp.rs,
//! aiosmtpd), driven by a simulated clock: what arrives is one email with the
//! text, the HTML with its charts by Content-ID, and the PDF attached; a mail
//! server that is down delays it without losing it, restarts do not send it
//! twice, and a report missed while keepwatch was stopped comes once (made
//! in a child process of the real binary, as `keepwatch run` makes it).
//!
//! Also `keepwatch report test` on the real binary, naming the error of a
//! recipient the server refuses and of a server that is down.
//!
//! Needs Python's aiosmtpd; without it these tests are skipped, loudly, and
//! with `KEEPWATCH_REQUIRE_SERVICES=1` (as in CI) they fail.

#![cfg(unix)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use keepwatch::clock::{Clock, SimClock};
use keepwatch::config::Config;
use keepwatch::notify::{Outbox, channels};
use keepwatch::observation::{Sample, SeriesKey};
use keepwatch::report::child::Maker;
use keepwatch::report::schedule::Scheduler;
use keepwatch::store::{StorageConfig, Store};
use keepwatch::vocabulary::{FailureKind, State, service_metric};

#[path = "support/binary.rs"]
mod binary;
#[path = "support/smtp.rs"]
mod smtp;

use smtp::{Received, SmtpOptions, SmtpServer};

const WAIT: Duration = Duration::from_secs(10);

/// A local time in Berlin.
fn local(text: &str) -> Timestamp {
    let civil: DateTime = text.parse().unwrap();
    civil
        .to_zoned_datetime(TimeZone::get("Europe/Berlin").unwrap())
        .unwrap()
        .timestamp()
}

/// The config file's text: one shop, one email channel to `server`, and a
/// weekly report to the boss (and `extra`).
fn config_text(server: &SmtpServer, extra: &str) -> String {
    format!(
        "[api]\nenabled = false\n\
         [business]\nname = \"Zoë's Café\"\ntimezone = \"Europe/Berlin\"\nrevenue_per_hour = 400.0\n\
         [[service]]\nname = \"Web shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\ncritical = true\n\
         [[channel]]\nname = \"mail\"\ntype = \"email\"\n{}\
         [[report]]\nevery = \"monday 08:00\"\nto = [\"boss@example.com\"]\n{extra}",
        server.channel_toml()
    )
}

fn config(text: &str) -> Config {
    keepwatch::config::parse(Path::new("keepwatch.toml"), text)
        .unwrap_or_else(|err| panic!("{err}\n{text}"))
}

/// The history of a week with one outage, in a real database.
fn history(path: &Path) {
    let mut store = Store::open(path, &StorageConfig::default()).unwrap();
    // Checked from 16 November on (a state sample a day), one outage.
    let checks: Vec<Sample> = (0..24)
        .map(|day| Sample {
            key: SeriesKey::new("web1", service_metric::STATE, "Web shop"),
            at: local("2026-11-16T00:00") + jiff::SignedDuration::from_hours(24 * day),
            value: 0.0,
        })
        .collect();
    store.write(&checks).unwrap();
    for (at, state, kind) in [
        ("2026-11-16T00:00", State::Up, None),
        ("2026-11-18T10:00", State::Down, Some(FailureKind::Timeout)),
        ("2026-11-18T10:25", State::Up, None),
    ] {
        store
            .record_transition("Web shop", local(at), state, kind, "what the check saw")
            .unwrap();
    }
}

/// The parts of a received mail, decoded by Python's email package (a
/// parser independent of the one that built it): content type, Content-ID,
/// file name and the bytes, saved into `dir`.
#[derive(Debug, serde::Deserialize)]
struct Part {
    content_type: String,
    content_id: Option<String>,
    filename: Option<String>,
    disposition: Option<String>,
    saved: String,
}

fn parts(mail: &Received, dir: &Path) -> Vec<Part> {
    let script = r#"
import email, email.policy, json, os, sys
msg = email.message_from_string(sys.stdin.read(), policy=email.policy.default)
out = []
for i, part in enumerate(msg.walk()):
    if part.is_multipart():
        continue
    path = os.path.join(sys.argv[1], "part-%d" % i)
    with open(path, "wb") as f:
        f.write(part.get_payload(decode=True))
    cid = part.get("Content-ID")
    out.append({"content_type": part.get_content_type(),
                "content_id": cid.strip("<>") if cid else None,
                "filename": part.get_filename(),
                "disposition": part.get_content_disposition(),
                "saved": path})
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, dir.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(mail.raw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The arrived report: one email to the boss with the text, the HTML whose
/// pictures are all there by Content-ID, and a valid PDF attached.
fn assert_report(mail: &Received, week: &str) {
    assert_eq!(mail.rcpt_tos, ["boss@example.com"]);
    assert_eq!(
        mail.subject.as_deref(),
        Some(format!("[Zoë's Café] How our systems did: {week}").as_str())
    );
    assert_eq!(mail.content_type, "multipart/mixed", "{}", mail.raw);
    let text = mail.text.as_deref().unwrap_or_default();
    assert!(text.contains("Web shop"), "{text}");
    let html = mail.html.as_deref().unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let parts = parts(mail, dir.path());
    let types: Vec<&str> = parts.iter().map(|p| p.content_type.as_str()).collect();
    assert_eq!(types.first(), Some(&"text/plain"), "{types:?}");
    assert_eq!(types.get(1), Some(&"text/html"), "{types:?}");
    assert_eq!(types.last(), Some(&"application/pdf"), "{types:?}");
    let pictures: Vec<&Part> = parts
        .iter()
        .filter(|p| p.content_type == "image/png")
        .collect();
    assert!(!pictures.is_empty(), "{types:?}");
    for picture in &pictures {
        let cid = picture.content_id.as_deref().expect("a Content-ID");
        assert!(
            html.contains(&format!("src=\"cid:{cid}\"")),
            "{cid} not shown"
        );
        assert_eq!(picture.disposition.as_deref(), Some("inline"));
        let png = std::fs::read(&picture.saved).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    }
    assert_eq!(
        html.matches("src=\"cid:").count(),
        pictures.len(),
        "every picture the page shows travels with it"
    );
    let pdf = parts.last().unwrap();
    assert_eq!(pdf.disposition.as_deref(), Some("attachment"));
    assert!(
        pdf.filename
            .as_deref()
            .is_some_and(|name| name.starts_with("keepwatch-report-") && name.ends_with(".pdf")),
        "{pdf:?}"
    );
    let bytes = std::fs::read(&pdf.saved).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    if let Ok(info) = Command::new("pdfinfo").arg(&pdf.saved).output() {
        assert!(
            info.status.success(),
            "pdfinfo: {}",
            String::from_utf8_lossy(&info.stderr)
        );
        let text = Command::new("pdftotext")
            .args([pdf.saved.as_str(), "-"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("Zoë's Café"), "{text}");
        assert!(text.contains("Web shop"), "{text}");
    } else {
        eprintln!(
            "*** pdfinfo not installed (poppler-utils): the PDF was only checked by its header ***"
        );
    }
}

#[tokio::test]
async fn a_scheduled_report_arrives_once_through_a_server_that_was_down() {
    let Some(mut server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keepwatch.db");
    let config = config(&config_text(&server, ""));
    history(&db);
    let clock = Arc::new(SimClock::new(local("2026-11-18T12:00")));
    let clock_dyn: Arc<dyn Clock> = clock.clone();
    let channels = channels(&config.channels);
    let open = || Store::open(&db, &config.storage).unwrap();

    // Configured on a Wednesday: the first report is next Monday's.
    let mut scheduler = Scheduler::new(open(), clock_dyn.clone());
    let mut outbox = Outbox::new(open(), clock_dyn.clone());
    let pass = scheduler.pass(&config);
    assert_eq!(pass.queued, 0);
    assert_eq!(pass.next, Some(local("2026-11-23T08:00")));

    // Monday 08:00 with the mail server down: made, kept, retried.
    server.stop();
    clock.set(local("2026-11-23T08:00"));
    assert_eq!(scheduler.pass(&config).queued, 1);
    let tried = outbox.deliver(&channels).await.unwrap();
    assert_eq!((tried.delivered, tried.failed), (0, 1));
    let retry = tried.next.expect("a retry time");
    let waiting = outbox.store().undelivered().unwrap();
    assert_eq!(waiting.len(), 1);
    assert!(
        waiting[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("refused the connection")),
        "{waiting:?}"
    );

    // keepwatch restarts while the server is still down: nothing made again.
    drop((scheduler, outbox));
    clock.set(retry);
    let mut scheduler = Scheduler::new(open(), clock_dyn.clone());
    let mut outbox = Outbox::new(open(), clock_dyn.clone());
    assert_eq!(scheduler.pass(&config).queued, 0);

    // The server is back: the one report arrives.
    server.restart();
    let sent = outbox.deliver(&channels).await.unwrap();
    assert_eq!((sent.delivered, sent.failed), (1, 0));
    let received = server.wait_for(1, WAIT);
    assert_eq!(received.len(), 1);
    assert_report(&received[0], "the week of 16 November 2026");

    // Another restart later that Monday: still one.
    drop((scheduler, outbox));
    clock.set(local("2026-11-23T17:00"));
    let mut scheduler = Scheduler::new(open(), clock_dyn.clone());
    let mut outbox = Outbox::new(open(), clock_dyn.clone());
    assert_eq!(scheduler.pass(&config).queued, 0);
    assert_eq!(outbox.deliver(&channels).await.unwrap().delivered, 0);

    // Stopped over two Mondays: the latest missed report comes once. Made
    // as `keepwatch run` makes it: in a child process of the real binary.
    drop((scheduler, outbox));
    clock.set(local("2026-12-09T10:00"));
    let child = Maker::Child(env!("CARGO_BIN_EXE_keepwatch").into());
    let mut scheduler = Scheduler::new(open(), clock_dyn.clone()).made_by(child);
    let mut outbox = Outbox::new(open(), clock_dyn.clone());
    assert_eq!(scheduler.pass(&config).queued, 1);
    assert_eq!(scheduler.pass(&config).queued, 0);
    assert_eq!(outbox.deliver(&channels).await.unwrap().delivered, 1);
    let received = server.wait_for(2, WAIT);
    assert_eq!(received.len(), 2);
    assert_report(&received[1], "the week of 30 November 2026");
    assert_ne!(received[0].message_id, received[1].message_id);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.count(), 2, "nothing more arrived");
}

#[test]
fn report_test_sends_now_and_names_each_failure() {
    let Some(mut server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let kw = binary::Keepwatch::new();
    let extra =
        "[[report]]\nname = \"Refused\"\nevery = \"day 18:00\"\nto = [\"refuse-me@example.com\"]\n";
    kw.config(&config_text(&server, extra));
    std::fs::create_dir_all(kw.home().join("data")).unwrap();
    history(&kw.home().join("data").join("keepwatch.db"));
    let shown = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let out = kw.run(&["report", "test"]);
    let said = shown(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(
            "the report every monday 08:00 to boss@example.com through \"mail\": sent (the receiving server accepted it)"
        ),
        "{said}"
    );
    assert!(
        said.contains("the report \"Refused\" to refuse-me@example.com through \"mail\": FAILED:"),
        "{said}"
    );
    assert!(said.contains("refuse-me@example.com"), "{said}");
    assert!(said.contains("1 of 2 reports failed."), "{said}");
    let received = server.wait_for(1, WAIT);
    assert_eq!(received[0].rcpt_tos, ["boss@example.com"]);
    assert_eq!(received[0].content_type, "multipart/mixed");

    // Only one, by name, with the server down: the server and the fix are named.
    server.stop();
    let out = kw.run(&["report", "test", "Refused"]);
    let said = shown(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("FAILED: the mail server localhost:"),
        "{said}"
    );
    assert!(said.contains("refused the connection"), "{said}");
    assert!(!said.contains("monday"), "only the one asked for: {said}");
    let out = kw.run(&["report", "test", "Weekly"]);
    assert!(
        shown(&out).contains("No report is named \"Weekly\""),
        "{}",
        shown(&out)
    );
}

#[test]
fn a_report_with_a_mistake_is_refused_with_its_line() {
    let kw = binary::Keepwatch::new();
    kw.config(
        "[api]\nenabled = false\n[[channel]]\nname = \"mail\"\ntype = \"log\"\n\n\
         [[report]]\nevery = \"munday 08:00\"\nchannel = \"mial\"\n",
    );
    let out = kw.run(&["report", "test"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    // Three lines of [agent] come first (tests/support/binary.rs).
    assert!(said.contains("line 11"), "{said}");
    assert!(
        said.contains("\"munday 08:00\" is not a schedule"),
        "{said}"
    );
    assert!(said.contains("line 12"), "{said}");
    assert!(said.contains("did you mean \"mail\"?"), "{said}");
}
