//! PostgreSQL, MySQL/MariaDB and Redis checks against the real local servers
//! (shared/services.md), plus peers started here that are not databases.
//! Each failure kind is produced for real where the servers allow it, and
//! its explanation must name the service and the cause. The stories
//! PostgreSQL and MySQL tell alike (a login, a refused one, a missing
//! database, a bad or slow query, the wrong program on the port) are one
//! suite, `Sql`, run against both; TLS and the password peers are their own.
//!
//! The servers are found through `KEEPWATCH_TEST_POSTGRES`,
//! `KEEPWATCH_TEST_MYSQL` and `KEEPWATCH_TEST_REDIS` (`host:port`, defaults
//! on 127.0.0.1). A server that is not there skips its tests, loudly; with
//! `KEEPWATCH_REQUIRE_SERVICES=1` (as in CI) it fails them.

use std::net::{SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keepwatch::checks::{CheckOutcome, ServiceSpec};

use keepwatch::vocabulary::{FailureKind, State};
use support::{assert_failure, check, check_within, closed_port, service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

mod support;

// ---------------------------------------------------------------- servers

/// A local server the tests talk to.
#[derive(Debug, Clone)]
struct Server {
    host: String,
    port: u16,
}

/// The server `what` at `$var` (or `default`), if it accepts connections.
/// When it does not: a loud skip, or a failure when services are required.
fn server(what: &str, var: &str, default: &str) -> Option<Server> {
    let addr = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let problem = match addr.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(socket)) => match StdTcpStream::connect_timeout(&socket, Duration::from_secs(2)) {
            Ok(_) => {
                let (host, port) = addr.rsplit_once(':').expect("host:port");
                return Some(Server {
                    host: host.trim_matches(['[', ']']).to_owned(),
                    port: port.parse().expect("a port number"),
                });
            }
            Err(err) => err.to_string(),
        },
        Ok(None) => "the name has no addresses".to_owned(),
        Err(err) => err.to_string(),
    };
    missing(&format!(
        "{what} is not reachable at {addr} ({problem}); start it with scripts/test-services.sh, or set {var}=host:port"
    ))
}

/// Skips (loudly) or fails the test, as `KEEPWATCH_REQUIRE_SERVICES` says.
fn missing<T>(why: &str) -> Option<T> {
    if std::env::var("KEEPWATCH_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("KEEPWATCH_REQUIRE_SERVICES=1 and {why}");
    }
    eprintln!("\n*** SKIPPED: {why} ***\n");
    None
}

fn postgres() -> Option<Server> {
    server("PostgreSQL", "KEEPWATCH_TEST_POSTGRES", "127.0.0.1:5432")
}

fn mariadb() -> Option<Server> {
    server("MariaDB/MySQL", "KEEPWATCH_TEST_MYSQL", "127.0.0.1:3306")
}

fn redis() -> Option<Server> {
    server("Redis", "KEEPWATCH_TEST_REDIS", "127.0.0.1:6379")
}

/// A peer that is not a database.
#[derive(Clone, Copy)]
enum Peer {
    /// Sends these bytes at once, reads whatever comes, and stays connected.
    Says(&'static [u8]),
    /// Reads whatever comes, says nothing, stays connected.
    Silent,
}

async fn peer(behaviour: Peer) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Peer::Says(bytes) = behaviour {
                    let _ = stream.write_all(bytes).await;
                }
                let mut sink = [0_u8; 1024];
                let deadline = tokio::time::sleep(Duration::from_secs(10));
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        read = stream.read(&mut sink) => if matches!(read, Ok(0) | Err(_)) { return },
                        () = &mut deadline => return,
                    }
                }
            });
        }
    });
    port
}

/// What an SSH server says first: a realistic wrong program on a port.
const SSH: Peer = Peer::Says(b"SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n");

// ---------------------------------------------------------------- checks

fn spec(name: &str, check: &str, host: &str, port: u16, extra: &str) -> ServiceSpec {
    let text =
        format!("name = \"{name}\"\ntype = \"{check}\"\nhost = \"{host}\"\nport = {port}\n{extra}");
    service(&text)
}

