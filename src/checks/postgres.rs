//! `type = "postgres"`: a PostgreSQL server accepts a login with the
//! configured credentials into the configured database, and optionally
//! answers a query.
//!
//! keepwatch opens the TCP connection itself and hands it to tokio-postgres,
//! so connecting, TLS and logging in are timed (and fail) separately. TLS is
//! rustls with keepwatch's own verifier, as for HTTPS: a certificate is
//! always verified, and its problems are worded the same way.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{ChannelBinding, TlsConnect};

use super::certificate;
use super::db::{self, Attempt, sql_login_spec};
use super::net::Stage;
use super::wording::quote;
use super::{CheckOutcome, Checker, Common};
use crate::tls::{self, SeenCell};
use crate::vocabulary::FailureKind;

sql_login_spec! {
    /// Settings of a PostgreSQL check.
    pub struct PostgresSpec {
        /// The role to log in as; a role that may only log in is enough.
        user,
        /// The role's password: inline, `env:NAME` or `file:/path`. Unset when
        /// the server trusts the role without one.
        password,
        /// The database to open; unset means the one named like `user`, as
        /// `psql` does.
        database,
        /// Whether to talk TLS: `off` (the default), `prefer` (when the server
        /// offers it) or `require`. When TLS is used, the certificate must be
        /// valid for `host` and signed by an authority this computer trusts or
        /// one in `ca_file`.
        #[serde(default)]
        pub tls: TlsMode,
        /// A PEM file of extra authorities to trust (a company's own CA, or the
        /// server's self-signed certificate).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ca_file: Option<PathBuf>,
    }
}

/// The `tls` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain TCP.
    #[default]
    Off,
    /// TLS when the server offers it, plain TCP when it does not.
    Prefer,
    /// TLS, or fail.
    Require,
}

fn default_port() -> u16 {
    5432
}

impl PostgresSpec {
    /// A login as `user` to `host` on the default port, nothing else set.
    pub fn new(host: impl Into<String>, user: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: default_port(),
            user: user.into(),
            password: None,
            database: None,
            query: None,
            tls: TlsMode::Off,
            ca_file: None,
        }
    }

    fn database(&self) -> &str {
        self.database.as_deref().unwrap_or(&self.user)
    }
}

/// Connects, logs in and runs the query within the service's timeout.
pub(crate) async fn run(common: &Common, spec: &PostgresSpec, checker: &Checker) -> CheckOutcome {
    let mut attempt = Attempt::start(common, &spec.host, spec.port);
    let password = match attempt.password(spec.password.as_ref()) {
        Ok(password) => password,
        Err(outcome) => return outcome,
    };
    let seen = SeenCell::default();
    let tls = match Rustls::new(spec, checker, &seen) {
        Ok(tls) => tls,
        Err(problem) => return attempt.config_error(problem),
    };
    let handshake = tls.took.clone();
    let (stream, heard) = match attempt.connect(&spec.host, spec.port).await {
        Ok(stream) => db::Listening::new(stream),
        Err(outcome) => return outcome,
    };

    let mut config = tokio_postgres::Config::new();
    config
        .user(&spec.user)
        .dbname(spec.database())
        .application_name("keepwatch")
        .ssl_mode(match spec.tls {
            TlsMode::Off => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require => SslMode::Require,
        });
    if let Some(password) = &password {
        config.password(password);
    }
    let (client, connection) = match attempt.within(config.connect_raw(stream, tls)).await {
        None => return attempt.login_timeout_heard("PostgreSQL", &heard),
        Some(Err(err)) => return failure(&attempt, spec, &err, None, &seen),
        Some(Ok(pair)) => pair,
    };
    let handshake = *handshake.lock().unwrap_or_else(PoisonError::into_inner);
    match handshake {
        Some(took) => attempt.lap_parts(&[("tls", took)], "login"),
        None => attempt.lap("login"),
    }
    let mut connection = pin!(connection);
    let mut closed = false;

    let over = if handshake.is_some() { " over TLS" } else { "" };
    let logged_in = format!(
        "logged in as `{}` to `{}`{over}",
        spec.user,
        spec.database()
    );
    let outcome = match &spec.query {
        None => attempt.up(&logged_in),
        Some(query) => {
            // The connection does the talking while the client waits for it.
            let asked = attempt
                .within(async {
                    let mut answer = pin!(client.simple_query(query));
                    tokio::select! {
                        answer = &mut answer => answer,
                        ended = &mut connection => {
                            closed = true;
                            match ended {
                                Err(err) => Err(err),
                                Ok(()) => answer.await,
                            }
                        }
                    }
                })
                .await;
            match asked {
                None => attempt.query_timeout("query", query),
                Some(Err(err)) => failure(&attempt, spec, &err, Some(query), &seen),
                Some(Ok(messages)) => {
                    attempt.lap("query");
                    let rows = messages
                        .iter()
                        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
                        .count();
                    attempt.up(&format!(
                        "{logged_in} and ran {} ({})",
                        quote(query),
                        db::rows(rows)
                    ))
                }
            }
        }
    };
    // Dropping the client makes the connection say goodbye (Terminate) and
    // end, so the server does not log an aborted session.
    drop(client);
    if !closed {
        let _ = attempt.within(connection).await;
    }
    outcome
}

