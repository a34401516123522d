//! What the database checks ([`super::postgres`], [`super::mysql`],
//! [`super::redis`]) share: one attempt at connecting, logging in and asking,
//! timed phase by phase within the service's timeout, and how each way of
//! failing reads.
//!
//! The checks differ in their protocol client and in how that client reports
//! a problem; each turns its client's errors into one of the calls here, so a
//! refused login or a missing database reads the same for every server.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::de::{self, Deserializer, Visitor};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

use super::net::{self, Stage};
use super::wording::quote;
use super::{CheckOutcome, Common};
use crate::plain::short_duration;
use crate::secret::Secret;
use crate::vocabulary::FailureKind;

/// One run of a database check: where it is, what it took so far.
pub(crate) struct Attempt<'a> {
    /// The service's name, which starts every explanation.
    pub name: &'a str,
    /// `host:port`, as explanations show it.
    pub target: String,
    limit: Duration,
    started: Instant,
    deadline: tokio::time::Instant,
    phases: Vec<(&'static str, Duration)>,
    /// When the last recorded phase ended, from `started`.
    mark: Duration,
}

impl<'a> Attempt<'a> {
    /// Starts the clock for a check of `host:port` within `common.timeout`.
    pub fn start(common: &'a Common, host: &str, port: u16) -> Self {
        let started = Instant::now();
        let limit = common.timeout.std();
        Self {
            name: &common.name,
            target: net::target(host, port),
            limit,
            started,
            // On the clock `timeout_at` reads (they differ on a paused test clock).
            deadline: tokio::time::Instant::now() + limit,
            phases: Vec::new(),
            mark: Duration::ZERO,
        }
    }

    /// Ends the phase called `phase` now.
    pub fn lap(&mut self, phase: &'static str) {
        let now = self.started.elapsed();
        self.phases.push((phase, now.saturating_sub(self.mark)));
        self.mark = now;
    }