#[track_caller]
fn assert_up(outcome: &CheckOutcome, phases: &[&str], says: &str) {
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
    assert!(
        outcome.explanation.contains(says),
        "does not say {says:?}: {}",
        outcome.explanation
    );
    let names: Vec<_> = outcome.phases.iter().map(|p| p.0).collect();
    assert_eq!(names, phases, "{outcome:#?}");
    let total: Duration = outcome.phases.iter().map(|p| p.1).sum();
    assert!(
        total <= outcome.response_time.expect("a response time"),
        "{outcome:#?}"
    );
}

/// Runs `spec`, which must fail within about `limit`.
async fn check_quickly(spec: &ServiceSpec, limit: Duration) -> CheckOutcome {
    check_within(spec, limit + Duration::from_secs(1)).await
}

// ---------------------------------------------------------------- PostgreSQL

const PG: &str = "Orders DB";

fn pg(server: &Server, extra: &str) -> ServiceSpec {
    spec(PG, "postgres", &server.host, server.port, extra)
}

/// The local server trusts every login from 127.0.0.1, so a wrong password
/// cannot be refused there (and its config is not ours to change). This peer
/// answers as a server that checks passwords does: it asks for the password,
/// then sends PostgreSQL's error for a wrong one (SQLSTATE 28P01).
#[tokio::test]
async fn postgres_wrong_password_is_a_refused_login() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut length = [0_u8; 4];
        stream.read_exact(&mut length).await.unwrap();
        let mut startup = vec![0_u8; u32::from_be_bytes(length) as usize - 4];
        stream.read_exact(&mut startup).await.unwrap();
        // AuthenticationCleartextPassword.
        stream
            .write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])
            .await
            .unwrap();
        let mut head = [0_u8; 5];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0], b'p', "a password message");
        let mut password =
            vec![0_u8; u32::from_be_bytes(head[1..].try_into().unwrap()) as usize - 4];
        stream.read_exact(&mut password).await.unwrap();
        assert_eq!(password, b"wrong-password\0");
        let mut fields = Vec::new();
        for (tag, value) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "28P01"),
            (b'M', "password authentication failed for user \"shop\""),
            (b'F', "auth.c"),
            (b'L', "323"),
            (b'R', "auth_failed"),
        ] {
            fields.push(tag);
            fields.extend_from_slice(value.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let mut error = vec![b'E'];
        error.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
        error.extend_from_slice(&fields);
        stream.write_all(&error).await.unwrap();
    });
    let outcome = check(&spec(
        PG,
        "postgres",
        "127.0.0.1",
        port,
        "user = \"shop\"\npassword = \"wrong-password\"",
    ))
    .await;
    assert_failure(
        &outcome,
        PG,
        FailureKind::AuthFailed,
        "refused the login of user `shop` on 127.0.0.1",
    );
    assert!(
        outcome
            .explanation
            .contains("password authentication failed for user \"shop\""),
        "{}",
        outcome.explanation
    );
}

/// The local server's certificate, to trust it: Debian's PostgreSQL uses the
/// self-signed "snakeoil" one, made for `localhost`.
fn postgres_certificate() -> Option<String> {
    let path = std::env::var("KEEPWATCH_TEST_POSTGRES_CA")
        .unwrap_or_else(|_| "/etc/ssl/certs/ssl-cert-snakeoil.pem".to_owned());
    if std::path::Path::new(&path).exists() {
        Some(path)
    } else {
        missing(&format!(
            "PostgreSQL's certificate {path} is not there (set KEEPWATCH_TEST_POSTGRES_CA to the server's certificate)"
        ))
    }
}

#[tokio::test]
async fn postgres_over_tls_is_up_with_the_handshake_timed() {
    let Some(server) = postgres() else { return };
    let Some(ca) = postgres_certificate() else {
        return;
    };
    let outcome = check(&pg(
        &Server {
            host: "localhost".into(),
            ..server
        },
        &format!(
            "user = \"postgres\"\ndatabase = \"test\"\ntls = \"require\"\nca_file = \"{ca}\"\nquery = true"
        ),
    ))
    .await;
    assert_up(
        &outcome,
        &["dns", "connect", "tls", "login", "query"],
        "logged in as `postgres` to `test` over TLS and ran \"SELECT 1\"",
    );
}