/// tokio-postgres' TLS hook: rustls with keepwatch's verifier, timing the
/// handshake. Not used (and not built) when `tls = "off"`.
struct Rustls {
    config: Option<Arc<ClientConfig>>,
    server: ServerName<'static>,
    took: Arc<Mutex<Option<Duration>>>,
}

impl Rustls {
    fn new(spec: &PostgresSpec, checker: &Checker, seen: &SeenCell) -> Result<Self, String> {
        let server = ServerName::try_from(spec.host.trim_matches(['[', ']']).to_owned())
            .map_err(|_| format!("the host {} is not a valid name for TLS", quote(&spec.host)))?;
        let config = match spec.tls {
            TlsMode::Off => None,
            TlsMode::Prefer | TlsMode::Require => {
                let roots = match &spec.ca_file {
                    None => tls::system_roots(),
                    Some(path) => {
                        Arc::new(tls::with_ca_file(&tls::system_roots(), path).map_err(
                            |problem| format!("the CA file {} {problem}", path.display()),
                        )?)
                    }
                };
                Some(Arc::new(tls::client_config(
                    roots,
                    checker.clock_arc(),
                    seen.clone(),
                )?))
            }
        };
        Ok(Self {
            config,
            server,
            took: Arc::default(),
        })
    }
}

impl<S> TlsConnect<S> for Rustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let config = self
                .config
                .ok_or_else(|| io::Error::other("TLS is off for this check"))?;
            let started = Instant::now();
            let connected = tokio_rustls::TlsConnector::from(config)
                .connect(self.server, stream)
                .await;
            *self.took.lock().unwrap_or_else(PoisonError::into_inner) = Some(started.elapsed());
            connected.map(TlsStream)
        })
    }
}

/// A rustls stream as tokio-postgres wants it. Without channel binding:
/// SCRAM logins still work, only the `-PLUS` variant is not offered.
struct TlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// What to do about a refused login.
const AUTH_FIX: &str = "check `user` and `password`, and that the server lets this user connect from this computer (pg_hba.conf)";

