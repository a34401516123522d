//! The email channel against a real SMTP server (tests/support/smtp.rs):
//! what arrives is read from what crossed SMTP, and every failure is produced
//! for real and must name the server and what to fix.
//!
//! Needs Python's aiosmtpd; without it these tests are skipped, loudly, and
//! with `KEEPWATCH_REQUIRE_SERVICES=1` (as in CI) they fail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keepwatch::clock::{Clock, SystemClock};
use keepwatch::message::Message;
use keepwatch::notify::{
    Channel, ChannelKind, EmailChannel, EmailFormat, EmailSecurity, SMS_SUBJECT, SendError,
};
use smtp::{SmtpOptions, SmtpServer};

#[path = "support/smtp.rs"]
mod smtp;

/// An `[[channel]]` table of type email: the server's settings plus `extra`.
fn channel(server: &SmtpServer, extra: &str) -> Channel {
    let toml = format!(
        "name = \"mail\"\ntype = \"email\"\n{}{extra}",
        server.channel_toml()
    );
    let channel: Channel = toml::from_str(&toml).unwrap_or_else(|err| panic!("{err}\n{toml}"));
    if let ChannelKind::Email(email) = &channel.kind {
        assert!(email.problems().is_empty(), "{:?}", email.problems());
    } else {
        panic!("not an email channel: {channel:?}");
    }
    channel
}

/// `channel` with its email settings changed by `change`.
fn with(mut channel: Channel, change: impl FnOnce(&mut EmailChannel)) -> Channel {
    match &mut channel.kind {
        ChannelKind::Email(email) => change(email),
        other => panic!("not an email channel: {other:?}"),
    }
    channel
}

fn message(id: &str) -> Message {
    Message {
        id: id.to_owned(),
        subject: "Café shop is DOWN".to_owned(),
        // Non-ASCII and a long line, so the body must be encoded for SMTP.
        text: format!(
            "Café shop is down since 10:02 – connection refused.\n{}\nAcknowledge: https://watch.example/ack/1",
            "details ".repeat(20).trim_end()
        ),
        html: "<p>Café shop is <b>down</b> since 10:02.</p>".to_owned(),
        short: "DOWN: Café shop since 10:02".to_owned(),
        data: serde_json::json!({"alerts": 1}),
        enclosure: None,
    }
}

async fn send(channel: &Channel, message: &Message) -> Result<(), SendError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    channel.kind.notifier().send(message, &clock).await
}