#[tokio::test]
async fn postgres_certificate_for_another_name_is_the_wrong_host() {
    let Some(server) = postgres() else { return };
    let Some(ca) = postgres_certificate() else {
        return;
    };
    let outcome = check(&pg(
        &server,
        &format!("user = \"postgres\"\ndatabase = \"test\"\ntls = \"prefer\"\nca_file = \"{ca}\""),
    ))
    .await;
    assert_failure(
        &outcome,
        PG,
        FailureKind::CertificateWrongHost,
        &format!("certificate is for localhost, not {}", server.host),
    );
}

/// This computer trusts the local server's certificate, so an untrusted one
/// comes from a peer here that accepts TLS as PostgreSQL does ("S") and
/// presents a self-signed certificate.
#[tokio::test]
async fn postgres_self_signed_certificate_is_untrusted() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0_u8; 8];
        stream.read_exact(&mut request).await.unwrap();
        stream.write_all(b"S").await.unwrap();
        let _ = acceptor.accept(stream).await;
    });
    let outcome = check(&spec(
        PG,
        "postgres",
        "localhost",
        port,
        "user = \"shop\"\ntls = \"require\"",
    ))
    .await;
    assert_failure(
        &outcome,
        PG,
        FailureKind::CertificateUntrusted,
        "Orders DB's certificate is self-signed",
    );
}

#[tokio::test]
async fn postgres_tls_required_of_a_server_without_it_is_a_tls_error() {
    // What PostgreSQL answers to a TLS request when `ssl` is off: "N".
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0_u8; 8];
        stream.read_exact(&mut request).await.unwrap();
        assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47], "an SSLRequest");
        stream.write_all(b"N").await.unwrap();
        let _ = stream.read(&mut request).await;
    });
    let outcome = check(&spec(
        PG,
        "postgres",
        "127.0.0.1",
        port,
        "user = \"shop\"\ntls = \"require\"",
    ))
    .await;
    assert_failure(
        &outcome,
        PG,
        FailureKind::TlsError,
        "does not offer TLS, but the check has `tls = \"require\"`",
    );
}

#[tokio::test]
async fn postgres_unreadable_ca_file_is_a_config_error() {
    let outcome = check(&spec(
        PG,
        "postgres",
        "127.0.0.1",
        closed_port(),
        "user = \"shop\"\ntls = \"require\"\nca_file = \"/nonexistent/ca.pem\"",
    ))
    .await;
    assert_failure(
        &outcome,
        PG,
        FailureKind::ConfigError,
        "the CA file /nonexistent/ca.pem cannot be read",
    );
}

// ---------------------------------------------------------------- MariaDB / MySQL

const MY: &str = "Shop DB";

fn my(server: &Server, extra: &str) -> ServiceSpec {
    spec(MY, "mysql", &server.host, server.port, extra)
}

/// A user that logs in with `right-password` (made here: root has none).
async fn mariadb_user(server: &Server) {
    use mysql_async::prelude::Queryable;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(server.host.clone())
        .tcp_port(server.port)
        .user(Some("root"))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await.expect("log in as root");
    for host in ["%", "localhost"] {
        conn.query_drop(format!(
            "CREATE USER IF NOT EXISTS 'keepwatch_test'@'{host}' IDENTIFIED BY 'right-password'"
        ))
        .await
        .unwrap();
        conn.query_drop(format!(
            "ALTER USER 'keepwatch_test'@'{host}' IDENTIFIED BY 'right-password'"
        ))
        .await
        .unwrap();
    }
    conn.disconnect().await.unwrap();
}

