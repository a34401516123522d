//! The email channel: one message delivered over SMTP (lettre, rustls with
//! ring), to a provider's submission port, a company mail server, or a
//! carrier's email-to-SMS gateway.
//!
//! Each delivery opens its own connection, so a password read from `env:` or
//! `file:` is picked up when it is rotated, and a server that was down costs
//! nothing while it stays down. Every failure is told with the server and
//! port and the setting to fix, and is classed as temporary (the server may
//! come back) or permanent (the config has to change).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use super::{Message, Notifier, SendError, SendFuture};

mod socket;
use crate::clock::Clock;
use crate::message::Enclosure;
use crate::secret::Secret;
use crate::units::Duration;

/// `type = "email"`: where and how to hand messages to a mail server.
///
/// `Debug` shows an inline password as `<redacted>` (see [`Secret`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// The mail server's host name, e.g. `"smtp.example.com"`.
    pub server: String,
    /// The server's port; when left out, the usual one for `security`
    /// (587 for starttls, 465 for tls, 25 for plain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// How the connection is encrypted. Left out, what `port` usually speaks
    /// (465: tls; 25, 1025, 2525: plain; any other: starttls), or starttls
    /// when `port` is left out too: read it with
    /// [`security()`](Self::security). A server on port 25 that takes mail
    /// without a login then works as written, as the README's block says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<EmailSecurity>,
    /// The login name, when the server wants a login (most do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The login password: inline, `env:NAME` or `file:/path`, read at each
    /// delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The sender, `alerts@example.com` or `keepwatch <alerts@example.com>`.
    pub from: String,
    /// The recipients, in the same forms as `from`.
    pub to: Vec<String>,
    /// What the message looks like; `"full"` unless said otherwise.
    #[serde(default)]
    pub format: EmailFormat,
    /// How long one delivery may take, from connecting to the server's
    /// acceptance; 30 seconds unless said otherwise.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// A PEM file of CA certificates trusted besides the system's, for a
    /// company mail server whose certificate its own CA signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// How long to wait for the server's goodbye after it accepted the message.
const QUIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn default_timeout() -> Duration {
    EmailChannel::DEFAULT_TIMEOUT
}

/// How the connection to the mail server is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailSecurity {
    /// Plain connection upgraded with STARTTLS before anything else is said;
    /// a server that does not offer STARTTLS is an error, never a fallback
    /// to plain text. The usual setting for port 587.
    #[default]
    #[serde(rename = "starttls")]
    StartTls,
    /// TLS from the first byte ("implicit TLS", SMTPS), usually port 465.
    Tls,
    /// No encryption: only for a relay on the same machine or a trusted
    /// network, usually port 25.
    Plain,
}

impl EmailSecurity {
    /// The security a server on `port` usually speaks: 465 is TLS from the
    /// start, 25 (and the 1025 and 2525 of test and local relays) plain,
    /// the rest (587) STARTTLS.
    pub fn usual_for(port: u16) -> Self {
        match port {
            465 => Self::Tls,
            25 | 1025 | 2525 => Self::Plain,
            _ => Self::StartTls,
        }
    }

    /// The port a server usually listens on for this kind of connection.
    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::Plain => 25,
        }
    }

    /// The setting's value as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::Plain => "plain",
        }
    }
}

/// What the delivered email looks like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailFormat {
    /// The whole message: a plain-text part and an HTML part
    /// (multipart/alternative), so every mail program shows one of them.
    #[default]
    Full,
    /// For a carrier's email-to-SMS gateway: only the short text (at most
    /// about 160 characters) as a plain body, under the subject
    /// [`SMS_SUBJECT`], because gateways put the subject into the SMS too.
    Sms,
}

/// The subject of a `format = "sms"` email: short, since a gateway that
/// puts the subject into the SMS counts it against the 160 characters, and
/// enough to tell the reader who is texting.
pub const SMS_SUBJECT: &str = "keepwatch";

/// One mistake in an email channel's settings, found before anything is
/// sent, for the config check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailProblem {
    /// The setting at fault, e.g. `"to"`.
    pub key: &'static str,
    /// What is wrong with it.
    pub message: String,
    /// How to fix it, when that can be told.
    pub hint: Option<String>,
}

impl fmt::Display for EmailProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl EmailChannel {
    /// How long a delivery may take unless `timeout` says otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// How the connection is encrypted: `security`, or what `port` usually speaks.
    pub fn security(&self) -> EmailSecurity {
        self.security.unwrap_or_else(|| {
            self.port
                .map_or(EmailSecurity::StartTls, EmailSecurity::usual_for)
        })
    }