/// The error of a delivery that must fail, with its server and words.
#[track_caller]
fn assert_error(err: &SendError, permanent: bool, server: &str, says: &[&str]) {
    eprintln!("{err:?}");
    assert_eq!(err.permanent, permanent, "{err:?}");
    assert!(
        err.reason.contains(server),
        "does not name {server}: {}",
        err.reason
    );
    for words in says {
        assert!(
            err.reason.contains(words),
            "does not say {words:?}: {}",
            err.reason
        );
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn plain_delivery_carries_text_html_message_id_and_envelope() {
    let Some(server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let channel = with(channel(&server, ""), |email| {
        email.to.push("ops@example.com".to_owned());
    });
    let sent = message("out-1");
    send(&channel, &sent).await.unwrap();

    let received = server.wait_for(1, WAIT);
    assert_eq!(received.len(), 1, "{received:#?}");
    let mail = &received[0];
    assert_eq!(mail.mail_from, "alerts@example.com");
    assert_eq!(mail.rcpt_tos, ["admin@example.com", "ops@example.com"]);
    assert!(!mail.tls);
    assert_eq!(mail.login, None);
    assert_eq!(mail.subject.as_deref(), Some("Café shop is DOWN"));
    assert_eq!(mail.message_id.as_deref(), Some("<out-1@keepwatch>"));
    assert_eq!(mail.auto_submitted.as_deref(), Some("auto-generated"));
    assert!(mail.date.is_some(), "{}", mail.raw);
    assert_eq!(mail.from.as_deref(), Some("keepwatch <alerts@example.com>"));
    assert_eq!(
        mail.to.as_deref(),
        Some("admin@example.com, ops@example.com")
    );
    assert_eq!(mail.content_type, "multipart/alternative");
    assert_eq!(mail.parts, ["text/plain", "text/html"]);
    assert_eq!(
        mail.text.as_deref().map(str::trim_end),
        Some(sent.text.as_str())
    );
    assert_eq!(
        mail.html.as_deref().map(str::trim_end),
        Some(sent.html.as_str())
    );
    assert!(
        mail.raw.is_ascii(),
        "8-bit text went over SMTP raw: {}",
        mail.raw
    );
}

#[tokio::test]
async fn starttls_with_a_login_from_a_file() {
    let Some(server) = SmtpServer::start(SmtpOptions::starttls().with_login("alerts", "s3cret"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("smtp-password");
    std::fs::write(&password, "s3cret\n").unwrap();
    let channel = channel(
        &server,
        &format!(
            "username = \"alerts\"\npassword = \"file:{}\"\n",
            password.display()
        ),
    );
    send(&channel, &message("out-2")).await.unwrap();
    let mail = &server.wait_for(1, WAIT)[0];
    assert!(mail.tls, "not encrypted: {mail:#?}");
    assert_eq!(mail.login.as_deref(), Some("alerts"));
    assert_eq!(mail.message_id.as_deref(), Some("<out-2@keepwatch>"));
}

#[tokio::test]
async fn implicit_tls_with_a_login() {
    let Some(server) = SmtpServer::start(SmtpOptions::tls().with_login("alerts", "s3cret")) else {
        return;
    };
    let channel = channel(&server, "username = \"alerts\"\npassword = \"s3cret\"\n");
    send(&channel, &message("out-3")).await.unwrap();
    let mail = &server.wait_for(1, WAIT)[0];
    assert!(mail.tls, "not encrypted: {mail:#?}");
    assert_eq!(mail.login.as_deref(), Some("alerts"));
    assert_eq!(mail.parts, ["text/plain", "text/html"]);
}

#[tokio::test]
async fn a_wrong_password_is_permanent_and_says_what_to_fix() {
    for options in [SmtpOptions::starttls(), SmtpOptions::tls()] {
        let Some(server) = SmtpServer::start(options.with_login("alerts", "s3cret")) else {
            return;
        };
        let channel = channel(&server, "username = \"alerts\"\npassword = \"wrong\"\n");
        let err = send(&channel, &message("out-4")).await.unwrap_err();
        assert_error(
            &err,
            true,
            &format!("localhost:{}", server.port()),
            &["refused the username or password", "535", "`password`"],
        );
        assert!(server.messages().is_empty());
    }
}

#[tokio::test]
async fn a_server_that_is_down_is_temporary_and_the_retry_arrives_once() {
    let Some(mut server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let channel = channel(&server, "");
    let sent = message("out-5");
    server.stop();
    let err = send(&channel, &sent).await.unwrap_err();
    assert_error(
        &err,
        false,
        &format!("localhost:{}", server.port()),
        &["refused the connection", "`port`"],
    );

    server.restart();
    send(&channel, &sent).await.unwrap();
    let received = server.wait_for(1, WAIT);
    assert_eq!(received.len(), 1, "{received:#?}");
    assert_eq!(received[0].message_id.as_deref(), Some("<out-5@keepwatch>"));
}

#[tokio::test]
async fn the_sms_format_sends_only_the_short_text() {
    let Some(server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let channel = channel(&server, "format = \"sms\"\n");
    if let ChannelKind::Email(email) = &channel.kind {
        assert_eq!(email.format, EmailFormat::Sms);
    }
    let sent = message("out-6");
    send(&channel, &sent).await.unwrap();
    let mail = &server.wait_for(1, WAIT)[0];
    assert_eq!(mail.subject.as_deref(), Some(SMS_SUBJECT));
    assert_eq!(mail.content_type, "text/plain");
    assert_eq!(mail.parts, ["text/plain"]);
    assert_eq!(mail.html, None);
    assert_eq!(
        mail.text.as_deref().map(str::trim_end),
        Some(sent.short.as_str())
    );
    assert!(!mail.raw.contains("Acknowledge"), "{}", mail.raw);
    assert_eq!(mail.message_id.as_deref(), Some("<out-6@keepwatch>"));
}

#[tokio::test]
async fn a_ca_file_that_does_not_match_is_a_clear_tls_error() {
    for options in [SmtpOptions::starttls(), SmtpOptions::tls()] {
        let Some(server) = SmtpServer::start(options) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other-ca.pem");
        smtp::unrelated_ca_file(&other);
        let channel = with(channel(&server, ""), |email| {
            email.ca_file = Some(other.clone())
        });
        let err = send(&channel, &message("out-7")).await.unwrap_err();
        assert_error(
            &err,
            false,
            &format!("localhost:{}", server.port()),
            &["TLS", "not signed by an authority", "`ca_file`"],
        );
        assert!(server.messages().is_empty());
    }
}

#[tokio::test]
async fn a_refused_recipient_is_permanent_and_a_deferred_one_temporary() {
    let Some(server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let address = format!("localhost:{}", server.port());
    let refused = with(channel(&server, ""), |email| {
        email.to = vec!["refused-user@example.com".to_owned()];
    });
    let err = send(&refused, &message("out-8")).await.unwrap_err();
    assert_error(&err, true, &address, &["550", "no such user", "`to`"]);

    let deferred = with(channel(&server, ""), |email| {
        email.to = vec!["deferred@example.com".to_owned()];
    });
    let err = send(&deferred, &message("out-9")).await.unwrap_err();
    assert_error(&err, false, &address, &["451", "tried again"]);
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn the_wrong_security_setting_is_told_with_the_fix() {
    let Some(server) = SmtpServer::start(SmtpOptions::starttls().with_login("alerts", "s3cret"))
    else {
        return;
    };
    let address = format!("localhost:{}", server.port());
    // Plain text to a server that offers a login only after STARTTLS.
    let login = "username = \"alerts\"\npassword = \"s3cret\"\n";
    let plain = with(channel(&server, login), |email| {
        email.security = Some(EmailSecurity::Plain);
    });
    let err = send(&plain, &message("out-10")).await.unwrap_err();
    assert_error(
        &err,
        true,
        &address,
        &["no login method", "security = \"starttls\""],
    );

    // TLS from the first byte to a server that starts in plain text.
    let tls = with(channel(&server, ""), |email| {
        email.security = Some(EmailSecurity::Tls)
    });
    let err = send(&tls, &message("out-11")).await.unwrap_err();
    assert_error(
        &err,
        false,
        &address,
        &["did not answer in TLS", "`security`"],
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_setting() {
    // Accepts connections and says nothing: the greeting never comes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let toml = format!(
        "name = \"mail\"\ntype = \"email\"\nserver = \"127.0.0.1\"\nport = {port}\n\
         security = \"plain\"\nfrom = \"alerts@example.com\"\nto = [\"a@example.com\"]\n\
         timeout = \"1s\"\n"
    );
    let channel: Channel = toml::from_str(&toml).unwrap();
    let started = Instant::now();
    let err = send(&channel, &message("out-12")).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_error(
        &err,
        false,
        &format!("127.0.0.1:{port}"),
        &["did not answer within 1s"],
    );
    drop(listener);
}

#[tokio::test]
async fn an_unknown_host_is_temporary_and_names_the_setting() {
    let toml = "name = \"mail\"\ntype = \"email\"\nserver = \"no-such-host.invalid\"\n\
                from = \"alerts@example.com\"\nto = [\"a@example.com\"]\ntimeout = \"5s\"\n";
    let channel: Channel = toml::from_str(toml).unwrap();
    let err = send(&channel, &message("out-13")).await.unwrap_err();
    assert_error(
        &err,
        false,
        "no-such-host.invalid:587",
        &["does not resolve", "`server`"],
    );
}