/// MySQL opens no database unless told (PostgreSQL opens the one named like the user).
#[tokio::test]
async fn mysql_login_without_a_database_opens_none() {
    let Some(server) = mariadb() else { return };
    let outcome = check(&my(&server, "user = \"root\"")).await;
    assert_up(&outcome, &["dns", "login"], "logged in as `root` on");
}
#[tokio::test]
async fn mysql_password_is_checked_for_real() {
    let Some(server) = mariadb() else { return };
    mariadb_user(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("password");
    std::fs::write(&secret, "right-password\n").unwrap();
    let outcome = check(&my(
        &server,
        &format!(
            "user = \"keepwatch_test\"\npassword = \"file:{}\"\nquery = true",
            secret.display()
        ),
    ))
    .await;
    assert_up(
        &outcome,
        &["dns", "login", "query"],
        "logged in as `keepwatch_test` and ran \"SELECT 1\" (1 row)",
    );

    let outcome = check(&my(
        &server,
        "user = \"keepwatch_test\"\npassword = \"wrong-password\"",
    ))
    .await;
    assert_failure(
        &outcome,
        MY,
        FailureKind::AuthFailed,
        "refused the login of user `keepwatch_test`",
    );
    assert!(
        outcome
            .explanation
            .contains("Access denied for user 'keepwatch_test'"),
        "{}",
        outcome.explanation
    );
    assert!(
        !format!("{outcome:?}").contains("wrong-password"),
        "the password shows: {outcome:?}"
    );
}

// ---------------------------------------------------------------- PostgreSQL and MySQL

/// An SQL server type, as the stories both must tell alike need it. Each
/// story is a function of this, run once per type (see `sql_stories!`).
struct Sql {
    /// `type = "..."`.
    check: &'static str,
    /// The service's name in the stories.
    name: &'static str,
    /// The local server, or a skip.
    server: fn() -> Option<Server>,
    /// A user the local server lets in without a password.
    admin: &'static str,
    /// The phases of a login, before any query.
    login: &'static [&'static str],
    /// The server's own words for a user it does not know.
    unknown_user: &'static str,
    /// The server's own words for the database `keepwatch_no_such_db`.
    no_such_database: &'static str,
    /// The server's own words for the table `keepwatch_no_such_table` in `test`.
    no_such_table: &'static str,
    /// A query that takes 3 s.
    slow_query: &'static str,
    /// What the check says when another program answers on the port.
    not_this_server: &'static str,
    /// What the check says when a program accepts and never answers.
    silent: &'static str,
}

const POSTGRES: Sql = Sql {
    check: "postgres",
    name: PG,
    server: postgres,
    admin: "postgres",
    login: &["dns", "connect", "login"],
    unknown_user: "role \"keepwatch_no_such_role\" does not exist",
    no_such_database: "database \"keepwatch_no_such_db\" does not exist",
    no_such_table: "relation \"keepwatch_no_such_table\" does not exist",
    slow_query: "SELECT pg_sleep(3)",
    not_this_server: "does not answer like a PostgreSQL server",
    silent: "accepted the connection on 127.0.0.1",
};

const MYSQL: Sql = Sql {
    check: "mysql",
    name: MY,
    server: mariadb,
    admin: "root",
    login: &["dns", "login"],
    unknown_user: "Access denied for user 'keepwatch_no_such_role'",
    no_such_database: "Unknown database 'keepwatch_no_such_db'",
    no_such_table: "Table 'test.keepwatch_no_such_table' doesn't exist",
    slow_query: "SELECT SLEEP(3)",
    not_this_server: "does not answer like a MySQL or MariaDB server",
    silent: "did not finish connecting and logging in on 127.0.0.1",
};

impl Sql {
    /// This type's service on `host:port` with `extra` settings.
    fn on(&self, host: &str, port: u16, extra: &str) -> ServiceSpec {
        spec(self.name, self.check, host, port, extra)
    }

    /// This type's service on the local server, logged in as the admin.
    fn admin_on(&self, server: &Server, extra: &str) -> ServiceSpec {
        let settings = format!("user = \"{}\"\n{extra}", self.admin);
        self.on(&server.host, server.port, &settings)
    }

    /// The phases of a login, then a query.
    fn with_query(&self) -> Vec<&'static str> {
        [self.login, &["query"]].concat()
    }
}

