//! `type = "mysql"` (MySQL and MariaDB): the server accepts a login with the
//! configured credentials, into the configured database if one is set, and
//! optionally answers a query.
//!
//! mysql_async opens its connection itself, so its phases are `dns` (looked
//! up here, to time it and word its failure like every other check), `login`
//! (TCP connection, handshake and authentication) and `query`.

use mysql_async::{Conn, DriverError, IoError, OptsBuilder};
use serde::{Deserialize, Serialize};

use super::db::{self, Attempt, sql_login_spec};
use super::net::Stage;
use super::wording::quote;
use super::{CheckOutcome, Common};
use crate::vocabulary::FailureKind;

sql_login_spec! {
    /// Settings of a MySQL or MariaDB check.
    pub struct MysqlSpec {
        /// The user to log in as; one with no privileges at all is enough
        /// (`CREATE USER 'keepwatch'@'%' IDENTIFIED BY '...'`).
        user,
        /// The user's password: inline, `env:NAME` or `file:/path`.
        password,
        /// A database to open at login; unset opens none.
        database,
    }
}

fn default_port() -> u16 {
    3306
}

/// What a server sends at most in one packet: the server's own default, so
/// the client need not ask for it at each login.
const MAX_PACKET: usize = 16 << 20;

/// MySQL's and MariaDB's error numbers that matter here.
mod code {
    pub const DB_ACCESS_DENIED: u16 = 1044;
    pub const ACCESS_DENIED: u16 = 1045;
    pub const BAD_DB: u16 = 1049;
    pub const TOO_MANY_CONNECTIONS: u16 = 1040;
    pub const HOST_BLOCKED: u16 = 1129;
    pub const HOST_NOT_ALLOWED: u16 = 1130;
    pub const ACCESS_DENIED_NO_PASSWORD: u16 = 1698;
}

/// Logs in (trying each address of the host) and runs the query within the
/// service's timeout.
pub(crate) async fn run(common: &Common, spec: &MysqlSpec) -> CheckOutcome {
    let mut attempt = Attempt::start(common, &spec.host, spec.port);
    let password = match attempt.password(spec.password.as_ref()) {
        Ok(password) => password,
        Err(outcome) => return outcome,
    };
    let addrs = match attempt.resolve(&spec.host, spec.port).await {
        Ok(addrs) => addrs,
        Err(outcome) => return outcome,
    };

    let mut conn = None;
    let mut refused = None;
    for addr in &addrs {
        let opts = OptsBuilder::default()
            .ip_or_hostname(addr.ip().to_string())
            .tcp_port(spec.port)
            .user(Some(&spec.user))
            .pass(password.clone())
            .db_name(spec.database.clone())
            // Stay on this TCP connection: the default switches to the
            // server's Unix socket when it is local, and asks the server
            // for settings first.
            .prefer_socket(false)
            .max_allowed_packet(Some(MAX_PACKET))
            .wait_timeout(Some(28_800))
            .stmt_cache_size(0);
        match attempt.within(Conn::new(opts)).await {
            None => return attempt.login_timeout(),
            Some(Ok(connected)) => {
                conn = Some(connected);
                break;
            }
            Some(Err(err)) if is_refused(&err) => refused = Some(err),
            Some(Err(err)) => return failure(&attempt, spec, &err, None),
        }
    }
    let Some(mut conn) = conn else {
        return match refused {
            Some(err) => failure(&attempt, spec, &err, None),
            None => attempt.other("the host has no address to connect to"),
        };
    };
    attempt.lap("login");

    let logged_in = match &spec.database {
        Some(database) => format!("logged in as `{}` to `{database}`", spec.user),
        None => format!("logged in as `{}`", spec.user),
    };
    let outcome = match &spec.query {
        None => attempt.up(&logged_in),
        Some(query) => match attempt.within(count_rows(&mut conn, query)).await {
            None => attempt.query_timeout("query", query),
            Some(Err(err)) => failure(&attempt, spec, &err, Some(query)),
            Some(Ok(rows)) => {
                attempt.lap("query");
                attempt.up(&format!(
                    "{logged_in} and ran {} ({})",
                    quote(query),
                    db::rows(rows)
                ))
            }
        },
    };
    // A polite goodbye (COM_QUIT), so the server does not count an aborted
    // connection against this computer.
    let _ = attempt.within(conn.disconnect()).await;
    outcome
}

/// Runs `query` and reads every row of its first result, dropping the rest.
async fn count_rows(conn: &mut Conn, query: &str) -> mysql_async::Result<usize> {
    use mysql_async::prelude::Queryable;

    let mut rows = 0;
    conn.query_iter(query)
        .await?
        .for_each_and_drop(|_| rows += 1)
        .await?;
    Ok(rows)
}