    /// The port connected to: `port`, or the usual one for `security`.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.security().default_port())
    }

    /// Every mistake in these settings that can be seen without a network:
    /// an empty server, no recipients, addresses that do not parse, a login
    /// name without a password (or the reverse), a timeout of zero.
    pub fn problems(&self) -> Vec<EmailProblem> {
        let mut problems = Vec::new();
        let mut problem = |key, message: String, hint: Option<&str>| {
            problems.push(EmailProblem {
                key,
                message,
                hint: hint.map(str::to_owned),
            });
        };
        if self.server.trim().is_empty() {
            problem(
                "server",
                "no mail server is given".to_owned(),
                Some("write its host name, e.g. `server = \"smtp.example.com\"`"),
            );
        } else if let Some((host, port)) = self
            .server
            .rsplit_once(':')
            .filter(|(host, port)| !host.contains(':') && port.parse::<u16>().is_ok())
        {
            problem(
                "server",
                format!("`{}` has the port in it", self.server),
                Some(&format!(
                    "write the host and the port apart: `server = \"{host}\"` and `port = {port}`"
                )),
            );
        } else if self.server.contains([' ', '/', '@']) {
            problem(
                "server",
                format!("`{}` is not a host name", self.server),
                Some("write only the host name, e.g. `smtp.example.com`, and the port in `port`"),
            );
        }
        if self.port == Some(0) {
            problem(
                "port",
                "port 0 is not a port".to_owned(),
                Some(
                    "leave `port` out to use the usual one (587 for starttls, 465 for tls, 25 for plain)",
                ),
            );
        }
        if let Err(err) = parse_mailbox("from", &self.from) {
            problem("from", err, Some("write it like `alerts@example.com`"));
        }
        if self.to.is_empty() {
            problem(
                "to",
                "no recipient is given".to_owned(),
                Some("write at least one address, e.g. `to = [\"admin@example.com\"]`"),
            );
        }
        for address in &self.to {
            if let Err(err) = parse_mailbox("to", address) {
                problem("to", err, Some("write it like `admin@example.com`"));
            }
        }
        match (&self.username, &self.password) {
            (Some(_), None) => problem(
                "password",
                "a `username` is given but no `password`".to_owned(),
                Some("add `password` (inline, `env:NAME` or `file:/path`)"),
            ),
            (None, Some(_)) => problem(
                "username",
                "a `password` is given but no `username`".to_owned(),
                Some("add `username`, or remove `password` if the server needs no login"),
            ),
            (Some(name), Some(_)) if name.trim().is_empty() => problem(
                "username",
                "the `username` is empty".to_owned(),
                Some("write the login name, or remove `username` and `password`"),
            ),
            _ => {}
        }
        if self.timeout.is_off() {
            problem(
                "timeout",
                "a delivery needs some time".to_owned(),
                Some("write e.g. `timeout = \"30s\"`"),
            );
        }
        problems
    }

    /// How long a delivery may take. "off" is flagged by `problems`; a
    /// delivery still gets the default rather than no limit, so one silent
    /// server cannot hold the outbox.
    fn limit(&self) -> Duration {
        if self.timeout.is_off() {
            default_timeout()
        } else {
            self.timeout
        }
    }

    /// `server:port`, the way every error names the mail server.
    fn address(&self) -> String {
        format!("{}:{}", self.server, self.port())
    }

    /// The email as it goes over SMTP.
    fn compose(&self, message: &Message) -> Result<lettre::Message, SendError> {
        let from = parse_mailbox("from", &self.from).map_err(|err| self.bad_address(err))?;
        let mut builder = lettre::Message::builder()
            .from(from)
            .message_id(Some(message_id(&message.id)))
            .date_now()
            // RFC 3834: vacation auto-replies must not answer an alert.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_owned(),
            ));
        // A report names its own readers; alerts go to the channel's.
        let recipients = match &message.enclosure {
            Some(enclosure) if !enclosure.to.is_empty() => &enclosure.to,
            _ => &self.to,
        };
        if recipients.is_empty() {
            return Err(SendError::permanent(format!(
                "the email channel for {} has no recipient: add an address to `to`",
                self.address()
            )));
        }
        for address in recipients {
            let to = parse_mailbox("to", address).map_err(|err| self.bad_address(err))?;
            builder = builder.to(to);
        }
        let built = match self.format {
            EmailFormat::Full => {
                let builder = builder.subject(message.subject.clone());
                match &message.enclosure {
                    Some(enclosure)
                        if !enclosure.inline.is_empty() || !enclosure.files.is_empty() =>
                    {
                        builder.multipart(self.enclosed(message, enclosure)?)
                    }
                    _ if message.html.trim().is_empty() => {
                        builder.singlepart(SinglePart::plain(message.text.clone()))
                    }
                    _ => builder.multipart(MultiPart::alternative_plain_html(
                        message.text.clone(),
                        message.html.clone(),
                    )),
                }
            }
            EmailFormat::Sms => {
                let body = if message.short.trim().is_empty() {
                    message.subject.clone()
                } else {
                    message.short.clone()
                };
                builder
                    .subject(SMS_SUBJECT)
                    .singlepart(SinglePart::plain(body))
            }
        };
        built.map_err(|err| {
            SendError::permanent(format!(
                "the email for {} could not be put together: {err}; check `from` and `to`",
                self.address()
            ))
        })
    }

    /// A report's body: the text and HTML side by side, the pictures the
    /// HTML shows by Content-ID beside them (multipart/related), and the
    /// files attached after (multipart/mixed).
    fn enclosed(&self, message: &Message, enclosure: &Enclosure) -> Result<MultiPart, SendError> {
        let content_type = |attachment: &crate::message::Attachment| {
            ContentType::parse(&attachment.content_type).map_err(|_| {
                SendError::permanent(format!(
                    "the email for {} could not be put together: \"{}\" is not a content type (file {})",
                    self.address(),
                    attachment.content_type,
                    attachment.name
                ))
            })
        };
        let mut related = MultiPart::related().multipart(MultiPart::alternative_plain_html(
            message.text.clone(),
            message.html.clone(),
        ));
        for picture in &enclosure.inline {
            related = related.singlepart(
                lettre::message::Attachment::new_inline(picture.name.clone())
                    .body(picture.data.clone(), content_type(picture)?),
            );
        }
        let mut mixed = MultiPart::mixed().multipart(related);
        for file in &enclosure.files {
            mixed = mixed.singlepart(
                lettre::message::Attachment::new(file.name.clone())
                    .body(file.data.clone(), content_type(file)?),
            );
        }
        Ok(mixed)
    }

    fn bad_address(&self, reason: String) -> SendError {
        SendError::permanent(format!(
            "the email channel for {} cannot send: {reason}",
            self.address()
        ))
    }

    /// The login, with the password read now.
    fn credentials(&self) -> Result<Option<Credentials>, SendError> {
        let Some(username) = &self.username else {
            return Ok(None);
        };
        let Some(password) = &self.password else {
            return Err(SendError::permanent(format!(
                "the email channel for {} has a `username` but no `password`: add `password`",
                self.address()
            )));
        };
        let password = password.reveal().map_err(|err| {
            SendError::permanent(format!(
                "the password for the mail server {} cannot be read: {err}; fix `password`",
                self.address()
            ))
        })?;
        Ok(Some(Credentials::new(username.clone(), password)))
    }

    /// TLS settings: the system's CA certificates plus those of `ca_file`.
    fn tls_parameters(&self) -> Result<TlsParameters, SendError> {
        let mut builder = TlsParameters::builder(self.server.clone())
            .certificate_store(CertificateStore::Default);
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|err| {
                SendError::permanent(format!(
                    "the ca_file {} for the mail server {} cannot be read: {err}; fix `ca_file`",
                    path.display(),
                    self.address()
                ))
            })?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|err| {
                    SendError::permanent(format!(
                        "the ca_file {} for the mail server {} is not valid PEM: {err}; fix `ca_file`",
                        path.display(),
                        self.address()
                    ))
                })?;
            if certs.is_empty() {
                return Err(SendError::permanent(format!(
                    "the ca_file {} for the mail server {} holds no certificate \
                     (expected \"-----BEGIN CERTIFICATE-----\" blocks); fix `ca_file`",
                    path.display(),
                    self.address()
                )));
            }
            for cert in certs {
                let cert = Certificate::from_der(cert.to_vec()).map_err(|err| {
                    SendError::permanent(format!(
                        "the ca_file {} holds a certificate that cannot be used: {err}; fix `ca_file`",
                        path.display()
                    ))
                })?;
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build_rustls().map_err(|err| {
            SendError::permanent(format!(
                "TLS for the mail server {} cannot be set up: {err}; check `ca_file`",
                self.address()
            ))
        })
    }

    /// One delivery, from connecting to the server's acceptance.
    async fn deliver(&self, message: &Message) -> Result<(), SendError> {
        let email = self.compose(message)?;
        self.session(Some(&email)).await
    }

    /// Connects, secures and logs in as a delivery would, then says goodbye
    /// without sending: `keepwatch doctor` tests a channel this way, so the
    /// admin learns of a wrong port, certificate or password without a mail.
    pub async fn probe(&self) -> Result<(), SendError> {
        self.session(None).await
    }

    /// Connects, secures, logs in and, when there is an email, sends it.
    async fn session(&self, email: Option<&lettre::Message>) -> Result<(), SendError> {
        let credentials = self.credentials()?;
        let tls = match self.security() {
            EmailSecurity::Plain => None,
            EmailSecurity::StartTls | EmailSecurity::Tls => Some(self.tls_parameters()?),
        };
        let timeout = self.limit().std();
        let session = async {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((self.server.as_str(), self.port()))
                    .await
                    .map_err(|err| {
                        self.explain(Step::Resolve, &Cause::Io(err.kind(), err.to_string()))
                    })?
                    .collect();
            if addrs.is_empty() {
                return Err(self.explain(
                    Step::Resolve,
                    &Cause::Other("the name has no address".to_owned()),
                ));
            }
            let hello = ClientId::default();
            let implicit = match self.security() {
                EmailSecurity::Tls => tls.clone(),
                EmailSecurity::StartTls | EmailSecurity::Plain => None,
            };
            let mut connection = socket::open(&addrs, implicit, &hello)
                .await
                .map_err(|cause| self.explain(Step::Connect, &cause))?;
            if let (EmailSecurity::StartTls, Some(tls)) = (self.security(), tls) {
                connection
                    .starttls(tls, &hello)
                    .await
                    .map_err(|err| self.explain(Step::StartTls, &Cause::of(&err)))?;
            }
            if let Some(credentials) = &credentials {
                connection
                    .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await
                    .map_err(|err| self.explain(Step::Login, &Cause::of(&err)))?;
            }
            if let Some(email) = email {
                connection
                    .send(email.envelope(), &email.formatted())
                    .await
                    .map_err(|err| self.explain(Step::Send, &Cause::of(&err)))?;
            }
            Ok(connection)
        };
        let mut connection = match tokio::time::timeout(timeout, session).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(self.explain(
                    Step::Connect,
                    &Cause::Io(std::io::ErrorKind::TimedOut, "timed out".to_owned()),
                ));
            }
        };
        // The message is accepted: a goodbye that fails or hangs must not
        // turn into a failure, or the retry would deliver it twice. After a
        // delivery it is said in the background, so the outbox records the
        // acceptance at once: the shorter the time between the server taking
        // a message and keepwatch writing that down, the smaller the chance
        // that a kill in between sends it again after the restart.
        let goodbye = async move {
            let _ = tokio::time::timeout(QUIT_TIMEOUT, connection.quit()).await;
        };
        if email.is_some() {
            tokio::spawn(goodbye);
        } else {
            goodbye.await;
        }
        Ok(())
    }

    /// The failure of `step`, in words naming the server and what to fix.
    fn explain(&self, step: Step, cause: &Cause) -> SendError {
        let server = self.address();
        match cause {
            Cause::Reply { code, text } => self.explain_reply(step, *code, text),
            Cause::Io(_, text) if step == Step::Resolve => SendError::temporary(format!(
                "cannot find the mail server {server}: its name does not resolve ({text}); \
                     check `server`, or this machine's DNS"
            )),
            Cause::Io(std::io::ErrorKind::ConnectionRefused, _) => SendError::temporary(format!(
                "the mail server {server} refused the connection: nothing listens on that port; \
                 check that the mail server is running, and `server` and `port` \
                 (usually 587 for starttls, 465 for tls, 25 for plain)"
            )),
            Cause::Io(std::io::ErrorKind::TimedOut, _) => {
                let hint = match self.security() {
                    EmailSecurity::StartTls | EmailSecurity::Plain => {
                        "; if the port expects TLS from the start (usually 465), set security = \"tls\""
                    }
                    EmailSecurity::Tls => "",
                };
                SendError::temporary(format!(
                    "the mail server {server} did not answer within {}: check `server`, `port` and \
                     any firewall on the way{hint}",
                    self.limit()
                ))
            }
            Cause::Io(_, text) => SendError::temporary(format!(
                "the connection to the mail server {server} failed: {text}; check `server` and `port`"
            )),
            Cause::Tls(err) => SendError::temporary(format!(
                "TLS with the mail server {server} failed: {}",
                tls_advice(err, &self.server)
            )),
            Cause::Client(text) if step == Step::StartTls => SendError::permanent(format!(
                "the mail server {server} does not offer STARTTLS ({text}): set security = \"tls\" \
                 if it expects TLS from the start (usually port 465), or \"plain\" only for a relay \
                 on a trusted network"
            )),
            Cause::Client(text) if step == Step::Login => SendError::permanent(format!(
                "the mail server {server} offers no login method keepwatch knows (PLAIN, LOGIN) \
                 on this connection ({text}): {}",
                match self.security() {
                    EmailSecurity::Plain => {
                        "servers offer a login only after TLS, so set security = \"starttls\" or \"tls\"; \
                         or remove `username` and `password` if this server needs no login"
                    }
                    EmailSecurity::StartTls | EmailSecurity::Tls => {
                        "remove `username` and `password` if this server needs no login"
                    }
                }
            )),
            Cause::Client(text) => SendError::permanent(format!(
                "the mail server {server} cannot take this email: {text}"
            )),
            Cause::Other(text) => SendError::temporary(format!(
                "the exchange with the mail server {server} ({} security) failed: {text}",
                self.security().name()
            )),
        }
    }

    /// A negative SMTP reply: 4xx may pass, 5xx needs a change.
    fn explain_reply(&self, step: Step, code: u16, text: &str) -> SendError {
        let server = self.address();
        let said = if text.is_empty() {
            format!("{code}")
        } else {
            format!("{code} {text}")
        };
        let permanent = (500..600).contains(&code);
        let reason = match step {
            Step::Login if permanent => format!(
                "the mail server {server} refused the username or password for `{}` ({said}): \
                 check `username` and `password` (some providers want an app password)",
                self.username.as_deref().unwrap_or("")
            ),
            Step::Login => format!(
                "the mail server {server} could not check the login now ({said}); it will be tried again"
            ),
            Step::Send if permanent => format!(
                "the mail server {server} refused the email ({said}): check `from` and `to` \
                 (a server refuses recipients it does not deliver to, and senders it does not \
                 relay for)"
            ),
            Step::Send => format!(
                "the mail server {server} deferred the email ({said}); it will be tried again"
            ),
            Step::StartTls if permanent => format!(
                "the mail server {server} refused STARTTLS ({said}): set security = \"tls\" if it \
                 expects TLS from the start (usually port 465)"
            ),
            Step::Resolve | Step::Connect | Step::StartTls if permanent => format!(
                "the mail server {server} refused to talk ({said}): check `server` and `port`, \
                 and that this machine may send through it"
            ),
            Step::Resolve | Step::Connect | Step::StartTls => {
                format!("the mail server {server} is busy ({said}); it will be tried again")
            }
        };
        SendError { reason, permanent }
    }
}