/// One test per SQL server type for each story.
macro_rules! sql_stories {
    ($($story:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test]
            async fn $story() {
                super::$story(&super::POSTGRES).await;
            })*
        }
        mod mysql {
            $(#[tokio::test]
            async fn $story() {
                super::$story(&super::MYSQL).await;
            })*
        }
    };
}

sql_stories!(
    login_and_query_are_up_with_each_phase_timed,
    an_unknown_user_is_a_refused_login,
    a_wrong_port_refuses_the_connection,
    a_missing_database_says_which,
    a_bad_query_fails_with_the_servers_reason,
    a_slow_query_times_out_saying_so,
    a_port_of_another_program_is_a_protocol_error_or_timeout,
    a_password_from_an_unset_variable_is_a_config_error,
);

async fn login_and_query_are_up_with_each_phase_timed(sql: &Sql) {
    let Some(server) = (sql.server)() else { return };
    let outcome = check(&sql.admin_on(
        &server,
        "database = \"test\"\nquery = \"SELECT 1 UNION ALL SELECT 2\"",
    ))
    .await;
    assert_up(
        &outcome,
        &sql.with_query(),
        &format!(
            "{} is up: logged in as `{}` to `test` and ran \"SELECT 1 UNION ALL SELECT 2\" (2 rows) on ",
            sql.name, sql.admin
        ),
    );
    let outcome = check(&sql.admin_on(&server, "database = \"test\"")).await;
    assert_up(
        &outcome,
        sql.login,
        &format!("logged in as `{}` to `test` on", sql.admin),
    );
    let outcome = check(&sql.admin_on(&server, "database = \"test\"\nquery = true")).await;
    assert_up(&outcome, &sql.with_query(), "ran \"SELECT 1\" (1 row)");
}

async fn an_unknown_user_is_a_refused_login(sql: &Sql) {
    let Some(server) = (sql.server)() else { return };
    let outcome = check(&sql.on(
        &server.host,
        server.port,
        "user = \"keepwatch_no_such_role\"\ndatabase = \"test\"\npassword = \"whatever\"",
    ))
    .await;
    assert_failure(
        &outcome,
        sql.name,
        FailureKind::AuthFailed,
        "refused the login of user `keepwatch_no_such_role`",
    );
    assert!(
        outcome.explanation.contains(sql.unknown_user),
        "{}",
        outcome.explanation
    );
    assert!(outcome.response_time.is_some());
}

async fn a_wrong_port_refuses_the_connection(sql: &Sql) {
    let port = closed_port();
    let settings = format!("user = \"{}\"", sql.admin);
    let outcome = check(&sql.on("127.0.0.1", port, &settings)).await;
    assert_failure(
        &outcome,
        sql.name,
        FailureKind::ConnectionRefused,
        &format!("refused the connection on 127.0.0.1:{port}"),
    );
}

async fn a_missing_database_says_which(sql: &Sql) {
    let Some(server) = (sql.server)() else { return };
    let outcome = check(&sql.admin_on(&server, "database = \"keepwatch_no_such_db\"")).await;
    assert_failure(
        &outcome,
        sql.name,
        FailureKind::DatabaseMissing,
        &format!(
            "the database `keepwatch_no_such_db` does not exist on {}:{} (server: {}): create it or fix `database`",
            server.host, server.port, sql.no_such_database
        ),
    );
}

async fn a_bad_query_fails_with_the_servers_reason(sql: &Sql) {
    let Some(server) = (sql.server)() else { return };
    let outcome = check(&sql.admin_on(
        &server,
        "database = \"test\"\nquery = \"SELECT * FROM keepwatch_no_such_table\"",
    ))
    .await;
    assert_failure(
        &outcome,
        sql.name,
        FailureKind::QueryFailed,
        "could not run the query \"SELECT * FROM keepwatch_no_such_table\"",
    );
    assert!(
        outcome.explanation.contains(sql.no_such_table),
        "{}",
        outcome.explanation
    );
    let phases: Vec<_> = outcome.phases.iter().map(|p| p.0).collect();
    assert_eq!(phases, sql.login);
}