fn is_refused(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Io(IoError::Io(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// What to do about a refused login.
const AUTH_FIX: &str = "check `user` and `password`, and that this user may log in from this computer (the host part of the user)";

/// The outcome for an error from mysql_async; `query` is set when the login
/// had worked and the query failed.
fn failure(
    attempt: &Attempt<'_>,
    spec: &MysqlSpec,
    err: &mysql_async::Error,
    query: Option<&str>,
) -> CheckOutcome {
    let stage = if query.is_some() {
        Stage::Reading
    } else {
        Stage::Waiting
    };
    match err {
        mysql_async::Error::Server(server) => server_error(attempt, spec, server, query),
        // Before the login is done, an I/O error that is not the network's
        // comes from reading packets that are not MySQL's.
        mysql_async::Error::Io(IoError::Io(io))
            if query.is_none() && super::net::io_kind(io).is_none() =>
        {
            attempt.protocol_error("MySQL or MariaDB", io)
        }
        mysql_async::Error::Io(IoError::Io(io)) => attempt.io(io, stage),
        mysql_async::Error::Driver(DriverError::ConnectionClosed) => {
            attempt.network(FailureKind::ConnectionClosed, stage)
        }
        mysql_async::Error::Driver(
            DriverError::UnexpectedPacket { .. }
            | DriverError::PacketOutOfOrder
            | DriverError::PacketTooLarge
            | DriverError::BadCompressedPacketHeader
            | DriverError::CantParseServerVersion { .. },
        ) => attempt.protocol_error("MySQL or MariaDB", err),
        mysql_async::Error::Driver(
            DriverError::UnknownAuthPlugin { .. }
            | DriverError::CleartextPluginDisabled
            | DriverError::MysqlOldPasswordDisabled,
        ) => attempt.auth_failed(
            &spec.user,
            &err.to_string(),
            "keepwatch cannot log in this way: give the user a password with mysql_native_password or caching_sha2_password",
        ),
        _ => attempt.other(err),
    }
}

/// The outcome for an error the server reported.
fn server_error(
    attempt: &Attempt<'_>,
    spec: &MysqlSpec,
    server: &mysql_async::ServerError,
    query: Option<&str>,
) -> CheckOutcome {
    let message = server.message.as_str();
    let database = spec.database.as_deref().unwrap_or_default();
    match server.code {
        code::ACCESS_DENIED | code::ACCESS_DENIED_NO_PASSWORD | code::HOST_NOT_ALLOWED => {
            attempt.auth_failed(&spec.user, message, AUTH_FIX)
        }
        code::DB_ACCESS_DENIED => attempt.auth_failed(
            &spec.user,
            message,
            &format!(
                "the user may not open `{database}` (or it does not exist): grant the user access to it, or fix `database`"
            ),
        ),
        code::BAD_DB => {
            attempt.database_missing(database, message, "create it or fix `database`")
        }
        code::TOO_MANY_CONNECTIONS => attempt.server_trouble(
            message,
            "every connection is taken, so the applications cannot connect either: find what holds them, or raise `max_connections`",
        ),
        code::HOST_BLOCKED => attempt.server_trouble(
            message,
            "the server blocks this computer after too many broken connections: run `FLUSH HOSTS` on it, and find the cause",
        ),
        _ => match query {
            Some(query) => attempt.query_failed("query", query, message),
            None => attempt.other(format!("{message} (error {})", server.code)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{assert_explains, named};

    #[test]
    fn server_errors_have_their_own_words() {
        let common = named("Shop DB");
        let attempt = Attempt::start(&common, "db", 3306);
        let spec: MysqlSpec =
            toml::from_str("host = \"db\"\nuser = \"shop\"\ndatabase = \"shop\"").unwrap();
        let cases = [
            (
                code::ACCESS_DENIED,
                None,
                FailureKind::AuthFailed,
                "check `user` and `password`",
            ),
            (
                code::HOST_NOT_ALLOWED,
                None,
                FailureKind::AuthFailed,
                "log in from this computer",
            ),
            (
                code::DB_ACCESS_DENIED,
                None,
                FailureKind::AuthFailed,
                "may not open `shop`",
            ),
            (
                code::BAD_DB,
                None,
                FailureKind::DatabaseMissing,
                "the database `shop` does not exist on db:3306",
            ),
            (
                code::TOO_MANY_CONNECTIONS,
                None,
                FailureKind::Other,
                "raise `max_connections`",
            ),
            (
                code::HOST_BLOCKED,
                None,
                FailureKind::Other,
                "`FLUSH HOSTS`",
            ),
            (
                1064,
                Some("SELEC 1"),
                FailureKind::QueryFailed,
                "could not run the query \"SELEC 1\"",
            ),
            (1064, None, FailureKind::Other, "(error 1064)"),
        ];
        for (code, query, kind, expected) in cases {
            let server = mysql_async::ServerError {
                code,
                message: "message".into(),
                state: "HY000".into(),
            };
            let outcome = server_error(&attempt, &spec, &server, query);
            assert_explains(&outcome, kind, "Shop DB ", expected);
        }
    }
}
