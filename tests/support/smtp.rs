//! A real SMTP server for the email tests: `smtp_server.py` beside this file
//! (Python's aiosmtpd) in a child process, on 127.0.0.1 and a port of its own
//! choosing. Every message it accepts is a file in a temporary directory, so
//! a test reads exactly what crossed SMTP: the raw text, and the headers and
//! parts as Python's email package decodes them.
//!
//! Include it with `#[path = "support/smtp.rs"] mod smtp;`.
//!
//! The interpreter is `KEEPWATCH_TEST_PYTHON` (default `python3`). Without
//! aiosmtpd the test is skipped, loudly; with `KEEPWATCH_REQUIRE_SERVICES=1`
//! (as in CI) it fails, saying how to install it.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How the test server expects the connection to be encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No TLS at all.
    Plain,
    /// STARTTLS offered, and required before MAIL (and before AUTH).
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl SmtpSecurity {
    fn arg(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::StartTls => "starttls",
            Self::Tls => "tls",
        }
    }

    /// The `security` setting of an email channel that matches.
    pub fn setting(self) -> &'static str {
        self.arg()
    }
}

/// What kind of server to start.
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    /// Plain, STARTTLS or implicit TLS.
    pub security: SmtpSecurity,
    /// When set, AUTH PLAIN/LOGIN with this user and password is required.
    pub login: Option<(String, String)>,
}

impl SmtpOptions {
    /// Plain text, no login.
    pub fn plain() -> Self {
        Self {
            security: SmtpSecurity::Plain,
            login: None,
        }
    }

    /// STARTTLS required, no login.
    pub fn starttls() -> Self {
        Self {
            security: SmtpSecurity::StartTls,
            login: None,
        }
    }

    /// Implicit TLS, no login.
    pub fn tls() -> Self {
        Self {
            security: SmtpSecurity::Tls,
            login: None,
        }
    }

    /// The same, requiring this login.
    pub fn with_login(mut self, user: &str, password: &str) -> Self {
        self.login = Some((user.to_owned(), password.to_owned()));
        self
    }
}

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Received {
    /// The envelope sender (MAIL FROM).
    pub mail_from: String,
    /// The envelope recipients the server accepted (RCPT TO).
    pub rcpt_tos: Vec<String>,
    /// Whether the connection was encrypted when the message came.
    pub tls: bool,
    /// The user name the client logged in with, if it did.
    pub login: Option<String>,
    /// The message exactly as it crossed SMTP (dot-unstuffed).
    pub raw: String,
    /// The decoded `From` header.
    pub from: Option<String>,
    /// The decoded `To` header.
    pub to: Option<String>,
    /// The decoded `Subject` header.
    pub subject: Option<String>,
    /// The `Message-ID` header.
    pub message_id: Option<String>,
    /// The `Date` header.
    pub date: Option<String>,
    /// The `Auto-Submitted` header.
    pub auto_submitted: Option<String>,
    /// The top-level content type, e.g. `multipart/alternative`.
    pub content_type: String,
    /// The content types of the leaf parts, in order.
    pub parts: Vec<String>,
    /// The decoded text/plain body (line ends `\n`).
    pub text: Option<String>,
    /// The decoded text/html body (line ends `\n`).
    pub html: Option<String>,
    /// When the server had the whole message (Unix nanoseconds, wall clock),
    /// just before it filed it and answered "250".
    #[serde(default)]
    pub accepted_at_ns: Option<u64>,
}