async fn a_slow_query_times_out_saying_so(sql: &Sql) {
    let Some(server) = (sql.server)() else { return };
    let settings = format!(
        "database = \"test\"\nquery = \"{}\"\ntimeout = \"500ms\"",
        sql.slow_query
    );
    let outcome = check_quickly(
        &sql.admin_on(&server, &settings),
        Duration::from_millis(500),
    )
    .await;
    assert_failure(
        &outcome,
        sql.name,
        FailureKind::Timeout,
        &format!(
            "did not finish the query \"{}\" within 500 ms",
            sql.slow_query
        ),
    );
}

async fn a_port_of_another_program_is_a_protocol_error_or_timeout(sql: &Sql) {
    let port = peer(SSH).await;
    let settings = format!("user = \"{}\"\ntimeout = \"1s\"", sql.admin);
    let outcome = check_quickly(
        &sql.on("127.0.0.1", port, &settings),
        Duration::from_secs(1),
    )
    .await;
    assert_failure(
        &outcome,
        sql.name,
        FailureKind::ProtocolError,
        sql.not_this_server,
    );

    let port = peer(Peer::Silent).await;
    let settings = format!("user = \"{}\"\ntimeout = \"300ms\"", sql.admin);
    let outcome = check_quickly(
        &sql.on("127.0.0.1", port, &settings),
        Duration::from_millis(300),
    )
    .await;
    assert_failure(&outcome, sql.name, FailureKind::Timeout, sql.silent);
}

async fn a_password_from_an_unset_variable_is_a_config_error(sql: &Sql) {
    let outcome = check(&sql.on(
        "127.0.0.1",
        closed_port(),
        "user = \"shop\"\npassword = \"env:KEEPWATCH_TEST_SURELY_UNSET\"",
    ))
    .await;
    assert_failure(
        &outcome,
        sql.name,
        FailureKind::ConfigError,
        "KEEPWATCH_TEST_SURELY_UNSET is not set",
    );
}

// ---------------------------------------------------------------- Redis

const RD: &str = "Cache";

fn rd(server: &Server, extra: &str) -> ServiceSpec {
    spec(RD, "redis", &server.host, server.port, extra)
}