impl Notifier for EmailChannel {
    /// lettre validates the mail server's certificate at the system's time.
    fn send<'a>(&'a self, message: &'a Message, _clock: &'a Arc<dyn Clock>) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }
}

/// Where in the SMTP exchange a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Resolve,
    Connect,
    StartTls,
    Login,
    Send,
}

/// What went wrong, taken out of lettre's error.
#[derive(Debug, Clone, PartialEq)]
enum Cause {
    /// The server answered with a negative reply.
    Reply { code: u16, text: String },
    /// The network failed.
    Io(std::io::ErrorKind, String),
    /// The TLS handshake failed.
    Tls(rustls::Error),
    /// lettre refused to go on (no STARTTLS offered, no login method).
    Client(String),
    /// Anything else (a reply that does not parse).
    Other(String),
}

impl Cause {
    fn of(err: &lettre::transport::smtp::Error) -> Self {
        use std::error::Error as _;
        if let Some(code) = err.status() {
            let text = err.source().map(|s| s.to_string()).unwrap_or_default();
            return Self::Reply {
                code: u16::from(code),
                text,
            };
        }
        let mut source = err.source();
        while let Some(current) = source {
            if let Some(tls) = current.downcast_ref::<rustls::Error>() {
                return Self::Tls(tls.clone());
            }
            if let Some(io) = current.downcast_ref::<std::io::Error>() {
                // tokio-rustls hands TLS failures over inside an io::Error,
                // reachable through get_ref rather than source.
                if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                    return Self::Tls(tls.clone());
                }
                return Self::Io(io.kind(), io.to_string());
            }
            source = current.source();
        }
        let text = err
            .source()
            .map(|s| s.to_string())
            .unwrap_or_else(|| err.to_string());
        if err.is_timeout() {
            Self::Io(std::io::ErrorKind::TimedOut, text)
        } else if err.is_client() {
            Self::Client(text)
        } else {
            Self::Other(text)
        }
    }
}