/// A running test SMTP server; stopped when dropped.
pub struct SmtpServer {
    options: SmtpOptions,
    port: u16,
    child: Option<(Child, ChildStdin)>,
    maildir: PathBuf,
    cert: Option<(PathBuf, PathBuf, PathBuf)>,
    dir: tempfile::TempDir,
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_server.py");

fn python() -> String {
    std::env::var("KEEPWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Skips (loudly) or fails the test, as `KEEPWATCH_REQUIRE_SERVICES` says.
fn missing<T>(why: &str) -> Option<T> {
    let how = "install it with `python3 -m pip install --user aiosmtpd` \
               (or run `bash scripts/test-services.sh`)";
    if std::env::var("KEEPWATCH_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("KEEPWATCH_REQUIRE_SERVICES=1 and {why}: {how}");
    }
    eprintln!("\n*** skipped: {why}: {how} ***\n");
    None
}

impl SmtpServer {
    /// Starts a server; `None` (after saying so) when Python's aiosmtpd is
    /// not installed and services are not required.
    pub fn start(options: SmtpOptions) -> Option<Self> {
        let python = python();
        match Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(status) if status.success() => {}
            Ok(_) => {
                return missing(&format!(
                    "the SMTP test server needs Python's aiosmtpd, which `{python}` cannot import"
                ));
            }
            Err(err) => {
                return missing(&format!(
                    "the SMTP test server needs Python (`{python}` cannot run: {err})"
                ));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("mail");
        std::fs::create_dir(&maildir).unwrap();
        let cert = match options.security {
            SmtpSecurity::Plain => None,
            SmtpSecurity::StartTls | SmtpSecurity::Tls => Some(certificates(dir.path())),
        };
        let mut server = Self {
            options,
            port: 0,
            child: None,
            maildir,
            cert,
            dir,
        };
        server.spawn(0);
        Some(server)
    }

    /// Starts the Python process on `port` (0: any free one) and waits
    /// until it listens.
    fn spawn(&mut self, port: u16) {
        let mut command = Command::new(python());
        command
            .arg(SCRIPT)
            .args(["--port", &port.to_string()])
            .args(["--security", self.options.security.arg()])
            .arg("--maildir")
            .arg(&self.maildir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((_, cert, key)) = &self.cert {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some((user, password)) = &self.options.login {
            command.args(["--user", user, "--password", password]);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {SCRIPT}: {err}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        match line.trim().strip_prefix("READY ").map(str::parse::<u16>) {
            Some(Ok(listening)) => {
                self.port = listening;
                self.child = Some((child, stdin));
            }
            _ => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "the SMTP test server did not start on port {port} ({status:?}, said {line:?}); \
                     its error is above"
                );
            }
        }
    }

    /// The port it listens on, on 127.0.0.1 (the same after a restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host name its certificate is for, and that resolves to it.
    pub fn host(&self) -> &'static str {
        "localhost"
    }

    /// The PEM file of the CA that signed its certificate, for `ca_file`.
    pub fn ca_file(&self) -> &Path {
        &self
            .cert
            .as_ref()
            .expect("a plain server has no certificate")
            .0
    }

    /// The settings of an email channel that reaches this server (no login),
    /// as TOML lines to which a test adds its own.
    pub fn channel_toml(&self) -> String {
        self.channel_toml_on(self.port)
    }

    /// [`Self::channel_toml`] reaching it on `port` (a relay's).
    fn channel_toml_on(&self, port: u16) -> String {
        let mut toml = format!(
            "server = \"{}\"\nport = {}\nsecurity = \"{}\"\nfrom = \"keepwatch <alerts@example.com>\"\n\
             to = [\"admin@example.com\"]\ntimeout = \"10s\"\n",
            self.host(),
            port,
            self.options.security.setting()
        );
        if let Some((ca, _, _)) = &self.cert {
            toml.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
        }
        toml
    }

    /// Every message received so far, in the order they arrived.
    pub fn messages(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.maildir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).unwrap();
                serde_json::from_str(&text)
                    .unwrap_or_else(|err| panic!("{}: {err}\n{text}", path.display()))
            })
            .collect()
    }

    /// How many messages were received so far, without reading them.
    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.maildir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "json"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Waits until at least `count` messages arrived, and returns them all;
    /// fails the test, saying how many came, after `timeout`.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            if started.elapsed() > timeout {
                panic!(
                    "the SMTP test server received {} of {count} messages in {timeout:?}: {messages:#?}",
                    messages.len()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Takes the server down: the port refuses connections until `restart`.
    /// Messages already received stay.
    pub fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.child.take() {
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the server is up (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Brings a stopped server back on the same port, with the same
    /// settings, certificate and received messages. Tries for a few seconds
    /// should the port be held a moment longer.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        let started = Instant::now();
        loop {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.spawn(port);
            }));
            match result {
                Ok(()) => {
                    assert_eq!(self.port, port, "restarted on another port");
                    return;
                }
                Err(panic) if started.elapsed() > Duration::from_secs(5) => {
                    std::panic::resume_unwind(panic)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("options", &self.options)
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// An [`SmtpServer`] for tests on Tokio's paused clock (`start_paused`),
/// reached through a relay on 127.0.0.1 that holds the clock still while a
/// conversation is in flight.
///
/// On a paused clock, time jumps to the next timer whenever the runtime has
/// nothing to do, and waiting for another process (the Python server
/// answering) is nothing to do: the sender's SMTP timeout would pass in an
/// instant. The relay accepts on the test's runtime and hands each
/// connection at once to `spawn_blocking`, which stops the paused clock from
/// advancing until the conversation is over; the bytes go both ways
/// unchanged, so what the test reads is still exactly what crossed SMTP.
/// Once a test's sleep ends and a moment more has passed, every message
/// sent before then is in [`Self::messages`].
///
/// Needs a current-thread Tokio runtime (that of `#[tokio::test]`).
pub struct PausedSmtp {
    server: SmtpServer,
    port: u16,
    relay: Option<tokio::task::JoinHandle<()>>,
}

impl PausedSmtp {
    /// Starts the server and its relay; `None` as [`SmtpServer::start`].
    pub async fn start(options: SmtpOptions) -> Option<Self> {
        let server = SmtpServer::start(options)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Some(tokio::spawn(relay(listener, server.port())));
        Some(Self {
            server,
            port,
            relay,
        })
    }

    /// The port keepwatch sends to, on 127.0.0.1 (the same after a restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The settings of an email channel that reaches this server.
    pub fn channel_toml(&self) -> String {
        self.server.channel_toml_on(self.port)
    }

    /// Every message received so far, in the order they arrived.
    pub fn messages(&self) -> Vec<Received> {
        self.server.messages()
    }

    /// Takes the server down: the port refuses connections until `restart`.
    pub async fn stop(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.abort();
            // The listener is dropped with the aborted task.
            let _ = relay.await;
        }
        self.server.stop();
    }

    /// Brings it back on the same port, with the messages received so far.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.server.restart();
        // Tokio sets SO_REUSEADDR: the port is free as soon as it was closed.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap_or_else(|err| panic!("cannot listen on port {} again: {err}", self.port));
        self.relay = Some(tokio::spawn(relay(listener, self.server.port())));
    }
}

impl std::fmt::Debug for PausedSmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PausedSmtp")
            .field("port", &self.port)
            .field("server", &self.server)
            .finish()
    }
}

/// Accepts connections and relays each to the server on `upstream`.
async fn relay(listener: tokio::net::TcpListener, upstream: u16) {
    while let Ok((client, _)) = listener.accept().await {
        let client = client
            .into_std()
            .and_then(|client| client.set_nonblocking(false).map(|()| client));
        match client {
            // At once, without awaiting anything first: from here until the
            // conversation ends the paused clock stands still.
            Ok(client) => drop(tokio::task::spawn_blocking(move || {
                converse(client, upstream)
            })),
            Err(err) => eprintln!("the SMTP relay lost a connection: {err}"),
        }
    }
}

/// Carries one conversation both ways until both sides have closed.
fn converse(client: std::net::TcpStream, upstream: u16) {
    let server = match std::net::TcpStream::connect(("127.0.0.1", upstream)) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("the SMTP relay cannot reach the server on port {upstream}: {err}");
            return;
        }
    };
    // A server or client that hangs fails the test instead of stopping it.
    for stream in [&client, &server] {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let _ = stream.set_nodelay(true);
    }
    std::thread::scope(|scope| {
        scope.spawn(|| pipe(&client, &server));
        pipe(&server, &client);
    });
}

/// Copies `from` to `to` until `from` closes, then closes `to` for writing.
fn pipe(from: &std::net::TcpStream, to: &std::net::TcpStream) {
    let (mut reader, mut writer) = (from, to);
    let _ = std::io::copy(&mut reader, &mut writer);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// A CA, and a certificate for `localhost` and 127.0.0.1 that it signed, as
/// PEM files in `dir`: (CA, certificate, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_pem, issuer) = authority("keepwatch SMTP test CA");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    // Not the host name: some machines trust an authority named "localhost".
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "keepwatch SMTP test server");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca_pem).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// A new certificate authority: its certificate as PEM, and its issuer.
fn authority(name: &str) -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), rcgen::Issuer::new(params, key))
}

/// Writes the certificate of a CA that signed nothing the server uses, for
/// a `ca_file` that does not match.
pub fn unrelated_ca_file(path: &Path) {
    let (pem, _) = authority("keepwatch unrelated CA");
    std::fs::write(path, pem).unwrap();
}