/// A redis-server of this test's own, with a password, on a free port;
/// stopped when dropped.
struct OwnRedis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OwnRedis {
    fn start(password: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let port = closed_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--requirepass",
                password,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(err) => return missing(&format!("redis-server cannot be started ({err})")),
        };
        let own = Self {
            child,
            port,
            _dir: dir,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while StdTcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(own)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn redis_ping_is_up_with_each_phase_timed() {
    let Some(server) = redis() else { return };
    let outcome = check(&rd(&server, "")).await;
    assert_up(
        &outcome,
        &["dns", "connect", "command"],
        "Cache is up: answered \"PING\" on",
    );
    let outcome = check(&rd(
        &server,
        "database = 3\ncommand = \"EXISTS keepwatch:nothing\"",
    ))
    .await;
    assert_up(
        &outcome,
        &["dns", "connect", "select", "command"],
        "Cache is up: opened database 3 and answered \"EXISTS keepwatch:nothing\" on",
    );
}

#[tokio::test]
async fn redis_with_a_password_logs_in_and_refuses_a_wrong_one() {
    let Some(own) = OwnRedis::start("right-password") else {
        return;
    };
    let outcome = check(&spec(
        RD,
        "redis",
        "127.0.0.1",
        own.port,
        "password = \"right-password\"\ndatabase = 1",
    ))
    .await;
    assert_up(
        &outcome,
        &["dns", "connect", "auth", "select", "command"],
        "Cache is up: logged in as `default`, opened database 1 and answered \"PING\"",
    );

    let outcome = check(&spec(
        RD,
        "redis",
        "127.0.0.1",
        own.port,
        "password = \"wrong-password\"",
    ))
    .await;
    assert_failure(
        &outcome,
        RD,
        FailureKind::AuthFailed,
        "refused the login of user `default`",
    );
    assert!(
        outcome.explanation.contains("WRONGPASS"),
        "{}",
        outcome.explanation
    );

    let outcome = check(&spec(RD, "redis", "127.0.0.1", own.port, "")).await;
    assert_failure(
        &outcome,
        RD,
        FailureKind::AuthFailed,
        "the server requires a password: set `password`",
    );
    assert!(
        outcome.explanation.contains("NOAUTH"),
        "{}",
        outcome.explanation
    );
}

#[tokio::test]
async fn redis_password_for_a_server_without_one_is_a_refused_login() {
    let Some(server) = redis() else { return };
    let outcome = check(&rd(&server, "password = \"some-password\"")).await;
    assert_failure(
        &outcome,
        RD,
        FailureKind::AuthFailed,
        "the server has no password",
    );
    let outcome = check(&rd(
        &server,
        "username = \"keepwatch_no_such_user\"\npassword = \"some-password\"",
    ))
    .await;
    assert_failure(
        &outcome,
        RD,
        FailureKind::AuthFailed,
        "refused the login of user `keepwatch_no_such_user`",
    );
}

#[tokio::test]
async fn redis_wrong_port_refuses_the_connection() {
    let port = closed_port();
    let outcome = check(&spec(RD, "redis", "127.0.0.1", port, "")).await;
    assert_failure(
        &outcome,
        RD,
        FailureKind::ConnectionRefused,
        &format!("refused the connection on 127.0.0.1:{port}"),
    );
}

#[tokio::test]
async fn redis_missing_database_says_which() {
    let Some(server) = redis() else { return };
    let outcome = check(&rd(&server, "database = 4000")).await;
    assert_failure(
        &outcome,
        RD,
        FailureKind::DatabaseMissing,
        &format!(
            "the database `4000` does not exist on {}:{}",
            server.host, server.port
        ),
    );
}

#[tokio::test]
async fn redis_bad_command_fails_with_the_servers_reason() {
    let Some(server) = redis() else { return };
    let outcome = check(&rd(&server, "command = \"NOSUCHCOMMAND now\"")).await;
    assert_failure(
        &outcome,
        RD,
        FailureKind::QueryFailed,
        "could not run the command \"NOSUCHCOMMAND now\"",
    );
    assert!(
        outcome.explanation.contains("unknown command"),
        "{}",
        outcome.explanation
    );
}

#[tokio::test]
async fn redis_on_a_port_of_another_program_is_a_protocol_error_or_timeout() {
    let port = peer(SSH).await;
    let outcome = check_quickly(
        &spec(RD, "redis", "127.0.0.1", port, "timeout = \"1s\""),
        Duration::from_secs(1),
    )
    .await;
    assert_failure(
        &outcome,
        RD,
        FailureKind::ProtocolError,
        "does not answer like a Redis server",
    );

    let port = peer(Peer::Silent).await;
    let outcome = check_quickly(
        &spec(RD, "redis", "127.0.0.1", port, "timeout = \"300ms\""),
        Duration::from_millis(300),
    )
    .await;
    assert_failure(
        &outcome,
        RD,
        FailureKind::Timeout,
        "accepted the connection on 127.0.0.1",
    );
}

// ---------------------------------------------------------------- all three

#[tokio::test]
async fn inline_passwords_never_show_in_debug_or_serialized_specs() {
    for check in ["postgres", "mysql"] {
        let spec = spec(
            "DB",
            check,
            "db",
            1,
            "user = \"shop\"\npassword = \"pw-SECRET-1\"",
        );
        let shown = format!("{spec:?} {}", toml::to_string(&spec).unwrap());
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("shop"), "{shown}");
    }
    let spec = spec("Cache", "redis", "cache", 1, "password = \"pw-SECRET-2\"");
    let shown = format!("{spec:?} {}", toml::to_string(&spec).unwrap());
    assert!(!shown.contains("SECRET"), "{shown}");
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_a_dns_failure_for_each() {
    for check in ["postgres", "mysql", "redis"] {
        let extra = if check == "redis" {
            ""
        } else {
            "user = \"shop\""
        };
        let outcome = check_quickly(
            &spec("DB", check, "db.keepwatch-test.invalid", 1, extra),
            Duration::from_secs(10),
        )
        .await;
        assert_failure(
            &outcome,
            "DB",
            FailureKind::DnsFailure,
            "host name db.keepwatch-test.invalid could not be found",
        );
    }
}