/// A TLS failure, with what to do about it.
fn tls_advice(err: &rustls::Error, server: &str) -> String {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(problem) => match problem {
            C::UnknownIssuer | C::BadSignature | C::UnhandledCriticalExtension => format!(
                "its certificate is not signed by an authority this machine trusts ({problem:?}); \
                 if the mail server uses a company CA, set `ca_file` to that CA's PEM file"
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "its certificate is not for the name {server} ({problem:?}); write in `server` \
                 the name the certificate is for"
            ),
            C::Expired | C::ExpiredContext { .. } => format!(
                "its certificate has expired ({problem:?}); the mail server's administrator has \
                 to renew it"
            ),
            C::NotValidYet | C::NotValidYetContext { .. } => format!(
                "its certificate is not valid yet ({problem:?}); check this machine's clock"
            ),
            other => format!("its certificate was refused ({other:?})"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => format!(
            "the server did not answer in TLS ({err}); check `security`: \"tls\" is for a port \
             that expects TLS from the start (usually 465), \"starttls\" for one that starts \
             plain (usually 587)"
        ),
        other => format!("{other}; check `security`, `port` and `ca_file`"),
    }
}

/// `text` as a mailbox, or why it is not one (naming the setting).
fn parse_mailbox(key: &str, text: &str) -> Result<Mailbox, String> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|err| format!("the `{key}` address \"{text}\" is not an email address ({err})"))
}