    /// Ends a stretch made of phases timed elsewhere (`parts`, in order)
    /// followed by `rest`, which gets the remainder.
    pub fn lap_parts(&mut self, parts: &[(&'static str, Duration)], rest: &'static str) {
        let now = self.started.elapsed();
        let mut left = now.saturating_sub(self.mark);
        for (phase, took) in parts {
            let took = (*took).min(left);
            self.phases.push((phase, took));
            left -= took;
        }
        self.phases.push((rest, left));
        self.mark = now;
    }

    /// `future`'s output, or `None` if the service's timeout ran out first.
    pub async fn within<F: Future>(&self, future: F) -> Option<F::Output> {
        timeout_at(self.deadline, future).await.ok()
    }

    /// The addresses of `host` (the `dns` phase).
    pub async fn resolve(
        &mut self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, CheckOutcome> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match self.within(tokio::net::lookup_host((bare, port))).await
        {
            None => return Err(self.network(FailureKind::Timeout, Stage::Resolving)),
            Some(Err(err)) => return Err(net::dns_failure(self.name, host, &err.to_string())),
            Some(Ok(addrs)) => addrs.collect(),
        };
        if addrs.is_empty() {
            return Err(net::dns_failure(
                self.name,
                host,
                "the name has no addresses",
            ));
        }
        self.lap("dns");
        Ok(addrs)
    }

    /// A TCP connection to the first address of `host` that accepts one
    /// (the `dns` and `connect` phases).
    pub async fn connect(&mut self, host: &str, port: u16) -> Result<TcpStream, CheckOutcome> {
        let mut last_error = None;
        for addr in self.resolve(host, port).await? {
            match self.within(TcpStream::connect(addr)).await {
                None => return Err(self.network(FailureKind::Timeout, Stage::Connecting)),
                Some(Ok(stream)) => {
                    self.lap("connect");
                    return Ok(stream);
                }
                Some(Err(err)) => last_error = Some(err),
            }
        }
        let err = last_error.unwrap_or_else(|| io::ErrorKind::NotFound.into());
        Err(self.io(&err, Stage::Connecting))
    }

    /// The password's value, read now; `None` when none is configured.
    pub fn password(&self, secret: Option<&Secret>) -> Result<Option<String>, CheckOutcome> {
        secret.map(Secret::reveal).transpose().map_err(|err| {
            CheckOutcome::failed(
                FailureKind::ConfigError,
                format!(
                    "{} cannot be checked: its `password` cannot be read ({err}); fix it in the config file or the environment.",
                    self.name
                ),
            )
        })
    }

    /// The check's own settings cannot be used: `problem` says why.
    pub fn config_error(&self, problem: impl fmt::Display) -> CheckOutcome {
        CheckOutcome::failed(
            FailureKind::ConfigError,
            format!(
                "{} cannot be checked: {problem}; fix the service's settings in the config file.",
                self.name
            ),
        )
    }

    /// A failure at the network level (refused, timeout, closed) at `stage`.
    pub fn network(&self, kind: FailureKind, stage: Stage) -> CheckOutcome {
        net::failure(kind, self.name, &self.target, stage, self.limit)
    }

    /// The timeout ran out while logging in over a stream that `heard`
    /// watched: a peer that sent something other than `protocol` is the
    /// wrong program, one that sent nothing is stuck.
    pub fn login_timeout_heard(&self, protocol: &str, heard: &Heard) -> CheckOutcome {
        match heard.first_bytes() {
            Some(text) => self.protocol_error(protocol, format_args!("it sent {}", quote(&text))),
            None => self.network(FailureKind::Timeout, Stage::Waiting),
        }
    }

    /// An I/O error at `stage`: one of the network failures when it is one.
    pub fn io(&self, err: &io::Error, stage: Stage) -> CheckOutcome {
        match net::io_kind(err) {
            Some(kind) => self.network(kind, stage),
            None => self.other(err),
        }
    }

    /// The server refused the login of `user`. `detail` is the server's
    /// reason, `fix` what to do about it.
    pub fn auth_failed(&self, user: &str, detail: &str, fix: &str) -> CheckOutcome {
        self.answered(
            FailureKind::AuthFailed,
            format!(
                "{} refused the login of user `{user}` on {} (server: {}): {fix}.",
                self.name,
                self.target,
                said(detail)
            ),
        )
    }

    /// The server is there, but the configured database is not.
    pub fn database_missing(&self, database: &str, detail: &str, fix: &str) -> CheckOutcome {
        self.answered(
            FailureKind::DatabaseMissing,
            format!(
                "{} is reachable, but the database `{database}` does not exist on {} (server: {}): {fix}.",
                self.name,
                self.target,
                said(detail)
            ),
        )
    }

    /// The login worked, the statement in the setting `key` (`query`,
    /// `command`) did not.
    pub fn query_failed(&self, key: &str, query: &str, detail: &str) -> CheckOutcome {
        self.answered(
            FailureKind::QueryFailed,
            format!(
                "{} on {} could not run the {key} {} (server: {}): fix `{key}`, or give it what it needs on the server (a table, a key, a permission).",
                self.name,
                self.target,
                quote(query),
                said(detail),
            ),
        )
    }

    /// The timeout ran out in a client that connects by itself, so whether
    /// it was still connecting or already logging in is not known.
    pub fn login_timeout(&self) -> CheckOutcome {
        CheckOutcome::failed(
            FailureKind::Timeout,
            format!(
                "{} did not finish connecting and logging in on {} within {} (timeout): the host may be down, a firewall may be dropping the traffic, or the server is overloaded.",
                self.name,
                self.target,
                short_duration(self.limit)
            ),
        )
        .with_phases(self.phases.clone())
    }

    /// The login worked, but the statement in `key` did not finish in time.
    pub fn query_timeout(&self, key: &str, query: &str) -> CheckOutcome {
        CheckOutcome::failed(
            FailureKind::Timeout,
            format!(
                "{} on {} did not finish the {key} {} within {} (timeout): it may be slow, or waiting for a lock.",
                self.name,
                self.target,
                quote(query),
                short_duration(self.limit)
            ),
        )
        .with_phases(self.phases.clone())
    }

    /// The peer does not speak `protocol`.
    pub fn protocol_error(&self, protocol: &str, detail: impl fmt::Display) -> CheckOutcome {
        self.answered(
            FailureKind::ProtocolError,
            format!(
                "{} on {} does not answer like a {protocol} server ({}): check `port`; another program may be listening there.",
                self.name,
                self.target,
                said(&detail.to_string())
            ),
        )
    }

    /// The server answered with a problem of its own (too many connections,
    /// starting up); `advice` says what it means.
    pub fn server_trouble(&self, detail: &str, advice: &str) -> CheckOutcome {
        self.answered(
            FailureKind::Other,
            format!(
                "{} on {} answered with an error (server: {}): {advice}.",
                self.name,
                self.target,
                said(detail)
            ),
        )
    }

    /// Anything the other calls do not cover, with the client's own words.
    pub fn other(&self, detail: impl fmt::Display) -> CheckOutcome {
        CheckOutcome::failed(
            FailureKind::Other,
            format!(
                "{} could not be checked on {}: {}.",
                self.name,
                self.target,
                said(&detail.to_string())
            ),
        )
    }

    /// Everything worked: `done` says what (`"logged in as `app`"`).
    pub fn up(&self, done: &str) -> CheckOutcome {
        let took = self.started.elapsed();
        CheckOutcome::up(format!(
            "{} is up: {done} on {} in {}.",
            self.name,
            self.target,
            short_duration(took)
        ))
        .with_response_time(took)
        .with_phases(self.phases.clone())
    }

    /// A failure the server told about: it answered, so the time it took
    /// and the phases that completed are known.
    fn answered(&self, kind: FailureKind, explanation: String) -> CheckOutcome {
        CheckOutcome::failed(kind, explanation)
            .with_response_time(self.started.elapsed())
            .with_phases(self.phases.clone())
    }
}

/// What a peer sent first, kept by a [`Listening`] stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Heard(Arc<Mutex<Vec<u8>>>);

impl Heard {
    /// How much of the start of the conversation is kept.
    const KEEP: usize = 64;

    /// The first bytes the peer sent, as text; `None` if it sent nothing.
    pub fn first_bytes(&self) -> Option<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A stream that keeps the first bytes its peer sends in a [`Heard`]. A
/// client waiting for the rest of a message whose length field is really
/// some other protocol's text only times out; what was heard tells that
/// peer from a silent one.
pub(crate) struct Listening<S> {
    inner: S,
    heard: Heard,
}

impl<S> Listening<S> {
    /// `inner`, and the record of what its peer sends first.
    pub fn new(inner: S) -> (Self, Heard) {
        let heard = Heard::default();
        (
            Self {
                inner,
                heard: heard.clone(),
            },
            heard,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Listening<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let mut kept = self.heard.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = Heard::KEEP.saturating_sub(kept.len());
        let new = &buf.filled()[before..];
        kept.extend_from_slice(&new[..new.len().min(room)]);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Listening<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `1 row`, `3 rows`.
pub(crate) fn rows(count: usize) -> String {
    if count == 1 {
        "1 row".to_owned()
    } else {
        format!("{count} rows")
    }
}

/// The first I/O error in the chain of `err` and its sources: how a client
/// library reports a broken or refused connection.
pub(crate) fn io_cause<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    let mut cause = Some(err);
    while let Some(current) = cause {
        if let Some(io_err) = current.downcast_ref::<io::Error>() {
            return Some(io_err);
        }
        cause = current.source();
    }
    None
}

/// A server's own message, on one line and not too long, to quote in a sentence.
fn said(detail: &str) -> String {
    const LIMIT: usize = 160;
    let line = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > LIMIT {
        let cut: String = line.chars().take(LIMIT).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// Declares the settings struct of an SQL check: the login fields every SQL
/// server has (`host`, `port`, `user`, `password`, `database`, `query`),
/// written once here so PostgreSQL and MySQL are configured alike, then the
/// check's own fields. `user`, `password` and `database` take the check's
/// doc comment (what they mean differs: a role, a default database), and the
/// module has a `default_port()`.
///
/// A macro rather than a shared struct: the config file is flat, and serde
/// cannot deny unknown keys through `#[serde(flatten)]` (see `spec.rs`).
macro_rules! sql_login_spec {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(#[doc = $user:literal])+
            user,
            $(#[doc = $password:literal])+
            password,
            $(#[doc = $database:literal])+
            database,
            $($(#[$field_meta:meta])* pub $field:ident: $type:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Host name or IP address.
            pub host: String,
            /// Port the server listens on.
            #[serde(default = "default_port")]
            pub port: u16,
            $(#[doc = $user])+
            pub user: String,
            $(#[doc = $password])+
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub password: Option<$crate::secret::Secret>,
            $(#[doc = $database])+
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub database: Option<String>,
            /// A statement to run after the login (`true` for `SELECT 1`); unset,
            /// the login alone is the check.
            #[serde(
                default,
                deserialize_with = "crate::checks::db::sql_query::deserialize",
                skip_serializing_if = "Option::is_none"
            )]
            pub query: Option<String>,
            $($(#[$field_meta])* pub $field: $type,)*
        }
    };
}
pub(crate) use sql_login_spec;

/// The `query` setting of the SQL checks: a statement, `true` for
/// `SELECT 1`, or `false` (the default) to stop after the login.
pub(crate) mod sql_query {
    use super::*;

    /// What `query = true` runs: the cheapest statement that needs a working backend.
    pub const DEFAULT: &str = "SELECT 1";

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        struct QueryVisitor;

        impl Visitor<'_> for QueryVisitor {
            type Value = Option<String>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an SQL statement such as \"SELECT 1\", or true for SELECT 1")
            }

            fn visit_bool<E: de::Error>(self, on: bool) -> Result<Self::Value, E> {
                Ok(on.then(|| DEFAULT.to_owned()))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                if text.trim().is_empty() {
                    return Err(E::custom(
                        "give a statement such as \"SELECT 1\", or leave `query` out",
                    ));
                }
                Ok(Some(text.to_owned()))
            }
        }

        deserializer.deserialize_any(QueryVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{assert_explains, named};

    #[test]
    fn each_database_failure_names_the_service_target_and_cause() {
        let common = named("Orders DB");
        let attempt = Attempt::start(&common, "db", 5432);
        let cases = [
            (
                attempt.auth_failed("app", "password authentication failed", "check `password`"),
                FailureKind::AuthFailed,
                "refused the login of user `app` on db:5432 (server: password authentication failed): check `password`.",
            ),
            (
                attempt.database_missing(
                    "shop",
                    "database \"shop\" does not exist",
                    "create it or fix `database`",
                ),
                FailureKind::DatabaseMissing,
                "the database `shop` does not exist on db:5432 (server: database \"shop\" does not exist): create it or fix `database`.",
            ),
            (
                attempt.query_failed("query", "SELEC 1", "syntax error at or near \"SELEC\""),
                FailureKind::QueryFailed,
                "on db:5432 could not run the query \"SELEC 1\" (server: syntax error at or near \"SELEC\"): fix `query`",
            ),
            (
                attempt.protocol_error("PostgreSQL", "unexpected message"),
                FailureKind::ProtocolError,
                "does not answer like a PostgreSQL server (unexpected message)",
            ),
            (
                attempt.server_trouble("too many clients", "the server has no free connection"),
                FailureKind::Other,
                "answered with an error (server: too many clients): the server has no free connection.",
            ),
            (
                attempt.other("something odd"),
                FailureKind::Other,
                "could not be checked on db:5432: something odd.",
            ),
        ];
        for (outcome, kind, expected) in cases {
            assert_explains(&outcome, kind, "Orders DB ", expected);
        }
    }

    #[test]
    fn a_missing_password_secret_is_a_config_error() {
        let common = named("Orders DB");
        let attempt = Attempt::start(&common, "db", 5432);
        assert_eq!(attempt.password(None).unwrap(), None);
        let inline = Secret::parse("s3cret");
        assert_eq!(
            attempt.password(Some(&inline)).unwrap().as_deref(),
            Some("s3cret")
        );
        let outcome = attempt
            .password(Some(&Secret::parse("env:KEEPWATCH_TEST_SURELY_UNSET")))
            .unwrap_err();
        assert_eq!(outcome.kind, Some(FailureKind::ConfigError));
        assert!(
            outcome.explanation.starts_with(
                "Orders DB cannot be checked: its `password` cannot be read (the environment variable KEEPWATCH_TEST_SURELY_UNSET is not set)"
            ),
            "{}",
            outcome.explanation
        );
    }

    #[test]
    fn phases_follow_each_other() {
        let common = named("Orders DB");
        let mut attempt = Attempt::start(&common, "::1", 6379);
        attempt.lap("dns");
        std::thread::sleep(Duration::from_millis(5));
        attempt.lap("connect");
        let outcome = attempt.up("answered PING");
        let names: Vec<_> = outcome.phases.iter().map(|p| p.0).collect();
        assert_eq!(names, ["dns", "connect"]);
        assert!(outcome.phases[1].1 >= Duration::from_millis(5));
        assert!(
            outcome
                .explanation
                .starts_with("Orders DB is up: answered PING on [::1]:6379 in "),
            "{}",
            outcome.explanation
        );
    }

    #[test]
    fn a_stretch_timed_elsewhere_is_split_into_its_parts_and_the_rest() {
        let common = named("Orders DB");
        let mut attempt = Attempt::start(&common, "db", 5432);
        attempt.lap("connect");
        std::thread::sleep(Duration::from_millis(20));
        attempt.lap_parts(&[("tls", Duration::from_millis(5))], "login");
        let phases = attempt.up("fine").phases;
        assert_eq!(phases[1], ("tls", Duration::from_millis(5)));
        assert_eq!(phases[2].0, "login");
        assert!(phases[2].1 >= Duration::from_millis(14), "{phases:?}");

        // A part cannot take longer than the stretch it is in.
        attempt.lap_parts(&[("tls", Duration::from_secs(60))], "login");
        let phases = attempt.up("fine").phases;
        assert!(phases[3].1 < Duration::from_secs(1), "{phases:?}");
        assert_eq!(phases[4].0, "login");
    }

    #[derive(Debug, serde::Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "sql_query::deserialize")]
        query: Option<String>,
    }

    #[test]
    fn a_query_is_a_statement_or_true_for_select_1() {
        let parse = |text: &str| toml::from_str::<Probe>(text).map(|p| p.query);
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("query = false").unwrap(), None);
        assert_eq!(parse("query = true").unwrap().as_deref(), Some("SELECT 1"));
        assert_eq!(
            parse("query = \"SELECT count(*) FROM orders\"")
                .unwrap()
                .as_deref(),
            Some("SELECT count(*) FROM orders")
        );
        let err = parse("query = \" \"").unwrap_err();
        assert!(err.message().contains("leave `query` out"), "{err}");
        let err = parse("query = 3").unwrap_err();
        assert!(err.message().contains("an SQL statement"), "{err}");
    }
}