/// The outcome for an error from tokio-postgres; `query` is set when the
/// login had worked and the query failed.
fn failure(
    attempt: &Attempt<'_>,
    spec: &PostgresSpec,
    err: &tokio_postgres::Error,
    query: Option<&str>,
    seen: &SeenCell,
) -> CheckOutcome {
    if let Some(server) = err.as_db_error() {
        return server_error(attempt, spec, server.code(), server.message(), query);
    }
    {
        let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rejected) = &seen.error {
            return certificate::failure(attempt.name, &spec.host, rejected, seen.cert.as_ref());
        }
    }
    let stage = if query.is_some() {
        Stage::Reading
    } else {
        Stage::Waiting
    };
    if let Some(io_err) = err.source().and_then(db::io_cause) {
        // tokio-rustls hands TLS failures over inside an io::Error.
        if let Some(tls_err) = io_err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            return certificate::failure(attempt.name, &spec.host, tls_err, None);
        }
        return attempt.io(io_err, stage);
    }
    if err.is_closed() {
        return attempt.network(FailureKind::ConnectionClosed, stage);
    }
    let detail = match err.source() {
        Some(source) => format!("{err}: {source}"),
        None => err.to_string(),
    };
    if detail.contains("password missing") {
        return attempt.auth_failed(
            &spec.user,
            "the server asks for a password",
            "set `password` for this user",
        );
    }
    if detail.starts_with("authentication error") {
        return attempt.auth_failed(&spec.user, &detail, AUTH_FIX);
    }
    if detail.contains("server does not support TLS") {
        return CheckOutcome::failed(
            FailureKind::TlsError,
            format!(
                "{} on {} does not offer TLS, but the check has `tls = \"require\"`: turn on `ssl` in the server's postgresql.conf, or set `tls` to \"prefer\" or \"off\".",
                attempt.name, attempt.target
            ),
        );
    }
    if detail.starts_with("unexpected message") || detail.starts_with("error parsing") {
        return attempt.protocol_error("PostgreSQL", detail);
    }
    attempt.other(detail)
}

/// The outcome for an error the server reported (SQLSTATE `code`).
fn server_error(
    attempt: &Attempt<'_>,
    spec: &PostgresSpec,
    code: &SqlState,
    message: &str,
    query: Option<&str>,
) -> CheckOutcome {
    if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        attempt.auth_failed(&spec.user, message, AUTH_FIX)
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        attempt.database_missing(spec.database(), message, "create it or fix `database`")
    } else if *code == SqlState::TOO_MANY_CONNECTIONS {
        attempt.server_trouble(
            message,
            "every connection is taken, so the applications cannot connect either: find what holds them, or raise `max_connections`",
        )
    } else if [
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
    ]
    .contains(code)
    {
        attempt.server_trouble(
            message,
            "the server is starting, stopping or recovering; if this lasts, read its log",
        )
    } else if let Some(query) = query {
        attempt.query_failed("query", query, message)
    } else {
        attempt.other(format!("{message} (SQLSTATE {})", code.code()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::named;

    /// What a server that checks passwords answers to a wrong one; the local
    /// test server trusts every login, so this one is replayed here.
    #[test]
    fn a_wrong_password_is_a_refused_login() {
        let common = named("Orders DB");
        let attempt = Attempt::start(&common, "db", 5432);
        let spec = PostgresSpec::new("db", "shop");
        let outcome = server_error(
            &attempt,
            &spec,
            &SqlState::INVALID_PASSWORD,
            "password authentication failed for user \"shop\"",
            None,
        );
        assert_eq!(outcome.kind, Some(FailureKind::AuthFailed));
        assert_eq!(
            outcome.explanation,
            "Orders DB refused the login of user `shop` on db:5432 (server: password authentication failed for user \"shop\"): check `user` and `password`, and that the server lets this user connect from this computer (pg_hba.conf)."
        );
    }

    #[test]
    fn server_states_have_their_own_words() {
        let common = named("Orders DB");
        let attempt = Attempt::start(&common, "db", 5432);
        let spec = PostgresSpec::new("db", "shop");
        let cases = [
            (
                SqlState::TOO_MANY_CONNECTIONS,
                None,
                FailureKind::Other,
                "raise `max_connections`",
            ),
            (
                SqlState::CANNOT_CONNECT_NOW,
                None,
                FailureKind::Other,
                "starting, stopping or recovering",
            ),
            (
                SqlState::SYNTAX_ERROR,
                Some("SELEC 1"),
                FailureKind::QueryFailed,
                "could not run the query \"SELEC 1\"",
            ),
            (
                SqlState::SYNTAX_ERROR,
                None,
                FailureKind::Other,
                "(SQLSTATE 42601)",
            ),
        ];
        for (code, query, kind, expected) in cases {
            let outcome = server_error(&attempt, &spec, &code, "message", query);
            assert_eq!(outcome.kind, Some(kind));
            assert!(
                outcome.explanation.contains(expected),
                "{}",
                outcome.explanation
            );
        }
    }
}