/// The Message-ID header for an outbox entry: the same for every retry, so a
/// receiver can drop a repeat. Anything but letters, digits and `-_+=` is
/// percent-encoded (dots too, which may not start, end or double in a
/// message id), which keeps different ids different.
fn message_id(id: &str) -> String {
    let mut left = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_+=".contains(&byte) {
            left.push(char::from(byte));
        } else {
            left.push_str(&format!("%{byte:02X}"));
        }
    }
    if left.is_empty() {
        left.push_str("none");
    }
    format!("<{left}@keepwatch>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn channel(toml: &str) -> EmailChannel {
        toml::from_str(toml).unwrap_or_else(|err| panic!("{err}\n{toml}"))
    }

    const MINIMAL: &str = "server = \"smtp.example.com\"\nfrom = \"alerts@example.com\"\nto = [\"admin@example.com\"]";

    #[test]
    fn defaults_are_starttls_on_587_full_format_and_30_seconds() {
        let email = channel(MINIMAL);
        assert_eq!(email.security(), EmailSecurity::StartTls);
        assert_eq!(email.port(), 587);
        assert_eq!(email.format, EmailFormat::Full);
        assert_eq!(email.timeout, Duration::from_secs(30));
        assert_eq!(email.username, None);
        assert_eq!(email.password, None);
        assert_eq!(email.ca_file, None);
        assert!(email.problems().is_empty(), "{:?}", email.problems());
    }

    #[test]
    fn the_port_follows_security_unless_given() {
        let tls = channel(&format!("{MINIMAL}\nsecurity = \"tls\""));
        assert_eq!((tls.security(), tls.port()), (EmailSecurity::Tls, 465));
        let plain = channel(&format!("{MINIMAL}\nsecurity = \"plain\""));
        assert_eq!((plain.security(), plain.port()), (EmailSecurity::Plain, 25));
        let given = channel(&format!("{MINIMAL}\nsecurity = \"plain\"\nport = 2525"));
        assert_eq!(given.port(), 2525);
    }

    #[test]
    fn security_follows_the_port_unless_given() {
        for (port, security) in [
            (25, EmailSecurity::Plain),
            (2525, EmailSecurity::Plain),
            (465, EmailSecurity::Tls),
            (587, EmailSecurity::StartTls),
            (2587, EmailSecurity::StartTls),
        ] {
            let email = channel(&format!("{MINIMAL}\nport = {port}"));
            assert_eq!(email.security(), security, "port {port}");
        }
        let said = channel(&format!("{MINIMAL}\nport = 25\nsecurity = \"starttls\""));
        assert_eq!(said.security(), EmailSecurity::StartTls);
    }

    #[test]
    fn every_setting_is_read_and_unknown_keys_and_values_are_refused() {
        let email = channel(
            "server = \"mail.corp\"\nport = 2465\nsecurity = \"tls\"\nusername = \"alerts\"\n\
             password = \"env:SMTP_PASSWORD\"\nfrom = \"keepwatch <alerts@corp.example>\"\n\
             to = [\"a@corp.example\", \"b@corp.example\"]\nformat = \"sms\"\ntimeout = \"10s\"\n\
             ca_file = \"/etc/keepwatch/corp-ca.pem\"",
        );
        assert_eq!(email.port(), 2465);
        assert_eq!(email.username.as_deref(), Some("alerts"));
        assert_eq!(email.password, Some(Secret::Env("SMTP_PASSWORD".into())));
        assert_eq!(email.format, EmailFormat::Sms);
        assert_eq!(email.timeout, Duration::from_secs(10));
        assert_eq!(
            email.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/keepwatch/corp-ca.pem"))
        );
        assert!(email.problems().is_empty(), "{:?}", email.problems());

        let err = toml::from_str::<EmailChannel>(&format!("{MINIMAL}\nhost = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("host"), "{err}");
        let err = toml::from_str::<EmailChannel>(&format!("{MINIMAL}\nsecurity = \"ssl\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ssl") && err.contains("starttls"), "{err}");
        let err = toml::from_str::<EmailChannel>(&format!("{MINIMAL}\nformat = \"pager\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pager"), "{err}");
    }

    #[test]
    fn debug_and_serialized_settings_never_show_an_inline_password() {
        let email = channel(&format!(
            "{MINIMAL}\nusername = \"alerts\"\npassword = \"hunter2\""
        ));
        assert!(!format!("{email:?}").contains("hunter2"));
        assert!(!format!("{email:#?}").contains("hunter2"));
        let json = serde_json::to_string(&email).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(json.contains("\"username\":\"alerts\""), "{json}");
    }

    #[test]
    fn settings_survive_a_round_trip_through_toml() {
        let email = channel(&format!(
            "{MINIMAL}\nsecurity = \"plain\"\nport = 25\nformat = \"sms\"\ntimeout = \"5s\""
        ));
        let text = toml::to_string(&email).unwrap();
        assert_eq!(channel(&text), email, "{text}");
    }

    #[test]
    fn a_port_written_into_the_server_is_refused_with_both_settings_to_write() {
        let problems = channel(
            "server = \"127.0.0.1:25255\"\nport = 25\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]",
        )
        .problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let text = problems[0].to_string();
        assert!(
            text.contains("`127.0.0.1:25255` has the port in it"),
            "{text}"
        );
        assert!(
            text.contains("`server = \"127.0.0.1\"` and `port = 25255`"),
            "{text}"
        );
        let ipv6 = channel("server = \"::1\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]");
        assert!(ipv6.problems().is_empty(), "{:?}", ipv6.problems());
    }

    #[test]
    fn problems_name_the_field_at_fault() {
        let email = EmailChannel {
            server: " ".into(),
            port: Some(0),
            security: Some(EmailSecurity::StartTls),
            username: Some("alerts".into()),
            password: None,
            from: "not an address".into(),
            to: vec![],
            format: EmailFormat::Full,
            timeout: Duration::default(),
            ca_file: None,
        };
        let problems = email.problems();
        let keys: Vec<&str> = problems.iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            ["server", "port", "from", "to", "password", "timeout"],
            "{problems:#?}"
        );
        let from = &problems[2];
        assert!(
            from.message.contains("\"not an address\""),
            "{}",
            from.message
        );
        assert!(from.to_string().starts_with("`from`: "), "{from}");

        let mut email = channel(MINIMAL);
        email.to = vec!["admin@example.com".into(), "admin at example".into()];
        email.server = "smtp://mail.example.com".into();
        email.password = Some(Secret::parse("x"));
        let problems = email.problems();
        let keys: Vec<&str> = problems.iter().map(|p| p.key).collect();
        assert_eq!(keys, ["server", "to", "username"], "{problems:#?}");
        assert!(problems[1].message.contains("\"admin at example\""));
    }

    fn sample() -> Message {
        Message {
            id: "out-42".into(),
            subject: "shop is DOWN".into(),
            text: "shop is down since 10:02.\nAcknowledge: https://k/a/1".into(),
            html: "<p>shop is <b>down</b> since 10:02.</p>".into(),
            short: "DOWN shop since 10:02".into(),
            data: serde_json::json!({}),
            enclosure: None,
        }
    }

    #[test]
    fn the_full_format_has_both_parts_and_a_stable_message_id() {
        let email = channel(MINIMAL);
        let built = email.compose(&sample()).unwrap();
        let raw = String::from_utf8(built.formatted()).unwrap();
        assert!(raw.contains("Message-ID: <out-42@keepwatch>\r\n"), "{raw}");
        assert!(raw.contains("Subject: shop is DOWN\r\n"), "{raw}");
        assert!(raw.contains("From: alerts@example.com\r\n"), "{raw}");
        assert!(raw.contains("To: admin@example.com\r\n"), "{raw}");
        assert!(raw.contains("Auto-Submitted: auto-generated\r\n"), "{raw}");
        assert!(raw.contains("\r\nDate: "), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
        let envelope = built.envelope();
        assert_eq!(envelope.to().len(), 1);
    }

    #[test]
    fn a_report_goes_to_its_own_readers_with_pictures_beside_the_page_and_files_after() {
        use crate::message::{Attachment, Enclosure};
        let email = channel(MINIMAL);
        let file = |name: &str, content_type: &str| Attachment {
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            data: vec![1, 2, 3, 250],
        };
        let mut report = sample();
        report.html = "<p><img src=\"cid:chart-0\"></p>".into();
        report.enclosure = Some(Enclosure {
            to: vec!["boss@example.com".into(), "cfo@example.com".into()],
            inline: vec![file("chart-0", "image/png")],
            files: vec![file("report.pdf", "application/pdf")],
        });
        let built = email.compose(&report).unwrap();
        assert_eq!(
            built.envelope().to().len(),
            2,
            "the report's readers, not the channel's"
        );
        let raw = String::from_utf8(built.formatted()).unwrap();
        assert!(
            raw.contains("To: boss@example.com, cfo@example.com\r\n"),
            "{raw}"
        );
        let at = |needle: &str| {
            raw.find(needle)
                .unwrap_or_else(|| panic!("no {needle}: {raw}"))
        };
        assert!(at("multipart/mixed") < at("multipart/related"));
        assert!(at("multipart/related") < at("multipart/alternative"));
        assert!(at("text/html") < at("Content-ID: <chart-0>"));
        assert!(at("Content-ID: <chart-0>") < at("filename=\"report.pdf\""));
        assert!(raw.contains("Content-Disposition: inline"), "{raw}");
        assert!(raw.contains("Content-Disposition: attachment"), "{raw}");

        // A message with an enclosure but only other readers looks like an alert.
        report.enclosure = Some(Enclosure {
            to: vec!["boss@example.com".into()],
            ..Enclosure::default()
        });
        let raw = String::from_utf8(email.compose(&report).unwrap().formatted()).unwrap();
        assert!(raw.contains("multipart/alternative") && !raw.contains("multipart/mixed"));

        report.enclosure = Some(Enclosure {
            files: vec![file("report.pdf", "not a type")],
            ..Enclosure::default()
        });
        let err = email.compose(&report).unwrap_err();
        assert!(err.permanent);
        assert!(
            err.reason
                .contains("\"not a type\" is not a content type (file report.pdf)"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn the_sms_format_sends_only_the_short_text() {
        let email = channel(&format!("{MINIMAL}\nformat = \"sms\""));
        let raw = String::from_utf8(email.compose(&sample()).unwrap().formatted()).unwrap();
        assert!(raw.contains("Subject: keepwatch\r\n"), "{raw}");
        assert!(raw.contains("DOWN shop since 10:02"), "{raw}");
        assert!(!raw.contains("multipart"), "{raw}");
        assert!(!raw.contains("Acknowledge"), "{raw}");
    }

    #[test]
    fn a_bad_address_is_a_permanent_error_naming_it() {
        let mut email = channel(MINIMAL);
        email.to.push("bob@@example".into());
        let err = email.compose(&sample()).unwrap_err();
        assert!(err.permanent);
        assert!(err.reason.contains("\"bob@@example\""), "{}", err.reason);
        assert!(err.reason.contains("`to`"), "{}", err.reason);
        assert!(
            err.reason.contains("smtp.example.com:587"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn message_ids_keep_only_what_a_message_id_may_hold() {
        assert_eq!(message_id("7f3a-01"), "<7f3a-01@keepwatch>");
        assert_eq!(message_id("a b<c>@d"), "<a%20b%3Cc%3E%40d@keepwatch>");
        assert_eq!(message_id(""), "<none@keepwatch>");
        assert_ne!(message_id("a b"), message_id("a_b"));
        assert_eq!(message_id("a.b"), "<a%2Eb@keepwatch>");
    }

    #[test]
    fn failures_are_classed_and_name_the_server_and_the_fix() {
        let email = channel(&format!(
            "{MINIMAL}\nusername = \"alerts\"\npassword = \"x\""
        ));
        let io = |kind| Cause::Io(kind, "os error".to_owned());

        let refused = email.explain(Step::Connect, &io(std::io::ErrorKind::ConnectionRefused));
        assert!(!refused.permanent);
        assert!(
            refused
                .reason
                .contains("smtp.example.com:587 refused the connection")
        );

        let slow = email.explain(Step::Connect, &io(std::io::ErrorKind::TimedOut));
        assert!(!slow.permanent);
        assert!(
            slow.reason.contains("did not answer within 30s"),
            "{}",
            slow.reason
        );

        let dns = email.explain(Step::Resolve, &io(std::io::ErrorKind::Other));
        assert!(!dns.permanent);
        assert!(dns.reason.contains("does not resolve") && dns.reason.contains("`server`"));

        let login = email.explain(
            Step::Login,
            &Cause::Reply {
                code: 535,
                text: "5.7.8 Authentication credentials invalid".into(),
            },
        );
        assert!(login.permanent);
        assert!(
            login
                .reason
                .contains("refused the username or password for `alerts`")
                && login.reason.contains("535 5.7.8")
                && login.reason.contains("smtp.example.com:587"),
            "{}",
            login.reason
        );
        let busy_login = email.explain(
            Step::Login,
            &Cause::Reply {
                code: 454,
                text: "4.7.0 try later".into(),
            },
        );
        assert!(!busy_login.permanent);

        let recipient = email.explain(
            Step::Send,
            &Cause::Reply {
                code: 550,
                text: "5.1.1 no such user".into(),
            },
        );
        assert!(recipient.permanent);
        assert!(recipient.reason.contains("`to`"), "{}", recipient.reason);
        let greylisted = email.explain(
            Step::Send,
            &Cause::Reply {
                code: 451,
                text: "4.7.1 greylisted".into(),
            },
        );
        assert!(!greylisted.permanent);
        assert!(greylisted.reason.contains("451 4.7.1 greylisted"));

        let untrusted = email.explain(
            Step::StartTls,
            &Cause::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        );
        assert!(!untrusted.permanent);
        assert!(
            untrusted.reason.contains("`ca_file`"),
            "{}",
            untrusted.reason
        );
        let not_tls = email.explain(
            Step::Connect,
            &Cause::Tls(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType,
            )),
        );
        assert!(not_tls.reason.contains("`security`"), "{}", not_tls.reason);

        let no_starttls = email.explain(Step::StartTls, &Cause::Client("not supported".into()));
        assert!(no_starttls.permanent);
        assert!(no_starttls.reason.contains("security = \"tls\""));
        let no_login = email.explain(Step::Login, &Cause::Client("no mechanism".into()));
        assert!(no_login.permanent);
    }

    #[tokio::test]
    async fn an_unreadable_password_is_permanent() {
        let email = channel(&format!(
            "{MINIMAL}\nusername = \"alerts\"\npassword = \"env:KEEPWATCH_TEST_SURELY_UNSET_SMTP\""
        ));
        let err = email
            .send(&sample(), &(Arc::new(SystemClock) as Arc<dyn Clock>))
            .await
            .unwrap_err();
        assert!(err.permanent);
        assert!(
            err.reason.contains("KEEPWATCH_TEST_SURELY_UNSET_SMTP")
                && err.reason.contains("smtp.example.com:587"),
            "{}",
            err.reason
        );
    }

    #[tokio::test]
    async fn a_ca_file_that_is_not_pem_is_permanent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let mut email = channel(MINIMAL);
        email.ca_file = Some(path.clone());
        let err = email
            .send(&sample(), &(Arc::new(SystemClock) as Arc<dyn Clock>))
            .await
            .unwrap_err();
        assert!(err.permanent);
        assert!(
            err.reason.contains("holds no certificate"),
            "{}",
            err.reason
        );
        email.ca_file = Some(dir.path().join("missing.pem"));
        let err = email
            .send(&sample(), &(Arc::new(SystemClock) as Arc<dyn Clock>))
            .await
            .unwrap_err();
        assert!(
            err.permanent && err.reason.contains("cannot be read"),
            "{}",
            err.reason
        );
    }
}
